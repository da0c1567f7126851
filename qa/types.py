"""Typed records passed between the pipeline stages.

articles → ``Document`` → chunking → ``Chunk`` → retrieval → ``Passage`` →
extraction → ``Citation`` / ``Answer``. Every offset is a character offset
into ``Document.text``; ``Document.text[start:end]`` is always the quoted text.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Protocol

# What every way in says when the articles do not support an answer (the CLI, the page, Markdown).
REFUSAL = "资料中未找到明确答案"


@dataclass(frozen=True)
class Section:
    """A titled part of a document; ``title`` is "" for the lead before the first heading."""

    title: str
    start: int
    end: int
    page: int | None = None  # 1-based page of a PDF


@dataclass(frozen=True)
class Document:
    """One article: its text and the sections that cover it."""

    doc_id: str
    title: str
    text: str
    sections: tuple[Section, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not self.sections and self.text:  # a document without sections is one untitled section
            object.__setattr__(self, "sections", (Section("", 0, len(self.text)),))

    def section_at(self, offset: int) -> str:
        """Title of the section holding character ``offset`` ("" for the lead)."""
        for section in self.sections:
            if section.start <= offset < section.end:
                return section.title
        return ""

    def page_at(self, offset: int) -> int | None:
        """PDF page (1-based) holding character ``offset``; None for other formats."""
        return next((s.page for s in self.sections if s.start <= offset < s.end), None)


@dataclass(frozen=True)
class Chunk:
    """A token-bounded, sentence-aligned piece of one document."""

    chunk_id: int
    doc_id: str
    section: str
    start: int
    end: int
    text: str
    n_tokens: int


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (higher is better for all of them)."""

    chunk: Chunk
    title: str
    rank: int
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "doc_id": self.chunk.doc_id,
            "title": self.title,
            "section": self.chunk.section,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
            "score": self.score,
            "dense_score": self.dense_score,
            "lexical_score": self.lexical_score,
        }


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: ``document(doc_id).text[start:end] == quote``."""

    n: int
    doc_id: str
    title: str
    section: str
    start: int
    end: int
    quote: str
    context: str
    context_start: int
    score: float
    page: int | None = None  # the PDF page of the quote


@dataclass
class Answer:
    """What ``ask()`` returns. ``answer`` is "" when the articles do not support one."""

    question: str
    answer: str
    answerable: bool
    score: float
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "answerable": self.answerable,
            "score": self.score,
            "citations": [asdict(c) for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
        }

    def to_markdown(self) -> str:
        """Chat-ready text: the quoted span with its [n] marker, then the sources.

        Article text is HTML-escaped, so markup inside articles shows as text.
        """
        esc = html.escape
        if not self.answerable:
            lines = [f"{REFUSAL} (no answer found in the articles)."]
            if self.passages:
                lines += ["", "最相关的段落 (closest passages):"]
                for p in self.passages[:3]:
                    where = " › ".join(x for x in (p.title, p.chunk.section) if x)
                    lines.append(f"- {esc(where)}: {esc(_clip(p.chunk.text, 80))}")
            return "\n".join(lines)
        markers = "".join(f"[{c.n}]" for c in self.citations[:1])
        lines = [f"「{esc(self.answer)}」{markers}", ""]
        for c in self.citations:
            where = " › ".join(x for x in (c.title, c.section) if x)
            lines.append(f"[{c.n}] {esc(where)} (chars {c.start}–{c.end}): {esc(c.context)}")
        return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class Reader(Protocol):
    """What every reader implements: the best verbatim span among the passages (or None), and the
    confidence below which the engine abstains."""

    threshold: float

    def extract(self, question: str, passages: list[Passage], documents: dict[str, Document]): ...
