"""The search-backend protocol every backend implements, and the factory that picks one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from core.errors import InvalidInputError
from indexer.types import Filters, Hit, IndexDoc, IndexFailure, SearchRequest

if TYPE_CHECKING:
    from core.settings import Settings


@runtime_checkable
class SearchBackend(Protocol):
    """A store of documents with lexical (BM25) and dense (vector) search.

    Backends receive vectors; they never encode text.  Writes are idempotent by ``IndexDoc.id``.
    ``upsert`` returns the documents it refused (the rest are written); it raises
    ``BackendUnavailableError`` when the engine cannot be reached at all.
    """

    name: str

    def upsert(self, docs: Sequence[IndexDoc]) -> list[IndexFailure]: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def count(self, filters: Filters | None = None) -> int: ...

    def ids(self) -> set[str]: ...

    def hashes(self) -> dict[str, str | None]:
        """Every document held, with the content hash it was indexed from (``verify``)."""
        ...

    def search(self, request: SearchRequest) -> list[Hit]: ...

    def begin_rebuild(self) -> RebuildTarget: ...

    def maintain(self) -> None:
        """Bring derived search structures (the embedded backend's HNSW graph) up to date off
        the caller's path; returns at once.  A no-op where the engine does it itself."""
        ...

    def close(self) -> None: ...


class RebuildTarget(Protocol):
    """A fresh index being filled while the old one keeps answering; ``commit`` swaps them."""

    def upsert(self, docs: Sequence[IndexDoc]) -> list[IndexFailure]: ...

    def commit(self) -> None: ...

    def abort(self) -> None:
        """Throw the half-built index away (its folder / its physical index)."""
        ...


def create_backend(settings: Settings, dim: int) -> SearchBackend:
    """The backend named by ``settings.search.backend`` (explicit map, lazy imports)."""
    name = settings.search.backend
    if name == "embedded":
        from indexer.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(settings.index_dir, dim=dim, settings=settings.search)
    if name == "elasticsearch":
        from indexer.backends.elastic import ElasticsearchBackend

        return ElasticsearchBackend(settings.elasticsearch, settings.search, dim=dim)
    raise InvalidInputError(
        f"unknown search backend {name!r}; choose one of: embedded, elasticsearch"
    )
