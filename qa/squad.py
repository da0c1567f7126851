"""SQuAD-format QA sets (CMRC 2018, DRCD, XQuAD) and the train / held-out split by article."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

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
