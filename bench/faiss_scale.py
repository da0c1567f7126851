"""FAISS index types as the collection grows: Flat (exact) vs HNSW vs IVF, on real and perturbed real vectors."""

from __future__ import annotations

import time

import faiss
import numpy as np

from qa.embedding import Embedder, resolve
from qa.eval import squad
from qa.index import HNSW_FROM
from qa.text import sentence_spans

from .common import DATA, table, write


def _real_vectors(embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """Sentence and paragraph vectors of every evaluation context, and question vectors as queries."""
    texts, questions = [], []
    for file in ("cmrc2018_dev.json", "DRCD_dev.json", "xquad.zh.json"):
        for p in squad.load(DATA / file):
            texts.append(p.context)
            texts += [p.context[a:b] for a, b in sentence_spans(p.context)]
            questions += [q.text for q in p.questions]
    rng = np.random.default_rng(0)
    qs = [questions[i] for i in rng.choice(len(questions), 200, replace=False)]
    return embedder.encode_passages(texts), embedder.encode_queries(qs)


def _collection(real: np.ndarray, n: int, rng) -> np.ndarray:
    """n vectors: the real ones first, then real ones with noise (synthetic, same distribution shape)."""
    if n <= len(real):
        return real[:n].copy()
    extra = real[rng.integers(0, len(real), n - len(real))] + rng.normal(
        0, 0.03, (n - len(real), real.shape[1])
    ).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.concatenate([real, extra.astype(np.float32)])


def _measure(name: str, index, base: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    t = time.perf_counter()
    if not index.is_trained:
        index.train(base[np.random.default_rng(1).choice(len(base), min(len(base), 50_000), replace=False)])
    index.add(base)
    build = time.perf_counter() - t
    lat = []
    found = []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], 10)
        lat.append(time.perf_counter() - t)
        found.append(ids[0])
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
    size = len(faiss.serialize_index(index))
    return {
        "index": name,
        "vectors": len(base),
        "build_s": build,
        "search_p50_ms": 1000 * float(np.median(lat)),
        "search_p95_ms": 1000 * float(np.percentile(lat, 95)),
        "recall@10_vs_exact": recall,
        "bytes_per_vector": size / len(base),
    }


def run(sizes=(1_000, 10_000, 100_000, 1_000_000)) -> dict:
    faiss.omp_set_num_threads(2)
    embedder = Embedder(resolve("zh-static"))
    real, queries = _real_vectors(embedder)
    d = real.shape[1]
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        base = _collection(real, n, rng)
        flat = faiss.IndexFlatIP(d)
        row = _measure("Flat (exact)", flat, base, queries, np.zeros((len(queries), 10), int))
        _, truth = flat.search(queries, 10)
        row["recall@10_vs_exact"] = 1.0
        rows.append(row)
        hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction, hnsw.hnsw.efSearch = 80, 64
        rows.append(_measure("HNSW32 (efSearch 64)", hnsw, base, queries, truth))
        nlist = max(16, int(4 * np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(d)  # must outlive the IVF index (FAISS does not own it from Python)
        ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.nprobe = 16
        rows.append(_measure(f"IVF{nlist},Flat (nprobe 16)", ivf, base, queries, truth))
        del ivf, quantizer
        print(table(rows[-3:], list(rows[-1])), flush=True)
    md = (
        f"### FAISS index types by collection size (dim {d}, {len(real)} real vectors, "
        "the rest perturbed copies; 200 real questions)\n\n"
        f"The engine uses exact `IndexFlatIP` below {HNSW_FROM:,} chunks and HNSW32 from there on.\n\n"
        + table(
            rows,
            ["index", "vectors", "build_s", "search_p50_ms", "search_p95_ms", "recall@10_vs_exact", "bytes_per_vector"],
        )
    )
    write("faiss", {"rows": rows, "hnsw_from": HNSW_FROM}, md)
    return {"rows": rows}
