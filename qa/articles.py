"""Stage 1: read article files into ``Document`` records.

Formats: ``.md``/``.txt`` (``#`` headings give titles and sections; UTF-8, UTF-16 or a
detected legacy encoding such as GBK or Big5), ``.html`` (parsed with the standard
library's HTML parser), ``.jsonl`` (one ``{"id", "title", "text"}`` object per line),
``.pdf`` (the text layer, one section per page) and ``.docx`` (headings give sections);
``formats.py`` gets the text out of the bytes. Unreadable or empty files are skipped
with a warning that names them.

A newspaper page often holds a feature (one ``#`` title, ``##`` sections)
followed by short briefs that also use ``##`` headings. When a file has a
single ``#`` title, a ``##`` block (of 100+ characters) that shares little
vocabulary with the feature's title and lead starts a new article, and so does
every block after it; a line of ``---`` always starts a new article.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .formats import decode_text, docx_markdown, pdf_pages
from .text import terms
from .types import Document, Section

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl", ".pdf", ".docx")
MAX_FILE_BYTES = 20 * 1024 * 1024
# Below this cosine similarity to the feature's title and lead, a ``##`` block is a new article.
SECTION_SIMILARITY = 0.25
# Shorter texts than this give no reliable similarity: such ``##`` blocks stay sections.
MIN_JUDGE_CHARS = 100

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


class ArticleError(ValueError):
    """A source folder or file that cannot be used."""


def load_documents(source: str | Path) -> list[Document]:
    """Read every supported file under ``source`` (a folder or one file), sorted by path."""
    root = Path(source)
    if not root.exists():
        raise ArticleError(f"article source {root} does not exist: create it and put .md/.txt/.html/.jsonl files in it")
    files = article_files(root)
    docs: list[Document] = []
    for path in files:
        try:
            found = read_file(path, stem=str(path.relative_to(root)) if root.is_dir() else path.name)
        except (OSError, UnicodeError, ValueError) as exc:
            log.warning("skipping unreadable article file %s: %s", path, exc)
            continue
        if not found:
            log.warning("skipping article file %s: no text in it", path)
        docs.extend(found)
    seen: set[str] = set()
    for d in docs:
        if d.doc_id in seen:
            raise ArticleError(f"duplicate article id {d.doc_id!r} in {source}")
        seen.add(d.doc_id)
    return docs


def article_files(root: Path) -> list[Path]:
    """The supported files under ``root`` (or ``root`` itself, a file), sorted by path."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def read_file(path: Path, stem: str | None = None) -> list[Document]:
    """Documents in one file; ``stem`` prefixes their ids (defaults to the file name).

    Raises ``ValueError`` (one sentence, no paths) for a file that cannot be read."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    if size == 0:
        raise ValueError("the file is empty (0 bytes)")
    raw = path.read_bytes()
    stem = stem or path.name
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return parse_pdf(pdf_pages(raw), stem, default_title=path.stem)
    if suffix == ".docx":
        return parse_markdown(docx_markdown(raw), stem, default_title=path.stem)
    text = decode_text(raw)
    if "\x00" in text:
        raise ValueError("binary file (NUL bytes)")
    if suffix == ".jsonl":
        return parse_jsonl(text, stem)
    if suffix in (".html", ".htm"):
        return parse_markdown(html_to_markdown(text), stem, default_title=path.stem)
    return parse_markdown(text, stem, default_title=path.stem)


def parse_pdf(pages: list[str], stem: str, default_title: str = "") -> list[Document]:
    """One article per PDF: its pages in order, each page a section that knows its page number."""
    text, sections = "", []
    for n, page in enumerate(pages, 1):
        if not page:
            continue
        start = len(text) + (2 if text else 0)
        text = f"{text}\n\n{page}" if text else page
        sections.append(Section("", start, len(text), page=n))
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    title = first if 0 < len(first) <= 40 else default_title
    return [Document(f"{stem}#0", title, text, tuple(sections), stem)]


def parse_jsonl(text: str, stem: str) -> list[Document]:
    docs = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            body = str(obj["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"line {i}: expected a JSON object with 'text' ({exc})") from exc
        if not body.strip():
            continue
        doc_id = str(obj.get("id") or f"{stem}#{i}")
        title = str(obj.get("title") or "").strip()
        docs.append(Document(doc_id, title, body, (Section("", 0, len(body)),), stem))
    return docs


@dataclass
class _Block:
    """A heading (or none, for the preamble) and the body lines under it."""

    level: int
    heading: str
    lines: list[str] = field(default_factory=list)
    rule_before: bool = False

    @property
    def body(self) -> str:
        return "\n".join(self.lines).strip()


def _blocks(text: str) -> list[_Block]:
    blocks = [_Block(0, "")]
    rule = False
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            blocks.append(_Block(len(m.group(1)), m.group(2).strip(), rule_before=rule))
            rule = False
        elif _RULE.match(line):
            rule = True
            blocks.append(_Block(0, "", rule_before=True))
        else:
            blocks[-1].lines.append(line.rstrip())
    return [b for b in blocks if b.heading or b.body]


def _similarity(a: str, b: str) -> float:
    ca, cb = Counter(terms(a)), Counter(terms(b))
    dot = sum(v * cb[k] for k, v in ca.items())
    na = math.sqrt(sum(v * v for v in ca.values()))
    nb = math.sqrt(sum(v * v for v in cb.values()))
    return dot / (na * nb) if na and nb else 0.0


def _looks_separate(lead: str, b: _Block) -> bool:
    """A ``##`` block is its own article when both texts are long enough to judge and share little."""
    if len(lead) < MIN_JUDGE_CHARS or len(b.body) < MIN_JUDGE_CHARS:
        return False
    return _similarity(lead, f"{b.heading}\n{b.body}") < SECTION_SIMILARITY


def _group(blocks: list[_Block]) -> list[list[_Block]]:
    """Group blocks into articles (see the module docstring for the rules)."""
    one_title = sum(b.level == 1 for b in blocks) <= 1
    groups: list[list[_Block]] = []
    lead = ""  # title and lead text of the current article
    briefs = False
    for b in blocks:
        kicker = bool(groups) and len(groups[-1]) == 1 and groups[-1][0].level == 0 and not groups[-1][0].heading
        if not groups or b.rule_before:
            new = True
        elif b.level == 1:
            new = not kicker
        elif b.level >= 2 and one_title:
            new = briefs or not lead or _looks_separate(lead, b)
            briefs = briefs or (new and bool(lead))
        else:
            new = False
        if new:
            groups.append([b])
            lead = f"{b.heading}\n{b.body}"
        else:
            groups[-1].append(b)
            if b.level == 1:
                lead = f"{b.heading}\n{lead}\n{b.body}"
    return groups


def parse_markdown(text: str, stem: str, default_title: str = "") -> list[Document]:
    """Split Markdown/plain text into articles with titled sections."""
    docs = []
    for i, group in enumerate(_group(_blocks(text))):
        head = next((b for b in group if b.level == 1), group[0] if group[0].level else None)
        title = head.heading if head else ""
        pieces: list[tuple[str, str]] = [(title, "")]
        lead = [b for b in group if b is head or b.level == 0]
        pieces += [(b.body, "") for b in sorted(lead, key=lambda b: b is head)]
        for b in group:
            if b not in lead:
                section = b.heading if b.level >= 2 else ""
                pieces += [(b.heading, section), (b.body, section)]
        body, sections = _join(pieces)
        if not body.strip():
            continue
        if not title:
            first = body.strip().splitlines()[0].strip()
            title = first if len(first) <= 40 else default_title
        docs.append(Document(f"{stem}#{i}", title, body, sections, stem))
    return docs


def _join(pieces: list[tuple[str, str]]) -> tuple[str, tuple[Section, ...]]:
    """Join (text, section title) pieces with blank lines; merge adjacent pieces of one section."""
    text = ""
    sections: list[Section] = []
    for piece, section in pieces:
        if not piece:
            continue
        start = len(text) + (2 if text else 0)
        text = f"{text}\n\n{piece}" if text else piece
        if sections and sections[-1].title == section:
            sections[-1] = Section(section, sections[-1].start, len(text))
        else:
            sections.append(Section(section, start, len(text)))
    return text, tuple(sections)


class _HTMLToMarkdown(HTMLParser):
    """Visible text of an HTML page as Markdown-ish lines (headings keep their level)."""

    _SKIP = {"script", "style", "noscript", "template", "head", "svg"}
    _BLOCK = {
        "p",
        "div",
        "section",
        "article",
        "li",
        "br",
        "tr",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "header",
        "footer",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip += 1
        if tag == "title":
            self._in_title = True
        if re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self.skip:
            self.skip -= 1
        if tag == "title":
            self._in_title = False
        if re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self.skip:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_markdown(text: str) -> str:
    parser = _HTMLToMarkdown()
    parser.feed(text)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    md = "\n".join(lines)
    if parser.title.strip() and not re.search(r"^# ", md, re.M):
        md = f"# {parser.title.strip()}\n\n{md}"
    return re.sub(r"\n{3,}", "\n\n", md).strip()
