"""An unexpected error (issue #11, failure 12): the client gets a JSON 500 with a request id
that the server log names beside the traceback, and its keep-alive connection stays usable."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api import errors
from tests.conftest import free_port


def _app() -> FastAPI:
    """A test-only app with the same error handling as firstline's, and a route that fails."""
    app = FastAPI()
    app.add_middleware(errors.RequestContext)
    errors.install(app)

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("the disk caught fire")

    @app.get("/fine")
    def fine() -> dict:
        return {"ok": True}

    return app


@pytest.fixture
def base_url() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(_app(), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_500_keeps_the_connection_and_names_its_request_id(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="firstline.api")
    peers = []

    def remember_peer(response: httpx.Response) -> None:
        stream = response.extensions["network_stream"]
        peers.append(stream.get_extra_info("client_addr"))

    with httpx.Client(base_url=base_url, event_hooks={"response": [remember_peer]}) as client:
        r = client.get("/boom")
        assert r.status_code == 500
        error = r.json()["error"]
        assert error["type"] == "internal_error"
        assert "disk" not in error["message"]  # no internals leave the server
        request_id = r.headers["x-request-id"]
        assert error["request_id"] == request_id
        assert request_id in error["message"]

        again = client.get("/fine")  # the same keep-alive connection
        assert again.status_code == 200
        assert again.json() == {"ok": True}
        assert again.headers["x-request-id"] != request_id
    assert peers[0] == peers[1], "the server dropped the connection after the 500"

    logged = [rec for rec in caplog.records if request_id in rec.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "the disk caught fire" in str(logged[0].exc_info[1])
