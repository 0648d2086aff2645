"""The on-disk vector cache (``models.encoder.encode_cached``) behind triage training and the
real-data triage bench: a text must never get another text's vector, and only texts the file
does not hold are encoded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.encoder import HashingEncoder, encode_cached


class Counting(HashingEncoder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:  # noqa: ANN001
        self.seen += list(texts)
        return super().encode(texts, progress)


def test_each_text_is_encoded_once_and_keeps_its_own_vector(tmp_path: Path) -> None:
    cache = tmp_path / "vectors" / "hashing-32.npz"
    reference = HashingEncoder(dim=32)
    enc = Counting()
    texts = ["vpn drops", "printer jam", "vpn drops"]
    first = encode_cached(enc, texts, cache)
    assert sorted(enc.seen) == ["printer jam", "vpn drops"]
    assert np.allclose(first, reference.encode(texts))

    enc2 = Counting()
    steps: list[tuple[int, int]] = []
    texts = ["printer jam", "outlook calendar", "vpn drops"]
    again = encode_cached(enc2, texts, cache, lambda done, total: steps.append((done, total)))
    assert enc2.seen == ["outlook calendar"]  # the others came from the file
    assert steps[0] == (0, 1) and steps[-1] == (1, 1)
    assert np.allclose(again, reference.encode(texts))


def test_the_file_keeps_only_the_current_texts(tmp_path: Path) -> None:
    cache = tmp_path / "hashing-32.npz"
    encode_cached(HashingEncoder(dim=32), ["old ticket", "kept ticket"], cache)
    encode_cached(HashingEncoder(dim=32), ["kept ticket", "new ticket"], cache)
    with np.load(cache) as z:
        assert len(z["keys"]) == 2
    enc = Counting()
    encode_cached(enc, ["old ticket"], cache)
    assert enc.seen == ["old ticket"]  # pruned, so encoded again
