"""Train the span ranker (``python -m qa.train_ranker``): logistic regression over candidate features.

Candidates come from the passages the engine retrieves for each question of the
*training* articles of CMRC 2018, DRCD and XQuAD (``qa.squad.part_of``), so the model
learns to weigh sentence coverage and passage rank too; a candidate is positive when it
matches a gold answer exactly (CMRC 2018 metric). The regularisation is chosen by
end-to-end F1 on the *validation* articles; the weights are written as JSON to
``qa/models/span-ranker.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

import numpy as np

from . import squad
from .evaluation import documents_from_squad, exact_match, f1_score
from .ranker import DEFAULT_PATH, SpanRanker

log = logging.getLogger("qa.train_ranker")
DATA = Path(__file__).resolve().parent.parent / "bench" / "data"
SETS = ("cmrc2018_dev.json", "DRCD_dev.json", "xquad.zh.json")


def _engine(paragraphs):
    """An in-memory engine over ``paragraphs`` whose extractor generates learned-ranker candidates."""
    from .engine import QA

    engine = QA.build(documents_from_squad(paragraphs))
    engine.extractor.ranker = SpanRanker({}, 0.0, {})  # candidates with features; weights unused here
    return engine


def _examples(part: str, data_dir: Path, k: int = 5):
    """(question, gold answers, candidates) for every question of the ``part`` articles, with candidates
    from the top ``k`` passages retrieved from all of that part's paragraphs (as the engine answers)."""
    for file in SETS:
        paragraphs = squad.split(squad.load(data_dir / file), part)
        engine = _engine(paragraphs)
        for p in paragraphs:
            for q in p.questions:
                passages = engine.retriever.retrieve(q.text, k)
                cands, _ = engine.extractor.candidates(q.text, passages, engine.store.documents)
                texts = [engine.document(c.doc_id).text[c.start : c.end] for c in cands]
                yield q, list(q.answers), cands, texts


def train(out: Path = DEFAULT_PATH, data_dir: Path = DATA, negatives: int = 40, seed: int = 7) -> dict:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    rng = random.Random(seed)
    rows, labels = [], []
    for _, answers, cands, texts in _examples("train", data_dir):
        pos = [c.features for c, t in zip(cands, texts) if exact_match(t, answers)]
        neg = [c.features for c, t in zip(cands, texts) if not exact_match(t, answers)]
        if not pos:
            continue
        rng.shuffle(neg)
        rows += pos + neg[:negatives]
        labels += [1] * len(pos) + [0] * len(neg[:negatives])
    log.info("%d training rows (%d positive) in %.0fs", len(rows), sum(labels), time.time() - t0)
    vec = DictVectorizer()
    X = vec.fit_transform(rows)
    validation = list(_examples("validation", data_dir))
    best = None
    for c in (0.1, 0.3, 1.0, 3.0):
        clf = LogisticRegression(C=c, max_iter=2000)
        clf.fit(X, np.asarray(labels))
        ranker = SpanRanker({name: float(w) for name, w in zip(vec.get_feature_names_out(), clf.coef_[0]) if w}, float(clf.intercept_[0]), {})
        em, f1 = _reader_scores(ranker, validation)
        log.info("C=%s: validation EM %.1f F1 %.1f", c, em, f1)
        if best is None or f1 > best[0]:
            best = (f1, em, c, ranker)
    f1, em, c, ranker = best
    meta = {"trained_on": "training articles of " + ", ".join(SETS), "rows": len(rows), "C": c, "seed": seed,
            "validation_em": round(em, 2), "validation_f1": round(f1, 2),
            "licence": "derived from CMRC 2018 (CC BY-SA 4.0), DRCD (CC BY-SA 3.0), XQuAD (CC BY-SA 4.0)"}
    ranker = SpanRanker(dict(sorted((k, round(v, 6)) for k, v in ranker.weights.items())), round(ranker.bias, 6), meta)
    ranker.save(out)
    return dict(meta, seconds=round(time.time() - t0))


def _reader_scores(ranker: SpanRanker, examples) -> tuple[float, float]:
    em, f1 = [], []
    for _, answers, cands, texts in examples:
        if not cands:
            em.append(0.0)
            f1.append(0.0)
            continue
        i = max(range(len(cands)), key=lambda j: ranker.score(cands[j].features))
        em.append(exact_match(texts[i], answers))
        f1.append(f1_score(texts[i], answers))
    return 100 * float(np.mean(em)), 100 * float(np.mean(f1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(train(args.out, args.data), indent=1))


if __name__ == "__main__":
    main()
