"""Request Tracker 5 and firstline, both real: resolved RT tickets become searchable, new ones
are triaged on the desk and firstline's decision is written back to RT (fields and one internal
comment), edits and resolutions made in RT follow, a dry run writes nothing, and a sync killed
at a random point and run again ends exactly right."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from connectors.render import marker
from connectors.rt import RTClient
from connectors.rt_sync import rt_config
from connectors.sync import SyncService, sync_service
from indexer.service import Firstline
from kb.auth import Principal
from kb.models import DeskTicket, ExternalLink
from tests.conftest import copy_data

pytestmark = pytest.mark.rt

ADMIN = Principal("test", "admin")
PUSH = ["priority", "impact", "urgency", "queue", "comment"]
FIRSTLINE = str(Path(sys.executable).parent / "firstline")


def _now() -> datetime:
    """Where a test's connection starts: RT is shared by the session's tests, and each test
    syncs only what it made (the connection's --since), which keeps the suite fast."""
    return datetime.now(UTC) - timedelta(seconds=1)


def _config(rt, since: datetime, **extra) -> dict:  # noqa: ANN001, ANN003
    return rt_config(
        rt.url,
        since=since,
        push=PUSH,
        impact_field="Impact",
        urgency_field="Urgency",
        second_line_queue="Second line",
        **extra,
    )


@pytest.fixture
def desk(tmp_path: Path, trained_demo: Path) -> Iterator[SyncService]:
    settings = copy_data(trained_demo, tmp_path / "desk")
    settings.connectors.batch_size = 3
    service = Firstline(settings)
    yield sync_service(settings, service)
    service.close()


def _comments_with(client: RTClient, ticket_id: int, mark: str) -> int:
    history = client._history(ticket_id)  # noqa: SLF001 - the raw history, to count
    return sum(
        mark in client._transaction_text(t["id"])  # noqa: SLF001
        for t in history
        if t.get("Type") == "Comment"
    )


def _desk_ticket(sync: SyncService, conn: str, rt_id: int) -> dict:
    with sync.desk.db.session() as s:
        conn_id = sync.connections.record(s, conn).id
        link = s.scalar(
            select(ExternalLink).where(
                ExternalLink.connection_id == conn_id, ExternalLink.external_id == str(rt_id)
            )
        )
        assert link is not None and link.desk_ticket_id, f"RT ticket {rt_id} is not on the desk"
        return sync.desk.desk.get(link.desk_ticket_id)


def test_rt_tickets_are_searched_triaged_written_back_and_followed(rt_server, desk) -> None:  # noqa: ANN001
    rt = rt_server
    start = _now()
    solved = rt.create_ticket(
        "Outlook asks for my password again and again",
        "Since this morning's update Outlook keeps prompting for my password every few minutes.",
    )
    rt.resolve(solved, "Removed the stale Outlook entry in Windows Credential Manager; fixed.")
    outage = rt.create_ticket(
        "Network down on the whole 2nd floor",
        "The network is down on the whole 2nd floor, about 15 people cannot work.",
    )
    change = rt.create_ticket(
        "Picking waves in the ERP",
        "Please change the warehouse picking process in the ERP so picking waves are released "
        "every 30 minutes.",
    )
    stored = desk.connect(ADMIN, "rt", "rt", _config(rt, start), rt.token)
    uid = stored["config"]["uid"]

    report = desk.run("rt")
    assert report.status == "ok", report.errors
    assert report.counts["triaged"] >= 2 and report.counts["imported"] >= 1

    # The resolved RT ticket answers an agent's search.
    hits = desk.desk.service.search("outlook keeps asking for my password", 5)
    assert f"RT-{solved}" in [h["external_id"] for h in hits]

    # The open ones are desk tickets, triaged, and RT holds firstline's decision.
    client = RTClient(rt.url, rt.token)
    for rt_id in (outage, change):
        ticket = _desk_ticket(desk, "rt", rt_id)
        assert ticket["channel"] == "rt"
        back = rt.ticket(rt_id)
        cfs = {cf["name"]: cf["values"] for cf in back["CustomFields"]}
        if ticket["priority"]:
            assert int(back["Priority"]) == _config(rt, start)["priority_map"][ticket["priority"]]
        assert cfs["Impact"] == ([ticket["impact"]] if ticket["impact"] else [])
        assert cfs["Urgency"] == ([ticket["urgency"]] if ticket["urgency"] else [])
        assert _comments_with(client, rt_id, marker(ticket["ref"], uid)) == 1
    outage_ticket = _desk_ticket(desk, "rt", outage)
    assert outage_ticket["impact"] == "high" and outage_ticket["priority"] in ("P1", "P2")
    change_ticket = _desk_ticket(desk, "rt", change)
    assert change_ticket["type"] == "change" and change_ticket["tier"] == "second_line"
    assert rt.ticket(change)["Queue"]["Name"] == "Second line"  # a change goes to second line

    # A second sync finds nothing new and writes nothing twice.
    again = desk.run("rt")
    assert again.status == "ok" and not again.counts.get("triaged")
    assert _comments_with(client, outage, marker(outage_ticket["ref"], uid)) == 1

    # An edit made in RT reaches the desk ticket; a resolution in RT resolves it and makes it
    # searchable.
    rt.edit(outage, {"Subject": "Network down on the whole 2nd and 3rd floor"})
    desk.run("rt")
    assert (
        _desk_ticket(desk, "rt", outage)["title"] == "Network down on the whole 2nd and 3rd floor"
    )
    rt.resolve(outage, "Replaced the failed access switch in the 2nd floor comms rack.")
    done = desk.run("rt")
    assert done.status == "ok" and done.counts.get("resolved_on_desk") == 1
    assert _desk_ticket(desk, "rt", outage)["state"] == "resolved"
    hits = desk.desk.service.search("access switch failed whole floor network down", 5)
    assert f"RT-{outage}" in [h["external_id"] for h in hits]
    assert _comments_with(client, outage, marker(outage_ticket["ref"], uid)) == 1
    client.close()


def test_a_dry_run_shows_the_writes_and_makes_none(rt_server, desk) -> None:  # noqa: ANN001
    rt = rt_server
    desk.connect(ADMIN, "rt", "rt", _config(rt, _now()), rt.token)
    new = rt.create_ticket("Printer on floor 3 prints blank pages", "HR printer, all pages blank.")
    before = rt.ticket(new)
    report = desk.run("rt", dry_run=True)
    assert report.status == "dry-run"
    (plan,) = [p for p in report.planned if p["rt_ticket"] == new]
    assert "firstline triage" in plan["comment"]
    assert rt.ticket(new)["Priority"] == before["Priority"]
    with desk.desk.db.session() as s:
        assert not s.scalar(select(func.count()).select_from(DeskTicket).where(
            DeskTicket.title == "Printer on floor 3 prints blank pages"
        ))  # fmt: skip
    assert desk.run("rt").counts.get("triaged") == 1  # the real run takes it


def test_a_refused_token_is_a_clear_error_on_the_connection(rt_server, desk) -> None:  # noqa: ANN001
    desk.connect(ADMIN, "rt", "rt", _config(rt_server, _now()), "not-the-token")
    report = desk.run("rt")
    assert report.status == "error"
    assert "RT refused the token (HTTP 401)" in report.errors[0]
    assert "not-the-token" not in json.dumps(report.as_dict())
    state = desk.connections.get("rt")
    assert state["last_status"] == "error" and "refused" in state["last_error"]


# -- kill -9 -----------------------------------------------------------------------------------
def _links(database: str) -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM external_links")).scalar() or 0)
    except Exception:  # noqa: BLE001 - the schema may not exist yet
        return 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "seed", [int(s) for s in os.environ.get("FIRSTLINE_FAULT_SEEDS", "1").split(",")]
)
def test_a_sync_killed_at_random_then_rerun_is_exact(
    rt_server,
    tmp_path: Path,
    trained_demo: Path,
    seed: int,  # noqa: ANN001
) -> None:
    rng = random.Random(seed)
    rt = rt_server
    start = _now()
    ours = []
    for i in range(6):
        ours.append(
            rt.create_ticket(f"Laptop {i} cannot reach the VPN", f"User {i}: VPN fails (809).")
        )
        done = rt.create_ticket(f"Password reset {i}", f"User {i} forgot the password.")
        rt.resolve(done, f"Reset the password of user {i} and asked to change it at logon.")
    settings = copy_data(trained_demo, tmp_path / "desk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        {
            "FIRSTLINE_DATA_DIR": str(settings.data_dir),
            "FIRSTLINE_MODEL__KIND": "hashing",
            "FIRSTLINE_SEARCH__RELEVANCE_FLOOR": str(settings.search.relevance_floor),
            "FIRSTLINE_CONNECTORS__BATCH_SIZE": "3",
            "FIRSTLINE_RT_TOKEN": rt.token,
        }
    )
    connect = subprocess.run(
        [FIRSTLINE, "connect", "rt", "rt", "--url", rt.url, "--impact-field", "Impact",
         "--urgency-field", "Urgency", "--second-line-queue", "Second line",
         "--since", start.isoformat(),
         *[a for p in PUSH for a in ("--push", p)]],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert connect.returncode == 0, connect.stderr
    assert rt.token not in connect.stdout + connect.stderr
    database = settings.database_url
    client = RTClient(rt.url, rt.token)
    total = sum(1 for _ in client.tickets_updated_since(start))
    target = rng.randrange(2, max(3, total // 2))
    proc = subprocess.Popen(
        [FIRSTLINE, "sync", "rt"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    seen, changed, span = _links(database), time.monotonic(), 0.2
    while seen < target and proc.poll() is None:
        time.sleep(0.02)
        now_seen = _links(database)
        if now_seen != seen:
            now = time.monotonic()
            span, seen, changed = now - changed, now_seen, now
    time.sleep(rng.uniform(0.0, 1.0) * span)  # anywhere inside the next item or batch
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    assert _links(database) < total, "the sync finished before it could be killed"

    rerun = subprocess.run(
        [FIRSTLINE, "sync", "rt", "--json"], env=env, capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:] + rerun.stdout[-2000:]

    # Exactly RT's tickets: every resolved one imported once, every open one on the desk once,
    # each open one with exactly one triage comment of this connection.
    remote = list(client.tickets_updated_since(start))
    resolved = {f"RT-{t['id']}" for t in remote if t["status"] == "resolved"}
    open_ = {t["id"] for t in remote if t["status"] in ("new", "open", "stalled")}
    engine = create_engine(database)
    with engine.connect() as c:
        imported = [
            r[0] for r in c.execute(text("SELECT external_id FROM tickets WHERE source = 'rt'"))
        ]
        uid = json.loads(
            c.execute(text("SELECT config FROM connections WHERE name = 'rt'")).scalar()
        )["uid"]
        links = dict(
            c.execute(
                text(
                    "SELECT external_id, desk_ticket_id FROM external_links"
                    " WHERE desk_ticket_id IS NOT NULL"
                )
            ).all()
        )
        desk_count = c.execute(
            text("SELECT count(*) FROM desk_tickets WHERE channel = 'rt'")
        ).scalar()
        unpushed = c.execute(
            text(
                "SELECT count(*) FROM external_links"
                " WHERE desk_ticket_id IS NOT NULL AND pushed_at IS NULL"
            )
        ).scalar()
    engine.dispose()
    assert sorted(imported) == sorted(resolved)
    assert {int(k) for k in links} >= open_
    assert desk_count == len(links)  # no request taken twice
    assert unpushed == 0
    assert set(ours) <= open_
    for rt_id in ours:  # this test's own tickets (the shared RT holds other tests' too)
        assert _comments_with(client, rt_id, marker(f"desk:{links[str(rt_id)]}", uid)) == 1, rt_id
    verify = subprocess.run(
        [FIRSTLINE, "verify", "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert verify.returncode == 0 and json.loads(verify.stdout)["drift"] == 0, verify.stdout[-2000:]
    client.close()


def test_a_write_back_owed_by_a_failed_run_is_made_by_the_next(
    rt_server, desk, monkeypatch
) -> None:  # noqa: ANN001
    """RT goes away after the desk took the tickets and before firstline wrote back: the
    watermark has moved past them, and the next run still writes each decision exactly once
    (a dry run in between writes none)."""
    from connectors.rt import RTClient as Client
    from core.errors import BackendUnavailableError

    rt = rt_server
    stored = desk.connect(ADMIN, "rt", "rt", _config(rt, _now()), rt.token)
    new = [
        rt.create_ticket(f"Scanner {i} in the warehouse beeps", f"Scanner {i} shows error E42.")
        for i in range(3)
    ]
    real_comment = Client.comment

    def down(self, ticket_id, text):  # noqa: ANN001, ANN202
        raise BackendUnavailableError("RT cannot be reached (test)")

    monkeypatch.setattr(Client, "comment", down)
    failed = desk.run("rt")
    # The run stops at RT's error, after the batch that holds the first new ticket: that
    # ticket is on the desk, its write-back is owed.
    assert failed.status == "error" and failed.errors == ["RT cannot be reached (test)"]
    taken = failed.counts.get("triaged", 0)
    assert taken >= 1
    monkeypatch.setattr(Client, "comment", real_comment)
    dry = desk.run("rt", dry_run=True)
    assert {p["rt_ticket"] for p in dry.planned} >= set(new)
    client = RTClient(rt.url, rt.token)
    uid = stored["config"]["uid"]
    assert _comments_with(client, new[0], "[firstline:") == 0
    done = desk.run("rt")
    assert done.status == "ok", done.errors
    assert done.counts.get("triaged", 0) + taken == 3 and done.counts.get("pushed") == 3
    for rt_id in new:
        ref = _desk_ticket(desk, "rt", rt_id)["ref"]
        assert _comments_with(client, rt_id, marker(ref, uid)) == 1
    assert not desk.run("rt").counts.get("pushed")  # nothing owed any more
    client.close()
