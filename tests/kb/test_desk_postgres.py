"""The desk and curation on a real PostgreSQL server (the production SQL path)."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConflictError
from core.settings import KbSettings, SearchSettings
from kb.auth import Audit, Keys
from kb.curation import Knowledge
from kb.db import Database
from kb.desk import Desk
from kb.insights import Insights

pytestmark = pytest.mark.postgres


def test_desk_curation_keys_and_figures_on_postgresql(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        kb, insights = Knowledge(db), Insights(db, KbSettings(), SearchSettings().relevance_floor)
        desk = Desk(db, kb)
        before = insights.dashboard()
        a = kb.create("PG: reset a password", "Use SSPR.", "ana", "Accounts", ["password"])
        kb.update(a["id"], 1, "ana", body="Use SSPR with MFA.")
        with pytest.raises(ConflictError):
            kb.update(a["id"], 1, "bob", body="Bob's")
        a = kb.transition(a["id"], "published", 2, "ana")
        assert "+Use SSPR with MFA." in kb.diff(a["id"], 1, 2)["diff"]
        card = {
            "fields": {"type": {"value": "incident"}},
            "priority": "P3",
            "sla": {"respond_minutes": 240, "resolve_minutes": 4320},
            "suggested_articles": [{"id": f"article:{a['id']}", "why": {"dense_score": 0.8}}],
        }
        t = desk.open({"title": "PG: password expired", "vip": True}, card, "maria", np.ones(4))
        assert t["vip"] is True and t["sla"]["resolve_by"]
        desk.resolve_with_article(t["id"], a["id"], "maria")
        kb.record("feedback", "maria", a["id"], t["id"], helpful=True)
        after = insights.dashboard()
        assert after["reuse"] == before["reuse"] + 1
        assert after["deflected"] == before["deflected"] + 1
        assert kb.get(a["id"])["quality"]["helpful"] == 1
        record, key = Keys(db).create("pg-user", "editor")
        who = Keys(db).lookup(key)
        assert who is not None and who.role == "editor"
        Audit(db).write(who, "kb.edit", a["ref"], {"body": "x"}, {"body": "y"})
        assert Audit(db).list(actor="pg-user")[0]["after"] == {"body": "y"}
    finally:
        db.close()


def test_two_editors_saving_at_once_on_postgresql_one_conflicts(postgres_url: str) -> None:
    """Both read version 1 and save at the same moment: one wins, the other gets a conflict."""
    import threading

    db = Database(postgres_url)
    try:
        kb = Knowledge(db)
        a = kb.create("PG: race", "v1", "ana")
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def save(who: str) -> None:
            barrier.wait()
            try:
                results[who] = kb.update(a["id"], 1, who, body=f"{who}'s text")["version"]
            except ConflictError as e:
                results[who] = e

        threads = [threading.Thread(target=save, args=(w,)) for w in ("ana", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        wins = [w for w, r in results.items() if r == 2]
        lost = [w for w, r in results.items() if isinstance(r, ConflictError)]
        assert len(wins) == 1 and len(lost) == 1, results
        assert kb.get(a["id"])["body"] == f"{wins[0]}'s text"
        assert [v["version"] for v in kb.versions(a["id"])] == [2, 1]
    finally:
        db.close()
