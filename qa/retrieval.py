"""Stage 4b: hybrid retrieval: dense (FAISS) and lexical (BM25) scores, standardised and mixed.

Each score is turned into a z-score over the collection (BM25 exactly, dense from a fixed
random sample of chunk vectors, which keeps large HNSW collections cheap), then mixed with
``LEXICAL_WEIGHT``. The weight was chosen on the validation articles of CMRC 2018 and DRCD
(``python -m bench --only fusion``), where this mix scored above lexical-only retrieval.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .embedding import Embedder
from .index import StoredIndex
from .types import Passage

Mode = Literal["hybrid", "dense", "lexical"]
MODES = ("hybrid", "dense", "lexical")
LEXICAL_WEIGHT = 0.6
SAMPLE = 4096


def _z(x: float, mean: float, std: float) -> float:
    return (x - mean) / (std if std > 1e-9 else 1.0)


class Retriever:
    """Finds the chunks of a ``StoredIndex`` that best match a question."""

    def __init__(
        self,
        store: StoredIndex,
        embedder: Embedder | None,
        mode: Mode = "hybrid",
        lexical_weight: float | None = None,
        fusion: str = "z",
    ) -> None:
        """``lexical_weight``: BM25's share of the mix; by default the embedding model's own (``ModelSpec``).
        ``fusion`` (Milvus stores only): ``z`` mixes standardised scores as the local store does, ``rrf`` uses
        Milvus's reciprocal-rank fusion."""
        if fusion not in ("z", "rrf"):
            raise ValueError(f"fusion must be z or rrf, not {fusion!r}")
        self.fusion = fusion
        if mode not in MODES:
            raise ValueError(f"retriever must be one of {', '.join(MODES)}, not {mode!r}")
        if mode != "lexical" and embedder is None:
            raise ValueError(f"the {mode} retriever needs an embedding model")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        if lexical_weight is None:
            lexical_weight = embedder.spec.lexical_weight if embedder is not None else LEXICAL_WEIGHT
        self.lexical_weight = lexical_weight
        self.bm25 = store.lexical
        n = len(store.chunks)
        rng = np.random.default_rng(0)
        self._sample = store.vectors[np.sort(rng.choice(n, min(n, SAMPLE), replace=False))] if n else store.vectors

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        n = len(self.store.chunks)
        if n == 0:
            return []
        depth = min(n, max(4 * k, 20))
        if self.store.remote is not None:
            return self._remote(query, k, depth)
        lexical = self.bm25.scores(query)
        candidates: dict[int, float] = {}  # chunk → dense score
        if self.mode != "lexical":
            qvec = self.embedder.encode_queries([query])[0]
            scores, ids = self.store.search(qvec[None, :], depth)
            candidates = {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}
        if self.mode == "dense":
            ranked = sorted(candidates, key=lambda i: -candidates[i])
            fused = {i: candidates[i] for i in ranked}
        elif self.mode == "lexical":
            ranked = [int(i) for i in np.argsort(-lexical, kind="stable")[:depth] if lexical[i] > 0]
            fused = {i: float(lexical[i]) for i in ranked}
        else:
            for i in np.argsort(-lexical, kind="stable")[:depth]:
                if lexical[i] > 0 and int(i) not in candidates:
                    candidates[int(i)] = float(self.store.vectors[i] @ qvec)
            sample = self._sample @ qvec
            d_mean, d_std = float(sample.mean()), float(sample.std())
            l_mean, l_std = float(lexical.mean()), float(lexical.std())
            w = self.lexical_weight
            fused = {
                i: w * _z(float(lexical[i]), l_mean, l_std) + (1 - w) * _z(d, d_mean, d_std)
                for i, d in candidates.items()
            }
            ranked = sorted(fused, key=lambda i: -fused[i])
        docs = self.store.documents
        return [
            Passage(
                chunk=self.store.chunks[i],
                title=docs[self.store.chunks[i].doc_id].title,
                rank=r + 1,
                score=fused[i],
                dense_score=candidates.get(i),
                lexical_score=float(lexical[i]),
            )
            for r, i in enumerate(ranked[:k])
        ]

    def _remote(self, query: str, k: int, depth: int) -> list[Passage]:
        """Retrieval from a Milvus store: its dense and BM25 top ``depth`` lists, mixed as the local store mixes
        them (z-scores: dense against the same fixed sample of chunk vectors; BM25 over the retrieved pool, as
        Milvus returns only its best hits), or by Milvus's reciprocal-rank fusion (``fusion="rrf"``)."""
        remote = self.store.remote
        lex_ids, lex_scores = remote.lexical_search(query, depth) if self.mode != "dense" else ([], [])
        lexical = {int(i): float(s) for i, s in zip(lex_ids, lex_scores) if s > 0}
        candidates: dict[int, float] = {}
        qvec = None
        if self.mode != "lexical":
            qvec = self.embedder.encode_queries([query])[0]
            ids, scores = remote.dense_search(qvec, depth)
            candidates = {int(i): float(s) for i, s in zip(ids, scores)}
        if self.mode == "dense":
            fused = dict(sorted(candidates.items(), key=lambda x: -x[1]))
        elif self.mode == "lexical":
            fused = dict(sorted(lexical.items(), key=lambda x: -x[1]))
        elif self.fusion == "rrf":
            ranked = remote.rrf_search(qvec, query, k, depth)
            fused = {i: 1.0 / (r + 61) for r, i in enumerate(ranked)}
        else:
            for i in lexical:
                if i not in candidates:
                    candidates[i] = float(self.store.vectors[i] @ qvec)
            sample = self._sample @ qvec
            d_mean, d_std = float(sample.mean()), float(sample.std())
            pool = np.array([lexical.get(i, 0.0) for i in candidates])
            l_mean, l_std = float(pool.mean()), float(pool.std())
            w = self.lexical_weight
            fused = {
                i: w * _z(lexical.get(i, 0.0), l_mean, l_std) + (1 - w) * _z(d, d_mean, d_std)
                for i, d in candidates.items()
            }
            fused = dict(sorted(fused.items(), key=lambda x: -x[1]))
        docs = self.store.documents
        out = []
        for r, i in enumerate(list(fused)[:k]):
            chunk = self.store.chunks[i]
            dense = candidates.get(i)
            if dense is None and qvec is not None:
                dense = float(self.store.vectors[i] @ qvec)
            out.append(Passage(chunk, docs[chunk.doc_id].title, r + 1, fused[i], dense, lexical.get(i, 0.0)))
        return out
