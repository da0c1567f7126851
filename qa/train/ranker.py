"""Train the span ranker (``python -m qa.train_ranker``): linear model, boosted trees, answerability.

Candidates come from the passages the engine retrieves for each question of the
*training* articles of CMRC 2018, DRCD and XQuAD (``qa.squad.part_of``), so the model
learns to weigh sentence coverage and passage rank too. A candidate is a positive when it
matches a gold answer exactly (CMRC 2018 metric).

1. Linear stage: a listwise logistic regression (softmax over each question's candidates,
   L2 penalty chosen by validation F1), fitted with L-BFGS on a sparse matrix.
2. Trees: LightGBM lambdarank over the features seen at least ``MIN_COUNT`` times plus the
   linear score (out-of-fold on the training questions), graded labels (exact > F1 ≥ 0.8 >
   F1 ≥ 0.5), one model per seed in ``SEEDS`` with their scores averaged. Chosen by validation F1:
   the number of trees alone; then the weight of the linear score added to theirs (the largest
   within ``BLEND_LOSS`` of the best); then the number of trees again, at that weight; and the
   trees re-score only the linear stage's best ``rescore_top`` candidates (the fewest within
   ``RESCORE_LOSS``).
3. Answerability: a logistic regression over question-level features telling the retrieved
   passages of a *validation* question (label 1) from the same question's passages with its gold
   paragraph removed from the pool (label 0). It is fitted on validation articles because the
   ranker's scores on its own training questions are over-confident.

With the settings chosen, the linear model and the trees are refitted on training +
validation articles. Everything is written as JSON to ``qa/models/span-ranker.json``; the
held-out articles are never read.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..eval import squad
from ..eval.harness import passages_without_gold
from ..eval.metrics import exact_match, f1_score
from ..eval.squad import documents_from_squad
from ..reading.features import answer_features
from ..reading.ranker import DEFAULT_PATH, SpanRanker

log = logging.getLogger("qa.train_ranker")
SETS = ("cmrc2018_dev.json", "DRCD_dev.json", "xquad.zh.json")
MIN_COUNT = 50  # a feature goes to the trees when this many training candidates have it
# Weights of the linear score added to the trees': the largest whose validation F1 is within BLEND_LOSS of the
# best's, as the smoother linear model carries better to text unlike the training articles (news, not
# encyclopaedia). A fixed tolerance rather than a standard error: paired by question, the standard error
# between two near-identical blends shrinks to a few hundredths of a point, and two retrainings picked 0.5 and 0.1.
BLENDS = (0.0, 0.1, 0.2, 0.5, 1.0)
BLEND_LOSS = 1.0
RESCORE_TOPS = (10, 20, 30, 50)  # the trees re-score this many of the linear stage's best: the smallest within
RESCORE_LOSS = 0.2  # this much validation F1 of re-scoring all
# One tree model per seed, their scores averaged: on validation articles two seeds of the same model moved
# F1 by 0.5 (DRCD by 1.5); the average of two scored 0.2 to 0.4 above their mean.
SEEDS = (7, 11)
# Linear weights smaller than this are not stored (half of them, mostly rare feature values; no
# validation question's answer changes).
MIN_WEIGHT = 1e-3
REMOVED_RECALL = 0.9  # the abstention threshold abstains on at least this share of gold-removed validation questions


def _engine(paragraphs):
    """An in-memory engine over ``paragraphs`` and a feature extractor (no ranker: its candidates are asked
    for with ``described=True``)."""
    from ..config import Settings
    from ..engine import QA
    from ..reading import Extractor

    return QA.build(documents_from_squad(paragraphs), settings=Settings(ranker=False)), Extractor()


def examples(part: str, data_dir: Path, k: int = 5, drop_gold: bool = False):
    """(question, gold answers, candidates, candidate texts, the analysed ``Question``, passages) for every
    question of the ``part`` articles, with candidates from the top ``k`` passages retrieved from all of
    that part's paragraphs, as the engine answers. ``drop_gold`` removes the gold paragraph from the
    results (questions whose answer text still appears in the passages are then skipped)."""
    for file in SETS:
        paragraphs = squad.split(squad.load(data_dir / file), part)
        engine, extractor = _engine(paragraphs)
        docs = engine.store.documents
        for p in paragraphs:
            for q in p.questions:
                if drop_gold:
                    passages = passages_without_gold(engine, q.text, p.pid, q.answers, k)
                    if passages is None:
                        continue
                else:
                    passages = engine.retrieve(q.text, k)
                question = engine.question(q.text)
                cands = extractor.candidates(question, passages, docs, described=True)
                texts = [docs[c.doc_id].text[c.start : c.end] for c in cands]
                yield q, list(q.answers), cands, texts, question, passages


class _Table:
    """Candidates of many questions as one sparse matrix, questions as contiguous row groups."""

    def __init__(self, rows, vec=None):
        from sklearn.feature_extraction import DictVectorizer

        feats = [c.features for r in rows for c in r[2]]
        self.vec = vec or DictVectorizer().fit(feats)
        self.X = self.vec.transform(feats).tocsr()
        self.sizes = np.array([len(r[2]) for r in rows])
        self.starts = np.r_[0, np.cumsum(self.sizes)[:-1]].astype(int)
        self.em = np.array([exact_match(t, r[1]) for r in rows for t in r[3]], float)
        self.f1 = np.array([f1_score(t, r[1]) for r in rows for t in r[3]], float)

    def pick(self, z: np.ndarray) -> np.ndarray:
        """Row index of the best-scored candidate per question (-1 when it has none)."""
        return np.array([s + int(np.argmax(z[s : s + n])) if n else -1 for s, n in zip(self.starts, self.sizes)])

    def cascade(self, z: np.ndarray, linear: np.ndarray, k: int) -> np.ndarray:
        """``z`` with -inf outside each question's ``k`` best candidates by ``linear`` (as ``SpanRanker.scores``)."""
        out = np.full(len(z), -np.inf)
        for s, n in zip(self.starts, self.sizes):
            top = s + np.argsort(-linear[s : s + n], kind="stable")[:k]
            out[top] = z[top]
        return out

    def quality(self, z: np.ndarray) -> tuple[float, float]:
        best = self.pick(z)
        ok = best >= 0
        return 100 * float(np.sum(self.em[best[ok]])) / len(best), 100 * float(np.sum(self.f1[best[ok]])) / len(best)


def _largest_within(f1s: dict[float, float], loss: float = BLEND_LOSS) -> float:
    """The largest setting whose validation F1 (in points) is within ``loss`` of the best setting's."""
    best = max(f1s.values())
    choice = max(k for k, v in f1s.items() if v >= best - loss)
    log.info("validation F1 by blend: %s -> %g", ", ".join(f"{k:g}: {v:.1f}" for k, v in f1s.items()), choice)
    return choice


def _trees_and_blend(f1: Callable[[int, float], float], counts: list[int]) -> tuple[int, float]:
    """The number of trees and the linear score's weight, given validation ``f1(trees, blend)``: the count
    best alone, then the blend (``_largest_within``), then the count again at that blend (the linear score
    added takes a share of the trees' say, so more trees may pay)."""
    alone = max(counts, key=lambda n: f1(n, 0.0))
    blend = _largest_within({b: f1(alone, b) for b in BLENDS})
    n = max(counts, key=lambda n: f1(n, blend))
    log.info("trees: best alone %d, with %g x linear %d", alone, blend, n)
    return n, blend


def _softmax_groups(z, starts, sizes):
    m = np.maximum.reduceat(z, starts)
    e = np.exp(z - np.repeat(m, sizes))
    s = np.add.reduceat(e, starts)
    return e / np.repeat(s, sizes), np.log(s) + m


def fit_listwise(X, em: np.ndarray, sizes: np.ndarray, l2: float) -> np.ndarray:
    """Weights minimising the softmax cross-entropy of each question's exact-match candidates (+ L2)."""
    from scipy.optimize import minimize

    starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(int)
    keep = np.array([em[a : a + n].sum() > 0 for a, n in zip(starts, sizes)])  # questions with a positive
    rows = np.repeat(keep, sizes)
    X, em, sizes = X[rows], em[rows], sizes[keep]
    starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(int)
    target = em / np.repeat(np.add.reduceat(em, starts), sizes)
    n = len(sizes)

    def loss(w):
        z = X @ w
        p, lse = _softmax_groups(z, starts, sizes)
        return (lse.sum() - target @ z) / n + l2 * (w @ w), X.T @ (p - target) / n + 2 * l2 * w

    return minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 400}).x


def _out_of_fold(table: _Table, l2: float, folds: int = 2) -> np.ndarray:
    """Linear scores of each training candidate from a model that did not see its question."""
    fold = np.arange(len(table.sizes)) % folds
    rows = np.repeat(fold, table.sizes)
    out = np.zeros(table.X.shape[0])
    for f in range(folds):
        w = fit_listwise(table.X[rows != f], table.em[rows != f], table.sizes[fold != f], l2)
        out[rows == f] = table.X[rows == f] @ w
    return out


def _fit_trees(table: _Table, l2: float, n_trees: int):
    """LightGBM lambdarank over ``table``'s frequent features plus the out-of-fold linear score, one
    model per seed in ``SEEDS``: (models, feature columns). Labels are graded: exact > F1 ≥ 0.8 >
    F1 ≥ 0.5 > the rest."""
    import lightgbm
    from scipy.sparse import csr_matrix, hstack

    counts = np.asarray((table.X != 0).sum(axis=0)).ravel()
    cols = np.where(counts >= MIN_COUNT)[0]
    X = hstack([table.X[:, cols], csr_matrix(_out_of_fold(table, l2)[:, None])]).tocsr()
    labels = np.where(table.em > 0, 3, np.where(table.f1 >= 0.8, 2, np.where(table.f1 >= 0.5, 1, 0)))
    models = []
    for seed in SEEDS:
        model = lightgbm.LGBMRanker(
            objective="lambdarank",
            n_estimators=n_trees,
            learning_rate=0.05,
            num_leaves=31,
            min_child_samples=20,
            colsample_bytree=0.5,
            subsample=0.8,
            subsample_freq=1,
            lambdarank_truncation_level=10,
            random_state=seed,
            n_jobs=2,
            verbose=-1,
        )
        models.append(model.fit(X, labels, group=table.sizes[table.sizes > 0]))
    return models, cols


def _predict(models, X, n_trees: int) -> np.ndarray:
    """The average score of ``models``' first ``n_trees`` trees, as ``SpanRanker.scores`` combines them."""
    return np.mean([m.predict(X, num_iteration=n_trees) for m in models], axis=0)


def _ranker(table: _Table, w: np.ndarray, models, cols, n_trees: int, blend: float, **kw) -> SpanRanker:
    names = table.vec.get_feature_names_out()
    weights = {str(n): round(float(v), 6) for n, v in zip(names, w) if abs(v) >= MIN_WEIGHT}
    trees = tuple(m.booster_.model_to_string(num_iteration=n_trees) for m in models)
    return SpanRanker(weights, 0.0, kw.pop("meta", {}), trees, tuple(str(names[j]) for j in cols), blend=blend, **kw)


def train(data_dir: Path, out: Path = DEFAULT_PATH, trees: int = 1500) -> dict:
    from scipy.sparse import csr_matrix, hstack

    t0 = time.time()
    train_rows = list(examples("train", data_dir))
    val_rows = list(examples("validation", data_dir))
    tr = _Table(train_rows)
    va = _Table(val_rows, tr.vec)
    log.info(
        "%d training candidates for %d questions, %d validation (%.0fs)",
        tr.X.shape[0],
        len(tr.sizes),
        va.X.shape[0],
        time.time() - t0,
    )

    # 1. linear stage: the L2 penalty by validation F1
    best = None
    for l2 in (3e-4, 1e-4):
        w = fit_listwise(tr.X, tr.em, tr.sizes, l2)
        em, f1 = va.quality(va.X @ w)
        log.info("linear l2=%g: validation EM %.1f F1 %.1f", l2, em, f1)
        if best is None or f1 > best[0]:
            best = (f1, em, l2, w)
    lin_f1, lin_em, l2, w = best

    # 2. trees: their number and the linear score's weight by validation F1
    models, cols = _fit_trees(tr, l2, trees)
    linear_v = va.X @ w
    Xv = hstack([va.X[:, cols], csr_matrix(linear_v[:, None])]).tocsr()
    by_count = {n: _predict(models, Xv, n) for n in range(100, trees + 1, 100)}
    n_best, blend = _trees_and_blend(lambda n, b: va.quality(by_count[n] + b * linear_v)[1], list(by_count))
    z = by_count[n_best] + blend * linear_v
    tree_em, tree_f1 = va.quality(z)
    log.info(
        "trees: validation EM %.1f F1 %.1f with %d trees + %.2f x linear (%.0fs)",
        tree_em,
        tree_f1,
        n_best,
        blend,
        time.time() - t0,
    )
    cascades = {k: va.quality(va.cascade(z, linear_v, k)) for k in RESCORE_TOPS}
    top_k = min((k for k, (_, f1) in cascades.items() if f1 >= tree_f1 - RESCORE_LOSS), default=0)
    log.info(
        "trees on the linear stage's best k: %s -> %d",
        ", ".join(f"k={k} EM {em:.1f} F1 {f1:.1f}" for k, (em, f1) in cascades.items()),
        top_k,
    )
    if top_k:
        tree_em, tree_f1 = cascades[top_k]

    # 3. answerability: validation questions with and without their gold paragraph, scored by this
    #    (training-articles-only) ranker, as the final ranker will score questions it has not seen
    answerable, answerable_bias, acc, threshold = fit_answerability(
        _ranker(tr, w, models, cols, n_best, blend, rescore_top=top_k), val_rows, data_dir
    )

    # 4. the final ranker: the chosen settings refitted on training + validation articles
    al = _Table(train_rows + val_rows)
    w_all = fit_listwise(al.X, al.em, al.sizes, l2)
    models_all, cols_all = _fit_trees(al, l2, n_best)
    meta = {
        "trained_on": "training + validation articles of " + ", ".join(SETS) + " (settings chosen on the validation "
        "articles with a training-only fit; answerability fitted on validation articles)",
        "candidates": int(al.X.shape[0]),
        "questions": int(len(al.sizes)),
        "l2": l2,
        "trees": n_best,
        "blend": blend,
        "rescore_top": top_k,
        "min_count": MIN_COUNT,
        "seeds": list(SEEDS),
        "validation_linear_em": round(lin_em, 2),
        "validation_linear_f1": round(lin_f1, 2),
        "validation_em": round(tree_em, 2),
        "validation_f1": round(tree_f1, 2),
        "answerability_fit_accuracy": round(acc, 3),
        "abstain_below": threshold,
        "licence": "derived from CMRC 2018 (CC BY-SA 4.0), DRCD (CC BY-SA 3.0), XQuAD (CC BY-SA 4.0)",
    }
    _ranker(
        al,
        w_all,
        models_all,
        cols_all,
        n_best,
        blend,
        rescore_top=top_k,
        meta=meta,
        answerable=answerable,
        answerable_bias=answerable_bias,
    ).save(out)
    return dict(meta, seconds=round(time.time() - t0))


def fit_answerability(
    ranker: SpanRanker, val_rows: list, data_dir: Path
) -> tuple[dict[str, float], float, float, float]:
    """Answerability weights, bias, fit accuracy and abstention threshold: ``val_rows`` (gold paragraph
    retrieved, label 1) against the same validation questions asked with the gold paragraph removed
    (label 0). The threshold is the lowest that still abstains on ``REMOVED_RECALL`` of the questions
    without their gold paragraph, judged out of fold (two folds by question)."""
    import hashlib

    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    rows, kinds, folds = [], [], []
    sources = (("answerable", val_rows), ("no paragraph", examples("validation", data_dir, drop_gold=True)))
    for kind, source in sources:
        for q, _, cands, _, question, _ in source:
            if cands:
                scores = ranker.scores([c.features for c in cands])
                i = int(np.argmax(scores))
                rows.append(answer_features(question, cands[i].features or {}, scores, i))
                kinds.append(kind)
                folds.append(int(hashlib.sha1(q.qid.encode()).hexdigest(), 16) % 2)
    A = DictVectorizer().fit(rows)
    kinds, folds = np.array(kinds), np.array(folds)
    X, y = A.transform(rows), (kinds == "answerable").astype(int)

    def model():
        return LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")

    p = np.zeros(len(y))
    for f in (0, 1):
        p[folds == f] = model().fit(X[folds != f], y[folds != f]).predict_proba(X[folds == f])[:, 1]
    grid = np.round(np.arange(0.2, 0.6001, 0.01), 2)  # a coarser grid overshoots REMOVED_RECALL (0.05 steps: by 0.5%)
    threshold = float(next((t for t in grid if np.mean(p[kinds == "no paragraph"] < t) >= REMOVED_RECALL), grid[-1]))
    log.info(
        "answerability, out of fold at %.2f: abstains on %s",
        threshold,
        ", ".join(f"{np.mean(p[kinds == k] < threshold):.3f} of {np.sum(kinds == k)} {k}" for k, _ in sources),
    )
    clf = model().fit(X, y)
    acc = float(clf.score(X, y))
    weights = {str(n): round(float(v), 6) for n, v in zip(A.get_feature_names_out(), clf.coef_[0])}
    return weights, round(float(clf.intercept_[0]), 6), acc, threshold


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument(
        "--data", type=Path, required=True, help="folder of the SQuAD-format sets to train on (e.g. bench/data)"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(train(args.data, args.out), indent=1))


if __name__ == "__main__":
    main()
