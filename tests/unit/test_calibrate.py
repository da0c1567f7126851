"""Choosing the reader's settings (``qa.train.calibrate.choose``) on readings whose truth is known."""

from __future__ import annotations

import random

import numpy as np

from qa.train import calibrate
from qa.train.calibrate import FOCUS, MAX_PASSAGES, WAYS, Reading


def _reading(rng: random.Random, question: str, right: bool, ways: list[str] = WAYS) -> Reading:
    """A reading whose spans look right (well covered, F1 1) or wrong (F1 0; their probabilities overlap), the same
    for every way of reading; reading more characters, in longer windows, or with no anchor stop costs more
    milliseconds."""
    one = []
    for _ in range(MAX_PASSAGES):
        prob = rng.uniform(0.3, 0.95) if right else rng.uniform(0.05, 0.7)  # overlapping
        cover = (rng.uniform(0.7, 1.0), rng.uniform(0.0, 0.3)) if right else (rng.uniform(0.1, 0.6), 1.0)
        one.append((prob, 1 - prob, "答案", 1.0 if right else 0.0, cover))
    reads = {way: one for way in ways}  # every way reads alike: only its cost differs
    ms = {}
    for way in ways:
        chars, window, _, _, stop = way.split("|")
        ms[way] = 10.0 + (150 if chars == "None" else int(chars)) / 10 + int(window) / 100 + 3 * (stop == "None")
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
    # the search tried each setting's every value (each confidence, each unseen power), the same setting once
    tried = {tuple(r[k] for k in calibrate.SETTINGS) for r in rows}
    assert len(rows) == 2 * len(calibrate.UNSEEN_POWERS) * len(tried)
    for d, values in enumerate(calibrate.GRID):
        assert {s[d] for s in tried} == set(values)
    assert best["answerability"] and model["features"] == list(calibrate.ANSWERABILITY_FEATURES)
    # every answerable reading is right and separable: all answered; the swapped ones count 1 when abstained on
    assert best["abstained"]["answered_gold"] == 1.0 and min(best["f1"].values()) > 90
    # the threshold abstains on ABSTAIN_RECALL of the gold-removed readings; the swapped ones are reported
    assert best["abstained"]["removed"] >= calibrate.ABSTAIN_RECALL and best["abstained"]["swapped"] > 0.8
    # and on as many English ones, with their own shift
    assert best["abstained"]["removed_english"] >= calibrate.ABSTAIN_RECALL
    # equal F1 for every Chinese setting: the fewest passages and characters win
    assert best["n_passages"] == 1 and best["focus_chars"] == min(FOCUS, key=lambda c: c or 150)
    assert best["window_tokens"] == min(calibrate.WINDOWS)
    # and an anchor stop (fewer windows read for the same answers)
    assert best["anchor_stop"] is not None
    assert best["objective"] == max(r["objective"] for r in rows)


def test_a_refit_reads_one_way_and_searches_only_passages_anchor_stop_and_confidence():
    """``--refit`` (a new reader, reader.json's way of reading kept): readings hold only that forward pass,
    decoded with each anchor stop; the search never asks for another and keeps it in every setting tried."""
    rng = random.Random(5)
    grid = ((600,), (192,), (64,), (0.03,), (None, 0.2))
    one_way = calibrate.ways(grid)
    assert one_way == ["600|192|64|0.03|None", "600|192|64|0.03|0.2"]
    sets = {
        "a": [
            [_reading(rng, q, True, one_way), _reading(rng, q, False, one_way), None, None]
            for q in [f"问题{i}是什么？" for i in range(40)]
        ]
    }
    best, rows, model = calibrate.choose(sets, (2, 2, 600, 600, 192, 64, 0.03, None), calibrate.search_grid(grid))
    assert {(r["focus_chars"], r["window_tokens"], r["max_answer_tokens"], r["length_penalty"]) for r in rows} == {
        (600, 192, 64, 0.03)
    }
    assert {r["n_passages"] for r in rows} == set(range(1, MAX_PASSAGES + 1)) and best["n_passages"] == 1
    assert {r["anchor_stop"] for r in rows} == {None, 0.2}
    # ``--unseen``: one power kept instead of searched
    start = tuple(best[k] for k in calibrate.SETTINGS)
    kept, rows, _ = calibrate.choose(sets, start, calibrate.search_grid(grid), (3,))
    assert {r["unseen"] for r in rows} == {3} and kept["unseen"] == 3


def test_the_english_shift_moves_log_odds_and_keeps_order():
    from qa.reading.calibrated import shifted

    p = np.array([0.01, 0.2, 0.5, 0.9])
    assert np.allclose(shifted(p, 0.0), p)
    up = shifted(p, 1.5)
    assert np.all(np.diff(up) > 0) and np.all(up > p)
    assert np.allclose(np.log(up / (1 - up)) - np.log(p / (1 - p)), 1.5)
