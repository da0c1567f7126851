"""Past one machine: Milvus Lite against the local FAISS store as collections grow.

``python -m bench --only scale`` (``--quick``: up to 100k vectors). Vectors are real (zh-static, 256-d, every
evaluation paragraph and sentence) plus perturbed copies, as ``bench/faiss_scale.py``; 200 real questions.
Both stores use the engine's index choice (exact below 50,000 vectors, HNSW M=32 above). Milvus Lite runs
in this process behind its gRPC interface, as the engine uses it. (Ray ingest: ``bench/ingest.py``.)
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from qa.embedding import Embedder, resolve
from qa.index import HNSW_FROM, make_faiss_index

from .common import table, write
from .faiss_scale import _collection, _real_vectors

INSERT_BATCH = 5000


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _latencies(search, queries) -> tuple[list[float], list[np.ndarray]]:
    lat, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search(q))
        lat.append(time.perf_counter() - t)
    return lat, found


def _row(store: str, n: int, build: float, lat, found, truth, bytes_per_vector: float, rss: float) -> dict:
    return {
        "store": store,
        "vectors": n,
        "build_s": build,
        "search_p50_ms": 1000 * float(np.median(lat)),
        "search_p95_ms": 1000 * float(np.percentile(lat, 95)),
        "recall@10_vs_exact": float(np.mean([len(set(f[:10]) & set(t)) / 10 for f, t in zip(found, truth)])),
        "bytes_per_vector": bytes_per_vector,
        "rss_growth_mb": rss,
    }


def _local(base: np.ndarray, queries: np.ndarray, truth) -> dict:
    rss = _rss_mb()
    t = time.perf_counter()
    index = make_faiss_index(base)
    build = time.perf_counter() - t
    lat, found = _latencies(lambda q: index.search(q[None, :], 10)[1][0], queries)
    size = len(faiss.serialize_index(index))
    row = _row(
        f"local ({type(index).__name__})", len(base), build, lat, found, truth, size / len(base), _rss_mb() - rss
    )
    return row


def _milvus(base: np.ndarray, queries: np.ndarray, truth, folder: Path) -> dict:
    from milvus_lite import server_manager_instance
    from pymilvus import DataType, MilvusClient

    db = folder / f"bench-{len(base)}.db"
    rss = _rss_mb()
    client = MilvusClient(str(db))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=base.shape[1])
    params = client.prepare_index_params()
    if len(base) < HNSW_FROM:
        params.add_index("vector", index_type="FLAT", metric_type="IP")
    else:
        params.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 80})
    t = time.perf_counter()
    client.create_collection("bench", schema=schema, index_params=params)
    for start in range(0, len(base), INSERT_BATCH):
        block = base[start : start + INSERT_BATCH]
        client.insert("bench", [{"id": start + i, "vector": v} for i, v in enumerate(block.tolist())])
    client.flush("bench")
    client.load_collection("bench")
    build = time.perf_counter() - t
    search_params = {"metric_type": "IP", "params": {"ef": 64}}

    def search(q):
        hits = client.search("bench", data=[q.tolist()], anns_field="vector", limit=10, search_params=search_params)
        return np.array([h["id"] for h in hits[0]])

    lat, found = _latencies(search, queries)
    disk = sum(p.stat().st_size for p in db.rglob("*") if p.is_file())
    row = _row("Milvus Lite", len(base), build, lat, found, truth, disk / len(base), _rss_mb() - rss)
    client.drop_collection("bench")
    client.close()
    server_manager_instance.release_server(str(db))
    shutil.rmtree(db, ignore_errors=True)
    return row


def run(limit: int | None = None, sizes=(10_000, 100_000, 1_000_000)) -> dict:
    if limit:
        sizes = tuple(s for s in sizes if s <= 100_000)
    faiss.omp_set_num_threads(2)
    real, queries = _real_vectors(Embedder(resolve("zh-static")))
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            base = _collection(real, n, rng)
            exact = faiss.IndexFlatIP(base.shape[1])
            exact.add(base)
            _, truth = exact.search(queries, 10)
            del exact
            rows.append(_local(base, queries, truth))
            rows.append(_milvus(base, queries, truth, Path(tmp)))
            print(table(rows[-2:], list(rows[-1])), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    md = (
        f"### Stores by collection size (dim {real.shape[1]}, {len(real)} real vectors, the rest perturbed copies; "
        "200 real questions; exact below 50,000 vectors, HNSW M=32 above, efSearch 64)\n\n"
        + table(
            rows,
            [
                "store",
                "vectors",
                "build_s",
                "search_p50_ms",
                "search_p95_ms",
                "recall@10_vs_exact",
                "bytes_per_vector",
                "rss_growth_mb",
            ],
        )
    )
    write("scale", {"stores": rows, "peak_rss_mb": peak}, md)
    return {"stores": rows}
