"""Stage 4b: hybrid retrieval: dense (FAISS) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .embedding import Embedder
from .index import StoredIndex
from .lexical import BM25
from .types import Passage

Mode = Literal["hybrid", "dense", "lexical"]
MODES = ("hybrid", "dense", "lexical")
RRF_K = 60


class Retriever:
    """Finds the chunks of a ``StoredIndex`` that best match a question."""

    def __init__(self, store: StoredIndex, embedder: Embedder | None, mode: Mode = "hybrid") -> None:
        if mode not in MODES:
            raise ValueError(f"retriever must be one of {', '.join(MODES)}, not {mode!r}")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.bm25 = BM25([c.text for c in store.chunks])

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        n = len(self.store.chunks)
        if n == 0:
            return []
        depth = min(n, max(4 * k, 20))
        lexical = self.bm25.scores(query)
        dense = np.full(n, np.nan, dtype=np.float32)
        fused = np.zeros(n, dtype=np.float64)
        if self.mode != "lexical":
            qvec = self.embedder.encode_queries([query])
            scores, ids = self.store.search(qvec, depth)
            dense[ids[0][ids[0] >= 0]] = scores[0][ids[0] >= 0]
            for rank, i in enumerate(ids[0][ids[0] >= 0]):
                fused[i] += 1.0 / (RRF_K + rank + 1)
        if self.mode != "dense":
            order = np.argsort(-lexical, kind="stable")[:depth]
            for rank, i in enumerate(order):
                if lexical[i] > 0:
                    fused[i] += 1.0 / (RRF_K + rank + 1)
        top = np.argsort(-fused, kind="stable")[:k]
        top = [i for i in top if fused[i] > 0]
        if self.mode == "hybrid":  # exact dense scores for lexical-only hits, so each passage reports both
            for i in top:
                if np.isnan(dense[i]):
                    dense[i] = self.store.vectors[i] @ qvec[0]
        docs = self.store.documents
        return [
            Passage(
                chunk=self.store.chunks[i],
                title=docs[self.store.chunks[i].doc_id].title,
                rank=r + 1,
                score=float(fused[i]),
                dense_score=None if np.isnan(dense[i]) else float(dense[i]),
                lexical_score=float(lexical[i]),
            )
            for r, i in enumerate(top)
        ]
