"""Searches of the embedded backend run in parallel and never wait for a writer (issue #11,
failure 7: one process-wide lock serialised every search)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import SearchSettings
from indexer.backends.embedded import EmbeddedBackend
from indexer.backends.text import TextIndex
from indexer.types import IndexDoc
from tests.indexer.contract import ENC, corpus, doc, req

# Only a safety net for a broken build: a passing run never waits this long.
STUCK = 30


@pytest.fixture
def make_backend(tmp_path: Path) -> Callable[..., EmbeddedBackend]:
    def make(**settings: object) -> EmbeddedBackend:
        return EmbeddedBackend(tmp_path / "index", dim=ENC.dim, settings=SearchSettings(**settings))

    return make


def _hold_first_search(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The first lexical search entering the backend waits (inside it) until released."""
    entered, release = threading.Event(), threading.Event()
    original = TextIndex.search
    held = []

    def search(self: TextIndex, *args: object, **kwargs: object) -> list[tuple[str, float]]:
        if not held:
            held.append(True)
            entered.set()
            assert release.wait(STUCK), "the held search was never released"
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TextIndex, "search", search)
    return entered, release


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed to the test to assert on
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


@pytest.mark.parametrize("ann_threshold", [100_000, 0], ids=["exact", "hnsw"])
def test_a_search_does_not_wait_for_another_search_in_flight(
    make_backend: Callable[..., EmbeddedBackend],
    monkeypatch: pytest.MonkeyPatch,
    ann_threshold: int,
) -> None:
    backend = make_backend(ann_threshold=ann_threshold)
    backend.upsert(corpus())
    entered, release = _hold_first_search(monkeypatch)
    held, held_out = _in_thread(lambda: backend.search(req("vpn keeps disconnecting", k=1)))
    assert entered.wait(STUCK)
    try:
        second, second_out = _in_thread(lambda: backend.search(req("outlook calendar", k=1)))
        second.join(STUCK)
        assert not second.is_alive(), "the second search waited for the first"
        assert second_out[0][0].id == "ticket:3"
    finally:
        release.set()
    held.join(STUCK)
    assert held_out[0][0].id == "ticket:2"


def test_writes_do_not_wait_for_a_search_in_flight_and_it_sees_its_own_snapshot(
    make_backend: Callable[..., EmbeddedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make_backend()
    backend.upsert(corpus())
    entered, release = _hold_first_search(monkeypatch)
    held, held_out = _in_thread(lambda: backend.search(req("vpn keeps disconnecting", k=10)))
    assert entered.wait(STUCK)
    try:
        writer, writer_out = _in_thread(
            lambda: (backend.delete(["ticket:2"]), backend.upsert([_doc(99, "vpn tunnel down")]))
        )
        writer.join(STUCK)
        assert not writer.is_alive(), "a write waited for a search in flight"
        assert not isinstance(writer_out[0], BaseException), writer_out
    finally:
        release.set()
    held.join(STUCK)
    # The held search ranks and fetches from the view it started with: the deleted ticket is
    # still whole there, the new one is not.
    ids = [h.id for h in held_out[0]]
    assert "ticket:2" in ids and "ticket:99" not in ids
    after = [h.id for h in backend.search(req("vpn keeps disconnecting", k=10))]
    assert "ticket:99" in after and "ticket:2" not in after


def _doc(n: int, title: str) -> IndexDoc:
    return doc(f"ticket:{n}", "ticket", title, f"{title} body {n}", "VPN", "resolved", "2026-07-01")


@pytest.mark.parametrize("ann_threshold", [100_000, 0], ids=["exact", "hnsw"])
def test_sixteen_searchers_beside_a_writer_see_whole_documents(
    make_backend: Callable[..., EmbeddedBackend], ann_threshold: int
) -> None:
    backend = make_backend(ann_threshold=ann_threshold)
    backend.upsert(corpus())
    stable = {d.id: d for d in corpus()}
    done = threading.Event()
    errors: list[BaseException] = []
    searches = [0] * 16

    def write() -> None:
        try:
            for round_ in range(10):
                backend.upsert([_doc(100 + i, f"vpn tunnel {round_} {i}") for i in range(5)])
                backend.delete([f"ticket:{100 + i}" for i in range(0, 5, 2)])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            done.set()

    def search(slot: int) -> None:
        try:
            while not done.is_set() or searches[slot] == 0:
                for hit in backend.search(req("vpn tunnel disconnecting", k=10)):
                    # a whole document: its stored fields are those written with its id
                    number = int(hit.id.split(":")[1])
                    if hit.id in stable:
                        assert hit.title == stable[hit.id].title
                    else:
                        assert 100 <= number < 105
                        assert hit.title.startswith("vpn tunnel ")
                        assert hit.title.endswith(f" {number - 100}")
                searches[slot] += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    readers = [threading.Thread(target=search, args=(i,)) for i in range(16)]
    for t in readers:
        t.start()
    writer = threading.Thread(target=write)
    writer.start()
    writer.join(STUCK * 4)
    for t in readers:
        t.join(STUCK)
    assert not errors, errors[0]
    assert all(searches)
    ids = {h.id for h in backend.search(req("vpn tunnel 9", k=20))}
    assert {"ticket:101", "ticket:103"} <= ids
    assert not ids & {"ticket:100", "ticket:102", "ticket:104"}
    assert backend.search(req("vpn tunnel 9 1", k=1))[0].title == "vpn tunnel 9 1"


def test_a_write_through_one_handle_is_found_by_a_search_through_another(
    make_backend: Callable[..., EmbeddedBackend],
) -> None:
    """Two handles on one folder, as two API workers have: each search picks up the other's
    commits (tantivy reload; the vector store's generation, read incrementally)."""
    first, second = make_backend(), make_backend()
    first.upsert(corpus())
    assert second.search(req("outlook calendar", k=1))[0].id == "ticket:3"
    for n in range(3):
        first.upsert([_doc(200 + n, f"printer toner empty {n}")])
        hits = second.search(req(f"printer toner empty {n}", k=1, mode="dense"))
        assert hits[0].id == f"ticket:{200 + n}"
    second.delete(["ticket:200"])
    second.upsert([_doc(300, "keyboard missing keys")])
    assert "ticket:200" not in first.ids()
    assert first.search(req("keyboard missing keys", k=1))[0].id == "ticket:300"
    assert first.count() == second.count() == len(corpus()) + 3


def test_a_reader_behind_the_change_log_reloads_the_whole_store(
    make_backend: Callable[..., EmbeddedBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log keeps the last transactions only; a reader further behind reads everything."""
    import indexer.backends.vectors as vectors

    monkeypatch.setattr(vectors, "_CHANGE_LOG_KEEP", 2)
    first, second = make_backend(), make_backend()
    first.upsert(corpus())
    assert second.count() == len(corpus())
    for n in range(5):  # five transactions: the log no longer reaches back to second's view
        first.upsert([_doc(400 + n, f"monitor flickers {n}")])
    first.delete(["ticket:1"])
    assert second.ids() == first.ids()
    assert "ticket:1" not in second.ids() and "ticket:404" in second.ids()
    hits = second.search(req("monitor flickers 3", k=1, mode="dense"))
    assert hits[0].id == "ticket:403"
