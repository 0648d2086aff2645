"""A client of Request Tracker 5's REST 2 API, authenticated with an RT auth token.

Pull: :meth:`RTClient.tickets_updated_since` pages through tickets by (LastUpdated, id) with a
keyset cursor, so a ticket edited while the pages are read is neither skipped nor repeated
out of order.  Push back: :meth:`RTClient.update` (priority, queue, custom fields) and
:meth:`RTClient.comment`; :meth:`RTClient.has_comment_with` lets a write-back find its own
comment after a crash so it is written once.

RT's quirks this client absorbs (RT 5.0.3):

* Dates in JSON are ISO 8601 in UTC (``2026-12-01T08:05:24Z``); an unset date is
  ``1970-01-01T00:00:00Z``.  TicketSQL reads a date as wall time in the zone of the token's
  user (their preference, else RT's ``$Timezone``): ``timezone`` must name that zone.
  ``LastUpdated = '...'`` means the whole day, so the cursor uses ``>`` and ``>=`` only.
* ``PUT /ticket/ID`` answers 200 with a list of messages whatever happens: an unknown queue is
  a message ("Queue X does not exist") while the other changes of the same request are applied,
  an unknown custom field or field is silently ignored, and a priority that is not a number
  becomes 0.  :meth:`RTClient.update` therefore checks everything it can before writing and
  reads the ticket back after, raising if RT did not apply the whole change.
* ``GET /transaction/ID/attachments?fields=Parent`` is a 500 when the part has no parent; the
  listing's ``Content`` is the decoded text (``GET /attachment/ID`` gives base64).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote

from connectors.http import JsonApi
from core.dates import zone
from core.errors import (
    InvalidInputError,
    NotFoundError,
)
from core.text import html_to_text

PER_PAGE = 100  # RT's largest page
_TICKET_FIELDS = (
    "Subject,Status,Queue,Priority,Created,LastUpdated,Resolved,Requestor,CustomFields,Owner"
)
_UNSET_DATE = "1970-01-01T00:00:00Z"
_EXPAND = [
    ("fields[Queue]", "Name"),
    ("fields[Requestor]", "EmailAddress"),
    ("fields[Owner]", "Name"),
]
_UPDATABLE = {"priority": "Priority", "queue": "Queue", "custom_fields": "CustomFields"}


class RTClient:
    """REST 2 client of one RT instance.  Nothing happens until the first call."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        min_interval: float = 0.0,
        timezone: str = "UTC",
    ) -> None:
        self.url = url.rstrip("/")
        self.timezone = timezone
        self._api = JsonApi(
            f"{self.url}/REST/2.0",
            {"Authorization": f"token {token}", "Accept": "application/json"},
            name="RT",
            url=self.url,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            min_interval=min_interval,
        )

    def __repr__(self) -> str:  # never the token
        return f"RTClient(url={self.url!r})"

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> RTClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def check(self) -> dict:
        """RT's version, proving the URL answers and the token is accepted."""
        about = self._api.request("GET", "/rt", what="REST 2 API")
        return {"version": about.get("Version")}

    whoami = check

    def tickets_updated_since(
        self, since: datetime | None = None, *, seen_ids: Collection[int] = ()
    ) -> Iterator[dict]:
        """Tickets whose LastUpdated is at or after ``since`` (all tickets if None), in
        (last_updated, id) order.  RT keeps whole seconds, so a watermark is the last ticket's
        ``last_updated`` plus the ids already seen at that second (``seen_ids``: skipped)."""
        floor = None if since is None else since.replace(microsecond=0)
        if floor is not None and floor.tzinfo is None:
            floor = floor.replace(tzinfo=UTC)  # a naive watermark is UTC
        base = f"LastUpdated >= '{self._sql_date(floor)}'" if floor else "id > 0"
        cursor: tuple[datetime, int] | None = None
        while True:
            query = base
            if cursor is not None:
                at, after = self._sql_date(cursor[0]), cursor[1]
                query += f" AND (LastUpdated > '{at}' OR (LastUpdated >= '{at}' AND id > {after}))"
            params = [
                ("query", query),
                ("fields", _TICKET_FIELDS),
                *_EXPAND,
                ("orderby", "LastUpdated"),
                ("order", "ASC"),
                ("orderby", "id"),
                ("order", "ASC"),
                ("per_page", str(PER_PAGE)),
                ("page", "1"),
            ]
            answer = self._api.request("GET", "/tickets", params=params, what="ticket search")
            items = answer["items"]
            for raw in items:
                ticket = _ticket(raw)
                updated = ticket["last_updated"]
                cursor = (updated, ticket["id"])
                if floor is not None and (
                    updated < floor or (updated == floor and ticket["id"] in seen_ids)
                ):
                    continue
                yield ticket
            if len(items) < PER_PAGE:
                return

    def ticket(self, ticket_id: int) -> dict:
        """One ticket, in the shape of :meth:`tickets_updated_since`."""
        raw = self._api.request(
            "GET", f"/ticket/{int(ticket_id)}", params=_EXPAND, what=f"ticket {ticket_id}"
        )
        return _ticket(raw)

    def ticket_texts(self, ticket_id: int, status: str | None = None) -> dict:
        """``description``: the text of the ticket's Create transaction; ``resolution``: for a
        resolved ticket, the last reply (else comment) up to its last resolve, else None.
        Plain text; an HTML-only message is converted."""
        if status is None:  # the caller usually has it from the listing
            status = self.ticket(ticket_id)["status"]
        history = list(self._history(ticket_id))
        create = next((t for t in history if t.get("Type") == "Create"), None)
        description = self._transaction_text(create["id"]) if create else ""
        resolution = None
        if status == "resolved":
            resolved_at = max(
                (
                    i
                    for i, t in enumerate(history)
                    if t.get("Type") == "Status" and t.get("NewValue") == "resolved"
                ),
                default=len(history) - 1,
            )
            before = history[: resolved_at + 1]
            for kind in ("Correspond", "Comment"):
                last = next((t for t in reversed(before) if t.get("Type") == kind), None)
                if last is not None:
                    resolution = self._transaction_text(last["id"])
                    break
        return {"description": description, "resolution": resolution}

    def has_comment_with(self, ticket_id: int, marker: str) -> bool:
        """Whether a comment on the ticket contains ``marker`` (newest comments first)."""
        comments = [t for t in self._history(ticket_id) if t.get("Type") == "Comment"]
        return any(marker in self._transaction_text(t["id"]) for t in reversed(comments))

    # -- writing ---------------------------------------------------------------------------

    def update(self, ticket_id: int, fields: dict[str, Any]) -> list[str]:
        """Set ``Priority`` (int), ``Queue`` (name) and ``custom_fields`` ({name: value, a list
        for a multi-value field, None to clear}); returns RT's messages.  An unknown field,
        queue, custom field or select value is an :class:`InvalidInputError` before anything is
        written; a change RT did not apply is one after (read back from RT)."""
        body, wanted = self._checked_update(int(ticket_id), fields)
        if not body:
            return []
        messages = self._api.request(
            "PUT", f"/ticket/{int(ticket_id)}", json=body, what=f"ticket {ticket_id}"
        )
        now = self.ticket(ticket_id)
        missed = [
            f"{name} is {now_value!r}, not {want!r}"
            for name, want, now_value in _differences(wanted, now)
        ]
        if missed:
            said = "; ".join(str(m) for m in messages) or "no message"
            raise InvalidInputError(
                f"RT did not apply the whole update of ticket {ticket_id}: "
                f"{', '.join(missed)} (RT said: {said})"
            )
        return [str(m) for m in messages]

    def comment(self, ticket_id: int, text: str) -> list[str]:
        """Add an internal comment (text/plain).  Not retried once sent: after an error, ask
        :meth:`has_comment_with` before commenting again."""
        if not text.strip():
            raise InvalidInputError("an RT comment needs some text")
        messages = self._api.request(
            "POST",
            f"/ticket/{int(ticket_id)}/comment",
            json={"Content": text, "ContentType": "text/plain"},
            idempotent=False,
            what=f"ticket {ticket_id}",
        )
        return [str(m) for m in messages]

    # -- helpers ---------------------------------------------------------------------------

    def _checked_update(self, ticket_id: int, fields: dict[str, Any]) -> tuple[dict, dict]:
        body: dict[str, Any] = {}
        for key, value in fields.items():
            name = _UPDATABLE.get(key.lower().replace("customfields", "custom_fields"))
            if name is None:
                raise InvalidInputError(
                    f"cannot update {key!r} in RT (only Priority, Queue and custom_fields)"
                )
            body[name] = value
        priority = body.get("Priority")
        if "Priority" in body and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise InvalidInputError(f"an RT priority is a whole number, not {priority!r}")
        wanted: dict[str, Any] = {k: v for k, v in body.items() if k != "CustomFields"}
        current = self._api.request(
            "GET", f"/ticket/{ticket_id}", params=_EXPAND, what=f"ticket {ticket_id}"
        )
        queue = (current.get("Queue") or {}).get("Name")
        ticket_cfs = current.get("CustomFields") or []
        if "Queue" in body:
            queue = body["Queue"]
            if not isinstance(queue, str) or not queue.strip():
                raise InvalidInputError(f"an RT queue is a name, not {queue!r}")
            try:
                target = self._api.request("GET", f"/queue/{quote(queue, safe='')}", what="queue")
            except NotFoundError:
                raise InvalidInputError(f"RT has no queue {queue!r}") from None
            ticket_cfs = target.get("TicketCustomFields") or []
        custom = body.pop("CustomFields", None)
        if custom:
            if not isinstance(custom, dict):
                raise InvalidInputError("custom_fields must map field names to values")
            ids = {str(cf.get("name", "")).casefold(): str(cf["id"]) for cf in ticket_cfs}
            body["CustomFields"] = {}
            for name, value in custom.items():
                cf_id = ids.get(str(name).casefold())
                if cf_id is None:
                    raise InvalidInputError(f"RT has no custom field {name!r} on queue {queue!r}")
                self._check_cf_value(cf_id, name, value)
                body["CustomFields"][cf_id] = value
                wanted[f"custom_fields.{name}"] = value
        return body, wanted

    def _check_cf_value(self, cf_id: str, name: str, value: Any) -> None:
        values = value if isinstance(value, list) else [] if value is None else [value]
        if not all(isinstance(v, str | int | float) for v in values):
            raise InvalidInputError(f"RT custom field {name!r} takes text, not {value!r}")
        cf = self._api.request("GET", f"/customfield/{cf_id}", what=f"custom field {name!r}")
        if str(cf.get("MaxValues") or "0") == "1" and len(values) > 1:
            raise InvalidInputError(f"RT custom field {name!r} takes one value, not {value!r}")
        allowed = cf.get("Values")
        if cf.get("Type") == "Select" and allowed is not None:
            for v in values:
                if str(v) not in allowed:
                    raise InvalidInputError(
                        f"{v!r} is not a value of RT custom field {name!r} "
                        f"(one of {', '.join(map(repr, allowed))})"
                    )

    def _history(self, ticket_id: int) -> Iterator[dict]:
        yield from self._paged(
            f"/ticket/{int(ticket_id)}/history",
            [("fields", "Type,Field,NewValue")],
            what=f"ticket {ticket_id}",
        )

    def _transaction_text(self, txn_id: str | int) -> str:
        parts = list(
            self._paged(
                f"/transaction/{int(txn_id)}/attachments",
                [("fields", "ContentType,Content,Filename")],  # not Parent: a 500 in RT 5.0.3
                what=f"transaction {txn_id}",
            )
        )
        bodies = [p for p in parts if not p.get("Filename") and (p.get("Content") or "").strip()]
        for kind, convert in (("text/plain", str), ("text/html", html_to_text)):
            for part in bodies:
                if str(part.get("ContentType", "")).split(";")[0].strip().lower() == kind:
                    return convert(part["Content"]).strip()
        return ""

    def _paged(self, path: str, params: list[tuple[str, str]], *, what: str) -> Iterator[dict]:
        page = 1
        while True:
            answer = self._api.request(
                "GET",
                path,
                params=[*params, ("per_page", str(PER_PAGE)), ("page", str(page))],
                what=what,
            )
            items = answer.get("items") or []
            yield from items
            if len(items) < PER_PAGE:
                return
            page += 1

    def _sql_date(self, when: datetime) -> str:
        local: tzinfo = zone(self.timezone)  # type: ignore[assignment]  # UTC is a tzinfo
        return when.astimezone(local).strftime("%Y-%m-%d %H:%M:%S")


def _date(value: object) -> datetime | None:
    if not value or value == _UNSET_DATE:
        return None
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _cf_value(values: list) -> str | list[str] | None:
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def _ticket(raw: dict) -> dict:
    queue = raw.get("Queue") or {}
    owner = raw.get("Owner") or {}
    owner_name = owner.get("Name") or owner.get("id")
    requestors = [
        u.get("EmailAddress") or u.get("id")
        for u in raw.get("Requestor") or []
        if isinstance(u, dict) and u.get("type") == "user"
    ]
    return {
        "id": int(raw["id"]),
        "subject": raw.get("Subject") or "",
        "status": raw.get("Status"),
        "queue": queue.get("Name"),
        "priority": int(raw.get("Priority") or 0),
        "created": _date(raw.get("Created")),
        "last_updated": _date(raw.get("LastUpdated")),
        "resolved": _date(raw.get("Resolved")),
        "requestors": requestors,
        "custom_fields": {
            cf["name"]: _cf_value(cf.get("values") or [])
            for cf in raw.get("CustomFields") or []
            if isinstance(cf, dict) and cf.get("name")
        },
        "owner": None if owner_name in (None, "", "Nobody") else owner_name,
    }


def _normalised(value: Any) -> list[str]:
    if value is None:
        return []
    return sorted(str(v) for v in (value if isinstance(value, list) else [value]))


def _differences(wanted: dict[str, Any], ticket: dict) -> Iterator[tuple[str, Any, Any]]:
    for key, want in wanted.items():
        if key == "Priority":
            if ticket["priority"] != want:
                yield "Priority", want, ticket["priority"]
        elif key == "Queue":
            if (ticket["queue"] or "").casefold() != str(want).casefold():
                yield "Queue", want, ticket["queue"]
        else:
            name = key.split(".", 1)[1]
            now = next(
                (v for k, v in ticket["custom_fields"].items() if k.casefold() == name.casefold()),
                None,
            )
            if _normalised(now) != _normalised(want):
                yield f"custom field {name}", want, now
