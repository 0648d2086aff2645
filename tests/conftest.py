"""Shared fixtures.  Unit tests use the deterministic hashing encoder and a temporary data dir;
tests marked ``slow`` use the real model and, where present, the real data in ../shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

# One BLAS thread for the tests and the commands they start: their models and matrices are tiny,
# and a second BLAS thread costs more than it saves, far more when the cores are shared (a demo
# triage training took 30 s instead of 6 s on two busy cores).  Only speed changes, not results.
# Set before numpy and scipy load where possible; ``_blas_in_one_thread`` covers a library loaded
# earlier.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from core.settings import (  # noqa: E402
    ApiSettings,
    ElasticsearchSettings,
    ModelSettings,
    SearchSettings,
    Settings,
)
from indexer.service import Firstline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
SHARED_DATA = Path(os.environ.get("FIRSTLINE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _blas_in_one_thread() -> Iterator[None]:
    with threadpool_limits(1, user_api="blas"):
        yield


def unavailable(reason: str) -> None:
    """Skip a test whose service is missing, but fail in CI, where every service is provided."""
    if os.environ.get("FIRSTLINE_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (FIRSTLINE_REQUIRE_SERVICES is set: CI must provide it)")
    pytest.skip(reason)


# The bootstrap admin key of test apps; clients send it as AUTH (tests of roles make their own).
ADMIN_KEY = "test-admin-key-0123456789"
AUTH = {"X-API-Key": ADMIN_KEY}


class SyncedClient(TestClient):
    """A test client whose every request first waits for the index sync worker to be idle:
    a read sees every earlier write, as a user who waits a moment does.  (The index is
    updated off the request path; tests of that use a plain TestClient.)"""

    def request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        service = getattr(self.app.state, "service", None)  # type: ignore[attr-defined]
        if service is not None and service.sync.running:
            service.sync.wait_idle(60)
        return super().request(*args, **kwargs)


# The relevance floor on the hashing encoder's scale (the default is measured on the real model,
# see the README).  Hashing similarity is word overlap plus hash collisions: a request sharing
# content words with a document usually scores above 0.2, one with no word in common about 0.05,
# but shared function words ("on", "the", "shows") alone can reach 0.3.  A test of "no good answer"
# uses words no document has.
HASHING_FLOOR = 0.2


def make_settings(tmp_path: Path, **search: object) -> Settings:
    search.setdefault("relevance_floor", HASHING_FLOOR)
    return Settings(
        data_dir=tmp_path,
        model=ModelSettings(kind="hashing"),
        search=SearchSettings(**search),  # type: ignore[arg-type]
        api=ApiSettings(admin_key=ADMIN_KEY),  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def service(settings: Settings) -> Iterator[Firstline]:
    svc = Firstline(settings)
    yield svc
    svc.close()


def prepare_demo(settings: Settings) -> None:
    """The demo articles and tickets ingested (source ``demo``) and triage trained on them."""
    from triage.service import Triager

    svc = Firstline(settings)
    try:
        svc.ingest_file(DEMO / "articles.jsonl", kind="article", source="demo")
        svc.ingest_file(DEMO / "tickets.jsonl", kind="ticket", source="demo")
        Triager(settings, svc).train()
    finally:
        svc.close()


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir (``make_settings``, the hashing encoder) prepared by :func:`prepare_demo`
    once for the session.  Never used in place: fixtures copy it (``copy_data``), so a test
    that needs the demo desk costs a copy, not an import and a training."""
    root = tmp_path_factory.mktemp("trained-demo")
    prepare_demo(make_settings(root))
    return root


def copy_data(template: Path, data_dir: Path) -> Settings:
    """``make_settings`` on a copy of a prepared data dir."""
    import shutil

    shutil.copytree(template, data_dir, dirs_exist_ok=True)
    return make_settings(data_dir)


@pytest.fixture
def write_jsonl(tmp_path: Path):  # noqa: ANN201
    def write(name: str, rows: list[dict]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at the end."""
    base = os.environ.get(
        "FIRSTLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError:
        pytest.skip("psycopg is not installed")
    url = make_url(base)
    name = f"firstline_test_{uuid.uuid4().hex[:10]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        unavailable(f"no PostgreSQL reachable at {url.host}:{url.port}: {str(e).splitlines()[0]}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped after it (for tests that fill it or
    kill its writers; the session's ``postgres_url`` is shared)."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres_url)
    name = f"firstline_t_{uuid.uuid4().hex[:10]}"
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def noida_exe() -> str | None:
    import shutil

    exe = shutil.which("noida-db") or str(Path(sys.executable).parent / "noida-db")
    return exe if Path(exe).exists() else None


def start_noida(data_dir: Path, port: int, timeout: float = 30) -> subprocess.Popen:
    """Start the noida-db Elasticsearch emulator and wait until it answers."""
    import time

    import httpx

    exe = noida_exe()
    if exe is None:
        unavailable("no ES_URL and no noida-db emulator installed (pip install noida-db)")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "noida.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            exe,
            "start",
            "--data-dir",
            str(data_dir / "db"),
            "--host",
            "127.0.0.1",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            unavailable(
                f"the noida-db emulator did not start: {(data_dir / 'noida.log').read_text()}"
            )
        time.sleep(0.2)


def group_running(pgid: int) -> bool:
    """Is any process of this group still running (zombies do not count)?"""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session`` and everything it spawned, and wait
    until the whole group is gone (the emulator's server outlives its launcher briefly)."""
    import signal
    import time

    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        proc.poll()
        if not group_running(pgid):
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real cluster from ES_URL, or the noida-db emulator started for this session."""
    if os.environ.get("ES_URL"):
        yield os.environ["ES_URL"]
        return
    port = free_port()
    proc = start_noida(tmp_path_factory.mktemp("noida"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def es_settings(url: str, prefix: str | None = None) -> ElasticsearchSettings:
    return ElasticsearchSettings(
        urls=[url],
        index_prefix=prefix or f"t{uuid.uuid4().hex[:12]}",
        request_timeout=5,
        max_retries=1,
    )
