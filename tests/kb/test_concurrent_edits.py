"""Failure 13 of issue #11: concurrent edits of one article are the same conflict on SQLite and
PostgreSQL — a 409 carrying the article as it is now, never the driver's text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from core.errors import ConflictError
from kb.curation import Knowledge
from kb.db import Database
from kb.models import Article, ArticleVersion

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
