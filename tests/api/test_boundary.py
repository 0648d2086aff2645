"""The API's input boundary (issue #11, failures 8-11 and 17): whatever a client sends gets a
clear 4xx JSON error or a correct answer, never a 500, and the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import DatabaseSettings, Settings
from tests.api.test_api import ARTICLES, TICKETS, assert_invalid
from tests.conftest import AUTH, make_settings

HUGE = "99999999999999999999"  # > 2^63-1

# Every route with an integer id in its path (failure 8: each answered 500 on such an id).
ID_ROUTES = [
    ("GET", "/kb/articles/{id}", None),
    ("PUT", "/kb/articles/{id}", {"version": 1, "title": "x"}),
    ("POST", "/kb/articles/{id}/status", {"to": "review", "version": 1}),
    ("GET", "/kb/articles/{id}/versions", None),
    ("GET", "/kb/articles/{id}/diff?old=1&new=2", None),
    ("POST", "/kb/articles/{id}/merge", {"into": 1}),
    ("POST", "/kb/articles/{id}/feedback", {"helpful": True}),
    ("GET", "/desk/tickets/{id}", None),
    ("POST", "/desk/tickets/{id}/start", None),
    ("POST", "/desk/tickets/{id}/resolve", {"resolution": "done"}),
    ("POST", "/desk/tickets/{id}/escalate", {}),
    ("POST", "/desk/tickets/{id}/close", None),
    ("POST", "/desk/tickets/{id}/corrections", {"field": "impact", "value": "high"}),
    ("POST", "/triage/{id}/corrections", {"field": "impact", "value": "high"}),
    ("DELETE", "/admin/keys/{id}", None),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    if request.param == "postgresql":
        settings.database = DatabaseSettings(url=request.getfixturevalue("fresh_postgres_url"))
    return settings


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), headers=AUTH) as c:
        assert c.post("/tickets", json={"items": TICKETS}).status_code == 200
        assert c.post("/articles", json={"items": ARTICLES}).status_code == 200
        yield c


def _call(client: TestClient, method: str, path: str, body: dict | None):  # noqa: ANN202
    return client.request(method, path, json=body)


def test_an_id_beyond_64_bits_is_a_client_error_on_every_route(client: TestClient) -> None:
    for method, path, body in ID_ROUTES:
        for bad in (HUGE, "0", "-1"):
            r = _call(client, method, path.format(id=bad), body)
            assert r.status_code in (404, 422), (method, path, bad, r.status_code, r.text)
            assert r.json()["error"]["message"]


def test_ids_in_bodies_are_bounded(client: TestClient) -> None:
    ticket = client.post("/desk/tickets", json={"title": "VPN drops"}).json()["ticket"]
    r = client.post(f"/desk/tickets/{ticket['id']}/resolve", json={"article_id": 2**63})
    assert_invalid(r, "article_id")
    r = client.post("/kb/gaps/draft", json={"ticket_ids": [int(HUGE)]})
    assert_invalid(r, "ticket_ids")


def test_mixed_aware_and_naive_filter_dates_search(client: TestClient) -> None:
    """Failure 9: an aware date_from with a naive date_to was a TypeError 500."""
    r = client.post(
        "/search",
        json={"query": "vpn", "date_from": "2020-01-01T00:00:00+05:00", "date_to": "2030-01-01"},
    )
    assert r.status_code == 200, r.text
    assert any(h["external_id"] == "INC3" for h in r.json()["hits"])


@pytest.mark.parametrize(
    ("date_from", "date_to", "word"),
    [
        ("0001-01-01", None, "outside the supported range"),
        (None, "9999-12-31T00:00:00", "outside the supported range"),
        ("2025-06-01", "2025-01-01", "date_from is after date_to"),
    ],
)
def test_filter_dates_out_of_range_or_reversed_are_422(
    client: TestClient, date_from: str | None, date_to: str | None, word: str
) -> None:
    body = {"query": "vpn", "date_from": date_from, "date_to": date_to}
    assert_invalid(client.post("/search", json=body), word)


def test_a_naive_filter_date_is_read_in_the_server_zone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.timezone = "Asia/Kolkata"  # +05:30: 2025-05-10 13:00 there is 07:30 UTC
    with TestClient(create_app(settings), headers=AUTH) as c:
        c.post("/tickets", json={"items": TICKETS})  # INC3 opened 2025-05-10 08:00 UTC
        before = {"query": "vpn", "date_to": "2025-05-10T13:00:00"}
        after = {"query": "vpn", "date_to": "2025-05-10T14:00:00"}
        ids = [
            [h["external_id"] for h in c.post("/search", json=b).json()["hits"]]
            for b in (before, after)
        ]
    assert "INC3" not in ids[0]
    assert "INC3" in ids[1]


@pytest.mark.parametrize("ref", ["ticket:²", "ticket:٣", f"ticket:{HUGE}", "ticket:", "ticket:-1"])
def test_a_record_ref_takes_ascii_digits_only(client: TestClient, ref: str) -> None:
    """Failure 10: ``ticket:²`` was a 500, ``ticket:٣`` silently returned ticket 3."""
    r = client.get(f"/tickets/{ref}")
    assert r.status_code == 404, r.text
    assert r.json()["error"]["type"] == "not_found"


def test_an_ascii_record_ref_still_finds_its_ticket(client: TestClient) -> None:
    ref = client.get("/tickets/INC3").json()["id"]  # "ticket:<n>"
    assert client.get(f"/tickets/{ref}").json()["external_id"] == "INC3"


def test_nul_and_control_characters_are_the_same_on_both_databases(client: TestClient) -> None:
    """Failure 11: on PostgreSQL NUL answered 500 on seven routes; SQLite kept it."""
    r = client.post("/search", json={"query": "vpn\x00 client"})
    assert r.status_code == 200, r.text
    assert r.json()["query"] == "vpn client"
    assert client.get("/search", params={"q": "vpn\x00"}).status_code == 200

    r = client.post("/desk/tickets", json={"title": "Printer\x00 jams\x07", "description": "a\tb"})
    assert r.status_code == 200, r.text
    ticket = client.get(f"/desk/tickets/{r.json()['ticket']['id']}").json()
    assert ticket["title"] == "Printer jams"
    assert ticket["description"] == "a\tb"  # tab and line breaks are text

    r = client.post("/tickets", json={"items": [{"id": "NUL\x001", "title": "Mouse\x00 lag"}]})
    assert r.status_code == 200, r.text
    assert client.get("/tickets/NUL1").json()["title"] == "Mouse lag"

    r = client.post("/admin/keys", json={"name": "bot\x00", "role": "agent"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "bot"

    assert client.get("/tickets/%00").status_code == 404
    assert client.get("/tickets/INC1", params={"source": "api\x00"}).status_code == 200
    assert client.get("/admin/audit", params={"actor": "\x00"}).status_code == 200
    assert client.get("/kb/articles", params={"q": "vpn\x00"}).status_code == 200


def test_text_that_is_only_control_characters_is_empty(client: TestClient) -> None:
    assert_invalid(client.post("/search", json={"query": "\x00\x01"}), "query")
    assert_invalid(client.post("/admin/keys", json={"name": "\x00", "role": "agent"}), "name")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/search", {"query": "vpn", "k": True}, "k"),
        ("/triage", {"request": {"title": "x", "users_affected": True}}, "users_affected"),
        ("/triage", {"request": {"title": "x", "vip": 1}}, "vip"),
        ("/similar", {"text": "vpn", "k": "3"}, "k"),
    ],
)
def test_numbers_and_flags_are_strict(
    client: TestClient, path: str, body: dict, field: str
) -> None:
    """Failure 17: ``true`` was accepted as ``1``."""
    assert_invalid(client.post(path, json=body), field)


def test_the_openapi_document_matches_what_the_routes_accept(client: TestClient) -> None:
    """Failure 17: the key header is a declared scheme on every route but /health; ``{}``
    is refused by the schema where the route refuses it; errors carry a request id."""
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert list(schemes) == ["APIKeyHeader"]
    assert schemes["APIKeyHeader"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "",
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/health":
                assert "security" not in op
            else:
                assert op.get("security") == [{"APIKeyHeader": []}], (method, path)
            ok = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert "$ref" in ok, (method, path, "has no response model")
            for status in ("401", "404", "422", "503") if path != "/health" else ("500",):
                error = op["responses"][status]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
    components = doc["components"]["schemas"]
    for name in ("TriageIn", "TriageRequestIn", "SimilarIn", "ResolveIn", "DeskTicketIn"):
        alternatives = components[name].get("oneOf") or components[name].get("anyOf")
        assert alternatives and all("required" in a for a in alternatives), name
    assert "request_id" in components["ErrorBody"]["properties"]
    for body, path in [
        ({}, "/triage"),
        ({"request": {}}, "/triage"),
        ({}, "/similar"),
        ({}, "/desk/tickets"),
        ({"query": "  "}, "/search"),
        ({"title": " ", "body": "b"}, "/kb/articles"),
    ]:
        assert client.post(path, json=body).status_code == 422, (path, body)
    assert components["SearchIn"]["properties"]["query"]["pattern"] == r"\S"


def test_every_error_names_its_request_id(client: TestClient) -> None:
    r = client.get("/kb/articles/123456")
    assert r.status_code == 404
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
    r = client.get("/me", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/me", headers={"X-Request-ID": "bad id\t"})
    assert r.headers["x-request-id"] != "bad id\t"
