"""The bundled learned span ranker: a plain JSON file, used by default, switchable off."""

import json
import os
import subprocess
import sys

import pytest

from qa.ranker import DEFAULT_PATH, SpanRanker

from conftest import ROOT, SEEDS


def test_bundled_ranker_is_plain_json(tmp_path):
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))  # no pickle: JSON weights only
    assert data["format"] == "qa-span-ranker/1" and len(data["weights"]) > 100
    assert "CC BY-SA" in data["meta"]["licence"]
    ranker = SpanRanker.load()
    assert ranker.score({}) == pytest.approx(data["bias"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a span-ranker"):
        SpanRanker.load(bad)


def test_engine_uses_the_ranker_and_can_turn_it_off(engine, seed_index):
    assert engine.extractor.ranker is not None
    code = ("from qa import QA; e = QA.load(r'%s'); a = e.ask('元戎启行哪一年率先推出“无图”方案？');"
            "print(e.extractor.ranker is None, a.answer)" % seed_index)
    env = dict(os.environ, QA_RANKER="off", HF_HUB_OFFLINE="1", QA_SEEDS=str(SEEDS))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True", "2022年"], out.stderr[-2000:]


def test_ranker_prefers_the_span_that_answers(engine):
    a = engine.ask("退休后享受职工医保待遇，职工医保累计缴费年限要满多少年？")
    assert a.answer == "25年"
