"""The desk's figures come from recorded events: the arithmetic, worked by hand."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConflictError, InvalidInputError
from core.settings import KbSettings, SearchSettings
from core.time import utcnow
from kb.curation import Knowledge
from kb.db import Database
from kb.desk import Desk, queue_key
from kb.insights import Insights
from kb.models import Correction, DeskTicket, SearchLog, TriageRequest

DIM = 8


@pytest.fixture
def env(tmp_path: Path) -> tuple[Knowledge, Desk, Insights]:
    db = Database(f"sqlite:///{tmp_path / 'kb.db'}")
    kb = Knowledge(db)
    return (
        kb,
        Desk(db, kb),
        Insights(
            db,
            KbSettings(gap_min_size=2, problem_min_incidents=5),
            SearchSettings().relevance_floor,
        ),
    )


def vec(axis: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[axis] = 1.0
    v += np.random.default_rng(seed).normal(0, noise, DIM).astype(np.float32)
    return v


def card(*articles: tuple[int, float]) -> dict:
    """A triage card whose suggestions are these (article id, dense score) pairs."""
    return {
        "fields": {"type": {"value": "incident"}},
        "suggested_articles": [
            {"id": f"article:{a}", "why": {"dense_score": score}} for a, score in articles
        ],
    }


def published(kb: Knowledge, title: str) -> int:
    a = kb.create(title, "Body of " + title, "ana")
    return kb.transition(a["id"], "published", 1, "ana")["id"]


def test_deflection_and_kcs_reuse_create(env) -> None:  # noqa: ANN001
    kb, desk, insights = env
    a1, a2 = published(kb, "VPN"), published(kb, "Printer")
    t1 = desk.open({"title": "vpn"}, card((a1, 0.9)), "maria")["id"]
    t2 = desk.open({"title": "printer"}, card((a1, 0.3)), "maria")["id"]
    t3 = desk.open({"title": "new thing"}, card(), "maria")["id"]
    t4 = desk.open({"title": "hard thing"}, card((a2, 0.5)), "maria")["id"]
    desk.open({"title": "still open"}, card(), "maria")
    desk.resolve_with_article(t1, a1, "maria")  # suggested and used: deflected
    desk.resolve_with_article(t2, a2, "maria")  # reuse, but not of a suggestion
    desk.resolve_with_answer(t3, "Did this.", "maria")  # create
    desk.escalate(t4, "maria", "Network")
    desk.resolve_with_article(t4, a2, "sam")  # second line reuses: not first-line deflection
    kb.record("feedback", "maria", a1, t1, helpful=True)
    kb.record("feedback", "maria", a2, t4, helpful=False)
    d = insights.dashboard()
    assert (d["tickets"], d["open"], d["decided"]) == (5, 1, 4)
    assert (d["deflected"], d["deflection_rate"]) == (1, 0.25)
    assert (d["reuse"], d["create"], d["reuse_rate"]) == (3, 1, 0.75)
    assert (d["escalated"], d["helpful"], d["not_helpful"]) == (1, 1, 1)
    assert desk.get(t4)["outcome"] == "escalated"  # the first-line decision is kept


def test_ticket_life_and_illegal_moves(env) -> None:  # noqa: ANN001
    _, desk, _ = env
    t = desk.open(
        {"title": "x"}, {"fields": {}, "sla": {"respond_minutes": 15, "resolve_minutes": 60}}, "m"
    )
    assert t["state"] == "new" and t["sla"]["minutes_left"] in (59, 60)
    assert desk.start(t["id"], "m")["state"] == "in_progress"
    with pytest.raises(ConflictError, match="only from resolved"):
        desk.close(t["id"], "m")
    desk.resolve_with_answer(t["id"], "fixed", "m", capture=False)
    with pytest.raises(ConflictError, match="already resolved"):
        desk.resolve_with_answer(t["id"], "again", "m")
    assert desk.close(t["id"], "m")["state"] == "closed"
    kinds = [e["kind"] for e in desk.get(t["id"])["events"]]
    assert kinds == ["created", "responded", "create", "closed"]


def test_the_working_order_is_priority_then_resolution_due(env) -> None:  # noqa: ANN001
    _, desk, _ = env

    def opened(title: str, priority: str | None, resolve_minutes: int | None) -> int:
        sla = {"respond_minutes": 15, "resolve_minutes": resolve_minutes}
        triage = {"fields": {}, "priority": priority, "sla": sla if resolve_minutes else None}
        return desk.open({"title": title}, triage, "m")["id"]

    p2_late = opened("P2 due in a day", "P2", 24 * 60)
    untriaged = opened("no priority", None, None)
    p1 = opened("P1", "P1", 240)
    p2_soon = opened("P2 due in an hour", "P2", 60)
    p10 = opened("P10 (a desk with ten priorities)", "P10", 60)
    order = [t["id"] for t in desk.list(["new"], order="priority")]
    assert order == [p1, p2_soon, p2_late, p10, untriaged]
    assert [t["id"] for t in desk.list(["new"], limit=2, order="priority")] == [p1, p2_soon]
    with pytest.raises(InvalidInputError, match="unknown order"):
        desk.list(order="oldest")


def test_a_provisional_priority_sorts_as_its_sla_priority() -> None:
    due = "2030-01-01T10:00:00+00:00"
    tickets = [
        {"id": 1, "priority": None, "provisional": None, "sla": {"resolve_by": None}},
        {"id": 2, "priority": "P3", "sla": {"resolve_by": due}},
        {
            "id": 3,
            "priority": None,
            "provisional": {"label": "P2–P3, confirm urgency", "sla_priority": "P2"},
            "sla": {"resolve_by": due},
        },
        {"id": 4, "priority": "P1", "sla": {"resolve_by": due}},
    ]
    assert [t["id"] for t in sorted(tickets, key=queue_key)] == [4, 3, 2, 1]


def test_sla_breach_is_flagged(env) -> None:  # noqa: ANN001
    _, desk, insights = env
    sla = {"respond_minutes": 15, "resolve_minutes": 240}
    late = desk.open({"title": "late"}, {"fields": {}, "priority": "P1", "sla": sla}, "m")["id"]
    fine = desk.open({"title": "fine"}, {"fields": {}, "priority": "P1", "sla": sla}, "m")["id"]
    with desk.db.session() as s:  # opened 20 minutes ago and nobody responded
        t = s.get(DeskTicket, late)
        t.created_at -= timedelta(minutes=20)
        t.respond_by -= timedelta(minutes=20)
        t.resolve_by -= timedelta(minutes=20)
    desk.start(fine, "m")
    got = {t["id"]: t["sla"] for t in desk.list()}
    assert got[late]["response_breached"] and not got[late]["resolution_breached"]
    assert not got[fine]["breached"]
    assert [t["id"] for t in desk.list(breached=True)] == [late]
    d = insights.dashboard()
    assert d["breached_now"] == 1
    assert [(x["key"], x["count"]) for x in d["sla_breaches"]] == [("P1", 1)]
    assert sum(x["count"] for x in d["priorities"] if x["key"] == "P1") == 2


def test_triage_accuracy_and_coverage_from_corrections(env) -> None:  # noqa: ANN001
    _, _, insights = env
    preds = [
        {"type": "incident", "impact": "low", "urgency": None, "category": "VPN",
         "assignment_group": "Network", "tier": "first_line"},
        {"type": "incident", "impact": "high", "urgency": "high", "category": None,
         "assignment_group": None, "tier": "second_line"},
    ]  # fmt: skip
    with insights.db.session() as s:
        rows = [TriageRequest(title="t", description="", prediction=p) for p in preds]
        s.add_all(rows)
        s.flush()
        s.add_all(
            [
                Correction(request_id=rows[0].id, field="impact", old_value="low",
                           new_value="high", author="m"),
                Correction(request_id=rows[1].id, field="urgency", old_value="high",
                           new_value="high", author="m"),  # confirmed, not wrong
                Correction(request_id=rows[1].id, field="category", old_value=None,
                           new_value="Network", author="m"),  # it had abstained
            ]
        )  # fmt: skip
    t = insights.dashboard()["triage"]
    # 12 field slots, 9 answered; 1 of the 9 corrected to another value.
    assert (t["requests"], t["corrections"], t["coverage"]) == (2, 3, 0.75)
    assert t["accuracy"] == round(8 / 9, 4)
    assert t["fields"]["impact"] == {
        "requests": 2, "answered": 2, "corrected": 1, "coverage": 1.0, "accuracy": 0.5,
    }  # fmt: skip
    assert t["fields"]["category"]["coverage"] == 0.5
    assert t["fields"]["category"]["accuracy"] == 1.0


def test_gaps_are_clusters_of_tickets_without_a_good_article(env) -> None:  # noqa: ANN001
    kb, desk, insights = env
    a = published(kb, "Known answer")
    ids = {}
    for i in range(3):  # three alike, weak suggestions: the biggest gap
        ids[f"scanner{i}"] = desk.open(
            {"title": f"RF scanner frozen {i}", "description": "scanner freezes in aisle"},
            card((a, 0.2)), "m", vec(0, 0.05, i),
        )["id"]  # fmt: skip
    for i in range(2):  # two alike with no suggestion at all
        desk.open({"title": f"badge reader {i}"}, card(), "m", vec(1, 0.05, 10 + i))
    desk.open({"title": "lonely"}, card(), "m", vec(2))  # a single ticket is no gap
    desk.open({"title": "answered"}, card((a, 0.9)), "m", vec(0, 0.05, 20))  # good article
    reused = desk.open({"title": "reused"}, card((a, 0.3)), "m", vec(0, 0.05, 21))["id"]
    desk.resolve_with_article(reused, a, "m")  # the agent found the answer: no gap
    with insights.db.session() as s:
        s.add_all(
            [
                SearchLog(query="Zebra  printer", hits=0, top_score=None, actor="m"),
                SearchLog(query="zebra printer", hits=3, top_score=0.31, actor="m"),
                SearchLog(query="vpn", hits=5, top_score=0.92, actor="m"),
            ]
        )
    g = insights.gaps()
    assert [c["size"] for c in g["clusters"]] == [3, 2]
    top = g["clusters"][0]
    assert sorted(top["ticket_ids"]) == sorted(ids.values())
    assert top["best_article_score"] == 0.2
    assert "scanner" in top["label"] and len(top["representatives"]) == 3
    assert g["searches"] == [{"query": "zebra printer", "count": 2}]
    # A draft from the cluster lists the tickets that asked for it.
    tickets = [desk.record(i) for i in top["ticket_ids"]]
    d = kb.draft_from_cluster(tickets, "ana")
    assert d["status"] == "draft" and all(f"#{i}:" in d["body"] for i in top["ticket_ids"])


def test_problem_candidates_are_bursts_of_similar_incidents(env) -> None:  # noqa: ANN001
    _, desk, insights = env
    start = utcnow() - timedelta(hours=5)

    def incident(title: str, minutes: int, v: np.ndarray, service: str | None = None) -> None:
        t = desk.open({"title": title, "service": service}, card(), "m", v)
        with desk.db.session() as s:
            s.get(DeskTicket, t["id"]).created_at = start + timedelta(minutes=minutes)

    for i in range(5):  # five alike within 40 minutes: a problem
        incident(f"SAP login fails {i}", i * 10, vec(3, 0.05, i))
    for i in range(4):  # four alike: below the threshold
        incident(f"Teams audio {i}", 100 + i * 5, vec(4, 0.05, 30 + i))
    for i in range(5):  # five alike but spread over five hours: no burst
        incident(f"Slow laptop {i}", i * 70, vec(5, 0.05, 40 + i))
    for i in range(5):  # unlike texts, same service, within the hour: a problem
        incident(f"thing {i}", 200 + i * 3, vec(i % 3 + 6 if i % 3 + 6 < DIM else 0), "Webshop")
    found = insights.problems()
    assert sorted(p["size"] for p in found) == [5, 5]
    sap = next(p for p in found if "sap" in p["label"])
    assert [i["title"] for i in sap["incidents"]] == [f"SAP login fails {i}" for i in range(5)]
    assert next(p for p in found if p["service"] == "Webshop")["size"] == 5
    assert insights.problems(min_incidents=4, window_minutes=60)  # the Teams burst now counts
    assert len(insights.problems(min_incidents=4)) == 3


def test_one_window_for_deflection(env) -> None:  # noqa: ANN001
    """A ticket opened before the window but resolved in it counts nowhere: the rate is over
    tickets opened in the window, and never above 1."""
    kb, desk, insights = env
    a = published(kb, "VPN")
    old = desk.open({"title": "old vpn"}, card((a, 0.9)), "m")["id"]
    with desk.db.session() as s:
        s.get(DeskTicket, old).created_at = utcnow() - timedelta(days=40)
    new = desk.open({"title": "new"}, card(), "m")["id"]
    desk.escalate(new, "m")
    desk.resolve_with_article(old, a, "m")  # today, but the ticket is from 40 days ago
    d = insights.dashboard(days=30)
    assert (d["decided"], d["deflected"], d["deflection_rate"]) == (1, 0, 0.0)
    assert (d["reuse"], d["create"]) == (0, 0)
    assert insights.dashboard(days=60)["deflection_rate"] == 0.5


def test_a_stale_move_of_a_desk_ticket_is_a_conflict_on_sqlite(env) -> None:  # noqa: ANN001
    """Agent B read the ticket, agent A resolved it meanwhile: B's write is refused."""
    kb, desk, _ = env
    a = published(kb, "VPN")
    tid = desk.open({"title": "vpn"}, card((a, 0.9)), "m")["id"]
    with pytest.raises(ConflictError, match="someone else"):
        with desk.db.session() as s:
            stale = s.get(DeskTicket, tid)  # B reads ...
            desk.resolve_with_article(tid, a, "agent-a")  # ... A commits ...
            stale.state = "escalated"  # ... B writes what it read
    t = desk.get(tid)
    assert (t["state"], t["outcome"]) == ("resolved", "reuse")


def test_breached_filter_looks_past_the_newest_tickets(env) -> None:  # noqa: ANN001
    _, desk, _ = env
    sla = {"respond_minutes": 1, "resolve_minutes": 2}
    late = desk.open({"title": "late"}, {"fields": {}, "sla": sla}, "m")["id"]
    with desk.db.session() as s:
        t = s.get(DeskTicket, late)
        t.respond_by -= timedelta(hours=1)
        t.resolve_by -= timedelta(hours=1)
    for i in range(3):
        desk.open({"title": f"fresh {i}"}, {"fields": {}}, "m")
    assert [t["id"] for t in desk.list(limit=2, breached=True)] == [late]
    with pytest.raises(InvalidInputError, match="unknown field"):
        desk.set_fields(late, {"colour": "red"}, "m")


@pytest.mark.parametrize("floor", [0.35, 0.6])
def test_a_gap_is_what_the_desk_did_not_offer_as_an_answer(tmp_path: Path, floor: float) -> None:
    """One definition: a ticket or search whose best article stays under the relevance floor
    (what the desk drops from its suggestions) is a gap; one at the floor is not."""
    db = Database(f"sqlite:///{tmp_path / 'kb.db'}")
    kb = Knowledge(db)
    desk = Desk(db, kb)
    insights = Insights(db, KbSettings(gap_min_size=2), relevance_floor=floor)
    a = published(kb, "Known answer")
    below, at = round(floor - 0.01, 2), floor
    for i in range(2):
        desk.open({"title": f"weak {i}"}, card((a, below)), "m", vec(0, 0.05, i))
        desk.open({"title": f"strong {i}"}, card((a, at)), "m", vec(1, 0.05, 10 + i))
    with insights.db.session() as s:
        s.add_all(
            [
                SearchLog(query="weak search", hits=2, top_score=below, actor="m"),
                SearchLog(query="strong search", hits=2, top_score=at, actor="m"),
            ]
        )
    g = insights.gaps()
    assert [c["representatives"][0]["title"][:4] for c in g["clusters"]] == ["weak"]
    assert g["searches"] == [{"query": "weak search", "count": 1}]
