"""Choosing the default embedding model and lexical weights, on validation articles only.

``python -m bench --only embedders``: zh-static against the bundled e5-small, dense alone and hybrid at
several lexical weights, on the validation articles of DRCD, XQuAD zh and XQuAD en questions over the
zh paragraphs: rank-1, recall@5 and MRR@10 of the gold paragraph, open retrieval over each set's pool.
The Chinese weight (``ModelSpec.lexical_weight``) is chosen on the Chinese sets, the English one
(``ModelSpec.lexical_weight_english``) on the English questions.
"""

from __future__ import annotations

from qa import Settings
from qa.embedding import Embedder, resolve
from qa.engine import QA
from qa.eval import squad
from qa.eval.metrics import mrr_at, recall_at
from qa.retrieval import Retriever

from .common import DATA, table, write

WEIGHTS = (0.0, 0.05, 0.1, 0.3, 0.45, 0.6)
MODELS = ("zh-static", "e5-small")


def run(limit: int | None = None) -> dict:
    sets = {
        "DRCD": (DATA / "DRCD_dev.json", None),
        "XQuAD zh": (DATA / "xquad.zh.json", None),
        "XQuAD en → zh": (DATA / "xquad.en.json", DATA / "xquad.zh.json"),
    }
    rows = []
    for model in MODELS:
        embedder = Embedder(resolve(model))
        spec = embedder.spec
        for tag, (questions, contexts) in sets.items():
            paragraphs = squad.split(squad.load(contexts or questions), "validation")
            engine = QA.build(
                squad.documents_from_squad(paragraphs),
                model=embedder,
                settings=Settings.from_env().with_(reader="ranker"),
            )
            if contexts:
                items = squad.items_crosslingual(squad.split(squad.load(questions), "validation"), paragraphs)
            else:
                items = squad.items_squad(paragraphs)
            items = items[:limit] if limit else items
            default = spec.lexical_weight
            if contexts and spec.lexical_weight_english is not None:
                default = spec.lexical_weight_english
            for w in WEIGHTS:
                retriever = Retriever(
                    engine.store, embedder, "dense" if w == 0 else "hybrid", lexical_weight=w, lexical_weight_english=w
                )
                ranks = []
                for it in items:
                    docs = list(dict.fromkeys(p.chunk.doc_id for p in retriever.retrieve(it.question, 10)))
                    ranks.append(docs.index(it.gold) + 1 if it.gold in docs else None)
                rows.append(
                    {
                        "model": model,
                        "questions": tag,
                        "lexical weight": w,
                        "default": "✓" if abs(w - default) < 1e-9 else "",
                        "n": len(ranks),
                        "rank-1": recall_at(ranks, 1),
                        "recall@5": recall_at(ranks, 5),
                        "MRR@10": mrr_at(ranks, 10),
                    }
                )
    cols = ["model", "questions", "lexical weight", "default", "n", "rank-1", "recall@5", "MRR@10"]
    md = (
        "### Embedding model and lexical weight (validation articles; the gold paragraph's rank; lexical weight "
        "= BM25's share of the hybrid mix, 0 = dense alone; ✓ = the model's default for that language)\n\n"
        + table(rows, cols)
    )
    write("embedders", {"rows": rows}, md)
    return {"rows": rows}
