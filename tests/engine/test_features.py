"""The ranker's candidate features over a real (small) engine."""

import pytest

from qa.config import Settings
from qa.reading import Extractor
from qa.types import Document, Section


@pytest.fixture(scope="module")
def capitals():
    from qa import QA

    text = "法国的首都是巴黎，巴黎有很多博物馆。德国的首都是柏林，柏林位于施普雷河畔，人口约三百七十万。"
    return QA.build([Document("d1", "首都", text, (Section("", 0, len(text)),))], settings=Settings(reader="ranker"))


def _features(engine, question: str) -> list[tuple[str, dict]]:
    docs = engine.store.documents
    # candidates with the ranker's features, as in training
    cands = Extractor().candidates(engine.question(question), engine.retrieve(question, 5), docs, described=True)
    return [(docs[c.doc_id].text[c.start : c.end], c.features) for c in cands]


def test_candidates_carry_the_head_noun_and_the_question_words_beside_them(capitals):
    feats = _features(capitals, "德国的首都是哪个城市？")
    berlin = max((f for t, f in feats if t == "柏林"), key=lambda f: f["adj_left"])  # the first 柏林, after 首都是
    assert berlin["h=城市|lastch=林"] == 1.0, "the head noun paired with the span's last character"
    assert any(k.startswith("h=城市|last=n") for k in berlin), "… and with its part of speech"
    assert berlin["adj_left"] == 1.0, "首都 (before the question word) stands right before 柏林"
    assert all(f["adj_left"] == 0.0 for t, f in feats if t == "施普雷河畔")
    assert berlin["common"] > 0 and berlin["common_near"] > 0, "德国的首都是 is shared with the question, just before"


def test_relative_features_measure_the_distance_to_the_questions_best(capitals):
    feats = [f for _, f in _features(capitals, "德国的首都是哪个城市？")]
    for key in ("near", "heur", "clause_cover"):
        gaps = [f[f"{key}_gap"] for f in feats]
        assert min(gaps) == 0.0 and max(gaps) > 0, key
        top = max(g.get(key, 0.0) for g in feats)
        assert all(f[f"{key}_gap"] == pytest.approx(top - f.get(key, 0.0)) for f in feats)
    typed = [f for f in feats if f.get("typed", 0.0) >= 0.7]
    assert typed and min(f["near_gap_typed"] for f in typed) == 0.0
    assert all("near_gap_typed" not in f for f in feats if f.get("typed", 0.0) < 0.7)


def test_hand_written_scoring_answers_without_ranker_features(capitals):
    plain = Extractor()  # QA_RANKER=off
    question = "德国首都"  # no question word: no typed candidates, the whole sentence answers
    span = plain.extract(capitals.question(question), capitals.retrieve(question, 5), capitals.store.documents)
    assert span is not None and "柏林" in capitals.store.documents["d1"].text[span.start : span.end]
