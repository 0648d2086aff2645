"""Administration and imports as units of work: an API key made or revoked, a batch of tickets
or articles imported through the API, each with its audit entry in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from indexer.ingest import IngestReport
from indexer.service import Firstline
from kb.auth import Audit, Keys, Principal
from kb.records import Upserted


class AdminWorkflow:
    """Keys and imports.  Constructing it does no I/O."""

    def __init__(self, service: Firstline, keys: Keys, audit: Audit) -> None:
        self.service = service
        self.keys = keys
        self.audit = audit
        self.db = keys.db

    def create_key(self, who: Principal, name: str, role: str) -> tuple[dict[str, Any], str]:
        """A new API key (its record, and the key, shown once); audited with it."""
        with self.db.session() as s:
            record, key = self.keys.create(name, role, within=s)
            self.audit.write(who, "admin.key_create", f"key:{record['id']}", None, record, within=s)
        return record, key

    def revoke_key(self, who: Principal, key_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            record = self.keys.revoke(key_id, within=s)
            self.audit.write(who, "admin.key_revoke", f"key:{key_id}", None, record, within=s)
        return record

    def import_items(
        self, who: Principal, kind: str, items: Sequence[dict[str, Any]], source: str
    ) -> IngestReport:
        """Tickets or articles from an API client.  Each stored batch carries its own audit
        entry (what it added, updated, left unchanged) in its own transaction, so the audit log
        never claims a batch that did not commit, nor misses one that did."""

        def audit(s: Session, done: Upserted) -> None:
            counts = {
                "added": done.added,
                "updated": done.updated,
                "unchanged": done.unchanged,
                "curated": done.curated,
            }
            self.audit.write(who, f"import.{kind}s", source, None, counts, within=s)

        return self.service.ingest_items(kind, items, source, on_batch=audit)
