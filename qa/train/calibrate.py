"""Choose the bundled reader's settings on validation articles and write them to ``reader.json``.

    python -m qa.train.calibrate --data ../shared/train [--limit 300]

Sets (validation articles only, open retrieval over each set's validation paragraphs, k = 5): the
1-in-20 validation slice of CMRC 2018 train, DRCD dev, XQuAD zh, and XQuAD en questions over the
zh paragraphs. Every question is read twice: with the retrieved passages, and with its gold
paragraph removed from them (where abstaining is right). For each setting

* ``n_passages``: how many of the top passages the reader reads;
* ``ranker_sure``: a cascade, taking the feature ranker's answer when its confidence is at least this
  (and skipping the reader), or none;
* the confidence: the reader's span probability, or a learned **answerability model** (logistic
  regression over ``reader.ANSWERABILITY_FEATURES``: the reader's span and no-answer probabilities,
  the margin to the next passage, the ranker's confidence and its agreement with the reader, the
  share of the question's terms in the answer's passage and the weight of the heaviest one it lacks,
  the top passage's dense score, the unseen-word factor…; label: the answer's F1 ≥ 0.5), scored on each question
  by a model fitted on the other half of the questions (2-fold, so no question grades its own fit);

``abstain_below`` is the lowest threshold that abstains on ``ABSTAIN_RECALL`` of the gold-removed
questions, and the best mean F1 (abstentions count 0) less ``F1_PER_MS`` per millisecond of reading
wins. The winner's answerability model is then fitted on all the questions and stored.
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

from ..eval import squad
from ..eval.harness import passages_without_gold
from ..eval.metrics import f1_score
from ..eval.squad import documents_from_squad
from ..reading.cascade import ANSWERABILITY_FEATURES, answerability_features, coverage, ranker_evidence
from ..reading.transformer import BUNDLED, BundledReader
from ..types import Passage
from . import BENCH_DATA
from .reader import cmrc_validation

log = logging.getLogger(__name__)

ABSTAIN_RECALL = 0.9
N_PASSAGES = (1, 2, 3, 4, 5)
RANKER_SURE = (None, 0.9, 0.8, 0.7)
# Time is worth this much F1 per millisecond of reading (20 ms ≈ 1 point): the latency budget is ~60 ms.
F1_PER_MS = 0.05
RIGHT = 0.5  # the answerability model learns whether an answer's F1 reaches this


@dataclass
class Reading:
    """One question read over one set of passages: the reader's best span in each of the top passages
    (probability, no-answer probability, text, F1), the ranker's (confidence, text, F1), and what else the
    answerability model sees."""

    question: str
    reads: list[tuple[float, float, str, float, tuple]]  # (probability, no-answer probability, text, F1, coverage)
    ms_per_passage: float
    ranker: tuple[float, str, float, tuple]  # (confidence, text, F1, coverage)
    unseen: float
    top: Passage | None


def read_set(
    name: str,
    paragraphs: list[squad.Paragraph],
    reader: BundledReader,
    limit: int | None,
    questions: dict[str, str] | None = None,
) -> list[tuple[Reading, Reading | None]]:
    """(with gold, without gold) readings of each question of ``paragraphs``."""
    from ..config import Settings
    from ..engine import QA

    engine = QA.build(documents_from_squad(paragraphs), settings=Settings(reader="ranker"))
    items = [
        (p.pid, questions.get(q.qid, "") if questions else q.text, q.answers) for p in paragraphs for q in p.questions
    ]
    items = [it for it in items if it[1]][:limit]
    out = []
    t0 = time.perf_counter()
    docs = engine.store.documents
    for pid, question, answers in items:

        def reading(passages) -> Reading:
            texts = [docs[p.chunk.doc_id].text[p.chunk.start : p.chunk.end] for p in passages]
            t = time.perf_counter()
            spans = reader.read_with_null(question, texts)
            ms = 1000 * (time.perf_counter() - t) / max(1, len(passages))
            q = engine.question(question)
            weights = q.weights
            reads = [
                (prob, null, text[a:b], f1_score(text[a:b], list(answers)), coverage(weights, text))
                for text, (prob, a, b, null) in zip(texts, spans)
            ]
            ranked = engine.reader.extract(q, passages, docs)
            _, rtext, rcover = ranker_evidence(ranked, passages, docs, weights) or (0.0, "", (0.0, 0.0))
            return Reading(
                question,
                reads,
                ms,
                (ranked.confidence if ranked else 0.0, rtext, f1_score(rtext, list(answers)), rcover),
                q.unseen,
                passages[0] if passages else None,
            )

        with_gold = reading(engine.retrieve(question, 5))
        rest = passages_without_gold(engine, question, pid, answers, 5)
        out.append((with_gold, reading(rest) if rest else None))
    log.info("%s: %d questions read in %.0f s", name, len(out), time.perf_counter() - t0)
    return out


def decide(r: Reading, n: int, sure: float | None) -> tuple[float, float, float, dict[str, float]]:
    """(reader-or-ranker confidence, F1, reading ms, answerability features) of the answer a setting gives."""
    conf, rtext, rf1, rcover = r.ranker
    ranker = (conf, rtext, rcover) if rtext else None
    if sure is not None and conf >= sure:
        return 1.0, rf1, 0.0, answerability_features([], ranker, r.top, r.unseen, r.question, True)
    reads = r.reads[:n]
    best = max(reads, key=lambda x: x[0], default=(0.0, 1.0, "", 0.0, (0.0, 0.0)))
    feats = answerability_features(
        [(p, null, text, cover) for p, null, text, _, cover in reads], ranker, r.top, r.unseen, r.question, False
    )
    return best[0], best[3], r.ms_per_passage * len(reads), feats


def _fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A standardised logistic regression: (mean, scale, weights, bias)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((X - mean) / scale, y)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def _prob(params, X: np.ndarray) -> np.ndarray:
    mean, scale, w, b = params
    return 1.0 / (1.0 + np.exp(-(((X - mean) / scale) @ w + b)))


def _rows(sets, n: int, sure: float | None):
    """Per reading: (set, question number, gold removed?, confidence, F1, ms, feature vector)."""
    out = []
    for name, s in sets.items():
        for qi, (a, b) in enumerate(s):
            for removed, r in ((False, a), (True, b)):
                if r is not None:
                    conf, f1, ms, feats = decide(r, n, sure)
                    out.append((name, qi, removed, conf, f1, ms, [feats[k] for k in ANSWERABILITY_FEATURES]))
    return out


def _score(rows, conf: np.ndarray, sets) -> tuple[float, dict, float]:
    """(threshold, per-set mean F1 with abstentions as 0, mean reading ms) for confidences ``conf``."""
    removed = np.array([r[2] for r in rows])
    threshold = float(np.quantile(conf[removed], ABSTAIN_RECALL)) + 1e-6 if removed.any() else 0.5
    per_set = {}
    for name in sets:
        idx = [i for i, r in enumerate(rows) if r[0] == name and not r[2]]
        per_set[name] = 100 * float(np.mean([rows[i][4] if conf[i] >= threshold else 0.0 for i in idx]))
    ms = float(np.mean([r[5] for r in rows if not r[2]]))
    return threshold, per_set, ms


def choose(sets: dict[str, list[tuple[Reading, Reading | None]]]) -> tuple[dict, list[dict], dict | None]:
    """Every setting's validation result, the best, and its answerability model fitted on all questions."""
    results = []
    for n in N_PASSAGES:
        for sure in RANKER_SURE:
            rows = _rows(sets, n, sure)
            X = np.array([r[6] for r in rows])
            y = np.array([r[4] >= RIGHT for r in rows])
            fold = np.array([r[1] % 2 for r in rows])  # a question's two readings share a fold
            crossed = np.zeros(len(rows))
            for k in (0, 1):
                crossed[fold == k] = _prob(_fit(X[fold != k], y[fold != k]), X[fold == k])
            for learned, conf in ((False, np.array([r[3] for r in rows])), (True, crossed)):
                threshold, per_set, ms = _score(rows, conf, sets)
                mean = float(np.mean(list(per_set.values())))
                results.append(
                    {
                        "n_passages": n,
                        "ranker_sure": sure,
                        "answerability": learned,
                        "abstain_below": round(threshold, 4),
                        "f1": per_set,
                        "mean_f1": mean,
                        "read_ms": ms,
                        "objective": mean - F1_PER_MS * ms,
                    }
                )
    best = max(results, key=lambda r: r["objective"])
    model = None
    if best["answerability"]:
        rows = _rows(sets, best["n_passages"], best["ranker_sure"])
        X, y = np.array([r[6] for r in rows]), np.array([r[4] >= RIGHT for r in rows])
        params = _fit(X, y)
        threshold, per_set, _ = _score(rows, _prob(params, X), sets)
        best = dict(best, abstain_below=round(threshold, 4), f1_refit=per_set)
        mean, scale, w, b = params
        model = {
            "features": list(ANSWERABILITY_FEATURES),
            "mean": mean.tolist(),
            "scale": scale.tolist(),
            "weights": w.tolist(),
            "bias": b,
            "label": f"F1 >= {RIGHT}",
        }
    return best, results, model


def _to_json(sets) -> dict:
    def one(r: Reading | None):
        if r is None:
            return None
        top = (
            None
            if r.top is None
            else {"score": r.top.score, "dense": r.top.dense_score, "lexical": r.top.lexical_score}
        )
        return {
            "question": r.question,
            "reads": r.reads,
            "ms": r.ms_per_passage,
            "ranker": r.ranker,
            "unseen": r.unseen,
            "top": top,
        }

    return {name: [[one(a), one(b)] for a, b in s] for name, s in sets.items()}


def _from_json(data: dict) -> dict:
    from ..types import Chunk

    def one(d):
        if d is None:
            return None
        t = d["top"]
        top = None if t is None else Passage(Chunk(0, "", "", 0, 0, "", 0), "", 1, t["score"], t["dense"], t["lexical"])
        reads = [(*x[:4], tuple(x[4])) for x in d["reads"]]
        return Reading(d["question"], reads, d["ms"], (*d["ranker"][:3], tuple(d["ranker"][3])), d["unseen"], top)

    return {name: [(one(a), one(b)) for a, b in s] for name, s in data.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qa.train.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with cmrc2018_train.json")
    ap.add_argument("--reader", type=Path, default=BUNDLED)
    ap.add_argument("--limit", type=int, default=300, help="questions per set")
    ap.add_argument("--report", type=Path, default=Path("build/reader-calibration.json"))
    ap.add_argument(
        "--readings",
        type=Path,
        default=Path("build/reader-readings.json"),
        help="the validation readings: reused when present (delete to read again)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reader = BundledReader(args.reader)
    if args.readings.is_file():
        sets = _from_json(json.loads(args.readings.read_text(encoding="utf-8")))
    else:
        cmrc = [p for p in squad.load(args.data / "cmrc2018_train.json") if cmrc_validation(p.title)]
        drcd = squad.split(squad.load(BENCH_DATA / "DRCD_dev.json"), "validation")
        xquad = squad.split(squad.load(BENCH_DATA / "xquad.zh.json"), "validation")
        english = {q.qid: q.text for p in squad.load(BENCH_DATA / "xquad.en.json") for q in p.questions}
        sets = {
            "cmrc-train-val": read_set("cmrc-train-val", cmrc, reader, args.limit),
            "drcd-val": read_set("drcd-val", drcd, reader, args.limit),
            "xquad-zh-val": read_set("xquad-zh-val", xquad, reader, args.limit),
            "xquad-en-zh-val": read_set("xquad-en-zh-val", xquad, reader, args.limit, english),
        }
        args.readings.parent.mkdir(parents=True, exist_ok=True)
        args.readings.write_text(json.dumps(_to_json(sets), ensure_ascii=False), encoding="utf-8")
    best, rows, model = choose(sets)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"best": best, "rows": rows}, indent=1), encoding="utf-8")
    settings = {k: best[k] for k in ("n_passages", "ranker_sure", "abstain_below")}
    settings.update(unseen=False, focus_chars=None, answerability=model)
    settings["chosen_on"] = {
        "sets": list(sets),
        "questions_per_set": args.limit,
        "abstain_recall": ABSTAIN_RECALL,
        "validation_f1": best["f1"],
    }
    (args.reader / "reader.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    print(json.dumps(best, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
