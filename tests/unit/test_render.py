"""Rendering an answer: one place for Markdown, plain text and the page's HTML; article text always escaped."""

from __future__ import annotations

from qa import render
from qa.config import ROOT
from qa.types import REFUSAL, Answer, Chunk, Citation, Passage

CONTEXT = "据<b>统计</b>，产业规模突破3600亿元。"
START = CONTEXT.index("3600")


def _answer(answerable: bool = True) -> Answer:
    quote = "3600亿元"
    cite = Citation(1, "a1", "深圳<AI>", "产业", START, START + len(quote), quote, CONTEXT, 0, 0.9, page=3)
    chunk = Chunk(0, "a1", "产业", 0, len(CONTEXT), CONTEXT, 20)
    passage = Passage(chunk, "深圳<AI>", 1, 2.5, 0.81, 7.5)
    if answerable:
        return Answer("规模是多少？", quote, True, 0.9, [cite], [passage])
    return Answer("美国呢？", "", False, 0.1, [], [passage])


def test_markdown_quotes_the_span_and_escapes_article_text():
    md = render.markdown(_answer())
    assert md.startswith("「3600亿元」[1]")
    assert "深圳&lt;AI&gt; › 产业" in md and "&lt;b&gt;统计&lt;/b&gt;" in md and "<b>" not in md
    assert _answer().to_markdown() == md


def test_plain_text_and_markdown_refuse_in_the_same_words():
    for text in (render.plain(_answer(False)), render.markdown(_answer(False)), render.answer_html(_answer(False))):
        assert REFUSAL in text
    assert render.plain(_answer()).startswith("答案: 3600亿元  (confidence 0.90)")
    assert "[a1 " in render.plain(_answer()), "the CLI shows the article id and offsets"


def test_page_pieces_mark_the_quote_and_show_the_page():
    html = render.sources_html(_answer())
    assert '<mark class="qa-span">3600亿元</mark>' in html and "第3页 p. 3" in html
    assert "&lt;b&gt;" in html and "<b>统计" not in html
    assert "fused 2.500 · dense 0.810 · lexical 7.50" in html, "the scores stay with the collapsed passages"
    assert "understood as" in render.answer_html(_answer(), asked="它呢？")
    assert "understood as" not in render.answer_html(_answer(), asked="规模是多少？")


def test_the_refusal_is_written_once():
    files = [p for p in [*(ROOT / "qa").rglob("*.py"), ROOT / "app.py"] if REFUSAL in p.read_text(encoding="utf-8")]
    assert [p.relative_to(ROOT).as_posix() for p in files] == ["qa/types.py"]
