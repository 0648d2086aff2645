"""Documents sent to the API with a placeholder date are stored, and the answer says which
value was emptied (issue #11 failure 2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import AUTH


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=AUTH) as c:
        yield c


def test_a_ticket_dated_9999_is_stored_with_a_warning(client: TestClient) -> None:
    items = [
        {"id": "T1", "title": "Scanner offline", "opened_at": "9999-12-31T00:00:00"},
        {"id": "T2", "title": "Badge reader broken", "opened_at": "2024-03-01T09:00:00Z"},
    ]
    r = client.post("/tickets", json={"items": items})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["added"] == 2 and out["skipped"] == []
    assert [(w["row"], w["column"], w["value"]) for w in out["warnings"]] == [
        (1, "opened_at", "9999-12-31T00:00:00")
    ]
    assert "outside the supported range" in out["warnings"][0]["reason"]
    assert client.get("/tickets/T1").json()["opened_at"] is None
    hits = client.get("/search", params={"q": "scanner offline", "mode": "lexical"}).json()
    assert hits["hits"][0]["external_id"] == "T1"
