"""Screenshots of each page of the console, for the docs.

    .venv/bin/python docs/screenshots.py [--hashing] [OUT_DIR]   # default: docs/screenshots

Starts the same stack as the browser tests (tests/browser/stack.py: the demo data with the
real sentence encoder, or the tests' hashing encoder with ``--hashing``; triage trained; the API
and the console on free local ports, in a temporary folder), replays the demo's desk morning
through the API so the dashboard and the editor's queue have something to show, then drives Debian's
chromium (/usr/bin/chromium, headless; no browser is downloaded) through the console and saves
one PNG per page.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.stack import (  # noqa: E402
    CHROMIUM,
    Stack,
    go_to,
    running_stack,
    settle,
    sign_in,
)
from tests.conftest import ADMIN_KEY  # noqa: E402

VIEWPORT = {"width": 1400, "height": 900}
NARROW = {"width": 400, "height": 900}
TIMEOUT_MS = 60_000


def seed(stack: Stack) -> None:
    """The demo's scripted morning at the desk (``demo/desk_morning.jsonl``, replayed through
    the API as ``firstline demo`` does: reuses, new answers captured as drafts, escalations,
    feedback, a burst of SAP incidents), then one ticket left open."""
    from rich.console import Console

    from api.demo import replay_morning

    replay_morning(stack.api_url, stack.agent_key, Console(stderr=True))
    stack.post(
        "/desk/tickets",
        {
            "title": "Outlook calendar does not show meetings",
            "description": "Invitations arrive but the meetings are not in my calendar.",
            "caller": "Priya Shah",
            "channel": "email",
        },
    )


def settled(page) -> None:  # noqa: ANN001
    """Wait until the script run is over and charts are drawn."""
    settle(page, TIMEOUT_MS)
    page.wait_for_timeout(1000)


def shot(page, out: Path, name: str, max_height: int = 2400) -> None:  # noqa: ANN001
    """The whole page: Streamlit scrolls inside its main element, so the viewport is made as
    tall as that content (up to ``max_height``) for the picture, then put back."""
    settled(page)
    size = page.viewport_size
    height = page.get_by_test_id("stMain").evaluate("e => e.scrollHeight")
    page.set_viewport_size({**size, "height": max(size["height"], min(height, max_height))})
    settled(page)
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def take(stack: Stack, out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            expect.set_options(timeout=TIMEOUT_MS)
            agent = browser.new_context(viewport=VIEWPORT)
            agent.set_default_timeout(TIMEOUT_MS)
            page = agent.new_page()

            page.goto(stack.ui_url)
            expect(page.get_by_text("Sign in with your API key")).to_be_visible()
            shot(page, out, "sign-in")

            sign_in(page, stack.agent_key)
            page.get_by_label("Title").fill("Password expired, cannot sign in")
            page.get_by_label("Description").fill(
                "My network password has expired and Outlook keeps asking for it. "
                "I need to reset my password."
            )
            page.get_by_role("button", name="Submit request").click()
            expect(page.get_by_text("Suggested answers")).to_be_visible()
            expect(page.get_by_role("button", name="Resolve with this").first).to_be_visible()
            expect(page.get_by_text("Highest priority first")).to_be_visible()
            shot(page, out, "desk", max_height=4200)  # down to the open queue

            go_to(page, "Search")
            page.get_by_role("textbox", name="Search").fill("vpn keeps disconnecting")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("mark").first).to_be_visible()
            shot(page, out, "search")

            go_to(page, "Dashboard")
            expect(page.get_by_test_id("stMetric").first).to_be_visible()
            shot(page, out, "dashboard")
            agent.close()

            # The Desk on a 400 px wide screen: the form, then the open queue, one column.
            narrow = browser.new_context(viewport=NARROW)
            narrow.set_default_timeout(TIMEOUT_MS)
            page = narrow.new_page()
            page.goto(stack.ui_url)
            sign_in(page, stack.agent_key)
            expect(page.get_by_text("Highest priority first")).to_be_visible()
            shot(page, out, "desk-400px")
            narrow.close()

            editor = browser.new_context(viewport=VIEWPORT)
            editor.set_default_timeout(TIMEOUT_MS)
            page = editor.new_page()
            page.goto(stack.ui_url)
            sign_in(page, stack.editor_key)
            go_to(page, "Knowledge")
            expect(page.get_by_text("Drafts (")).to_be_visible()
            shot(page, out, "knowledge")

            # The draft captured from the desk, in the article editor.
            page.get_by_role("button", name="Edit").first.click()
            expect(page.get_by_role("button", name=re.compile(r"Save as version"))).to_be_visible()
            shot(page, out, "knowledge-editor")
            editor.close()

            admin = browser.new_context(viewport=VIEWPORT)
            admin.set_default_timeout(TIMEOUT_MS)
            page = admin.new_page()
            page.goto(stack.ui_url)
            sign_in(page, ADMIN_KEY)
            go_to(page, "Admin")
            expect(page.get_by_role("heading", name="API keys")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
            shot(page, out, "admin")
            admin.close()
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--hashing", action="store_true", help="the tests' hashing encoder")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="firstline-shots-") as tmp:
        with running_stack(Path(tmp), real_model=not args.hashing) as stack:
            seed(stack)
            take(stack, out.resolve())


if __name__ == "__main__":
    main()
