"""Choose the bundled reader's settings on validation articles and write them to ``reader.json``.

    python -m qa.calibrate_reader --data ../shared/train [--limit 300]

Sets (validation articles only, open retrieval over each set's validation paragraphs, k = 5): the
1-in-20 validation slice of CMRC 2018 train, DRCD dev, XQuAD zh, and XQuAD en questions over the
zh paragraphs. Every question is read twice: with the retrieved passages, and with its gold
paragraph removed from them (where abstaining is right). Chosen, in this order:

* ``n_passages``: how many of the top passages the reader reads (F1 against the time it costs);
* ``ranker_sure``: a cascade, taking the feature ranker's answer when its confidence is at least this
  (and skipping the reader), or none;
* ``unseen``: whether the confidence is multiplied by the ranker's factor for question words the
  articles never use (「美国的…」 over articles about 深圳);
* ``abstain_below``: the lowest threshold that abstains on ``ABSTAIN_RECALL`` of the gold-removed
  questions; among settings, the best mean F1 (abstentions count 0) wins.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import squad
from .evaluation import documents_from_squad, f1_score, passages_without_gold
from .reader import BUNDLED, BundledReader
from .train_reader import BENCH_DATA, cmrc_validation

log = logging.getLogger(__name__)

ABSTAIN_RECALL = 0.9
N_PASSAGES = (1, 2, 3, 4, 5)
RANKER_SURE = (None, 0.9, 0.8, 0.7)
# Reading a passage costs about this much of the time budget per unit of F1 (prefer fewer passages).
F1_PER_PASSAGE = 0.5


@dataclass
class Reading:
    """One question read over one set of passages: the reader's best span per passage, the ranker's answer."""

    reader: list[tuple[float, float]]  # per passage: (probability, F1 of its span)
    ranker: tuple[float, float]  # (confidence, F1)
    unseen: float


def read_set(name: str, paragraphs: list[squad.Paragraph], reader: BundledReader, limit: int | None,
             questions: dict[str, str] | None = None) -> list[tuple[Reading, Reading | None]]:
    """(with gold, without gold) readings of each question of ``paragraphs``."""
    from .engine import QA

    engine = QA.build(documents_from_squad(paragraphs), reader=None)
    items = [(p.pid, questions.get(q.qid, "") if questions else q.text, q.answers) for p in paragraphs for q in p.questions]
    items = [it for it in items if it[1]][:limit]
    out = []
    t0 = time.perf_counter()
    for pid, question, answers in items:
        docs = engine.store.documents

        def reading(passages) -> Reading:
            spans = reader.read(question, [p.chunk.text for p in passages])
            ranked = engine.extractor.extract(question, passages, docs)
            rtext = docs[ranked.doc_id].text[ranked.start : ranked.end] if ranked else ""
            return Reading([(prob, f1_score(p.chunk.text[a:b], list(answers))) for p, (prob, a, b) in zip(passages, spans)],
                           (ranked.confidence if ranked else 0.0, f1_score(rtext, list(answers))),
                           engine.extractor.unseen_factor(question))

        with_gold = reading(engine.retriever.retrieve(question, 5))
        rest = passages_without_gold(engine, question, pid, answers, 5)
        out.append((with_gold, reading(rest) if rest else None))
    log.info("%s: %d questions read in %.0f s", name, len(out), time.perf_counter() - t0)
    return out


def decide(r: Reading, n: int, sure: float | None, unseen: bool) -> tuple[float, float]:
    """(confidence, F1) of the answer the setting gives for one reading."""
    if sure is not None and r.ranker[0] >= sure:
        return 1.0, r.ranker[1]
    best = max(r.reader[:n], key=lambda x: x[0], default=(0.0, 0.0))
    return best[0] * (r.unseen if unseen else 1.0), best[1]


def choose(sets: dict[str, list[tuple[Reading, Reading | None]]]) -> tuple[dict, list[dict]]:
    rows = []
    for n in N_PASSAGES:
        for sure in RANKER_SURE:
            for unseen in (False, True):
                removed = [decide(b, n, sure, unseen)[0] for s in sets.values() for _, b in s if b is not None]
                threshold = float(np.quantile(removed, 1 - ABSTAIN_RECALL)) + 1e-6 if removed else 0.5
                per_set = {}
                for name, s in sets.items():
                    scored = [decide(a, n, sure, unseen) for a, _ in s]
                    per_set[name] = 100 * float(np.mean([f1 if conf >= threshold else 0.0 for conf, f1 in scored]))
                mean = float(np.mean(list(per_set.values())))
                rows.append({"n_passages": n, "ranker_sure": sure, "unseen": unseen, "abstain_below": round(threshold, 4),
                             "f1": per_set, "mean_f1": mean, "objective": mean - F1_PER_PASSAGE * n})
    best = max(rows, key=lambda r: r["objective"])
    return best, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qa.calibrate_reader", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with cmrc2018_train.json")
    ap.add_argument("--reader", type=Path, default=BUNDLED)
    ap.add_argument("--limit", type=int, default=300, help="questions per set")
    ap.add_argument("--report", type=Path, default=Path("build/reader-calibration.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reader = BundledReader(args.reader)
    cmrc = [p for p in squad.load(args.data / "cmrc2018_train.json") if cmrc_validation(p.title)]
    drcd = squad.split(squad.load(BENCH_DATA / "DRCD_dev.json"), "validation")
    xquad = squad.split(squad.load(BENCH_DATA / "xquad.zh.json"), "validation")
    english = {q.qid: q.text for p in squad.load(BENCH_DATA / "xquad.en.json") for q in p.questions}
    sets = {"cmrc-train-val": read_set("cmrc-train-val", cmrc, reader, args.limit),
            "drcd-val": read_set("drcd-val", drcd, reader, args.limit),
            "xquad-zh-val": read_set("xquad-zh-val", xquad, reader, args.limit),
            "xquad-en-zh-val": read_set("xquad-en-zh-val", xquad, reader, args.limit, english)}
    best, rows = choose(sets)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"best": best, "rows": rows}, indent=1), encoding="utf-8")
    settings = {k: best[k] for k in ("n_passages", "ranker_sure", "unseen", "abstain_below")}
    settings["chosen_on"] = {"sets": list(sets), "questions_per_set": args.limit, "abstain_recall": ABSTAIN_RECALL,
                             "validation_f1": best["f1"]}
    (args.reader / "reader.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    print(json.dumps(best, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
