"""Schemathesis against the app in process (issue #11, build item 8): every operation of the
OpenAPI document gets generated valid and invalid requests, with an agent key and with an admin
key; no answer may be a server error or differ from the documented response schema."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from threadpoolctl import threadpool_limits

from api.app import create_app
from tests.conftest import AUTH, DEMO, make_settings

EXAMPLES = 12  # per operation and generation mode: bounded, so the whole file stays ~1 minute
# Retraining triage is minutes of work per call, not an input-handling question.
SKIP = {"POST /admin/triage/train"}


@dataclass
class Target:
    schema: schemathesis.schemas.BaseSchema
    keys: dict[str, str]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz")))
    with TestClient(app, headers=AUTH) as client, threadpool_limits(1):
        service = app.state.service
        service.ingest_file(DEMO / "articles.jsonl", kind="article")
        service.ingest_file(DEMO / "tickets.jsonl", kind="ticket")
        agent = client.post("/admin/keys", json={"name": "fuzz-agent", "role": "agent"})
        client.post("/desk/tickets", json={"title": "VPN drops every hour"})
        keys = {"agent": agent.json()["key"], "admin": AUTH["X-API-Key"]}
        yield Target(schemathesis.openapi.from_asgi("/openapi.json", app), keys)


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_no_server_error_and_no_schema_violation(target: Target, role: str) -> None:
    headers = {"X-API-Key": target.keys[role]}
    problems: list[str] = []
    operations = [r.ok() for r in target.schema.get_all_operations()]
    operations = [op for op in operations if f"{op.method.upper()} {op.path}" not in SKIP]
    assert len(operations) > 30

    strategies = [
        op.as_strategy(generation_mode=mode, headers=headers)
        for op in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject, strategy: st.SearchStrategy) -> None:
        case = data.draw(strategy)
        response = case.call(headers=headers)
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except (AssertionError, FailureGroup) as e:
            problems.append(f"{case.method} {case.formatted_path}: {str(e)[:600]}")

    with threadpool_limits(1):
        for strategy in strategies:
            try:
                run(strategy=strategy)
            except Unsatisfiable:  # nothing to negate (e.g. GET /me has no parameters)
                continue
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(sorted(set(problems))[:30])
