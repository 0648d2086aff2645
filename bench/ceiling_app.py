"""The stack's ceiling for ``bench/concurrency.py``: the smallest FastAPI + numpy endpoint over
the same vectors.  It encodes the query with the same encoder (same settings) and returns the
top 10 of one dot product; no database, no BM25, no fusion, no snippets, no auth.

    FIRSTLINE_BENCH_VECTORS=vectors.npz uvicorn bench.ceiling_app:create_app --factory
"""

from __future__ import annotations

import os

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from core.settings import get_settings
from models.encoder import get_encoder


class Query(BaseModel):
    query: str
    k: int = 10


def create_app() -> FastAPI:
    data = np.load(os.environ["FIRSTLINE_BENCH_VECTORS"])
    matrix = np.ascontiguousarray(data["vectors"], dtype=np.float32)
    ids = [str(i) for i in data["ids"]]
    m = get_settings().model
    encoder = get_encoder(m.kind, m.path, m.batch_size, m.device, m.max_seq_length, m.onnx)
    encoder.encode(["warm up"])
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "vectors": len(ids)}

    @app.post("/search")
    def search(body: Query) -> dict:
        q = encoder.encode([body.query])[0]
        scores = matrix @ q
        k = min(body.k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return {"hits": [{"id": ids[i], "score": float(scores[i])} for i in top]}

    return app
