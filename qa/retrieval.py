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
from .text import is_english
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
        lexical_weight_english: float | None = None,
    ) -> None:
        """``lexical_weight``: BM25's share of the mix; by default the embedding model's own (``ModelSpec``).
        ``lexical_weight_english``: the share for a question written in English (``text.is_english``), whose
        words BM25 over Chinese articles cannot match; by default the model's own when ``lexical_weight`` is
        not given, else ``lexical_weight``.
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
        spec = embedder.spec if embedder is not None else None
        if lexical_weight is None and spec is not None:
            lexical_weight = spec.lexical_weight
            if lexical_weight_english is None:
                lexical_weight_english = spec.lexical_weight_english
        self.lexical_weight = LEXICAL_WEIGHT if lexical_weight is None else lexical_weight
        self.lexical_weight_english = self.lexical_weight if lexical_weight_english is None else lexical_weight_english
        self.bm25 = store.lexical
        self.chunks = store.chunk_store
        n = len(store.chunks)
        rng = np.random.default_rng(0)
        self._sample = store.vectors[np.sort(rng.choice(n, min(n, SAMPLE), replace=False))] if n else store.vectors

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        """The ``k`` best passages. Dense and BM25 hits (``depth`` of each) are mixed as z-scores: dense against a
        fixed sample of chunk vectors; BM25 over the whole collection locally, over the retrieved pool with a Milvus
        store (it returns only its best hits), which may use Milvus's reciprocal-rank fusion instead (``rrf``)."""
        n = len(self.store.chunks)
        if n == 0:
            return []
        depth = min(n, max(4 * k, 20))
        remote = self.store.remote
        if remote is None:
            every = self.bm25.scores(query)
            top = [int(i) for i in np.argsort(-every, kind="stable")[:depth] if every[i] > 0]
            lexical = {i: float(every[i]) for i in top}
            l_mean, l_std = float(every.mean()), float(every.std())
            lexical_of = lambda i: float(every[i])  # noqa: E731
        else:
            ids, scores = remote.lexical_search(query, depth) if self.mode != "dense" else ([], [])
            lexical = {int(i): float(s) for i, s in zip(ids, scores) if s > 0}
            lexical_of = lambda i: lexical.get(i, 0.0)  # noqa: E731
        candidates: dict[int, float] = {}  # chunk → dense score
        qvec = None
        if self.mode != "lexical":
            qvec = self.embedder.encode_queries([query])[0]
            ids, scores = self.chunks.dense_search(qvec, depth)
            candidates = {int(i): float(s) for i, s in zip(ids, scores)}
        if self.mode == "dense":
            fused = dict(sorted(candidates.items(), key=lambda x: -x[1]))
        elif self.mode == "lexical":
            fused = lexical
        elif remote is not None and self.fusion == "rrf":
            fused = {i: 1.0 / (r + 61) for r, i in enumerate(remote.rrf_search(qvec, query, k, depth))}
        else:
            for i in lexical:
                if i not in candidates:
                    candidates[i] = float(self.store.vectors[i] @ qvec)
            if remote is not None:
                pool = np.array([lexical_of(i) for i in candidates])
                l_mean, l_std = float(pool.mean()), float(pool.std())
            sample = self._sample @ qvec
            d_mean, d_std = float(sample.mean()), float(sample.std())
            w = self.lexical_weight_english if is_english(query) else self.lexical_weight
            fused = {
                i: w * _z(lexical_of(i), l_mean, l_std) + (1 - w) * _z(d, d_mean, d_std) for i, d in candidates.items()
            }
            fused = dict(sorted(fused.items(), key=lambda x: -x[1]))
        docs = self.store.documents
        out = []
        for r, i in enumerate(list(fused)[:k]):
            chunk = self.store.chunks[i]
            dense = candidates.get(i)
            if dense is None and qvec is not None:  # a reciprocal-rank hit outside the dense list
                dense = float(self.store.vectors[i] @ qvec)
            out.append(Passage(chunk, docs[chunk.doc_id].title, r + 1, fused[i], dense, lexical_of(i)))
        return out
