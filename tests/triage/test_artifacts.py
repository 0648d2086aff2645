"""The triage model store: versions in order, activation history, checksums; the store in
the database that processes with data dirs of their own share."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInputError, ModelNotTrainedError
from kb.artifacts import ModelStore
from kb.db import Database
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


# -- the store in the database, shared by processes with data dirs of their own -------------


def _stores(tmp_path: Path, n: int = 2) -> list[ModelStore]:
    db = tmp_path / "shared.db"
    return [
        ModelStore(Database(f"sqlite:///{db}"), ArtifactStore(tmp_path / f"p{i}" / "models"))
        for i in range(n)
    ]


def test_a_model_saved_by_one_process_is_active_and_loadable_in_another(tmp_path: Path) -> None:
    a, b = _stores(tmp_path)
    assert b.active_version("triage") is None
    first = a.save("triage", {"w": 1}, metrics={"type": {"accuracy": 0.9}})
    a.activate("triage", first.version)
    assert b.active_version("triage") == first.version
    obj, meta = b.load("triage")
    assert obj == {"w": 1} and meta.metrics == {"type": {"accuracy": 0.9}}
    second = b.save("triage", {"w": 2})
    b.activate("triage", second.version)
    assert a.load("triage")[0] == {"w": 2}
    assert [m.version for m in a.versions("triage")] == [first.version, second.version]
    assert a.rollback("triage") == first.version
    assert b.active_version("triage") == first.version


def test_a_damaged_local_copy_is_loaded_again_from_the_database(tmp_path: Path) -> None:
    (a,) = _stores(tmp_path, 1)
    meta = a.save("triage", {"weights": list(range(100))})
    a.activate("triage", meta.version)
    path = a.files.root / "triage" / meta.version / "model.joblib"
    path.write_bytes(path.read_bytes() + b"\0")
    assert a.load("triage")[0] == {"weights": list(range(100))}
    assert a.files.load("triage")[0] == {"weights": list(range(100))}  # the copy is mended


def test_models_in_the_files_are_taken_into_an_empty_database(tmp_path: Path) -> None:
    files = ArtifactStore(tmp_path / "old" / "models")
    a, b = (files.save("triage", i).version for i in range(2))
    files.activate("triage", a)
    files.activate("triage", b)
    (store,) = _stores(tmp_path, 1)
    store.files = files
    assert store.active_version("triage") == b
    assert store.load("triage")[0] == 1
    assert store.rollback("triage") == a
