"""Dates through ingestion: every readable date is kept, an unusable one is a reported warning
and the row is still stored and searchable (issue #11 failures 2 and 4)."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.settings import DatabaseSettings, IngestSettings, Settings
from indexer.service import Firstline
from kb.models import Ticket
from tests.conftest import make_settings

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def jira_export(path: Path, n: int) -> list[datetime]:
    """A file shaped like a Jira CSV export: ``Created`` as ``30/Sep/21 5:20 PM`` (12-hour) and
    ``Resolved`` as ``1/Oct/21 09:05`` (24-hour); returns the expected creation times."""
    rng = random.Random(11)
    expected = []
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Issue key", "Summary", "Description", "Created", "Resolved"])
        for i in range(n):
            created = datetime(
                rng.randint(2015, 2024),
                rng.randint(1, 12),
                rng.randint(1, 28),
                rng.randint(0, 23),
                rng.randint(0, 59),
                tzinfo=UTC,
            )
            expected.append(created)
            hour12 = created.hour % 12 or 12
            ampm = "AM" if created.hour < 12 else "PM"
            w.writerow(
                [
                    f"OPS-{i + 1}",
                    f"Laptop dock issue {i}",
                    "Dock stops charging the laptop",
                    f"{created.day}/{MONTHS[created.month - 1]}/{created:%y} "
                    f"{hour12}:{created:%M} {ampm}",
                    f"{created.day}/{MONTHS[created.month - 1]}/{created:%y} {created:%H:%M}",
                ]
            )
    return expected


def opened(service: Firstline) -> dict[str, datetime | None]:
    with service.db.session() as s:
        rows = s.execute(select(Ticket.external_id, Ticket.opened_at)).all()
    return {ext: (d if d is None or d.tzinfo else d.replace(tzinfo=UTC)) for ext, d in rows}


def test_every_jira_date_is_read(service: Firstline, tmp_path: Path) -> None:
    expected = jira_export(tmp_path / "jira.csv", 2503)
    report = service.ingest_file(tmp_path / "jira.csv")
    assert (report.rows, report.added, report.skipped, report.warnings) == (2503, 2503, [], [])
    got = opened(service)
    assert [got[f"OPS-{i + 1}"] for i in range(2503)] == expected
    with service.db.session() as s:
        resolved = s.scalars(select(Ticket.resolved_at).where(Ticket.resolved_at.is_(None)))
        assert list(resolved) == []


def test_out_of_range_and_unreadable_dates_are_warnings_and_the_rows_are_kept(
    service: Firstline, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "Number,Short description,Opened\n"
        "INC1,Printer jams on A3,2021-09-30 17:20\n"
        "INC2,Keyboard missing keys,9999-12-31\n"
        "INC3,Monitor flickers,0001-01-01\n"
        "INC4,Mouse double clicks,next tuesday\n"
        "INC5,Headset crackles,\n",
        encoding="utf-8",
    )
    report = service.ingest_file(path)
    assert (report.rows, report.added, report.skipped) == (5, 5, [])
    assert [(w.row, w.column, w.value) for w in report.warnings] == [
        (2, "Opened", "9999-12-31"),
        (3, "Opened", "0001-01-01"),
        (4, "Opened", "next tuesday"),
    ]
    assert "outside the supported range" in report.warnings[0].reason
    assert "cannot read 'next tuesday'" in report.warnings[2].reason
    assert report.as_dict()["warnings"][0] == {
        "row": 2,
        "column": "Opened",
        "value": "9999-12-31",
        "reason": report.warnings[0].reason,
    }
    assert opened(service) == {
        "INC1": datetime(2021, 9, 30, 17, 20, tzinfo=UTC),
        "INC2": None,
        "INC3": None,
        "INC4": None,
        "INC5": None,  # empty is simply empty, not a warning
    }
    # Nothing poisons the index: every row is indexed and found.
    assert report.indexed == 5 and service.ingestor.pending_count() == 0
    for title in ("Keyboard missing keys", "Monitor flickers", "Printer jams on A3"):
        hits = service.search(title, k=1, mode="lexical")
        assert hits[0]["title"] == title


def test_api_documents_with_out_of_range_dates_are_kept_with_a_warning(
    service: Firstline,
) -> None:
    items = [
        {"external_id": "A1", "title": "VPN drops", "opened_at": datetime(9999, 12, 31)},
        {"external_id": "A2", "title": "Wifi slow", "opened_at": datetime(2024, 5, 1, 8)},
    ]
    report = service.ingest_items("ticket", items)
    assert report.added == 2
    assert [(w.row, w.column) for w in report.warnings] == [(1, "opened_at")]
    assert opened(service) == {"A1": None, "A2": datetime(2024, 5, 1, 8, tzinfo=UTC)}


def _settings(tmp_path: Path, **kw: object) -> Settings:
    base = make_settings(tmp_path)
    return base.model_copy(update=kw)


def test_numeric_dates_follow_the_date_order_setting(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,title,created\nX1,Printer,03/04/2021 10:00\n", encoding="utf-8")
    for order, month in (("dmy", 4), ("mdy", 3)):
        settings = _settings(tmp_path / order, ingest=IngestSettings(date_order=order))
        service = Firstline(settings)
        try:
            service.ingest_file(path)
            assert opened(service)["X1"].month == month
        finally:
            service.close()


def test_naive_dates_take_the_configured_zone_and_a_run_may_override_it(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,title,created\nX1,Printer,2021-09-30 17:20\n", encoding="utf-8")
    service = Firstline(_settings(tmp_path / "ams", timezone="Europe/Amsterdam"))
    try:
        service.ingest_file(path)
        assert opened(service)["X1"] == datetime(2021, 9, 30, 15, 20, tzinfo=UTC)
    finally:
        service.close()
    service = Firstline(_settings(tmp_path / "ny", timezone="Europe/Amsterdam"))
    try:
        service.ingest_file(path, timezone="America/New_York")
        assert opened(service)["X1"] == datetime(2021, 9, 30, 21, 20, tzinfo=UTC)
    finally:
        service.close()


MESSY = (
    "Issue key,Summary,Description,Created\n"
    "OPS-1,Dock\x00 not charging,NUL\x00 bytes from an old export,30/Sep/21 5:20 PM\n"
    'OPS-2,"Unclosed quote,swallows nothing,1/Oct/21 09:05\n'
    "OPS-3,Badge reader broken,Door 4,9999-12-31\n"
    "OPS-4,Scanner offline,Floor 2,0001-01-01\n"
    "OPS-5,Wifi slow,Meeting rooms,2 Oct 2021\n"
)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_messy_export_goes_in_the_same_on_both_databases(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(tmp_path)
    if database == "postgres":
        url = request.getfixturevalue("fresh_postgres_url")
        settings = settings.model_copy(update={"database": DatabaseSettings(url=url)})
    path = tmp_path / "messy.csv"
    path.write_bytes(MESSY.encode())
    service = Firstline(settings)
    try:
        report = service.ingest_file(path, source=f"messy-{database}")
        assert (report.rows, report.added) == (5, 4)
        assert [e.row for e in report.skipped] == [2]
        assert [(w.row, w.value) for w in report.warnings] == [(3, "9999-12-31"), (4, "0001-01-01")]
        got = {k: v for k, v in opened(service).items() if k.startswith("OPS-")}
        assert got == {
            "OPS-1": datetime(2021, 9, 30, 17, 20, tzinfo=UTC),
            "OPS-3": None,
            "OPS-4": None,
            "OPS-5": datetime(2021, 10, 2, tzinfo=UTC),
        }
        one = service.get("ticket", "OPS-1", source=f"messy-{database}")
        assert (one["title"], one["description"]) == (
            "Dock not charging",
            "NUL bytes from an old export",
        )
        assert service.ingestor.pending_count() == 0
    finally:
        service.close()
