"""Score fusion through the Milvus store, on the *validation* articles (never the held-out ones).

``python -m bench --only store_fusion``: the same paragraphs indexed in the local store and in Milvus Lite,
hybrid retrieval, recall@1/@5 of the gold paragraph: the local store's z-score mix (the baseline, in the same
run), the Milvus store with the same mix (BM25 standardised over the retrieved pool) and Milvus's
reciprocal-rank fusion.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from qa import QA, Settings
from qa.eval import squad
from qa.retrieval import Retriever

from .common import DATA, table, write


def _recall(retriever: Retriever, items) -> dict:
    ranks, lat = [], []
    for it in items:
        t = time.perf_counter()
        passages = retriever.retrieve(it.question, 5)
        lat.append(time.perf_counter() - t)
        docs = list(dict.fromkeys(p.chunk.doc_id for p in passages))
        ranks.append(docs.index(it.gold) + 1 if it.gold in docs else None)
    return {
        "questions": len(items),
        "recall@1": float(np.mean([r == 1 for r in ranks])),
        "recall@5": float(np.mean([r is not None for r in ranks])),
        "retrieve_p50_ms": 1000 * float(np.median(lat)),
    }


def run(limit: int | None = None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, file in (
            ("CMRC 2018 dev (validation)", "cmrc2018_dev.json"),
            ("DRCD dev (validation)", "DRCD_dev.json"),
        ):
            paragraphs = squad.split(squad.load(DATA / file), "validation")
            docs, items = squad.documents_from_squad(paragraphs), squad.items_squad(paragraphs)[:limit]
            settings = Settings.from_env().with_(reader="ranker")
            local = QA.build(docs, Path(tmp) / f"local-{file}", settings=settings)
            milvus_settings = settings.with_(store=f"milvus:{Path(tmp) / f'{file}.db'}")
            remote = QA.build(docs, Path(tmp) / f"milvus-{file}", settings=milvus_settings)
            configs = [
                ("local store, z-score mix (baseline)", Retriever(local.store, local.embedder, "hybrid")),
                ("Milvus, z-score mix (BM25 over the pool)", Retriever(remote.store, remote.embedder, "hybrid")),
                ("Milvus, reciprocal-rank fusion", Retriever(remote.store, remote.embedder, "hybrid", fusion="rrf")),
                ("Milvus, BM25 alone (jieba)", Retriever(remote.store, remote.embedder, "lexical")),
                ("local, BM25 alone (characters + bigrams)", Retriever(local.store, local.embedder, "lexical")),
            ]
            for label, retriever in configs:
                rows.append({"data": name, "retrieval": label, **_recall(retriever, items)})
            print(table(rows[-len(configs) :], list(rows[-1])), flush=True)
    md = "### Fusion through the Milvus store (validation articles, hybrid, k=5)\n\n" + table(
        rows, ["data", "retrieval", "questions", "recall@1", "recall@5", "retrieve_p50_ms"]
    )
    write("store_fusion", {"rows": rows}, md)
    return {"rows": rows}
