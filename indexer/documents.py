"""How a stored ticket or article becomes a search document (one place for it)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from indexer.normalize import normalize
from indexer.types import IndexDoc
from kb.models import Article, Ticket


def doc_id(kind: str, pk: int) -> str:
    return f"{kind}:{pk}"


def parse_doc_id(value: str) -> tuple[str, int]:
    kind, _, pk = value.partition(":")
    return kind, int(pk)


def search_fields(record: Ticket | Article) -> tuple[str, str]:
    """(title, body) as indexed for BM25: normalised; a ticket's body includes its resolution."""
    title = normalize(record.title)
    if isinstance(record, Ticket):
        body = normalize(record.description)
        if record.resolution:
            body = f"{body}\nResolution: {normalize(record.resolution)}".strip()
        return title, body
    return title, normalize(record.body)


def embedding_text(record: Ticket | Article) -> str:
    """What the encoder sees: the problem (title and text), not the fix."""
    title = normalize(record.title)
    body = normalize(record.description if isinstance(record, Ticket) else record.body)
    if title and body.lower().startswith(title.lower()):
        return body
    return f"{title}. {body}" if body else title


def to_index_doc(record: Ticket | Article, vector: np.ndarray) -> IndexDoc:
    title, body = search_fields(record)
    created = record.opened_at if isinstance(record, Ticket) and record.opened_at else None
    return IndexDoc(
        id=doc_id(record.kind, record.id),
        kind=record.kind,
        title=title,
        body=body,
        vector=vector,
        category=record.category,
        status=record.status,
        created_at=_aware(created or record.created_at),
    )


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is not None:
        return dt
    return dt.replace(tzinfo=UTC)
