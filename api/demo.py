"""`firstline demo`: the bundled demo data ingested, then the API and the console served."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console

from kb.settings import Settings

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
            )
        triager = Triager(settings, service)
        if triager.store.active_version("triage") is None:
            console.print("training the triage models on the demo tickets ...")
            result = triager.train()
            console.print(f"triage model {result['version']} active")
    finally:
        service.close()


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


def run_demo(settings: Settings, port: int, ui_port: int, serve: bool, console: Console) -> None:
    console.print(f"[bold]firstline demo[/bold] — data in {settings.data_dir.resolve()}")
    ingest_demo(settings, console)
    if not serve:
        return
    import uvicorn

    from api.app import create_app

    api_url = f"http://{settings.api.host}:{port}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.api.host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    env = {**os.environ, "FIRSTLINE_API_URL": api_url}
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(UI_APP),
            "--server.port",
            str(ui_port),
            "--server.address",
            settings.api.host,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--logger.level",
            "error",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        if not _wait(f"{api_url}/health"):
            console.print("[red]the API did not come up; see the messages above[/red]")
            return
        _wait(f"http://{settings.api.host}:{ui_port}/_stcore/health", timeout=60)
        console.print(f"API:     {api_url}/docs   (try {api_url}/search?q=vpn+keeps+disconnecting)")
        console.print(
            f"Triage:  curl -s {api_url}/triage -H 'content-type: application/json' "
            '-d \'{"request": {"title": "VPN drops", "description": '
            '"GlobalProtect disconnects every 10 minutes"}}\''
        )
        console.print(f"Console: http://{settings.api.host}:{ui_port}")
        console.print("Press Ctrl-C to stop.")
        while thread.is_alive() and ui.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        ui.terminate()
        try:
            ui.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ui.kill()
