"""The contract every search backend honours (Haystack's pattern: one suite, every backend).

A backend's test module subclasses :class:`BackendContract` and provides a ``make_backend``
fixture returning a factory ``(**search_settings) -> SearchBackend`` on a fresh, empty store.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from indexer.types import Filters, IndexDoc, SearchRequest
from models.encoder import HashingEncoder

ENC = HashingEncoder()

CORPUS = [
    (
        "article:1",
        "article",
        "Reset your password",
        "Use the self-service portal to reset a forgotten password and unlock the account.",
        "Accounts",
        "published",
        "2026-01-10",
    ),
    (
        "article:2",
        "article",
        "Connect to the VPN",
        "Install GlobalProtect, sign in with MFA and "
        "pick the nearest gateway when the VPN will not connect.",
        "VPN",
        "published",
        "2026-02-01",
    ),
    (
        "article:3",
        "article",
        "Printer jams on floor 2",
        "Open tray 2, remove the jammed paper and restart the printer.",
        "Printing",
        "retired",
        "2026-03-05",
    ),
    (
        "ticket:1",
        "ticket",
        "cannot login after password change",
        "I changed my password and now the account is locked out.",
        "Accounts",
        "resolved",
        "2026-04-01",
    ),
    (
        "ticket:2",
        "ticket",
        "vpn keeps disconnecting",
        "The VPN drops every ten minutes at home.",
        "VPN",
        "resolved",
        "2026-05-15",
    ),
    (
        "ticket:3",
        "ticket",
        "outlook calendar meetings not showing",
        "Meetings accepted in Teams do not appear in my Outlook calendar.",
        "Email",
        "resolved",
        "2026-06-20",
    ),
]


def doc(doc_id, kind, title, body, category, status, date) -> IndexDoc:  # noqa: ANN001
    return IndexDoc(
        id=doc_id,
        kind=kind,
        title=title,
        body=body,
        category=category,
        status=status,
        created_at=datetime.fromisoformat(date).replace(tzinfo=UTC),
        title_vector=ENC.encode([title])[0],
        chunk_vectors=ENC.encode([f"{title}\n{body}"]),
    )


def corpus() -> list[IndexDoc]:
    return [doc(*row) for row in CORPUS]


def req(text: str, k: int = 10, mode: str = "hybrid", **filters: object) -> SearchRequest:
    return SearchRequest(
        text=text,
        vector=ENC.encode([text])[0],
        k=k,
        mode=mode,  # type: ignore[arg-type]
        filters=Filters(**filters),  # type: ignore[arg-type]
    )


class BackendContract:
    @pytest.fixture
    def backend(self, make_backend):  # noqa: ANN001, ANN201
        b = make_backend()
        b.upsert(corpus())
        yield b
        b.close()

    def test_count_and_ids(self, backend) -> None:  # noqa: ANN001
        assert backend.count() == len(CORPUS)
        assert backend.ids() == {row[0] for row in CORPUS}
        assert backend.count(Filters(kinds=["article"])) == 3

    def test_upsert_is_idempotent_and_updates(self, backend) -> None:  # noqa: ANN001
        backend.upsert(corpus())
        assert backend.count() == len(CORPUS)
        changed = doc(
            "ticket:2",
            "ticket",
            "wifi drops on floor 3",
            "Wireless network drops.",
            "Network",
            "resolved",
            "2026-05-15",
        )
        backend.upsert([changed])
        assert backend.count() == len(CORPUS)
        top = backend.search(req("wifi drops floor", k=1, mode="lexical"))
        assert top[0].id == "ticket:2" and top[0].category == "Network"
        assert not [
            h
            for h in backend.search(req("vpn disconnecting", mode="lexical"))
            if h.id == "ticket:2"
        ]

    def test_delete(self, backend) -> None:  # noqa: ANN001
        backend.delete(["article:2", "ticket:2"])
        assert backend.count() == len(CORPUS) - 2
        ids = {h.id for h in backend.search(req("vpn connect"))}
        assert "article:2" not in ids and "ticket:2" not in ids

    def test_lexical_ranking_uses_stemming(self, backend) -> None:  # noqa: ANN001
        hits = backend.search(req("disconnects", mode="lexical"))
        assert hits[0].id == "ticket:2"
        assert hits[0].lexical_rank == 1 and hits[0].dense_rank is None

    def test_dense_ranking(self, backend) -> None:  # noqa: ANN001
        hits = backend.search(req("outlook calendar meetings not showing", mode="dense"))
        assert hits[0].id == "ticket:3"
        assert hits[0].dense_rank == 1 and hits[0].lexical_rank is None
        assert hits[0].dense_score == pytest.approx(hits[0].dense_score, abs=1)  # present

    def test_hybrid_reports_both_ranks(self, backend) -> None:  # noqa: ANN001
        hits = backend.search(req("reset forgotten password"))
        assert hits[0].id == "article:1"
        assert hits[0].lexical_rank == 1 and hits[0].dense_rank == 1
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_top_k(self, backend) -> None:  # noqa: ANN001
        assert len(backend.search(req("the password vpn printer outlook", k=2))) == 2

    @pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
    def test_filters(self, backend, mode) -> None:  # noqa: ANN001
        hits = backend.search(req("password vpn", mode=mode, kinds=["ticket"]))
        assert hits and {h.kind for h in hits} == {"ticket"}
        hits = backend.search(req("password vpn", mode=mode, categories=["VPN"]))
        assert hits and {h.category for h in hits} == {"VPN"}
        hits = backend.search(req("password vpn", mode=mode, statuses=["retired"]))
        assert {h.id for h in hits} <= {"article:3"}
        since = datetime(2026, 4, 1, tzinfo=UTC)
        hits = backend.search(req("password vpn outlook", mode=mode, date_from=since))
        assert hits and all(h.id.startswith("ticket:") for h in hits)
        until = datetime(2026, 1, 31, tzinfo=UTC)
        hits = backend.search(req("password vpn", mode=mode, date_to=until))
        assert {h.id for h in hits} <= {"article:1"}
        hits = backend.search(req("vpn", mode=mode, exclude_ids=["ticket:2"]))
        assert "ticket:2" not in {h.id for h in hits}

    def test_highlights_mark_query_terms(self, backend) -> None:  # noqa: ANN001
        hit = backend.search(req("jammed paper", k=1))[0]
        assert hit.id == "article:3"
        marked = [hit.snippet[s:e].lower() for s, e in hit.highlights]
        assert "jammed" in marked and "paper" in marked

    def test_dense_only_hit_has_a_snippet(self, backend) -> None:  # noqa: ANN001
        hits = backend.search(req("zzzunknownword vpn", mode="dense", k=6))
        assert all(h.snippet for h in hits)

    def test_rebuild_swaps_atomically_while_searching(self, backend) -> None:  # noqa: ANN001
        errors: list[BaseException] = []
        seen: list[int] = []
        stop = threading.Event()

        def searcher() -> None:
            while not stop.is_set():
                try:
                    seen.append(len(backend.search(req("password vpn outlook printer"))))
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

        t = threading.Thread(target=searcher)
        t.start()
        try:
            target = backend.begin_rebuild()
            target.upsert(corpus()[:4])
            assert backend.count() == len(CORPUS)  # old index still answers
            target.commit()
        finally:
            stop.set()
            t.join()
        assert not errors
        assert seen and min(seen) > 0
        assert backend.ids() == {row[0] for row in CORPUS[:4]}

    def test_aborted_rebuild_keeps_the_old_index(self, backend) -> None:  # noqa: ANN001
        target = backend.begin_rebuild()
        target.upsert(corpus()[:1])
        target.abort()
        assert backend.count() == len(CORPUS)

    def test_aborted_rebuild_removes_its_half_built_index(self, backend) -> None:  # noqa: ANN001
        before = self.physical_indexes(backend)
        target = backend.begin_rebuild()
        target.upsert(corpus()[:2])
        assert len(self.physical_indexes(backend)) == len(before) + 1  # it exists meanwhile
        target.abort()
        assert self.physical_indexes(backend) == before  # nothing left behind
        assert backend.ids() == {row[0] for row in CORPUS}

    def physical_indexes(self, backend) -> set[str]:  # noqa: ANN001
        """The backend's physical indexes (folders, Elasticsearch indices): per backend."""
        raise NotImplementedError

    def test_hashes_list_every_document_with_its_content_hash(self, backend) -> None:  # noqa: ANN001
        docs = corpus()
        for i, d in enumerate(docs):
            d.content_hash = f"h{i}"
        backend.upsert(docs)
        assert backend.hashes() == {d.id: f"h{i}" for i, d in enumerate(docs)}
        docs[0].content_hash = "changed"
        backend.upsert(docs[:1])
        backend.delete([docs[1].id])
        held = backend.hashes()
        assert held[docs[0].id] == "changed" and docs[1].id not in held
        assert len(held) == len(docs) - 1

    def test_a_date_the_index_cannot_hold_is_not_fatal(self, backend) -> None:  # noqa: ANN001
        from indexer.documents import index_date

        far = index_date(datetime(9999, 12, 31, tzinfo=UTC))
        early = index_date(datetime(1, 1, 1, tzinfo=UTC))
        assert far is None and early is None  # documents carry no date rather than a bad one
        d = doc("ticket:77", "ticket", "placeholder date", "x", None, "resolved", "2026-01-01")
        d.created_at = far
        assert backend.upsert([d]) == []
        assert "ticket:77" in backend.ids()
        hits = backend.search(req("placeholder date", date_from=datetime(2020, 1, 1, tzinfo=UTC)))
        assert "ticket:77" not in [h.id for h in hits]  # no date: outside any date filter

    def test_query_without_lexical_match_still_searches_dense(self, backend) -> None:  # noqa: ANN001
        hits = backend.search(req("zzzqqq xxyyzz", mode="hybrid"))
        assert hits and all(h.lexical_rank is None for h in hits)

    @pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
    def test_a_ticket_without_resolution_is_left_out_of_answered_searches(
        self,
        backend,  # noqa: ANN001
        mode,  # noqa: ANN001
    ) -> None:
        open_ticket = doc(
            "ticket:9",
            "ticket",
            "vpn keeps disconnecting at home",
            "The VPN drops every ten minutes, nobody has looked at it yet.",
            "VPN",
            "resolved",  # an import's default status: only the missing resolution tells
            "2026-05-20",
        )
        open_ticket.answered = False
        backend.upsert([open_ticket])
        assert "ticket:9" in {h.id for h in backend.search(req("vpn disconnecting", mode=mode))}
        hits = backend.search(req("vpn disconnecting", mode=mode, kinds=["ticket"], answered=True))
        assert hits and "ticket:9" not in {h.id for h in hits}
        assert "ticket:2" in {h.id for h in hits}  # the resolved one is still found

    @pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
    def test_every_hit_carries_its_dense_score(self, backend, mode) -> None:  # noqa: ANN001
        hits = backend.search(req("the jammed paper in the printer", mode=mode, k=6))
        assert hits and all(h.dense_score is not None for h in hits)
        assert all(-1.0 <= h.dense_score <= 1.0 for h in hits)

    def test_highlights_never_mark_a_stop_word(self, backend) -> None:  # noqa: ANN001
        from core.text import STOP_WORDS

        hits = backend.search(req("the jammed paper for the printer and the tray", k=6))
        marked = [h.snippet[s:e].lower() for h in hits for s, e in h.highlights]
        assert "jammed" in marked and "paper" in marked
        assert not [w for w in marked if w in STOP_WORDS]

    def test_a_query_of_stop_words_only_highlights_nothing(self, backend) -> None:  # noqa: ANN001
        hits = backend.search(req("the and for to", k=6))
        assert all(h.highlights == [] and h.snippet for h in hits)
