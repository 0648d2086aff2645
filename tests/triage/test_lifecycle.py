"""Retraining, the evaluation gate, forcing, rollback, and corrections feeding the next model."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import triage.training
from core.errors import InvalidInputError
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
    assert any(stage == "fitting category" for stage, _, _ in events)

    # a damaged cache is rebuilt, not fatal: every text is encoded again
    cache = env.triager._cache_path()
    cache.write_bytes(b"not an npz file")
    encoded.clear()
    env.triager.train(force=True)
    assert len(encoded) == len(env.triager.examples())
    assert len(env.triager.embed_history(["VPN disconnects every hour"])) == 1
