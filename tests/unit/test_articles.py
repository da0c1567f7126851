import logging

import pytest
from conftest import SEEDS

from qa.articles import ArticleError, load_documents


def test_seed_page_is_four_articles_with_sections():
    docs = load_documents(SEEDS)
    assert [d.title for d in docs] == [
        "深圳AI竞速全球“智”造高地",
        "深圳实行医保转移接续新政 异地参保年限互认 退休缴费可补可选",
        "深圳启动大规模职业技能提升行动",
        "国际电子电路展启幕",
    ]
    feature = docs[0]
    assert [s.title for s in feature.sections] == [
        "",
        "自主创“芯”引领行业发展",
        "“智”造破圈赋能千行百业",
        "生态聚“力”释放产业动能",
    ]
    assert "产业规模突破3600亿元" in feature.text  # the kicker above the title belongs to the feature
    i = feature.text.index("晶泰科技AI机器人实验室超5000平方米")
    assert feature.section_at(i) == "自主创“芯”引领行业发展"
    for d in docs:
        for s in d.sections:
            assert 0 <= s.start < s.end <= len(d.text)


def test_markdown_html_jsonl(tmp_path):
    (tmp_path / "a.md").write_text("# 标题甲\n\n导语。\n\n## 第一节\n\n正文一。\n", encoding="utf-8")
    (tmp_path / "b.html").write_text(
        "<html><head><title>页面</title><script>var x='不要';</script></head><body><h1>网页标题</h1>"
        "<p>第一段&amp;内容。</p><h2>小节</h2><p>第二段。</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "c.jsonl").write_text(
        '{"id": "x1", "title": "甲", "text": "内容一。"}\n\n{"id": "x2", "text": "内容二。"}\n', encoding="utf-8"
    )
    docs = {d.title: d for d in load_documents(tmp_path)}
    assert docs["标题甲"].sections[1].title == "第一节"
    html = docs["网页标题"]
    assert "第一段&内容。" in html.text and "不要" not in html.text
    assert [s.title for s in html.sections] == ["", "小节"]
    ids = {d.doc_id for d in docs.values()}
    assert {"x1", "x2"} <= ids


def test_unreadable_and_empty_files_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("# 好文章\n\n有内容。", encoding="utf-8")
    (tmp_path / "empty.md").write_text("   \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"
    )  # (a UTF-16 BOM now means UTF-16 text)
    (tmp_path / "broken.jsonl").write_text("{not json\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        docs = load_documents(tmp_path)
    assert [d.title for d in docs] == ["好文章"]
    for name in ("empty.md", "binary.txt", "broken.jsonl"):
        assert name in caplog.text


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(ArticleError, match="does not exist"):
        load_documents(tmp_path / "nope")
