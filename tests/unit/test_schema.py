"""The declared feature schema: the shipped ranker fits it, the code produces nothing outside it, and a model
that names a feature the code does not produce is refused at load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.lexical import BM25
from qa.reading import Extractor, Question
from qa.reading.features import ANSWER_FEATURES, SPAN_FEATURES, answer_features, unknown
from qa.reading.ranker import DEFAULT_PATH, SpanRanker
from qa.types import Chunk, Document, Passage

TEXT = "法国的首都是巴黎，巴黎有很多博物馆。德国的首都是柏林，柏林位于施普雷河畔，人口约三百七十万。"


@pytest.fixture(scope="module")
def passage():
    doc = Document("d1", "首都", TEXT)
    chunk = Chunk(0, "d1", "", 0, len(TEXT), TEXT, 40)
    return {"d1": doc}, [Passage(chunk, "首都", 1, 1.0)], BM25.fit([TEXT])


@pytest.mark.parametrize("question", ["德国的首都是哪个城市？", "柏林人口约多少？", "巴黎有什么？", "德国首都"])
def test_every_feature_the_code_produces_is_declared(passage, question):
    docs, passages, lexicon = passage
    q = Question.analyse(question, lexicon)
    cands = Extractor().candidates(q, passages, docs, described=True)
    assert cands, "the sentence gives candidates"
    names = {name for c in cands for name in c.features}
    assert len(names) > 60 and unknown(names) == []
    assert unknown(answer_features(q, cands[0].features, np.array([1.0, 0.5]), 0), answer=True) == []


def test_the_shipped_ranker_names_only_declared_features():
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert unknown(data["weights"]) == [] and unknown(data["columns"]) == []
    assert unknown(data["answerable"]["weights"], answer=True) == []


def test_a_ranker_with_a_renamed_feature_is_refused(tmp_path):
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["weights"]["near_gap_renamed"] = 0.5  # a feature the code no longer produces
    bad = tmp_path / "ranker.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="features this code does not produce.*near_gap_renamed"):
        SpanRanker.load(bad)


def test_lexicalised_templates_accept_their_values_only():
    assert unknown(["k=number|first=m", "k=what|prevch=，", "h=城市|lastch=林", "w=哪里|last=ns"]) == []
    assert unknown(["k=colour|first=m"]) == ["k=colour|first=m"], "no such question kind"
    assert unknown(["k=number"], answer=True) == [] and unknown(["whole"], answer=True) == ["whole"]
    assert "k={kind}|first={pos}" in SPAN_FEATURES and "k={kind}" in ANSWER_FEATURES
