"""The bundled learned span ranker: a plain JSON file, used by default, switchable off."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import ROOT, SEEDS

from qa.reading.ranker import DEFAULT_PATH, SpanRanker
from qa.train.ranker import MIN_WEIGHT


def test_bundled_ranker_is_plain_json(tmp_path):
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))  # no pickle: JSON weights, LightGBM's text format
    assert data["format"] == "qa-span-ranker/3" and len(data["weights"]) > 100
    assert len(data["trees"]) == len(data["meta"]["seeds"]) > 1 and len(data["columns"]) > 50
    assert all(t.startswith("tree\n") for t in data["trees"])
    assert {"top", "margin", "best_cover"} <= set(data["answerable"]["weights"]) and 0 < data["meta"][
        "abstain_below"
    ] < 1
    assert "CC BY-SA" in data["meta"]["licence"]
    assert min(abs(v) for v in data["weights"].values()) >= MIN_WEIGHT, "negligible weights are not shipped"
    ranker = SpanRanker.load()
    assert ranker.score({}) == pytest.approx(data["bias"])
    for text, match in (
        ('{"format": "something-else"}', "not a span-ranker"),
        ("{half", "not a span-ranker"),
        ("\udcff", "not a span-ranker"),
    ):
        bad = tmp_path / "bad.json"
        bad.write_bytes(text.encode("utf-8", "surrogateescape"))
        with pytest.raises(ValueError, match=match):
            SpanRanker.load(bad)
    data["columns"] = data["columns"][:-1]  # trees and their feature list out of step
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="trees expect"):
        SpanRanker.load(bad)


def test_trees_rescore_the_linear_ranking():
    ranker = SpanRanker.load()
    linear_only = SpanRanker(ranker.weights, ranker.bias, {})

    # as the extractor describes them: type, gap, nearness (also per question kind), heuristic score, and
    # each one's distance to the question's best
    def cand(typed, near, heur, cover, **more):
        k = {"typed": typed, "near": near, "heur": heur, "cover": cover, "near_gap": 0.8 - near, "heur_gap": 1.5 - heur}
        return {
            "k=number": 1.0,
            **k,
            **{f"k=number|{n}": v for n, v in k.items() if n in ("typed", "near", "heur")},
            **more,
        }

    cands = [
        cand(1.0, 0.8, 1.5, 1.0, in_gap=1.0, **{"k=number|in_gap": 1.0}),
        cand(0.0, 0.0, 0.0, 1.0, whole=1.0),
        cand(0.0, 0.1, 0.1, 0.2),
    ]
    assert ranker.scores(cands).shape == (3,) and ranker.scores([]).shape == (0,)
    assert list(linear_only.scores(cands)) == pytest.approx([linear_only.score(c) for c in cands])
    assert not np.allclose(ranker.scores(cands), linear_only.scores(cands))  # the trees are used
    assert int(np.argmax(ranker.scores(cands))) == 0  # a typed span in the gap beats the whole sentence


def test_tree_models_are_averaged_and_older_files_load(tmp_path):
    ranker = SpanRanker.load()
    cands = [
        {"k=what": 1.0, "near": x, "typed": 1.0 - x, "cover": 1.0, "in_gap": float(i % 2)}
        for i, x in enumerate(np.linspace(0, 1, 12))
    ]
    singles = [replace(ranker, trees=(t,)) for t in ranker.trees]
    assert len(singles) > 1 and not np.allclose(singles[0].scores(cands), singles[1].scores(cands))  # different seeds
    assert ranker.scores(cands) == pytest.approx(np.mean([r.scores(cands) for r in singles], axis=0))
    # a format-2 file holds one tree model as a string
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    data.update(format="qa-span-ranker/2", trees=ranker.trees[0])
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    assert SpanRanker.load(old).scores(cands) == pytest.approx(singles[0].scores(cands))


def test_trees_rescore_only_the_linear_stages_best(tmp_path):
    ranker = SpanRanker.load()
    assert ranker.rescore_top == ranker.meta["rescore_top"] > 0
    cands = [
        {"k=what": 1.0, "near": x, "typed": 1.0 - x, "cover": 1.0, "in_gap": float(i % 2)}
        for i, x in enumerate(np.linspace(0, 1, 12))
    ]
    linear = np.array([ranker.score(c) for c in cands])
    everything = replace(ranker, rescore_top=0).scores(cands)
    cascade = replace(ranker, rescore_top=4).scores(cands)
    best4 = set(np.argsort(-linear)[:4].tolist())
    assert {i for i in range(12) if np.isfinite(cascade[i])} == best4
    assert cascade[sorted(best4)] == pytest.approx(everything[sorted(best4)])
    path = tmp_path / "r.json"
    replace(ranker, rescore_top=4).save(path)
    assert SpanRanker.load(path).rescore_top == 4


def test_blend_is_the_largest_within_the_tolerated_loss():
    from qa.train.ranker import BLEND_LOSS, _largest_within

    assert _largest_within({0.0: 60.0, 0.1: 62.1, 0.5: 62.1 - BLEND_LOSS + 0.1, 1.0: 60.0}) == 0.5
    assert _largest_within({0.0: 62.0, 0.5: 62.0 - BLEND_LOSS - 0.1, 1.0: 50.0}) == 0.0
    assert _largest_within({0.0: 50.0, 0.5: 55.0, 1.0: 60.0}) == 1.0


def test_tree_count_is_chosen_again_at_the_chosen_blend():
    from qa.train.ranker import BLEND_LOSS, _trees_and_blend

    # Alone, 600 trees are best; with a blend of the linear score the trees' share shrinks and 1200 do better.
    def f1(n: int, blend: float) -> float:
        return 62.0 - abs(n - 600 * (1 + 2 * blend)) / 1000 - BLEND_LOSS * blend / 2

    assert _trees_and_blend(f1, list(range(100, 1501, 100))) == (1200, 0.5)
    # When the blend stays at 0 the count is the one best alone.
    assert _trees_and_blend(lambda n, b: 62.0 - abs(n - 300) / 1000 - 20 * b, [100, 300, 500]) == (300, 0.0)


def test_listwise_fit_ranks_each_questions_positive_first():
    from scipy.sparse import csr_matrix

    from qa.train.ranker import fit_listwise

    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 9, size=300)
    X = rng.normal(size=(int(sizes.sum()), 5))
    truth = np.array([2.0, -1.0, 0.0, 0.5, 0.0])
    em = np.zeros(len(X))
    start = 0
    for n in sizes:
        em[start + int(np.argmax(X[start : start + n] @ truth))] = 1.0
        start += n
    em[: sizes[0]] = 0.0  # a question without a positive and one without candidates are skipped
    w = fit_listwise(csr_matrix(X), em, np.r_[0, sizes], l2=1e-4)
    assert np.corrcoef(w, truth)[0, 1] > 0.95


def test_engine_uses_the_ranker_and_can_turn_it_off(seed_index):
    from qa import QA
    from qa.config import Settings
    from qa.reading.extractor import ABSTAIN_BELOW

    engine = QA.load(seed_index, settings=Settings(reader="ranker"))  # the feature ranker alone (QA_READER=ranker)
    assert engine.reader.ranker is not None
    assert engine.threshold == engine.reader.ranker.meta["abstain_below"]  # the answerability model's own threshold
    a = engine.ask("元戎启行哪一年率先推出“无图”方案？")
    assert a.answerable and 0 < a.score <= 1
    code = (
        "from qa import QA; e = QA.load(r'%s'); a = e.ask('元戎启行哪一年率先推出“无图”方案？');"
        "print(e.reader.ranker is None, e.threshold, a.answer)" % seed_index
    )
    env = dict(os.environ, QA_RANKER="off", QA_READER="ranker", HF_HUB_OFFLINE="1", QA_SEEDS=str(SEEDS))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True", str(ABSTAIN_BELOW), "2022年"], out.stderr[-2000:]


def test_ranker_prefers_the_span_that_answers(seed_index):
    from qa import QA
    from qa.config import Settings

    a = QA.load(seed_index, settings=Settings(reader="ranker")).ask(
        "退休后享受职工医保待遇，职工医保累计缴费年限要满多少年？"
    )
    assert a.answer == "25年"
