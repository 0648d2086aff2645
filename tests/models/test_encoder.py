"""The real encoder: texts through ONNX Runtime, alone or in length-sorted batches, give the
vectors sentence-transformers gives."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import ModelSettings
from models.encoder import SentenceTransformerEncoder, _OnnxEncoder, get_encoder

TEXTS = [
    "printer not ready",
    "Outlook calendar: meetings sent by colleagues are not showing since this morning",
    "VPN drops every few minutes when I work from home; I have restarted the laptop twice "
    "and reinstalled the client but the tunnel still closes after about five minutes",
    # longer than the model's 256 tokens: both paths must truncate it the same way
    "The SAP sign-in page keeps returning an error after the password change. " * 40,
]


@pytest.fixture(scope="module")
def encoders() -> tuple[SentenceTransformerEncoder, SentenceTransformerEncoder]:
    """The default encoder as the service gets it (the process's one, so its model and ONNX
    copy load once for these tests and the real-data tests), and one with ONNX switched off."""
    pytest.importorskip("onnxruntime")
    m = ModelSettings()
    fast = get_encoder(m.kind, m.path, m.batch_size, m.device, m.max_seq_length, m.onnx)
    assert isinstance(fast, SentenceTransformerEncoder) and fast.onnx
    return fast, SentenceTransformerEncoder(onnx=False)


def test_single_text_goes_through_onnx_and_matches_torch(encoders) -> None:  # noqa: ANN001
    fast, plain = encoders
    for text in TEXTS:
        a, b = fast.encode([text]), plain.encode([text])
        assert a.shape == b.shape == (1, 384) and a.dtype == np.float32
        assert np.abs(a - b).max() < 1e-5, text[:40]
        assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5
    assert isinstance(fast._onnx, _OnnxEncoder)  # the fast path was really taken
    assert plain._onnx is None  # and never built when switched off


def test_batches_agree_with_single_texts(encoders) -> None:  # noqa: ANN001
    fast, _ = encoders
    batch = fast.encode(TEXTS)  # padded buckets
    singles = np.vstack([fast.encode([t]) for t in TEXTS])
    assert np.abs(batch - singles).max() < 1e-5
    # and the vectors mean something: the two printer/calendar texts are not the same
    assert float(singles[0] @ singles[1]) < 0.5


# Varied texts: empty, one word, non-Latin scripts, German, code, duplicates, and several
# longer than the model's 256 tokens, so buckets of very different lengths are padded.
VARIED = [
    "",
    "vpn",
    "Drucker druckt nicht mehr seit dem Update, Fehlermeldung 0x0000011b",
    "メールが送信できません",
    "Traceback (most recent call last): File 'app.py', line 3, in <module> KeyError: 'id'",
    "vpn",
    *[f"ticket {i}: laptop fan loud, battery drains in {i} h, BIOS {i}.0" for i in range(40)],
    "Outlook keeps asking for the password after the MFA change; " * 30,
    " ".join(f"word{i}" for i in range(600)),
    "Short one after long ones",
    "Teams meeting audio echoes when two people join from the same room. " * 8,
]


def test_batched_path_matches_sentence_transformers(encoders) -> None:  # noqa: ANN001
    """What a user notices: the batched path (ingestion's) gives the vectors the reference
    sentence-transformers model gives, in the callers' order, whatever the bucketing."""
    fast, plain = encoders
    reference = plain._load().encode(VARIED, normalize_embeddings=True, show_progress_bar=False)
    done: list[int] = []
    got = fast.encode(VARIED, progress=done.append)
    assert got.shape == reference.shape and got.dtype == np.float32
    assert float(np.sum(got * reference, axis=1).min()) >= 0.999
    assert np.abs(got - reference).max() < 1e-4
    assert sum(done) == len(VARIED)  # the progress callback saw every text
    # tiny buckets (one text each for the long ones) and one huge bucket give the same vectors
    assert isinstance(fast._onnx, _OnnxEncoder)
    for budget, size in ((64, 4), (10**6, 1000)):
        again = fast._onnx.encode(VARIED, batch_size=size, budget=budget)
        assert np.abs(again - got).max() < 1e-5


def test_single_texts_from_many_threads_at_once(encoders) -> None:  # noqa: ANN001
    """The API encodes queries from a thread pool: concurrent single texts give the same
    vectors as one after another, without tokenizer errors."""
    from concurrent.futures import ThreadPoolExecutor

    fast, _ = encoders
    texts = [f"{t} ({i})" for i in range(10) for t in TEXTS[:3]]
    expected = [fast.encode([t]) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: fast.encode([t]), texts))
    for a, b in zip(got, expected, strict=True):
        assert np.abs(a - b).max() < 1e-6
