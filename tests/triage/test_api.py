"""POST /triage, corrections and model listing as an HTTP client sees them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from indexer.service import Firstline
from tests.conftest import AUTH, SyncedClient, make_settings
from tests.triage.conftest import TriageEnv, ingest_demo
from triage.training import TARGETS

FLOOR_DOWN = {
    "title": "Network down on the whole floor",
    "description": "The network is down for the whole 3rd floor, nobody can work.",
    "users_affected": 25,
}
PRINTER = {"title": "Printer not ready", "description": "Says not ready.", "vip": True}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, demo_env: TriageEnv) -> Iterator[TestClient]:
    """The API over its own copy of the demo history with the session's trained model."""
    settings = make_settings(tmp_path_factory.mktemp("triage-api"))
    service = Firstline(settings)
    ingest_demo(service)
    service.close()
    shutil.copytree(demo_env.settings.models_dir, settings.models_dir)
    with SyncedClient(create_app(settings), headers=AUTH) as c:
        yield c


def assert_invalid(response, *words: str) -> None:  # noqa: ANN001
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_input"
    for w in words:
        assert w in error["message"], error["message"]


def test_triage_one_request(client: TestClient) -> None:
    response = client.post("/triage", json={"request": FLOOR_DOWN})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert set(result["fields"]) == set(TARGETS)
    assert result["priority"] == "P1"
    assert result["fields"]["impact"]["decided_by"] == "rule:users_field"
    assert result["fields"]["tier"]["value"] == "second_line"
    assert 1 <= len(result["suggested_articles"]) <= 3  # the default, never padded
    assert 1 <= len(result["similar_tickets"]) <= 3
    assert result["similar_tickets"][0]["kind"] == "ticket"
    hits = result["suggested_articles"] + result["similar_tickets"]
    assert {h["match"] for h in hits} == {"strong"}
    assert isinstance(result["request_id"], int)


def test_triage_a_batch_in_order(client: TestClient) -> None:
    response = client.post(
        "/triage", json={"items": [PRINTER, FLOOR_DOWN], "suggestions": 1, "record": False}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["fields"]["urgency"]["decided_by"] for r in results] == ["rule:vip", "rule:blocked"]
    assert all(len(r["suggested_articles"]) <= 1 for r in results)
    assert len(results[1]["suggested_articles"]) == 1  # the outage article, one as asked
    assert all("request_id" not in r for r in results)


def test_triage_without_suggestions(client: TestClient) -> None:
    response = client.post("/triage", json={"request": PRINTER, "suggestions": 0})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["suggested_articles"] == [] and result["similar_tickets"] == []
    assert result["fields"]["urgency"]["value"] == "high"


def test_triage_before_training_is_a_marked_cold_start(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path)
    with SyncedClient(create_app(settings), headers=AUTH) as c:
        response = c.post("/triage", json={"request": PRINTER})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert "cold start" in result["cold_start"] and "firstline triage train" in result["cold_start"]
    assert result["model_version"] is None
    assert result["fields"]["urgency"]["decided_by"] == "rule:vip"
    assert result["fields"]["type"]["decided_by"] in ("zero-shot", "rule:default")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["either 'request' or 'items'"]),
        ({"request": PRINTER, "items": [PRINTER]}, ["either 'request' or 'items'"]),
        ({"items": []}, ["items"]),
        ({"request": {"title": "", "description": ""}}, ["title or a description"]),
        ({"request": {**PRINTER, "users_affected": -1}}, ["users_affected"]),
        ({"request": {**PRINTER, "priority": "P1"}}, ["priority"]),
        ({"request": PRINTER, "suggestions": 50}, ["suggestions"]),
    ],
)
def test_invalid_triage_body_is_422(client: TestClient, body: dict, words: list[str]) -> None:
    assert_invalid(client.post("/triage", json=body), *words)


def test_correction_is_stored(client: TestClient) -> None:
    result = client.post("/triage", json={"request": PRINTER}).json()["results"][0]
    rid = result["request_id"]
    response = client.post(
        f"/triage/{rid}/corrections",
        json={"field": "category", "value": "Hardware", "author": "maria"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == rid
    # The author is the caller (the API key's name), whatever the body claims.
    assert (body["field"], body["new"], body["author"]) == ("category", "Hardware", "admin-key")
    assert body["old"] == result["fields"]["category"]["value"]
    assert body["created_at"]
    response = client.post(
        f"/triage/{rid}/corrections", json={"field": "category", "value": "Network"}
    )
    assert response.json()["author"] == "admin-key"


def test_a_corrected_level_is_read_whatever_its_case(client: TestClient) -> None:
    rid = client.post("/triage", json={"request": PRINTER}).json()["results"][0]["request_id"]
    response = client.post(f"/triage/{rid}/corrections", json={"field": "impact", "value": "High"})
    assert response.status_code == 200, response.text
    assert response.json()["new"] == "high"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"field": "priority", "value": "P1", "author": "maria"}, ["unknown field 'priority'"]),
        ({"field": "impact", "value": "huge"}, ["unknown impact 'huge'", "low, medium, high"]),
        ({"field": "urgency", "value": "P1"}, ["unknown urgency 'P1'", "levels"]),
        ({"field": "category", "value": "", "author": "maria"}, ["value"]),
        ({"field": "category", "value": "   ", "author": "maria"}, ["empty"]),
        ({"field": "category", "value": "Network", "author": ""}, ["author"]),
    ],
)
def test_invalid_correction_is_422(client: TestClient, body: dict, words: list[str]) -> None:
    rid = client.post("/triage", json={"request": PRINTER}).json()["results"][0]["request_id"]
    assert_invalid(client.post(f"/triage/{rid}/corrections", json=body), *words)


def test_correction_of_unknown_request_is_404(client: TestClient) -> None:
    response = client.post(
        "/triage/987654/corrections",
        json={"field": "category", "value": "Network", "author": "maria"},
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "not_found"


def test_models_lists_the_active_version(client: TestClient, demo_env: TriageEnv) -> None:
    response = client.get("/triage/models")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] == demo_env.first_training["version"]
    (version,) = body["versions"]
    assert version["active"] is True
    assert set(version["metrics"]) == set(TARGETS)
    assert 0 <= version["metrics"]["category"]["accuracy"] <= 1
    # What a correction may say: the matrix's levels and each field's known labels.
    assert body["levels"] == {
        "impact": ["low", "medium", "high"],
        "urgency": ["low", "medium", "high"],
    }
    assert "incident" in version["labels"]["type"]
    assert set(version["abstention"]) == set(TARGETS)
    category = version["abstention"]["category"]
    assert category["method"] == "out-of-fold" and category["rows"] > 100
    assert {"threshold", "accepted", "precision", "coverage", "reason"} <= set(category)
