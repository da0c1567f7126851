"""File formats into text: encodings of text files, PDF text layers, Word documents; ingest normalisation.

``articles.py`` turns the text into articles; this module only gets the text out of the bytes and
raises ``ValueError`` with one clear sentence for a file it cannot read (encrypted or image-only PDF,
corrupt or oversized Word file, unknown encoding, empty file).

Normalisation at ingest (``normalize_extracted``): text extracted from PDFs carries compatibility
characters (Kangxi radicals such as ⼭ U+2F2D for 山, CJK radical supplements such as ⻓ for 长,
full-width forms) and spaces a layout engine put between CJK and digits; they are folded (NFKC and
a radical table) so questions match; full-width punctuation is kept. The folded text is what the
index stores, so citations stay verbatim against it.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import zipfile

# The simplified-form CJK radical supplements (U+2E80–U+2EFF) that fonts map onto common characters;
# NFKC leaves them alone (the Kangxi radicals U+2F00–U+2FD5 it folds itself).
_RADICALS = str.maketrans(
    dict(
        zip(
            "⻆⻉⻋⻓⻔⻙⻚⻛⻜⻝⻢⻥⻦⻨⻩⻬⻮⻰⻳⺠⺟⻄⻌⻍⻏⻖⻅⻈⻊⻑",
            "角贝车长门韦页风飞饣马鱼鸟麦黄齐齿龙龟民母西辶辶阝阝见讠足镸",
        )
    )
)
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Compatibility characters folded by NFKC: Kangxi radicals, CJK compatibility ideographs, Latin ligatures.
# (Full-width punctuation such as ，。： stays as written: it is how Chinese text is punctuated.)
_COMPAT = re.compile(r"[\u2f00-\u2fdf\uf900-\ufaff\ufb00-\ufb4f\u00a0\u3000]")
_SPACE_CJK_LEFT = re.compile(rf"(?<=[{_CJK}，。、；：！？）」』”])[ \t]+(?=[0-9A-Za-z%.(（“「『{_CJK}])")
_SPACE_CJK_RIGHT = re.compile(rf"(?<=[0-9A-Za-z%.)）”」』])[ \t]+(?=[{_CJK}，。、；：！？])")
_WRAPPED = re.compile(rf"[{_CJK}，、；：“「（0-9A-Za-z]$")
_CONTINUES = re.compile(rf"^[{_CJK}，。、；：！？”」）0-9A-Za-z]")
# A line at least this long that stops mid-sentence was wrapped by the layout: the next line continues it.
WRAP_CHARS = 25

MAX_DOCX_UNCOMPRESSED = 64 * 1024 * 1024
MAX_DOCX_RATIO = 200


def normalize_extracted(text: str) -> str:
    """Fold compatibility characters, drop layout spaces around CJK, rejoin lines wrapped inside a sentence."""
    text = _COMPAT.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text).translate(_RADICALS)
    text = _SPACE_CJK_RIGHT.sub("", _SPACE_CJK_LEFT.sub("", text))
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if out and len(out[-1]) >= WRAP_CHARS and _WRAPPED.search(out[-1]) and _CONTINUES.match(line):
            out[-1] += line
        else:
            out.append(line)
    return "\n".join(out)


def decode_text(raw: bytes) -> str:
    """Text of a text file in UTF-8 (with or without BOM), UTF-16 (BOM) or a detected legacy encoding
    (GBK/GB18030, Big5, …)."""
    if not raw:
        raise ValueError("the file is empty (0 bytes)")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise ValueError("unknown text encoding (not UTF-8, UTF-16, GBK/GB18030 or Big5): save it as UTF-8")
    encoding = best.encoding
    # Simplified Chinese files are often detected as a narrower Chinese encoding: read them as its superset.
    if encoding in ("gb2312", "gbk", "hz"):
        encoding = "gb18030"
    return raw.decode(encoding)


def pdf_pages(raw: bytes) -> list[str]:
    """The text layer of each page, normalised; raises for encrypted, damaged or image-only PDFs."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # one message per bad file: ours, not pypdf's repairs too
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError("the PDF is encrypted (password-protected): save an unprotected copy")
        pages = [normalize_extracted(p.extract_text() or "").strip() for p in reader.pages]
    except ValueError:
        raise
    except (PdfReadError, OSError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"the PDF is damaged or not a PDF ({type(exc).__name__})") from exc
    except Exception as exc:  # pypdf raises assorted errors for hostile files; never more than this message
        raise ValueError(f"the PDF cannot be read ({type(exc).__name__})") from exc
    if not any(pages):
        raise ValueError("the PDF has no text layer (scanned or image-only): run OCR on it first")
    return pages


def docx_markdown(raw: bytes) -> str:
    """A Word document's paragraphs as Markdown: Title / Heading 1 → ``#``, Heading 2+ → ``##``."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError("the Word file is damaged (not a .docx zip archive)") from exc
    size = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if size > MAX_DOCX_UNCOMPRESSED or size / packed > MAX_DOCX_RATIO:
        raise ValueError(
            f"the Word file unpacks to {size / 2**20:.0f} MiB ({size / packed:.0f}× its size): refused as a zip bomb"
        )
    import docx

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors… for damaged parts
        raise ValueError(f"the Word file is damaged ({type(exc).__name__})") from exc
    lines = []
    for p in document.paragraphs:
        text = p.text.strip()
        if not text:
            continue
        style = (p.style.name if p.style is not None else "").lower()
        level = 1 if style == "title" else int(style[8:]) if style.startswith("heading ") and style[8:].isdigit() else 0
        lines.append(f"{'#' * min(level, 2)} {text}" if level else text)
    return normalize_extracted("\n\n".join(lines))
