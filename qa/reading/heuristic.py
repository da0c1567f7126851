"""The hand-written span score: type strength, nearness of the question's words, the question's gap.

It orders every sentence's candidates (the learned ranker describes only the best of them) and, with the
ranker switched off (``QA_RANKER=off``), picks the answer itself: the best-scoring span, its confidence the
sentence's coverage of the question.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .candidates import SentenceCandidates, find_all
from .question import Question


class Scored(NamedTuple):
    """A candidate span with its heuristic score and the measurements it was made from."""

    heur: float
    start: int
    end: int
    strength: float
    text: str  # the normalised span
    left: float  # weight of the question's terms before it, decayed with distance
    right: float  # … and after it
    near: float  # (left + right) / the question's total weight
    in_gap: bool
    listed: bool


def term_positions(q: Question, ns: str) -> list[tuple[int, int, float, str]]:
    """Every occurrence of the question's terms in the normalised sentence: (start, end, weight, term)."""
    return [(i, i + len(t), w, t) for t, w in q.weights.items() for i in find_all(ns, t)]


def nearness(
    spans: list[tuple[int, int, float]], positions: list[tuple[int, int, float, str]], before: set[str]
) -> tuple[list[float], list[float]]:
    """For each span, the weights of the question's terms found before it and after it, decaying with
    distance (8 characters: 1/e), a term counting half on the side opposite to where the question had it."""
    if not spans or not positions:
        return [0.0] * len(spans), [0.0] * len(spans)
    a = np.array([x[0] for x in spans], float)[:, None]
    b = np.array([x[1] for x in spans], float)[:, None]
    pa = np.array([x[0] for x in positions], float)
    pb = np.array([x[1] for x in positions], float)
    w = np.array([x[2] for x in positions])
    was_before = np.array([x[3] in before for x in positions])
    left = np.where(pb <= a, w * np.where(was_before, 1.0, 0.5) * np.exp(-np.abs(a - pb) / 8.0), 0.0)
    right = np.where(pa >= b, w * np.where(was_before, 0.5, 1.0) * np.exp(-np.abs(pa - b) / 8.0), 0.0)
    return left.sum(axis=1).tolist(), right.sum(axis=1).tolist()


def score(q: Question, sc: SentenceCandidates, positions: list[tuple[int, int, float, str]]) -> list[Scored]:
    """The heuristic score of each of a sentence's candidates."""
    nq, slot, ns = q.normalized, q.slot, sc.normalized
    # Which side of the question word each term stood on: the answer should stand the same way.
    before = {t for t in q.weights if slot is not None and nq.find(t) != -1 and nq.find(t) < slot.start()}
    plural = slot is not None and ("些" in slot.group() or "哪几" in slot.group())
    lefts, rights = nearness(sc.spans, positions, before)
    total = q.total
    out = []
    for (a, b, strength), left, right in zip(sc.spans, lefts, rights):
        text = ns[a:b]
        near = (left + right) / total
        in_gap = any(ga - 1 <= a and b <= gb + 1 for ga, gb in sc.gaps)
        listed = plural and ("、" in text or "和" in text)
        heur = 0.6 * strength + 0.5 * near + (0.5 if in_gap else 0.0) + (0.3 if listed else 0.0) - 0.004 * (b - a)
        out.append(Scored(heur, a, b, strength, text, left, right, near, in_gap, listed))
    return out
