"""QA sets as evaluation items: SQuAD-format files (CMRC 2018, DRCD, XQuAD) with the train / validation /
held-out split by article, seed-style JSONL files, and the parallel XQuAD pair (English questions over
Chinese paragraphs)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..types import Document, Section

PARTS = 5  # articles are hashed into five parts: 0 held out, 1 validation, 2-4 training


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Paragraph:
    pid: str
    title: str
    context: str
    questions: tuple[Question, ...]


def load(path: str | Path) -> list[Paragraph]:
    """All paragraphs of a SQuAD-format file, with their questions and answer texts."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for a, article in enumerate(data["data"]):
        title = article.get("title", "") or f"article-{a}"
        for i, p in enumerate(article["paragraphs"]):
            qs = tuple(
                Question(str(q["id"]), q["question"], tuple(dict.fromkeys(x["text"] for x in q.get("answers", []))))
                for q in p.get("qas", [])
            )
            out.append(Paragraph(str(p.get("id") or f"{title}#{i}"), title, p["context"], qs))
    return out


def part_of(title: str) -> str:
    """Deterministic split by article title: "heldout" (1 in 5, only ever measured on), "validation"
    (1 in 5, for choosing settings) or "train" (3 in 5, for training)."""
    h = int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16) % PARTS
    return "heldout" if h == 0 else "validation" if h == 1 else "train"


def split(paragraphs: list[Paragraph], part: str) -> list[Paragraph]:
    """``part`` is "all", "train", "validation" or "heldout"."""
    if part == "all":
        return paragraphs
    if part not in ("train", "validation", "heldout"):
        raise ValueError(f"split must be all, train, validation or heldout, not {part!r}")
    return [p for p in paragraphs if part_of(p.title) == part]


@dataclass
class Item:
    qid: str
    question: str
    answers: list[str]
    gold: str | None  # gold doc_id (SQuAD) or article title (JSONL); None when unanswerable
    answerable: bool = True


def items_squad(paragraphs: list[Paragraph]) -> list[Item]:
    return [Item(q.qid, q.text, list(q.answers), p.pid) for p in paragraphs for q in p.questions]


def items_jsonl(path: Path) -> list[Item]:
    items = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            r = json.loads(line)
            items.append(
                Item(
                    str(r.get("id", i)),
                    r["question"],
                    list(r.get("answers", [])),
                    r.get("article"),
                    bool(r.get("answerable", True)),
                )
            )
    return items


def documents_from_squad(paragraphs: list[Paragraph]) -> list[Document]:
    return [Document(p.pid, p.title, p.context, (Section("", 0, len(p.context)),), "squad") for p in paragraphs]


def is_squad(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def items_crosslingual(questions: list[Paragraph], contexts: list[Paragraph]) -> list[Item]:
    """Questions of one file asked against the parallel paragraphs of another (XQuAD en → zh), matched by question id;
    the gold paragraph and answers come from the context file."""
    gold = {q.qid: (p.pid, list(q.answers)) for p in contexts for q in p.questions}
    return [
        Item(q.qid, q.text, gold[q.qid][1], gold[q.qid][0]) for p in questions for q in p.questions if q.qid in gold
    ]
