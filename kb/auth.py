"""API keys (stored as SHA-256 only, shown once) with roles, and the audit log of every write.

Roles are ordered: an editor can do all an agent can, an admin all an editor can.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ForbiddenError, InvalidInputError, NotFoundError
from core.time import iso, utcnow
from kb.db import Database
from kb.models import ApiKey, AuditEntry

ROLES = ("agent", "editor", "admin")
KEY_PREFIX = "fl_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name and role."""

    name: str
    role: str
    key_id: int | None = None

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def require(self, role: str) -> None:
        if not self.can(role):
            raise ForbiddenError(f"this needs the {role} role; {self.name} is {self.role}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_dict(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "prefix": k.prefix,
        "created_at": iso(k.created_at),
        "revoked_at": iso(k.revoked_at),
    }


class Keys:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, name: str, role: str, within: Session | None = None
    ) -> tuple[dict[str, Any], str]:
        """A new key: its record and the key itself (which is not stored and cannot be
        shown again)."""
        name = (name or "").strip()
        if not name:
            raise InvalidInputError("a key needs a name (who uses it)")
        if role not in ROLES:
            raise InvalidInputError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.db.session(within) as s:
            row = ApiKey(name=name, role=role, prefix=key[:10], key_hash=hash_key(key))
            s.add(row)
            s.flush()
            return _key_dict(row), key

    def lookup(self, key: str) -> Principal | None:
        if not key:
            return None
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
            if row is None or row.revoked_at is not None:
                return None
            return Principal(row.name, row.role, row.id)

    def list(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [_key_dict(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke(self, key_id: int, within: Session | None = None) -> dict[str, Any]:
        with self.db.session(within) as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFoundError(f"no key {key_id}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _key_dict(row)


class Audit:
    def __init__(self, db: Database) -> None:
        self.db = db

    def write(
        self,
        who: Principal,
        action: str,
        target: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        within: Session | None = None,
    ) -> None:
        """Record who did what.  ``within``: the action's own unit of work, so the entry
        commits with the change it describes, or neither does."""
        with self.db.session(within) as s:
            s.add(
                AuditEntry(
                    actor=who.name,
                    role=who.role,
                    action=action,
                    target=target,
                    before=_small(before),
                    after=_small(after),
                )
            )

    def list(
        self, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if actor:
                q = q.where(AuditEntry.actor == actor)
            if action:
                q = q.where(AuditEntry.action == action)
            return [
                {
                    "id": e.id,
                    "actor": e.actor,
                    "role": e.role,
                    "action": e.action,
                    "target": e.target,
                    "before": e.before,
                    "after": e.after,
                    "created_at": iso(e.created_at),
                }
                for e in s.scalars(q)
            ]


def _small(d: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the audit keeps of a record: everything but vectors and very long texts."""
    if d is None:
        return None
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in ("embedding", "triage", "quality"):
            continue
        if isinstance(v, str) and len(v) > 4000:
            v = v[:4000] + "…"
        out[k] = v
    return out
