"""End to end in a real browser: an agent signs in with their API key, takes a request on the
Desk, sees the knowledge-base answer suggested, resolves the ticket with it, and the
Dashboard's KCS reuse count goes up by one; the open queue comes highest priority first, then
soonest due, and a click on a row opens its ticket; a triage correction is picked from the
matrix's levels and the priority follows; an editor sends an article to review and keeps it
open."""

from __future__ import annotations

import re

import pytest

from tests.browser.stack import Stack, go_to, metric_value, settle, sign_in

pytestmark = pytest.mark.browser

ARTICLE = "Reset your network password with self-service (SSPR)"  # KB0000001 in demo/
REQUEST_TITLE = "Password expired, cannot sign in"
REQUEST_TEXT = (
    "My network password has expired and Windows and Outlook say incorrect user ID or password. "
    "I need to reset my password; I forgot the old one."
)


def reuse_shown(page) -> int:  # noqa: ANN001
    """The Dashboard's "Reuse" figure as shown."""
    from playwright.sync_api import expect

    value = metric_value(page, "Reuse")
    expect(value).to_have_text(re.compile(r"^\d+$"))
    return int(value.inner_text())


def test_sign_in_take_a_request_resolve_with_a_suggestion_reuse_goes_up(
    page,  # noqa: ANN001
    stack: Stack,
) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    # Signed out: every page asks for the key first.
    expect(page.get_by_text("Sign in with your API key")).to_be_visible()
    sign_in(page, stack.agent_key)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("alice")

    go_to(page, "Dashboard")
    before = reuse_shown(page)
    assert before == stack.get("/dashboard")["reuse"]

    go_to(page, "Desk")
    page.get_by_label("Title").fill(REQUEST_TITLE)
    page.get_by_label("Description").fill(REQUEST_TEXT)
    page.get_by_role("button", name="Submit request").click()

    # The triage card with the suggested answers.
    expect(page.get_by_text(re.compile(r"Ticket \S+ taken and triaged")).first).to_be_visible()
    expect(page.get_by_text("Suggested answers")).to_be_visible()
    suggestion = (
        page.get_by_test_id("stVerticalBlock")
        .filter(has_text=ARTICLE)
        .filter(has=page.get_by_role("button", name="Resolve with this"))
        .last  # the innermost block: this suggestion's own card
    )
    expect(suggestion.get_by_text(ARTICLE)).to_be_visible()
    suggestion.get_by_role("button", name="Resolve with this").click()

    expect(page.get_by_text("Resolved with KB0000001 — reuse recorded").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Resolved \(reuse\)"))).to_be_visible()
    expect(page.get_by_role("button", name="Resolve with this")).to_have_count(0)

    # The API agrees: the ticket is resolved with that article.
    [ticket] = [t for t in stack.get("/desk/tickets")["tickets"] if t["title"] == REQUEST_TITLE]
    assert ticket["state"] == "resolved" and ticket["outcome"] == "reuse"

    go_to(page, "Dashboard")
    expect(metric_value(page, "Reuse")).to_have_text(str(before + 1))
    assert stack.get("/dashboard")["reuse"] == before + 1


def test_a_wrong_key_is_refused(page, stack: Stack) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Sign-in failed")).to_be_visible()
    expect(page.get_by_text("Sign in with your API key")).to_be_visible()
    expect(page.get_by_role("button", name="Submit request")).to_have_count(0)


def queue_column(page, column: int) -> list[str]:  # noqa: ANN001
    """The text of one column of the Desk's open-tickets table, top to bottom, as shown (the
    table is drawn on a canvas; the rows on screen are also in the page for screen readers)."""
    table = page.get_by_test_id("stDataFrame").last
    table.scroll_into_view_if_needed()
    return table.locator(f"[data-testid^='glide-cell-{column}-']").all_text_contents()


def queue_cell(page, ref: str, column: int):  # noqa: ANN001, ANN201
    """The cell in ``column`` of the open-tickets row of ticket ``ref``, once that row shows."""
    from playwright.sync_api import expect

    table = page.get_by_test_id("stDataFrame").last
    table.scroll_into_view_if_needed()
    cell = table.locator("[data-testid^='glide-cell-1-']").filter(
        has_text=re.compile(rf"^{re.escape(ref)}$")
    )
    expect(cell).to_have_count(1)
    row = cell.get_attribute("data-testid").rsplit("-", 1)[1]
    return table.get_by_test_id(f"glide-cell-{column}-{row}")


def click_queue_row(page, row: int) -> None:  # noqa: ANN001
    """Click the title of the ``row``-th ticket (0 = top) of the open-tickets table, where a
    user clicks: rows are 35 px high under a 35 px header."""
    settle(page)
    table = page.get_by_test_id("stDataFrame").last
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 35 * (row + 1) + 17)


def selectbox(page, label: str):  # noqa: ANN001, ANN201
    """The select box labelled ``label``; its value is the option it shows."""
    return page.get_by_role("combobox", name=label, exact=True)


def expand(page, label: str) -> None:  # noqa: ANN001
    """Open the expander ``label`` and wait until it has opened (a select box inside it does
    not open its list while the expander is still sliding open)."""
    expander = page.get_by_test_id("stExpander").filter(has_text=label)
    expander.get_by_text(label).click()
    expander.locator("details").evaluate(
        "d => Promise.all(d.getAnimations({subtree: true}).map(a => a.finished))"
    )


def pick(page, label: str, option: str) -> None:  # noqa: ANN001
    """Choose ``option`` in the select box labelled ``label`` (once the page is drawn: a list
    opened while it is being drawn again shuts)."""
    settle(page)
    selectbox(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def test_the_queue_is_by_priority_then_due_and_a_row_opens_its_ticket(
    page,  # noqa: ANN001
    stack: Stack,
) -> None:
    from playwright.sync_api import expect

    def opened(title: str, impact: str, urgency: str) -> dict:
        t = stack.post("/desk/tickets", {"title": title, "description": title})["ticket"]
        for field, value in (("impact", impact), ("urgency", urgency)):
            stack.post(f"/desk/tickets/{t['id']}/corrections", {"field": field, "value": value})
        return t

    p3 = opened("Queue: projector flickers", "medium", "medium")
    p1_first = opened("Queue: payroll server down", "high", "high")
    p2 = opened("Queue: shared drive slow for finance", "high", "medium")
    p1_second = opened("Queue: email down for everyone", "high", "high")

    page.goto(stack.ui_url)
    sign_in(page, stack.agent_key)
    expect(page.get_by_text("Highest priority first, then the soonest due")).to_be_visible()
    mine = {p3["ref"], p1_first["ref"], p2["ref"], p1_second["ref"]}
    expect(page.get_by_test_id("stDataFrame").last).to_contain_text(p1_second["ref"])
    refs, priorities = queue_column(page, 1), queue_column(page, 2)
    # Both P1s first (the one opened first is due first), then the P2, then the P3.
    assert [r for r in refs if r in mine] == [
        p1_first["ref"],
        p1_second["ref"],
        p2["ref"],
        p3["ref"],
    ]
    ranked = [p for p in priorities if p != "needs a human"]
    assert ranked == sorted(ranked, key=lambda p: int(p[1]))
    assert priorities == ranked + ["needs a human"] * (len(priorities) - len(ranked))

    click_queue_row(page, refs.index(p2["ref"]))
    heading = page.get_by_role("heading", name=f"{p2['ref']} · Queue: shared drive slow")
    expect(heading).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^P2\b"))).to_be_visible()
    expect(selectbox(page, "Work on")).to_have_value(f"{p2['ref']} · {p2['title']}")


def test_a_triage_correction_is_picked_from_the_levels_and_the_priority_follows(
    page,  # noqa: ANN001
    stack: Stack,
) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    sign_in(page, stack.agent_key)
    page.get_by_label("Title").fill("Printer on floor 2 jams on every page")
    page.get_by_label("Description").fill("The printer by the kitchen jams on every page.")
    page.get_by_role("button", name="Submit request").click()
    expect(page.get_by_text(re.compile(r"Ticket desk:\d+ taken and triaged"))).to_be_visible()
    ref = page.get_by_text(re.compile(r"Ticket desk:\d+ taken")).inner_text().split()[1]
    tid = int(ref.split(":")[1])
    # "Work on" has picked the new ticket.
    expect(selectbox(page, "Work on")).to_have_value(
        f"{ref} · Printer on floor 2 jams on every page"
    )

    expand(page, "Correct the triage")
    selectbox(page, "Impact").click()
    # The matrix's levels, and nothing else.
    expect(page.get_by_role("option")).to_have_text(["low", "medium", "high"])
    page.get_by_role("option", name="high", exact=True).click()
    pick(page, "Urgency", "high")
    page.get_by_role("button", name="Save corrections").click()
    expect(page.get_by_text(re.compile(r"^Correction saved: .*Urgency is high"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"— priority now P1$"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^P1\b"))).to_be_visible()
    expect(queue_cell(page, ref, 2)).to_have_text("P1")  # the queue says so too
    assert stack.get(f"/desk/tickets/{tid}")["priority"] == "P1"


def test_an_editor_sends_an_article_to_review_and_keeps_it_open(
    page,  # noqa: ANN001
    stack: Stack,
) -> None:
    from playwright.sync_api import expect

    title = "Reset the meeting-room display"
    draft = stack.post(
        "/kb/articles",
        {"title": title, "body": "## Resolution\nHold the power button for 10 s."},
        key=stack.editor_key,
    )
    page.goto(stack.ui_url)
    sign_in(page, stack.editor_key)
    go_to(page, "Knowledge")
    page.get_by_text("Article editor", exact=True).click()
    pick(page, "Article", f"{draft['external_id']} · {title} (draft, v1)")
    heading = page.get_by_role("heading", name=f"{draft['external_id']} · {title}")
    expect(heading).to_be_visible()

    # A save changes the article's label in the picker (title, version): it stays open.
    title = f"{title} in 10 seconds"
    page.get_by_label("Title").fill(title)
    page.get_by_label("Change note").fill("how long to hold")
    page.get_by_role("button", name="Save as version 2").click()
    expect(page.get_by_text(f"Saved {draft['external_id']} as version 2")).to_be_visible()
    heading = page.get_by_role("heading", name=f"{draft['external_id']} · {title}")
    expect(heading).to_be_visible()

    page.get_by_role("button", name="Send to review").click()
    moved = re.compile(rf"^{draft['external_id']} is now review \(version \d+\)$")
    expect(page.get_by_text(moved)).to_be_visible()
    # Still open in the editor, now in review: its heading, status and next moves.
    expect(heading).to_be_visible()
    expect(page.get_by_text(re.compile(r"^review · version \d+ · by erin"))).to_be_visible()
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Send to review", exact=True)).to_have_count(0)
    expect(selectbox(page, "Article")).to_have_value(re.compile(rf" · {title} \(review, v\d+\)$"))
    assert stack.get(f"/kb/articles/{draft['id']}", key=stack.editor_key)["status"] == "review"
