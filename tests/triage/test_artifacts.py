"""The triage model store: versions in order, activation history, checksums."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInputError, ModelNotTrainedError
from models.artifacts import ArtifactStore


def test_versions_are_listed_in_the_order_they_were_saved(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    saved = [store.save("triage", {"n": i}, metrics={"n": i}).version for i in range(25)]
    assert len(set(saved)) == len(saved)
    assert [m.version for m in store.versions("triage")] == saved
    assert [m.metrics["n"] for m in store.versions("triage")] == list(range(25))


def test_save_activate_load_roundtrip(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(ModelNotTrainedError, match="firstline triage train"):
        store.load("triage")
    meta = store.save("triage", {"weights": [1, 2, 3]}, labels={"type": ["change", "incident"]})
    assert store.active_version("triage") is None  # saving does not activate
    store.activate("triage", meta.version)
    obj, loaded = store.load("triage")
    assert obj == {"weights": [1, 2, 3]}
    assert loaded.labels == {"type": ["change", "incident"]}
    assert loaded.sha256 == meta.sha256
    assert "scikit-learn" in loaded.library_versions
    with pytest.raises(InvalidInputError, match="no triage model version 'nope'"):
        store.activate("triage", "nope")


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    meta = store.save("triage", {"weights": list(range(100))})
    path = tmp_path / "triage" / meta.version / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(InvalidInputError, match="checksum mismatch"):
        store.load("triage", meta.version)


def test_rollback_goes_back_through_the_activations(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    a, b = (store.save("triage", i).version for i in range(2))
    with pytest.raises(InvalidInputError, match="no earlier"):
        store.rollback("triage")
    store.activate("triage", a)
    store.activate("triage", b)
    assert store.rollback("triage") == a
    assert store.active_version("triage") == a
    assert store.load("triage")[0] == 0
