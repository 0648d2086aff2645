"""``firstline connect``, ``firstline sync`` and ``firstline connections``: the systems a desk
already runs.  Secrets come from an environment variable, a file or a hidden prompt, never from
the command line (shell history, ``ps``), and are never printed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from core.errors import InvalidInputError
from core.settings import get_settings
from kb.auth import Principal

connect_app = typer.Typer(
    help="Store a connection to a system the desk runs (Request Tracker, an IMAP mailbox).",
    no_args_is_help=True,
)
connections_app = typer.Typer(
    help="List, pause, resume, check and remove connections.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
CLI = Principal("cli", "admin")
EXIT_PARTIAL_SYNC = 5  # some items failed (they are retried by the next sync)


def _secret(env: str, file: Path | None, label: str) -> str:
    if file is not None:
        try:
            value = file.read_text().strip()
        except OSError as e:
            raise InvalidInputError(f"cannot read {label} file {file}: {e.strerror}") from e
    elif os.environ.get(env):
        value = os.environ[env].strip()
    elif sys.stdin.isatty():
        value = typer.prompt(label, hide_input=True).strip()
    else:
        raise InvalidInputError(f"no {label}: set {env}, or give --{label.replace(' ', '-')}-file")
    if not value:
        raise InvalidInputError(f"the {label} is empty")
    return value


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out_: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInputError(f"{what} {v!r} is not KEY=VALUE")
        out_[key.strip()] = value.strip()
    return out_


def _since(value: str | None, timezone: str):  # noqa: ANN202
    """``--since`` as an aware UTC time (an unreadable date is one error line)."""
    if value is None:
        return None
    from core.dates import parse_date

    return parse_date(value, tz=timezone)


class _Wiring:
    """The service, opened lazily and closed at the end of a command."""

    def __enter__(self):  # noqa: ANN204
        from connectors.sync import sync_service
        from indexer.service import Firstline

        self.settings = get_settings()
        self.service = Firstline(self.settings)
        return sync_service(self.settings, self.service)

    def __exit__(self, *exc: object) -> None:
        self.service.close()


def _store(name: str, kind: str, config: dict[str, Any], secret: str, replace: bool, check: bool):  # noqa: ANN202
    with _Wiring() as sync:
        if check:
            from connectors.sync import connector_for

            info = connector_for(kind, config, secret, sync.settings).check()
            err.print(f"connected: {json.dumps(info)}", highlight=False, markup=False)
        stored = sync.connect(CLI, name, kind, config, secret, replace)
    out.print(f"stored connection {stored['name']} ({kind}); run `firstline sync {name}`")


@connect_app.command("rt")
def connect_rt(
    name: Annotated[str, typer.Argument(help="A name for this connection, e.g. 'rt'.")],
    url: Annotated[str, typer.Option(help="RT's base URL, e.g. https://rt.example.com.")],
    token_file: Annotated[
        Path | None,
        typer.Option(help="File holding the RT auth token (else $FIRSTLINE_RT_TOKEN or a prompt)."),
    ] = None,
    queue: Annotated[
        list[str], typer.Option(help="Only these queues (repeatable; default: all).")
    ] = [],  # noqa: B006
    push: Annotated[
        list[str],
        typer.Option(
            help="Write back (repeatable, opt-in): priority, impact, urgency, queue, comment."
        ),
    ] = [],  # noqa: B006
    impact_field: Annotated[
        str | None, typer.Option(help="RT custom field that takes the impact.")
    ] = None,
    urgency_field: Annotated[
        str | None, typer.Option(help="RT custom field that takes the urgency.")
    ] = None,
    queue_map: Annotated[
        list[str], typer.Option(help="GROUP=QUEUE: an assignment group's RT queue (repeatable).")
    ] = [],  # noqa: B006
    second_line_queue: Annotated[
        str | None, typer.Option(help="RT queue for requests triaged as second line.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="First sync: only tickets updated since this date (default: all)."),
    ] = None,
    timezone: Annotated[
        str,
        typer.Option(
            help="RT's time zone ($Timezone or the token user's): it reads query dates in it."
        ),
    ] = "UTC",
    replace: Annotated[
        bool, typer.Option(help="Update an existing connection (its sync state is kept).")
    ] = False,
    check: Annotated[bool, typer.Option(help="Check the URL and token before storing.")] = True,
) -> None:
    """Request Tracker 5 over REST 2 with an auth token (RT: Settings → Auth Tokens)."""
    from connectors.rt_sync import rt_config

    config = rt_config(
        url,
        queue,
        push,
        impact_field,
        urgency_field,
        _pairs(queue_map, "--queue-map"),
        second_line_queue,
        timezone=timezone,
        since=_since(since, timezone),
    )
    token = _secret("FIRSTLINE_RT_TOKEN", token_file, "token")
    _store(name, "rt", config, token, replace, check)


@connect_app.command("imap")
def connect_imap(
    name: Annotated[str, typer.Argument(help="A name for this connection, e.g. 'helpdesk-mail'.")],
    host: Annotated[str, typer.Option(help="IMAP server.")],
    user: Annotated[str, typer.Option(help="Mailbox user.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="IMAP port (993 with --ssl).")] = 993,
    ssl: Annotated[
        bool, typer.Option(help="IMAP over TLS (--no-ssl: plain, e.g. on localhost).")
    ] = True,
    starttls: Annotated[
        bool, typer.Option(help="Upgrade a plain connection with STARTTLS.")
    ] = False,
    folder: Annotated[str, typer.Option(help="Folder new requests arrive in.")] = "INBOX",
    password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the password (else $FIRSTLINE_IMAP_PASSWORD or a prompt)."),
    ] = None,
    ack: Annotated[
        bool,
        typer.Option(
            help="Acknowledge each request by mail with its best KB answer (SMTP settings)."
        ),
    ] = False,
    ack_min_confidence: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Only when the answer's match is at least this good."),
    ] = 0.6,
    replace: Annotated[
        bool, typer.Option(help="Update an existing connection (its sync state is kept).")
    ] = False,
    check: Annotated[bool, typer.Option(help="Log in before storing.")] = True,
) -> None:
    """An IMAP mailbox: each new mail becomes a desk ticket (replies join their ticket)."""
    from connectors.mail_sync import imap_config

    config = imap_config(host, port, user, folder, ssl, starttls, ack, ack_min_confidence)
    password = _secret("FIRSTLINE_IMAP_PASSWORD", password_file, "password")
    _store(name, "imap", config, password, replace, check)


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def sync(
    name: Annotated[
        str | None, typer.Argument(help="One connection (default: every one not paused).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Read the remote system and show what would be written; store nothing.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The reports as JSON.")] = False,
) -> None:
    """Pull what changed in connected systems since the last sync, triage new requests and
    write firstline's decisions back.  Exit 0: all done; 5: some items failed (retried by the
    next sync); 1: a connection failed."""
    reports = []
    with _Wiring() as service, _bar() as bar:
        names = (
            [name]
            if name
            else [
                c["name"]
                for c in service.connections.list()
                if c["kind"] != "webhook" and not c["paused"]
            ]
        )
        for n in names:
            task = bar.add_task(f"sync {n}", total=None)

            def progress(done: int, total: int | None, task: Any = task) -> None:
                bar.update(task, total=total, advance=done)

            reports.append(service.run(n, dry_run=dry_run, progress=progress))
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], default=str))
    else:
        for r in reports:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())) or "nothing new"
            out.print(f"{r.name}: {r.status} ({counts})", highlight=False, markup=False)
            for e in r.errors[:5]:
                err.print(f"  {e}", highlight=False, markup=False)
            for p in r.planned:
                out.print(f"  would write: {json.dumps(p)}", highlight=False, markup=False)
    if any(r.status == "error" for r in reports):
        raise typer.Exit(1)
    if any(r.status == "partial" for r in reports):
        raise typer.Exit(EXIT_PARTIAL_SYNC)


@connections_app.command("list")
def list_connections(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Connections with their last sync (never their secrets)."""
    with _Wiring() as service:
        rows = service.connections.list()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("name", "kind", "paused", "last sync", "status", "counts", "error")
    for c in rows:
        table.add_row(
            c["name"],
            c["kind"],
            "yes" if c["paused"] else "",
            c["last_finished_at"] or "never",
            c["last_status"],
            ", ".join(f"{k} {v}" for k, v in c["last_counts"].items()),
            (c["last_error"] or "")[:80],
        )
    out.print(table)


@connections_app.command("pause")
def pause(name: str) -> None:
    """The scheduler leaves it alone until resumed (webhooks: deliveries wait)."""
    with _Wiring() as service:
        service.set_paused(CLI, name, True)
    out.print(f"{name}: paused")


@connections_app.command("resume")
def resume(name: str) -> None:
    with _Wiring() as service:
        service.set_paused(CLI, name, False)
    out.print(f"{name}: resumed")


@connections_app.command("check")
def check(name: str) -> None:
    """Reach the system with the stored credentials."""
    with _Wiring() as service:
        info = service.check(name)
    out.print_json(json.dumps(info))


@connections_app.command("remove")
def remove(name: str) -> None:
    """Forget a connection (what it imported stays)."""
    with _Wiring() as service:
        service.remove(CLI, name)
    out.print(f"{name}: removed")
