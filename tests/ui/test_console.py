"""The console's frame and the Search page: signing in with an API key, the navigation by
role, errors as messages (never a traceback), search with filters, highlights and feedback."""

from __future__ import annotations

from tests.conftest import free_port
from tests.ui.conftest import button, by_label, texts, unescape


def test_signed_out_console_asks_for_a_key_then_signs_in(console, api) -> None:  # noqa: ANN001
    at = console()
    assert not at.exception
    assert any("Sign in with your API key" in i.value for i in at.info)
    assert "articles" in texts(at) and "tickets" in texts(at)  # the API status in the sidebar
    # The form is on the page, where a narrow screen shows it (its sidebar is folded away).
    assert "API key" not in [t.label for t in at.sidebar.text_input]
    by_label(at.main.text_input, "API key").input("not-a-key")
    button(at, "Sign in").click()
    at.run()
    assert not at.exception
    assert any("Sign-in failed" in e.value and "not valid" in e.value for e in at.main.error)
    by_label(at.main.text_input, "API key").input(api.editor_key)
    button(at, "Sign in").click()
    at.run()
    assert not at.exception
    assert any(
        "Signed in as **ui-editor** · editor" in unescape(m.value) for m in at.sidebar.markdown
    )
    assert by_label(at.text_input, "Title")  # the Desk is usable now
    assert "API key" not in [t.label for t in at.text_input]

    button(at, "Sign out").click()
    at.run()
    assert not at.exception
    assert by_label(at.main.text_input, "API key")
    assert any("Sign in with your API key" in i.value for i in at.info)


def test_key_from_the_environment_signs_in(console, api) -> None:  # noqa: ANN001
    at = console(api.agent_key)
    assert not at.exception
    assert any(
        "Signed in as **ui-agent** · agent" in unescape(m.value) for m in at.sidebar.markdown
    )
    assert "API key" not in [t.label for t in at.text_input]


def test_a_revoked_key_is_a_clear_message(console, api) -> None:  # noqa: ANN001
    made = api.call("POST", "/admin/keys", json={"name": "leaver", "role": "agent"})
    api.call("DELETE", f"/admin/keys/{made['id']}")
    at = console(made["key"])
    assert not at.exception
    assert any("revoked" in e.value for e in at.main.error)
    assert by_label(at.main.text_input, "API key")  # and a way to sign in with another


def test_api_down_is_a_message_not_a_traceback(console) -> None:  # noqa: ANN001
    at = console("some-key", url=f"http://127.0.0.1:{free_port()}")
    assert not at.exception
    assert any("cannot be reached" in e.value for e in at.sidebar.error)


def test_search_shows_results_with_highlights_and_takes_feedback(console, api) -> None:  # noqa: ANN001
    at = console(api.agent_key, "Search")
    assert not at.exception
    by_label(at.text_input, "Search").input("password reset locked out account")
    button(at, "Search").click()
    at.run()
    assert not at.exception
    shown = texts(at)
    assert "<mark>" in shown and "password" in shown.lower()
    assert "results for" in shown

    article = next(m.value for m in at.markdown if "article KB" in m.value)
    ref = article.split("article ")[1].split()[0]
    before = api.call("GET", "/kb/articles", params={"q": "", "limit": 1000})["articles"]
    helpful_before = next(a for a in before if a["external_id"] == ref)["quality"]["helpful"]
    button(at, "Helpful").click()
    at.run()
    assert not at.exception
    assert any(f"{ref} helped" in s.value for s in at.success)
    after = api.call("GET", "/kb/articles", params={"limit": 1000})["articles"]
    assert next(a for a in after if a["external_id"] == ref)["quality"]["helpful"] == (
        helpful_before + 1
    )
    assert "<mark>" in texts(at)  # the results stay after the click


def test_search_filters_by_kind(console, api) -> None:  # noqa: ANN001
    at = console(api.agent_key, "Search")
    by_label(at.text_input, "Search").input("vpn disconnects")
    by_label(at.multiselect, "Show").set_value(["ticket"])
    button(at, "Search").click()
    at.run()
    assert not at.exception
    kinds = [m.value for m in at.markdown if "matched by" in m.value]
    assert kinds and all("<small>ticket " in k for k in kinds)
    assert "Helpful" not in [b.label for b in at.button]  # feedback is for articles only


def test_empty_search_asks_for_words(console, api) -> None:  # noqa: ANN001
    at = console(api.agent_key, "Search")
    button(at, "Search").click()
    at.run()
    assert not at.exception
    assert any("Type what the user asked" in w.value for w in at.warning)


def test_search_filters_by_status_and_a_leftover_filter_is_shown_and_cleared(console, api) -> None:  # noqa: ANN001
    api.call(
        "POST",
        "/tickets",
        json={
            "source": "ui-status",
            "items": [
                {
                    "id": "IMP-OPEN-1",
                    "title": "Projector in room 4 flickers",
                    "description": "The projector in meeting room 4 flickers every few seconds.",
                    "status": "Open",
                }
            ],
        },
    )
    at = console(api.agent_key, "Search")
    by_label(at.text_input, "Search").input("projector flickers in the meeting room")
    by_label(at.multiselect, "Status").set_value(["open"])
    button(at, "Search").click()
    at.run()
    assert not at.exception
    found = [m.value for m in at.markdown if "matched by" in m.value]
    assert found and all(" · open · matched by" in f for f in found)
    assert "IMP-OPEN-1" in unescape(found[0])
    assert "No resolution recorded for this ticket." in texts(at)
    # Next search: the filter is still set, and says so above the results.
    by_label(at.text_input, "Search").input("vpn disconnects")
    button(at, "Search").click()
    at.run()
    assert any(i.value == "Filtered by status: open" for i in at.info)
    button(at, "Clear filters").click()
    at.run()
    assert not at.exception
    assert by_label(at.multiselect, "Status").value == []
    assert not any(i.value.startswith("Filtered by") for i in at.info)
    statuses = [m.value for m in at.markdown if "matched by" in m.value]
    assert statuses and not any(" · open · " in m for m in statuses)  # vpn: resolved and published
