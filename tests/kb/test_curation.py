"""Article lifecycle, versions, diffs, optimistic locking, capture and merges (kb.curation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.time import utcnow
from kb.curation import Knowledge
from kb.db import Database
from kb.desk import Desk
from kb.models import Article


@pytest.fixture
def kb(tmp_path: Path) -> Knowledge:
    return Knowledge(Database(f"sqlite:///{tmp_path / 'kb.db'}"), review_days=30)


def draft(kb: Knowledge, title: str = "Reset a password", body: str = "Use SSPR.") -> dict:
    return kb.create(title, body, "ana", "Accounts", ["password"])


def test_a_new_article_is_a_draft_at_version_1(kb: Knowledge) -> None:
    a = draft(kb)
    assert (a["status"], a["version"], a["author"]) == ("draft", 1, "ana")
    assert a["external_id"] == f"KB{a['id']:07d}"
    assert [v["version"] for v in kb.versions(a["id"])] == [1]


def test_lifecycle_draft_review_published_retired_and_back(kb: Knowledge) -> None:
    a = draft(kb)
    a = kb.transition(a["id"], "review", 1, "ana")
    a = kb.transition(a["id"], "published", 2, "bob")
    assert a["status"] == "published" and a["reviewed_at"]
    a = kb.transition(a["id"], "retired", 3, "bob")
    a = kb.transition(a["id"], "draft", 4, "ana", note="bring it back")
    assert a["version"] == 5
    history = kb.versions(a["id"])
    assert [v["status"] for v in history] == ["draft", "retired", "published", "review", "draft"]
    assert history[0]["note"] == "bring it back"


@pytest.mark.parametrize(("path", "to"), [([], "retired"), (["review"], "retired")])
def test_illegal_steps_are_conflicts(kb: Knowledge, path: list[str], to: str) -> None:
    a = draft(kb)
    for step in path:
        a = kb.transition(a["id"], step, a["version"], "ana")
    with pytest.raises(ConflictError, match="can go to"):
        kb.transition(a["id"], to, a["version"], "ana")


def test_unknown_status_is_invalid(kb: Knowledge) -> None:
    a = draft(kb)
    with pytest.raises(InvalidInputError, match="unknown status 'gone'"):
        kb.transition(a["id"], "gone", 1, "ana")


def test_every_edit_is_a_new_version_with_its_author_and_a_diff(kb: Knowledge) -> None:
    a = draft(kb, body="Step 1: open SSPR.\nStep 2: answer the questions.")
    b = kb.update(
        a["id"], 1, "bob", body="Step 1: open SSPR.\nStep 2: approve with MFA.", tags=["mfa"]
    )
    assert (b["version"], b["author"], b["tags"]) == (2, "bob", ["mfa"])
    d = kb.diff(a["id"], 1, 2)
    assert "-Step 2: answer the questions." in d["diff"]
    assert "+Step 2: approve with MFA." in d["diff"]
    assert "+Tags: mfa" in d["diff"]
    assert (d["added"], d["removed"]) == (2, 2)
    # Saving the same content again is not a new version.
    assert kb.update(a["id"], 2, "bob", tags=["mfa"])["version"] == 2


def test_two_editors_never_silently_overwrite_each_other(kb: Knowledge) -> None:
    a = draft(kb)
    kb.update(a["id"], 1, "ana", body="Ana's text.")
    with pytest.raises(ConflictError) as e:
        kb.update(a["id"], 1, "bob", body="Bob's text.")
    assert "current version is 2" in str(e.value)
    assert e.value.current is not None and e.value.current["body"] == "Ana's text."
    assert kb.get(a["id"])["body"] == "Ana's text."  # nothing lost
    # A stale lifecycle step conflicts too.
    with pytest.raises(ConflictError):
        kb.transition(a["id"], "review", 1, "bob")


def test_empty_title_or_body_is_refused(kb: Knowledge) -> None:
    with pytest.raises(InvalidInputError, match="title"):
        kb.create("  ", "body", "ana")
    a = draft(kb)
    with pytest.raises(InvalidInputError, match="body is empty"):
        kb.update(a["id"], 1, "ana", body="   ")


def test_a_retired_article_must_be_reopened_before_editing(kb: Knowledge) -> None:
    a = draft(kb)
    a = kb.transition(a["id"], "published", 1, "ana")
    a = kb.transition(a["id"], "retired", 2, "ana")
    with pytest.raises(ConflictError, match="retired"):
        kb.update(a["id"], 3, "ana", body="new")
    # Still readable by editors; not by agents.
    assert kb.get(a["id"])["status"] == "retired"
    with pytest.raises(NotFoundError):
        kb.get(a["id"], published_only=True)


def test_imported_articles_get_a_first_version_before_their_first_edit(kb: Knowledge) -> None:
    with kb.db.session() as s:
        row = Article(
            source="demo",
            external_id="KB-IMP",
            title="Imported",
            body="Old body.",
            status="published",
            tags=[],
            extra={},
            content_hash="x",
        )
        s.add(row)
        s.flush()
        aid = row.id
    kb.update(aid, 1, "ana", body="New body.")
    assert [v["version"] for v in kb.versions(aid)] == [2, 1]
    assert "-Old body." in kb.diff(aid, 1, 2)["diff"]


def test_capture_prefills_a_draft_from_a_resolved_ticket(kb: Knowledge) -> None:
    desk = Desk(kb.db, kb)
    t = desk.open(
        {"title": "Zebra printer prints blank labels", "description": "All labels blank."},
        {"fields": {"category": {"value": "Printing"}}},
        "maria",
    )
    out = desk.resolve_with_answer(t["id"], "Recalibrate: hold FEED for 2 s.", "maria")
    d = out["draft"]
    assert d["status"] == "draft" and d["from_ticket"] == t["id"]
    assert d["title"] == "Zebra printer prints blank labels"
    assert "All labels blank." in d["body"] and "hold FEED for 2 s." in d["body"]
    assert d["category"] == "Printing"
    assert out["article_id"] == d["id"]  # the ticket is linked to its draft


def test_merge_moves_links_and_redirects(kb: Knowledge) -> None:
    desk = Desk(kb.db, kb)
    keep = kb.transition(draft(kb, "Reset password")["id"], "published", 1, "ana")
    dup = kb.transition(draft(kb, "Password reset")["id"], "published", 1, "ana")
    t = desk.open({"title": "forgot password"}, {"fields": {}}, "maria")
    desk.resolve_with_article(t["id"], dup["id"], "maria")
    kb.record("feedback", "maria", dup["id"], t["id"], helpful=True)
    out = kb.merge(dup["id"], keep["id"], "ana")
    assert out["moved_tickets"] == 1
    assert out["merged"]["status"] == "retired" and out["merged"]["redirect_to"] == keep["id"]
    assert desk.get(t["id"])["article_id"] == keep["id"]
    q = kb.get(keep["id"])["quality"]
    assert (q["reuse"], q["helpful"]) == (1, 1)  # the duplicate's history came along
    assert kb.get(dup["id"], published_only=True)["id"] == keep["id"]  # agents are redirected
    with pytest.raises(InvalidInputError):
        kb.merge(keep["id"], keep["id"], "ana")


def test_quality_signals_and_review_due(kb: Knowledge) -> None:
    from datetime import timedelta

    a = kb.transition(draft(kb)["id"], "published", 1, "ana")
    for helpful in (True, True, False):
        kb.record("feedback", "maria", a["id"], helpful=helpful)
    kb.record("view", "maria", a["id"])
    q = kb.get(a["id"])["quality"]
    assert (q["views"], q["helpful"], q["not_helpful"], q["helpful_ratio"]) == (1, 2, 1, 0.667)
    assert q["review_due"] is False
    with kb.db.session() as s:
        s.get(Article, a["id"]).reviewed_at = utcnow() - timedelta(days=31)
    q = kb.get(a["id"])["quality"]
    assert q["review_due"] is True and q["days_since_review"] == 31
