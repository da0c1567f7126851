"""The engine on the seed articles: answers, citations, abstention, retrieval, bad input."""

import logging
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import QA, Answer
from qa.engine import MAX_QUESTION_CHARS


def check_invariants(engine, a: Answer) -> None:
    """Every citation is verbatim; a non-empty answer is inside citation [1]'s quote."""
    for c in a.citations:
        assert engine.document(c.doc_id).text[c.start : c.end] == c.quote
        assert c.quote in c.context
        assert engine.document(c.doc_id).text[c.context_start : c.context_start + len(c.context)] == c.context
        assert c.title == engine.document(c.doc_id).title
    assert [c.n for c in a.citations] == list(range(1, len(a.citations) + 1))
    if a.answer:
        assert a.answerable and a.answer in a.citations[0].quote
    else:
        assert not a.answerable and not a.citations
    for p in a.passages:
        assert engine.document(p.chunk.doc_id).text[p.chunk.start : p.chunk.end] == p.chunk.text


def test_headline_question(engine):
    a = engine.ask("2024年深圳人工智能产业规模是多少？")
    assert a.answer in ("3600亿元", "突破3600亿元")
    assert a.citations[0].title == "深圳AI竞速全球“智”造高地"
    assert "2024年" in a.citations[0].context
    check_invariants(engine, a)


def test_citation_names_the_right_section(engine):
    a = engine.ask("晶泰科技拥有多少台AI机器人实验工站？")
    assert "200台" in a.answer
    assert a.citations[0].section == "自主创“芯”引领行业发展"


def test_every_seed_question_keeps_the_invariants(engine, seed_rows):
    for row in seed_rows:
        check_invariants(engine, engine.ask(row["question"]))


def test_gold_article_recall_at_5(engine, seed_rows):
    answerable = [r for r in seed_rows if r["answerable"]]
    hits = sum(any(p.title == r["article"] for p in engine.ask(r["question"], k=5).passages) for r in answerable)
    assert hits / len(answerable) >= 0.95


def test_unanswerable_questions_abstain_with_passages(engine, seed_rows):
    for row in seed_rows:
        if not row["answerable"]:
            a = engine.ask(row["question"])
            assert not a.answerable and a.answer == "" and not a.citations, row["question"]
    a = engine.ask("深圳2024年的GDP是多少？")
    assert a.passages, "the closest passages are still returned"
    assert "未找到" in a.to_markdown()


def _one_article(text: str) -> QA:
    from qa import Document, Section

    return QA.build([Document("d1", "星河", text, (Section("", 0, len(text)),))])


def test_definition_question_answers_with_the_parenthesised_gloss():
    engine = _one_article("星河公司发布了新一代LBM(大行为模型)系统。该系统已在三家工厂上线，每天处理上万个订单。")
    a = engine.ask("LBM是什么意思？")
    assert a.answer == "大行为模型"
    check_invariants(engine, a)


@pytest.mark.xfail(
    strict=True,
    reason="known miss (the reader issue's target, EM 0.85): 13 of 23 exact; the reader's spans run longer or "
    "shorter than this page's annotation (「20万辆搭载城市NOA…」, 「20个」, 「9大主题展区，…」) or miss "
    "(the list of three departments, 「国际电子电路展启幕」 for where the fair is held); the feature ranker had 19",
)
def test_most_seed_answers_are_exact(engine, seed_rows):
    answerable = [r for r in seed_rows if r["answerable"]]
    exact = sum(engine.ask(r["question"]).answer in r["answers"] for r in answerable)
    assert exact / len(answerable) >= 0.85


def test_passages_report_all_scores(engine):
    a = engine.ask("星尘智能的联合创始人是谁？", k=3)
    assert len(a.passages) == 3 and [p.rank for p in a.passages] == [1, 2, 3]
    assert all(p.dense_score is not None and p.lexical_score is not None for p in a.passages)
    assert a.passages[0].score >= a.passages[-1].score


def test_an_english_question_is_mixed_with_the_models_english_lexical_weight(engine):
    """BM25 over Chinese characters cannot match English words: an English question gets the model's own
    (smaller) BM25 share, a Chinese one the Chinese share; a weight given explicitly applies to both."""
    from qa.retrieval import Retriever

    spec = engine.embedder.spec
    assert spec.lexical_weight_english is not None and spec.lexical_weight_english < spec.lexical_weight
    default = engine.retriever
    assert (default.lexical_weight, default.lexical_weight_english) == (
        spec.lexical_weight,
        spec.lexical_weight_english,
    )

    def ranking(retriever, question):
        return [(p.chunk.chunk_id, round(p.score, 6)) for p in retriever.retrieve(question, 5)]

    english, chinese = "How large was Shenzhen's AI industry in 2024?", "2024年深圳人工智能产业规模是多少？"
    as_english = Retriever(engine.store, engine.embedder, "hybrid", lexical_weight=spec.lexical_weight_english)
    as_chinese = Retriever(engine.store, engine.embedder, "hybrid", lexical_weight=spec.lexical_weight)
    assert ranking(default, english) == ranking(as_english, english) != ranking(as_chinese, english)
    assert ranking(default, chinese) == ranking(as_chinese, chinese) != ranking(as_english, chinese)
    assert (as_english.lexical_weight, as_english.lexical_weight_english) == (spec.lexical_weight_english,) * 2


def test_to_dict_and_markdown(engine):
    import json

    a = engine.ask("元戎启行哪一年率先推出“无图”方案？")
    d = json.loads(json.dumps(a.to_dict(), ensure_ascii=False))
    assert d["answer"] == "2022年" and d["citations"][0]["n"] == 1
    assert set(d) == {"question", "answer", "answerable", "score", "citations", "passages"}
    assert "「2022年」[1]" in a.to_markdown()


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", "\x00\x01", None, 42])
def test_empty_or_non_text_question_is_a_value_error(engine, bad):
    with pytest.raises(ValueError):
        engine.ask(bad)


def test_long_question_is_cut_with_a_warning(engine, caplog):
    with caplog.at_level(logging.WARNING):
        a = engine.ask("深圳" * 5000 + "人工智能产业规模是多少？")
    assert "cut to the first" in caplog.text and len(a.question) == MAX_QUESTION_CHARS
    check_invariants(engine, a)


def test_bad_k(engine):
    with pytest.raises(ValueError):
        engine.ask("深圳", k=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=300))
def test_random_questions_never_break_invariants(engine, q):
    meaningful = [ch for ch in q if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cs", "Cf", "Co", "Cn")]
    if not meaningful:
        with pytest.raises(ValueError, match="empty"):
            engine.ask(q)
        return
    check_invariants(engine, engine.ask(q))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_substring_questions_from_the_articles(engine, data):
    """Questions made of article text plus a question word: any answer is still verbatim and cited."""
    doc = data.draw(st.sampled_from(engine.documents))
    start = data.draw(st.integers(0, len(doc.text) - 10))
    piece = doc.text[start : start + data.draw(st.integers(4, 30))]
    q = piece + data.draw(st.sampled_from(["是多少？", "是谁？", "在哪里？", "是什么？", "哪一年？", ""]))
    if not q.strip():
        return
    check_invariants(engine, engine.ask(q))


def test_in_memory_build_from_documents():
    engine = _one_article("小明在2019年创办了星河公司。星河公司总部位于杭州。")
    a = engine.ask("星河公司总部位于哪里？")
    assert a.answer == "杭州"
    check_invariants(engine, a)


def test_a_quote_across_sentences_repeated_elsewhere_is_cited_verbatim():
    """A span that runs past its sentence's end, found again in another passage: that citation's context holds
    the whole quote (it raised "not verbatim" before)."""
    from qa import Document
    from qa.types import Passage, Span

    text = "保留问题是议会立法能力以外的议题。议会可以立法。另见：议会立法能力以外的议题。议会另有规定。"
    doc = Document("d", "议会", text)
    engine = QA.build([doc])
    quote = "立法能力以外的议题。议会"
    a = text.index(quote)
    passages = engine.retrieve("议会立法能力以外的议题是什么？")
    span = Span(engine.store.chunks[0].doc_id, a, a + len(quote), 0, a + len(quote), 1, 0.9, 0.9)
    answer = engine.answer_from("议会立法能力以外的议题是什么？", passages, span)
    assert len(answer.citations) >= 2
    for c in answer.citations:
        d = engine.document(c.doc_id)
        assert d.text[c.start : c.end] == c.quote == quote and quote in c.context
    assert isinstance(passages[0], Passage)
