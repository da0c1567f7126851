import os
import subprocess
import sys

import pytest
from conftest import SEEDS

from qa.articles import load_documents
from qa.chunking import Chunker, count_tokens, encoding
from qa.text import sentence_spans
from qa.types import Document, Section


def test_shipped_encoding_matches_tiktoken_cache_loading(tmp_path):
    """Our offline loader gives exactly tiktoken's own cl100k_base when pointed at the shipped file."""
    import qa.chunking as ch

    code = (
        "import tiktoken, json; e = tiktoken.get_encoding('cl100k_base');"
        "print(json.dumps(e.encode_ordinary('深圳人工智能产业规模突破3600亿元。Hello, world!')))"
    )
    env = dict(os.environ, TIKTOKEN_CACHE_DIR=str(ch._BPE_FILE.parent))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert eval(out) == encoding().encode_ordinary("深圳人工智能产业规模突破3600亿元。Hello, world!")


def test_sentence_spans_keep_closing_quotes_and_offsets():
    text = "他说：“我们成功了！”随后离开。第二句？\n第三句"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["他说：“我们成功了！”", "随后离开。", "第二句？", "第三句"]


@pytest.mark.parametrize("max_tokens,overlap", [(40, 0), (64, 16), (192, 32)])
def test_chunks_respect_budget_sections_and_offsets(max_tokens, overlap):
    docs = load_documents(SEEDS)
    chunker = Chunker(max_tokens, overlap)
    for doc in docs:
        chunks = chunker.split(doc)
        assert chunks, doc.title
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert c.n_tokens == count_tokens(c.text) <= max_tokens
            section = next(s for s in doc.sections if s.start <= c.start < s.end)
            assert c.end <= section.end and c.section == section.title
        # Every sentence of the article is inside some chunk (nothing is lost).
        for s in doc.sections:
            for a, b in sentence_spans(doc.text, s.start, s.end):
                if count_tokens(doc.text[a:b]) <= max_tokens:
                    assert any(c.start <= a and b <= c.end for c in chunks), doc.text[a:b]


def test_chunks_end_on_sentence_boundaries_and_overlap():
    doc = load_documents(SEEDS)[0]
    chunks = Chunker(80, 24).split(doc)
    sentences = [(a, b) for s in doc.sections for a, b in sentence_spans(doc.text, s.start, s.end)]
    for c in chunks:
        a, b = next((a, b) for a, b in sentences if a < c.end <= b)
        if count_tokens(doc.text[a:b]) <= 80:  # only a sentence over the budget may be cut
            assert c.end == b, c.text
    same_section = [(a, b) for a, b in zip(chunks, chunks[1:]) if a.section == b.section]
    assert any(b.start < a.end for a, b in same_section), "consecutive chunks should overlap"


def test_oversized_sentence_is_cut_within_budget():
    text = "，".join(f"第{i}个很长的分句没有句号" for i in range(200)) + "。"
    doc = Document("d", "t", text, (Section("", 0, len(text)),))
    chunks = Chunker(50, 10).split(doc)
    assert len(chunks) > 5
    assert all(c.n_tokens <= 50 and doc.text[c.start : c.end] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_extra_model_limit_closes_chunks_earlier():
    doc = load_documents(SEEDS)[0]
    short = Chunker(192, 0, fits=lambda t: len(t) <= 60).split(doc)
    assert all(len(c.text) <= 60 for c in short)
    assert len(short) > len(Chunker(192, 0).split(doc))


def test_bad_chunker_settings():
    with pytest.raises(ValueError):
        Chunker(4, 0)
    with pytest.raises(ValueError):
        Chunker(100, 60)
