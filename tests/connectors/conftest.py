"""Fixtures of the connector tests, each a real server: Request Tracker 5 (``rt_server.py``),
a private Dovecot (IMAP) for the session and a local aiosmtpd SMTP server that keeps what it
receives.  Without them the tests skip (fail in CI)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_process, unavailable
from tests.connectors.dovecot_server import DovecotError, ImapServer, start_dovecot
from tests.connectors.rt_server import RTServer, RTUnavailable, start_rt


@pytest.fixture(scope="session")
def rt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RTServer]:
    """Request Tracker 5 started once for the session on a free port, with root's token,
    a queue "Second line" and the ticket custom fields "Impact" and "Urgency"."""
    try:
        server = start_rt(tmp_path_factory.mktemp("rt"), free_port())
    except RTUnavailable as e:
        unavailable(f"Request Tracker did not start: {e}")
    try:
        yield server
    finally:
        server.close()
        stop_process(server.process)


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """Dovecot on a free port of 127.0.0.1 with one user (``user``, ``password``) and an empty
    INBOX; ``deliver(raw)`` puts a mail in it."""
    # Not pytest's tmp tree: under root the maildir belongs to nobody, who cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="firstline-dovecot-"))
    try:
        server = start_dovecot(root, free_port())
    except DovecotError as e:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(str(e).splitlines()[0])
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)  # from, to, data


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server on a free port of 127.0.0.1 that accepts every mail into ``received``."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd is not installed (pip install -e '.[dev]')")
    server = SmtpServer("127.0.0.1", free_port())

    class Collect:
        async def handle_DATA(self, smtp, session, envelope) -> str:  # noqa: ANN001, N802
            server.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    controller = Controller(Collect(), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
