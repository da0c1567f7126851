"""Real PDF (made by Chromium), Word (python-docx) and legacy-encoded files; broken and hostile files."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import CHROME_ARGS, CHROMIUM

from qa import QA
from qa.articles import load_documents, read_file
from qa.formats import normalize_extracted

PAGE_1 = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家。长江以南的山区也在发展。"
PAGE_2 = "第二页：元戎启行的无图智驾已落地20万辆量产车，马上进入长沙和山东市场。"


@pytest.fixture(scope="module")
def chromium_pdf(tmp_path_factory) -> Path:
    """A two-page PDF printed by Chromium with Noto CJK: its text layer holds ⼭ (U+2F2D), ⻓ (U+2ED3)…"""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    d = tmp_path_factory.mktemp("pdf")
    (d / "page.html").write_text(
        "<html><head><meta charset='utf-8'><style>body{font-family:'Noto Sans CJK SC'}</style></head><body>"
        f"<h1>山长水远的深圳新闻</h1><p style='page-break-after:always'>{PAGE_1}</p><p>{PAGE_2}</p></body></html>",
        encoding="utf-8",
    )
    out = d / "news.pdf"
    subprocess.run(
        [CHROMIUM, *CHROME_ARGS, "--no-pdf-header-footer", f"--print-to-pdf={out}", (d / "page.html").as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return out


def test_pdf_text_is_normalised_and_pages_are_sections(chromium_pdf):
    from pypdf import PdfReader

    raw = "".join(p.extract_text() for p in PdfReader(chromium_pdf).pages)
    assert "\u2f2d" in raw and "\u2ed3" in raw  # what the text layer really holds: ⼭ and ⻓
    (doc,) = read_file(chromium_pdf)
    assert PAGE_1 in doc.text and PAGE_2 in doc.text and "\u2f2d" not in doc.text
    assert doc.page_at(doc.text.index(PAGE_1)) == 1 and doc.page_at(doc.text.index(PAGE_2)) == 2


def test_pdf_answer_cites_its_page(chromium_pdf, tmp_path):
    shutil.copy(chromium_pdf, tmp_path / "news.pdf")
    engine = QA.build(tmp_path)
    a = engine.ask("元戎启行的无图智驾已落地多少辆量产车？")
    assert a.answerable and "20万辆" in a.answer
    c = a.citations[0]
    assert engine.document(c.doc_id).text[c.start : c.end] == c.quote and c.page == 2


def test_word_headings_become_sections(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("深圳新闻", 1)
    d.add_paragraph("导语：深圳今年新增人工智能企业超过八百家。")
    d.add_heading("无图智驾", 2)
    d.add_paragraph("元戎启行的无图智驾已落地20万辆量产车。")
    d.save(tmp_path / "news.docx")
    (doc,) = read_file(tmp_path / "news.docx")
    assert doc.title == "深圳新闻"
    assert doc.section_at(doc.text.index("元戎启行")) == "无图智驾"


@pytest.mark.parametrize(
    "encoding, text",
    [
        ("gbk", "# 深圳新闻\n\n2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"),
        ("gb18030", "# 深圳新闻\n\n元戎启行的无图智驾已落地20万辆量产车，覆盖多个城市与车型。"),
        ("big5", "# 臺灣新聞\n\n臺北市政府今天宣布，捷運新路線將於明年通車，預計每日載客十萬人次。"),
        ("utf-16", "# 深圳新闻\n\n这是一个以UTF-16保存的文件，内容与其他文件相同。"),
    ],
)
def test_text_encodings_are_detected(tmp_path, encoding, text):
    path = tmp_path / "news.txt"
    path.write_bytes(text.encode(encoding))
    (doc,) = read_file(path)
    assert doc.text == text.split("\n\n", 1)[0][2:] + "\n\n" + text.split("\n\n", 1)[1]


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (40 * 2**20))
    return buf.getvalue()


def test_bad_files_get_one_message_each_and_the_rest_is_indexed(tmp_path, chromium_pdf, caplog):
    from pypdf import PdfReader, PdfWriter

    (tmp_path / "good.md").write_text("# 好文章\n\n深圳今年新增人工智能企业超过八百家。", encoding="utf-8")
    writer = PdfWriter()
    writer.append(PdfReader(chromium_pdf))
    writer.encrypt("secret")
    writer.write(tmp_path / "locked.pdf")
    blank = PdfWriter()
    blank.add_blank_page(200, 200)
    blank.write(tmp_path / "scan.pdf")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (tmp_path / "bomb.docx").write_bytes(_zip_bomb())
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.7\n garbage")
    with caplog.at_level(logging.WARNING, logger="qa.articles"):
        docs = load_documents(tmp_path)
    assert [d.title for d in docs] == ["好文章"]
    messages = {r.getMessage().split(" ")[4].split("/")[-1].rstrip(":"): r.getMessage() for r in caplog.records}
    assert "encrypted" in messages["locked.pdf"]
    assert "no text layer" in messages["scan.pdf"]
    assert "damaged" in messages["broken.docx"]
    assert "zip bomb" in messages["bomb.docx"]
    assert "empty" in messages["empty.txt"]
    assert "damaged" in messages["fake.pdf"] or "cannot be read" in messages["fake.pdf"]
    assert len(caplog.records) == 6


def test_layout_spaces_and_radicals_are_folded():
    assert normalize_extracted("产业规模突破 3600 亿元，⼭东 ⻓沙") == "产业规模突破3600亿元，山东长沙"
    assert normalize_extracted("标题\n正文第一行") == "标题\n正文第一行"  # a short line is not a wrapped one
