"""How a stored ticket or article becomes a search document (one place for it)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from core.time import aware
from indexer.normalize import normalize, strip_markdown
from indexer.types import IndexDoc
from kb.models import Article, Ticket


def doc_id(kind: str, pk: int) -> str:
    return f"{kind}:{pk}"


def parse_doc_id(value: str) -> tuple[str, int]:
    kind, _, pk = value.partition(":")
    return kind, int(pk)


def search_fields(record: Ticket | Article) -> tuple[str, str]:
    """(title, body) as indexed for BM25 and cut into snippets: normalised, without markdown
    syntax; a ticket's body includes its resolution."""
    title = normalize(strip_markdown(record.title))
    if isinstance(record, Ticket):
        body = normalize(strip_markdown(record.description))
        if has_resolution(record):
            body = f"{body}\nResolution: {normalize(strip_markdown(record.resolution))}".strip()
        return title, body
    return title, normalize(strip_markdown(record.body))


def has_resolution(record: Ticket | Article) -> bool:
    """Whether the record holds an answer: every article; a ticket with a resolution written."""
    return not isinstance(record, Ticket) or bool((record.resolution or "").strip())


def problem_text(record: Ticket | Article) -> tuple[str, str]:
    """(title, body) that the encoder sees: the problem as written, not the ticket's fix."""
    title = normalize(record.title)
    body = normalize(record.description if isinstance(record, Ticket) else record.body)
    if title and body.lower().startswith(title.lower()):
        body = body[len(title) :].lstrip(" .:-")
    return title, body


def request_text(title: str | None, description: str | None) -> str:
    """The text triage reads of a request (and of each stored ticket it learns from).  It is not
    one of the texts the search index embeds (``embedding_inputs``: the title alone, then title
    and body windows, the title not repeated), so a ticket stores its vector beside those."""
    return normalize(f"{title or ''}. {description or ''}").strip(" .")


def query_text(record: Ticket | Article) -> str:
    """A stored record used as a query (similar tickets): title and body as one text."""
    title, body = problem_text(record)
    return f"{title}\n{body}".strip()


def windows(text: str, size: int, stride: int) -> list[str]:
    """Overlapping windows of ``size`` words, ``stride`` apart, covering the whole text."""
    words = text.split()
    if len(words) <= size:
        return [text]
    out = []
    for start in range(0, len(words), stride):
        out.append(" ".join(words[start : start + size]))
        if start + size >= len(words):
            break
    return out


def embedding_inputs(record: Ticket | Article, size: int, stride: int) -> list[str]:
    """Texts to embed for one record: its title, then title + each body window."""
    title, body = problem_text(record)
    if not body:
        return [title, title]
    return [title or body[:200], *[f"{title}\n{w}".strip() for w in windows(body, size, stride)]]


# Dates the index keeps: anything outside (placeholders such as 9999-12-31 or 0001-01-01 that
# an older version stored) is indexed without a date rather than poisoning the index.
INDEX_DATE_MIN = datetime(1900, 1, 1, tzinfo=UTC)
INDEX_DATE_MAX = datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)


def index_date(value: datetime | None) -> datetime | None:
    """``value`` as an aware datetime when the index can hold it, else None."""
    value = aware(value)
    if value is None or not INDEX_DATE_MIN <= value <= INDEX_DATE_MAX:
        return None
    return value


def to_index_doc(record: Ticket | Article, vectors: np.ndarray) -> IndexDoc:
    """``vectors``: row 0 embeds the title, the others the chunks (see ``embedding_inputs``)."""
    title, body = search_fields(record)
    created = None
    if isinstance(record, Ticket):
        created = index_date(record.opened_at)
    return IndexDoc(
        id=doc_id(record.kind, record.id),
        kind=record.kind,
        title=title,
        body=body,
        title_vector=vectors[0],
        chunk_vectors=vectors[1:],
        category=record.category,
        status=record.status,
        created_at=created or index_date(record.created_at),
        content_hash=record.content_hash,
        answered=has_resolution(record),
    )
