"""Failure 13 of issue #11: concurrent edits of one article (and concurrent moves of one desk
ticket) are the same conflict on SQLite and PostgreSQL — a 409 carrying the record as it is
now, never the driver's text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from core.errors import ConflictError
from kb.curation import Knowledge
from kb.db import Database
from kb.desk import Desk
from kb.models import Article, ArticleVersion, DeskTicket, Event

EDITORS = 20
TITLE = "Race: reset a password"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    yield database
    # The PostgreSQL database is shared by the session's tests: leave it as it was found.
    with database.session() as s:
        ids = list(s.scalars(select(Article.id).where(Article.title == TITLE)))
        s.execute(delete(ArticleVersion).where(ArticleVersion.article_id.in_(ids)))
        s.execute(delete(Article).where(Article.id.in_(ids)))
        desk = list(s.scalars(select(DeskTicket.id).where(DeskTicket.title == TITLE)))
        s.execute(delete(Event).where(Event.ticket_id.in_(desk)))
        s.execute(delete(DeskTicket).where(DeskTicket.id.in_(desk)))
    database.close()


@pytest.mark.parametrize("action", ["edit", "publish"])
def test_twenty_editors_on_one_version_one_wins_every_other_gets_the_current_article(
    db: Database, action: str
) -> None:
    kb = Knowledge(db)
    a = kb.create(TITLE, "version one", "ana")
    barrier = threading.Barrier(EDITORS)
    results: dict[str, object] = {}

    def save(who: str) -> None:
        barrier.wait()
        try:
            if action == "edit":
                results[who] = kb.update(a["id"], 1, who, body=f"{who}'s text")
            else:
                results[who] = kb.transition(a["id"], "published", 1, who, note=who)
        except ConflictError as e:
            results[who] = e
        except Exception as e:  # noqa: BLE001 - anything else is the failure under test
            results[who] = e

    threads = [threading.Thread(target=save, args=(f"editor{i}",)) for i in range(EDITORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    wins = {w: r for w, r in results.items() if isinstance(r, dict)}
    lost = {w: r for w, r in results.items() if isinstance(r, ConflictError)}
    assert len(results) == EDITORS
    assert len(wins) == 1, results
    assert len(lost) == EDITORS - 1, {w: repr(r) for w, r in results.items() if w not in wins}
    (winner,) = wins
    now = kb.get(a["id"])
    assert now["version"] == 2
    if action == "edit":
        assert now["body"] == f"{winner}'s text"  # no lost update
    else:
        assert now["status"] == "published"
    for e in lost.values():
        assert e.current is not None, str(e)
        assert e.current["version"] == 2 and e.current["id"] == a["id"]
        assert "UNIQUE" not in str(e) and "duplicate key" not in str(e)
    assert [v["version"] for v in kb.versions(a["id"])] == [2, 1]


@pytest.mark.parametrize("move", ["start", "resolve"])
def test_twenty_agents_moving_one_desk_ticket_one_wins_every_other_gets_the_current_ticket(
    db: Database, move: str
) -> None:
    kb = Knowledge(db)
    desk = Desk(db, kb)
    t = desk.open({"title": TITLE, "description": "It expired."}, {}, "maria")
    barrier = threading.Barrier(EDITORS)
    results: dict[str, object] = {}

    def act(who: str) -> None:
        barrier.wait()
        try:
            if move == "start":
                results[who] = desk.start(t["id"], who)
            else:  # KCS create: each racer would capture a draft
                results[who] = desk.resolve_with_answer(t["id"], f"{who}'s fix", who)
        except Exception as e:  # noqa: BLE001 - anything but a conflict is the failure
            results[who] = e

    threads = [threading.Thread(target=act, args=(f"agent{i}",)) for i in range(EDITORS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    wins = {w: r for w, r in results.items() if isinstance(r, dict)}
    lost = {w: r for w, r in results.items() if isinstance(r, ConflictError)}
    assert len(wins) == 1, results
    assert len(lost) == EDITORS - 1, {w: repr(r) for w, r in results.items() if w not in wins}
    state = "in_progress" if move == "start" else "resolved"
    assert desk.get(t["id"])["state"] == state
    for e in lost.values():
        assert e.current is not None and e.current["state"] == state, str(e)
    if move == "resolve":  # the losers' drafts were not kept
        (winner,) = wins
        drafts = [a for a in kb.list(["draft"]) if a["from_ticket"] == t["id"]]
        assert [a["author"] for a in drafts] == [winner]
