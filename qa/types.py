"""Typed records passed between the pipeline stages.

articles → ``Document`` → chunking → ``Chunk`` → retrieval → ``Passage`` →
reading → ``Span`` → ``Citation`` / ``Answer``. Every offset is a character offset
into ``Document.text``; ``Document.text[start:end]`` is always the quoted text.
"""

from __future__ import annotations

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

    def to_dict(self) -> dict:
        """Plain JSON-ready fields (the index's ``documents.jsonl`` rows)."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "text": self.text,
            "source": self.source,
            "sections": [asdict(s) for s in self.sections],
        }

    @classmethod
    def from_dict(cls, row: dict) -> Document:
        sections = tuple(Section(**s) for s in row["sections"])
        return cls(row["doc_id"], row["title"], row["text"], sections, row.get("source", ""))

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
        """Chat-ready text (``qa.render.markdown``)."""
        from .render import markdown

        return markdown(self)


@dataclass(frozen=True)
class Span:
    """A reader's answer: ``doc_id`` text[start:end], inside sentence [sent_start, sent_end)."""

    doc_id: str
    start: int
    end: int
    sent_start: int
    sent_end: int
    passage_rank: int
    score: float
    confidence: float


class Reader(Protocol):
    """What every reader implements (``qa.reading``): the best verbatim span among the passages, or None;
    the confidence below which the engine abstains; ``warm_up()`` loads what the first answer would wait for.
    ``question`` is a ``qa.reading.Question``, analysed once per ask."""

    threshold: float

    def warm_up(self) -> None: ...

    def extract(self, question, passages: list[Passage], documents: dict[str, Document]) -> Span | None: ...
