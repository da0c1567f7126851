"""Stage 4a: BM25 over Chinese-aware terms (characters, character bigrams, words), plain numpy/scipy."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .text import terms


class BM25:
    """Okapi BM25 with a precomputed sparse weight matrix: a query costs one column sum."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            counts: dict[int, int] = {}
            toks = terms(text)
            lengths[i] = len(toks)
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            rows += [i] * len(counts)
            cols += counts.keys()
            vals += counts.values()
        tf = sparse.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(len(texts), len(vocab)))
        df = np.bincount(cols, minlength=len(vocab)).astype(np.float32)
        n = max(len(texts), 1)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if len(texts) else 1.0
        norm = k1 * (1 - b + b * lengths / max(avgdl, 1e-9))
        tf = tf.tocoo()
        weights = tf.data * (k1 + 1) / (tf.data + norm[tf.row]) * self.idf[tf.col]
        self.matrix = sparse.csc_matrix((weights, (tf.row, tf.col)), shape=tf.shape)
        self.vocab = vocab
        self.n_docs = len(texts)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (each distinct query term counted once)."""
        ids = sorted({self.vocab[t] for t in terms(query) if t in self.vocab})
        if not ids or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.matrix[:, ids].sum(axis=1), dtype=np.float32).ravel()

    def idf_of(self, term: str) -> float:
        """IDF of a term; an unseen term gets the largest possible IDF."""
        j = self.vocab.get(term)
        return float(self.idf[j]) if j is not None else float(np.log(1 + (self.n_docs + 0.5) / 0.5))
