"""The ``firstline`` command as a user runs it: help, ingest, search, reindex, errors, eval."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app, main
from core.errors import InvalidInputError
from core.settings import get_settings
from indexer.evaluation import average_precision, metrics

ROOT = Path(__file__).resolve().parents[2]
FIRSTLINE = ROOT / ".venv" / "bin" / "firstline"

CSV = (
    "Number,Short description,Description,Assignment group\n"
    "INC1,Printer on floor 3 jams,Paper stuck in tray 2 on every A3 job,Hardware\n"
    "INC2,VPN disconnects every hour,GlobalProtect drops the tunnel,Network\n"
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A clean FIRSTLINE_* environment pointing at a temporary data dir and the test encoder."""
    for name in list(os.environ):
        if name.startswith("FIRSTLINE_"):
            monkeypatch.delenv(name)
    values = {
        "FIRSTLINE_DATA_DIR": str(tmp_path / "data"),
        "FIRSTLINE_MODEL__KIND": "hashing",
        "FIRSTLINE_INGEST__NICE": "0",  # in process: the test run keeps its own priority
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


@pytest.fixture
def runner(env: dict[str, str]) -> CliRunner:
    return CliRunner()


@pytest.fixture
def tickets_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``firstline ARGS`` in this process, through ``main`` (which maps errors to exit codes)."""
    monkeypatch.setattr(sys, "argv", ["firstline", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


# -- help -------------------------------------------------------------------------------------


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "search", "similar", "reindex", "serve", "eval", "health"):
        assert command in result.stdout


def test_eval_help_lists_retrieval(runner: CliRunner) -> None:
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    assert "retrieval" in result.stdout


# -- ingest, search, reindex --------------------------------------------------------------------


def test_ingest_then_search_prints_the_title(runner: CliRunner, tickets_csv: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tickets_csv)])
    assert result.exit_code == 0, result.output
    assert "tickets.csv: 2 rows, 2 added, 0 updated, 0 unchanged, 0 skipped" in result.stdout
    assert "Short description" in result.stdout  # the mapping it chose is shown

    result = runner.invoke(app, ["search", "printer jams in tray"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "Printer on floor 3 jams" in first
    assert "INC1" in first


def test_search_json_and_kind_filter(runner: CliRunner, tickets_csv: Path) -> None:
    assert runner.invoke(app, ["ingest", str(tickets_csv)]).exit_code == 0
    result = runner.invoke(app, ["search", "vpn tunnel", "--json", "-k", "1"])
    hits = json.loads(result.stdout)
    assert [h["external_id"] for h in hits] == ["INC2"]
    result = runner.invoke(app, ["search", "vpn tunnel", "--kind", "article"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "no results"


@pytest.mark.parametrize(("floor", "weak"), [("0.99", True), ("-1", False)])
def test_search_says_when_a_hit_is_a_weak_match(
    runner: CliRunner,
    tickets_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
    floor: str,
    weak: bool,
) -> None:
    monkeypatch.setenv("FIRSTLINE_SEARCH__RELEVANCE_FLOOR", floor)
    get_settings.cache_clear()
    assert runner.invoke(app, ["ingest", str(tickets_csv)]).exit_code == 0
    first = runner.invoke(app, ["search", "printer jams in tray"]).stdout.splitlines()[0]
    assert "Printer on floor 3 jams" in first
    assert ("weak match" in first) == weak


def test_reingest_reports_unchanged_rows(runner: CliRunner, tickets_csv: Path) -> None:
    runner.invoke(app, ["ingest", str(tickets_csv)])
    result = runner.invoke(app, ["ingest", str(tickets_csv), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["added"], report["unchanged"], report["indexed"]) == (0, 2, 0)


def test_ingest_reports_skipped_rows_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV + "INC3,,,Hardware\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 4  # done, with skipped rows
    assert "2 added" in result.stdout and "1 skipped" in result.stdout
    assert "row 3: missing text" in result.stderr


def test_ingest_with_explicit_map(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("Key,Headline\nOPS-1,Teams camera black\n", encoding="utf-8")
    result = runner.invoke(
        app, ["ingest", str(path), "--map", "external_id=Key", "--map", "title=Headline", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    shown = runner.invoke(app, ["show", "OPS-1"])
    assert json.loads(shown.stdout)["title"] == "Teams camera black"


def test_reindex_rebuilds_and_search_still_works(runner: CliRunner, tickets_csv: Path) -> None:
    runner.invoke(app, ["ingest", str(tickets_csv)])
    result = runner.invoke(app, ["reindex"])
    assert result.exit_code == 0, result.output
    assert "rebuilt the index: 2 documents" in result.stdout
    result = runner.invoke(app, ["search", "vpn tunnel", "--json", "-k", "1"])
    assert json.loads(result.stdout)[0]["external_id"] == "INC2"
    result = runner.invoke(app, ["reindex", "--pending"])
    assert "indexed 0 pending documents" in result.stdout


def test_health_reports_what_is_stored(runner: CliRunner, tickets_csv: Path) -> None:
    runner.invoke(app, ["ingest", str(tickets_csv)])
    health = json.loads(runner.invoke(app, ["health"]).stdout)
    assert health["database"]["tickets"] == 2
    assert health["model"]["kind"] == "hashing"


# -- errors: one line, an exit code, no traceback ------------------------------------------------


def test_missing_file_is_one_error_line_and_exit_code_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The installed entry point, as a user (or a cron job writing to a log) runs it.
    missing = tmp_path / "a-rather-long-folder-name-for-exports" / "servicenow-incidents.csv"
    result = subprocess.run(
        [str(FIRSTLINE), "ingest", str(missing)],
        env={**os.environ, **env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "servicenow-incidents.csv: no such file" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "{csv}", "--map", "colour=Short description"], "unknown field(s) colour"),
        (["ingest", "{csv}", "--map", "title=[Headline]"], "no column '[Headline]'"),
        (["ingest", "{dir}/export.xlsx"], "unknown file type"),
        (["search", "printer", "--from", "last tuesday"], "--from 'last tuesday'"),
        (["search", "printer", "--mode", "fuzzy"], "--mode 'fuzzy'"),
        (["search", "   "], "the query is empty"),
        (["similar"], "either a ticket id or a text"),
        (["show", "INC404"], "no ticket 'INC404'"),
    ],
)
def test_user_errors_are_one_line_and_exit_code_1(
    env: dict[str, str],
    tickets_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    args = [a.format(csv=tickets_csv, dir=tickets_csv.parent) for a in args]
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err


def test_every_row_rejected_is_an_error(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,title,description\n1,,\n2,,\n", encoding="utf-8")
    code, _out, err = run_main(monkeypatch, capsys, "ingest", str(path))
    assert code == 1
    assert "error: t.csv: every row was rejected" in err


# -- eval --------------------------------------------------------------------------------------

DOCS = [
    {"id": "D1", "title": "Printer paper jam", "body": "Open tray 2 and remove the torn paper."},
    {"id": "D2", "title": "VPN keeps disconnecting", "body": "Reinstall the GlobalProtect client."},
    {
        "id": "D3",
        "title": "Reset a forgotten password",
        "body": "Use the self-service portal with MFA.",
    },
    {"id": "D4", "title": "Map a network drive", "body": "Open Explorer, Map network drive."},
]
QUERIES = [
    {"query": "printer paper jam tray", "relevant": "D1"},
    {"query": "globalprotect vpn disconnecting", "relevant": ["D2"]},
    {"query": "forgotten password reset portal", "relevant": ["D3", "D4"]},
    {"query": "vpn disconnecting", "relevant": "D4", "exclude": ["D2"]},
]
METRIC_KEYS = {
    "queries",
    "map",
    "mrr",
    "p_at_1",
    "p_at_5",
    "ndcg_at_10",
    "recall_at_10",
    "recall_at_100",
}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_retrieval_prints_metrics_and_writes_the_run(
    runner: CliRunner, tmp_path: Path
) -> None:
    docs = _jsonl(tmp_path / "docs.jsonl", DOCS)
    queries = _jsonl(tmp_path / "queries.jsonl", QUERIES)
    run = tmp_path / "run.jsonl"
    result = runner.invoke(app, ["eval", "retrieval", str(docs), str(queries), "--run", str(run)])
    assert result.exit_code == 0, result.output

    assert result.stdout.count("\n") == 1  # one JSON object, one line
    scores = json.loads(result.stdout)
    assert METRIC_KEYS <= set(scores)
    assert scores["queries"] == 4
    for key in METRIC_KEYS - {"queries"}:
        assert 0.0 <= scores[key] <= 1.0

    lines = [json.loads(line) for line in run.read_text().splitlines()]
    assert [r["query"] for r in lines] == [q["query"] for q in QUERIES]
    rankings = [r["ranking"] for r in lines]
    assert all(set(r) <= {"D1", "D2", "D3", "D4"} for r in rankings)
    assert rankings[0][0] == "D1"
    assert rankings[1][0] == "D2"
    assert rankings[2][0] == "D3"
    assert "D2" not in rankings[3]  # excluded from that query's ranking
    # The printed metrics are the metrics of the written run.
    relevant = [{"D1"}, {"D2"}, {"D3", "D4"}, {"D4"}]
    assert {k: scores[k] for k in METRIC_KEYS} == metrics(zip(rankings, relevant, strict=True))


def test_eval_refuses_a_queries_file_without_relevant_ids(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = _jsonl(tmp_path / "docs.jsonl", DOCS)
    queries = _jsonl(tmp_path / "queries.jsonl", [{"query": "printer"}])
    code, out, err = run_main(monkeypatch, capsys, "eval", "retrieval", str(docs), str(queries))
    assert code == 1
    assert "queries.jsonl line 1: needs 'relevant'" in err
    assert out == ""


# -- metrics arithmetic ---------------------------------------------------------------------------


def test_average_precision_by_hand() -> None:
    assert average_precision(["a", "b", "c"], {"a", "c"}) == pytest.approx((1 / 1 + 2 / 3) / 2)
    # A relevant document never retrieved counts as a miss.
    assert average_precision(["a"], {"a", "z"}) == pytest.approx(0.5)
    assert average_precision(["x", "y"], {"a"}) == 0.0


def test_metrics_by_hand() -> None:
    runs = [(["a", "b", "c"], {"a", "c"}), (["x", "y"], {"y"})]
    ndcg_1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg_2 = (1 / math.log2(3)) / 1
    assert metrics(runs) == {
        "queries": 2,
        "map": round(((1 + 2 / 3) / 2 + 1 / 2) / 2, 4),
        "mrr": 0.75,
        "p_at_1": 0.5,
        "p_at_5": round((2 / 5 + 1 / 5) / 2, 4),
        "ndcg_at_10": round((ndcg_1 + ndcg_2) / 2, 4),
        "recall_at_10": 1.0,
        "recall_at_100": 1.0,
    }


def test_recall_at_10_and_100_differ_past_rank_10() -> None:
    ranking = [f"n{i}" for i in range(10)] + ["hit"]
    scores = metrics([(ranking, {"hit"})])
    assert scores["recall_at_10"] == 0.0
    assert scores["recall_at_100"] == 1.0
    assert scores["mrr"] == round(1 / 11, 4)
    assert scores["p_at_1"] == 0.0


def test_metrics_of_no_queries_is_an_error() -> None:
    with pytest.raises(InvalidInputError):
        metrics([])


def test_triage_train_shows_its_stages_and_prints_the_result(runner: CliRunner) -> None:
    demo = ROOT / "demo" / "tickets.jsonl"
    assert runner.invoke(app, ["ingest", str(demo), "--kind", "ticket"]).exit_code == 0
    r = runner.invoke(app, ["triage", "train"])
    assert r.exit_code == 0, r.output
    assert "evaluating" in r.stderr and "6/6" in r.stderr  # the progress bar's last stage
    result = json.loads(r.stdout)
    assert result["activated"] is True and result["metrics"]["category"]["n"] > 0
    r = runner.invoke(app, ["triage", "models"])
    assert r.exit_code == 0, r.output
    (version,) = json.loads(r.stdout)["versions"]
    rows = version["abstention"]["category"]["rows"]
    assert rows > 100
    # and the active model's thresholds as a table: what each rests on
    assert "abstention of the active model" in r.stderr
    assert f"/{rows}" in r.stderr and "out-of-fold" in r.stderr
