"""`firstline demo`: the bundled demo data ingested, then the API and the console served.

For the demo only, three keys (agent, editor, admin) are made once and kept in
``<data_dir>/demo-keys.json`` (readable by you only), and a scripted morning at the desk
(``demo/desk_morning.jsonl``: requests resolved with articles, new answers captured, escalations,
a burst of SAP incidents) is replayed through the API once, so the dashboard, the editor's queue
and the problem list have recorded events to show.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console

from core.settings import Settings

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
UI_APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"


def ingest_demo(settings: Settings, console: Console) -> None:
    """Ingest the demo articles and tickets, and train triage on them (once)."""
    from indexer.service import Firstline
    from triage.service import Triager

    service = Firstline(settings)
    try:
        for name, kind in (("articles.jsonl", "article"), ("tickets.jsonl", "ticket")):
            path = DEMO_DIR / name
            report = service.ingest_file(path, kind=kind, source="demo")
            console.print(
                f"{name}: {report.added} added, {report.updated} updated, "
                f"{report.unchanged} unchanged, {len(report.skipped)} skipped"
                + (f", {report.curated} curated since (kept)" if report.curated else "")
            )
        triager = Triager(settings, service)
        if triager.store.active_version("triage") is None:
            console.print("training the triage models on the demo tickets ...")
            result = triager.train()
            console.print(f"triage model {result['version']} active")
    finally:
        service.close()


def demo_keys(settings: Settings) -> dict[str, str]:
    """The demo's keys, made once (stored hashed in the database like any key)."""
    from kb.auth import ROLES, Keys
    from kb.db import Database

    path = settings.data_dir / "demo-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    db = Database(settings.database_url)
    try:
        keys = {role: Keys(db).create(f"demo-{role}", role)[1] for role in ROLES}
    finally:
        db.close()
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)
    return keys


def replay_morning(api_url: str, key: str, console: Console) -> int:
    """Replay the scripted desk morning through the API (once: skipped if the desk has
    tickets).  Returns how many requests were taken."""
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as c:
        if c.get("/desk/tickets", params={"limit": 1}).json()["tickets"]:
            return 0
        lines = (DEMO_DIR / "desk_morning.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines:
            item = json.loads(line)
            action = item.pop("action")
            resolution, group = item.pop("resolution", None), item.pop("group", None)
            r = c.post("/desk/tickets", json=item)
            r.raise_for_status()
            out = r.json()
            tid = out["ticket"]["id"]
            if action == "reuse" and out["triage"]["suggested_articles"]:
                aid = int(out["triage"]["suggested_articles"][0]["id"].split(":")[1])
                c.post(f"/desk/tickets/{tid}/start")
                c.post(f"/desk/tickets/{tid}/resolve", json={"article_id": aid})
                c.post(f"/kb/articles/{aid}/feedback", json={"helpful": True, "ticket_id": tid})
            elif action == "create":
                c.post(f"/desk/tickets/{tid}/resolve", json={"resolution": resolution})
            elif action == "escalate":
                c.post(f"/desk/tickets/{tid}/escalate", json={"group": group})
        console.print(f"replayed a desk morning: {len(lines)} requests")
        return len(lines)


def _wait(url: str, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (``kill``, a service manager) stops the demo as Ctrl-C does, through the same
    clean-up; Python's default would end the process at once and leave the console running."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_console(ui: subprocess.Popen) -> None:
    """Stop the console process and reap it; kill it if it does not stop in time (or a second
    Ctrl-C comes while it stops)."""
    if ui.poll() is None:
        ui.terminate()
    try:
        ui.wait(timeout=10)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        ui.kill()
        ui.wait()


def run_demo(settings: Settings, port: int, ui_port: int, serve: bool, console: Console) -> None:
    """Ingest the demo data, then serve the API (a thread) and the console (a child process)
    until Ctrl-C or SIGTERM, which stop both."""
    with _stop_on_sigterm():
        console.print(f"[bold]firstline demo[/bold] — data in {settings.data_dir.resolve()}")
        ingest_demo(settings, console)
        if serve:
            _serve_demo(settings, port, ui_port, console)


def console_command(port: int, host: str, *extra: str) -> list[str]:
    """The command that serves the Streamlit console on ``host:port`` (headless, no usage
    statistics, no "Deploy" button: as .streamlit/config.toml, wherever it starts)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(UI_APP),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        *extra,
    ]


def _serve_demo(settings: Settings, port: int, ui_port: int, console: Console) -> None:
    import uvicorn

    from api.app import create_app

    api_url = f"http://{settings.api.host}:{port}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.api.host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="firstline-api", daemon=True)
    ui: subprocess.Popen | None = None
    try:
        thread.start()
        keys = demo_keys(settings)
        env = {**os.environ, "FIRSTLINE_API_URL": api_url, "FIRSTLINE_API_KEY": keys["editor"]}
        ui = subprocess.Popen(
            console_command(ui_port, settings.api.host, "--logger.level", "error"),
            env=env,
            stdout=subprocess.DEVNULL,
        )
        if not _wait(f"{api_url}/health"):
            console.print("[red]the API did not come up; see the messages above[/red]")
            return
        replay_morning(api_url, keys["agent"], console)
        _wait(f"http://{settings.api.host}:{ui_port}/_stcore/health", timeout=60)
        console.print(f"API:     {api_url}/docs")
        console.print(
            f"Search:  curl -s -H 'X-API-Key: {keys['agent']}' "
            f"'{api_url}/search?q=vpn+keeps+disconnecting'"
        )
        console.print(
            f"Triage:  curl -s {api_url}/triage -H 'X-API-Key: {keys['agent']}' "
            "-H 'content-type: application/json' "
            '-d \'{"request": {"title": "VPN drops", "description": '
            '"GlobalProtect disconnects every 10 minutes"}}\''
        )
        console.print(f"Console: http://{settings.api.host}:{ui_port}  (signed in as demo-editor)")
        console.print(
            f"Keys:    {settings.data_dir / 'demo-keys.json'}  "
            f"(agent {keys['agent'][:10]}…, editor {keys['editor'][:10]}…, "
            f"admin {keys['admin'][:10]}…)"
        )
        console.print("Press Ctrl-C to stop.")
        while thread.is_alive() and ui.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping the console and the API ...")
    finally:
        if ui is not None:
            _stop_console(ui)
        server.should_exit = True
        if thread.is_alive():
            thread.join(timeout=10)
