"""Connections as an admin meets them: stored with a secret that is never shown again, one
sync at a time per connection, failures visible in /health, the CLI and the Admin API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from connectors.state import Connections, _here
from core.errors import ConflictError, InvalidInputError, NotFoundError
from kb.db import Database
from tests.conftest import AUTH, free_port, make_settings

FIRSTLINE = str(Path(sys.executable).parent / "firstline")
SECRET = "s3cret-token-that-must-never-show"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        {
            "FIRSTLINE_DATA_DIR": str(tmp_path),
            "FIRSTLINE_MODEL__KIND": "hashing",
            "FIRSTLINE_CONNECTORS__TIMEOUT_SECONDS": "2",
            "FIRSTLINE_CONNECTORS__RETRIES": "0",
        }
    )
    return env


def _run(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FIRSTLINE, *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_a_connection_keeps_its_secret_and_reports_a_failed_sync(tmp_path: Path) -> None:
    env = _env(tmp_path)
    port = free_port()  # nothing listens there: the mailbox is "down"
    made = _run(
        env,
        "connect", "imap", "helpdesk", "--host", "127.0.0.1", "--port", str(port),
        "--user", "desk", "--no-ssl", "--no-check",
        FIRSTLINE_IMAP_PASSWORD=SECRET,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = _run(env, "connections", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (conn,) = json.loads(listed.stdout)
    assert conn["name"] == "helpdesk" and conn["has_secret"] and conn["last_status"] == "never"
    synced = _run(env, "sync", "helpdesk")
    assert synced.returncode == 1
    assert "helpdesk: error" in synced.stdout
    health = _run(env, "health")
    body = json.loads(health.stdout)
    assert body["status"] == "degraded" and health.returncode == 1
    assert body["connectors"]["connections"][0]["last_status"] == "error"
    assert "helpdesk" in body["connectors"]["error"]
    assert "cannot be reached" in body["connectors"]["connections"][0]["last_error"]
    for done in (made, listed, synced, health):
        assert SECRET not in done.stdout + done.stderr
    # Nothing else printed the secret either: not the settings, not the audit log.
    shown = _run(env, "settings")
    assert SECRET not in shown.stdout


def test_bad_connection_input_is_one_line_and_stores_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for args in (
        ["connect", "rt", "Bad Name", "--url", "http://rt.example", "--no-check"],
        ["connect", "rt", "rt", "--url", "ftp://rt.example", "--no-check"],
        ["connect", "rt", "rt", "--url", "http://rt.example", "--push", "colour", "--no-check"],
        ["connect", "rt", "rt", "--url", "http://rt.example", "--push", "impact", "--no-check"],
    ):
        done = _run(env, *args, FIRSTLINE_RT_TOKEN=SECRET)
        assert done.returncode != 0, args
        assert done.stderr.strip().startswith("error: "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    no_token = _run(env, "connect", "rt", "rt", "--url", "http://rt.example", "--no-check")
    assert no_token.returncode != 0 and "FIRSTLINE_RT_TOKEN" in no_token.stderr
    assert json.loads(_run(env, "connections", "list", "--json").stdout) == []


def test_one_sync_at_a_time_and_a_killed_runs_lease_expires(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    store = Connections(db)
    store.create("rt", "rt", {"url": "http://rt.example"}, SECRET)
    owner = store.acquire("rt", lease_seconds=60)
    with pytest.raises(ConflictError, match="another process"):
        store.acquire("rt", lease_seconds=60)
    assert store.get("rt")["running"]
    store.finish("rt", owner, "ok", {"imported": 3}, None)
    store.acquire("rt", lease_seconds=0.01, owner="elsewhere:1:a")  # another machine's run
    import time

    time.sleep(0.05)
    took_over = store.acquire("rt", lease_seconds=60)  # its lease has expired
    with pytest.raises(ConflictError):
        store.acquire("rt", lease_seconds=60)
    store.finish("rt", took_over, "ok", {}, None)
    # A run killed on this machine (its process is gone) frees the connection at once.
    store.acquire("rt", 600, owner=f"{_here()}:99999999:dead")
    store.acquire("rt", 600)
    with pytest.raises(ConflictError):  # and a live one does not
        store.acquire("rt", 600)
    with pytest.raises(ConflictError, match="exists"):
        store.create("rt", "rt", {}, None)
    with pytest.raises(InvalidInputError):
        store.create("x", "ftp", {}, None)
    with pytest.raises(NotFoundError):
        store.get("nope")
    assert SECRET not in json.dumps(store.list())
    db.close()


def test_the_admin_api_lists_pauses_and_audits_connections(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings), headers=AUTH) as client:
        Connections(client.app.state.service.db).create(
            "mail",
            "imap",
            {"host": "127.0.0.1", "port": free_port(), "user": "u", "ssl": False},
            SECRET,
        )
        listed = client.get("/admin/connectors")
        assert listed.status_code == 200
        assert [c["name"] for c in listed.json()["connections"]] == ["mail"]
        assert SECRET not in listed.text
        assert client.post("/admin/connectors/mail/pause").json()["paused"] is True
        assert client.post("/admin/connectors/mail/resume").json()["paused"] is False
        actions = [e["action"] for e in client.get("/admin/audit").json()["entries"]]
        assert actions[:2] == ["connector.resume", "connector.pause"]
        report = client.post("/admin/connectors/mail/run", params={"wait": True}).json()
        assert report["status"] == "error"
        assert "IMAP server 127.0.0.1" in report["errors"][0]
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert health["connectors"]["connections"][0]["last_status"] == "error"
        assert client.post("/admin/connectors/none/run").status_code == 404
        Connections(client.app.state.service.db).create("hook", "webhook", {}, SECRET)
        refused = client.post("/admin/connectors/hook/run")
        assert refused.status_code == 422 and "webhook" in refused.json()["error"]["message"]
        agent = client.get("/admin/connectors", headers={"X-API-Key": "wrong"})
        assert agent.status_code == 401
