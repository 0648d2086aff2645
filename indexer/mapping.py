"""Column mapping: from a user's export columns to firstline's fields.

A user's export never has our column names.  Each field has a list of usual names (ServiceNow,
Jira, Zendesk, Kaggle exports ...), or a preset (:mod:`indexer.presets`) names the columns of one
product's export; an explicit ``--map field=Column`` always wins.  Columns that
map to nothing are kept in ``extra`` so nothing in the export is lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.dates import parse_date, zone
from core.errors import InvalidInputError
from indexer.presets import Preset
from kb.records import Record, content_hash

TICKET_FIELDS: dict[str, list[str]] = {
    "external_id": [
        "id",
        "number",
        "ticket id",
        "ticket number",
        "issue id",
        "issue key",
        "key",
        "external id",
        "incident id",
        "case number",
        "sys id",
    ],
    "title": ["title", "short description", "summary", "subject", "question", "name"],
    "description": [
        "description",
        "body",
        "details",
        "document",
        "text",
        "problem",
        "content",
        "comments",
    ],
    "resolution": [
        "resolution",
        "resolution notes",
        "close notes",
        "closure notes",
        "solution",
        "fix",
        "answer",
        "work notes resolution",
    ],
    "category": ["category", "topic group", "topic", "queue", "component", "product"],
    "assignment_group": ["assignment group", "group", "assigned group", "team", "assignee group"],
    "type": ["type", "ticket type", "issue type", "request type"],
    "impact": ["impact"],
    "urgency": ["urgency"],
    "priority": ["priority"],
    "status": ["status", "state"],
    "tags": ["tags", "labels", "keywords"],
    "caller": ["caller", "caller id", "requester", "reporter", "opened by", "customer"],
    "opened_at": [
        "opened at",
        "opened",
        "created",
        "created at",
        "creation date",
        "date",
        "sys created on",
    ],
    "resolved_at": ["resolved at", "resolved", "closed at", "closed", "resolution date"],
}

ARTICLE_FIELDS: dict[str, list[str]] = {
    "external_id": ["id", "number", "article id", "kb number", "key", "external id", "slug"],
    "title": ["title", "short description", "subject", "question", "name", "heading"],
    "body": [
        "body",
        "text",
        "content",
        "answer",
        "article body",
        "document",
        "description",
        "html",
    ],
    "category": ["category", "topic group", "topic", "section", "kb category"],
    "tags": ["tags", "labels", "keywords", "guides"],
    "status": ["status", "state", "workflow state"],
    "created_at": ["created at", "created", "published", "date"],
    "updated_at": ["updated at", "updated", "modified", "last updated", "sys updated on"],
}

FIELDS = {"ticket": TICKET_FIELDS, "article": ARTICLE_FIELDS}
TEXT_FIELD = {"ticket": "description", "article": "body"}
DEFAULT_STATUS = {"ticket": "resolved", "article": "published"}
DATE_FIELDS = {"opened_at", "resolved_at", "created_at", "updated_at"}


@dataclass(frozen=True, slots=True)
class DateReading:
    """How the dates of one import are read (see :func:`core.dates.parse_date`)."""

    order: str = "dmy"  # all-numeric dates: day first ("dmy") or month first ("mdy")
    tz: str = "UTC"  # the zone of dates written without one
    fmt: str | None = None  # an explicit strptime format (``--date-format``)

    def __post_init__(self) -> None:
        zone(self.tz)  # an unknown zone is refused before the first row is read
        if self.order not in ("dmy", "mdy"):
            raise InvalidInputError(f"unknown date order {self.order!r}: use 'dmy' or 'mdy'")


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """A value that could not be used: the row is kept, with that field empty."""

    column: str
    value: str
    reason: str


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", name.strip().lower())


def parse_mapping_options(options: list[str] | None) -> dict[str, str]:
    """``["title=Short description", ...]`` -> ``{"title": "Short description"}``."""
    out: dict[str, str] = {}
    for opt in options or []:
        if "=" not in opt:
            raise InvalidInputError(f"--map {opt!r}: expected FIELD=COLUMN")
        k, v = opt.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@dataclass(slots=True)
class Mapping_:
    kind: str
    columns: dict[str, str]  # our field -> their column
    unmapped: list[str] = field(default_factory=list)
    preset: Preset | None = None  # whose values are normalised (impact, priority, status ...)

    def describe(self) -> str:
        mapped = ", ".join(f"{f}<-{c!r}" for f, c in self.columns.items())
        return f"preset {self.preset.name}: {mapped}" if self.preset else mapped


def resolve_mapping(
    kind: str, header: list[str], explicit: Mapping[str, str], preset: Preset | None = None
) -> Mapping_:
    """Match our fields to the file's columns, explicit choices first, then the preset's
    columns or, without a preset, the usual names."""
    if kind not in FIELDS:
        raise InvalidInputError(f"unknown kind {kind!r}: use 'ticket' or 'article'")
    if preset is not None and kind != "ticket":
        raise InvalidInputError(f"preset {preset.name!r} reads tickets, not {kind}s")
    fields = FIELDS[kind]
    unknown = [f for f in explicit if f not in fields]
    if unknown:
        raise InvalidInputError(
            f"--map: unknown field(s) {', '.join(unknown)} for {kind}s; known: {', '.join(fields)}"
        )
    by_key = {_key(h): h for h in header}
    columns: dict[str, str] = {}
    for f, col in explicit.items():
        if col not in header and _key(col) not in by_key:
            raise InvalidInputError(
                f"--map {f}={col}: no column {col!r} in the file (columns: {', '.join(header)})"
            )
        columns[f] = col if col in header else by_key[_key(col)]
    taken = set(columns.values())
    for f, names in (preset.columns if preset else fields).items():
        if f in columns:
            continue
        for n in names:
            col = by_key.get(_key(n))
            if col is not None and col not in taken:
                columns[f] = col
                taken.add(col)
                break
    if "title" not in columns and TEXT_FIELD[kind] not in columns:
        raise InvalidInputError(
            f"no text column found for {kind}s among: {', '.join(header)}; "
            f"say which with --map title=COLUMN or --map {TEXT_FIELD[kind]}=COLUMN"
        )
    return Mapping_(kind, columns, [h for h in header if h not in taken], preset)


def _as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v != v:  # NaN from a spreadsheet
        return ""
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)


def _tags(v: Any) -> list[str]:
    if v in (None, ""):
        return []
    if isinstance(v, list):
        return [str(t).strip() for t in v if str(t).strip()]
    return [t.strip() for t in re.split(r"[,;|]", str(v)) if t.strip()]


def build_record(
    mapping: Mapping_, row: Mapping[str, Any], dates: DateReading = DateReading()
) -> Record:
    """One export row -> one record; raises ``ValueError`` with the reason for a bad row.

    A date that cannot be read, or lies outside the supported range, is stored empty and
    listed in the record's ``warnings`` (the row itself is kept).
    """
    kind = mapping.kind
    values: dict[str, Any] = {}
    warnings: list[FieldWarning] = []
    for f, col in mapping.columns.items():
        raw = row.get(col)
        if f == "tags":
            values[f] = _tags(raw)
        elif f in DATE_FIELDS:
            values[f] = None
            if not _as_text(raw).strip():  # empty, or NaN from a spreadsheet
                continue
            try:
                values[f] = parse_date(raw, dates.order, dates.tz, dates.fmt).isoformat()
            except InvalidInputError as e:
                warnings.append(FieldWarning(col, _as_text(raw)[:200], str(e)))
        else:
            text = _as_text(raw).strip() if f != TEXT_FIELD[kind] else _as_text(raw)
            if text and mapping.preset is not None:
                text = mapping.preset.normalise(f, text)
            values[f] = text or None
    text_field = TEXT_FIELD[kind]
    title = (values.get("title") or "").strip()
    body = values.get(text_field) or ""
    if not title and not body.strip():
        raise ValueError("missing text: both title and " + text_field + " are empty")
    if not title:
        first = body.strip().split("\n", 1)[0]
        values["title"] = first if len(first) <= 120 else first[:117].rsplit(" ", 1)[0] + "..."
    values[text_field] = body
    values.setdefault("status", None)
    values["status"] = (values["status"] or DEFAULT_STATUS[kind]).lower()
    values.setdefault("tags", [])
    taken = set(mapping.columns.values())
    extra = {c: _as_text(v) for c, v in row.items() if c not in taken and _as_text(v)}
    values["extra"] = extra
    external_id = (values.pop("external_id", None) or "").strip()
    h = content_hash(values)
    return Record(kind, external_id, values, h, warnings)
