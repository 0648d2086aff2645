"""The console under Streamlit's AppTest, against a real API on a local port (demo data,
trained triage) with an agent, an editor and an admin key."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from api.app import create_app
from tests.conftest import ADMIN_KEY, copy_data, free_port

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
PAGES = {
    "Desk": "views/desk.py",
    "Search": "views/search.py",
    "Knowledge": "views/knowledge.py",
    "Dashboard": "views/dashboard.py",
    "Admin": "views/admin.py",
}


@dataclass
class Api:
    url: str
    agent_key: str
    editor_key: str
    admin_key: str = ADMIN_KEY

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> dict:  # noqa: ANN003
        r = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"X-API-Key": key or self.admin_key},
            timeout=60,
            **kwargs,
        )
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory, trained_demo: Path) -> Iterator[Api]:
    settings = copy_data(trained_demo, tmp_path_factory.mktemp("ui"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    admin = {"X-API-Key": ADMIN_KEY}
    keys = {
        role: httpx.post(
            f"{url}/admin/keys", json={"name": f"ui-{role}", "role": role}, headers=admin
        ).json()["key"]
        for role in ("agent", "editor")
    }
    yield Api(url, keys["agent"], keys["editor"])
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch, api: Api) -> Callable[..., AppTest]:
    """``console(key, page)``: the console signed in with ``key`` (none: signed out), on
    ``page`` (a navigation title), after its first run."""

    def open_console(key: str | None = None, page: str = "Desk", url: str | None = None):  # noqa: ANN202
        monkeypatch.setenv("FIRSTLINE_API_URL", url or api.url)
        if key:
            monkeypatch.setenv("FIRSTLINE_API_KEY", key)
        else:
            monkeypatch.delenv("FIRSTLINE_API_KEY", raising=False)
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        if page != "Desk":
            at.switch_page(PAGES[page]).run()
        return at

    return open_console


def button(at: AppTest, label: str, index: int = 0):  # noqa: ANN201
    """The ``index``-th button with this visible label (as a user finds it)."""
    found = [b for b in at.button if b.label == label]
    assert len(found) > index, f"no button {label!r}; have {[b.label for b in at.button]}"
    return found[index]


def by_label(elements, label: str):  # noqa: ANN001, ANN201
    found = [e for e in elements if e.label == label]
    assert found, f"no {label!r}; have {[e.label for e in elements]}"
    return found[0]


def texts(at: AppTest) -> str:
    """Everything written on the page as markdown, captions and messages, in one string, as
    it reads (markdown's backslash escapes undone)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    for kind in (at.success, at.info, at.warning, at.error):
        parts += [m.value for m in kind]
    return unescape("\n".join(parts))


def unescape(markdown: str) -> str:
    """Markdown source as it reads: backslash escapes undone."""
    return re.sub(r"\\(.)", r"\1", markdown)
