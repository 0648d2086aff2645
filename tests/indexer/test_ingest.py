"""Ingestion through the library facade: mapping, idempotency, updates, bad rows, interruptions,
reindex.  The SQL record and the search index must always agree once a run has finished."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInputError
from core.settings import Settings
from indexer.service import Firstline
from indexer.types import Filters


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def lexical(service: Firstline, text: str, **filters: Any) -> list[dict]:
    return service.search(text, k=100, filters=Filters(**filters), mode="lexical")


def lexical_ids(service: Firstline, text: str) -> list[str]:
    return [h["external_id"] for h in lexical(service, text)]


def assert_consistent(service: Firstline, expected_ids: set[str], kind: str = "ticket") -> None:
    """SQL and index hold exactly ``expected_ids``, each once, nothing waiting to be indexed."""
    assert service.counts()[f"{kind}s"] == len(expected_ids)
    assert service.backend.count() == len(expected_ids)
    assert service.ingestor.pending_count() == 0
    hits = service.search("widget", k=100, mode="lexical")
    found = [h["external_id"] for h in hits]
    assert sorted(found) == sorted(expected_ids)  # each document exactly once in the index


# -- column mapping ------------------------------------------------------------------------


def test_servicenow_headers_are_mapped_automatically(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "incidents.csv",
        [
            "Number",
            "Short description",
            "Description",
            "Assignment group",
            "Category",
            "Close notes",
            "Opened",
            "Caller id",
            "Business service",
        ],
        [
            [
                "INC0010001",
                "Outlook asks for password",
                "Since this morning Outlook prompts again.",
                "Messaging",
                "Email",
                "Cleared cached credentials.",
                "03-03-2025 09:14",
                "Maria Lopez",
                "Exchange Online",
            ]
        ],
    )
    report = service.ingest_file(path)
    assert report.added == 1
    assert "title<-'Short description'" in report.mapping
    assert "assignment_group<-'Assignment group'" in report.mapping
    t = service.get("ticket", "INC0010001")
    assert t["title"] == "Outlook asks for password"
    assert t["description"] == "Since this morning Outlook prompts again."
    assert t["assignment_group"] == "Messaging"
    assert t["category"] == "Email"
    assert t["resolution"] == "Cleared cached credentials."
    assert t["caller"] == "Maria Lopez"
    assert t["opened_at"].startswith("2025-03-03T09:14")
    # A column we have no field for is kept, not dropped.
    assert t["extra"] == {"Business service": "Exchange Online"}


def test_kaggle_document_topic_group_headers_are_mapped(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "all_tickets.csv",
        ["Document", "Topic_group"],
        [
            ["printer on floor 3 jams on every a3 widget job", "Hardware"],
            ["cannot log in to the payroll widget portal", "Access"],
        ],
    )
    report = service.ingest_file(path)
    assert report.added == 2
    assert "description<-'Document'" in report.mapping
    assert "category<-'Topic_group'" in report.mapping
    hits = lexical(service, "printer jams", categories=["Hardware"])
    assert [h["title"] for h in hits] == ["printer on floor 3 jams on every a3 widget job"]
    assert lexical(service, "printer jams", categories=["Access"]) == []


def test_kaggle_document_headers_work_for_articles(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "kb.csv", ["Document", "Topic_group"], [["How to map a drive", "Storage"]]
    )
    service.ingest_file(path, kind="article")
    [hit] = lexical(service, "map drive", kinds=["article"])
    assert hit["category"] == "Storage"


def test_explicit_map_wins_and_maps_unusual_columns(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "jira.csv",
        ["Key", "Title", "Headline", "Long text", "Squad"],
        [["OPS-1", "ignored title column", "VPN widget drops hourly", "Since the update", "Net"]],
    )
    report = service.ingest_file(
        path, mapping=["title=Headline", "description=Long text", "assignment_group=Squad"]
    )
    assert report.added == 1
    t = service.get("ticket", "OPS-1")
    assert t["title"] == "VPN widget drops hourly"
    assert t["description"] == "Since the update"
    assert t["assignment_group"] == "Net"
    assert t["extra"] == {"Title": "ignored title column"}


def test_explicit_map_matches_columns_loosely(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["id", "Problem_Text"], [["1", "Printer widget jam"]])
    service.ingest_file(path, mapping={"title": "problem text"})
    assert service.get("ticket", "1")["title"] == "Printer widget jam"


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        (["colour=Title"], "colour"),
        (["title=Headline"], "Headline"),
        (["title"], "title"),
    ],
    ids=["unknown-field", "unknown-column", "no-equals"],
)
def test_bad_mapping_is_refused_naming_the_culprit_and_stores_nothing(
    service: Firstline, tmp_path: Path, mapping: list[str], named: str
) -> None:
    path = write_csv(tmp_path / "t.csv", ["id", "Title"], [["1", "Printer jam"]])
    with pytest.raises(InvalidInputError, match=named):
        service.ingest_file(path, mapping=mapping)
    assert service.counts()["tickets"] == 0


def test_file_without_any_text_column_is_refused(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["id", "Priority"], [["1", "P1"]])
    with pytest.raises(InvalidInputError, match="no text column.*--map"):
        service.ingest_file(path)


def test_file_with_only_a_header_is_refused(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["id", "title"], [])
    with pytest.raises(InvalidInputError, match="no rows"):
        service.ingest_file(path)


def test_missing_file_is_refused(service: Firstline, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        service.ingest_file(tmp_path / "nope.csv")


# -- idempotency and updates ------------------------------------------------------------------


TICKETS = [
    ["INC1", "Printer widget jam", "Paper stuck in tray 2", "Hardware"],
    ["INC2", "VPN widget drops", "Disconnects every hour", "Network"],
    ["INC3", "Outlook widget password prompt", "Keeps asking for my password", "Email"],
]
HEADER = ["Number", "Short description", "Description", "Category"]


def test_reingesting_the_same_file_changes_nothing(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", HEADER, TICKETS)
    first = service.ingest_file(path)
    assert (first.added, first.updated, first.unchanged, first.indexed) == (3, 0, 0, 3)
    stored = {t[0]: service.get("ticket", t[0])["content_hash"] for t in TICKETS}
    ids_before = service.backend.ids()

    second = service.ingest_file(path)
    assert (second.added, second.updated, second.unchanged, second.indexed) == (0, 0, 3, 0)
    assert {t[0]: service.get("ticket", t[0])["content_hash"] for t in TICKETS} == stored
    assert service.backend.ids() == ids_before
    assert_consistent(service, {"INC1", "INC2", "INC3"})


def test_changed_row_updates_the_record_and_the_index(service: Firstline, tmp_path: Path) -> None:
    service.ingest_file(write_csv(tmp_path / "v1.csv", HEADER, TICKETS))
    assert lexical_ids(service, "tray") == ["INC1"]
    changed = [r[:] for r in TICKETS]
    changed[0][2] = "Toner cartridge empty on floor 3"
    report = service.ingest_file(write_csv(tmp_path / "v2.csv", HEADER, changed))

    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    assert service.get("ticket", "INC1")["description"] == "Toner cartridge empty on floor 3"
    assert lexical_ids(service, "tray") == []  # the old text is gone from the index
    assert lexical_ids(service, "toner cartridge") == ["INC1"]
    assert_consistent(service, {"INC1", "INC2", "INC3"})


def test_same_id_in_another_source_is_another_ticket(service: Firstline, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", HEADER, TICKETS[:1])
    service.ingest_file(path, source="servicenow")
    report = service.ingest_file(path, source="jira")
    assert report.added == 1
    assert service.counts()["tickets"] == 2
    assert service.get("ticket", "INC1", source="jira")["source"] == "jira"
    with pytest.raises(InvalidInputError, match="several sources"):
        service.get("ticket", "INC1")


def test_rows_without_ids_keep_identical_duplicates_and_reingest_adds_nothing(
    service: Firstline, tmp_path: Path
) -> None:
    rows = [
        ["Printer widget jam", "Paper stuck"],
        ["Printer widget jam", "Paper stuck"],  # the same problem reported twice
        ["VPN widget drops", "Every hour"],
    ]
    path = write_csv(tmp_path / "t.csv", ["Subject", "Body"], rows)
    first = service.ingest_file(path)
    assert first.added == 3
    assert sorted(h["title"] for h in lexical(service, "widget")) == [
        "Printer widget jam",
        "Printer widget jam",
        "VPN widget drops",
    ]
    second = service.ingest_file(path)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 3)
    assert service.counts()["tickets"] == 3
    assert service.backend.count() == 3


def test_rows_without_ids_survive_a_batch_boundary(settings: Settings, tmp_path: Path) -> None:
    settings.ingest.batch_size = 1
    rows = [["Printer widget jam", "Paper stuck"]] * 3
    path = write_csv(tmp_path / "t.csv", ["Subject", "Body"], rows)
    service = Firstline(settings)
    try:
        assert service.ingest_file(path).added == 3
        assert service.ingest_file(path).added == 0
        assert service.counts()["tickets"] == 3
    finally:
        service.close()


@pytest.mark.parametrize("batch_size", [1, 256])
def test_an_id_repeated_in_one_file_keeps_the_later_row(
    settings: Settings, tmp_path: Path, batch_size: int
) -> None:
    settings.ingest.batch_size = batch_size
    rows = [
        ["INC1", "Printer widget jam", "old text tray", "HW"],
        ["INC1", "Printer widget jam", "new text toner", "HW"],
    ]
    service = Firstline(settings)
    try:
        service.ingest_file(write_csv(tmp_path / "t.csv", HEADER, rows))
        assert service.get("ticket", "INC1")["description"] == "new text toner"
        assert lexical_ids(service, "tray") == []
        assert_consistent(service, {"INC1"})
    finally:
        service.close()


# -- bad rows ----------------------------------------------------------------------------------


def test_bad_rows_are_skipped_with_reasons_and_the_rest_stored(
    service: Firstline, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        b"Number,Short description,Description,Category\n"
        b"INC1,Printer widget jam,Paper stuck,Hardware\n"
        b"INC2,,,Network\n"
        b"INC3,Caf\xe9 widget,bad byte,Email\n"
        b"INC4,VPN widget drops,Every hour,Network\n"
    )
    report = service.ingest_file(path)
    assert [(e.row, e.reason) for e in report.skipped] == [
        (2, "missing text: both title and description are empty"),
        (3, "not valid utf-8 (byte 0xe9)"),
    ]
    assert_consistent(service, {"INC1", "INC4"})


def test_a_file_with_bad_rows_never_deletes_what_was_stored(
    service: Firstline, tmp_path: Path
) -> None:
    service.ingest_file(write_csv(tmp_path / "v1.csv", HEADER, TICKETS))
    # The next export has INC1 broken (no text), INC2 and INC3 missing, and one new ticket.
    path = write_csv(
        tmp_path / "v2.csv",
        HEADER,
        [["INC1", "", "", "Hardware"], ["INC4", "Teams widget camera black", "No video", "AV"]],
    )
    report = service.ingest_file(path)
    assert [e.row for e in report.skipped] == [1]
    assert service.get("ticket", "INC1")["description"] == "Paper stuck in tray 2"
    assert lexical_ids(service, "tray") == ["INC1"]
    assert_consistent(service, {"INC1", "INC2", "INC3", "INC4"})


# -- interrupted runs ----------------------------------------------------------------------------


def _fail_on_call(real: Callable, n: int, after: bool = False) -> Callable:
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            if after:
                real(*args, **kwargs)
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    "where",
    ["encoder", "index write", "after index write"],
)
def test_interrupted_ingest_finishes_with_exactly_the_right_documents(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    settings.ingest.batch_size = 2
    rows = [
        [f"INC{i}", f"Widget problem number {i}", f"Details of problem {i}", "Misc"]
        for i in range(1, 8)
    ]
    rows.insert(3, ["BAD", "", "", "Misc"])
    path = write_csv(tmp_path / "t.csv", HEADER, rows)
    good = {r[0] for r in rows if r[1]}
    service = Firstline(settings)
    try:
        if where == "encoder":
            target, name = service.encoder, "encode"
        else:
            target, name = service.backend, "upsert"
        after = where == "after index write"
        monkeypatch.setattr(target, name, _fail_on_call(getattr(target, name), 2, after=after))
        with pytest.raises(RuntimeError, match="killed"):
            service.ingest_file(path)
        assert service.ingestor.pending_count() > 0  # stored rows the index has not caught up with
        monkeypatch.undo()

        report = service.ingest_file(path)
        assert [e.row for e in report.skipped] == [4]
        assert_consistent(service, good)
        for r in rows:
            if r[1]:
                assert lexical_ids(service, f"problem {r[0][3:]}")[0] == r[0]
    finally:
        service.close()


def test_a_second_process_sees_the_finished_state(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", HEADER, TICKETS)
    first = Firstline(settings)
    try:
        first.ingest_file(path)
    finally:
        first.close()
    second = Firstline(settings)
    try:
        assert_consistent(second, {"INC1", "INC2", "INC3"})
    finally:
        second.close()


# -- reindex --------------------------------------------------------------------------------------


def test_reindex_rebuilds_with_the_same_ids_and_search_still_works(
    service: Firstline, tmp_path: Path, write_jsonl
) -> None:
    service.ingest_file(write_csv(tmp_path / "t.csv", HEADER, TICKETS))
    service.ingest_file(
        write_jsonl(
            "kb.jsonl",
            [
                {
                    "id": "KB1",
                    "title": "Clear the widget printer queue",
                    "body": "Open the print server and purge the tray queue.",
                }
            ],
        ),
        kind="article",
    )
    ids_before = service.backend.ids()
    hits_before = [(h["id"], h["external_id"]) for h in lexical(service, "tray")]

    assert service.reindex().indexed == 4
    assert service.backend.ids() == ids_before
    assert [(h["id"], h["external_id"]) for h in lexical(service, "tray")] == hits_before
    assert service.ingestor.pending_count() == 0
    # Writes after a rebuild go to the new index.
    changed = [r[:] for r in TICKETS]
    changed[1][2] = "Tunnel resets at midnight"
    service.ingest_file(write_csv(tmp_path / "v2.csv", HEADER, changed))
    assert lexical_ids(service, "midnight") == ["INC2"]
    assert service.backend.count() == 4


def test_reindex_catches_up_on_rows_an_interrupted_run_left_unindexed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ingest.batch_size = 1
    service = Firstline(settings)
    try:
        monkeypatch.setattr(service.backend, "upsert", _fail_on_call(service.backend.upsert, 2))
        with pytest.raises(RuntimeError):
            service.ingest_file(write_csv(tmp_path / "t.csv", HEADER, TICKETS))
        monkeypatch.undo()
        # The second batch failed to index; the third was already stored (ingestion stores
        # and encodes one batch ahead of the one it indexes), both pending.
        assert service.counts()["tickets"] == 3
        assert service.backend.count() == 1
        assert service.ingestor.pending_count() == 2
        assert service.reindex().indexed == 3
        assert service.backend.count() == 3
        assert service.ingestor.pending_count() == 0
        assert lexical_ids(service, "hour") == ["INC2"]
    finally:
        service.close()


# -- stored as given, indexed normalised ---------------------------------------------------------


def test_text_is_stored_as_given_but_indexed_normalised(service: Firstline, tmp_path: Path) -> None:
    description = (
        "received from: maria.lopez@acme.example\n\n"
        "The widget printer on floor 3 jams.\n\nThanks,\nMaria\nAccounts"
    )
    service.ingest_file(
        write_csv(tmp_path / "t.csv", HEADER, [["INC1", "Printer jam", description, "HW"]])
    )
    assert service.get("ticket", "INC1")["description"] == description
    [hit] = lexical(service, "printer jams")
    assert "Maria" not in hit["snippet"]
    assert "received from" not in hit["snippet"]
    assert "floor 3 jams" in hit["snippet"]
    # The signature is not searchable either.
    assert lexical(service, "Maria Accounts") == []
