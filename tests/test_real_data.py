"""End-to-end on real public data from ../shared/data (skips cleanly where it is absent).

The retrieval evaluations use the real encoder (all-MiniLM-L6-v2) through the production
ingestion and search path; their floors sit just under the figures reported in the README, so a
regression in retrieval quality fails CI.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from bench.make_seamonkey import build as build_seamonkey
from core.settings import Settings
from indexer.evaluation import evaluate_retrieval
from indexer.service import Firstline
from indexer.types import Filters
from models.encoder import get_encoder
from tests.conftest import DEMO
from triage.service import Triager, request_text


@pytest.fixture(scope="module", autouse=True)
def _each_text_encoded_once() -> Iterator[None]:
    """The process's real encoder remembers its vectors for this module: the parity test
    indexes the same StackFAQ documents twice (embedded, then Elasticsearch) and would encode
    them a second and third time.  The vectors are the encoder's own, so no figure changes."""
    m = Settings().model
    encoder = get_encoder(m.kind, m.path, m.batch_size, m.device, m.max_seq_length, m.onnx)
    plain = encoder.encode
    memo: dict[str, np.ndarray] = {}

    def encode(texts: Sequence[str], progress=None) -> np.ndarray:  # noqa: ANN001
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, plain(missing, progress), strict=True))
        if not texts:
            return plain(texts)
        return np.stack([memo[t] for t in texts])

    encoder.encode = encode  # type: ignore[method-assign]
    try:
        yield
    finally:
        del encoder.encode  # the class's method again


def _subset(src: Path, dest: Path, n: int, word: str) -> int:
    """A subset of a CSV export, header kept: every ticket that mentions ``word`` (what the
    query looks for) among every ``n``-th of the others (the distractors); its row count."""
    with gzip.open(src, "rt", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    keep = [r for i, r in enumerate(rows) if word in " ".join(r).lower() or i % n == 0]
    with gzip.open(dest, "wt", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *keep])
    return len(keep)


@pytest.mark.slow
def test_itsm_export_ingests_idempotently_and_is_searchable(shared_data: Path, tmp_path: Path):
    """A twentieth of the real export, for the suite's time: the 27 calendar tickets among
    every 20th of the others, two import batches (the whole export is ingested by
    bench/run.py)."""
    export = tmp_path / "tickets.csv.gz"
    n = _subset(shared_data / "itsm_assignment" / "tickets.csv.gz", export, 20, "calendar")
    assert n == 365
    svc = Firstline(Settings(data_dir=tmp_path))
    try:
        first = svc.ingest_file(export)
        assert first.rows == n and first.added + len(first.skipped) == n
        again = svc.ingest_file(export)
        assert again.added == 0 and again.updated == 0
        assert svc.counts()["tickets"] == first.added
        assert svc.backend.count() == first.added
        hits = svc.search("outlook calendar meetings not showing", k=5)
        assert sum("calendar" in (h["title"] + h["snippet"]).lower() for h in hits) >= 3
        assert all(h["snippet"] for h in hits)
    finally:
        svc.close()


@pytest.mark.slow
def test_stackfaq_retrieval_with_the_real_model(shared_data: Path, tmp_path: Path) -> None:
    faq = shared_data / "stackfaq"
    run = tmp_path / "run.jsonl"
    result = evaluate_retrieval(
        faq / "docs.jsonl", faq / "queries_dev_pairs.jsonl", Settings(data_dir=tmp_path), run
    )
    assert result["queries"] == 625
    assert result["map"] >= 0.955  # README: 0.961; plain dense 0.930, BM25 0.580
    lines = run.read_text().splitlines()
    assert len(lines) == 625 and len(json.loads(lines[0])["ranking"]) == 100


def _with_every_nth_distractor(docs: Path, queries: Path, n: int) -> int:
    """Keep the bugs the queries name (relevant or excluded) and every ``n``-th other bug of
    ``docs`` (rewritten in place); the number kept."""
    needed = set()
    for line in queries.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        needed.update(q["relevant"], q["exclude"])
    lines = docs.read_text(encoding="utf-8").splitlines()
    keep = [x for i, x in enumerate(lines) if i % n == 0 or json.loads(x)["id"] in needed]
    docs.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
    return len(keep)


@pytest.mark.slow
def test_seamonkey_duplicates_with_the_real_model(shared_data: Path, tmp_path: Path) -> None:
    """Every query, with its duplicate among a third of the other bugs, for the suite's time:
    Recall@10 is the same 0.891 (41 of 46) as on all 1,076 bugs in the README (measured on
    both; MAP, not asserted here, is higher on the subset)."""
    sm = tmp_path / "sm"
    docs, queries = build_seamonkey(shared_data / "gitbugs_seamonkey", sm)
    assert (docs, queries) == (1076, 46)
    assert _with_every_nth_distractor(sm / "docs.jsonl", sm / "queries.jsonl", 3) == 406
    result = evaluate_retrieval(
        sm / "docs.jsonl", sm / "queries.jsonl", Settings(data_dir=tmp_path)
    )
    assert result["recall_at_10"] >= 0.87  # README: 0.891; plain dense 0.87, BM25 0.78


@pytest.mark.slow
@pytest.mark.elasticsearch
def test_elasticsearch_ranks_like_the_embedded_backend(
    shared_data: Path, tmp_path: Path, es_url: str
) -> None:
    """Parity: same encoder, same fusion -> the same MAP within 0.02 (a subset, for CI time)."""
    faq = shared_data / "stackfaq"
    queries = tmp_path / "queries.jsonl"
    lines = (faq / "queries_dev_pairs.jsonl").read_text().splitlines()
    queries.write_text("\n".join(lines[::8]) + "\n")  # every 8th query: 79 of 625
    embedded = evaluate_retrieval(faq / "docs.jsonl", queries, Settings(data_dir=tmp_path / "e"))
    settings = Settings(data_dir=tmp_path / "es")
    settings.search.backend = "elasticsearch"
    settings.elasticsearch.urls = [es_url]
    elastic = evaluate_retrieval(faq / "docs.jsonl", queries, settings)
    assert elastic["queries"] == embedded["queries"] == 79
    assert abs(elastic["map"] - embedded["map"]) <= 0.02
    assert elastic["map"] >= 0.9


@pytest.mark.slow
def test_the_desk_offers_only_answers_that_fit_with_the_real_model(tmp_path: Path) -> None:
    """Issue 12: a floor-wide outage was offered Teams phone, WMS scanner and VPN articles, each
    with "Resolve with this".  With the default relevance floor on the real model it is offered
    the outage checklist alone, and a request the KB knows nothing of is offered nothing."""
    settings = Settings(data_dir=tmp_path)
    svc = Firstline(settings)
    try:
        svc.ingest_file(DEMO / "articles.jsonl", kind="article")
        svc.ingest_file(DEMO / "tickets.jsonl", kind="ticket")
        triager = Triager(settings, svc)

        def card(title: str, description: str) -> tuple[dict, str]:
            text = request_text(title, description)
            return triager.suggestions(text, 5, svc.encoder.encode([text])[0])

        found, status = card(
            "Network down on the whole floor",
            "The network is down for the whole 3rd floor, nobody can work.",
        )
        assert status == "ok"
        assert [h["title"] for h in found["suggested_articles"]] == [
            "Floor-wide Wi-Fi or wired network outage: triage checklist"
        ]
        assert found["similar_tickets"]
        assert all(h["resolution"] and h["match"] == "strong" for h in found["similar_tickets"])

        found, status = card("Quarterly revenue forecast", "The spreadsheet macro breaks.")
        assert found == {"suggested_articles": [], "similar_tickets": []}
        assert status == "no_match"

        hits = svc.search("wifi down for the entire floor", k=5, filters=Filters(kinds=["article"]))
        assert [h["match"] for h in hits] == ["strong"] + ["weak"] * (len(hits) - 1)
        assert "outage" in hits[0]["title"]
    finally:
        svc.close()
