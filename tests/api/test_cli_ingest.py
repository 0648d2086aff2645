"""``firstline ingest`` with files a real desk has: placeholder dates, broken quoting, damaged
or binary files.  Clear lines, the partial-success exit code, never a traceback (issue #11
failures 2, 3 and 16)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import EXIT_PARTIAL, app
from core.settings import get_settings
from indexer.mapping import FIELDS
from tests.api.test_cli import FIRSTLINE, env, run_main  # noqa: F401 - env is a fixture

CSV = (
    "Number,Short description,Description,Opened\n"
    "INC1,Printer on floor 3 jams,Paper stuck in tray 2,30/Sep/21 5:20 PM\n"
    "INC2,VPN disconnects every hour,GlobalProtect drops the tunnel,9999-12-31\n"
    "INC3,Outlook asks for the password,Keeps prompting,0001-01-01\n"
    "INC4,Teams camera black,No picture in calls,2024-02-01 08:00\n"
)


@pytest.fixture
def runner(env: dict[str, str]) -> CliRunner:  # noqa: F811
    return CliRunner()


def test_out_of_range_dates_are_listed_and_exit_with_the_partial_code(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == EXIT_PARTIAL == 4, result.output
    assert "4 rows, 4 added" in result.stdout and "2 warnings" in result.stdout
    assert "row 2, column 'Opened': '9999-12-31' stored empty" in result.stderr
    assert "row 3, column 'Opened': '0001-01-01' stored empty" in result.stderr
    # Every row is stored and searchable, the bad dates are empty.
    hits = json.loads(runner.invoke(app, ["search", "vpn tunnel", "--json", "-k", "1"]).stdout)
    assert hits[0]["external_id"] == "INC2"
    assert json.loads(runner.invoke(app, ["show", "INC2"]).stdout)["opened_at"] is None
    shown = json.loads(runner.invoke(app, ["show", "INC1"]).stdout)
    assert shown["opened_at"].startswith("2021-09-30T17:20")


def test_a_clean_file_exits_0_and_json_lists_warnings(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(path), "--json"])
    assert result.exit_code == 4
    report = json.loads(result.stdout)
    assert [(w["row"], w["value"]) for w in report["warnings"]] == [
        (2, "9999-12-31"),
        (3, "0001-01-01"),
    ]
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(CSV.splitlines()[:2]) + "\n", encoding="utf-8")
    assert runner.invoke(app, ["ingest", str(clean)]).exit_code == 0


def test_date_format_and_timezone_options(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,title,created\nX1,Printer jam,30.09.21 17h20\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["ingest", str(path), "--date-format", "%d.%m.%y %Hh%M", "--timezone", "Europe/Amsterdam"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(app, ["show", "X1"]).stdout)["opened_at"].startswith(
        "2021-09-30T15:20"
    )


def test_an_unclosed_quote_skips_one_row_and_the_rest_go_in(
    runner: CliRunner, tmp_path: Path
) -> None:
    lines = ["Number,Short description,Description"]
    lines += [f"INC{i},Title {i},Text {i}" for i in range(1, 11)]
    lines[3] = 'INC3,"Printer jam,Text 3'
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 4
    assert "10 rows, 9 added" in result.stdout and "1 skipped" in result.stdout
    assert "row 3: broken CSV quoting on line 4: a quote is never closed" in result.stderr
    assert json.loads(runner.invoke(app, ["show", "INC10"]).stdout)["title"] == "Title 10"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("x.csv.gz", b"id,title\n1,plain text\n", "x.csv.gz: not a valid gzip file"),
        (
            "x.csv.gz",
            gzip.compress(b"id,title\n" + b"".join(b"%d,t%d\n" % (i, i) for i in range(5000)))[
                :5000
            ],
            "x.csv.gz: not a valid gzip file",
        ),
        ("x.csv", bytes(range(256)) * 8, "x.csv: a binary file, not CSV or JSONL text"),
        ("x.jsonl", b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "x.jsonl: a binary file"),
    ],
    ids=["not-gzip", "truncated-gzip", "binary-csv", "zip-as-jsonl"],
)
def test_a_damaged_or_binary_file_is_one_line_and_exit_1(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: bytes,
    message: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = run_main(monkeypatch, capsys, "ingest", str(path))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert err[:-1].isprintable()  # no control bytes of the file in the message
    assert "Traceback" not in err


def test_a_bad_timezone_is_one_line(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    code, _out, err = run_main(monkeypatch, capsys, "ingest", str(path), "--timezone", "Mars/X")
    assert code == 1 and err == "error: unknown time zone 'Mars/X'\n"


def test_ingest_help_documents_the_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ingest", "--help"])
    assert "--date-format" in result.stdout and "--timezone" in result.stdout
    assert "4 done, but some rows were" in " ".join(result.stdout.split())


def test_ingest_help_lists_the_fields_and_how_columns_are_found(runner: CliRunner) -> None:
    """A newcomer learns the field names from --help, not from the error of a bad --map."""
    result = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    ticket = text.split("Ticket fields: ", 1)[1].split(".", 1)[0].split(", ")
    article = text.split("Article fields (--kind article): ", 1)[1].split(".", 1)[0].split(", ")
    assert ticket == list(FIELDS["ticket"]) and article == list(FIELDS["article"])
    for name in ("title", "description", "resolution", "category", "type", "impact", "urgency"):
        assert name in ticket
    assert {"priority", "assignment_group"} <= set(ticket) and "body" in article
    assert "matched to fields automatically by their usual names" in text
    assert "title <- 'short description', 'summary', 'subject'" in text
    assert "--map FIELD=COLUMN overrides the automatic match" in text


def _real_model_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real encoder, configured at a path that does not exist: a command that loads the
    model (14 s with the real one) fails on that, so an error about anything else proves the
    model was never loaded."""
    monkeypatch.setenv("FIRSTLINE_MODEL__KIND", "sentence-transformers")
    monkeypatch.setenv("FIRSTLINE_MODEL__PATH", str(tmp_path / "no-model-here"))
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "colour=Short description",
            "t.csv: --map: unknown field(s) colour for tickets; known: external_id, title,",
        ),
        ("title", "--map 'title': expected FIELD=COLUMN"),
        (
            "title=Headline",
            "t.csv: --map title=Headline: no column 'Headline' in the file (columns: Number,"
            " Short description, Description, Opened)",
        ),
    ],
    ids=["unknown-field", "malformed", "no-such-column"],
)
def test_a_bad_map_is_one_line_before_the_model_loads(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    message: str,
) -> None:
    _real_model_missing(monkeypatch, tmp_path)
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    code, out, err = run_main(monkeypatch, capsys, "ingest", str(path), "--map", option)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert "model" not in err


def test_a_map_one_file_cannot_follow_fails_before_any_file_is_imported(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = tmp_path / "january.csv"
    first.write_text(CSV, encoding="utf-8")
    second = tmp_path / "february.csv"
    second.write_text(CSV.replace("Opened", "Created on"), encoding="utf-8")
    code, out, err = run_main(
        monkeypatch, capsys, "ingest", str(first), str(second), "--map", "opened_at=Opened"
    )
    assert code == 1
    assert out == ""  # january.csv was not imported either
    assert err.startswith("error: february.csv: --map opened_at=Opened: no column 'Opened'")
    assert json.loads(CliRunner().invoke(app, ["health"]).stdout)["database"]["tickets"] == 0


def test_a_bad_map_fails_fast_as_a_user_runs_it(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    """The installed command, the real encoder configured: one line, exit 1, no progress bar,
    no model loaded (its path does not exist, so loading it would be the error)."""
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    result = subprocess.run(
        [str(FIRSTLINE), "ingest", str(path), "--map", "title=Headline"],
        env={
            **os.environ,
            **env,
            "FIRSTLINE_MODEL__KIND": "sentence-transformers",
            "FIRSTLINE_MODEL__PATH": str(tmp_path / "no-model-here"),
            "COLUMNS": "80",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: t.csv: --map title=Headline: no column 'Headline'")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "model" not in result.stderr and "ingest t.csv" not in result.stderr


def test_an_import_and_a_rebuild_yield_the_cpu_to_the_desk(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bulk work lowers its own CPU priority (FIRSTLINE_INGEST__NICE), so an API on the same
    machine answers the desk first; 0 leaves it alone."""
    import os

    from core.settings import get_settings

    calls: list[int] = []
    monkeypatch.setattr(os, "nice", lambda n: calls.append(n) or n)
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    monkeypatch.setenv("FIRSTLINE_INGEST__NICE", "7")
    get_settings.cache_clear()
    runner.invoke(app, ["ingest", str(path)])
    assert runner.invoke(app, ["reindex"]).exit_code == 0
    assert calls == [7, 7]
    monkeypatch.setenv("FIRSTLINE_INGEST__NICE", "0")
    get_settings.cache_clear()
    runner.invoke(app, ["ingest", str(path)])
    assert calls == [7, 7]
