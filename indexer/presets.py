"""Export presets: the column mapping and value vocabulary of the tools a desk migrates from.

``firstline ingest FILE --preset NAME`` reads an export with the preset's columns instead of the
automatic match by usual names (an explicit ``--map`` still wins), and turns the product's
impact, urgency, priority and status values into firstline's: impact and urgency are the
priority matrix's levels (low, medium, high), priority is P1 (most urgent) to P5, and a status
that means "done" (Resolved, Closed, solved, Done ...) is ``resolved``.  Any other value is kept
as the export wrote it.

Each preset is data: the columns per field (the first one the file has is used; case, spaces,
``_``, ``-`` and ``.`` do not matter, as for ``--map``), the product's codes for values that are
not plain words ("5" in GLPI, "1 - High" in ServiceNow is read as its word "High"), and the
date formats the export writes (all read by :func:`core.dates.parse_date`; the tests hold every
example to it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import InvalidInputError

# A product's word -> firstline's level (impact, urgency) or priority.
LEVEL_WORDS: dict[str, str] = {
    "very high": "high",
    "high": "high",
    "critical": "high",
    "urgent": "high",
    "medium": "medium",
    "moderate": "medium",
    "normal": "medium",
    "low": "low",
    "very low": "low",
    "minor": "low",
    # French, as GLPI writes them
    "très haute": "high",
    "haute": "high",
    "moyenne": "medium",
    "basse": "low",
    "très basse": "low",
}
PRIORITY_WORDS: dict[str, str] = {
    "major": "P1",  # GLPI's "Major" is above "Very high"
    "critical": "P1",
    "urgent": "P1",
    "highest": "P1",
    "very high": "P1",
    "high": "P2",
    "medium": "P3",
    "moderate": "P3",
    "normal": "P3",
    "low": "P4",
    "very low": "P5",
    "lowest": "P5",
    "planning": "P5",
    "majeure": "P1",
    "très haute": "P1",
    "haute": "P2",
    "moyenne": "P3",
    "basse": "P4",
    "très basse": "P5",
}
# Statuses that mean the work is done: stored as "resolved", the status of a searchable answer.
RESOLVED_WORDS = frozenset(
    {"resolved", "closed", "solved", "done", "fixed", "completed", "complete", "résolu", "clos"}
)
# Which vocabulary a field's values come from.
_VOCABULARY = {"impact": "level", "urgency": "level", "priority": "priority", "status": "status"}
# "1 - High" (ServiceNow), "3 high" (Zammad): a number before the word.
_NUMBERED = re.compile(r"^\d+\s*(?:-\s*)?(?=\D)")


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    product: str
    export: str  # which export of the product it reads
    columns: Mapping[str, tuple[str, ...]]  # our field -> the product's column names
    # Vocabulary ("level", "priority", "status") -> the product's code -> a word of ours.
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    date_examples: tuple[str, ...] = ()  # as the export writes its dates

    def normalise(self, field_name: str, value: str) -> str:
        """``value`` of ``field_name`` in firstline's vocabulary, or as it is when unknown."""
        vocabulary = _VOCABULARY.get(field_name)
        if vocabulary is None:
            return value
        word = value.strip().casefold()
        word = self.codes.get(vocabulary, {}).get(word, word)
        word = _NUMBERED.sub("", word).strip()
        if vocabulary == "status":
            return "resolved" if word in RESOLVED_WORDS else value
        table = LEVEL_WORDS if vocabulary == "level" else PRIORITY_WORDS
        return table.get(word, value)


# Codes shared by GLPI's urgency, impact and priority (1 Very low ... 5 Very high, 6 Major).
_GLPI_LEVELS = {"1": "very low", "2": "low", "3": "medium", "4": "high", "5": "very high"}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        # CSV list export of the incident table: field names as headers, display values.
        # https://www.servicenow.com/docs/r/platform-administration/table-administration-and-data-management/default-values-headers-values.html
        # Impact/urgency "1 - High" .. "3 - Low", priority "1 - Critical" .. "5 - Planning":
        # https://www.servicenow.com/docs/r/australia/it-service-management/problem-management/prioritise-problems.html
        Preset(
            "servicenow",
            "ServiceNow",
            "incident list, Export > CSV",
            {
                "external_id": ("number",),
                "title": ("short_description",),
                "description": ("description",),
                "resolution": ("close_notes",),
                "category": ("category",),
                "assignment_group": ("assignment_group",),
                "type": ("contact_type",),
                "impact": ("impact",),
                "urgency": ("urgency",),
                "priority": ("priority",),
                "status": ("state", "incident_state"),
                "caller": ("caller_id",),
                "opened_at": ("opened_at", "sys_created_on"),
                "resolved_at": ("resolved_at", "closed_at"),
            },
            # Raw values (glide.export.csv.raw.value): the incident table's choice codes.
            {
                "level": {"1": "high", "2": "medium", "3": "low"},
                "priority": {
                    "1": "critical",
                    "2": "high",
                    "3": "moderate",
                    "4": "low",
                    "5": "planning",
                },
                "status": {"6": "resolved", "7": "closed"},
            },
            ("2024-03-01 10:00:00",),
        ),
        # Issue search, Export > CSV (all fields): sr/jira.issueviews:searchrequest-csv-all-fields
        # (https://github.com/atlassian-api/atlassian-python-api/pull/603). Columns are the field
        # names, custom fields as "Custom field (NAME)": Impact and Urgency of the ITSM template.
        # Jira's "Resolution" column is a resolution *name* (Done, Won't Do), not the fix: it
        # is kept with the row, not read as the resolution text.
        Preset(
            "jira",
            "Jira Service Management",
            "issue search, Export > CSV",
            {
                "external_id": ("Issue key",),
                "title": ("Summary",),
                "description": ("Description",),
                "category": ("Component/s",),
                "type": ("Issue Type",),
                "impact": ("Custom field (Impact)",),
                "urgency": ("Custom field (Urgency)",),
                "priority": ("Priority",),
                "status": ("Status",),
                "tags": ("Labels",),
                "caller": ("Reporter",),
                "opened_at": ("Created",),
                "resolved_at": ("Resolved",),
            },
            {
                "level": {
                    "extensive / widespread": "high",
                    "significant / large": "high",
                    "moderate / limited": "medium",
                    "minor / localized": "low",
                },
                # The classic priority scheme, beside Highest .. Lowest.
                "priority": {
                    "blocker": "critical",
                    "critical": "high",
                    "major": "medium",
                    "minor": "low",
                    "trivial": "lowest",
                },
            },
            ("01/Mar/24 10:00 AM", "1/Mar/24 2:30 PM"),
        ),
        # REST API GET /api/v1/tickets?expand=true, one ticket object per line (JSONL);
        # the expanded ticket has names for group, state and priority ("2 normal").
        # https://docs.zammad.org/en/latest/api/ticket/priorities.html ("1 low" .. "3 high");
        # the expanded shape: https://docs.rs/zammad-api/0.1.0/zammad_api/models/struct.TicketExpanded.html
        Preset(
            "zammad",
            "Zammad",
            "REST API tickets?expand=true, one object per line",
            {
                "external_id": ("number",),
                "title": ("title",),  # the text is in the ticket's articles, not the ticket
                "assignment_group": ("group",),
                "type": ("type",),
                "priority": ("priority",),
                "status": ("state",),
                "caller": ("customer",),
                "opened_at": ("created_at",),
                "resolved_at": ("close_at",),
            },
            {"priority": {"1": "low", "2": "normal", "3": "high"}},
            ("2024-03-01T10:00:00.000Z",),
        ),
        # Search list, Export > CSV (";" separated), English or French interface.
        # https://github.com/glpi-project/doc/blob/develop/source/first-steps/search.rst
        # Urgency/impact 1 Very low .. 5 Very high, priority also 6 Major (above the matrix):
        # https://github.com/glpi-project/doc/blob/develop/source/modules/assistance/prioritymatrix.rst
        Preset(
            "glpi",
            "GLPI",
            "ticket search list, Export > CSV",
            {
                "external_id": ("ID",),
                "title": ("Title", "Titre"),
                "description": ("Description",),
                "resolution": ("Solution", "Solution - Solution"),
                "category": ("Category", "Catégorie"),
                "assignment_group": ("Assigned to - Group", "Attribué à - Groupe"),
                "type": ("Type",),
                "impact": ("Impact",),
                "urgency": ("Urgency", "Urgence"),
                "priority": ("Priority", "Priorité"),
                "status": ("Status", "Statut"),
                "caller": ("Requester - Requester", "Demandeur - Demandeur"),
                "opened_at": ("Opening date", "Date d'ouverture"),
                "resolved_at": ("Resolution date", "Date de résolution", "Closing date"),
            },
            {
                "level": _GLPI_LEVELS,
                "priority": {**_GLPI_LEVELS, "6": "major"},
                "status": {"5": "solved", "6": "closed"},
            },
            ("2024-03-01 10:00",),
        ),
        # Tickets list, Export > CSV: the ticket fields by their labels. Codes of the API's JSON
        # (status 2 Open, 3 Pending, 4 Resolved, 5 Closed; priority 1 Low .. 4 Urgent):
        # https://raw.githubusercontent.com/api-evangelist/freshworks/refs/heads/main/json-schema/freshworks-ticket-schema.json
        Preset(
            "freshservice",
            "Freshservice",
            "tickets list, Export > CSV",
            {
                "external_id": ("Ticket Id", "id"),
                "title": ("Subject",),
                "description": ("Description", "description_text"),
                "resolution": ("Resolution Notes",),
                "category": ("Category",),
                "assignment_group": ("Group",),
                "type": ("Type",),
                "impact": ("Impact",),
                "urgency": ("Urgency",),
                "priority": ("Priority",),
                "status": ("Status",),
                "caller": ("Requester Name", "Requester Email"),
                "tags": ("Tags",),
                "opened_at": ("Created Time", "created_at"),
                "resolved_at": ("Resolved Time", "Closed Time"),
            },
            {
                "level": {"1": "low", "2": "medium", "3": "high"},
                "priority": {"1": "low", "2": "medium", "3": "high", "4": "urgent"},
                "status": {"4": "resolved", "5": "closed"},
            },
            ("2024-03-01 10:00:00",),
        ),
        # Admin Center > Tools > Reports: the full JSON export (one ticket per line) or the
        # CSV export (no description, "Solved at").
        # https://support.zendesk.com/hc/en-us/articles/4408886165402
        # Status new/open/pending/hold/solved/closed, priority low/normal/high/urgent:
        # https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_fields/
        Preset(
            "zendesk",
            "Zendesk",
            "Reports > Export, JSON or CSV",
            {
                "external_id": ("id",),
                "title": ("subject",),
                "description": ("description",),
                "assignment_group": ("Group",),
                "type": ("type", "Ticket type"),
                "priority": ("priority",),
                "status": ("status",),
                "caller": ("Requester",),
                "tags": ("tags",),
                "opened_at": ("created_at",),
                "resolved_at": ("Solved at", "solved_at"),
            },
            {},
            ("2024-03-01T10:00:00Z", "2024-03-01 10:00"),
        ),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is an error that lists the presets."""
    preset = PRESETS.get(name.strip().lower())
    if preset is None:
        raise InvalidInputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return preset
