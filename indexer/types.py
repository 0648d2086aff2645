"""What flows between ingestion, the search backends and their callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np

from core.dates import to_utc
from core.errors import InvalidInputError

Kind = Literal["ticket", "article"]
Mode = Literal["hybrid", "lexical", "dense"]


@dataclass(slots=True)
class IndexDoc:
    """One document as a search backend stores it.  ``id`` is ``"<kind>:<primary key>"``.

    ``title_vector`` embeds the title; ``chunk_vectors`` (one row per chunk) embed the title
    followed by successive windows of the body.
    """

    id: str
    kind: str
    title: str
    body: str
    title_vector: np.ndarray
    chunk_vectors: np.ndarray
    category: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    content_hash: str | None = None  # the SQL row's hash: lets `verify` compare record and index
    answered: bool = True  # holds an answer: an article, or a ticket with a resolution


@dataclass(slots=True)
class IndexFailure:
    """A document a backend refused (the others in the batch were written)."""

    id: str
    reason: str


@dataclass(slots=True)
class Filters:
    kinds: list[str] | None = None
    categories: list[str] | None = None
    statuses: list[str] | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    exclude_ids: list[str] | None = None
    # True: only documents holding an answer (articles, tickets with a resolution).  A document
    # indexed before the index knew this passes; the service checks the record.
    answered: bool = False

    def __post_init__(self) -> None:
        # One form for the backends to compare: aware UTC within the supported range (the API
        # has already read naive dates in the server's zone; here a naive one is UTC).
        if self.date_from is not None:
            self.date_from = to_utc(self.date_from)
        if self.date_to is not None:
            self.date_to = to_utc(self.date_to)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInputError("date_from is after date_to")

    def is_empty(self) -> bool:
        return not (
            self.kinds
            or self.categories
            or self.statuses
            or self.date_from
            or self.date_to
            or self.exclude_ids
            or self.answered
        )


@dataclass(slots=True)
class SearchRequest:
    text: str
    vector: np.ndarray | None
    k: int = 10
    filters: Filters = field(default_factory=Filters)
    mode: Mode = "hybrid"
    highlight: bool = True


@dataclass(slots=True)
class Hit:
    """One result, with why it matched: its rank in each ranker (1-based, None = not found)."""

    id: str
    score: float
    kind: str
    title: str
    category: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    lexical_rank: int | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    dense_score: float | None = None
    snippet: str = ""
    highlights: list[str] = field(default_factory=list)
