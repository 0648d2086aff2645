"""Request Tracker 5 (REST 2): resolved tickets feed search and training, open ones are
triaged on the desk, and firstline's decision is written back to the RT ticket.

The watermark is RT's ``LastUpdated`` (seconds): a run asks for tickets updated at or after
it, and a ticket whose link already holds that stamp is skipped, so the second of the
watermark is neither lost nor taken twice.  The list of changed tickets is read before any
write-back, because writing back changes ``LastUpdated`` and would move tickets between pages.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from connectors.render import marker, triage_comment
from connectors.sync import SyncContext
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.settings import Settings
from kb.models import ExternalLink

RESOLVED = {"resolved"}
OPEN = {"new", "open", "stalled"}
DEFAULT_PRIORITY_MAP = {"P1": 90, "P2": 70, "P3": 50, "P4": 30, "P5": 10}
PUSHABLE = ("priority", "impact", "urgency", "queue", "comment")


def rt_config(
    url: str,
    queues: list[str] | None = None,
    push: list[str] | None = None,
    impact_field: str | None = None,
    urgency_field: str | None = None,
    queue_map: dict[str, str] | None = None,
    second_line_queue: str | None = None,
    priority_map: dict[str, int] | None = None,
    timezone: str = "UTC",
    since: datetime | None = None,
) -> dict[str, Any]:
    """A validated RT connection's settings (the token is stored apart, as its secret)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"RT URL must start with http:// or https://, not {url[:80]!r}")
    unknown = [p for p in push or [] if p not in PUSHABLE]
    if unknown:
        raise InvalidInputError(f"cannot push {unknown[0]!r}: one of {', '.join(PUSHABLE)}")
    push = list(push or [])
    if "impact" in push and not impact_field:
        raise InvalidInputError("pushing impact needs --impact-field (an RT custom field)")
    if "urgency" in push and not urgency_field:
        raise InvalidInputError("pushing urgency needs --urgency-field (an RT custom field)")
    from core.dates import zone

    zone(timezone)  # an unknown zone is refused here, not at the first sync
    return {
        "url": url.rstrip("/"),
        "queues": list(queues or []),
        "push": push,
        "impact_field": impact_field,
        "urgency_field": urgency_field,
        "queue_map": dict(queue_map or {}),
        "second_line_queue": second_line_queue,
        "priority_map": dict(priority_map or DEFAULT_PRIORITY_MAP),
        # RT reads TicketSQL dates in its own zone (RT's $Timezone): a wrong zone loses tickets.
        "timezone": timezone,
        # Where the first sync starts (tickets updated since then); None: RT's whole history.
        "start": since.astimezone(UTC).isoformat() if since else None,
    }


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class RTConnector:
    """Constructing it does no I/O."""

    def __init__(self, config: dict[str, Any], secret: str | None, settings: Settings) -> None:
        if not secret:
            raise InvalidInputError("this RT connection has no token (firstline connect rt …)")
        self.config = config
        self.settings = settings
        self._secret = secret
        self._client = None
        self._since: str | None = None

    @property
    def client(self):  # noqa: ANN201
        if self._client is None:
            from connectors.rt import RTClient

            c = self.settings.connectors
            self._client = RTClient(
                self.config["url"],
                self._secret,
                timeout=c.timeout_seconds,
                retries=c.retries,
                timezone=self.config.get("timezone") or "UTC",
            )
        return self._client

    def check(self) -> dict[str, Any]:
        return {"ok": True, "rt": self.client.check()}

    # -- the run -------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        # Write-backs an earlier run still owes (killed between its commit and its push, RT
        # down, a refused field) come first: the watermark has moved past those tickets.
        self._push_owed(ctx)
        since_text = ctx.watermark.get("since") or self.config.get("start")
        self._since = since_text
        since = datetime.fromisoformat(since_text) if since_text else None
        queues = set(self.config.get("queues") or [])
        changed = [
            t
            for t in self.client.tickets_updated_since(since)
            if not queues or t.get("queue") in queues
        ]
        ctx.advance(0, len(changed))
        size = self.settings.connectors.batch_size
        for start in range(0, len(changed), size):
            batch = changed[start : start + size]
            to_push = self._store(ctx, batch)
            for item in to_push:
                self._push(ctx, *item)
            ctx.advance(len(batch), len(changed))

    def _push_owed(self, ctx: SyncContext) -> None:
        if not self._pushes:
            return
        with ctx.db.session() as s:
            owed = [
                (int(link.external_id), link.desk_ticket_id)
                for link in s.scalars(
                    select(ExternalLink)
                    .where(
                        ExternalLink.connection_id == ctx.conn_id,
                        ExternalLink.desk_ticket_id.is_not(None),
                        ExternalLink.pushed_at.is_(None),
                    )
                    .order_by(ExternalLink.id)
                )
            ]
        for rt_id, ticket_id in owed:
            ticket = ctx.desk.desk.get(ticket_id)
            if ctx.dry_run:
                self._plan(ctx, {"id": rt_id}, ticket.get("triage") or {}, ticket["ref"])
                continue
            self._push(ctx, {"id": rt_id}, ticket)

    def _store(self, ctx: SyncContext, batch: list[dict[str, Any]]) -> list[tuple]:
        """One batch.  RT is read first, outside any transaction (no database lock is held
        while RT answers); resolved tickets are then stored as searchable tickets (idempotent:
        a re-run finds them unchanged); open ones are taken onto the desk (triaged) with their
        links and the watermark in one unit of work."""
        with ctx.db.session() as s:
            known = {
                key: (link.remote_updated, link.desk_ticket_id, link.pushed_at is not None)
                for key in (str(t["id"]) for t in batch)
                if (link := ctx.link(s, key)) is not None
            }
        fetched: dict[str, dict[str, Any]] = {}
        resolved: list[dict[str, Any]] = []
        for t in batch:
            key = str(t["id"])
            status = str(t.get("status") or "").lower()
            stamp = t["last_updated"].isoformat()
            if key in known and known[key][0] == stamp and stamp != self._since:
                continue  # seen at this stamp (at the watermark's own second, an edit made
                # in the same second as the last read may hide: read again, compare hashes)
            if status not in RESOLVED | OPEN:
                continue  # rejected, deleted: nothing to learn from
            texts = self.client.ticket_texts(t["id"], status=status)
            fetched[key] = texts
            if status in RESOLVED:
                resolved.append(self._resolved(t, self._title(t), texts))
        if resolved:
            if ctx.dry_run:
                ctx.counts["would_import"] += len(resolved)
            else:

                def audit(s: Any, done: Any) -> None:
                    counts = {"added": done.added, "updated": done.updated}
                    ctx.desk.audit.write(
                        ctx.who, "import.tickets", ctx.name, None, counts, within=s
                    )

                report = ctx.desk.service.ingest_items("ticket", resolved, ctx.name, on_batch=audit)
                ctx.counts["imported"] += report.added
                ctx.counts["updated"] += report.updated
        to_push: list[tuple] = []
        with ctx.batch() as s:
            for t in batch:
                item = self._take(ctx, s, t, fetched.get(str(t["id"])))
                if item is not None:
                    to_push.append(item)
            if batch:
                newest = max(t["last_updated"] for t in batch)
                ctx.save_watermark(s, {"since": newest.isoformat()})
        return to_push

    @staticmethod
    def _title(t: dict[str, Any]) -> str:
        return str(t.get("subject") or "").strip() or f"RT ticket {t['id']}"

    def _take(
        self, ctx: SyncContext, s: Any, t: dict[str, Any], texts: dict[str, Any] | None
    ) -> tuple | None:
        """One RT ticket inside the batch's unit of work; returns it with its desk ticket when
        firstline's decision is still to be written back."""
        key = str(t["id"])
        stamp = t["last_updated"].isoformat()
        link = ctx.link(s, key, lock=True)
        if texts is None:  # unchanged since the last run, or not a ticket we take
            ctx.counts["unchanged" if link is not None else "skipped"] += 1
            return None
        status = str(t.get("status") or "").lower()
        title = self._title(t)
        description = texts.get("description") or ""
        digest = _hash(title, description, texts.get("resolution") or "")
        pushing = None
        if status in RESOLVED:
            if link is not None and link.desk_ticket_id and not ctx.dry_run:
                self._close_on_desk(ctx, s, link.desk_ticket_id, key, texts)
        elif link is None:
            request = {
                "title": title,
                "description": description,
                "caller": (t.get("requestors") or [None])[0],
                "channel": "rt",
            }
            if ctx.dry_run:
                self._plan(ctx, t, ctx.desk.preview(request), f"RT-{key}")
                ctx.counts["would_triage"] += 1
                return None
            out = ctx.desk.intake(request, ctx.who, within=s)
            link = ctx.add_link(s, key, desk_ticket_id=out["ticket"]["id"])
            ctx.counts["triaged"] += 1
            pushing = {**out["ticket"], "triage": out["triage"]}
        elif link.desk_ticket_id and link.content_hash != digest and not ctx.dry_run:
            after = ctx.desk.desk.update_text(
                link.desk_ticket_id, title, description, ctx.who.name, s
            )
            ctx.desk.audit.write(ctx.who, "desk.edit", after["ref"], None, after, within=s)
            ctx.counts["updated"] += 1
        if ctx.dry_run:
            return None
        if link is None:
            link = ctx.add_link(s, key)
        link.remote_updated, link.content_hash = stamp, digest
        # A new request's decision is written back after the commit; one still owed from an
        # earlier run was written back at the start of this one (_push_owed).
        return (t, pushing) if pushing is not None and self._pushes else None

    def _close_on_desk(
        self, ctx: SyncContext, s: Any, ticket_id: int, key: str, texts: dict[str, Any]
    ) -> None:
        """Solved in RT: the desk ticket it became is resolved too (not captured as a draft:
        the RT ticket itself is imported as a resolved ticket)."""
        answer = (texts.get("resolution") or "").strip() or f"Resolved in Request Tracker ({key})"
        try:
            after = ctx.desk.desk.resolve_with_answer(
                ticket_id, answer, ctx.who.name, capture=False, within=s
            )
        except ConflictError:  # already resolved or closed on the desk
            return
        after.pop("draft", None)
        ctx.desk.audit.write(ctx.who, "desk.resolve", after["ref"], None, after, within=s)
        ctx.counts["resolved_on_desk"] += 1

    def _resolved(self, t: dict[str, Any], title: str, texts: dict[str, Any]) -> dict[str, Any]:
        cf = t.get("custom_fields") or {}
        item = {
            "external_id": f"RT-{t['id']}",
            "title": title,
            "description": texts.get("description") or "",
            "resolution": texts.get("resolution") or "",
            "category": cf.get("Category") or t.get("queue"),
            "status": "resolved",
            "caller": (t.get("requestors") or [None])[0],
            "opened_at": t.get("created").isoformat() if t.get("created") else None,
            "resolved_at": t["last_updated"].isoformat(),
        }
        for level in ("impact", "urgency"):
            name = self.config.get(f"{level}_field")
            if name and cf.get(name):
                item[level] = str(cf[name]).lower()
        return {k: v for k, v in item.items() if v not in (None, "")}

    # -- write-back ----------------------------------------------------------------------
    @property
    def _pushes(self) -> bool:
        return bool(self.config.get("push"))

    def _changes(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """The RT fields to set from the desk ticket, as the connection opted in to them."""
        push = set(self.config.get("push") or [])
        fields: dict[str, Any] = {}
        pmap = self.config.get("priority_map") or DEFAULT_PRIORITY_MAP
        if "priority" in push and ticket.get("priority") in pmap:
            fields["Priority"] = int(pmap[ticket["priority"]])
        custom = {}
        for level in ("impact", "urgency"):
            if level in push and ticket.get(level):
                custom[self.config[f"{level}_field"]] = ticket[level]
        if custom:
            fields["CustomFields"] = custom
        if "queue" in push:
            queue = (self.config.get("queue_map") or {}).get(ticket.get("assignment_group") or "")
            if queue is None and ticket.get("tier") == "second_line":
                queue = self.config.get("second_line_queue")
            if queue:
                fields["Queue"] = queue
        return fields

    def _plan(self, ctx: SyncContext, t: dict[str, Any], card: dict[str, Any], ref: str) -> None:
        ticket = {
            "priority": card.get("priority"),
            **{f: (v or {}).get("value") for f, v in (card.get("fields") or {}).items()},
        }
        planned: dict[str, Any] = {"rt_ticket": t["id"], "set": self._changes(ticket)}
        if "comment" in (self.config.get("push") or []):
            planned["comment"] = triage_comment(card, ref, self.config.get("uid", ""))
        ctx.planned.append(planned)

    def _push(self, ctx: SyncContext, t: dict[str, Any], ticket: dict[str, Any]) -> None:
        """Write the decision back: fields (idempotent) and the comment (once: a comment
        carrying the ticket's marker is looked for first, so a run after a crash between the
        write and its record does not comment twice)."""
        rt_id = t["id"]
        fields = self._changes(ticket)
        try:
            if fields:
                self.client.update(rt_id, fields)
            commented = False
            if "comment" in (self.config.get("push") or []):
                uid = self.config.get("uid", "")
                mark = marker(ticket["ref"], uid)
                if not self.client.has_comment_with(rt_id, mark):
                    card = ticket.get("triage") or {}
                    self.client.comment(rt_id, triage_comment(card, ticket["ref"], uid))
                    commented = True
        except (InvalidInputError, NotFoundError, ConflictError) as e:
            ctx.fail(f"write-back to RT ticket {rt_id}", e)
            return
        ctx.mark_pushed(str(rt_id), {"fields": fields, "commented": commented})
        ctx.counts["pushed"] += 1
