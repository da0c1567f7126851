"""Ingest throughput: one process against ``build --ray`` with 1 and 2 embedding workers, in the same run.

``python -m bench --only ingest``: the CMRC 2018 and DRCD dev paragraphs as articles (1,200 of them), chunked and
embedded with the default e5-small model on this machine's cores; the Ray cluster's start is timed apart.
"""

from __future__ import annotations

import time

import numpy as np

from qa.embedding import Embedder, resolve

from .common import DATA, table, write


def _ingest_rows(limit: int | None) -> list[dict]:
    """One process against Ray with 1 and 2 workers: chunk and embed the evaluation paragraphs as articles."""
    from qa.chunking import Chunker
    from qa.eval import squad
    from qa.indexing import chunk_and_embed
    from qa.ray_ingest import RayIngest

    paragraphs = squad.load(DATA / "cmrc2018_dev.json") + squad.load(DATA / "DRCD_dev.json")
    docs = squad.documents_from_squad(paragraphs[: limit or 1200])
    embedder = Embedder(resolve("e5-small"))
    base_chunker = Chunker()
    chunker = Chunker(base_chunker.max_tokens, base_chunker.overlap, embedder.fits)
    rows = []
    t = time.perf_counter()
    single = chunk_and_embed(docs, chunker, embedder)
    base = time.perf_counter() - t
    n = sum(len(cs) for cs, _ in single.values())
    rows.append({"ingest": "one process (baseline)", "articles": len(docs), "chunks": n, "seconds": base})
    for workers in (1, 2):
        ingest = RayIngest(None, batch_size=64, workers=workers)
        try:
            t = time.perf_counter()
            ingest.start()  # the cluster's start is timed apart
            start = time.perf_counter() - t
            t = time.perf_counter()
            out = ingest.chunk_and_embed(docs, chunker, embedder)
            took = time.perf_counter() - t
        finally:
            ingest.close()
        same = all([c.text for c in out[d.doc_id][0]] == [c.text for c in single[d.doc_id][0]] for d in docs)
        cos = min(
            float(np.min(np.sum(out[d.doc_id][1] * single[d.doc_id][1], axis=1))) for d in docs if single[d.doc_id][0]
        )
        rows.append(
            {
                "ingest": f"Ray Data, {workers} worker{'s' if workers > 1 else ''}",
                "articles": len(docs),
                "chunks": sum(len(cs) for cs, _ in out.values()),
                "seconds": took,
                "ray_start_s": start,
                "same_chunks": same,
                "min_cosine_to_baseline": cos,
            }
        )
    for r in rows:
        r["chunks_per_s"] = r["chunks"] / r["seconds"]
        r["vs_baseline"] = base / r["seconds"]
    return rows


def run(limit: int | None = None) -> dict:
    rows = _ingest_rows(limit)
    md = (
        "### Ingest: one process against Ray Data (evaluation paragraphs as articles, e5-small, 2 CPU cores)\n\n"
        + table(
            rows,
            [
                "ingest",
                "articles",
                "chunks",
                "seconds",
                "ray_start_s",
                "chunks_per_s",
                "vs_baseline",
                "same_chunks",
                "min_cosine_to_baseline",
            ],
        )
    )
    write("ingest", {"rows": rows}, md)
    return {"rows": rows}
