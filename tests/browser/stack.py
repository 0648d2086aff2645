"""The whole firstline stack on free local ports, for browser tests and the docs' screenshots:
the demo data ingested with the hashing encoder, triage trained, the API (uvicorn, in a thread)
and the Streamlit console (a subprocess), plus an agent and an editor API key."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.demo import console_command
from core.settings import ModelSettings, SearchSettings, Settings
from tests.conftest import (
    ADMIN_KEY,
    ROOT,
    copy_data,
    free_port,
    make_settings,
    prepare_demo,
    stop_process,
)

CHROMIUM = "/usr/bin/chromium"


class StackError(RuntimeError):
    """A part of the stack did not come up (the message says which, with its log)."""


@dataclass
class Stack:
    settings: Settings
    api_url: str
    ui_url: str
    agent_key: str
    editor_key: str
    ui_log: Path

    def get(self, path: str, key: str | None = None) -> dict:
        r = httpx.get(
            f"{self.api_url}{path}", headers={"X-API-Key": key or self.agent_key}, timeout=30
        )
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict, key: str | None = None) -> dict:
        r = httpx.post(
            f"{self.api_url}{path}",
            json=body,
            headers={"X-API-Key": key or self.agent_key},
            timeout=60,
        )
        r.raise_for_status()
        return r.json()


def _wait_http(url: str, timeout: float, alive=lambda: True) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


@contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="firstline-api", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        if not _wait_http(f"{url}/health", 120, thread.is_alive):
            raise StackError(f"the API did not answer {url}/health within 120 s")
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def create_key(api_url: str, name: str, role: str) -> str:
    r = httpx.post(
        f"{api_url}/admin/keys",
        json={"name": name, "role": role},
        headers={"X-API-Key": ADMIN_KEY},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()["key"]


@contextmanager
def console(api_url: str, log: Path) -> Iterator[str]:
    """The Streamlit console as a subprocess, signed out (FIRSTLINE_API_KEY is not passed on:
    users sign in in the browser)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FIRSTLINE_API_KEY"}
    env["FIRSTLINE_API_URL"] = api_url
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            console_command(port, "127.0.0.1", "--server.fileWatcherType", "none"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if not _wait_http(f"{url}/_stcore/health", 90, lambda: proc.poll() is None):
            raise StackError(f"the console did not come up on {url}:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        stop_process(proc)


@contextmanager
def running_stack(
    data_dir: Path, real_model: bool = False, prepared: Path | None = None
) -> Iterator[Stack]:
    """Everything up on free ports, with an agent key (alice) and an editor key (erin);
    stopped on exit.  The hashing encoder unless ``real_model`` (the sentence encoder).
    ``prepared``: a data dir :func:`tests.conftest.prepare_demo` made with the hashing encoder,
    copied instead of preparing the demo data again."""
    if prepared is not None and not real_model:
        settings = copy_data(prepared, data_dir)
    else:
        settings = make_settings(data_dir)
        if real_model:  # the real encoder, and the relevance floor measured for it
            search = settings.search.model_copy(
                update={"relevance_floor": SearchSettings().relevance_floor}
            )
            settings = settings.model_copy(update={"model": ModelSettings(), "search": search})
        prepare_demo(settings)
    with api_server(settings) as api_url:
        agent = create_key(api_url, "alice", "agent")
        editor = create_key(api_url, "erin", "editor")
        log = data_dir / "console.log"
        with console(api_url, log) as ui_url:
            yield Stack(settings, api_url, ui_url, agent, editor, log)


# -- driving the console (playwright pages) -----------------------------------------------------
def sign_in(page, key: str) -> None:  # noqa: ANN001
    """Type the API key into the page's sign-in form, as a user does."""
    from playwright.sync_api import expect

    main = page.get_by_test_id("stMain")
    main.get_by_label("API key").fill(key)
    main.get_by_role("button", name="Sign in").click()
    # The sidebar says who it is (folded away on a narrow screen, so its text, not its look).
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as")
    expect(main.get_by_role("button", name="Sign in")).to_have_count(0)


def settle(page, timeout_ms: int = 60_000) -> None:  # noqa: ANN001
    """Wait until the console's script run is over: the app says so as soon as a rerun is
    asked for (its "Running" sign shows only later).  A widget used while the page is still
    being drawn may be drawn again under the mouse, and the click lost."""
    from playwright.sync_api import expect

    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout_ms)


def go_to(page, name: str) -> None:  # noqa: ANN001
    """Follow the sidebar navigation (loading a URL would start a new, signed-out session).
    The default page (Desk) is at ``/``, the others at ``/<name>``."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    path = "/(desk)?" if name == "Desk" else f"/{name.lower()}"
    page.wait_for_url(re.compile(rf"^[^?#]*://[^/]+{path}([?#].*)?$"))


def metric_value(page, label: str):  # noqa: ANN001, ANN201
    """The value element of the ``st.metric`` with exactly this label."""
    name = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=name).get_by_test_id("stMetricValue")
