"""Retraining, the evaluation gate, forcing, rollback, and corrections feeding the next model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import select, update

import triage.training
from core.errors import InvalidInputError
from kb.models import Ticket
from tests.triage.conftest import TriageEnv
from triage.training import TARGETS

REQUEST = {"title": "VPN disconnects every hour", "description": "GlobalProtect drops the tunnel."}


@pytest.fixture
def worse_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training learns from labels shifted by one row: a model clearly worse than the active one."""
    real = triage.training.fit_target

    def shifted(texts, y, emb, *rest, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        y = list(y)
        return real(texts, y[1:] + y[:1], emb, *rest, **kw)

    monkeypatch.setattr(triage.training, "fit_target", shifted)


def test_retraining_on_the_same_data_is_activated(own_env: Callable[..., TriageEnv]) -> None:
    env = own_env()
    old = env.triager.store.active_version("triage")
    result = env.triager.train()
    assert result["activated"] is True
    assert result["forced"] is False
    assert "new" in result["gate"] and "active" in result["gate"]
    assert result["version"] != old
    # the same data gives the same model, so the same figures
    for target in TARGETS:
        assert (
            result["metrics"][target]["accuracy"]
            == env.first_training["metrics"][target]["accuracy"]
        )
    listing = env.triager.models()
    assert listing["active"] == result["version"]
    assert [v["version"] for v in listing["versions"]] == [old, result["version"]]
    assert env.triager.predict([REQUEST], record=False)[0]["model_version"] == result["version"]


def test_worse_model_is_not_activated(
    own_env: Callable[..., TriageEnv], worse_models: None
) -> None:
    env = own_env()
    old = env.triager.store.active_version("triage")
    result = env.triager.train()
    assert result["activated"] is False
    assert result["forced"] is False
    mean_old = sum(env.first_training["metrics"][t]["accuracy"] for t in TARGETS) / len(TARGETS)
    assert f"active {mean_old:.4f}" in result["gate"]
    assert env.triager.store.active_version("triage") == old
    listing = env.triager.models()
    assert listing["active"] == old
    assert {v["version"]: v["active"] for v in listing["versions"]} == {
        old: True,
        result["version"]: False,
    }
    assert env.triager.predict([REQUEST], record=False)[0]["model_version"] == old


def test_force_activates_a_worse_model_and_rollback_returns(
    own_env: Callable[..., TriageEnv], worse_models: None
) -> None:
    env = own_env()
    old = env.triager.store.active_version("triage")
    result = env.triager.train(force=True)
    assert result["activated"] is True
    assert result["forced"] is True
    assert env.triager.predict([REQUEST], record=False)[0]["model_version"] == result["version"]

    assert env.triager.rollback() == old
    assert env.triager.models()["active"] == old
    assert env.triager.predict([REQUEST], record=False)[0]["model_version"] == old


def test_rollback_without_an_earlier_model_is_refused(
    own_env: Callable[..., TriageEnv],
) -> None:
    env = own_env()
    active = env.triager.store.active_version("triage")
    with pytest.raises(InvalidInputError, match="no earlier triage model"):
        env.triager.rollback()
    assert env.triager.store.active_version("triage") == active


FACILITIES = [
    ("Coffee machine on floor 2 leaks", "Water all over the kitchen floor."),
    ("Heating broken in meeting room 3", "The radiator stays cold, it is freezing in here."),
    ("Light flickering above my desk", "The ceiling light flickers all day."),
    ("Kitchen tap drips", "The tap in the 4th floor kitchen keeps dripping."),
    ("Meeting room door lock stuck", "The door of room 5.12 does not lock anymore."),
    ("Air conditioning too cold", "The air conditioning on floor 1 blows ice cold air."),
]


def test_corrections_reach_the_next_model(own_env: Callable[..., TriageEnv]) -> None:
    env = own_env()
    requests = [{"title": t, "description": d} for t, d in FACILITIES]
    for result in env.triager.predict(requests):
        rid = result["request_id"]
        env.triager.correct(rid, "category", "Facilities", "maria")
        env.triager.correct(rid, "assignment_group", "Facility Management", "maria")
    corrected = [e for e in env.triager.examples() if e.key.startswith("request:")]
    assert len(corrected) == len(FACILITIES)
    assert any(e.part() == "train" for e in corrected)  # the premise: some are learned from

    # a new label with a single training example must not break training
    result = env.triager.train(force=True)
    (meta,) = [m for m in env.triager.store.versions("triage") if m.version == result["version"]]
    assert meta.params["examples"] == len(env.triager.examples())
    assert "Facilities" in meta.labels["category"]
    assert "Facility Management" in meta.labels["assignment_group"]


def test_retraining_encodes_only_new_texts(
    own_env: Callable[..., TriageEnv], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first training cached every history text's vector; a retrain after one correction
    encodes that one request's text, and the progress callback says so."""
    env = own_env()
    encoded: list[str] = []
    real = env.service.encoder.encode

    def counting(texts, progress=None):  # noqa: ANN001, ANN202
        encoded.extend(texts)
        return real(texts, progress)

    monkeypatch.setattr(env.service.encoder, "encode", counting)
    rid = env.triager.predict([REQUEST], record=True)[0]["request_id"]
    encoded.clear()  # the prediction itself encoded the request
    env.triager.correct(rid, "category", "Network", "tester")
    events: list[tuple[str, int, int]] = []
    result = env.triager.train(force=True, progress=lambda *e: events.append(e))
    assert result["activated"] is True
    assert encoded == ["VPN disconnects every hour. GlobalProtect drops the tunnel"]
    assert ("encoding", 1, 1) in events
    assert events[-1] == ("evaluating", len(TARGETS), len(TARGETS))
    fitting = [(stage, done, total) for stage, done, total in events if stage.startswith("fit")]
    assert any(stage == "fitting category" for stage, _, _ in fitting)
    # the fitting bar counts labelled training rows: it moves forward to a fixed total
    assert [d for _, d, _ in fitting] == sorted(d for _, d, _ in fitting)
    assert len({t for _, _, t in fitting}) == 1 and fitting[-1][1] < fitting[-1][2]

    # a damaged cache is rebuilt, not fatal: the text it held is encoded again (the tickets'
    # vectors come from the record)
    cache = env.triager._cache_path()
    cache.write_bytes(b"not an npz file")
    encoded.clear()
    env.triager.train(force=True)
    assert encoded == ["VPN disconnects every hour. GlobalProtect drops the tunnel"]
    assert len(env.triager.embed_history(["VPN disconnects every hour"])) == 1


class _Counting:
    """Wraps an encoder's ``encode`` and keeps every text it was asked for."""

    def __init__(self, encoder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        self.texts: list[str] = []
        real = encoder.encode

        def encode(texts, progress=None):  # noqa: ANN001, ANN202
            self.texts.extend(texts)
            return real(texts, progress)

        monkeypatch.setattr(encoder, "encode", encode)


def test_training_after_ingest_uses_the_stored_vectors(
    own_env: Callable[..., TriageEnv], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingestion stored each ticket's request-text vector: training on a fresh install (no
    vector cache) encodes nothing, and the vectors it used are the encoder's own."""
    env = own_env(with_model=False)
    calls = _Counting(env.service.encoder, monkeypatch)
    examples = env.triager.examples()
    assert examples and all(e.vector is not None for e in examples)
    result = env.triager.train()
    assert result["activated"] is True
    assert calls.texts == []
    assert not env.triager._cache_path().exists()
    sample = examples[:5]
    fresh = env.service.encoder.encode([e.text for e in sample])
    assert np.abs(np.vstack([e.vector for e in sample]) - fresh).max() < 1e-6


def test_vectors_of_another_model_are_recomputed(
    own_env: Callable[..., TriageEnv], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored request vector made by another model (its name differs) is never reused:
    training encodes those texts, and a reindex stores this model's vectors again."""
    env = own_env(with_model=False)
    with env.service.db.session() as s:
        s.execute(
            update(Ticket)
            .where(Ticket.id.in_(select(Ticket.id).limit(7)))
            .values(request_embedding_model="another-model")
        )
    calls = _Counting(env.service.encoder, monkeypatch)
    env.triager.train()
    assert len(calls.texts) == 7
    calls.texts.clear()
    env.service.reindex()
    assert len(calls.texts) == 7  # the search vectors are this model's: only requests
    with env.service.db.session() as s:
        models = set(s.scalars(select(Ticket.request_embedding_model)))
    assert models == {env.service.encoder.name}
    calls.texts.clear()
    env.triager.train()
    assert calls.texts == []


def test_a_changed_ticket_gets_a_new_request_vector(
    own_env: Callable[..., TriageEnv], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = own_env(with_model=False)
    with env.service.db.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.source == "default").limit(1)).one()
        item = {"external_id": ticket.external_id, "title": "Badge reader refuses my card"}
        item["description"] = "Since Monday the door on floor 3 stays shut"
    calls = _Counting(env.service.encoder, monkeypatch)
    env.service.ingestor.ingest_values("ticket", [item], source="default")
    assert (
        "Badge reader refuses my card. Since Monday the door on floor 3 stays shut" in calls.texts
    )
    (changed,) = [e for e in env.triager.examples() if e.text.startswith("Badge reader")]
    expected = env.service.encoder.encode([changed.text])[0]
    assert changed.vector is not None and np.abs(changed.vector - expected).max() < 1e-6
