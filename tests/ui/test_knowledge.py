"""The Knowledge page: the editor role, the editor's queue and the article editor (edits
against the loaded version, conflicts, lifecycle, history and diffs)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import button, by_label, texts


def _editor_on(at: AppTest, article: dict) -> AppTest:
    by_label(at.radio, "View").set_value("Article editor")
    at.run()
    by_label(at.multiselect, "Status").set_value(["draft", "review", "published", "retired"])
    by_label(at.selectbox, "Article").set_value(article["id"])
    return at.run()


def _new_draft(api, title: str) -> dict:  # noqa: ANN001
    body = {"title": title, "body": f"## Resolution\nSteps for {title}.", "category": "Testing"}
    return api.call("POST", "/kb/articles", key=api.editor_key, json=body)


def test_an_agent_is_told_it_needs_the_editor_role(console, api) -> None:  # noqa: ANN001
    at = console(api.agent_key, "Knowledge")
    assert not at.exception
    assert any("needs the editor role" in w.value and "agent" in w.value for w in at.warning)
    assert not at.text_area and "Article" not in [s.label for s in at.selectbox]


def test_queue_lists_drafts_and_edit_opens_the_editor(console, api) -> None:  # noqa: ANN001
    draft = _new_draft(api, "Queue test: badge printer offline")
    at = console(api.editor_key, "Knowledge")
    assert not at.exception
    assert any(e.label.startswith("Drafts (") for e in at.expander)
    shown = texts(at)
    assert draft["external_id"] in shown and "badge printer offline" in shown
    edit = next(b for b in at.button if b.label == "Edit" and b.key == f"edit_drafts_{draft['id']}")
    edit.click()
    at.run()
    assert not at.exception
    assert by_label(at.text_input, "Title").value == draft["title"]
    assert f"{draft['external_id']} · {draft['title']}" in texts(at)


def test_edit_saves_a_version_and_shows_history_and_diff(console, api) -> None:  # noqa: ANN001
    draft = _new_draft(api, "Reset the kiosk")
    at = _editor_on(console(api.editor_key, "Knowledge"), draft)
    by_label(at.text_input, "Title").input("Reset the lobby kiosk")
    button(at, "Save as version 2").click()
    at.run()
    assert not at.exception
    assert any(f"Saved {draft['external_id']} as version 2" in s.value for s in at.success)
    assert api.call("GET", f"/kb/articles/{draft['id']}")["title"] == "Reset the lobby kiosk"
    history = at.dataframe[0].value
    assert list(history["version"]) == [2, 1]
    diff = at.code[-1]
    assert diff.language == "diff"
    assert "-Title: Reset the kiosk" in diff.value and "+Title: Reset the lobby kiosk" in diff.value


def test_a_stale_edit_is_a_conflict_with_a_reload(console, api) -> None:  # noqa: ANN001
    draft = _new_draft(api, "Map a network drive")
    at = _editor_on(console(api.editor_key, "Knowledge"), draft)
    # someone else saves while this editor has version 1 open
    api.call(
        "PUT",
        f"/kb/articles/{draft['id']}",
        key=api.editor_key,
        json={"version": 1, "title": "Map a network drive (Windows 11)"},
    )
    by_label(at.text_input, "Title").input("Map a shared drive")
    button(at, "Save as version 2").click()
    at.run()
    assert not at.exception
    assert any("Someone else saved this article" in e.value for e in at.error)
    assert api.call("GET", f"/kb/articles/{draft['id']}")["title"] == (
        "Map a network drive (Windows 11)"
    )
    button(at, "Reload the current version").click()
    at.run()
    assert not at.exception
    assert by_label(at.text_input, "Title").value == "Map a network drive (Windows 11)"
    assert button(at, "Save as version 3")
    assert any(c.value == "Map a shared drive" for c in at.code)  # my unsaved text, kept
    by_label(at.text_input, "Title").input("Map a shared drive (Windows 11)")
    button(at, "Save as version 3").click()
    at.run()
    assert not at.exception
    assert any("as version 3" in s.value for s in at.success)


def test_lifecycle_buttons_move_an_article(console, api) -> None:  # noqa: ANN001
    draft = _new_draft(api, "Clear the Teams cache")
    at = _editor_on(console(api.editor_key, "Knowledge"), draft)
    button(at, "Send to review").click()
    at.run()
    assert not at.exception
    assert any("is now review" in s.value for s in at.success)
    button(at, "Publish").click()
    at.run()
    assert any("is now published" in s.value for s in at.success)
    assert api.call("GET", f"/kb/articles/{draft['id']}")["status"] == "published"
    assert button(at, "Retire") and button(at, "Back to draft")


def test_gaps_problems_and_duplicates(console, api) -> None:  # noqa: ANN001
    for who in ("Ann", "Bob", "Cem", "Dee", "Eve"):
        api.call(
            "POST",
            "/desk/tickets",
            key=api.agent_key,
            json={
                # words no article has: no answer clears the floor, so it is a gap
                "title": "Coffee machine E42",
                "description": f"{who}: coffee machine E42",
            },
        )
    original = api.call("GET", "/kb/articles", params={"status": "published"})["articles"][0]
    full = api.call("GET", f"/kb/articles/{original['id']}")
    twin = api.call(
        "POST",
        "/kb/articles",
        key=api.editor_key,
        json={"title": full["title"], "body": full["body"], "category": full["category"]},
    )
    at = console(api.editor_key, "Knowledge")
    assert not at.exception
    gap = next(e for e in at.expander if e.label.startswith("Knowledge gaps ("))
    assert "Coffee machine" in " ".join(m.value for m in gap.markdown)
    problems = next(e for e in at.expander if e.label.startswith("Problem candidates ("))
    incidents = problems.dataframe[0].value
    assert len(incidents) == 5 and "Coffee machine" in incidents["title"].iloc[0]
    button(at, "Draft an article from this cluster").click()
    at.run()
    assert not at.exception
    drafted = [s.value for s in at.success if s.value.startswith("Drafted ")]
    assert drafted and "from 5 tickets" in drafted[0]
    assert by_label(at.radio, "View").value == "Article editor"
    assert "coffee" in by_label(at.text_area, "Body").value.lower()

    by_label(at.radio, "View").set_value("Editor queue")
    at.run()
    label = f"Merge {twin['external_id']} into {original['external_id']}"
    button(at, label).click()
    at.run()
    assert not at.exception
    assert any(s.value.startswith(f"Merged {twin['external_id']}") for s in at.success)
    assert api.call("GET", f"/kb/articles/{twin['id']}")["status"] == "retired"
