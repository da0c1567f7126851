"""SQuAD-format QA sets (CMRC 2018, DRCD, XQuAD) and the train / held-out split by article."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

HELDOUT_FRACTION = 5  # one article in five is held out


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


def is_heldout(title: str) -> bool:
    """Deterministic split by article title: no paragraph of a held-out article is ever trained on."""
    return int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16) % HELDOUT_FRACTION == 0


def split(paragraphs: list[Paragraph], part: str) -> list[Paragraph]:
    """``part`` is "all", "train" or "heldout"."""
    if part == "all":
        return paragraphs
    if part not in ("train", "heldout"):
        raise ValueError(f"split must be all, train or heldout, not {part!r}")
    return [p for p in paragraphs if is_heldout(p.title) == (part == "heldout")]
