"""Versioned, checksummed model artifacts with their metrics, label sets and data fingerprints.

Layout: ``<root>/<name>/<version>/model.joblib`` + ``meta.json``; ``<root>/<name>/ACTIVE``
names the active version (replaced atomically); ``HISTORY`` lists activations for rollback.
"""

from __future__ import annotations

import hashlib
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


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        return self.root / name

    def save(self, name: str, obj: Any, **meta: Any) -> ArtifactMeta:
        while True:
            # Second, then microsecond within it: versions sort in the order they were saved.
            ns = time.time_ns()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(ns // 10**9))
            version = f"{stamp}-{ns // 1000 % 10**6:06d}"
            d = self._dir(name) / version
            try:
                d.mkdir(parents=True)  # never overwrite an existing version
                break
            except FileExistsError:
                continue
        joblib.dump(obj, d / "model.joblib", compress=3)
        m = ArtifactMeta(
            name=name,
            version=version,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            sha256=_sha256(d / "model.joblib"),
            library_versions=_versions(),
            **meta,
        )
        (d / "meta.json").write_text(json.dumps(asdict(m), indent=2, default=str))
        return m

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
        try:
            history = (self._dir(name) / "HISTORY").read_text().split()
        except FileNotFoundError:
            history = []
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
