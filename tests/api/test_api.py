"""The HTTP API as a client sees it: status codes, bodies and one error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import AUTH, SyncedClient

TICKETS = [
    {
        "id": "INC1",
        "title": "Printer on floor 3 jams",
        "description": "The printer jams on every A3 job.\n\nThanks,\nMaria\nAccounts",
        "resolution": "Replaced the pickup roller.",
        "category": "Printing",
        "assignment_group": "Hardware",
        "opened_at": "2025-03-03T09:14:00Z",
    },
    {
        "id": "INC2",
        "title": "Printer in reception jams",
        "description": "Paper jam in the reception printer, tray 2.",
        "resolution": "Removed torn paper from tray 2.",
        "category": "Printing",
        "assignment_group": "Hardware",
        "opened_at": "2025-04-01T10:00:00Z",
    },
    {
        "id": "INC3",
        "title": "VPN disconnects every hour",
        "description": "GlobalProtect drops the tunnel every hour since the update.",
        "resolution": "Reinstalled the VPN client 6.2.",
        "category": "VPN",
        "assignment_group": "Network",
        "opened_at": "2025-05-10T08:00:00Z",
    },
]
ARTICLES = [
    {
        "id": "KB1",
        "title": "Fix a printer paper jam",
        "body": "Open tray 2, remove torn paper, close the printer door.",
        "category": "Printing",
    },
    {
        "id": "KB2",
        "title": "Reconnect the VPN",
        "body": "Quit GlobalProtect and sign in again with MFA.",
        "category": "VPN",
    },
]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.api.max_batch = 5
    settings.api.max_request_bytes = 4096
    with SyncedClient(create_app(settings), headers=AUTH) as c:
        yield c


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    assert client.post("/tickets", json={"items": TICKETS}).status_code == 200
    assert client.post("/articles", json={"items": ARTICLES}).status_code == 200
    return client


def assert_invalid(response, *words: str) -> None:  # noqa: ANN001
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_input"
    for w in words:
        assert w in error["message"]


# -- documents -------------------------------------------------------------------------------


def test_post_tickets_then_get_them(client: TestClient) -> None:
    r = client.post("/tickets", json={"items": TICKETS, "source": "servicenow"})
    assert r.status_code == 200
    assert r.json() == {
        "kind": "ticket",
        "source": "servicenow",
        "rows": 3,
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "curated": 0,
        "indexed": 3,
        "skipped": [],
        "warnings": [],
        "index": "indexed",
        "pending": 0,
    }
    t = client.get("/tickets/INC1").json()
    assert t["title"] == "Printer on floor 3 jams"
    assert t["description"] == TICKETS[0]["description"]  # stored as given, signature too
    assert t["resolution"] == "Replaced the pickup roller."
    assert t["assignment_group"] == "Hardware"
    assert t["source"] == "servicenow"
    assert t["opened_at"].startswith("2025-03-03T09:14")
    assert t["indexed"] is True
    # The same ticket by its internal reference.
    assert client.get(f"/tickets/{t['id']}").json()["external_id"] == "INC1"


def test_post_articles_then_get_them(client: TestClient) -> None:
    r = client.post("/articles", json={"items": ARTICLES})
    assert r.status_code == 200
    assert r.json()["added"] == 2
    a = client.get("/articles/KB2").json()
    assert a["body"] == ARTICLES[1]["body"]
    assert a["category"] == "VPN"
    assert a["status"] == "published"


def test_posting_the_same_batch_again_is_idempotent(loaded: TestClient) -> None:
    r = loaded.post("/tickets", json={"items": TICKETS})
    assert (r.json()["added"], r.json()["unchanged"]) == (0, 3)
    changed = [{**TICKETS[2], "resolution": "Rolled back to client 6.1."}]
    r = loaded.post("/tickets", json={"items": changed})
    assert r.json()["updated"] == 1
    assert loaded.get("/tickets/INC3").json()["resolution"] == "Rolled back to client 6.1."


def test_batch_items_without_text_are_reported_not_stored(client: TestClient) -> None:
    r = client.post("/tickets", json={"items": [TICKETS[0], {"id": "EMPTY", "title": ""}]})
    assert r.status_code == 200
    assert r.json()["added"] == 1
    assert r.json()["skipped"] == [
        {"row": 2, "reason": "missing text: both title and description are empty"}
    ]
    assert client.get("/tickets/EMPTY").status_code == 404


def test_unknown_ticket_and_article_are_404(loaded: TestClient) -> None:
    for url in ("/tickets/INC404", "/articles/KB404", "/tickets/ticket:999"):
        r = loaded.get(url)
        assert r.status_code == 404
        assert r.json()["error"]["type"] == "not_found"
    assert "INC404" in loaded.get("/tickets/INC404").json()["error"]["message"]


def test_batch_over_the_limit_is_refused(client: TestClient) -> None:
    items = [{"id": f"T{i}", "title": f"t{i}"} for i in range(6)]
    assert_invalid(client.post("/tickets", json={"items": items}), "6 documents", "limit is 5")
    assert client.get("/health").json()["database"]["tickets"] == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(client: TestClient, chunked: bool) -> None:
    body = json.dumps({"items": [{"id": "BIG", "title": "x", "description": "y" * 5000}]})
    data = body.encode()
    content = iter([data[i : i + 1000] for i in range(0, len(data), 1000)]) if chunked else data
    r = client.post("/tickets", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "too_large"
    assert client.get("/tickets/BIG").status_code == 404


def test_unknown_field_in_a_document_is_refused(client: TestClient) -> None:
    r = client.post("/tickets", json={"items": [{"id": "1", "title": "x", "colour": "red"}]})
    assert_invalid(r, "colour")


# -- search ----------------------------------------------------------------------------------


def test_search_returns_hits_with_snippet_highlights_and_why(loaded: TestClient) -> None:
    r = loaded.post("/search", json={"query": "printer jams", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "printer jams"
    hits = body["hits"]
    assert hits[0]["external_id"] in {"INC1", "INC2", "KB1"}
    top = next(h for h in hits if h["external_id"] == "INC1")
    assert top["kind"] == "ticket"
    assert top["resolution"] == "Replaced the pickup roller."
    assert "Maria" not in top["snippet"]  # the signature is not in what the index shows
    assert top["highlights"], "matched words are highlighted"
    highlighted = [top["snippet"][s:e].lower() for s, e in top["highlights"]]
    assert any(w.startswith(("printer", "jam")) for w in highlighted)
    assert top["why"]["lexical_rank"] >= 1
    assert top["why"]["dense_rank"] >= 1
    assert len(hits) <= 5
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_search_filters_by_kind(loaded: TestClient) -> None:
    hits = loaded.post("/search", json={"query": "printer", "kinds": ["article"]}).json()["hits"]
    assert hits and {h["kind"] for h in hits} == {"article"}
    hits = loaded.post("/search", json={"query": "printer", "kinds": ["ticket"]}).json()["hits"]
    assert hits and {h["kind"] for h in hits} == {"ticket"}


def test_search_filters_by_category(loaded: TestClient) -> None:
    hits = loaded.post(
        "/search", json={"query": "printer globalprotect", "categories": ["VPN"]}
    ).json()
    assert hits["hits"] and {h["category"] for h in hits["hits"]} == {"VPN"}
    both = loaded.post(
        "/search", json={"query": "jam", "categories": ["VPN", "Printing"], "k": 20}
    ).json()["hits"]
    assert {h["category"] for h in both} == {"VPN", "Printing"}


def test_search_lexical_mode_only_returns_word_matches(loaded: TestClient) -> None:
    hits = loaded.post("/search", json={"query": "GlobalProtect", "mode": "lexical"}).json()
    assert sorted(h["external_id"] for h in hits["hits"]) == ["INC3", "KB2"]
    assert all(h["why"]["dense_rank"] is None for h in hits["hits"])


def test_get_search_is_the_same_search(loaded: TestClient) -> None:
    r = loaded.get("/search", params={"q": "vpn tunnel", "k": 3, "kind": "ticket"})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits[0]["external_id"] == "INC3"
    assert {h["kind"] for h in hits} == {"ticket"}
    posted = loaded.post("/search", json={"query": "vpn tunnel", "k": 3, "kinds": ["ticket"]})
    assert [h["id"] for h in posted.json()["hits"]] == [h["id"] for h in hits]
    r = loaded.get("/search", params={"q": "vpn", "category": "Printing"})
    assert {h["category"] for h in r.json()["hits"]} == {"Printing"}


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "empty"),
        ({"query": "printer", "k": 0}, "k"),
        ({"query": "printer", "k": 1000}, "k"),
        ({"query": "printer", "colour": "red"}, "colour"),
        ({"query": "printer", "kinds": ["incident"]}, "kinds"),
        ({"query": "printer", "mode": "fuzzy"}, "mode"),
        ({"query": "printer", "date_from": "2025-02-01", "date_to": "2025-01-01"}, "date_from"),
        ({}, "query"),
    ],
)
def test_invalid_search_is_422_with_the_error_shape(
    loaded: TestClient, body: dict, word: str
) -> None:
    assert_invalid(loaded.post("/search", json=body), word)


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {},
        {"q": "x", "k": 0},
        {"q": "x", "k": 1000},
        {"q": "x", "kind": "incident"},
        {"q": "x", "category": [f"c{i}" for i in range(101)]},
    ],
)
def test_invalid_get_search_is_422(loaded: TestClient, params: dict) -> None:
    assert_invalid(loaded.get("/search", params=params))


def test_broken_json_body_is_422(client: TestClient) -> None:
    r = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert_invalid(r)


# -- similar ---------------------------------------------------------------------------------


def test_similar_by_ticket_excludes_the_ticket_itself(loaded: TestClient) -> None:
    r = loaded.post("/similar", json={"ticket_id": "INC1", "k": 5})
    assert r.status_code == 200
    hits = r.json()["hits"]
    ids = [h["external_id"] for h in hits]
    assert "INC1" not in ids
    assert ids[0] == "INC2"  # the other printer jam
    assert {h["kind"] for h in hits} == {"ticket"}  # tickets only, no articles


def test_similar_by_text(loaded: TestClient) -> None:
    r = loaded.post("/similar", json={"text": "the vpn tunnel keeps dropping", "k": 2})
    hits = r.json()["hits"]
    assert hits[0]["external_id"] == "INC3"
    assert len(hits) <= 2
    assert {h["kind"] for h in hits} == {"ticket"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ticket_id": "INC1", "text": "printer"},
        {"text": "x", "k": 0},
        {"text": "x", "k": 1000},
        {"text": "x", "colour": "red"},
    ],
    ids=["neither", "both", "k0", "k1000", "unknown-field"],
)
def test_invalid_similar_is_422(loaded: TestClient, body: dict) -> None:
    assert_invalid(loaded.post("/similar", json=body))


def test_similar_to_an_unknown_ticket_is_404(loaded: TestClient) -> None:
    r = loaded.post("/similar", json={"ticket_id": "INC404"})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found"


# -- system -----------------------------------------------------------------------------------


def test_health_reports_backend_counts_and_model(loaded: TestClient) -> None:
    r = loaded.get("/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok"
    assert h["database"]["tickets"] == 3
    assert h["database"]["articles"] == 2
    assert h["index"]["backend"] == "embedded"
    assert h["index"]["documents"] == 5
    assert h["index"]["pending"] == 0
    assert h["model"] == {"status": "ok", "kind": "hashing", "name": "hashing-384", "dim": 384}


def test_openapi_lists_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/health",
        "/search",
        "/similar",
        "/tickets",
        "/articles",
        "/tickets/{ref}",
        "/articles/{ref}",
    }
    assert {"get", "post"} <= set(paths["/search"])
    assert "422" in paths["/search"]["post"]["responses"]


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found"
