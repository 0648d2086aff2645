"""Triage fixtures: the demo history ingested once and one model trained on it for the session;
tests that change the model state get their own data dir with that model copied in."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from core.settings import Settings
from indexer.service import Firstline
from tests.conftest import DEMO, make_settings
from triage.service import Triager


@dataclass
class TriageEnv:
    settings: Settings
    service: Firstline
    triager: Triager
    first_training: dict


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    # Tiny models: BLAS thread start-up costs more than it saves (only speed, not results).
    with threadpool_limits(1):
        yield


def ingest_demo(service: Firstline) -> None:
    service.ingest_file(DEMO / "articles.jsonl", kind="article")
    report = service.ingest_file(DEMO / "tickets.jsonl", kind="ticket")
    assert report.added > 100, report


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TriageEnv]:
    """Demo articles and tickets ingested, one triage model trained and active."""
    settings = make_settings(tmp_path_factory.mktemp("triage-demo"))
    service = Firstline(settings)
    ingest_demo(service)
    triager = Triager(settings, service)
    with threadpool_limits(1):
        result = triager.train()
    yield TriageEnv(settings, service, triager, result)
    service.close()


@pytest.fixture
def own_env(tmp_path: Path, demo_env: TriageEnv) -> Iterator[Callable[..., TriageEnv]]:
    """A data dir of this test's own: the demo history ingested and the session's trained
    model(s) copied in, so training, gating and rollback here touch nobody else."""
    opened: list[Firstline] = []

    def make(with_model: bool = True) -> TriageEnv:
        settings = make_settings(tmp_path / f"env{len(opened)}")
        service = Firstline(settings)
        opened.append(service)
        ingest_demo(service)
        if with_model:
            shutil.copytree(demo_env.settings.models_dir, settings.models_dir)
        return TriageEnv(settings, service, Triager(settings, service), demo_env.first_training)

    yield make
    for service in opened:
        service.close()
