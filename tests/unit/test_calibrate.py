"""Choosing the reader's settings (``qa.train.calibrate.choose``) on readings whose truth is known."""

from __future__ import annotations

import random

from qa.train import calibrate
from qa.train.calibrate import FOCUS, MAX_PASSAGES, Reading


def _reading(rng: random.Random, question: str, right: bool) -> Reading:
    """A reading whose spans look right (well covered, F1 1) or wrong (F1 0; their probabilities overlap), for every
    focus; reading more characters costs more milliseconds."""
    reads = {}
    for chars in FOCUS:
        one = []
        for _ in range(MAX_PASSAGES):
            prob = rng.uniform(0.3, 0.95) if right else rng.uniform(0.05, 0.7)  # overlapping
            cover = (rng.uniform(0.7, 1.0), rng.uniform(0.0, 0.3)) if right else (rng.uniform(0.1, 0.6), 1.0)
            one.append((prob, 1 - prob, "答案", 1.0 if right else 0.0, cover))
        reads[str(chars)] = one
    ms = {str(c): 10.0 + (c or 150) / 10 for c in FOCUS}
    return Reading(question, reads, ms, 1.0, None)


def test_choose_abstains_on_unanswerable_readings_and_prefers_the_cheapest_equal_setting():
    rng = random.Random(3)
    sets = {
        name: [
            [_reading(rng, q, True), _reading(rng, q, False), _reading(rng, q, False) if i % 2 else None]
            for i, q in enumerate([f"问题{i}是什么？" for i in range(40)] + [f"What is {i}?" for i in range(20)])
        ]
        for name in ("a", "b")
    }
    best, rows, model = calibrate.choose(sets)
    assert len(rows) == 4 * (MAX_PASSAGES**2) * len(FOCUS) ** 2
    assert best["answerability"] and model["features"] == list(calibrate.ANSWERABILITY_FEATURES)
    # every answerable reading is right and separable: nothing lost (the swapped ones count 1 when abstained on)
    assert min(best["f1"].values()) > 95
    # the threshold abstains on ABSTAIN_RECALL of the gold-removed readings; the swapped ones are reported
    assert best["abstained"]["removed"] >= calibrate.ABSTAIN_RECALL and best["abstained"]["swapped"] > 0.8
    # equal F1 for every Chinese setting: the fewest passages and characters win
    assert best["n_passages"] == 1 and best["focus_chars"] == min(FOCUS, key=lambda c: c or 150)
    assert best["objective"] == max(r["objective"] for r in rows)
