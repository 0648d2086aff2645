"""Reading exports: good rows come through, a bad row is reported (row number and reason) and
skipped while the rest of the file goes through; files we cannot read at all are refused."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from core.errors import InvalidInputError
from indexer.readers import RowError, read_rows

CSV_GOOD = (
    "Number,Short description,Description\n"
    'INC1,Printer jam,"Paper stuck in tray 2, floor 3"\n'
    'INC2,VPN drops,"Disconnects every hour.\nSince Monday."\n'
)


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if name.lower().endswith(".gz"):
        raw = data.encode("utf-8") if isinstance(data, str) else data
        with gzip.open(path, "wb") as fh:
            fh.write(raw)
    elif isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="")
    return path


def _good(rows: list) -> dict[int, dict]:
    return {n: r for n, r in rows if not isinstance(r, RowError)}


def _bad(rows: list) -> dict[int, str]:
    return {n: r.reason for n, r in rows if isinstance(r, RowError)}


# -- good rows ----------------------------------------------------------------------------


def test_csv_rows_are_numbered_after_the_header_and_keep_quoted_commas_and_newlines(
    tmp_path: Path,
) -> None:
    rows = list(read_rows(_write(tmp_path, "t.csv", CSV_GOOD)))
    assert rows == [
        (
            1,
            {
                "Number": "INC1",
                "Short description": "Printer jam",
                "Description": "Paper stuck in tray 2, floor 3",
            },
        ),
        (
            2,
            {
                "Number": "INC2",
                "Short description": "VPN drops",
                "Description": "Disconnects every hour.\nSince Monday.",
            },
        ),
    ]


def test_csv_header_bom_and_padding_are_stripped(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" starts with a byte-order mark; hand-made headers have stray spaces.
    data = "\ufeffNumber , Title \nINC1,Printer jam\n".encode()
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert rows == [(1, {"Number": "INC1", "Title": "Printer jam"})]


def test_blank_csv_lines_are_ignored_not_reported(tmp_path: Path) -> None:
    data = "id,title\n1,First\n\n2,Second\n\n"
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert _bad(rows) == {}
    assert [r["title"] for r in _good(rows).values()] == ["First", "Second"]


def test_jsonl_rows_keep_their_json_types(tmp_path: Path) -> None:
    data = (
        json.dumps({"id": 7, "title": "Printer jam", "tags": ["printing", "floor3"]})
        + "\n"
        + json.dumps({"id": "INC2", "title": "VPN drops"})
        + "\n"
    )
    rows = list(read_rows(_write(tmp_path, "t.jsonl", data)))
    assert rows == [
        (1, {"id": 7, "title": "Printer jam", "tags": ["printing", "floor3"]}),
        (2, {"id": "INC2", "title": "VPN drops"}),
    ]


@pytest.mark.parametrize("name", ["t.csv.gz", "t.CSV.GZ"])
def test_gzipped_csv_is_read_like_plain_csv(tmp_path: Path, name: str) -> None:
    plain = list(read_rows(_write(tmp_path, "plain.csv", CSV_GOOD)))
    gz = list(read_rows(_write(tmp_path, name, CSV_GOOD)))
    assert gz == plain
    assert len(gz) == 2


def test_gzipped_jsonl_is_read(tmp_path: Path) -> None:
    data = json.dumps({"id": "A1", "title": "Reset MFA"}) + "\n"
    assert list(read_rows(_write(tmp_path, "a.jsonl.gz", data))) == [
        (1, {"id": "A1", "title": "Reset MFA"})
    ]


def test_semicolon_delimited_csv_is_detected(tmp_path: Path) -> None:
    # A European Excel export: semicolons between fields, commas inside them.
    data = "Number;Short description;Description\nINC1;Printer, floor 3;Jams, again\n"
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert rows == [
        (
            1,
            {
                "Number": "INC1",
                "Short description": "Printer, floor 3",
                "Description": "Jams, again",
            },
        )
    ]


def test_tsv_is_read_with_tabs(tmp_path: Path) -> None:
    data = "id\ttitle\n1\tPrinter, jam; again\n"
    assert list(read_rows(_write(tmp_path, "t.tsv", data))) == [
        (1, {"id": "1", "title": "Printer, jam; again"})
    ]


def test_other_encodings_are_read_when_named(tmp_path: Path) -> None:
    data = "id,title\n1,Café printer – Zürich\n".encode("cp1252")
    rows = list(read_rows(_write(tmp_path, "t.csv", data), encoding="cp1252"))
    assert rows == [(1, {"id": "1", "title": "Café printer – Zürich"})]


# -- bad rows: reported, skipped, the rest goes through -----------------------------------


def test_csv_invalid_utf8_row_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    data = b"id,title\n1,First\n2,Caf\xe9 latin-1\n3,Third\n"
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert _bad(rows) == {2: "not valid utf-8 (byte 0xe9)"}
    assert {n: r["title"] for n, r in _good(rows).items()} == {1: "First", 3: "Third"}


def test_csv_wrong_column_count_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    data = "id,title,description\n1,First,a\n2,too,many,columns\n3,too few\n4,Fourth,d\n"
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    bad = _bad(rows)
    assert set(bad) == {2, 3}
    assert "expected 3 columns, found 4" in bad[2]
    assert "expected 3 columns, found 2" in bad[3]
    assert [r["title"] for r in _good(rows).values()] == ["First", "Fourth"]


def test_csv_broken_quoting_is_reported_and_the_reader_recovers(tmp_path: Path) -> None:
    data = 'id,title,description\n1,First,a\n2,"quoted"garbage,b\n3,Third,c\n'
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    bad = _bad(rows)
    assert list(bad) == [2]
    assert "quoting" in bad[2]
    assert [r["title"] for r in _good(rows).values()] == ["First", "Third"]


def test_csv_unclosed_quote_is_reported_and_earlier_rows_kept(tmp_path: Path) -> None:
    data = 'id,title,description\n1,First,a\n2,"never closed,b\n3,Third,c\n'
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    bad = _bad(rows)
    assert list(bad) == [2]
    assert "quoting" in bad[2]
    assert _good(rows)[1]["title"] == "First"


def test_jsonl_bad_lines_are_reported_by_line_number_and_the_rest_read(tmp_path: Path) -> None:
    data = (
        b'{"id": "A1", "title": "First"}\n'
        b'{"id": "A2", "title": \n'  # broken JSON
        b'["a", "list"]\n'  # not an object
        b'"just a string"\n'
        b'{"id": "A5", "title": "Caf\xe9"}\n'  # latin-1 byte
        b'{"id": "A6", "title": "Last"}\n'
    )
    rows = list(read_rows(_write(tmp_path, "t.jsonl", data)))
    bad = _bad(rows)
    assert set(bad) == {2, 3, 4, 5}
    assert bad[2].startswith("broken JSON")
    assert bad[3] == bad[4] == "a line must hold a JSON object"
    assert bad[5] == "not valid utf-8 (byte 0xe9)"
    assert {n: r["id"] for n, r in _good(rows).items()} == {1: "A1", 6: "A6"}


def test_jsonl_broken_line_reason_points_at_the_column_on_that_line(tmp_path: Path) -> None:
    # The error is at the end of the line (column 15), not at column 1 of a phantom next line.
    rows = list(read_rows(_write(tmp_path, "t.jsonl", '{"title": "x",\n')))
    assert _bad(rows) == {
        1: "broken JSON: Expecting property name enclosed in double quotes at column 15"
    }


def test_jsonl_blank_lines_are_ignored_but_line_numbers_stay_editor_line_numbers(
    tmp_path: Path,
) -> None:
    data = '{"id": 1}\n\n   \n{"id": 4}\nnot json\n'
    rows = list(read_rows(_write(tmp_path, "t.jsonl", data)))
    assert [n for n, _ in rows] == [1, 4, 5]
    assert list(_bad(rows)) == [5]


# -- files that cannot be read -------------------------------------------------------------


@pytest.mark.parametrize("name", ["export.xlsx", "export.parquet", "export", "export.gz"])
def test_unknown_file_type_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"id,title\n1,x\n")
    with pytest.raises(InvalidInputError, match="unknown file type"):
        list(read_rows(path))


@pytest.mark.parametrize("name", ["missing.csv", "missing.jsonl", "missing.csv.gz"])
def test_missing_file_is_refused_with_its_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{name}: no such file"):
        list(read_rows(tmp_path / name))


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InvalidInputError, match="is a directory"):
        list(read_rows(tmp_path / "dir.csv"))


def test_empty_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="header row is empty"):
        list(read_rows(_write(tmp_path, "t.csv", ",,\n1,2,3\n")))


# -- through ingestion: each bad row is reported once, the good rows are stored ------------


def test_ingest_reports_every_kind_of_bad_row_and_stores_the_rest(service, tmp_path: Path) -> None:
    data = (
        b"Number,Short description,Description\n"
        b"INC1,Printer jam,Paper stuck in tray 2\n"  # 1 good
        b"INC2,,\n"  # 2 missing text
        b"INC3,Caf\xe9 down,latin-1 byte\n"  # 3 bad UTF-8
        b"INC4,extra,column,here\n"  # 4 wrong column count
        b'INC5,"bad"quote,x\n'  # 5 broken quoting
        b"INC6,VPN drops,Disconnects every hour\n"  # 6 good
        b"INC7,  ,   \n"  # 7 whitespace only is missing text too
    )
    report = service.ingest_file(_write(tmp_path, "t.csv", data))
    reasons = {e.row: e.reason for e in report.skipped}
    assert set(reasons) == {2, 3, 4, 5, 7}
    assert reasons[2] == reasons[7] == "missing text: both title and description are empty"
    assert "utf-8" in reasons[3]
    assert "columns" in reasons[4]
    assert "quoting" in reasons[5]
    assert (report.rows, report.added, report.indexed) == (7, 2, 2)
    assert service.counts()["tickets"] == 2
    assert service.get("ticket", "INC6")["title"] == "VPN drops"


def test_ingest_reports_bad_jsonl_lines_and_stores_the_rest(service, write_jsonl) -> None:
    path = write_jsonl(
        "a.jsonl",
        [
            {"id": "KB1", "title": "Reset MFA", "body": "Open the portal"},
            {"id": "KB2", "title": ""},
        ],
    )
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("[1, 2]\n{broken\n")
        fh.write(json.dumps({"id": "KB5", "body": "Only a body.\nSecond line"}) + "\n")
    report = service.ingest_file(path, kind="article")
    reasons = {e.row: e.reason for e in report.skipped}
    assert reasons[2] == "missing text: both title and body are empty"
    assert reasons[3] == "a line must hold a JSON object"
    assert reasons[4].startswith("broken JSON")
    assert report.added == 2
    # No title: the first line of the body becomes the title.
    assert service.get("article", "KB5")["title"] == "Only a body."


# -- broken quoting: one bad row, the rest of the file still goes in (issue #11 failure 3) -----


def _ten_rows(broken: dict[int, str]) -> str:
    lines = ["id,title,description"]
    for i in range(1, 11):
        lines.append(broken.get(i, f"INC{i},Title {i},Text {i}"))
    return "\n".join(lines) + "\n"


def test_an_unclosed_quote_is_one_bad_row_and_the_next_rows_go_in(tmp_path: Path) -> None:
    data = _ten_rows({3: 'INC3,"Printer jam,Text 3'})
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert _bad(rows) == {3: "broken CSV quoting on line 4: a quote is never closed"}
    good = _good(rows)
    assert sorted(good) == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    assert all(good[n]["id"] == f"INC{n}" for n in good)  # row numbers are not shifted


def test_an_unclosed_quote_before_a_later_quoted_field_does_not_swallow_rows(
    tmp_path: Path,
) -> None:
    data = _ten_rows({2: 'INC2,"VPN,Text 2', 6: 'INC6,"Quoted, with comma",Text 6'})
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert list(_bad(rows)) == [2]
    assert _good(rows)[6]["title"] == "Quoted, with comma"
    assert sorted(_good(rows)) == [1, 3, 4, 5, 6, 7, 8, 9, 10]


def test_an_unclosed_quote_on_the_last_row_is_reported(tmp_path: Path) -> None:
    data = 'id,title,description\nINC1,Fine,x\nINC2,"never closed,x\n'
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    assert _bad(rows) == {2: "broken CSV quoting on line 3: a quote is never closed"}
    assert list(_good(rows)) == [1]


def test_quoted_fields_over_several_lines_still_work_around_a_broken_row(tmp_path: Path) -> None:
    data = (
        "id,title,description\n"
        'INC1,"Two\nlines",x\n'
        'INC2,"broken,x\n'
        'INC3,"Three\r\nlines, ""quoted""\nhere",y\n'
    )
    rows = list(read_rows(_write(tmp_path, "t.csv", data)))
    good = _good(rows)
    assert list(_bad(rows)) == [2]
    assert good[1]["title"] == "Two\nlines"
    assert good[3]["title"] == 'Three\r\nlines, "quoted"\nhere'


def test_control_characters_are_removed_from_values(tmp_path: Path) -> None:
    # PostgreSQL refuses NUL in text, SQLite keeps it: both get the same cleaned value.
    rows = list(read_rows(_write(tmp_path, "t.csv", "id,title\nINC1,Print\x00er\x07 jam\n")))
    assert _good(rows)[1]["title"] == "Printer jam"
    rows = list(read_rows(_write(tmp_path, "t.jsonl", '{"title": "VPN\\u0000 down"}\n')))
    assert _good(rows)[1]["title"] == "VPN down"


def test_jsonl_nested_too_deeply_is_a_bad_row(tmp_path: Path) -> None:
    data = '{"a": ' + "[" * 5000 + "]" * 5000 + '}\n{"title": "fine"}\n'
    rows = list(read_rows(_write(tmp_path, "t.jsonl", data)))
    assert _bad(rows) == {1: "JSON nested too deeply"}
    assert _good(rows) == {2: {"title": "fine"}}


# -- files that are not text: one clear error (issue #11 failure 16) ------------------------


def test_a_corrupt_gzip_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "export.csv.gz"
    path.write_bytes(b"id,title\n1,not compressed at all\n")
    with pytest.raises(InvalidInputError) as e:
        list(read_rows(path))
    assert str(e.value) == (
        "export.csv.gz: not a valid gzip file (it does not start with the gzip signature)"
    )


def test_a_truncated_gzip_file_is_one_clear_error(tmp_path: Path) -> None:
    data = gzip.compress(b"id,title\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(9999)))
    path = tmp_path / "export.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match="export.csv.gz: not a valid gzip file"):
        list(read_rows(path))


@pytest.mark.parametrize("name", ["export.csv", "export.jsonl"])
def test_a_binary_file_is_one_clear_error_without_its_bytes(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InvalidInputError) as e:
        list(read_rows(path))
    message = str(e.value)
    assert message.startswith(f"{name}: a binary file, not CSV or JSONL text")
    assert message.isprintable()


def test_a_header_of_undecodable_bytes_is_one_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", b"\xff\xfe\x89id,\x9btitle\n1,x\n")
    with pytest.raises(InvalidInputError) as e:
        list(read_rows(path))
    assert str(e.value) == "t.csv: the header row is not valid utf-8 text"
