"""The Streamlit console, driven by Streamlit's AppTest against a real API on a local port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from streamlit.testing.v1 import AppTest

from api.app import create_app
from indexer.service import Firstline
from tests.conftest import DEMO, free_port, make_settings
from triage.service import Triager

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("ui"))
    svc = Firstline(settings)
    svc.ingest_file(DEMO / "articles.jsonl", kind="article", source="demo")
    svc.ingest_file(DEMO / "tickets.jsonl", kind="ticket", source="demo")
    Triager(settings, svc).train()
    svc.close()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def _app(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    monkeypatch.setenv("FIRSTLINE_API_URL", url)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    return at


def test_search_shows_results_with_highlights(monkeypatch, api_url) -> None:  # noqa: ANN001
    at = _app(monkeypatch, api_url)
    assert not at.exception
    assert any("articles" in m.value and "tickets" in m.value for m in at.sidebar.markdown)
    at.text_input[0].input("password reset locked out account")
    at.button[0].click()
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "<mark>" in shown
    assert "password" in shown.lower()


def test_api_down_is_a_message_not_a_traceback(monkeypatch) -> None:  # noqa: ANN001
    at = _app(monkeypatch, f"http://127.0.0.1:{free_port()}")
    assert not at.exception
    assert any("cannot be reached" in e.value for e in at.sidebar.error)
    at.text_input[0].input("vpn")
    at.button[0].click()
    at.run()
    assert not at.exception
    assert any("cannot be reached" in e.value for e in at.error)


def test_triage_tab_shows_priority_fields_and_suggestions(monkeypatch, api_url) -> None:  # noqa: ANN001
    at = _app(monkeypatch, api_url)
    at.text_input[1].input("Network down on floor 3")
    at.text_area[0].input("Nobody on the whole floor can connect; 25 people cannot work.")
    at.number_input[0].set_value(25)
    at.button[1].click()
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "P1" in shown and "Q1" in shown
    table = at.dataframe[0].value
    assert list(table["field"]) == [
        "Type",
        "Impact",
        "Urgency",
        "Category",
        "Assignment group",
        "Tier",
    ]
    assert table.set_index("field").loc["Impact", "value"] == "high"
    assert "Suggested answers" in shown


def test_triage_tab_without_text_asks_for_it(monkeypatch, api_url) -> None:  # noqa: ANN001
    at = _app(monkeypatch, api_url)
    at.button[1].click()
    at.run()
    assert not at.exception
    assert any("Enter a short description" in w.value for w in at.warning)
