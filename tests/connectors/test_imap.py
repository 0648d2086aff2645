"""The IMAP mailbox against a real Dovecot, and send_mail against a local SMTP server."""

from __future__ import annotations

import email
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from connectors.imap import ImapMailbox
from connectors.mail import parse_message
from connectors.smtp import send_mail
from core.errors import BackendUnavailableError, CredentialsRefusedError
from tests.conftest import free_port, unavailable
from tests.connectors.dovecot_server import DovecotError, ImapServer, start_dovecot


def mail(n: int, tag: str) -> bytes:
    return (
        f"From: User {n} <user{n}@example.com>\r\n"
        f"To: desk@example.com\r\n"
        f"Subject: {tag} request {n}\r\n"
        f"Message-ID: <{tag}-{n}@example.com>\r\n"
        f"Date: Mon, 3 Jun 2024 10:0{n}:00 +0000\r\n"
        "\r\n"
        f"Printer {n} on floor {n} is jammed.\r\n"
    ).encode()


def mailbox(server: ImapServer, **kwargs: object) -> ImapMailbox:
    options: dict = {"timeout": 5, **kwargs}
    password = options.pop("password", server.password)
    return ImapMailbox(server.host, server.port, server.user, password, **options)


@pytest.mark.imap
def test_new_mails_arrive_once_in_order_and_stay_unread(imap_server: ImapServer) -> None:
    with mailbox(imap_server) as box:
        start = max([uid for uid, _ in box.fetch_since(0, 1000)], default=0)
        validity = box.uidvalidity()
        for n in (1, 2, 3):
            imap_server.deliver(mail(n, "first"))

        got = box.fetch_since(start, 10)
        assert [parse_message(raw).subject for _, raw in got] == [
            "first request 1",
            "first request 2",
            "first request 3",
        ]
        uids = [uid for uid, _ in got]
        assert uids == sorted(uids) and uids[0] > start

        # Nothing new: "UID n:*" names the last mail even past it; none comes back twice.
        assert box.fetch_since(uids[-1], 10) == []
        imap_server.deliver(mail(4, "second"))
        newer = box.fetch_since(uids[-1], 10)
        assert [parse_message(raw).subject for _, raw in newer] == ["second request 4"]
        assert newer[0][0] > uids[-1]

        # The limit takes the oldest first, so the intake can go on from the last one it took.
        assert [uid for uid, _ in box.fetch_since(start, 2)] == uids[:2]
        assert box.uidvalidity() == validity

    # Read with BODY.PEEK in a read-only folder: a person's mail client still sees them unread.
    import imaplib

    conn = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=5)
    try:
        conn.login(imap_server.user, imap_server.password)
        conn.select("INBOX", readonly=True)
        _, unseen = conn.uid("SEARCH", None, "UNSEEN")
        assert set(uids) <= {int(u) for u in unseen[0].split()}
    finally:
        conn.logout()


@pytest.mark.imap
def test_fetched_bytes_are_the_delivered_mail(imap_server: ImapServer) -> None:
    raw = mail(7, "exact")
    with mailbox(imap_server) as box:
        last = max([uid for uid, _ in box.fetch_since(0, 1000)], default=0)
        imap_server.deliver(raw)
        [(_, got)] = box.fetch_since(last, 10)
    assert email.message_from_bytes(got)["Message-ID"] == "<exact-7@example.com>"
    assert parse_message(got).body == "Printer 7 on floor 7 is jammed."


@pytest.mark.imap
def test_a_wrong_password_is_an_auth_error_that_does_not_show_it(
    imap_server: ImapServer,
) -> None:
    box = mailbox(imap_server, password="not-the-Pa55word")
    with pytest.raises(CredentialsRefusedError) as caught:
        box.fetch_since(0, 10)
    message = str(caught.value)
    assert imap_server.user in message and str(imap_server.port) in message
    assert "not-the-Pa55word" not in message
    assert "not-the-Pa55word" not in repr(box)


@pytest.mark.imap
def test_a_stopped_server_is_unavailable_not_a_hang() -> None:
    root = Path(tempfile.mkdtemp(prefix="firstline-dovecot-"))
    try:
        try:
            server = start_dovecot(root, free_port())
        except DovecotError as e:
            unavailable(str(e).splitlines()[0])
        box = mailbox(server)
        box.uidvalidity()
        server.stop()
        with pytest.raises(BackendUnavailableError, match="IMAP server 127.0.0.1"):
            box.fetch_since(0, 10)  # the open connection is gone
        with pytest.raises(BackendUnavailableError, match="cannot be reached"):
            mailbox(server).fetch_since(0, 10)  # nothing listens any more
        box.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_constructor_does_not_connect() -> None:
    box = ImapMailbox("127.0.0.1", free_port(), "desk", "secret")  # nothing listens there
    box.close()
    with pytest.raises(BackendUnavailableError):
        box.uidvalidity()


def test_an_answer_arrives_in_the_thread_and_marked_automatic(smtp_server) -> None:  # noqa: ANN001
    settings = SimpleNamespace(
        host=smtp_server.host,
        port=smtp_server.port,
        user=None,
        password=None,
        starttls=False,
        from_addr="Service Desk <desk@example.com>",
    )
    message_id = send_mail(
        settings,
        to="ann@example.com",
        subject="Re: Printer jammed\r\nBcc: everyone@example.com",
        body="We are on it: ticket #42.",
        in_reply_to="<printer-1@example.com>",
        references=["<root@example.com>"],
    )
    [(sender, recipients, data)] = smtp_server.received
    assert sender == "desk@example.com" and recipients == ["ann@example.com"]
    got = email.message_from_bytes(data)
    assert got["In-Reply-To"] == "<printer-1@example.com>"
    assert got["References"].split() == ["<root@example.com>", "<printer-1@example.com>"]
    assert got["Auto-Submitted"] == "auto-replied"
    assert got["Message-ID"] == message_id
    assert got["Bcc"] is None  # a line break in a subject does not add a header
    # The desk's own intake would file it as an automatic mail, never a new ticket.
    parsed = parse_message(data)
    assert parsed.kind == "auto_reply"
    assert parsed.body == "We are on it: ticket #42."
    assert parsed.thread_ids[0] == "<printer-1@example.com>"


def test_an_unreachable_smtp_server_is_unavailable() -> None:
    settings = SimpleNamespace(
        host="127.0.0.1",
        port=free_port(),
        user=None,
        password=None,
        starttls=False,
        from_addr="desk@example.com",
    )
    with pytest.raises(BackendUnavailableError, match="SMTP server"):
        send_mail(settings, to="ann@example.com", subject="x", body="y", timeout=3)
