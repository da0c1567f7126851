"""Choose the bundled reader's settings on validation articles and write them to ``reader.json``.

    python -m qa.calibrate_reader --data ../shared/train [--limit 300]

Sets (validation articles only, open retrieval over each set's validation paragraphs, k = 5): the
1-in-20 validation slice of CMRC 2018 train, DRCD dev, XQuAD zh, and XQuAD en questions over the
zh paragraphs. Every question is read twice: with the retrieved passages, and with its gold
paragraph removed from them (where abstaining is right). Chosen, in this order:

* ``n_passages``: how many of the top passages the reader reads;
* ``ranker_sure``: a cascade, taking the feature ranker's answer when its confidence is at least this
  (and skipping the reader), or none;
* ``unseen``: whether the confidence is multiplied by the ranker's factor for question words the
  articles never use (「美国的…」 over articles about 深圳);
* ``focus_chars``: whole passages, or only so many characters around each passage's best sentence;
* ``abstain_below``: the lowest threshold that abstains on ``ABSTAIN_RECALL`` of the gold-removed
  questions. Among settings, the best mean F1 (abstentions count 0) less ``F1_PER_MS`` per millisecond
  of reading wins.
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
from .reader import BUNDLED, BundledReader, focus
from .train_reader import BENCH_DATA, cmrc_validation

log = logging.getLogger(__name__)

ABSTAIN_RECALL = 0.9
N_PASSAGES = (1, 2, 3, 4, 5)
RANKER_SURE = (None, 0.9, 0.8, 0.7)
FOCUS = (None, 150)  # read whole passages, or this many characters around each one's best sentence
# Time is worth this much F1 per millisecond of reading (20 ms ≈ 1 point): the latency budget is ~60 ms.
F1_PER_MS = 0.05


@dataclass
class Reading:
    """One question read over one set of passages: the reader's best span per passage, the ranker's answer."""

    reader: dict  # focus → per passage: (probability, F1 of its span)
    ms: dict  # focus → milliseconds to read all the passages
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
            weights = engine.extractor.question_terms(question)
            by_focus, ms = {}, {}
            for chars in FOCUS:
                texts = [docs[p.chunk.doc_id].text for p in passages]
                ranges = [focus(t, p.chunk.start, p.chunk.end, weights, chars) if chars else (p.chunk.start, p.chunk.end)
                          for t, p in zip(texts, passages)]
                t0 = time.perf_counter()
                spans = reader.read(question, [t[lo:hi] for t, (lo, hi) in zip(texts, ranges)])
                ms[chars] = 1000 * (time.perf_counter() - t0)
                by_focus[chars] = [(prob, f1_score(t[lo:hi][a:b], list(answers)))
                                   for t, (lo, hi), (prob, a, b) in zip(texts, ranges, spans)]
            ranked = engine.extractor.extract(question, passages, docs)
            rtext = docs[ranked.doc_id].text[ranked.start : ranked.end] if ranked else ""
            return Reading(by_focus, ms, (ranked.confidence if ranked else 0.0, f1_score(rtext, list(answers))),
                           engine.extractor.unseen_factor(question))

        with_gold = reading(engine.retriever.retrieve(question, 5))
        rest = passages_without_gold(engine, question, pid, answers, 5)
        out.append((with_gold, reading(rest) if rest else None))
    log.info("%s: %d questions read in %.0f s", name, len(out), time.perf_counter() - t0)
    return out


def decide(r: Reading, n: int, sure: float | None, unseen: bool, chars: int | None) -> tuple[float, float, float]:
    """(confidence, F1, reading ms) of the answer the setting gives for one reading."""
    if sure is not None and r.ranker[0] >= sure:
        return 1.0, r.ranker[1], 0.0
    best = max(r.reader[chars][:n], key=lambda x: x[0], default=(0.0, 0.0))
    return best[0] * (r.unseen if unseen else 1.0), best[1], r.ms[chars] * n / max(1, len(r.reader[chars]))


def choose(sets: dict[str, list[tuple[Reading, Reading | None]]]) -> tuple[dict, list[dict]]:
    rows = []
    for n in N_PASSAGES:
        for sure in RANKER_SURE:
            for unseen in (False, True):
                for chars in FOCUS:
                    removed = [decide(b, n, sure, unseen, chars)[0] for s in sets.values() for _, b in s if b is not None]
                    # abstain below t on ABSTAIN_RECALL of the gold-removed questions: t above that share of their confidences
                    threshold = float(np.quantile(removed, ABSTAIN_RECALL)) + 1e-6 if removed else 0.5
                    per_set, ms = {}, []
                    for name, s in sets.items():
                        scored = [decide(a, n, sure, unseen, chars) for a, _ in s]
                        per_set[name] = 100 * float(np.mean([f1 if conf >= threshold else 0.0 for conf, f1, _ in scored]))
                        ms += [t for _, _, t in scored]
                    mean = float(np.mean(list(per_set.values())))
                    rows.append({"n_passages": n, "ranker_sure": sure, "unseen": unseen, "focus_chars": chars,
                                 "abstain_below": round(threshold, 4), "f1": per_set, "mean_f1": mean,
                                 "read_ms": float(np.mean(ms)), "objective": mean - F1_PER_MS * float(np.mean(ms))})
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
    settings = {k: best[k] for k in ("n_passages", "ranker_sure", "unseen", "focus_chars", "abstain_below")}
    settings["chosen_on"] = {"sets": list(sets), "questions_per_set": args.limit, "abstain_recall": ABSTAIN_RECALL,
                             "validation_f1": best["f1"]}
    (args.reader / "reader.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    print(json.dumps(best, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
