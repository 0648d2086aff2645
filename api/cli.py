"""The ``firstline`` command: a thin layer that parses, calls the library and prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from api.cli_connect import connect_app, connections_app
from api.cli_connect import sync as sync_command
from api.cli_users import users_app
from core.errors import FirstlineError
from core.settings import Settings, get_settings
from indexer.mapping import FIELDS
from indexer.presets import PRESETS

if TYPE_CHECKING:
    from indexer.ingest import IngestReport

app = typer.Typer(
    help="firstline: search the knowledge base and past resolved tickets, triage requests.\n\n"
    "Settings come from FIRSTLINE_* environment variables (see `firstline settings`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(
    help="Evaluate retrieval quality (stable JSON output).", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
triage_app = typer.Typer(
    help="Intake triage: train, evaluate, predict, list and roll back models.",
    no_args_is_help=True,
)
app.add_typer(triage_app, name="triage")
app.add_typer(users_app, name="users")
app.add_typer(connect_app, name="connect")
app.add_typer(connections_app, name="connections")
app.command("sync")(sync_command)

out = Console()
err = Console(stderr=True)

# Exit codes beside 0 and 1 (an error), documented in the README ("Index sync").
EXIT_DRIFT = 3  # verify: the index and the record differ
EXIT_PENDING = 4  # ingest / reindex --pending: all stored, some rows not searchable yet


def _yield_cpu() -> None:
    """Bulk work (an import, a rebuild) runs at a lower CPU priority, so a server on the same
    machine keeps answering the desk first (setting ``FIRSTLINE_INGEST__NICE``)."""
    import os

    nice = get_settings().ingest.nice
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:  # not permitted here: run at the normal priority
            pass


def _service(settings: Settings | None = None):  # noqa: ANN202
    from indexer.service import Firstline

    return Firstline(settings or get_settings())


def _progress(disable: bool = False) -> Progress:
    """A progress bar on stderr: stage, bar, done/total, time remaining."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=disable,
    )


@contextmanager
def _bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with _progress(disable=not err.is_terminal and total is not None and total < 1000) as p:
        task = p.add_task(label, total=total)
        yield lambda n: p.advance(task, n)


def _ingest_help() -> str:
    """``firstline ingest --help``: the fields and the usual column names come from the mapping
    the import uses (:data:`indexer.mapping.FIELDS`), so the help never lists other names."""

    def usual(kind: str, field: str) -> str:
        names = [n for n in FIELDS[kind][field] if n != field.replace("_", " ")]
        return f"{field} <- " + ", ".join(repr(n) for n in names[:3])

    examples = "; ".join(
        usual("ticket", f) for f in ("title", "description", "assignment_group", "opened_at")
    )
    return (
        "Add or update resolved tickets or KB articles from export files (idempotent).\n\n"
        "Columns are matched to fields automatically by their usual names (ServiceNow, Jira,"
        " Zendesk, ... exports; case, spaces, '_', '-' and '.' do not matter), e.g. "
        f"{examples}. --map FIELD=COLUMN overrides the automatic match; the mapping used is"
        " printed. Columns that match no field are kept with the row.\n\n"
        "--preset NAME reads the export of a known product with its own columns and values"
        " (impact, urgency, priority, status): "
        + ", ".join(f"{p.name} ({p.product})" for p in PRESETS.values())
        + ".\n\n"
        f"Ticket fields: {', '.join(FIELDS['ticket'])}.\n\n"
        f"Article fields (--kind article): {', '.join(FIELDS['article'])}.\n\n"
        "A row that cannot be read is skipped and reported (row number and reason); a date that"
        " cannot be read or lies outside 1900-2200 is stored empty and reported as a warning"
        " (row, column, value). Exit codes: 0 every row went in as it was; 4 done, but some"
        " rows were skipped or have warnings (listed); 1 error (nothing usable in a file,"
        " unreadable file, bad option such as a --map naming an unknown field or a column the"
        " file lacks, reported before anything is loaded)."
    )


@app.command(help=_ingest_help())
def ingest(
    files: Annotated[list[Path], typer.Argument(help="CSV or JSONL exports (.gz accepted).")],
    kind: Annotated[str, typer.Option(help="What the rows are: ticket or article.")] = "ticket",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN: read FIELD from COLUMN instead of the automatic match, e.g."
            " --map title='Short description'. Repeatable.",
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="The product the export comes from: " + ", ".join(PRESETS) + ". Its columns"
            " replace the automatic match (--map still wins) and its impact, urgency,"
            " priority and status values are read as firstline's."
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="Name of the system the export comes from; ids are unique within a source."
        ),
    ] = "default",
    encoding: Annotated[str, typer.Option(help="Text encoding of the files.")] = "utf-8",
    date_format: Annotated[
        str | None,
        typer.Option(
            help="Read every date with this strptime format, e.g. '%d/%b/%y %H:%M'. Without it"
            " ISO dates, Jira's 30/Sep/21 17:20, named months, epoch seconds and numeric dates"
            " (day or month first, setting FIRSTLINE_INGEST__DATE_ORDER) are recognised."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Zone of dates written without one, e.g. Europe/Amsterdam"
            " (default: setting FIRSTLINE_TIMEZONE)."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Add or update tickets or articles from export files (help: :func:`_ingest_help`)."""
    _yield_cpu()
    service = _service()
    partial = False  # some rows skipped, warned about or not searchable yet: exit 4
    index_behind = False
    try:
        dates = service.date_reading(date_format, timezone)  # a bad --timezone fails here
        # A bad --preset, --map, kind or file fails now, not after the model has loaded (seconds).
        for path in files:
            service.check_file(path, kind, map_, encoding, preset)
        for path in files:
            total = service.ingestor.count_rows(path, encoding)
            with _bar(f"ingest {path.name}", total) as advance:
                report = service.ingest_file(
                    path, kind, map_, source, encoding, advance, dates.fmt, dates.tz, preset
                )
            if json_out:
                out.print_json(json.dumps({"file": str(path), **report.as_dict()}))
            else:
                _print_ingest_report(path, report)
            if report.skipped and len(report.skipped) == report.rows:
                raise FirstlineError(f"{path.name}: every row was rejected")
            partial = partial or not report.complete
            if report.index == "pending":
                partial = index_behind = True
                why = report.index_unavailable or f"{len(report.index_errors)} refused by the index"
                err.print(
                    f"{path.name}: {report.pending + len(report.index_errors)} rows stored, not"
                    f" searchable yet ({why}); the server's sync or `firstline reindex --pending`"
                    " indexes them",
                    style="yellow",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        if not index_behind and service.ingestor.pending_count():
            # Rows other writers left pending (no server running): the worker's drain.
            left = service.sync.drain().failures
            if left:
                err.print(f"{len(left)} rows refused by the index stay pending", style="yellow")
                partial = True
    finally:
        service.close()
    if partial:
        raise typer.Exit(EXIT_PARTIAL)


# `firstline ingest` finished, but some rows were skipped, stored with a field emptied, or are
# not searchable yet (the same code as EXIT_PENDING: everything usable is stored).
EXIT_PARTIAL = EXIT_PENDING
_SHOWN = 20


def _print_ingest_report(path: Path, report: IngestReport) -> None:
    out.print(
        f"{path.name}: {report.rows} rows, {report.added} added, {report.updated} updated,"
        f" {report.unchanged} unchanged, {len(report.skipped)} skipped"
        + (f", {len(report.warnings)} warnings" if report.warnings else "")
        + f" ({report.indexed} indexed)"
        + (f"; {report.curated} curated in the KB since, kept" if report.curated else ""),
        markup=False,
        highlight=False,
    )
    out.print(f"  mapping: {report.mapping}", style="dim", markup=False, highlight=False)
    # User text (values, reasons quoting them) is printed as text, never as console markup.
    for e in report.skipped[:_SHOWN]:
        err.print(f"  row {e.row}: {e.reason}", style="yellow", markup=False, highlight=False)
    if len(report.skipped) > _SHOWN:
        err.print(f"  ... and {len(report.skipped) - _SHOWN} more skipped rows")
    for w in report.warnings[:_SHOWN]:
        err.print(
            f"  row {w.row}, column {w.column!r}: {w.value!r} stored empty: {w.reason}",
            style="yellow",
            markup=False,
            highlight=False,
        )
    if len(report.warnings) > _SHOWN:
        err.print(f"  ... and {len(report.warnings) - _SHOWN} more warnings")


def _parse_date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise FirstlineError(f"--{name} {value!r}: use an ISO date such as 2026-01-31") from e


def _print_hits(hits: list[dict], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(hits, default=str))
        return
    if not hits:
        out.print("no results")
        return
    for i, h in enumerate(hits, start=1):
        why = h["why"]
        lex = f"bm25 #{why['lexical_rank']}" if why["lexical_rank"] else "bm25 -"
        den = f"dense #{why['dense_rank']}" if why["dense_rank"] else "dense -"
        out.print(
            f"[bold]{i}. {h['title']}[/bold]  [dim]{h['kind']} {h['external_id']}"
            f"{' · ' + h['category'] if h.get('category') else ''} · {lex}, {den}"
            f"{' · weak match' if h.get('match') == 'weak' else ''}[/dim]"
        )
        snippet = Text(h["snippet"])
        for start, end in h["highlights"]:
            snippet.stylize("bold yellow", start, end)
        out.print(Text("   ") + snippet)
        if h.get("resolution"):
            out.print(Text("   fix: ", style="green") + Text(h["resolution"][:200]))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What the user asked, in their words.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Number of results.")] = 10,
    kind: Annotated[list[str] | None, typer.Option(help="ticket and/or article.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only these categories.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Opened on or after.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Opened on or before.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, lexical or dense.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Search KB articles and resolved tickets in natural language."""
    from indexer.types import Filters

    if mode not in ("hybrid", "lexical", "dense"):
        raise FirstlineError(f"--mode {mode!r}: use hybrid, lexical or dense")
    filters = Filters(
        kinds=kind,
        categories=category,
        date_from=_parse_date(date_from, "from"),
        date_to=_parse_date(date_to, "to"),
    )
    service = _service()
    try:
        _print_hits(service.search(query, k, filters, mode), as_json)  # type: ignore[arg-type]
    finally:
        service.close()


@app.command()
def similar(
    ticket: Annotated[str | None, typer.Option(help="A stored ticket's id.")] = None,
    text: Annotated[str | None, typer.Option(help="A new request's text.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Resolved tickets most similar to a ticket or a text."""
    service = _service()
    try:
        _print_hits(service.similar(ticket, text, k), as_json)
    finally:
        service.close()


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="External id, or ticket:<n> / article:<n>.")],
    kind: Annotated[str, typer.Option(help="ticket or article.")] = "ticket",
) -> None:
    """Print one stored ticket or article as JSON."""
    service = _service()
    try:
        out.print_json(json.dumps(service.get(kind, ref), default=str))
    finally:
        service.close()


@app.command()
def reindex(
    pending: Annotated[
        bool, typer.Option("--pending", help="Only index rows the index has not caught up with.")
    ] = False,
) -> None:
    """Rebuild the search index from the SQL record (atomic swap; searches keep working).

    A failed rebuild changes nothing (its half-built index is removed).  Rows the index
    refuses are listed and stay pending; the rebuild of the others still goes live.
    """
    _yield_cpu()
    service = _service()
    try:
        if pending:
            total = service.ingestor.pending_count()
            with _bar("index pending", total) as advance:
                result = service.ingestor.sync_pending(advance)
            out.print(f"indexed {result.indexed} pending documents")
        else:
            total = service.ingestor.total_count()
            with _bar("rebuild index", total) as advance:
                result = service.reindex(advance)
            out.print(f"rebuilt the index: {result.indexed} documents")
        for f in result.failures[:20]:
            err.print(f"  {f.id}: {f.reason}", style="yellow", markup=False, highlight=False)
        if len(result.failures) > 20:
            err.print(f"  ... and {len(result.failures) - 20} more refused")
        if result.failures:
            err.print(f"{len(result.failures)} documents refused by the index stay pending")
            if pending:
                raise typer.Exit(EXIT_PENDING)
    finally:
        service.close()


@app.command()
def verify(
    repair: Annotated[
        bool, typer.Option("--repair", help="Re-queue drifted rows, delete orphans, re-check.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare the SQL record and the search index by id and content hash.

    Exit 0 when they agree, 3 when they drift (after --repair: when drift remains).
    """
    service = _service()
    try:
        report = service.verify(repair)
        report.pop("_ids", None)
        final = report.get("after", report)
        if as_json:
            out.print_json(json.dumps(report, default=str))
        else:
            out.print(
                f"record: {report['record']} searchable, index: {report['index']} documents;"
                f" drift: {report['drift']}"
            )
            for name in ("missing", "orphan", "stale"):
                part = report[name]
                if part["count"]:
                    out.print(f"  {name}: {part['count']} (e.g. {', '.join(part['sample'][:5])})")
            if "after" in report:
                r = report["repaired"]
                out.print(
                    f"repaired: {r['requeued']} re-queued, {r['deleted']} orphans deleted,"
                    f" {r['indexed']} indexed; drift now: {final['drift']}"
                )
        if final["drift"]:
            raise typer.Exit(EXIT_DRIFT)
    finally:
        service.close()


@app.command()
def health() -> None:
    """What is stored and what runs: database, index (with pending rows), model.

    Exit 0 when every part is ok, 1 otherwise.
    """
    service = _service()
    try:
        body = service.health()
        try:
            from connectors.state import Connections
            from connectors.state import health as connectors_health

            body["connectors"] = connectors_health(Connections(service.db).list())
        except FirstlineError as e:
            body["connectors"] = {"status": "down", "error": str(e)}
        if body["connectors"]["status"] != "ok" and body["status"] == "ok":
            body["status"] = "degraded"
        out.print_json(json.dumps(body, default=str))
        if body["status"] != "ok":
            raise typer.Exit(1)
    finally:
        service.close()


@app.command("settings")
def show_settings() -> None:
    """The effective settings (secrets hidden) and their environment variables."""
    table = Table("variable", "value")
    for variable, value in get_settings().as_environment().items():
        table.add_row(variable, value)
    out.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: FIRSTLINE_API__HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: FIRSTLINE_API__PORT.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes serving the API; each loads the model and opens the "
            "index, everything they share lives in the database and the index folder.",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    s = get_settings()
    # An import string and a factory, so that each worker process builds its own app (and
    # reads the same FIRSTLINE_* settings from the environment).
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or s.api.host,
        port=port or s.api.port,
        workers=workers,
    )


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    ui_port: Annotated[int, typer.Option(help="Console port.")] = 8501,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Only ingest the demo data.")
    ] = False,
) -> None:
    """Ingest the bundled demo data, then serve the API and the console."""
    from api.demo import run_demo

    run_demo(get_settings(), port, ui_port, serve=not no_serve, console=out)


@eval_app.command("retrieval")
def eval_retrieval(
    docs: Annotated[Path, typer.Argument(help="JSONL with id, title, body.")],
    queries: Annotated[Path, typer.Argument(help="JSONL with query, relevant (id or list).")],
    backend: Annotated[
        str | None, typer.Option(help="embedded or elasticsearch (default: settings).")
    ] = None,
    es_url: Annotated[
        list[str] | None, typer.Option("--es-url", help="Elasticsearch URL (repeatable).")
    ] = None,
    run: Annotated[Path | None, typer.Option(help="Write each query's top-100 ids here.")] = None,
) -> None:
    """Build a temporary index of DOCS and print IR metrics for QUERIES as one JSON object.

    The temporary index (a folder, or an Elasticsearch index) is removed afterwards.
    """
    from indexer.evaluation import evaluate_retrieval

    s = get_settings().model_copy(deep=True)
    if backend:
        if backend not in ("embedded", "elasticsearch"):
            raise FirstlineError(f"--backend {backend!r}: use embedded or elasticsearch")
        s.search.backend = backend  # type: ignore[assignment]
    if es_url:
        s.elasticsearch.urls = list(es_url)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
    ) as p:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = p.add_task(stage, total=total)
            p.update(tasks[stage], completed=done)

        result = evaluate_retrieval(docs, queries, s, run, progress)
    sys.stdout.write(json.dumps(result) + "\n")


def _triager():  # noqa: ANN202
    from triage.service import Triager

    return Triager(get_settings())


@triage_app.command("train")
def triage_train(
    force: Annotated[
        bool, typer.Option("--force", help="Activate even if worse than the active model.")
    ] = False,
) -> None:
    """Retrain from stored tickets plus agents' corrections; activate only if not worse."""
    t = _triager()
    try:
        with _progress() as p:
            # One bar per stage (encoding, fitting, evaluating), so each has its own time
            # remaining; the fitting bar counts labelled rows across the targets.
            tasks: dict[str, tuple[TaskID, int]] = {
                "loading": (p.add_task("loading history", total=None), 1)
            }

            def step(stage: str, done: int, total: int) -> None:
                key = stage.split()[0]
                if key not in tasks:
                    for task, size in tasks.values():  # the earlier stages are over
                        p.update(task, completed=size, total=size)
                    tasks[key] = (p.add_task(stage, total=total or None), total or 1)
                tasks[key] = (tasks[key][0], total or 1)
                p.update(tasks[key][0], description=stage, completed=done, total=total or None)

            result = t.train(force=force, progress=step)
    finally:
        t.service.close()
    out.print_json(json.dumps(result, default=str))
    if not result["activated"]:
        err.print(
            f"not activated: the new model is worse ({result['gate']}); "
            "use --force to activate it anyway",
            style="yellow",
        )
        raise typer.Exit(3)


@triage_app.command("evaluate")
def triage_evaluate() -> None:
    """Metrics of the active model on the held-out test part of the stored history."""
    t = _triager()
    try:
        out.print_json(json.dumps(t.evaluate(), default=str))
    finally:
        t.service.close()


@triage_app.command("predict")
def triage_predict(
    text: Annotated[str, typer.Argument(help="The request's description (or title).")],
    title: Annotated[str | None, typer.Option(help="Short description.")] = None,
    vip: Annotated[bool, typer.Option("--vip", help="The caller is a VIP.")] = False,
    users: Annotated[int | None, typer.Option(help="Number of users affected.")] = None,
    caller: Annotated[str | None, typer.Option(help="Caller.")] = None,
) -> None:
    """Triage one request and print the result as JSON."""
    t = _triager()
    try:
        req = {
            "title": title,
            "description": text,
            "vip": vip,
            "users_affected": users,
            "caller": caller,
        }
        out.print_json(json.dumps(t.predict([req], record=False)[0], default=str))
    finally:
        t.service.close()


@triage_app.command("models")
def triage_models() -> None:
    """Model versions with metrics, fingerprints and abstention thresholds (JSON); the active
    one is marked, and its thresholds are summed up as a table on stderr."""
    listing = _triager().models()
    out.print_json(json.dumps(listing, default=str))
    active = [v for v in listing["versions"] if v["active"]]
    if active and active[0]["abstention"]:
        err.print(_abstention_table(active[0]["version"], active[0]["abstention"]))


def _abstention_table(version: str, abstention: dict[str, dict]) -> Table:
    """Per target: the threshold, how many of the rows it was chosen on reach it, the precision
    expected at it (and its lower bound) and the share of requests expected to get an answer."""
    first = next(iter(abstention.values()))
    bound = f", lower bound at z = {first['z']:g}" if first["z"] else ""
    table = Table(
        "target",
        "threshold",
        "answers/rows",
        "precision (bound)",
        "coverage",
        title=f"abstention of the active model {version}: {first['method']} confidences{bound}",
    )
    notes = []
    for target, a in abstention.items():
        rests_on = f"{a['accepted']}/{a['rows']}"
        if a.get("reason"):
            table.add_row(target, "abstains", rests_on, "-", "0%")
            notes.append(f"{target} always abstains: {a['reason']}")
            continue
        precision = f"{a['precision']:.3f} ({a['precision_lower_bound']:.3f})"
        table.add_row(target, f"{a['threshold']:.3f}", rests_on, precision, f"{a['coverage']:.0%}")
    if notes:
        table.caption = "\n".join(notes)
    return table


@triage_app.command("rollback")
def triage_rollback() -> None:
    """Re-activate the previously active model version."""
    out.print(f"active triage model: {_triager().rollback()}")


@triage_app.command("correct")
def triage_correct(
    request_id: Annotated[int, typer.Argument(help="The triage request's id.")],
    field: Annotated[str, typer.Argument(help="type, impact, urgency, category, ...")],
    value: Annotated[str, typer.Argument(help="The right value.")],
    author: Annotated[str, typer.Option(help="Who corrects.")] = "cli",
) -> None:
    """Record an agent's correction (used by the next `triage train`)."""
    t = _triager()
    try:
        out.print_json(json.dumps(t.correct(request_id, field, value, author), default=str))
    finally:
        t.service.close()


@eval_app.command("triage")
def eval_triage(
    train: Annotated[Path, typer.Argument(help="Labelled training file (CSV, CSV.GZ, JSONL).")],
    test: Annotated[Path, typer.Argument(help="File to predict and score.")],
    text: Annotated[list[str], typer.Option("--text", help="Text column (repeatable).")],
    label: Annotated[str, typer.Option("--label", help="Label column.")],
    predictions: Annotated[
        Path | None, typer.Option(help="Write one prediction line per TEST row here.")
    ] = None,
) -> None:
    """Train on TRAIN through the production pipeline, score TEST; one JSON object."""
    from triage.evaluation import evaluate_triage

    s = get_settings()
    from indexer.service import Firstline

    service = Firstline(s)
    try:
        result = evaluate_triage(
            train,
            test,
            text,
            label,
            lambda texts: service.encoder.encode(list(texts)),
            s.triage.target_precision,
            s.triage.knn_weight,
            predictions,
        )
    finally:
        service.close()
    sys.stdout.write(json.dumps(result) + "\n")


def main() -> None:
    try:
        app()
    except FirstlineError as e:
        # One line even when stderr is a log file (no wrapping); the message is text, not markup.
        err.print(f"error: {e}", style="red", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted", style="red")
        sys.exit(130)
