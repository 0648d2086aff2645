"""How many HTTP requests one search costs on Elasticsearch: at most two.

Counted on the wire, not in the client: the backend talks to the cluster (ES_URL or the noida-db
emulator) through a small forwarding proxy that records every request it passes on, so
retries, the client's own calls and anything else the backend sends are all counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.settings import SearchSettings
from indexer.backends.elastic import ElasticsearchBackend
from tests.conftest import es_settings
from tests.indexer.contract import ENC, corpus, req

pytestmark = pytest.mark.elasticsearch

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "host"}


class CountingProxy(ThreadingHTTPServer):
    """Forwards every request to ``upstream`` and records it as ``(method, path)``."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = httpx.Client(base_url=upstream, verify=False, timeout=30)
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: CountingProxy
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        resp = self.server.upstream.request(self.command, self.path, content=body, headers=headers)
        self.send_response(resp.status_code)
        for k, v in resp.headers.items():
            if k.lower() not in _HOP_BY_HOP | {"content-length"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.content)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def proxy(es_url: str) -> Iterator[CountingProxy]:
    server = CountingProxy(es_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.upstream.close()


@pytest.fixture
def backend(proxy: CountingProxy) -> Iterator[ElasticsearchBackend]:
    b = ElasticsearchBackend(es_settings(proxy.url), SearchSettings(), dim=ENC.dim)
    b.upsert(corpus())
    b.search(req("warm up"))  # the first use checks the alias and mapping, once per process
    yield b
    b.drop()
    b.close()


SEARCHES = {
    "filters": dict(kinds=["ticket"], date_from=datetime(2026, 1, 1, tzinfo=UTC)),
    "answered, excluding one": dict(kinds=["ticket"], answered=True, exclude_ids=["ticket:1"]),
    "category and status": dict(categories=["VPN", "Accounts"], statuses=["resolved"]),
}


@pytest.mark.parametrize("fusion", ["firstline", "rrf"])
@pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
@pytest.mark.parametrize("filters", list(SEARCHES))
def test_a_search_takes_at_most_two_requests(
    backend: ElasticsearchBackend, proxy: CountingProxy, mode: str, fusion: str, filters: str
) -> None:
    backend.es = backend.es.model_copy(update={"fusion": fusion})
    proxy.requests.clear()
    hits = backend.search(req("vpn password disconnecting", mode=mode, **SEARCHES[filters]))
    sent = list(proxy.requests)
    assert 1 <= len(sent) <= 2, sent
    # ... and the search did its whole job: filtered, ranked, scored, highlighted.
    assert hits and {h.kind for h in hits} <= {"ticket", "article"}
    if "kinds" in SEARCHES[filters]:
        assert {h.kind for h in hits} == {"ticket"}
    if "exclude_ids" in SEARCHES[filters]:
        assert "ticket:1" not in {h.id for h in hits}
    assert all(h.dense_score is not None and h.snippet for h in hits)
    if mode != "dense":
        assert any(h.highlights for h in hits)


def test_the_proxy_counts_every_request(
    backend: ElasticsearchBackend, proxy: CountingProxy
) -> None:
    """The counter itself: two calls the backend makes, two requests seen."""
    proxy.requests.clear()
    backend.count()
    backend.count()
    assert [m for m, _ in proxy.requests] == ["POST", "POST"]
