"""How far the reader's span boundaries are from right, and whether a learned re-ranking of its n-best spans
closes the gap: ``python -m bench.boundary --data ../shared/train [--per-set 250]``. Validation articles only.

Each question of ``compare_readers.validation_sets`` is read with its gold paragraph (the reader alone); the
window holding the reader's best span gives its distinct spans, best first by the reader's own rule (start + end
log-probability less the length penalty, edges tidied). Reported per set: EM and F1 of the best of the first k
(the *oracle*: how often the right span is among the reader's first k), and of a conditional logit that re-ranks
the first ``--k`` spans by named features (``FEATURES``: the reader's score relative to the best span, its place
and length, whether the span's edges repeat the question or the question's words stand beside it, punctuation and
function characters at and beside its edges), fitted 2-fold (split by paragraph: no question grades a fit it was
part of), its L2 penalty pulling the weights towards the reader's own ranking. A measurement, not part of the
answer path. Writes bench/results/boundary.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import logging

import numpy as np

from qa.eval.metrics import exact_match, f1_score
from qa.reading.question import question_type
from qa.reading.segment import BREAKS
from qa.reading.transformer import BUNDLED, BundledReader
from qa.reading.windows import best_span, span_grid, tidy
from qa.text import normalize

from .common import table, write

log = logging.getLogger("bench")

EDGE = 8  # characters beside a span compared with the question
PUNCT = BREAKS | set("\"'")
STOPS = set("。；！？!?;")
FUNCTION_END = set("的了在是于和与及为而等着过地得也都")
FUNCTION_START = set("在是于为由从和与及被把将对向以而")
FEATURES = (
    "logp",  # the span's penalised score less the best span's (≤ 0)
    "rank",  # log(1 + its place among the window's spans)
    "chars",  # log(1 + its length in characters)
    "tail_in_question",  # the longest proper suffix of the span found in the question (≤ EDGE characters)
    "head_in_question",  # the longest proper prefix found in the question
    "tail_in_rest",  # the longest proper suffix found in what follows the question word
    "head_in_lead",  # the longest proper prefix found in what precedes the question word
    "right_in_question",  # the longest run right after the span found in the question
    "left_in_question",  # the longest run right before the span found in the question
    "end_punct",
    "start_punct",
    "inner_stop",  # a sentence end before its last character
    "next_punct",  # the character after it is punctuation (or the text ends)
    "prev_punct",
    "end_function",  # it ends with 的, 了, 为 …
    "start_function",  # it starts with 在, 由, 为 …
)


def _suffix_in(s: str, where: str, proper: bool = True) -> int:
    top = min(EDGE, len(s) - proper)
    return next((k for k in range(top, 0, -1) if s[-k:] in where), 0) if where else 0


def _prefix_in(s: str, where: str, proper: bool = True) -> int:
    top = min(EDGE, len(s) - proper)
    return next((k for k in range(top, 0, -1) if s[:k] in where), 0) if where else 0


def features(question: str, context: str, a: int, b: int, logp: float, rank: int) -> list[float]:
    """``FEATURES`` of context characters [a, b) for ``question``."""
    q = normalize(question).lower().rstrip("？?。 ")
    _, m = question_type(q)
    lead, rest = (q[: m.start()], q[m.end() :]) if m else ("", "")
    s = normalize(context[a:b]).lower()
    left = normalize(context[max(0, a - EDGE) : a]).lower()
    right = normalize(context[b : b + EDGE]).lower()
    return [
        logp,
        float(np.log1p(rank)),
        float(np.log1p(len(s))),
        _suffix_in(s, q),
        _prefix_in(s, q),
        _suffix_in(s, rest),
        _prefix_in(s, lead),
        _prefix_in(right, q, proper=False),
        _suffix_in(left, q, proper=False),
        float(s[-1] in PUNCT),
        float(s[0] in PUNCT),
        float(any(ch in STOPS for ch in s[:-1])),
        float(b >= len(context) or context[b] in PUNCT),
        float(a == 0 or context[a - 1] in PUNCT),
        float(s[-1] in FUNCTION_END),
        float(s[0] in FUNCTION_START),
    ]


def spans(reader: BundledReader, question: str, context: str, k: int) -> list[tuple[float, int, int]]:
    """The first ``k`` distinct (penalised score, start, end) spans of the window holding the reader's best span."""
    cap, penalty = reader.max_answer_tokens, reader.length_penalty
    ws, _, start, end = reader.logits(question, [context])
    i = max(range(len(ws)), key=lambda i: best_span(start[i], end[i], ws[i], cap, penalty)[0])
    w = ws[i]
    slots, _, grid = span_grid(start[i], end[i], w, cap, penalty)
    out, seen = [], set()
    for flat in np.argsort(-grid, axis=None)[: 4 * k]:
        r, c = divmod(int(flat), grid.shape[1])
        a, b = tidy(context, w.offsets[slots[r]][0], w.offsets[slots[c]][1])
        if np.isfinite(grid[r, c]) and b > a and (a, b) not in seen:
            seen.add((a, b))
            out.append((float(grid[r, c]), a, b))
    return out[:k]


def fit(groups: list[tuple[np.ndarray, np.ndarray]], l2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, mean, scale) of a conditional logit: softmax over each question's spans, target its EM spans."""
    from scipy.optimize import minimize

    allX = np.vstack([X for X, _ in groups])
    mean, scale = allX.mean(0), allX.std(0)
    scale[scale == 0] = 1.0
    used = [((X - mean) / scale, em / em.sum()) for X, em in groups if len(em) > 1 and em.sum() > 0]
    prior = np.zeros(len(FEATURES))
    prior[0] = scale[0]  # the reader's own ranking

    def loss(w):
        total, grad = l2 * (w - prior) @ (w - prior) / 2, l2 * (w - prior)
        for Z, target in used:
            s = Z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            total -= target @ np.log(p + 1e-12)
            grad = grad + Z.T @ (p - target)
        return total / len(used), grad / len(used)

    return minimize(loss, prior, jac=True, method="L-BFGS-B").x, mean, scale


def main(argv: list[str] | None = None) -> dict:
    from pathlib import Path

    from .compare_readers import validation_sets

    ap = argparse.ArgumentParser(prog="python -m bench.boundary", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with cmrc2018_train.json (../shared/train)")
    ap.add_argument("--reader", type=Path, default=BUNDLED)
    ap.add_argument("--per-set", type=int, default=250)
    ap.add_argument("--k", type=int, default=3, help="spans the re-ranker chooses among")
    ap.add_argument("--l2", type=float, default=30.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    reader = BundledReader(args.reader)
    questions = []  # (set, fold, features of its spans, EM of each, F1 of each)
    for name, items in validation_sets(args.data, args.per_set).items():
        for question, context, answers in items:
            found = spans(reader, question, context, max(args.k, 5))
            if not found:
                continue
            X = np.array([features(question, context, a, b, s - found[0][0], r) for r, (s, a, b) in enumerate(found)])
            em = np.array([exact_match(context[a:b], answers) for _, a, b in found])
            f1 = np.array([f1_score(context[a:b], answers) for _, a, b in found])
            fold = int(hashlib.sha1(context.encode("utf-8")).hexdigest(), 16) % 2
            questions.append((name, fold, X, em, f1))
        log.info("%s read", name)
    chosen = [0] * len(questions)
    for fold in (0, 1):
        w, mean, scale = fit([(X[: args.k], em[: args.k]) for _, f, X, em, _ in questions if f != fold], args.l2)
        for i, (_, f, X, _, _) in enumerate(questions):
            if f == fold:
                chosen[i] = int(np.argmax(((X[: args.k] - mean) / scale) @ w))
    rows = []
    for name in dict.fromkeys(q[0] for q in questions):
        idx = [i for i, q in enumerate(questions) if q[0] == name]
        row = {"set": name, "questions": len(idx)}
        for k in (1, 2, 3, 5):
            row[f"oracle_em@{k}"] = 100 * float(np.mean([questions[i][3][:k].max() for i in idx]))
            row[f"oracle_f1@{k}"] = 100 * float(np.mean([questions[i][4][:k].max() for i in idx]))
        row["reranked_em"] = 100 * float(np.mean([questions[i][3][chosen[i]] for i in idx]))
        row["reranked_f1"] = 100 * float(np.mean([questions[i][4][chosen[i]] for i in idx]))
        row["changed"] = float(np.mean([chosen[i] != 0 for i in idx]))
        rows.append(row)
    columns = ["set", "questions", "oracle_em@1", "oracle_em@2", "oracle_em@3", "oracle_em@5", "reranked_em"]
    columns += ["oracle_f1@1", "oracle_f1@3", "reranked_f1", "changed"]
    md = (
        f"### Span boundaries: the reader's first k spans (validation, gold paragraph, {args.per_set} questions per "
        f"set; re-ranked: the first {args.k}, 2-fold, L2 {args.l2})\n\n"
        "`oracle_em@k`: a right span is among the reader's first k; `oracle_em@1` is the reader itself.\n\n"
        + table(rows, columns)
    )
    write("boundary", {"per_set": args.per_set, "k": args.k, "l2": args.l2, "rows": rows}, md)
    return {"rows": rows}


if __name__ == "__main__":
    main()
