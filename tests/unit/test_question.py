"""Question analysis, done once per ask: the kind, the question word, the weighted terms, the unseen factor."""

from __future__ import annotations

import pytest

from qa.lexical import BM25
from qa.reading.question import UNSEEN_PENALTY, Question, phrasings, question_type


@pytest.fixture(scope="module")
def lexicon():
    return BM25.fit(["2024年深圳人工智能产业规模突破3600亿元。", "星尘智能的联合创始人是来杰。"])


@pytest.mark.parametrize(
    "question, kind, word",
    [
        ("2024年深圳人工智能产业规模是多少？", "number", "多少"),
        ("星尘智能的联合创始人是谁？", "person", "谁"),
        ("元戎启行哪一年率先推出无图方案？", "time", "哪一年"),
        ("VLA是什么意思？", "definition", "是什么意思"),
        ("展会在哪里举办？", "place", "在哪"),
        ("How many robots were delivered?", "number", "How many"),
        ("《指导意见》由哪三个部门联合发布？", "org", "哪三个部门"),  # the count is part of the question word
        ("哪两条线路在此交会？", "what", "哪两条"),
        ("审查委员分为哪两部分？", "what", "哪"),  # 部分 is a noun, not a measure word
        ("深圳人工智能", None, None),
    ],
)
def test_the_question_word_decides_the_kind(question, kind, word):
    found, slot = question_type(question)
    assert found == kind and (slot.group() if slot else None) == word


def test_a_question_is_analysed_once_into_a_frozen_record(lexicon):
    q = Question.analyse("2024年深圳人工智能产业规模是多少？", lexicon)
    assert (q.kind, q.slot.group()) == ("number", "多少")
    assert "深圳" in q.weights and "多少" not in q.weights, "the question word is not a term"
    assert q.unseen == 1.0 and q.total == pytest.approx(sum(q.weights.values()))
    assert q.asked == q.normalized.replace("多少", " ")
    with pytest.raises(AttributeError):
        q.kind = "time"


def test_words_the_articles_never_use_lower_the_confidence(lexicon):
    q = Question.analyse("美国的GDP是多少？", lexicon)
    assert q.unseen <= UNSEEN_PENALTY, "GDP appears nowhere in the articles"


def test_head_noun_and_neighbours_are_computed_on_demand(lexicon):
    q = Question.analyse("哪个城市举办了2008年奥运会？", lexicon)
    assert q.head == "城市" and q.beside == ("", "举办")


@pytest.mark.parametrize(
    "question, expected",
    [
        (
            "Who co-founded Stardust? 星尘智能的联合创始人是谁？",
            ["星尘智能的联合创始人是谁？", "Who co-founded Stardust?"],
        ),
        ("星尘智能的联合创始人是谁？", ["星尘智能的联合创始人是谁？"]),
        ("MasterAgent是哪家公司发布的？", ["MasterAgent是哪家公司发布的？"]),  # a Latin name in a Chinese question
        (
            "Wow! eye Taiwan大赛由哪个机构主办？",
            ["Wow! eye Taiwan大赛由哪个机构主办？"],
        ),  # only ? and ？ end a question
        ('Why was the group called "the Methodists?"', ['Why was the group called "the Methodists?"']),
        ("深圳。规模是多少？", ["深圳。规模是多少？"]),
    ],
)
def test_a_question_in_two_languages_has_two_phrasings(question, expected):
    assert phrasings(question) == expected


def test_the_phrasing_the_articles_use_is_the_one_read(lexicon):
    q = Question.analyse("Who co-founded Stardust? 星尘智能的联合创始人是谁？", lexicon)
    assert q.text == "星尘智能的联合创始人是谁？" and q.unseen == 1.0 and not q.english
    alone = Question.analyse("Who co-founded Stardust?", lexicon)
    assert alone.english and alone.unseen < 1.0, "English words are unseen in these Chinese articles"
    english_articles = BM25.fit(["Stardust was co-founded by Lai Jie in 2022."])
    assert Question.analyse("Who co-founded Stardust? 星尘智能的联合创始人是谁？", english_articles).english


def test_a_count_in_the_question_word_is_not_a_word_the_articles_must_use(lexicon):
    q = Question.analyse("星尘智能的联合创始人是哪两个人？", lexicon)
    assert "两" not in q.weights and q.unseen == 1.0, "两 appears nowhere in the articles but is no content word"
