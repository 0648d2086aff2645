"""The vector cache behind bench/triage_real.py: the README's real-data triage figures rest on
it, so a text must never get another text's vector, and only new texts are encoded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.triage_real import _key, cached_vectors
from models.encoder import HashingEncoder


class Counting(HashingEncoder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:  # noqa: ANN001
        self.seen += list(texts)
        return super().encode(texts, progress)


def test_cache_encodes_each_text_once_and_keeps_vectors_with_their_texts(tmp_path: Path) -> None:
    cache = tmp_path / "set-hashing.npz"
    enc = Counting()
    first = cached_vectors(["vpn drops", "printer jam", "vpn drops"], enc, cache)
    assert sorted(enc.seen) == ["printer jam", "vpn drops"]
    assert len(first) == 2

    enc2 = Counting()
    again = cached_vectors(["printer jam", "outlook calendar", "vpn drops"], enc2, cache)
    assert enc2.seen == ["outlook calendar"]  # the rest came from the file
    reference = HashingEncoder(dim=32)
    assert len(again) == 3
    for text in ("vpn drops", "printer jam", "outlook calendar"):
        assert np.allclose(again[_key(text)], reference.encode([text])[0])
