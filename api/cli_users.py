"""``firstline users``: API keys with roles (the key is printed once, stored hashed)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InvalidInputError
from core.settings import get_settings
from kb.auth import ROLES, Audit, Keys, Principal
from kb.db import Database

users_app = typer.Typer(
    help="API keys for agents, editors and admins (the console signs in with one).",
    no_args_is_help=True,
)
out = Console()
CLI = Principal("cli", "admin")


def _db() -> Database:
    s = get_settings()
    return Database(s.database_url, s.database.echo)


@users_app.command("create")
def create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="Who uses the key (shown in the audit log).")] = "",
) -> None:
    """Create a key and print it once: it is stored only as a hash."""
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    db = _db()
    try:
        record, key = Keys(db).create(name or role, role)
        Audit(db).write(CLI, "admin.key_create", f"key:{record['id']}", None, record)
    finally:
        db.close()
    typer.echo(key)
    typer.echo(
        f"(key {record['id']} for {record['name']}, role {role}: shown once, keep it safe)",
        err=True,
    )


@users_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Keys (never the keys themselves): name, role, prefix, created, revoked."""
    db = _db()
    try:
        keys = Keys(db).list()
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps(keys))
        return
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    for k in keys:
        table.add_row(
            str(k["id"]), k["name"], k["role"], k["prefix"], k["created_at"], k["revoked_at"] or ""
        )
    out.print(table)


@users_app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `users list`).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    db = _db()
    try:
        record = Keys(db).revoke(key_id)
        Audit(db).write(CLI, "admin.key_revoke", f"key:{key_id}", None, record)
    finally:
        db.close()
    typer.echo(f"key {key_id} ({record['name']}) revoked")
