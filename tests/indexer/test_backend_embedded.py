"""The embedded backend runs the contract, plus what is specific to it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidInputError
from core.settings import SearchSettings
from indexer.backends.embedded import EmbeddedBackend
from indexer.types import Filters, IndexDoc
from tests.indexer.contract import ENC, BackendContract, corpus, req


@pytest.fixture
def make_backend(tmp_path: Path):  # noqa: ANN201
    def make(**settings: object) -> EmbeddedBackend:
        return EmbeddedBackend(tmp_path / "index", dim=ENC.dim, settings=SearchSettings(**settings))

    return make


def _version_folders(backend: EmbeddedBackend) -> set[str]:
    return {p.name for p in backend.index_dir.glob("v*") if p.is_dir()}


class TestEmbeddedContract(BackendContract):
    def physical_indexes(self, backend) -> set[str]:  # noqa: ANN001
        return _version_folders(backend)


class _GraphAfterEachWrite(EmbeddedBackend):
    """Brings the HNSW graph up to date before a write returns (a server does it a moment
    later, in the background), so every search of the contract goes through the graph."""

    def upsert(self, docs):  # noqa: ANN001, ANN201
        failures = super().upsert(docs)
        self.maintain(wait=True)
        return failures

    def delete(self, ids) -> None:  # noqa: ANN001
        super().delete(ids)
        self.maintain(wait=True)


class TestEmbeddedWithHNSW(BackendContract):
    """The same contract with the FAISS HNSW path forced on (threshold 0)."""

    def physical_indexes(self, backend) -> set[str]:  # noqa: ANN001
        return _version_folders(backend)

    @pytest.fixture
    def make_backend(self, tmp_path: Path):  # noqa: ANN201
        def make(**settings: object) -> EmbeddedBackend:
            return _GraphAfterEachWrite(
                tmp_path / "index",
                dim=ENC.dim,
                settings=SearchSettings(ann_threshold=0, **settings),
            )

        return make


def test_index_persists_across_processes(make_backend) -> None:  # noqa: ANN001
    first = make_backend()
    first.upsert(corpus())
    first.close()
    second = make_backend()
    assert second.count() == len(corpus())
    assert second.search(req("reset forgotten password", k=1))[0].id == "article:1"


def test_a_second_handle_sees_writes_of_the_first(make_backend) -> None:  # noqa: ANN001
    writer, reader = make_backend(), make_backend()
    writer.upsert(corpus()[:2])
    assert reader.count() == 2
    writer.upsert(corpus()[2:])
    assert reader.count() == len(corpus())
    assert reader.search(req("outlook calendar", k=1))[0].id == "ticket:3"


def test_rebuild_seen_by_another_handle(make_backend) -> None:  # noqa: ANN001
    a, b = make_backend(), make_backend()
    a.upsert(corpus())
    assert b.count() == 6
    target = a.begin_rebuild()
    target.upsert(corpus()[:3])
    target.commit()
    assert b.count() == 3


def test_wrong_vector_size_is_refused(make_backend) -> None:  # noqa: ANN001
    b = make_backend()
    bad = IndexDoc(
        id="ticket:1",
        kind="ticket",
        title="t",
        body="b",
        title_vector=np.ones(7, np.float32),
        chunk_vectors=np.ones((1, 7), np.float32),
    )
    with pytest.raises(ValueError, match="dims"):
        b.upsert([bad])
    assert b.count() == 0


def test_model_change_asks_for_reindex(make_backend, tmp_path: Path) -> None:  # noqa: ANN001
    make_backend().upsert(corpus())
    other = EmbeddedBackend(tmp_path / "index", dim=768, settings=SearchSettings())
    with pytest.raises(InvalidInputError, match="reindex"):
        other.count()


def test_hnsw_agrees_with_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    docs = [
        IndexDoc(
            id=f"ticket:{i}",
            kind="ticket",
            title=f"t{i}",
            body="b",
            title_vector=v,
            chunk_vectors=v.reshape(1, -1),
            category="A" if i % 2 else "B",
        )
        for i, v in enumerate(vecs)
    ]
    exact = EmbeddedBackend(tmp_path / "e", dim=32, settings=SearchSettings(ann_threshold=10**9))
    ann = EmbeddedBackend(tmp_path / "a", dim=32, settings=SearchSettings(ann_threshold=100))
    exact.upsert(docs)
    ann.upsert(docs)
    ann.maintain(wait=True)  # what the writer's background thread does a moment later
    assert ann.describe()["ann"]["graph"]["vectors"] == len(docs)
    recall = []
    for q in vecs[:50] + 0.1 * rng.normal(size=(50, 32)).astype(np.float32):
        q /= np.linalg.norm(q)
        e = {i for i, _ in exact.version.vectors.search(q, 10, None)}
        a = {i for i, _ in ann.version.vectors.search(q, 10, None)}
        recall.append(len(e & a) / 10)
    assert np.mean(recall) >= 0.95
    # filters and rows added after the graph was built are honoured
    extra = IndexDoc(
        id="ticket:99999",
        kind="ticket",
        title="n",
        body="b",
        title_vector=vecs[0],
        chunk_vectors=vecs[:1],
        category="C",
    )
    ann.upsert([extra])
    got = ann.version.vectors.search(vecs[0], 3, Filters(categories=["C"]))
    assert [i for i, _ in got] == ["ticket:99999"]
    assert ann.describe()["dense_search"] == "faiss-hnsw"


def test_malformed_id_is_refused_before_anything_is_written(make_backend) -> None:  # noqa: ANN001
    b = make_backend()
    good = corpus()[0]
    bad = corpus()[1]
    bad.id = "article-2"
    with pytest.raises(ValueError, match="not of the form"):
        b.upsert([good, bad])
    assert b.count() == 0 and b.ids() == set()


def test_an_index_made_before_the_answered_field_still_opens_and_searches(
    make_backend,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An upgrade keeps answering from the old index until `firstline reindex` rebuilds it:
    its documents pass an answered search (the service then checks the record)."""
    import sqlite3

    from indexer.backends import text

    legacy = text._schema(answered=False)
    monkeypatch.setattr(text, "_schema", lambda answered=True: legacy)
    old = make_backend()
    old.upsert(corpus())
    path = old.version.path / "vectors.sqlite"
    old.close()
    with sqlite3.connect(path) as conn:  # as the store was before the column existed
        conn.execute("ALTER TABLE vectors DROP COLUMN answered")
    monkeypatch.undo()
    b = make_backend()
    assert not b.version.text.knows_answered
    for mode in ("hybrid", "lexical", "dense"):
        hits = b.search(req("vpn disconnecting", mode=mode, kinds=["ticket"], answered=True))
        assert "ticket:2" in {h.id for h in hits}
    target = b.begin_rebuild()
    target.upsert(corpus())
    target.commit()
    assert b.version.text.knows_answered


def _unit_docs(ids: range, seed: int) -> list[IndexDoc]:
    vecs = np.random.default_rng(seed).normal(size=(len(ids), 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return [
        IndexDoc(
            id=f"ticket:{i}",
            kind="ticket",
            title=f"t{i}",
            body="b",
            title_vector=v,
            chunk_vectors=v.reshape(1, -1),
        )
        for i, v in zip(ids, vecs, strict=True)
    ]


def test_the_writer_extends_the_graph_and_rebuilds_it_once_changes_pass_a_fifth(
    tmp_path: Path,
) -> None:
    from indexer.backends import ann

    def make() -> EmbeddedBackend:
        return EmbeddedBackend(tmp_path / "i", dim=32, settings=SearchSettings(ann_threshold=100))

    writer, reader = make(), make()

    def step() -> dict:
        writer.maintain(wait=True)
        return ann.read_manifest(writer.version.path) or {}

    def agrees_with_exact(q: np.ndarray) -> list[str]:
        store = reader.version.vectors
        got = store.search(q, 5, None)
        store.ann_threshold = 10**9
        exact = store.search(q, 5, None)
        store.ann_threshold = 100
        assert [i for i, _ in got] == [i for i, _ in exact]
        return [i for i, _ in got]

    writer.upsert(_unit_docs(range(300), 1))
    assert step()["vectors"] == 300  # built
    writer.upsert(_unit_docs(range(300, 320), 2))
    assert step()["vectors"] == 320  # extended by the new documents
    replaced = _unit_docs(range(20), 3)
    writer.upsert(replaced)
    # Extended again: the 20 old vectors stay in the graph (HNSW cannot remove them), skipped.
    assert step()["vectors"] == 340
    searches = dict(ann.STATS)
    deadline = 200
    while (reader.describe()["ann"]["graph"] or {}).get("vectors") != 340:
        agrees_with_exact(replaced[0].title_vector)  # answers while the graph loads
        deadline -= 1
        assert deadline, "the reader never loaded the graph"
        threading.Event().wait(0.05)
    assert agrees_with_exact(replaced[0].title_vector)[0] == "ticket:0"
    old_vector = _unit_docs(range(300), 1)[0].title_vector
    assert "ticket:0" not in agrees_with_exact(old_vector)[:1]
    writer.delete([f"ticket:{i}" for i in range(100, 140)])
    # 20 replaced + 40 deleted + 40 added since the build of 300: more than a fifth of it,
    # rebuilt in one piece from the live documents.
    assert step()["vectors"] == 280
    # Only the writer's maintenance built or extended graphs; the reader's searches loaded.
    assert ann.STATS["builds"] - searches["builds"] == 1
    assert ann.STATS["extends"] == searches["extends"]
    for d in _unit_docs(range(300), 1)[160:170]:  # the documents the deletions left
        assert agrees_with_exact(d.title_vector)[0] == d.id
