"""Email intake end to end, against a real Dovecot: each new mail becomes a triaged desk
ticket, a reply joins its ticket, auto-replies and bounces are counted and left alone, the
acknowledgement goes out only when the answer is good enough, and nothing is taken twice."""

from __future__ import annotations

import imaplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from connectors.mail_sync import imap_config
from connectors.sync import SyncService, sync_service
from indexer.service import Firstline
from kb.auth import Principal
from kb.models import Connection, DeskTicket
from tests.conftest import copy_data

pytestmark = pytest.mark.imap
ADMIN = Principal("test", "admin")
DISCLAIMER = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received it in error, please notify the sender and delete it."
)


def _folder(server) -> str:  # noqa: ANN001
    """A folder of this test's own in the session's mailbox."""
    name = f"t{uuid.uuid4().hex[:10]}"
    conn = imaplib.IMAP4(server.host, server.port, timeout=10)
    try:
        conn.login(server.user, server.password)
        assert conn.create(name)[0] == "OK"
    finally:
        conn.logout()
    return name


def _mail(subject: str, body: str, sender: str = "erin@example.com", **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = f"Erin Example <{sender}>"
    m["To"] = "servicedesk@example.com"
    m["Subject"] = subject
    m["Message-ID"] = headers.pop("message_id", f"<{uuid.uuid4().hex}@example.com>")
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m.as_bytes()


@pytest.fixture
def desk(tmp_path: Path, trained_demo: Path) -> Iterator[SyncService]:
    settings = copy_data(trained_demo, tmp_path / "desk")
    settings.connectors.batch_size = 2
    service = Firstline(settings)
    yield sync_service(settings, service)
    service.close()


def _connect(desk: SyncService, server, folder: str, **extra) -> None:  # noqa: ANN001, ANN003
    config = imap_config(server.host, server.port, server.user, folder, ssl=False, **extra)
    desk.connect(ADMIN, "mail", "imap", config, server.password)


def _tickets(desk: SyncService) -> list[DeskTicket]:
    with desk.desk.db.session() as s:
        return list(s.scalars(select(DeskTicket).order_by(DeskTicket.id)))


def test_mails_become_desk_tickets_and_replies_join_them(imap_server, desk) -> None:  # noqa: ANN001
    folder = _folder(imap_server)
    first = _mail(
        "Outlook crashes when I open the shared calendar",
        "Hi,\n\nOutlook closes itself every time I open the team's shared calendar.\n\n"
        f"Thanks,\nErin\n-- \nErin Example | Finance\n\n{DISCLAIMER}\n",
        message_id="<first-request@example.com>",
    )
    reply = _mail(
        "Re: Outlook crashes when I open the shared calendar",
        "It also happens in safe mode.\n\nOn Mon, 3 Jun 2024 at 10:00, Service Desk wrote:\n"
        "> We are looking into it.\n> Kind regards\n",
        In_Reply_To="<first-request@example.com>",
        References="<first-request@example.com>",
    )
    auto = _mail(
        "Automatic reply: your ticket",
        "I am out of office until Monday.",
        sender="bob@example.com",
        Auto_Submitted="auto-replied",
    )
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@example.com>\r\n"
        b"To: servicedesk@example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        b"\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        b"This is the mail system. Your message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.com"
        b"\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n"
    )
    html = EmailMessage()
    html["From"] = "Jürgen <juergen@example.de>"
    html["To"] = "servicedesk@example.com"
    html["Subject"] = "Drucker im 2. Stock druckt nicht"
    html["Message-ID"] = "<html-1@example.de>"
    html.set_content(
        "<html><body><p>Der Drucker im 2. Stock zeigt <b>Papierstau</b>, "
        "obwohl kein Papier klemmt.</p></body></html>",
        subtype="html",
        charset="iso-8859-1",
    )
    html.add_attachment(
        b"\x89PNG" + b"0" * 2048, maintype="image", subtype="png", filename="stau.png"
    )
    for raw in (first, reply, auto, bounce, html.as_bytes()):
        imap_server.deliver(raw, folder)
    _connect(desk, imap_server, folder)

    report = desk.run("mail")
    assert report.status == "ok", report.errors
    assert report.counts == {
        "opened": 2,
        "replies": 1,
        "ignored_auto_reply": 1,
        "ignored_bounce": 1,
    }
    outlook, printer = _tickets(desk)
    assert outlook.title == "Outlook crashes when I open the shared calendar"
    assert outlook.channel == "email" and outlook.caller == "erin@example.com"
    assert "closes itself every time" in outlook.description
    assert "confidential" not in outlook.description  # disclaimer and signature stripped
    assert "Erin Example | Finance" not in outlook.description
    assert "also happens in safe mode" in outlook.description  # the reply, appended
    assert "We are looking into it" not in outlook.description  # its quote is not
    assert outlook.triage.get("fields"), "the mail was not triaged on arrival"
    assert printer.title == "Drucker im 2. Stock druckt nicht"
    assert "Papierstau" in printer.description and "<b>" not in printer.description
    assert "stau.png (image/png" in printer.description  # listed, not indexed

    # Nothing is taken twice; a new mail is taken alone.
    assert desk.run("mail").counts == {}
    imap_server.deliver(_mail("Teams camera is black", "My camera shows a black image."), folder)
    assert desk.run("mail").counts == {"opened": 1}

    # A mailbox whose UIDs were renumbered (new UIDVALIDITY) is read again without doubles.
    with desk.desk.db.session() as s:
        s.execute(update(Connection).values(watermark={"uidvalidity": 1, "last_uid": 999}))
    again = desk.run("mail")
    assert again.counts.get("uidvalidity_changed") == 1 and not again.counts.get("opened")
    assert len(_tickets(desk)) == 3


def test_the_acknowledgement_goes_out_only_above_its_bar(imap_server, desk, smtp_server) -> None:  # noqa: ANN001
    folder = _folder(imap_server)
    settings = desk.settings
    settings.smtp.host, settings.smtp.port = smtp_server.host, smtp_server.port
    settings.smtp.starttls = False
    _connect(desk, imap_server, folder, ack=True, ack_min_confidence=0.0)
    asked = "<vpn-home@example.com>"
    imap_server.deliver(
        _mail(
            "VPN keeps disconnecting when I work from home",
            "My VPN disconnects every hour when I work from home.",
            message_id=asked,
        ),
        folder,
    )
    report = desk.run("mail")
    assert report.status == "ok", report.errors
    assert report.counts.get("acknowledged") == 1
    ((sender, to, data),) = smtp_server.received
    assert to == ["erin@example.com"]
    text = data.decode()
    assert f"In-Reply-To: {asked}" in text and "Auto-Submitted: auto-replied" in text
    ticket = _tickets(desk)[0]
    assert f"[desk:{ticket.id}]" in text  # the reference a reply finds its ticket by

    # The bar: nothing is sent when the best answer is below it.
    desk.connect(
        ADMIN,
        "mail",
        "imap",
        imap_config(imap_server.host, imap_server.port, imap_server.user, folder, ssl=False,
                    ack=True, ack_min_confidence=1.0),
        None,
        replace=True,
    )  # fmt: skip
    imap_server.deliver(_mail("VPN drops again", "The VPN dropped twice today at home."), folder)
    withheld = desk.run("mail")
    assert withheld.counts.get("ack_withheld") == 1 and len(smtp_server.received) == 1


def test_a_refused_login_is_a_clear_error(imap_server, desk) -> None:  # noqa: ANN001
    config = imap_config(imap_server.host, imap_server.port, imap_server.user, ssl=False)
    desk.connect(ADMIN, "mail", "imap", config, "wrong-password")
    report = desk.run("mail")
    assert report.status == "error"
    assert "wrong-password" not in str(report.as_dict())
    assert desk.connections.get("mail")["last_error"] == report.errors[0]


def test_the_server_syncs_its_connections_on_schedule(imap_server, tmp_path, trained_demo) -> None:  # noqa: ANN001
    """`firstline serve` takes mail without anyone running `firstline sync`."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.conftest import AUTH

    folder = _folder(imap_server)
    settings = copy_data(trained_demo, tmp_path / "served")
    settings.connectors.interval_seconds = 0.5
    with TestClient(create_app(settings), headers=AUTH) as client:
        flow = client.app.state.sync_service
        config = imap_config(
            imap_server.host, imap_server.port, imap_server.user, folder, ssl=False
        )
        flow.connect(ADMIN, "mail", "imap", config, imap_server.password)
        imap_server.deliver(
            _mail("Monitor flickers", "My second monitor flickers all day."), folder
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            queue = client.get("/desk/tickets").json()["tickets"]
            if any(t["title"] == "Monitor flickers" for t in queue):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the scheduler did not take the mail within 60 s")
        (conn,) = client.get("/admin/connectors").json()["connections"]
        assert conn["last_status"] == "ok" and conn["totals"]["opened"] == 1
