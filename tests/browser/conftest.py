"""Browser tests: Debian's chromium driven by playwright against the API and the console on
free local ports.  Without /usr/bin/chromium or the playwright package they skip (fail in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.stack import CHROMIUM, Stack, StackError, running_stack
from tests.conftest import unavailable

TIMEOUT_MS = 30_000


def _need_browser() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Debian's chromium is not installed ({CHROMIUM}; apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, trained_demo: Path) -> Iterator[Stack]:
    _need_browser()
    try:
        with running_stack(tmp_path_factory.mktemp("browser"), prepared=trained_demo) as s:
            yield s
    except StackError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, stack: Stack, request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN001, ANN201
    """A fresh browser context on the console; on failure a screenshot and the console's log
    are kept in the test's tmp_path."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        shot = tmp_path / "failure.png"
        try:
            pg.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        except Exception as e:  # noqa: BLE001 - best effort
            print(f"no screenshot: {e}")
        print(f"console log ({stack.ui_log}):\n{stack.ui_log.read_text()[-3000:]}")
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
