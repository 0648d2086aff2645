"""Trained models in the system of record, so that every API process and every replica over
one database serves the same active model.

A version's bytes, checksum and metadata are a row of ``model_artifacts``; the active version
is the newest row of ``model_activations`` for the name (an append-only log: one indexed
lookup tells a process whether another trained or rolled back, and the earlier rows are what
a rollback returns to).  The file store under the data dir is kept as this process's copy: a
version is loaded from it when its checksum matches the record, and from the record otherwise.
A database that holds no model of a name yet takes the versions and activations found in the
files (an installation from before the record kept models, or a copied data dir).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select

from core.errors import ConflictError, InvalidInputError, ModelNotTrainedError
from kb.db import Database
from kb.models import ModelActivation, ModelArtifact
from models.artifacts import (
    ArtifactMeta,
    ArtifactStore,
    from_bytes,
    new_meta,
    new_version,
    to_bytes,
)

log = logging.getLogger("firstline.models")


class ModelStore:
    """The versioned model store over the database, with the file store as a local copy.
    Same calls as :class:`models.artifacts.ArtifactStore`."""

    def __init__(self, db: Database, files: ArtifactStore) -> None:
        self.db = db
        self.files = files
        self._adopted: set[str] = set()
        self._lock = threading.Lock()

    def save(self, name: str, obj: Any, **meta: Any) -> ArtifactMeta:
        self._adopt(name)
        data = to_bytes(obj)
        for _ in range(5):
            m = new_meta(name, new_version(), data, **meta)
            try:
                with self.db.session() as s:
                    s.add(self._row(m, data))
                break
            except ConflictError:  # the same microsecond in another process: a new version
                continue
        else:
            raise ConflictError(f"could not save a new {name} model version")
        self.files.put(m, data)
        return m

    def versions(self, name: str) -> list[ArtifactMeta]:
        self._adopt(name)
        with self.db.session() as s:
            rows = s.scalars(
                select(ModelArtifact.meta)
                .where(ModelArtifact.name == name)
                .order_by(ModelArtifact.version)
            )
            return [ArtifactMeta(**m) for m in rows]

    def active_version(self, name: str) -> str | None:
        self._adopt(name)
        with self.db.session() as s:
            return s.scalar(
                select(ModelActivation.version)
                .where(ModelActivation.name == name)
                .order_by(ModelActivation.id.desc())
                .limit(1)
            )

    def activate(self, name: str, version: str) -> None:
        self._adopt(name)
        with self.db.session() as s:
            if self._meta(s, name, version) is None:
                raise InvalidInputError(f"no {name} model version {version!r}")
            s.add(ModelActivation(name=name, version=version))
        self._mirror_activation(name, version)

    def rollback(self, name: str) -> str:
        """Re-activate the version that was active before the current one."""
        self._adopt(name)
        with self.db.session() as s:
            history = list(
                s.scalars(
                    select(ModelActivation.version)
                    .where(ModelActivation.name == name)
                    .order_by(ModelActivation.id)
                )
            )
        current = history[-1] if history else None
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
        with self.db.session() as s:
            meta = self._meta(s, name, version)
        if meta is None:
            raise InvalidInputError(f"no {name} model version {version!r}")
        local = self.files.read(name, version)
        if local is not None and local[1].sha256 == meta.sha256:
            try:
                return from_bytes(local[0], meta), meta
            except InvalidInputError:
                self.files.drop(name, version)
                log.warning(
                    "the local copy of %s model %s is damaged: loading it again", name, version
                )
        with self.db.session() as s:
            data = s.scalar(
                select(ModelArtifact.data).where(
                    ModelArtifact.name == name, ModelArtifact.version == version
                )
            )
        assert data is not None
        obj = from_bytes(data, meta)
        try:
            self.files.put(meta, data)
        except OSError as e:  # the copy is a convenience; the record has the model
            log.warning("could not keep a local copy of %s model %s: %s", name, version, e)
        return obj, meta

    # -- internals -----------------------------------------------------------------------
    @staticmethod
    def _row(meta: ArtifactMeta, data: bytes) -> ModelArtifact:
        return ModelArtifact(
            name=meta.name,
            version=meta.version,
            sha256=meta.sha256,
            meta=asdict(meta),
            data=data,
        )

    @staticmethod
    def _meta(s: Any, name: str, version: str) -> ArtifactMeta | None:
        m = s.scalar(
            select(ModelArtifact.meta).where(
                ModelArtifact.name == name, ModelArtifact.version == version
            )
        )
        return None if m is None else ArtifactMeta(**m)

    def _mirror_activation(self, name: str, version: str) -> None:
        """The local copy follows the activations this process makes, so a copied data dir
        still brings its active model (the record stays the one that decides)."""
        if self.files.read(name, version) is None:
            return
        try:
            self.files.activate(name, version)
        except OSError as e:
            log.warning("could not record the activation of %s %s locally: %s", name, version, e)

    def _adopt(self, name: str) -> None:
        """Once per process: a record with no model of this name takes those in the files
        (each checked against its checksum) and their activations."""
        if name in self._adopted:
            return
        with self._lock:
            if name in self._adopted:
                return
            with self.db.session() as s:
                known = s.scalar(
                    select(func.count())
                    .select_from(ModelArtifact)
                    .where(ModelArtifact.name == name)
                )
            found = [] if known else self.files.versions(name)
            if found:
                self._import(name, found)
            self._adopted.add(name)

    def _import(self, name: str, found: list[ArtifactMeta]) -> None:
        rows = []
        for meta in found:
            local = self.files.read(name, meta.version)
            assert local is not None
            from_bytes(local[0], meta)  # refuses a damaged file
            rows.append(self._row(meta, local[0]))
        history = [v for v in self.files.history(name) if any(m.version == v for m in found)]
        active = self.files.active_version(name)
        if active is not None and (not history or history[-1] != active):
            history.append(active)
        try:
            with self.db.session() as s:
                s.add_all(rows)
                s.flush()
                s.add_all(ModelActivation(name=name, version=v) for v in history)
        except ConflictError:  # another process imported them first
            return
        log.info(
            "took %d %s model version(s) from %s into the database",
            len(rows),
            name,
            self.files.root,
        )
