"""Stage 4a: BM25 over Chinese-aware terms (characters, character bigrams, words), in plain numpy.

The weights are precomputed per (term, text) pair and stored column by column (a CSC
layout: ``indptr``/``texts``/``weights``), so a query costs one gather and one ``bincount``.
The arrays are saved inside each index version (``to_arrays``/``from_arrays``) rather than
recomputed at every load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .text import terms

ARRAYS = ("terms", "indptr", "texts", "weights", "idf", "shape")


@dataclass(eq=False)
class BM25:
    """Okapi BM25 with a precomputed weight for each (term, text) pair: term ``j``'s texts and weights are
    ``texts[indptr[j]:indptr[j + 1]]`` and ``weights[…]``."""

    vocab: dict[str, int]
    indptr: np.ndarray
    texts: np.ndarray
    weights: np.ndarray
    idf: np.ndarray
    n_docs: int

    @classmethod
    def fit(cls, texts: list[str], k1: float = 1.2, b: float = 0.75) -> BM25:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            tf: dict[int, int] = {}
            toks = terms(text)
            lengths[i] = len(toks)
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                tf[j] = tf.get(j, 0) + 1
            rows += [i] * len(tf)
            cols += tf.keys()
            counts += tf.values()
        row, col = np.asarray(rows, np.int32), np.asarray(cols, np.int64)
        tf_ = np.asarray(counts, np.float32)
        df = np.bincount(col, minlength=len(vocab)).astype(np.float32)
        n = max(len(texts), 1)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if len(texts) else 1.0
        norm = k1 * (1 - b + b * lengths / max(avgdl, 1e-9))
        weights = (tf_ * (k1 + 1) / (tf_ + norm[row]) * idf[col]).astype(np.float32)
        order = np.lexsort((row, col))  # by term, then text
        indptr = np.zeros(len(vocab) + 1, np.int64)
        np.cumsum(df.astype(np.int64), out=indptr[1:])
        return cls(vocab, indptr, row[order], weights[order], idf, len(texts))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (each distinct query term counted once)."""
        ids = sorted({self.vocab[t] for t in terms(query) if t in self.vocab})
        if not ids or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float32)
        spans = [np.arange(self.indptr[j], self.indptr[j + 1]) for j in ids]
        at = np.concatenate(spans)
        return np.bincount(self.texts[at], weights=self.weights[at], minlength=self.n_docs).astype(np.float32)

    def idf_of(self, term: str) -> float:
        """IDF of a term; an unseen term gets the largest possible IDF."""
        j = self.vocab.get(term)
        return float(self.idf[j]) if j is not None else float(np.log(1 + (self.n_docs + 0.5) / 0.5))

    def knows(self, term: str) -> bool:
        return term in self.vocab

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects, so no pickle) for ``np.savez``."""
        names = sorted(self.vocab, key=self.vocab.__getitem__)
        return {
            "terms": np.asarray(names, dtype=str),
            "indptr": self.indptr,
            "texts": self.texts,
            "weights": self.weights,
            "idf": self.idf,
            "shape": np.asarray([self.n_docs, len(names)], np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays) -> BM25:
        missing = [name for name in ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"BM25 arrays lack {', '.join(missing)}")
        n_docs, n_terms = (int(v) for v in arrays["shape"])
        names = arrays["terms"].tolist()
        indptr = arrays["indptr"]
        if (
            len(names) != n_terms
            or len(indptr) != n_terms + 1
            or len(arrays["idf"]) != n_terms
            or len(arrays["texts"]) != len(arrays["weights"])
            or (n_terms and int(indptr[-1]) != len(arrays["texts"]))
        ):
            raise ValueError("BM25 arrays have inconsistent sizes")
        return cls(
            {t: i for i, t in enumerate(names)}, indptr, arrays["texts"], arrays["weights"], arrays["idf"], n_docs
        )


@dataclass(eq=False)
class Vocabulary:
    """The collection's terms and their BM25 IDF, without the postings: what question analysis needs
    (``idf_of``, ``knows``, equal to ``BM25``'s) when another store (Milvus) does the lexical search."""

    vocab: dict[str, int]
    idf: np.ndarray
    n_docs: int

    @classmethod
    def fit(cls, texts) -> Vocabulary:
        vocab: dict[str, int] = {}
        df: list[int] = []
        n = 0
        for text in texts:
            n += 1
            for t in set(terms(text)):
                j = vocab.setdefault(t, len(vocab))
                if j == len(df):
                    df.append(0)
                df[j] += 1
        d = np.asarray(df, np.float32)
        idf = np.log(1 + (max(n, 1) - d + 0.5) / (d + 0.5)).astype(np.float32)
        return cls(vocab, idf, n)

    idf_of = BM25.idf_of
    knows = BM25.knows

    def to_arrays(self) -> dict[str, np.ndarray]:
        names = sorted(self.vocab, key=self.vocab.__getitem__)
        return {"terms": np.asarray(names, dtype=str), "idf": self.idf, "shape": np.asarray([self.n_docs, len(names)])}

    @classmethod
    def from_arrays(cls, arrays) -> Vocabulary:
        n_docs, n_terms = (int(v) for v in arrays["shape"])
        names = arrays["terms"].tolist()
        if len(names) != n_terms or len(arrays["idf"]) != n_terms:
            raise ValueError("vocabulary arrays have inconsistent sizes")
        return cls({t: i for i, t in enumerate(names)}, arrays["idf"], n_docs)
