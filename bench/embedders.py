"""Choosing the default embedding model and lexical weight, on validation articles only.

``python -m bench --only embedders``: zh-static against the bundled e5-small, dense alone and hybrid at
several lexical weights, on the validation articles of DRCD, XQuAD zh and XQuAD en questions over the
zh paragraphs (recall@5 and MRR@10 of the gold paragraph, open retrieval over each set's pool).
"""

from __future__ import annotations

from qa import Settings
from qa.embedding import Embedder, resolve
from qa.engine import QA
from qa.eval import squad
from qa.retrieval import Retriever

from .common import DATA, table, write

WEIGHTS = (0.0, 0.3, 0.45, 0.6)


def run(limit: int | None = None) -> dict:
    sets = {
        "drcd": (DATA / "DRCD_dev.json", None),
        "xquad_zh": (DATA / "xquad.zh.json", None),
        "xquad_en": (DATA / "xquad.en.json", DATA / "xquad.zh.json"),
    }
    rows = []
    for model in ("zh-static", "e5-small"):
        embedder = Embedder(resolve(model))
        row = {"model": model}
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
            for w in WEIGHTS:
                retriever = Retriever(engine.store, embedder, "dense" if w == 0 else "hybrid", lexical_weight=w)
                ranks = []
                for it in items:
                    docs = list(dict.fromkeys(p.chunk.doc_id for p in retriever.retrieve(it.question, 10)))
                    ranks.append(docs.index(it.gold) + 1 if it.gold in docs else None)
                row[f"{tag}_w{w}_r@5"] = sum(r is not None and r <= 5 for r in ranks) / len(ranks)
                row[f"{tag}_w{w}_mrr"] = sum(1 / r for r in ranks if r) / len(ranks)
        rows.append(row)
    cols = ["model"] + [f"{t}_w{w}_r@5" for t in sets for w in WEIGHTS]
    md = (
        "### Embedding model and lexical weight (validation articles; recall@5 of the gold paragraph; w = lexical "
        "weight, 0 = dense alone)\n\n" + table(rows, cols)
    )
    write("embedders", {"rows": rows}, md)
    return {"rows": rows}
