"""Outgoing webhooks against a real local receiver (an HTTP server on a free port): desk and KB
actions through the real API become signed POSTs, in order; a failing receiver gets retries with
backoff, then the delivery is dead and an admin replays it; two workers never duplicate."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from connectors.webhook_events import TRIAGE_FIELDS
from connectors.webhooks import WebhookDispatcher, verify_signature
from core.settings import WebhookSettings
from core.time import utcnow
from kb.db import Database
from kb.models import AuditEntry, Connection, WebhookDelivery
from tests.conftest import AUTH, SyncedClient, copy_data, free_port

SECRET = "s3cret-for-the-receiver-0123"
TICKET = {
    "title": "Password expired, cannot sign in",
    "description": "My network password expired and I cannot sign in to my laptop.",
    "caller": "maria",
}


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request and answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.status
                time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "status": status,
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}/hooks/firstline"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        """The bodies the receiver took (answered 2xx), in arrival order."""
        with self._lock:
            return [json.loads(r["body"]) for r in self.requests if r["status"] < 300]

    def events(self) -> list[str]:
        return [b["event"] for b in self.accepted()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, trained_demo: Path) -> Iterator[TestClient]:
    settings = copy_data(trained_demo, tmp_path_factory.mktemp("webhooks"))
    # The worker's own passes are rare here: tests run passes themselves, with their clock.
    settings.webhooks = WebhookSettings(
        interval_seconds=3600,
        backoff_base_seconds=1,
        backoff_max_seconds=2,
        max_attempts=3,
        timeout_seconds=2,
    )
    with SyncedClient(create_app(settings), headers=AUTH) as c:
        yield c


def dispatcher(client: TestClient) -> WebhookDispatcher:
    return client.app.state.webhooks.dispatcher  # type: ignore[attr-defined]


def pump(client: TestClient, now: datetime | None = None) -> dict[str, int]:
    """One worker pass: queue new events, send what is due at ``now``."""
    d = dispatcher(client)
    d.enqueue()
    return d.deliver_due(now)


def add_hook(client: TestClient, name: str, url: str, events: list[str], **more: Any) -> dict:
    r = client.post(
        "/admin/webhooks",
        json={"name": name, "url": url, "events": events, "secret": SECRET, **more},
    )
    assert r.status_code == 200, r.text
    return r.json()


def hook_counts(client: TestClient, name: str) -> dict[str, int]:
    hooks = client.get("/admin/webhooks").json()["webhooks"]
    return next(h for h in hooks if h["name"] == name)["counts"]


def open_ticket(client: TestClient) -> dict:
    r = client.post("/desk/tickets", json=TICKET)
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


def set_paused(client: TestClient, name: str, paused: bool) -> None:
    with client.app.state.service.db.session() as s:  # type: ignore[attr-defined]
        s.execute(update(Connection).where(Connection.name == name).values(paused=paused))


@pytest.fixture
def quiet_hooks(client: TestClient) -> Iterator[list[str]]:
    """Hooks a test made, paused after it so that later tests' passes leave them alone."""
    names: list[str] = []
    yield names
    for name in names:
        set_paused(client, name, True)


# -- the events, signed, in order ---------------------------------------------------------


def test_desk_and_kb_actions_reach_the_receiver_signed_and_in_order(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    add_hook(client, "all-events", receiver.url, ["*"])
    quiet_hooks.append("all-events")
    worker = client.app.state.webhook_worker  # type: ignore[attr-defined]

    ticket = open_ticket(client)
    worker.wake()  # the app's own worker makes this pass
    assert worker.wait_idle(30)
    assert receiver.events() == ["ticket.created", "ticket.triaged"]

    created, triaged = receiver.accepted()
    assert created["data"]["ticket"]["id"] == ticket["id"]
    assert created["data"]["ticket"]["title"] == TICKET["title"]
    assert created["data"]["actor"] == "admin-key"
    card = triaged["data"]["triage"]
    for field in ("type", "impact", "urgency", "priority", "category", "assignment_group", "tier"):
        assert field in card and card[field] == ticket[field]
    assert card["abstained"] == [f for f in TRIAGE_FIELDS if ticket[f] is None]
    assert isinstance(card["needs_human"], bool)

    # Every request is signed: the recipe verifies it; a wrong secret, another body or an old
    # timestamp does not.
    for req in receiver.requests:
        h, body = req["headers"], req["body"]
        assert h["content-type"] == "application/json"
        assert h["x-firstline-event"] == json.loads(body)["event"]
        assert h["x-firstline-delivery"] == str(json.loads(body)["id"])
        assert h["x-firstline-signature"].startswith("sha256=")
        ts, sig = h["x-firstline-timestamp"], h["x-firstline-signature"]
        assert verify_signature(SECRET, ts, body, sig)
        assert verify_signature(SECRET, ts, body.decode(), sig)
        assert not verify_signature("another-secret-0123456789", ts, body, sig)
        assert not verify_signature(SECRET, ts, body.replace(b"ticket.", b"ticket-"), sig)
        assert not verify_signature(SECRET, ts, body, sig, now=int(ts) + 301)
        assert not verify_signature(SECRET, str(int(ts) + 1), body, sig)

    tid = ticket["id"]
    assert client.post(f"/desk/tickets/{tid}/start").status_code == 200
    r = client.post(f"/desk/tickets/{tid}/resolve", json={"resolution": "Reset the password."})
    assert r.status_code == 200, r.text
    other = open_ticket(client)
    assert client.post(f"/desk/tickets/{other['id']}/escalate", json={"group": "IAM"}).is_success
    article = client.post("/kb/articles", json={"title": "VPN drops", "body": "Renew the cert."})
    assert article.status_code == 200, article.text
    a = article.json()
    r = client.post(
        f"/kb/articles/{a['id']}/status", json={"to": "published", "version": a["version"]}
    )
    assert r.status_code == 200, r.text
    pump(client)

    assert receiver.events() == [
        "ticket.created",
        "ticket.triaged",
        "ticket.taken",
        "ticket.resolved",
        "ticket.created",
        "ticket.triaged",
        "ticket.escalated",
        "article.published",
    ]
    bodies = receiver.accepted()
    assert bodies[2]["data"]["ticket"]["state"] == "in_progress"
    assert bodies[2]["data"]["previous_state"] == "new"
    assert bodies[3]["data"]["ticket"]["resolution"] == "Reset the password."
    assert bodies[6]["data"]["ticket"]["escalated_to"] == "IAM"
    assert bodies[7]["data"]["article"]["title"] == "VPN drops"
    assert bodies[7]["data"]["article"]["status"] == "published"
    ids = [b["id"] for b in bodies]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(set(b) == {"id", "event", "created_at", "data"} for b in bodies)
    assert hook_counts(client, "all-events") == {"pending": 0, "delivered": 8, "dead": 0}


# -- retries, dead letters, replay --------------------------------------------------------


def test_a_failing_receiver_gets_retries_with_backoff_then_dead_letters_and_a_replay(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    add_hook(client, "flaky", receiver.url, ["ticket.created", "ticket.triaged"])
    quiet_hooks.append("flaky")
    receiver.status = 500
    open_ticket(client)

    dispatcher(client).enqueue()
    t0 = utcnow()
    assert pump(client, t0) == {"retry": 1}
    assert len(receiver.requests) == 1  # the second event waits behind the first (in order)
    assert pump(client, t0 + timedelta(seconds=0.4)) == {}  # backoff: at least half of 1 s
    assert len(receiver.requests) == 1
    with client.app.state.service.db.session() as s:  # type: ignore[attr-defined]
        head = s.scalars(
            select(WebhookDelivery)
            .join(Connection, Connection.id == WebhookDelivery.connection_id)
            .where(Connection.name == "flaky")
            .order_by(WebhookDelivery.id)
        ).first()
        assert head is not None and head.attempts == 1 and head.status == "pending"
        assert head.last_error == "HTTP 500 Internal Server Error"
        wait = (head.next_attempt_at.replace(tzinfo=t0.tzinfo) - t0).total_seconds()
        assert 0.5 <= wait <= 1.0

    # Each later pass is far enough on for the retry: three tries each, then dead.
    for i in range(1, 10):
        pump(client, t0 + timedelta(seconds=10 * i))
    sent = Counter(r["headers"]["x-firstline-delivery"] for r in receiver.requests)
    assert sorted(sent.values()) == [3, 3]
    assert [r["headers"]["x-firstline-event"] for r in receiver.requests] == (
        ["ticket.created"] * 3 + ["ticket.triaged"] * 3
    )
    assert hook_counts(client, "flaky") == {"pending": 0, "delivered": 0, "dead": 2}

    dead = client.get("/admin/webhooks/flaky/dead").json()["deliveries"]
    assert [d["event"] for d in dead] == ["ticket.created", "ticket.triaged"]
    assert all(d["attempts"] == 3 and d["last_error"].startswith("HTTP 500") for d in dead)
    assert SECRET not in json.dumps(dead)

    # Fixed receiver, one dead letter replayed by id, then the rest: each delivered once.
    receiver.status = 200
    r = client.post("/admin/webhooks/flaky/replay", json={"ids": [dead[0]["id"]]})
    assert r.status_code == 200 and r.json()["replayed"] == [dead[0]["id"]]
    pump(client)
    assert [b["id"] for b in receiver.accepted()] == [dead[0]["id"]]
    refused = client.post("/admin/webhooks/flaky/replay", json={"ids": [dead[0]["id"]]})
    assert refused.status_code == 422 and "delivered" in refused.json()["error"]["message"]
    assert client.post("/admin/webhooks/flaky/replay", json={"ids": [10**9]}).status_code == 404
    assert client.post("/admin/webhooks/flaky/replay").json()["replayed"] == [dead[1]["id"]]
    pump(client)
    pump(client)
    assert [b["id"] for b in receiver.accepted()] == [dead[0]["id"], dead[1]["id"]]
    assert client.get("/admin/webhooks/flaky/dead").json()["deliveries"] == []
    assert hook_counts(client, "flaky") == {"pending": 0, "delivered": 2, "dead": 0}
    replays = client.get("/admin/audit", params={"action": "admin.webhook_replay"}).json()
    assert [e["after"]["replayed"] for e in replays["entries"]][:2] == [
        [dead[1]["id"]],
        [dead[0]["id"]],
    ]


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    add_hook(client, "slow", receiver.url, ["ticket.created"], timeout=0.2, max_attempts=1)
    quiet_hooks.append("slow")
    receiver.delay = 0.5
    open_ticket(client)
    assert pump(client) == {"dead": 1}
    [dead] = client.get("/admin/webhooks/slow/dead").json()["deliveries"]
    assert dead["last_error"] == "timed out after 0.2 s"


# -- which events a hook gets -------------------------------------------------------------


def test_a_new_hook_gets_only_later_events_and_only_those_it_asked_for(
    client: TestClient, quiet_hooks: list[str]
) -> None:
    early, late = Receiver(), Receiver()
    try:
        add_hook(client, "taken-only", early.url, ["ticket.taken"])
        quiet_hooks.append("taken-only")
        first = open_ticket(client)
        client.post(f"/desk/tickets/{first['id']}/start")
        pump(client)
        add_hook(client, "late", late.url, ["*"])
        quiet_hooks.append("late")
        pump(client)
        assert late.requests == []  # nothing of what happened before it existed
        second = open_ticket(client)
        client.post(f"/desk/tickets/{second['id']}/start")
        pump(client)
        assert early.events() == ["ticket.taken", "ticket.taken"]
        assert [b["data"]["ticket"]["id"] for b in early.accepted()] == [first["id"], second["id"]]
        assert late.events() == ["ticket.created", "ticket.triaged", "ticket.taken"]
        assert {b["data"]["ticket"]["id"] for b in late.accepted()} == {second["id"]}
    finally:
        early.close()
        late.close()


def test_a_paused_hook_gets_nothing_until_it_is_resumed(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    add_hook(client, "paused", receiver.url, ["ticket.created"])
    quiet_hooks.append("paused")
    set_paused(client, "paused", True)
    open_ticket(client)
    pump(client)
    assert receiver.requests == []
    assert hook_counts(client, "paused")["pending"] == 1  # queued, waiting
    set_paused(client, "paused", False)
    pump(client)
    assert receiver.events() == ["ticket.created"]


# -- two workers at once ------------------------------------------------------------------


def test_two_workers_at_once_neither_queue_nor_send_anything_twice(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    """Two dispatchers with their own database connections, as two processes would have."""
    hook = add_hook(client, "twice", receiver.url, ["*"])
    quiet_hooks.append("twice")
    for _ in range(3):
        open_ticket(client)
    app = client.app
    url, settings = app.state.service.db.url, app.state.settings.webhooks  # type: ignore[attr-defined]
    workers = [WebhookDispatcher(Database(url), settings, owner=f"w{i}") for i in range(2)]
    for w in workers:
        w.db.engine  # noqa: B018 - connect (and check migrations) before the race, not in it

    def both(step: str) -> None:
        start, errors = threading.Barrier(2), []

        def run(w: WebhookDispatcher) -> None:
            start.wait()
            try:
                for _ in range(3):
                    w.enqueue() if step == "enqueue" else w.deliver_due()
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(e)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []

    def keys() -> list[str]:
        with app.state.service.db.session() as s:  # type: ignore[attr-defined]
            return list(
                s.scalars(
                    select(WebhookDelivery.event_key).where(
                        WebhookDelivery.connection_id == hook["id"]
                    )
                )
            )

    both("enqueue")
    assert len(keys()) == 6 and len(set(keys())) == 6
    # A cursor set back (as if the batch had been read again after a crash) queues nothing new.
    with app.state.service.db.session() as s:  # type: ignore[attr-defined]
        s.execute(
            update(Connection)
            .where(Connection.id == hook["id"])
            .values(watermark={"audit_id": hook["cursor"]})
        )
    both("enqueue")
    assert len(keys()) == 6

    receiver.delay = 0.05  # long enough for the two workers' passes to overlap
    both("deliver")
    sent = [r["headers"]["x-firstline-delivery"] for r in receiver.requests]
    assert len(sent) == 6 and len(set(sent)) == 6
    assert sent == sorted(sent, key=int)  # in order, though two workers took turns
    for w in workers:
        w.close()
        w.db.close()


def test_the_cursor_waits_at_a_young_gap_in_audit_ids(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    """On PostgreSQL an audit id can commit after a higher one: the entries after a young gap
    are queued, the cursor stays before the gap until the missing entry came (or grew old)."""
    hook = add_hook(client, "gaps", receiver.url, ["ticket.taken"])
    quiet_hooks.append("gaps")
    db = client.app.state.service.db  # type: ignore[attr-defined]

    def taken(audit_id: int, when: datetime | None = None) -> None:
        with db.session() as s:
            s.add(
                AuditEntry(
                    id=audit_id,
                    actor="maria",
                    role="agent",
                    action="desk.start",
                    target=f"desk:{audit_id}",
                    before={"state": "new"},
                    after={"id": audit_id, "state": "in_progress"},
                    created_at=when or utcnow(),
                )
            )

    def cursor() -> int:
        with db.session() as s:
            return s.get(Connection, hook["id"]).watermark["audit_id"]

    with db.session() as s:
        newest = s.scalar(select(func.max(AuditEntry.id)))
    taken(newest + 2)  # newest + 1 is "still being committed"
    dispatcher(client).enqueue()
    assert cursor() == newest
    taken(newest + 1)
    dispatcher(client).enqueue()
    assert cursor() == newest + 2
    taken(newest + 4, utcnow() - timedelta(minutes=5))  # newest + 3 was rolled back long ago
    dispatcher(client).enqueue()
    assert cursor() == newest + 4
    dispatcher(client).deliver_due()
    ids = [b["data"]["ticket"]["id"] for b in receiver.accepted()]
    assert sorted(ids) == [newest + 1, newest + 2, newest + 4]


# -- the admin API ------------------------------------------------------------------------


def test_the_admin_api_checks_what_it_is_given_and_never_shows_the_secret(
    client: TestClient, receiver: Receiver, quiet_hooks: list[str]
) -> None:
    def create(**body: Any) -> Any:
        good = {"name": "checked", "url": receiver.url, "events": ["*"], "secret": SECRET}
        return client.post("/admin/webhooks", json={**good, **body})

    for bad, words in [
        ({"url": "ftp://example.org/hook"}, "http"),
        ({"url": "not a url"}, "http"),
        ({"events": ["ticket.deleted"]}, "unknown events"),
        ({"name": "no spaces please"}, "name"),
    ]:
        r = create(**bad)
        assert r.status_code == 422 and words in r.json()["error"]["message"], r.text
    assert create(secret="short").status_code == 422
    made = create()
    quiet_hooks.append("checked")
    assert made.status_code == 200 and SECRET not in made.text
    dup = create()
    assert dup.status_code == 409 and "exists" in dup.json()["error"]["message"]
    listed = client.get("/admin/webhooks")
    assert "checked" in listed.text and SECRET not in listed.text
    assert client.get("/admin/webhooks/nope/dead").status_code == 404
    assert client.post("/admin/webhooks/nope/replay").status_code == 404

    agent = client.post("/admin/keys", json={"name": "hook-agent", "role": "agent"}).json()
    as_agent = {"X-API-Key": agent["key"]}
    assert client.get("/admin/webhooks", headers=as_agent).status_code == 403
    assert client.post("/admin/webhooks/checked/test", headers=as_agent).status_code == 403

    ping = client.post("/admin/webhooks/checked/test").json()
    assert ping["delivered"] is True and ping["error"] is None
    [req] = receiver.requests
    assert json.loads(req["body"])["event"] == "ping"
    h = req["headers"]
    assert verify_signature(
        SECRET, h["x-firstline-timestamp"], req["body"], h["x-firstline-signature"]
    )
    receiver.status = 503
    failed = client.post("/admin/webhooks/checked/test").json()
    assert failed == {
        "webhook": "checked",
        "delivery_id": failed["delivery_id"],
        "delivered": False,
        "error": "HTTP 503 Service Unavailable",
    }
    assert client.get("/admin/webhooks/checked/dead").json()["deliveries"] == []  # not retried
    actions = [e["action"] for e in client.get("/admin/audit").json()["entries"][:3]]
    assert actions == ["admin.webhook_test", "admin.webhook_test", "admin.key_create"]
