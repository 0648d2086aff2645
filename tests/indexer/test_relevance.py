"""What an agent sees of relevance, on both backends: the floor under suggested answers, weak
matches labelled weak, unresolved tickets never offered as resolved ones, snippets that mark
no stop word and show no markdown.

On the hashing test encoder only a near-copy of a document reaches a similarity of 0.5 (see
``tests/conftest.py``), so these tests set the floor there: strong means "this document", weak
means anything less.  ``tests/test_real_data.py`` checks the default floor with the real model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.text import STOP_WORDS
from indexer.service import Firstline
from indexer.types import Filters
from tests.conftest import es_settings, make_settings
from triage.service import Triager

FLOOR = 0.5

ARTICLES = [
    {
        "id": "KB1",
        "title": "Floor-wide network outage",
        "body": "## Symptoms\n- Nobody on the floor has **Wi-Fi** or wired network.\n"
        "## Resolution\n1. Check the [switch status page](https://status.example/sw) "
        "for the floor.\n2. Escalate to *Network* when the switch is down.\n",
    },
    {
        "id": "KB2",
        "title": "Teams phone cannot make outside calls",
        "body": "Check the calling plan in the Teams admin centre and restart the phone.",
    },
    {
        "id": "KB3",
        "title": "Warehouse scanner frozen in the WMS session",
        "body": "Hold the power key for ten seconds, then sign in to the RF session again.",
    },
]
TICKETS = [
    {
        "id": "INC1",
        "title": "wifi down on the 3rd floor",
        "description": "Nobody on the 3rd floor has wifi since 9:00.",
        "resolution": "Core switch rebooted by Network.",
    },
    {
        "id": "INC2",
        "title": "wifi down on the 3rd floor",
        "description": "Nobody on the 3rd floor has wifi since 9:00.",
        # an import without a resolution: its status says "resolved" by default
    },
]
OUTAGE = "Floor-wide network outage. Nobody on the floor has Wi-Fi or wired network."
OFF_TOPIC = "Quarterly revenue forecast spreadsheet macro"


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def service(request: pytest.FixtureRequest, tmp_path: Path, write_jsonl) -> Iterator[Firstline]:  # noqa: ANN001
    settings = make_settings(tmp_path, relevance_floor=FLOOR)
    if request.param == "elasticsearch":
        settings.search.backend = "elasticsearch"
        settings.elasticsearch = es_settings(request.getfixturevalue("es_url"))
    svc = Firstline(settings)
    svc.ingest_file(write_jsonl("kb.jsonl", ARTICLES), kind="article")
    svc.ingest_file(write_jsonl("tickets.jsonl", TICKETS), kind="ticket")
    yield svc
    if request.param == "elasticsearch":
        svc.backend.drop()  # type: ignore[attr-defined]
    svc.close()


def test_an_off_topic_request_is_offered_no_answer(service: Firstline) -> None:
    triager = Triager(service.settings, service)
    vector = service.encoder.encode([OFF_TOPIC])[0]
    found, status = triager.suggestions(OFF_TOPIC, 5, vector)
    assert found == {"suggested_articles": [], "similar_tickets": []}  # never padded
    assert status == "no_match"  # the card says there is no good KB match


def test_search_keeps_weak_hits_and_labels_them(service: Firstline) -> None:
    hits = service.search(OFF_TOPIC, k=5)
    assert hits and {h["match"] for h in hits} == {"weak"}
    assert service.search(OFF_TOPIC, k=5, weak=False) == []


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
def test_the_answer_is_strong_and_the_rest_weak(service: Firstline, mode: str) -> None:
    hits = service.search(OUTAGE, k=5, filters=Filters(kinds=["article"]), mode=mode)  # type: ignore[arg-type]
    labels = {h["external_id"]: h["match"] for h in hits}
    assert labels["KB1"] == "strong"
    assert all(label == "weak" for ext, label in labels.items() if ext != "KB1")


def test_the_triage_card_offers_only_strong_answers(service: Firstline) -> None:
    triager = Triager(service.settings, service)
    found, status = triager.suggestions(OUTAGE, 5, service.encoder.encode([OUTAGE])[0])
    assert status == "ok"
    assert [h["external_id"] for h in found["suggested_articles"]] == ["KB1"]
    assert all(h["match"] == "strong" for h in found["similar_tickets"])


def test_an_unresolved_ticket_is_never_a_similar_resolved_ticket(service: Firstline) -> None:
    text = "wifi down on the 3rd floor. Nobody on the 3rd floor has wifi since 9:00."
    assert {"INC1", "INC2"} <= {h["external_id"] for h in service.search(text, k=5)}
    similar = service.similar(text=text, k=5)
    assert [h["external_id"] for h in similar] == ["INC1"]
    assert similar[0]["resolution"]
    triager = Triager(service.settings, service)
    found, _ = triager.suggestions(text, 5, service.encoder.encode([text])[0])
    assert [h["external_id"] for h in found["similar_tickets"]] == ["INC1"]


def test_snippets_show_words_not_markdown(service: Firstline) -> None:
    (hit,) = service.search("switch status page", k=1, filters=Filters(kinds=["article"]))
    snippet = hit["snippet"]
    assert hit["external_id"] == "KB1"
    for syntax in ("##", "**", "](", "https://", "- Nobody", "1. Check", "*Network*"):
        assert syntax not in snippet, (syntax, snippet)
    assert "switch status page" in snippet


def test_highlights_never_mark_a_stop_word(service: Firstline) -> None:
    hits = service.search("what to do when the wifi is down for the entire floor", k=5)
    marked = [h["snippet"][s:e].lower() for h in hits for s, e in h["highlights"]]
    assert "wifi" in marked or "floor" in marked
    assert not [w for w in marked if w in STOP_WORDS], marked
