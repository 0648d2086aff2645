"""Export presets: each product's export, in the header shape it writes, goes in with the right
fields and firstline's values (levels, P1-P5, resolved), through the library path the CLI uses;
an unknown preset is a one-line error before anything loads."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.cli import app, main
from core.dates import parse_date
from core.errors import InvalidInputError
from core.settings import get_settings
from indexer.mapping import FIELDS
from indexer.presets import PRESETS, get_preset
from indexer.service import Firstline
from kb.models import Ticket

FIXTURES = Path(__file__).parent / "fixtures" / "presets"
FILES = {
    "servicenow": "servicenow_incident.csv",
    "jira": "jira_service_management.csv",
    "zammad": "zammad_tickets.jsonl",
    "glpi": "glpi_tickets.csv",
    "freshservice": "freshservice_tickets.csv",
    "zendesk": "zendesk_tickets.jsonl",
}
COLUMNS = (
    "title description resolution category assignment_group type impact urgency priority"
    " status caller opened_at resolved_at tags"
).split()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Per preset, two tickets as they must be stored (every column listed), and every ticket's status.
EXPECTED: dict[str, dict[str, Any]] = {
    "servicenow": {
        "INC0010232": {
            "title": "Payroll server unreachable",
            "description": "Nobody in finance can open the payroll application, it times out.",
            "resolution": "Restarted the application pool on PAYROLL01 after the disk filled up;"
            " added log rotation.",
            "category": "Hardware",
            "assignment_group": "Server Operations",
            "type": None,
            "impact": "high",
            "urgency": "high",
            "priority": "P1",
            "status": "resolved",
            "caller": "Tom Peeters",
            "opened_at": at(2024, 3, 2, 8, 15),
            "resolved_at": at(2024, 3, 2, 9, 5),
            "tags": [],
        },
        "INC0010234": {
            "title": "Printer on floor 3 jams on A3",
            "description": "Paper jams in tray 2 whenever I print on A3.",
            "resolution": "Replaced the worn pickup roller in tray 2.",
            "category": "Hardware",
            "assignment_group": "Desktop Support",
            "type": None,
            "impact": "low",
            "urgency": "low",
            "priority": "P5",
            "status": "resolved",
            "caller": "Jan de Vries",
            "opened_at": at(2024, 3, 6, 9),
            "resolved_at": at(2024, 3, 7, 10, 30),
            "tags": [],
        },
        "statuses": {
            "INC0010231": "resolved",
            "INC0010232": "resolved",
            "INC0010233": "resolved",
            "INC0010234": "resolved",
            "INC0010235": "in progress",
        },
    },
    "jira": {
        "ITSM-102": {
            "title": "Email bounces for external recipients",
            "description": 'Every mail to outside addresses comes back with "550 5.7.1 relay'
            ' denied".',
            "resolution": None,  # Jira's "Resolution" is "Done", not the fix
            "category": "Email",
            "assignment_group": None,
            "type": "Incident",
            "impact": "high",
            "urgency": "high",
            "priority": "P1",
            "status": "resolved",
            "caller": "Tom Peeters",
            "opened_at": at(2024, 3, 4, 9, 5),
            "resolved_at": at(2024, 3, 4, 10, 40),
            "tags": ["mail", "outage"],
        },
        "ITSM-101": {
            "title": "Laptop does not charge on the docking station",
            "description": "The laptop shows 'plugged in, not charging' on the USB-C dock in"
            " room 4.12.",
            "resolution": None,
            "category": "Hardware",
            "assignment_group": None,
            "type": "Incident",
            "impact": "low",
            "urgency": "high",
            "priority": "P2",
            "status": "resolved",
            "caller": "Maria Jansen",
            "opened_at": at(2024, 3, 1, 10),
            "resolved_at": at(2024, 3, 1, 14, 45),
            "tags": ["docking"],
        },
        "statuses": {
            "ITSM-101": "resolved",
            "ITSM-102": "resolved",
            "ITSM-103": "resolved",
            "ITSM-104": "in progress",
            "ITSM-105": "resolved",
        },
    },
    "zammad": {
        "31412": {
            "title": "Shared mailbox not visible in Outlook",
            "description": "",
            "resolution": None,
            "category": None,
            "assignment_group": "Service Desk",
            "type": "Incident",
            "impact": None,
            "urgency": None,
            "priority": "P2",
            "status": "resolved",
            "caller": "maria.jansen@example.com",
            "opened_at": at(2024, 3, 1, 10),
            "resolved_at": at(2024, 3, 1, 13, 20),
            "tags": [],
        },
        "31414": {
            "title": "Order a new keyboard",
            "description": "",
            "resolution": None,
            "category": None,
            "assignment_group": "Service Desk",
            "type": "Service Request",
            "impact": None,
            "urgency": None,
            "priority": "P4",
            "status": "open",
            "caller": "ana.silva@example.com",
            "opened_at": at(2024, 3, 5, 12),
            "resolved_at": None,
            "tags": [],
        },
        "statuses": {
            "31412": "resolved",
            "31413": "resolved",
            "31414": "open",
            "31415": "resolved",
            "31416": "pending reminder",
        },
    },
    "glpi": {
        "1205": {
            "title": "ERP down for the whole site",
            "description": "Nobody can log in to the ERP, the login page returns error 503.",
            "resolution": "Restarted the ERP application server after a failed update; rolled"
            " the update back.",
            "category": "Software > ERP",
            "assignment_group": "Applications",
            "type": None,
            "impact": "high",
            "urgency": "high",
            "priority": "P1",
            "status": "resolved",
            "caller": None,
            "opened_at": at(2024, 3, 2, 8),
            "resolved_at": at(2024, 3, 2, 9, 10),
            "tags": [],
        },
        "1208": {  # GLPI's numeric levels: priority 2 Low, urgency 2 Low, impact 1 Very low
            "title": "Request for a Visio licence",
            "description": "I need Visio to draw the new network plan.",
            "resolution": "Assigned a Visio licence from the pool.",
            "category": "Software > Licences",
            "assignment_group": "Applications",
            "type": None,
            "impact": "low",
            "urgency": "low",
            "priority": "P4",
            "status": "resolved",
            "caller": None,
            "opened_at": at(2024, 3, 7, 9, 30),
            "resolved_at": at(2024, 3, 7, 14),
            "tags": [],
        },
        "statuses": {
            "1204": "resolved",
            "1205": "resolved",
            "1206": "resolved",
            "1207": "processing (assigned)",
            "1208": "resolved",
        },
    },
    "freshservice": {
        "INC-2042": {
            "title": "Website returns 502 for customers",
            "description": "The public website shows 502 Bad Gateway for all visitors.",
            "resolution": "Restarted the stuck upstream workers and raised the proxy timeout.",
            "category": "Software",
            "assignment_group": "Web Operations",
            "type": "Incident",
            "impact": "high",
            "urgency": "high",
            "priority": "P1",
            "status": "resolved",
            "caller": "Tom Peeters",
            "opened_at": at(2024, 3, 2, 7, 30),
            "resolved_at": at(2024, 3, 2, 8, 10),
            "tags": [],
        },
        "SR-2043": {
            "title": "Install Power BI Desktop",
            "description": "Please install Power BI Desktop on my laptop.",
            "resolution": "Installed through the software centre.",
            "category": "Software",
            "assignment_group": "Service Desk",
            "type": "Service Request",
            "impact": "low",
            "urgency": "low",
            "priority": "P4",
            "status": "resolved",
            "caller": "Ana Silva",
            "opened_at": at(2024, 3, 4, 9),
            "resolved_at": at(2024, 3, 4, 13),
            "tags": [],
        },
        "statuses": {
            "INC-2041": "resolved",
            "INC-2042": "resolved",
            "SR-2043": "resolved",
            "INC-2044": "open",
            "INC-2045": "resolved",
        },
    },
    "zendesk": {
        "4812": {
            "title": "Checkout fails for all card payments",
            "description": "Every card payment ends with 'transaction declined' since 08:00.",
            "resolution": None,
            "category": None,
            "assignment_group": None,  # the JSON export has group_id, not the group's name
            "type": "problem",
            "impact": None,
            "urgency": None,
            "priority": "P1",
            "status": "resolved",
            "caller": None,
            "opened_at": at(2024, 3, 2, 8, 20),
            "resolved_at": None,
            "tags": ["payments"],
        },
        "4813": {
            "title": "How do I export my invoices?",
            "description": "I need all invoices of 2023 as PDF for our accountant.",
            "resolution": None,
            "category": None,
            "assignment_group": None,
            "type": "question",
            "impact": None,
            "urgency": None,
            "priority": "P3",
            "status": "resolved",
            "caller": None,
            "opened_at": at(2024, 3, 4, 15, 45),
            "resolved_at": None,
            "tags": ["billing"],
        },
        "statuses": {
            "4811": "resolved",
            "4812": "resolved",
            "4813": "resolved",
            "4814": "pending",
            "4815": "open",
        },
    },
}


def stored(service: Firstline) -> dict[str, dict[str, Any]]:
    """Every stored ticket by its external id: the mapped columns, dates in UTC, and extra."""
    with service.db.session() as s:
        rows = s.scalars(select(Ticket)).all()
        out = {}
        for t in rows:
            values = {c: getattr(t, c) for c in COLUMNS}
            for c in ("opened_at", "resolved_at"):
                d = values[c]
                values[c] = d if d is None or d.tzinfo else d.replace(tzinfo=UTC)
            values["extra"] = dict(t.extra or {})
            out[t.external_id] = values
    return out


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_stores_its_products_export_as_firstline_fields(
    service: Firstline, name: str
) -> None:
    path = FIXTURES / FILES[name]
    mapping = service.check_file(path, preset=name)  # the CLI's check, before the model
    assert mapping is not None and mapping.describe().startswith(f"preset {name}:")
    report = service.ingest_file(path, source=name, preset=name)
    assert report.complete and not report.skipped, report.as_dict()
    tickets = stored(service)
    expected = EXPECTED[name]
    assert {ext: t["status"] for ext, t in tickets.items()} == expected["statuses"]
    for ext, want in expected.items():
        if ext != "statuses":
            got = {c: tickets[ext][c] for c in COLUMNS}
            assert got == want, ext


def test_jira_resolution_name_and_zendesk_group_id_are_kept_with_the_row(
    service: Firstline,
) -> None:
    service.ingest_file(FIXTURES / FILES["jira"], source="jira", preset="jira")
    service.ingest_file(FIXTURES / FILES["zendesk"], source="zendesk", preset="zendesk")
    tickets = stored(service)
    assert tickets["ITSM-101"]["extra"]["Resolution"] == "Done"
    assert tickets["ITSM-101"]["extra"]["Assignee"] == "Kees Smit"
    assert tickets["4812"]["extra"]["group_id"] == "360002"


def test_without_the_preset_the_same_export_is_read_differently(service: Firstline) -> None:
    """The automatic match reads Jira's "Resolution" (Done) as the fix and keeps the product's
    values: what the preset exists to correct."""
    service.ingest_file(FIXTURES / FILES["jira"], source="jira")
    by_title = {t["title"]: t for t in stored(service).values()}
    ticket = by_title["Email bounces for external recipients"]
    assert (ticket["resolution"], ticket["priority"]) == ("Done", "Highest")


def test_an_explicit_map_wins_over_the_preset(service: Firstline) -> None:
    path = FIXTURES / FILES["jira"]
    service.ingest_file(path, mapping=["resolution=Resolution"], source="jira", preset="jira")
    ticket = stored(service)["ITSM-102"]
    assert ticket["resolution"] == "Done"
    assert ticket["priority"] == "P1"  # the rest of the preset still applies


def test_a_preset_reads_tickets_only(service: Firstline) -> None:
    with pytest.raises(InvalidInputError, match="reads tickets"):
        service.check_file(FIXTURES / FILES["zendesk"], kind="article", preset="zendesk")


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_preset_names_only_known_fields_and_reads_its_products_dates(name: str) -> None:
    preset = get_preset(name)
    assert set(preset.columns) <= set(FIELDS["ticket"])
    assert preset.date_examples
    for example in preset.date_examples:
        assert parse_date(example).date() == datetime(2024, 3, 1).date()


@pytest.mark.parametrize(
    ("name", "field", "value", "expected"),
    [
        ("servicenow", "priority", "2", "P2"),  # raw choice values (glide.export.csv.raw.value)
        ("servicenow", "status", "7", "resolved"),
        ("servicenow", "status", "Canceled", "Canceled"),  # not done: kept as written
        ("glpi", "priority", "6", "P1"),  # Major
        ("glpi", "impact", "Très haute", "high"),
        ("glpi", "status", "Clos", "resolved"),
        ("jira", "priority", "Blocker", "P1"),
        ("jira", "priority", "Major", "P3"),
        ("zammad", "priority", "3 high", "P2"),
        ("zammad", "priority", "4 escalated", "4 escalated"),  # unknown to firstline: kept
        ("freshservice", "status", "5", "resolved"),
    ],
)
def test_product_codes_are_read_as_firstline_values(
    name: str, field: str, value: str, expected: str
) -> None:
    assert get_preset(name).normalise(field, value) == expected


# -- the command ----------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("FIRSTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTLINE_MODEL__KIND", "hashing")
    monkeypatch.setenv("FIRSTLINE_INGEST__NICE", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["firstline", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_unknown_preset_is_one_line_listing_the_presets_before_the_model_loads(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("indexer.service.get_encoder", no_model)
    code, out, err = run_main(
        monkeypatch, capsys, "ingest", str(FIXTURES / FILES["jira"]), "--preset", "remedy"
    )
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "unknown preset 'remedy'" in lines[0]
    assert all(name in lines[0] for name in PRESETS)


def test_ingest_with_a_preset_through_the_command(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / FILES["servicenow"]
    code, out, err = run_main(monkeypatch, capsys, "ingest", str(path), "--preset", "servicenow")
    assert code == 0, err
    assert "5 added" in out and "preset servicenow:" in out
    service = Firstline(get_settings())
    try:
        assert stored(service)["INC0010231"]["impact"] == "low"
    finally:
        service.close()


def test_ingest_help_lists_the_presets(env: None) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["ingest", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert all(name in result.stdout for name in PRESETS)


def test_the_readme_table_lists_every_preset() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Export presets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(PRESETS)
