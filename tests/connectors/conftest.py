"""Fixtures of the connector tests: a real Request Tracker 5 (see ``rt_server.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import free_port, stop_process, unavailable
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
