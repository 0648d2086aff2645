"""Versioned, checksummed model artifacts with their metrics, label sets and data fingerprints.

Layout: ``<root>/<name>/<version>/model.joblib`` + ``meta.json``; ``<root>/<name>/ACTIVE``
names the active version (replaced atomically); ``HISTORY`` lists activations for rollback.

The record of models is the database (``kb/artifacts.py``), so that every API process and
replica sees the same active model; these files are its local copy (a cache of what this
process trained or loaded), and what an installation from before the database held them, or a
copied data dir, brings to it.  The helpers below are the one way both turn a model into
checksummed bytes and back.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib

from core.errors import InvalidInputError, ModelNotTrainedError


@dataclass
class ArtifactMeta:
    name: str
    version: str
    created: str
    sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    fingerprint: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__, "joblib": joblib.__version__}


def new_version() -> str:
    """Second, then microsecond within it: versions sort in the order they were saved."""
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(ns // 10**9))
    return f"{stamp}-{ns // 1000 % 10**6:06d}"


def new_meta(name: str, version: str, data: bytes, **meta: Any) -> ArtifactMeta:
    return ArtifactMeta(
        name=name,
        version=version,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        sha256=hashlib.sha256(data).hexdigest(),
        library_versions=_versions(),
        **meta,
    )


def to_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=3)
    return buf.getvalue()


def from_bytes(data: bytes, meta: ArtifactMeta) -> Any:
    """The model in ``data``, refused unless its checksum is the one saved with it."""
    if hashlib.sha256(data).hexdigest() != meta.sha256:
        raise InvalidInputError(f"{meta.name} model {meta.version} is corrupt (checksum mismatch)")
    return joblib.load(io.BytesIO(data))


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        return self.root / name

    def save(self, name: str, obj: Any, **meta: Any) -> ArtifactMeta:
        while True:
            version = new_version()
            d = self._dir(name) / version
            try:
                d.mkdir(parents=True)  # never overwrite an existing version
                break
            except FileExistsError:
                continue
        joblib.dump(obj, d / "model.joblib", compress=3)
        m = new_meta(name, version, (d / "model.joblib").read_bytes(), **meta)
        (d / "meta.json").write_text(json.dumps(asdict(m), indent=2, default=str))
        return m

    def put(self, meta: ArtifactMeta, data: bytes) -> None:
        """Keep a copy of a version saved elsewhere (written aside, then renamed into place:
        a reader never sees half a version)."""
        d = self._dir(meta.name) / meta.version
        if (d / "meta.json").exists():
            return
        tmp = self._dir(meta.name) / f".{meta.version}.{os.getpid()}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "model.joblib").write_bytes(data)
        (tmp / "meta.json").write_text(json.dumps(asdict(meta), indent=2, default=str))
        try:
            os.replace(tmp, d)
        except OSError:  # another process put it first
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)

    def drop(self, name: str, version: str) -> None:
        """Forget the copy of a version (a damaged one, before it is put again)."""
        import shutil

        shutil.rmtree(self._dir(name) / version, ignore_errors=True)

    def read(self, name: str, version: str) -> tuple[bytes, ArtifactMeta] | None:
        """A version's bytes and metadata as stored here (unchecked), or None."""
        d = self._dir(name) / version
        try:
            meta = ArtifactMeta(**json.loads((d / "meta.json").read_text()))
            return (d / "model.joblib").read_bytes(), meta
        except FileNotFoundError:
            return None

    def history(self, name: str) -> list[str]:
        """The versions activated here, oldest first."""
        try:
            return (self._dir(name) / "HISTORY").read_text().split()
        except FileNotFoundError:
            return []

    def versions(self, name: str) -> list[ArtifactMeta]:
        d = self._dir(name)
        if not d.is_dir():
            return []
        out = []
        for v in sorted(p for p in d.iterdir() if (p / "meta.json").exists()):
            out.append(ArtifactMeta(**json.loads((v / "meta.json").read_text())))
        return out

    def active_version(self, name: str) -> str | None:
        try:
            return (self._dir(name) / "ACTIVE").read_text().strip() or None
        except FileNotFoundError:
            return None

    def activate(self, name: str, version: str) -> None:
        if not (self._dir(name) / version / "meta.json").exists():
            raise InvalidInputError(f"no {name} model version {version!r}")
        d = self._dir(name)
        tmp = d / f"ACTIVE.{os.getpid()}.tmp"
        tmp.write_text(version)
        os.replace(tmp, d / "ACTIVE")
        with open(d / "HISTORY", "a") as fh:
            fh.write(version + "\n")

    def rollback(self, name: str) -> str:
        """Re-activate the version that was active before the current one."""
        history = self.history(name)
        current = self.active_version(name)
        earlier = [v for v in history if v != current]
        if not earlier:
            raise InvalidInputError(f"no earlier {name} model to roll back to")
        previous = earlier[-1]
        self.activate(name, previous)
        return previous

    def load(self, name: str, version: str | None = None) -> tuple[Any, ArtifactMeta]:
        version = version or self.active_version(name)
        if version is None:
            raise ModelNotTrainedError(
                f"no {name} model has been trained yet: run `firstline triage train`"
            )
        d = self._dir(name) / version
        meta_path = d / "meta.json"
        if not meta_path.exists():
            raise InvalidInputError(f"no {name} model version {version!r}")
        meta = ArtifactMeta(**json.loads(meta_path.read_text()))
        if _sha256(d / "model.joblib") != meta.sha256:
            raise InvalidInputError(f"{name} model {version} is corrupt (checksum mismatch)")
        return joblib.load(d / "model.joblib"), meta
