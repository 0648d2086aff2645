"""Shared fixtures.  Unit tests use the deterministic hashing encoder and a temporary data dir;
tests marked ``slow`` use the real model and, where present, the real data in ../shared."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.service import Firstline
from kb.settings import ModelSettings, SearchSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
SHARED_DATA = Path(os.environ.get("FIRSTLINE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def unavailable(reason: str) -> None:
    """Skip a test whose service is missing, but fail in CI, where every service is provided."""
    if os.environ.get("FIRSTLINE_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (FIRSTLINE_REQUIRE_SERVICES is set: CI must provide it)")
    pytest.skip(reason)


def make_settings(tmp_path: Path, **search: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        model=ModelSettings(kind="hashing"),
        search=SearchSettings(**search),  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def service(settings: Settings) -> Iterator[Firstline]:
    svc = Firstline(settings)
    yield svc
    svc.close()


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
