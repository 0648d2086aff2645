"""The one writer of searchable rows: ingestion, curation imports and the desk's write-back of a
resolved ticket all store tickets and articles through :func:`upsert`, and every content hash
comes from :func:`content_hash`.

A row is identified by (source, external id).  A new or changed row is stored with
``indexed_hash`` cleared, which is what marks it pending for the index; an unchanged row is left
as it is.  An article edited in firstline since its import (version > 1) is never overwritten
by a later import: the KB is now its home.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import RECORD_TYPES, Article, Ticket

DATE_KEYS = ("opened_at", "resolved_at", "created_at", "updated_at")


@dataclass(slots=True)
class Record:
    """One ticket or article as it comes in, in firstline's field names."""

    kind: str
    external_id: str
    values: dict[str, Any]
    content_hash: str
    # Values that could not be used (the reader's FieldWarning): the row is kept, the field empty.
    warnings: list[Any] = field(default_factory=list)


def content_hash(values: Mapping[str, Any]) -> str:
    """The content hash of a ticket or an article: the SHA-256 of its values as canonical
    JSON.  A change to any value changes it, and a row whose ``indexed_hash`` differs from it
    is pending for the index."""
    blob = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Upserted:
    """What one :func:`upsert` did, and the ids of the rows the index must catch up with."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    curated: int = 0
    pending: list[int] = field(default_factory=list)


def assign(row: Ticket | Article, rec: Record) -> None:
    """Copy a record's values onto its row."""
    row.content_hash = rec.content_hash
    for key, value in rec.values.items():
        if key in DATE_KEYS:
            value = datetime.fromisoformat(value) if isinstance(value, str) and value else value
            if key in ("created_at", "updated_at") and value is None:
                continue
        if hasattr(type(row), key):
            setattr(row, key, value)


def upsert(s: Session, kind: str, source: str, records: Sequence[Record]) -> Upserted:
    """Store new and changed records of one kind and source in the caller's unit of work."""
    model = RECORD_TYPES[kind]
    out = Upserted()
    found = s.scalars(
        select(model).where(
            model.source == source,
            model.external_id.in_([r.external_id for r in records]),
        )
    ).all()
    existing = {r.external_id: r for r in cast(Sequence[Ticket | Article], found)}
    pending: list[Any] = []
    for rec in records:
        row = existing.get(rec.external_id)
        if row is None:
            row = model(source=source, external_id=rec.external_id)
            assign(row, rec)
            s.add(row)
            existing[rec.external_id] = row
            out.added += 1
            pending.append(row)
        elif isinstance(row, Article) and row.version > 1:
            out.curated += 1
            if row.indexed_hash != row.content_hash:
                pending.append(row)
        elif row.content_hash != rec.content_hash:
            assign(row, rec)
            row.embedding = None
            if isinstance(row, Ticket):
                row.request_embedding = None
            row.indexed_hash = None
            out.updated += 1
            pending.append(row)
        else:
            out.unchanged += 1
            if row.indexed_hash != row.content_hash:
                pending.append(row)
    s.flush()
    out.pending = list(dict.fromkeys(r.id for r in pending))
    return out
