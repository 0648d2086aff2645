"""Knowledge curation: the article lifecycle, versions and diffs, optimistic locking, capture
from resolved tickets, merges, feedback and quality signals.

Lifecycle (KCS): ``draft → review → published → retired``, with ``review → draft`` (changes
asked for), ``published → draft`` (a revision) and ``retired → draft`` (brought back).  Every
edit and every step is a new :class:`ArticleVersion` with its author and time.  Each write names
the version it was based on; if someone saved in between, the write is refused with a
:class:`ConflictError` carrying the current version, so no edit is ever lost silently.

Only published articles are searchable; the indexer drops the others from the index
(``indexer.ingest``), which is why every write here clears ``indexed_hash``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.time import aware, iso, utcnow
from kb.db import Database
from kb.models import Article, ArticleVersion, DeskTicket, Event
from kb.records import content_hash

STATES = ("draft", "review", "published", "retired")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("review", "published"),
    "review": ("published", "draft"),
    "published": ("draft", "retired"),
    "retired": ("draft",),
}
EDITABLE = ("title", "body", "category", "tags")
KB_SOURCE = "kb"


def article_hash(a: Article) -> str:
    """The record's one content hash (:func:`kb.records.content_hash`) over what curation
    changes of an article, in the shape an import gives it: a change re-indexes it."""
    values = {
        "title": a.title,
        "body": a.body,
        "category": a.category,
        "tags": list(a.tags or []),
        "status": a.status,
        "extra": dict(a.extra or {}),
    }
    return content_hash(values)


def article_dict(a: Article, quality: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "id": a.id,
        "ref": f"article:{a.id}",
        "external_id": a.external_id,
        "source": a.source,
        "title": a.title,
        "body": a.body,
        "category": a.category,
        "tags": list(a.tags or []),
        "status": a.status,
        "version": a.version,
        "author": a.author,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
        "reviewed_at": iso(a.reviewed_at),
        "redirect_to": a.redirect_to,
        "from_ticket": a.from_ticket,
        # Whether search is in step with this version yet (the sync worker catches up after
        # each write): "pending" right after an edit or a publish, then "indexed".
        "index": "indexed" if a.indexed_hash == a.content_hash else "pending",
    }
    if quality is not None:
        out["quality"] = quality
    return out


class Knowledge:
    """Curation over the system of record.  Constructing it does no I/O."""

    def __init__(self, db: Database, review_days: int = 180) -> None:
        self.db = db
        self.review_days = review_days

    # -- reading -------------------------------------------------------------------------
    def _get(self, s: Session, article_id: int, lock: bool = False) -> Article:
        """The article; ``lock``: held until the write commits (SELECT ... FOR UPDATE on
        PostgreSQL; SQLite serialises writers anyway), so two saves cannot both pass the
        version check."""
        a = s.get(Article, article_id, with_for_update=lock)
        if a is None:
            raise NotFoundError(f"no article {article_id}")
        return a

    def get(
        self, article_id: int, published_only: bool = False, within: Session | None = None
    ) -> dict[str, Any]:
        """An article with its quality signals.  ``published_only`` (agents): a draft or
        retired article is not found, and a merged one answers with where it went."""
        with self.db.session(within) as s:
            a = self._get(s, article_id)
            if published_only and a.status != "published":
                if a.redirect_to is not None:
                    return self.get(a.redirect_to, published_only, s)
                raise NotFoundError(f"no published article {article_id}")
            return article_dict(a, self.quality(s, [a.id])[a.id])

    def list(
        self, statuses: Sequence[str] | None = None, limit: int = 200, query: str | None = None
    ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(Article).order_by(Article.updated_at.desc(), Article.id.desc())
            if statuses:
                bad = set(statuses) - set(STATES)
                if bad:
                    raise InvalidInputError(
                        f"unknown status {sorted(bad)[0]!r}; one of: {', '.join(STATES)}"
                    )
                q = q.where(Article.status.in_(list(statuses)))
            if query:
                q = q.where(Article.title.ilike(f"%{query}%"))
            rows = list(s.scalars(q.limit(limit)))
            quality = self.quality(s, [a.id for a in rows])
            return [
                {k: v for k, v in article_dict(a, quality[a.id]).items() if k != "body"}
                for a in rows
            ]

    def versions(self, article_id: int) -> list[dict[str, Any]]:
        with self.db.session() as s:
            self._get(s, article_id)
            rows = s.scalars(
                select(ArticleVersion)
                .where(ArticleVersion.article_id == article_id)
                .order_by(ArticleVersion.version.desc())
            )
            return [
                {
                    "version": v.version,
                    "status": v.status,
                    "title": v.title,
                    "author": v.author,
                    "note": v.note,
                    "created_at": iso(v.created_at),
                }
                for v in rows
            ]

    def diff(self, article_id: int, old: int, new: int) -> dict[str, Any]:
        """A unified diff of title, category, tags and body between two versions."""
        with self.db.session() as s:
            self._get(s, article_id)
            got = {
                v.version: v
                for v in s.scalars(
                    select(ArticleVersion).where(
                        ArticleVersion.article_id == article_id,
                        ArticleVersion.version.in_([old, new]),
                    )
                )
            }
        for n in (old, new):
            if n not in got:
                raise NotFoundError(f"article {article_id} has no version {n}")

        def text(v: ArticleVersion) -> list[str]:
            head = [
                f"Title: {v.title}",
                f"Category: {v.category or ''}",
                f"Tags: {', '.join(v.tags or [])}",
                f"Status: {v.status}",
                "",
            ]
            return head + v.body.splitlines()

        lines = list(
            difflib.unified_diff(
                text(got[old]), text(got[new]), f"version {old}", f"version {new}", lineterm=""
            )
        )
        added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
        removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
        return {
            "article_id": article_id,
            "old": old,
            "new": new,
            "added": added,
            "removed": removed,
            "diff": "\n".join(lines),
        }

    # -- writing -------------------------------------------------------------------------
    @staticmethod
    def _version_row(a: Article, author: str, note: str | None) -> ArticleVersion:
        """The article as it is now, as a version row."""
        return ArticleVersion(
            article_id=a.id,
            version=a.version,
            title=a.title,
            body=a.body,
            category=a.category,
            tags=list(a.tags or []),
            status=a.status,
            author=author,
            note=note,
        )

    def _snapshot(self, s: Session, a: Article, author: str, note: str | None) -> None:
        """Record a change as a new version; the index must catch up with it."""
        s.add(self._version_row(a, author, note))
        a.content_hash = article_hash(a)
        a.indexed_hash = None
        a.embedding = None

    def _ensure_history(self, s: Session, a: Article) -> None:
        """Articles that came in by import have no version rows yet: record the current state
        as its version before the first change, so the diff has a starting point."""
        has = s.scalar(
            select(func.count()).where(
                ArticleVersion.article_id == a.id, ArticleVersion.version == a.version
            )
        )
        if not has:
            s.add(self._version_row(a, a.author or f"import:{a.source}", "as imported"))

    def _save(self, s: Session, a: Article) -> dict[str, Any]:
        """Write the new version.  Two editors who read the same version race to insert the
        next one: on PostgreSQL the row lock makes the second wait and fail its version check;
        on SQLite (no row locks) the second's insert of the same version number is refused by
        the unique key.  Either way the loser gets the same conflict, with the article as it
        is now, and nothing of its write is kept."""
        article_id = a.id
        try:
            s.flush()
        except (IntegrityError, StaleDataError) as e:
            with self.db.session() as fresh:  # committed state, outside the failed write
                current = fresh.get(Article, article_id)
                now = article_dict(current) if current is not None else None
            raise ConflictError(
                f"article {article_id} was saved by someone else meanwhile; "
                "reload it and apply your change again",
                current=now,
            ) from e
        return article_dict(a)

    def _check_version(self, a: Article, expected: int) -> None:
        if expected != a.version:
            raise ConflictError(
                f"article {a.id} was saved by someone else: you edited version {expected}, "
                f"the current version is {a.version}; reload it and apply your change again",
                current=article_dict(a),
            )

    def create(
        self,
        title: str,
        body: str,
        author: str,
        category: str | None = None,
        tags: Sequence[str] = (),
        from_ticket: int | None = None,
        note: str | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """A new draft (version 1)."""
        with self.db.session(within) as s:
            return self.create_in(s, title, body, author, category, tags, from_ticket, note)

    def create_in(
        self,
        s: Session,
        title: str,
        body: str,
        author: str,
        category: str | None = None,
        tags: Sequence[str] = (),
        from_ticket: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """A new draft in the caller's transaction (so it is kept only if the rest is)."""
        title, body = (title or "").strip(), (body or "").strip()
        if not title:
            raise InvalidInputError("an article needs a title")
        if not body:
            raise InvalidInputError("an article needs a body")
        a = Article(
            source=KB_SOURCE,
            external_id=f"new:{utcnow().timestamp()}",
            title=title,
            body=body,
            category=category,
            tags=list(tags),
            status="draft",
            extra={},
            content_hash="",
            version=1,
            author=author,
            from_ticket=from_ticket,
        )
        s.add(a)
        s.flush()
        a.external_id = f"KB{a.id:07d}"
        self._snapshot(s, a, author, note or "created")
        s.flush()
        return article_dict(a)

    def update(
        self,
        article_id: int,
        expected_version: int,
        author: str,
        within: Session | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Save an edit as a new version; refused with a conflict if the article moved on."""
        unknown = set(changes) - set(EDITABLE) - {"note"}
        if unknown:
            raise InvalidInputError(f"cannot edit {sorted(unknown)[0]!r}")
        note = changes.pop("note", None)
        with self.db.session(within) as s:
            a = self._get(s, article_id, lock=True)
            self._check_version(a, expected_version)
            if a.status == "retired":
                raise ConflictError(f"article {a.id} is retired; move it back to draft to edit it")
            self._ensure_history(s, a)
            changed = False
            for key, value in changes.items():
                if value is None:
                    continue
                if key in ("title", "body"):
                    value = value.strip()
                    if not value:
                        raise InvalidInputError(f"the {key} is empty")
                if key == "tags":
                    value = list(value)
                if getattr(a, key) != value:
                    setattr(a, key, value)
                    changed = True
            if not changed:
                return article_dict(a)
            a.version += 1
            a.author = author
            self._snapshot(s, a, author, note or "edited")
            return self._save(s, a)

    def transition(
        self,
        article_id: int,
        to: str,
        expected_version: int,
        author: str,
        note: str | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """Move an article along its lifecycle (a new version)."""
        if to not in STATES:
            raise InvalidInputError(f"unknown status {to!r}; one of: {', '.join(STATES)}")
        with self.db.session(within) as s:
            a = self._get(s, article_id, lock=True)
            self._check_version(a, expected_version)
            allowed = TRANSITIONS.get(a.status, ())
            if to not in allowed:
                raise ConflictError(
                    f"article {a.id} is {a.status}; it can go to: {', '.join(allowed) or 'nothing'}"
                )
            self._ensure_history(s, a)
            a.status = to
            if to == "published":
                a.reviewed_at = utcnow()
            if to == "draft":
                a.redirect_to = None
            a.version += 1
            self._snapshot(s, a, author, note or f"→ {to}")
            return self._save(s, a)

    def capture(
        self, s: Session, ticket: DeskTicket, resolution: str, author: str
    ) -> dict[str, Any]:
        """A draft prefilled from a resolved ticket's problem and resolution (KCS "create"),
        in the transaction that resolves the ticket."""
        body = (
            f"## Problem\n{ticket.description.strip() or ticket.title}\n\n"
            f"## Resolution\n{resolution.strip()}\n"
        )
        tags = [t for t in (ticket.service, ticket.type) if t]
        return self.create_in(
            s,
            ticket.title or ticket.description[:80],
            body,
            author,
            ticket.category,
            tags,
            from_ticket=ticket.id,
            note=f"captured from desk ticket {ticket.id}",
        )

    def draft_from_cluster(
        self,
        tickets: Sequence[DeskTicket],
        author: str,
        title: str | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """A draft for a knowledge gap, listing the tickets that asked for it."""
        if not tickets:
            raise InvalidInputError("no tickets to draft from")
        lines = ["## Problem", tickets[0].description.strip() or tickets[0].title, ""]
        lines.append("## Asked by these tickets")
        lines += [f"- #{t.id}: {t.title}" for t in tickets]
        fixes = [t.resolution for t in tickets if t.resolution]
        lines += ["", "## Resolution", fixes[0] if fixes else "(to be written)"]
        return self.create(
            title or tickets[0].title,
            "\n".join(lines),
            author,
            tickets[0].category,
            note=f"drafted from a knowledge gap of {len(tickets)} tickets",
            within=within,
        )

    def merge(
        self,
        article_id: int,
        into: int,
        author: str,
        expected_version: int | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """Retire a duplicate in favour of another article: its links (tickets resolved with
        it, feedback, views) move over, and reading it redirects."""
        if article_id == into:
            raise InvalidInputError("an article cannot be merged into itself")
        with self.db.session(within) as s:
            a, b = self._get(s, article_id, lock=True), self._get(s, into, lock=True)
            if expected_version is not None:
                self._check_version(a, expected_version)
            if b.status != "published":
                raise ConflictError(
                    f"article {into} is {b.status}; merge into a published article, so agents "
                    "still find the answer"
                )
            if a.status == "retired":
                raise ConflictError(f"article {article_id} is already retired")
            self._ensure_history(s, a)
            moved_tickets = 0
            for t in s.scalars(select(DeskTicket).where(DeskTicket.article_id == a.id)):
                t.article_id = b.id
                moved_tickets += 1
            for e in s.scalars(select(Event).where(Event.article_id == a.id)):
                e.data = {**(e.data or {}), "merged_from": a.id}
                e.article_id = b.id
            a.status = "retired"
            a.redirect_to = b.id
            a.version += 1
            self._snapshot(s, a, author, f"merged into article {b.id}")
            s.add(Event(kind="merged", article_id=b.id, actor=author, data={"merged_from": a.id}))
            return {
                "merged": self._save(s, a),
                "into": article_dict(b),
                "moved_tickets": moved_tickets,
            }

    # -- signals -------------------------------------------------------------------------
    def record(
        self,
        kind: str,
        actor: str,
        article_id: int | None = None,
        ticket_id: int | None = None,
        within: Session | None = None,
        **data: Any,
    ) -> None:
        with self.db.session(within) as s:
            if article_id is not None:
                self._get(s, article_id)
            s.add(
                Event(kind=kind, actor=actor, article_id=article_id, ticket_id=ticket_id, data=data)
            )

    def quality(self, s: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Per article: views, reuse count, helpful votes and ratio, age since last review."""
        out: dict[int, dict[str, Any]] = {}
        if not ids:
            return out
        counts: dict[tuple[int, str, Any], int] = {}
        # Counted here rather than grouped in SQL: PostgreSQL cannot group by a JSON column.
        for art, kind, data in s.execute(
            select(Event.article_id, Event.kind, Event.data).where(
                Event.article_id.in_(list(ids)), Event.kind.in_(["view", "reuse", "feedback"])
            )
        ):
            key = (data or {}).get("helpful") if kind == "feedback" else None
            counts[(art, kind, key)] = counts.get((art, kind, key), 0) + 1
        now = utcnow()
        for a in s.scalars(select(Article).where(Article.id.in_(list(ids)))):
            yes = counts.get((a.id, "feedback", True), 0)
            no = counts.get((a.id, "feedback", False), 0)
            since = aware(a.reviewed_at or a.created_at) or now
            age = (now - since).days
            out[a.id] = {
                "views": counts.get((a.id, "view", None), 0),
                "reuse": counts.get((a.id, "reuse", None), 0),
                "helpful": yes,
                "not_helpful": no,
                "helpful_ratio": round(yes / (yes + no), 3) if yes + no else None,
                "days_since_review": age,
                "review_due": a.status == "published"
                and now - since > timedelta(days=self.review_days),
            }
        return out
