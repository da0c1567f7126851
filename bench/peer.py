"""A peer in the same run: deepset Haystack 2 in-memory BM25 and embedding retrievers vs ours.

Same paragraphs and questions for both."""

from __future__ import annotations

import time

import numpy as np

from qa.eval import squad
from qa.eval.metrics import mrr_at, recall_at
from qa.retrieval import Retriever

from .common import DATA, table, write

CJK_REGEX = r"[\u4e00-\u9fff]|[A-Za-z0-9]+"  # one token per Chinese character: Haystack's BM25, configured for Chinese


def _ranks(results: list[list[str]], golds: list[str]) -> dict:
    ranks = [r.index(g) + 1 if g in r else None for r, g in zip(results, golds)]
    return {
        "recall@5": recall_at(ranks, 5),
        "mrr@10": mrr_at(ranks, 10),
        "empty_results": sum(1 for r in results if not r),
    }


def _haystack(paragraphs, questions, model_path: str) -> list[dict]:
    from haystack import Document
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    docs = [Document(id=p.pid, content=p.context) for p in paragraphs]
    rows = []
    for label, regex in (
        ("Haystack BM25 (default tokenizer)", None),
        ("Haystack BM25 (CJK-character regex)", CJK_REGEX),
    ):
        t = time.perf_counter()
        store = InMemoryDocumentStore(**({"bm25_tokenization_regex": regex} if regex else {}))
        store.write_documents(docs)
        retriever = InMemoryBM25Retriever(store, top_k=10)
        index_s = time.perf_counter() - t
        lat, res = [], []
        for q in questions:
            t = time.perf_counter()
            res.append([d.id for d in retriever.run(query=q.text)["documents"]])
            lat.append(time.perf_counter() - t)
        rows.append(
            {
                "system": label,
                "index_s": index_s,
                "query_p50_ms": 1000 * float(np.median(lat)),
                **_ranks(res, [q.pid for q in questions]),
            }
        )
    t = time.perf_counter()
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    embedder = SentenceTransformersDocumentEmbedder(model=model_path, local_files_only=True, progress_bar=False)
    embedder.warm_up()
    store.write_documents(embedder.run([Document(id=d.id, content=d.content) for d in docs])["documents"])
    index_s = time.perf_counter() - t
    text_embedder = SentenceTransformersTextEmbedder(model=model_path, local_files_only=True, progress_bar=False)
    text_embedder.warm_up()
    retriever = InMemoryEmbeddingRetriever(store, top_k=10)
    lat, res = [], []
    for q in questions:
        t = time.perf_counter()
        emb = text_embedder.run(q.text)["embedding"]
        res.append([d.id for d in retriever.run(query_embedding=emb)["documents"]])
        lat.append(time.perf_counter() - t)
    rows.append(
        {
            "system": "Haystack embedding (zh-static)",
            "index_s": index_s,
            "query_p50_ms": 1000 * float(np.median(lat)),
            **_ranks(res, [q.pid for q in questions]),
        }
    )
    return rows


def _ours(paragraphs, questions) -> list[dict]:
    from qa import QA

    t = time.perf_counter()
    engine = QA.build(squad.documents_from_squad(paragraphs))
    index_s = time.perf_counter() - t
    rows = []
    for mode in ("lexical", "dense", "hybrid"):
        retriever = Retriever(engine.store, engine.embedder, mode)
        lat, res = [], []
        for q in questions:
            t = time.perf_counter()
            passages = retriever.retrieve(q.text, 30)
            lat.append(time.perf_counter() - t)
            res.append(list(dict.fromkeys(p.chunk.doc_id for p in passages))[:10])
        rows.append(
            {
                "system": f"ours {mode}",
                "index_s": index_s,
                "query_p50_ms": 1000 * float(np.median(lat)),
                **_ranks(res, [q.pid for q in questions]),
            }
        )
    return rows


class _Q:
    def __init__(self, text, pid):
        self.text, self.pid = text, pid


def run(limit: int | None = None) -> dict:
    from qa.embedding import resolve

    model_path = resolve("zh-static").path
    rows = []
    for name, file in (("CMRC 2018 dev (held-out)", "cmrc2018_dev.json"), ("DRCD dev (held-out)", "DRCD_dev.json")):
        paragraphs = squad.split(squad.load(DATA / file), "heldout")
        questions = [_Q(q.text, p.pid) for p in paragraphs for q in p.questions][:limit]
        for row in _ours(paragraphs, questions) + _haystack(paragraphs, questions, model_path):
            rows.append({"data": name, "paragraphs": len(paragraphs), "questions": len(questions), **row})
    md = (
        "### Peer: Haystack 2 in-memory retrievers vs ours (same paragraphs, questions and embedding model)\n\n"
        "`empty_results`: questions for which the retriever returned nothing. Haystack's default BM25 tokenizer "
        "(`(?u)\\b\\w+\\b`) treats a whole run of Chinese characters as one word, so a question matches a paragraph "
        "only if it repeats a full clause verbatim.\n\n"
        + table(rows, ["data", "system", "recall@5", "mrr@10", "empty_results", "query_p50_ms", "index_s"])
    )
    write("peer", {"rows": rows}, md)
    return {"rows": rows}
