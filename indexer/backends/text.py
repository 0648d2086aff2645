"""Lexical side of the embedded backend: a tantivy index (BM25, English stemming, snippets)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import tantivy

from core.time import aware
from indexer.normalize import content_terms, query_terms
from indexer.types import Filters, IndexDoc


def _schema(answered: bool = True) -> tantivy.Schema:
    """The index schema; ``answered=False`` is the schema of indexes made before the field
    existed (they open as they are until `firstline reindex` rebuilds them)."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_text_field("kind", stored=True, tokenizer_name="raw")
    sb.add_text_field("category", stored=True, tokenizer_name="raw")
    sb.add_text_field("status", stored=True, tokenizer_name="raw")
    sb.add_text_field("title", stored=True, tokenizer_name="en_stem")
    sb.add_text_field("body", stored=True, tokenizer_name="en_stem")
    sb.add_date_field("created", stored=True, indexed=True, fast=True)
    sb.add_integer_field("key", stored=False, indexed=False, fast=True)
    if answered:
        sb.add_text_field("answered", stored=False, tokenizer_name="raw")
    return sb.build()


_KIND_CODE = {"ticket": 1, "article": 2}
_CODE_KIND = {v: k for k, v in _KIND_CODE.items()}


def doc_key(doc_id: str) -> int:
    """``kind:pk`` packed into an i64 fast field, so ranking never reads stored documents."""
    kind, _, pk = doc_id.partition(":")
    if kind not in _KIND_CODE or not pk.isdigit():
        raise ValueError(f"document id {doc_id!r} is not of the form ticket:<n> or article:<n>")
    return (_KIND_CODE[kind] << 48) | int(pk)


# Another process (a second API worker, the CLI) may hold tantivy's single-writer lock for the
# length of its commit: wait for it rather than fail the write.
_WRITER_WAIT_S = 60.0


def _open_writer(index: tantivy.Index, heap_size: int) -> tantivy.IndexWriter:
    deadline = time.monotonic() + _WRITER_WAIT_S
    delay = 0.01
    while True:
        try:
            return index.writer(heap_size=heap_size, num_threads=1)
        except ValueError as e:
            if "LockBusy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _unkey(key: int) -> str:
    return f"{_CODE_KIND[key >> 48]}:{key & ((1 << 48) - 1)}"


class TextIndex:
    def __init__(self, path: Path, title_boost: float, snippet_chars: int) -> None:
        self.path = path
        self.title_boost = title_boost
        self.snippet_chars = snippet_chars
        path.mkdir(parents=True, exist_ok=True)
        self.knows_answered = True
        self.schema = _schema()
        try:
            self.index = tantivy.Index(self.schema, path=str(path))
        except ValueError as e:
            if "schema does not match" not in str(e):
                raise
            self.knows_answered = False
            self.schema = _schema(answered=False)
            self.index = tantivy.Index(self.schema, path=str(path))
        self._write_lock = threading.Lock()  # writers only; searches never take it

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        with self._write_lock:
            writer = _open_writer(self.index, 64_000_000)
            try:
                for d in docs:
                    writer.delete_documents_by_term("id", d.id)
                    fields: dict = {
                        "id": d.id,
                        "kind": d.kind,
                        "title": d.title,
                        "body": d.body,
                        "category": d.category or "",
                        "status": d.status or "",
                        "key": doc_key(d.id),
                    }
                    if self.knows_answered:
                        fields["answered"] = "yes" if d.answered else "no"
                    if d.created_at is not None:
                        created = d.created_at
                        if created.tzinfo is None:
                            created = created.replace(tzinfo=UTC)
                        fields["created"] = created
                    writer.add_document(tantivy.Document(**fields))
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()
        self.index.reload()

    def delete(self, ids: Sequence[str]) -> None:
        with self._write_lock:
            writer = _open_writer(self.index, 15_000_000)
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)
            writer.commit()
            writer.wait_merging_threads()
        self.index.reload()

    def count(self) -> int:
        self.index.reload()
        return self.index.searcher().num_docs

    def _filter_clauses(self, filters: Filters | None) -> list:
        if filters is None:
            return []
        s = self.schema
        must = []
        for field, values in (
            ("kind", filters.kinds),
            ("category", filters.categories),
            ("status", filters.statuses),
        ):
            if values:
                must.append(tantivy.Query.term_set_query(s, field, list(values)))
        if filters.date_from or filters.date_to:
            must.append(
                tantivy.Query.range_query(
                    s,
                    "created",
                    tantivy.FieldType.Date,
                    aware(filters.date_from),
                    aware(filters.date_to),
                )
            )
        return must

    def build_query(self, text: str, filters: Filters | None) -> tantivy.Query | None:
        """The ranking query: the user's words over title and body, within the filters."""
        query = self._words(query_terms(text))
        if query is None:
            return None
        clauses = [(tantivy.Occur.Must, query)]
        clauses += [(tantivy.Occur.Must, q) for q in self._filter_clauses(filters)]
        if filters and filters.exclude_ids:
            clauses.append(
                (
                    tantivy.Occur.MustNot,
                    tantivy.Query.term_set_query(self.schema, "id", list(filters.exclude_ids)),
                )
            )
        if filters and filters.answered and self.knows_answered:
            no = tantivy.Query.term_query(self.schema, "answered", "no")
            clauses.append((tantivy.Occur.MustNot, no))
        return tantivy.Query.boolean_query(clauses) if len(clauses) > 1 else query

    def highlight_query(self, text: str) -> tantivy.Query | None:
        """What a snippet marks: the query's words but its stop words ("the", "for")."""
        return self._words(content_terms(text))

    def _words(self, terms: str) -> tantivy.Query | None:
        if not terms:
            return None
        query, _errors = self.index.parse_query_lenient(
            terms, ["title", "body"], field_boosts={"title": self.title_boost}
        )
        return query

    def searcher(self) -> tantivy.Searcher:
        """A point-in-time view: one search ranks and fetches from the same one, and a commit
        meanwhile does not change it."""
        return self.index.searcher()

    def search(
        self, query: tantivy.Query, k: int, searcher: tantivy.Searcher | None = None
    ) -> list[tuple[str, float]]:
        searcher = self.index.searcher() if searcher is None else searcher
        hits = searcher.search(query, k, count=False).hits
        keys = searcher.fast_field_values("key", [addr for _, addr in hits])
        return [(_unkey(key), float(score)) for (score, _), key in zip(hits, keys, strict=True)]

    def documents(
        self,
        ids: Sequence[str],
        query: tantivy.Query | None,
        searcher: tantivy.Searcher | None = None,
    ) -> dict[str, tuple[dict, str, list[tuple[int, int]]]]:
        """Stored fields, a snippet and its highlighted ranges for each id."""
        searcher = self.index.searcher() if searcher is None else searcher
        gen = None
        if query is not None:
            gen = tantivy.SnippetGenerator.create(searcher, query, self.schema, "body")
            gen.set_max_num_chars(self.snippet_chars)
        out = {}
        for doc_id in ids:
            res = searcher.search(tantivy.Query.term_query(self.schema, "id", doc_id), 1)
            if not res.hits:
                continue
            doc = searcher.doc(res.hits[0][1])
            fields = {k: v[0] if v else None for k, v in doc.to_dict().items()}
            snippet, ranges = "", []
            if gen is not None:
                snip = gen.snippet_from_doc(doc)
                snippet = snip.fragment()
                ranges = [(r.start, r.end) for r in snip.highlighted()]
            if not snippet:
                body = fields.get("body") or ""
                snippet = _lead(body, self.snippet_chars)
                ranges = []
            out[doc_id] = (fields, snippet, ranges)
        return out

    def all_ids(self) -> set[str]:
        self.index.reload()
        searcher = self.index.searcher()
        n = searcher.num_docs
        if n == 0:
            return set()
        res = searcher.search(tantivy.Query.all_query(), n, count=False)
        return {searcher.doc(addr)["id"][0] for _, addr in res.hits}

    def reload(self) -> None:
        self.index.reload()


def _lead(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    cut = text[:n].rsplit(" ", 1)[0]
    return cut + " …"
