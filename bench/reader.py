"""The bundled e5 reader (the default) beside the feature ranker, measured once at the end of a change.

``python -m bench --only reader``: held-out articles of each set, open retrieval, k = 5, hybrid, with
the ranker alone as the baseline in the same run; then the **whole CMRC 2018 dev** (3,219 questions)
for the reader alone, given the gold paragraph: the figure comparable with published readers.
"""

from __future__ import annotations

from qa import QA, Settings
from qa.eval import harness, squad
from qa.reading.transformer import BundledReader

from .common import DATA, SETS, table, write


def cmrc_dev_reader_alone(reader: BundledReader, limit: int | None) -> dict:
    paragraphs = squad.load(DATA / "cmrc2018_dev.json")
    return harness.reader_alone(
        reader, [(q.text, p.context, q.answers) for p in paragraphs for q in p.questions][:limit]
    )


def run(limit: int | None = None) -> dict:
    rows = []
    for name, (path, contexts) in SETS.items():
        split = "all" if path.suffix == ".jsonl" else "heldout"
        engine, items, gold_by, _ = harness.load_task(path, Settings.from_env(), "hybrid", split, contexts)
        items = items[:limit] if limit else items
        squad_set = path.suffix == ".json"
        m = harness.evaluate(engine, items, 5, gold_by, drop_gold=squad_set).metrics
        rows.append({"data": name, "extractor": "e5 reader (default)", **m})
        ranker = QA(engine.store, engine.embedder, settings=Settings.from_env().with_(reader="ranker"))
        m = harness.evaluate(ranker, items, 5, gold_by, drop_gold=squad_set).metrics
        rows.append({"data": name, "extractor": "feature ranker alone (baseline, QA_READER=ranker)", **m})
    whole = cmrc_dev_reader_alone(BundledReader(), limit)
    cols = [
        "data",
        "extractor",
        "questions",
        "recall@5",
        "em",
        "f1",
        "f1_no_abstain",
        "reader_em",
        "reader_f1",
        "gold_removed_abstain_recall",
        "abstain_recall",
        "latency_p50_ms",
        "latency_p95_ms",
    ]
    md = (
        "### The e5 reader (held-out articles, open retrieval, hybrid, k=5; CMRC 2018 metric)\n\n"
        f"Whole CMRC 2018 dev, reader alone with the gold paragraph: **EM {whole['em']:.1f} / F1 {whole['f1']:.1f}** "
        f"({whole['questions']} questions, {whole['seconds']:.0f} s). "
        "`gold_removed_abstain_recall`: share of questions asked again without their gold paragraph that abstain.\n\n"
        + table(rows, cols)
    )
    write("reader", {"rows": rows, "cmrc_dev_reader_alone": whole}, md)
    return {"rows": rows}
