"""The Elasticsearch backend runs the same contract, plus what is specific to it.

Without ES_URL these tests run against the noida-db emulator of the Elasticsearch 8.15 REST API,
started by the session fixture ``es_url``; with ES_URL they run against that cluster.
"""

from __future__ import annotations

import pytest

from core.errors import BackendUnavailableError, InvalidInputError
from core.settings import SearchSettings
from indexer.backends.elastic import ElasticsearchBackend, _unmark
from indexer.types import Filters
from tests.conftest import es_settings
from tests.indexer.contract import ENC, BackendContract, corpus, req

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def make_backend(es_url: str):  # noqa: ANN201
    made: list[ElasticsearchBackend] = []

    def make(**settings: object) -> ElasticsearchBackend:
        b = ElasticsearchBackend(es_settings(es_url), SearchSettings(**settings), dim=ENC.dim)
        made.append(b)
        return b

    yield make
    for b in made:
        try:
            b.drop()
        finally:
            b.close()


class TestElasticsearchContract(BackendContract):
    def physical_indexes(self, backend) -> set[str]:  # noqa: ANN001
        # Every index named after the alias, whether the alias points at it or not.
        found = backend.client.indices.get(index=f"{backend.alias}-*", allow_no_indices=True)
        return set(found.body if hasattr(found, "body") else found)


def test_alias_points_at_one_versioned_index(make_backend) -> None:  # noqa: ANN001
    b = make_backend()
    b.upsert(corpus())
    before = b.describe()["indices"]
    assert len(before) == 1 and before[0].startswith(f"{b.alias}-v")
    target = b.begin_rebuild()
    target.upsert(corpus())
    target.commit()
    after = b.describe()["indices"]
    assert len(after) == 1 and after != before
    assert not b.client.indices.exists(index=before[0])


def test_rejected_document_is_reported_and_the_rest_written(make_backend) -> None:  # noqa: ANN001
    b = make_backend()
    docs = corpus()
    docs[1].title_vector = docs[1].title_vector * 0  # cosine is undefined for a zero vector
    failures = b.upsert(docs)
    assert [f.id for f in failures] == [docs[1].id]
    assert b.count() == len(docs) - 1


def test_unreachable_cluster_is_backend_unavailable() -> None:
    from core.settings import ElasticsearchSettings

    b = ElasticsearchBackend(
        ElasticsearchSettings(urls=["http://127.0.0.1:1"], request_timeout=1, max_retries=0),
        SearchSettings(),
        dim=ENC.dim,
    )
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        b.count()
    with pytest.raises(BackendUnavailableError):
        b.upsert(corpus())


def test_model_change_asks_for_reindex(make_backend, es_url) -> None:  # noqa: ANN001
    b = make_backend()
    b.upsert(corpus())
    other = ElasticsearchBackend(b.es, SearchSettings(), dim=ENC.dim + 1)
    with pytest.raises(InvalidInputError, match="reindex"):
        other.count()


def test_exact_dense_scores_match_the_embedded_formula(make_backend) -> None:  # noqa: ANN001
    import numpy as np

    b = make_backend()
    docs = corpus()
    b.upsert(docs)
    for mode in ("hybrid", "lexical", "dense"):
        q = req("outlook calendar password", mode=mode)
        hits = b.search(q)
        assert hits
        for h in hits:
            d = next(d for d in docs if d.id == h.id)
            expected = 0.3 * float(d.title_vector @ q.vector) + 0.7 * float(
                np.max(d.chunk_vectors @ q.vector)
            )
            assert h.dense_score == pytest.approx(expected, abs=1e-4)


def test_rrf_option_ranks_with_the_clusters_retriever(make_backend, es_url) -> None:  # noqa: ANN001
    b = make_backend()
    b.upsert(corpus())
    b.es = b.es.model_copy(update={"fusion": "rrf"})
    hits = b.search(req("reset forgotten password", k=3))
    assert hits[0].id == "article:1"
    assert hits[0].lexical_rank == 1 and hits[0].dense_rank is not None


def test_filters_apply_inside_knn(make_backend) -> None:  # noqa: ANN001
    b = make_backend()
    b.upsert(corpus())
    hits = b.search(req("password", mode="dense", k=10, kinds=["article"]))
    assert len(hits) == 3 and {h.kind for h in hits} == {"article"}
    assert b.count(Filters(kinds=["article"], categories=["VPN"])) == 1


def test_highlight_markers_are_turned_into_ranges() -> None:
    text, ranges = _unmark("open \ue000tray\ue001 2 and \ue000paper\ue001")
    assert text == "open tray 2 and paper"
    assert [text[s:e] for s, e in ranges] == ["tray", "paper"]


def test_an_index_made_before_content_hashes_gains_the_field(make_backend) -> None:  # noqa: ANN001
    from indexer.backends.elastic import mapping

    b = make_backend()
    old = mapping(ENC.dim)
    del old["properties"]["content_hash"]  # as version 0.1 created it (dynamic: strict)
    name = b._new_index_name()
    b.client.indices.create(index=name, mappings=old)
    b.client.indices.put_alias(index=name, name=b.alias)
    docs = corpus()
    docs[0].content_hash = "h0"
    assert b.upsert(docs) == []  # not refused for an unknown field
    held = b.hashes()
    assert held[docs[0].id] == "h0" and len(held) == len(docs)


def test_a_rebuild_killed_before_abort_leaves_no_orphan_after_the_next(make_backend) -> None:  # noqa: ANN001
    b = make_backend()
    b.upsert(corpus())
    killed = b.begin_rebuild()  # the process dies here: no abort, no commit
    killed.upsert(corpus()[:2])
    target = b.begin_rebuild()
    target.upsert(corpus())
    target.commit()
    found = b.client.indices.get(index=f"{b.alias}-*")
    assert set(found.body if hasattr(found, "body") else found) == set(b.describe()["indices"])
    assert len(b.describe()["indices"]) == 1
