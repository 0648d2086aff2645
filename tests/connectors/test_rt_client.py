"""RTClient against a real Request Tracker 5 (the ``rt_server`` fixture), and its retries against
a small local HTTP server that answers what RT would under load."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import connectors.rt as rt_module
from connectors.rt import RTClient
from core.errors import (
    BackendRefusedError,
    BackendUnavailableError,
    InvalidInputError,
    NotFoundError,
)
from tests.conftest import free_port
from tests.connectors.rt_server import RTServer


@pytest.fixture
def client(rt_server: RTServer) -> Iterator[RTClient]:
    with RTClient(rt_server.url, rt_server.token) as c:
        yield c


def tag() -> str:
    return uuid.uuid4().hex[:8]


def mine(tickets: Iterator[dict], label: str) -> list[dict]:
    return [t for t in tickets if label in t["subject"]]


def next_second() -> None:
    """RT keeps whole seconds: wait until the clock is in a later one."""
    time.sleep(1.05 - time.time() % 1)


@pytest.mark.rt
def test_check_accepts_the_token_and_refuses_a_wrong_one(rt_server: RTServer) -> None:
    assert RTClient(rt_server.url, rt_server.token).check()["version"].startswith("5.")
    wrong = "1-14-" + "0" * 32
    with pytest.raises(BackendRefusedError, match=r"RT refused the token \(HTTP 401\)") as e:
        RTClient(rt_server.url, wrong).check()
    assert wrong not in str(e.value)
    assert wrong not in repr(RTClient(rt_server.url, wrong))


@pytest.mark.rt
def test_all_tickets_come_with_their_fields(rt_server: RTServer, client: RTClient) -> None:
    label = tag()
    ids = [
        rt_server.create_ticket(
            f"{label} printer {i}", f"Printer {i} jams", requestor=f"user{i}@example.com"
        )
        for i in range(3)
    ]
    rt_server.edit(ids[1], {"CustomFields": {"Impact": "medium"}, "Priority": 20})
    rt_server.resolve(ids[2], "Cleared the paper path.")

    tickets = {t["id"]: t for t in mine(client.tickets_updated_since(None), label)}

    assert sorted(tickets) == ids
    first, edited, resolved = (tickets[i] for i in ids)
    assert first["subject"] == f"{label} printer 0"
    assert first["queue"] == "General"
    assert first["status"] == "new"
    assert first["requestors"] == ["user0@example.com"]
    assert first["owner"] is None
    assert first["custom_fields"] == {"Impact": None, "Urgency": None}
    assert edited["custom_fields"]["Impact"] == "medium"
    assert edited["priority"] == 20
    assert resolved["status"] == "resolved"
    assert resolved["resolved"] is not None and first["resolved"] is None
    for t in tickets.values():
        assert t["created"].tzinfo == UTC and t["last_updated"] >= t["created"]
        assert abs((datetime.now(UTC) - t["created"]).total_seconds()) < 300


@pytest.mark.rt
def test_since_returns_only_tickets_changed_at_or_after_it(
    rt_server: RTServer, client: RTClient
) -> None:
    label = tag()
    old, edited = (rt_server.create_ticket(f"{label} {n}", "text") for n in ("old", "edited"))
    seen = mine(client.tickets_updated_since(None), label)
    watermark = max(t["last_updated"] for t in seen)
    at_watermark = {t["id"] for t in seen if t["last_updated"] == watermark}
    next_second()
    rt_server.edit(edited, {"Priority": 40})
    new = rt_server.create_ticket(f"{label} new", "text")

    changed = mine(client.tickets_updated_since(watermark, seen_ids=at_watermark), label)

    assert [t["id"] for t in changed] == [edited, new]
    assert all(t["last_updated"] > watermark for t in changed)
    unfiltered = {t["id"] for t in mine(client.tickets_updated_since(watermark), label)}
    assert unfiltered == {edited, new} | at_watermark  # >= the second: its tickets come again
    assert old not in unfiltered or old in at_watermark


@pytest.mark.rt
def test_paging_returns_every_ticket_once_in_order(
    rt_server: RTServer, client: RTClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two, with several tickets in the same second: the cursor neither skips nor
    repeats one, even when a ticket read on an earlier page is edited meanwhile."""
    label = tag()
    ids = [rt_server.create_ticket(f"{label} {i}", "text") for i in range(5)]
    monkeypatch.setattr(rt_module, "PER_PAGE", 2)

    seen = []
    for ticket in client.tickets_updated_since(datetime(2000, 1, 1, tzinfo=UTC)):
        if label in ticket["subject"]:
            seen.append(ticket)
            if len(seen) == 1:
                next_second()
                rt_server.edit(ids[0], {"Priority": 5})  # moves to the end: read again there

    assert [t["id"] for t in seen] == [*ids, ids[0]]
    keys = [(t["last_updated"], t["id"]) for t in seen]
    assert keys == sorted(keys)
    assert seen[-1]["priority"] == 5


@pytest.mark.rt
def test_ticket_texts_give_description_and_resolution(
    rt_server: RTServer, client: RTClient
) -> None:
    label = tag()
    plain = rt_server.create_ticket(f"{label} vpn", "VPN drops every hour at the café.")
    rt_server.comment(plain, "Checked the concentrator logs.")
    rt_server.resolve(plain, "Renewed the VPN certificate; stable since.")
    rt_server.comment(plain, "firstline: suggested article KB-12")  # after the resolve
    html = rt_server.create_ticket(
        f"{label} html",
        "<p>Outlook <b>crashes</b> &amp; restarts</p><p>since Monday</p>",
        content_type="text/html",
    )
    open_ticket = rt_server.create_ticket(f"{label} open", "Keyboard missing keys")
    rt_server.correspond(open_ticket, "Ordered a new one.")

    assert client.ticket_texts(plain) == {
        "description": "VPN drops every hour at the café.",
        "resolution": "Renewed the VPN certificate; stable since.",
    }
    assert client.ticket_texts(html) == {
        "description": "Outlook crashes & restarts\n\nsince Monday",
        "resolution": None,
    }
    assert client.ticket_texts(open_ticket)["resolution"] is None
    with pytest.raises(NotFoundError):
        client.ticket_texts(999999)


@pytest.mark.rt
def test_update_sets_priority_queue_and_custom_field(rt_server: RTServer, client: RTClient) -> None:
    ticket = rt_server.create_ticket(f"{tag()} disk full", "Share S: is full")

    messages = client.update(
        ticket, {"Priority": 50, "Queue": "Second line", "custom_fields": {"Impact": "high"}}
    )

    assert messages  # RT's own words, e.g. "Ticket 7: Queue changed from General to Second line"
    raw = rt_server.ticket(ticket)
    assert raw["Priority"] == "50"
    assert raw["Queue"]["Name"] == "Second line"
    assert {cf["name"]: cf["values"] for cf in raw["CustomFields"]}["Impact"] == ["high"]
    assert client.update(ticket, {"custom_fields": {"Urgency": "by Friday", "Impact": None}})
    cfs = {cf["name"]: cf["values"] for cf in rt_server.ticket(ticket)["CustomFields"]}
    assert cfs == {"Impact": [], "Urgency": ["by Friday"]}


@pytest.mark.rt
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Queue": "Third line", "Priority": 60}, "no queue 'Third line'"),
        ({"custom_fields": {"Severity": "high"}, "Priority": 60}, "no custom field 'Severity'"),
        ({"custom_fields": {"Impact": "catastrophic"}}, "not a value of RT custom field"),
        ({"Priority": "urgent"}, "whole number"),
        ({"Status": "resolved"}, "cannot update 'Status'"),
    ],
)
def test_a_refused_update_raises_and_writes_nothing(
    rt_server: RTServer, client: RTClient, fields: dict, message: str
) -> None:
    """RT itself answers 200 to all of these (ignoring an unknown custom field, turning
    "urgent" into priority 0, applying the priority next to an unknown queue)."""
    ticket = rt_server.create_ticket(f"{tag()} refused", "text")
    before = rt_server.ticket(ticket)

    with pytest.raises(InvalidInputError, match=message):
        client.update(ticket, fields)

    after = rt_server.ticket(ticket)
    assert after["LastUpdated"] == before["LastUpdated"]
    assert (after["Priority"], after["Queue"]["Name"]) == ("0", "General")


@pytest.mark.rt
def test_update_of_a_missing_ticket_is_not_found(client: RTClient) -> None:
    with pytest.raises(NotFoundError):
        client.update(999999, {"Priority": 1})


@pytest.mark.rt
def test_comment_is_found_by_its_marker(rt_server: RTServer, client: RTClient) -> None:
    ticket = rt_server.create_ticket(f"{tag()} wifi", "No wifi on floor 3")
    marker = f"firstline-writeback:{uuid.uuid4()}"
    rt_server.correspond(ticket, f"a reply, not a comment, that quotes {marker}")
    assert not client.has_comment_with(ticket, marker)

    client.comment(ticket, f"Suggested: restart the access point.\n\n[{marker}]")

    assert client.has_comment_with(ticket, marker)
    assert not client.has_comment_with(ticket, f"firstline-writeback:{uuid.uuid4()}")
    history = rt_server.http.get(f"/ticket/{ticket}/history", params={"fields": "Type"}).json()
    assert [t["Type"] for t in history["items"]].count("Comment") == 1


def test_a_stopped_server_is_unavailable_after_retries() -> None:
    client = RTClient(f"http://127.0.0.1:{free_port()}", "1-14-secret", retries=2, backoff=0.01)
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=r"unreachable .*3 attempt") as e:
        client.check()
    assert time.monotonic() - began >= 0.03  # 0.01 + 0.02 of backoff
    assert "secret" not in str(e.value)


class _Scripted(BaseHTTPRequestHandler):
    """Answers the scripted (status, headers) in turn, then 200 with RT's /rt body."""

    script: list[tuple[int, dict]] = []
    seen: list[float] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).seen.append(time.monotonic())
        status, headers = type(self).script.pop(0) if type(self).script else (200, {})
        body = b'{"Version": "5.0.3"}' if status == 200 else b'{"message": "busy"}'
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"script": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_429_waits_for_retry_after(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.script = [(429, {"Retry-After": "1"})]
    assert RTClient(url, "t", backoff=0.01).check() == {"version": "5.0.3"}
    assert len(handler.seen) == 2 and handler.seen[1] - handler.seen[0] >= 0.95


def test_5xx_is_retried_with_backoff_then_raised(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.script = [(503, {}), (502, {})]
    assert RTClient(url, "t", retries=2, backoff=0.01).check()["version"] == "5.0.3"

    handler.seen.clear()
    handler.script = [(500, {})] * 4
    with pytest.raises(BackendUnavailableError, match="HTTP 500"):
        RTClient(url, "t", retries=3, backoff=0.01).check()
    gaps = [b - a for a, b in zip(handler.seen, handler.seen[1:], strict=False)]
    assert len(handler.seen) == 4 and gaps[2] > gaps[0]  # 0.01, 0.02, 0.04


def test_a_comment_that_failed_on_the_server_is_not_resent(
    scripted: tuple[str, type[_Scripted]],
) -> None:
    url, handler = scripted
    handler.script = [(500, {})]
    with pytest.raises(BackendUnavailableError, match="may or may not"):
        RTClient(url, "t", backoff=0.01).comment(1, "hello")
    assert len(handler.seen) == 1


def test_min_interval_spaces_requests(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    client = RTClient(url, "t", min_interval=0.3)
    began = time.monotonic()
    client.check()
    client.check()
    assert time.monotonic() - began >= 0.3  # two local requests alone take milliseconds
    assert len(handler.seen) == 2
