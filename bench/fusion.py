"""How dense and lexical scores are mixed: a sweep on the *validation* articles (never the held-out ones)."""

from __future__ import annotations

from qa import QA, Settings
from qa.eval import harness
from qa.retrieval import LEXICAL_WEIGHT

from .common import DATA, table, write


def run(limit: int | None = None) -> dict:
    rows = []
    for name, file in (("CMRC 2018 dev (validation)", "cmrc2018_dev.json"), ("DRCD dev (validation)", "DRCD_dev.json")):
        engine, items, gold_by, _ = harness.load_task(DATA / file, Settings.from_env(), "hybrid", "validation")
        items = items[:limit] if limit else items
        configs = [("lexical only", "lexical", None), ("dense only", "dense", None)]
        configs += [(f"hybrid, lexical weight {w}", "hybrid", w) for w in (0.4, 0.5, 0.6, 0.7, 0.8)]
        for label, mode, w in configs:
            mixed = QA(engine.store, engine.embedder, mode, engine.settings, engine.reader, lexical_weight=w)
            m = harness.evaluate(mixed, items, 5, gold_by).metrics
            rows.append(
                {
                    "data": name,
                    "retriever": label,
                    "recall@1": m["recall@1"],
                    "recall@5": m["recall@5"],
                    "mrr@10": m["mrr@10"],
                }
            )
    md = (
        f"### Score fusion, chosen on validation articles (the engine uses lexical weight {LEXICAL_WEIGHT})\n\n"
        + table(rows, ["data", "retriever", "recall@1", "recall@5", "mrr@10"])
    )
    write("fusion", {"rows": rows, "chosen_lexical_weight": LEXICAL_WEIGHT}, md)
    return {"rows": rows}
