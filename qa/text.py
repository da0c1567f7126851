"""Chinese-aware text helpers shared by the stages: sentences and lexical terms."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

# A sentence ends at one of these, plus any closing quotes or brackets that follow.
_SENTENCE_END = re.compile(r"(?:[。！？；!?;]+|…{1,2}|\.{3,})[”’」』）)】\"']*|\n+")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(rf"[{_CJK}]")
_LATIN_WORD = re.compile(r"[a-z]+", re.IGNORECASE)
_TERM = re.compile(rf"[{_CJK}]+|[0-9]+(?:\.[0-9]+)?|[a-z]+(?:'[a-z]+)?", re.IGNORECASE)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences in ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, m.end()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def _t2s_table() -> dict[int, str]:
    """Traditional → Simplified, one character for one: OpenCC's character table (``data/t2s.tsv``)
    plus 甚 → 什, so that 甚麼 reads as 什么. Traditional text is then segmented, tagged and
    matched like Simplified text; offsets are unchanged."""
    table = {}
    for line in (Path(__file__).parent / "data" / "t2s.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            trad, simp = line.split("\t")
            table[ord(trad)] = simp
    table[ord("甚")] = "什"
    return table


_T2S = _t2s_table()


@lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """Per-character NFKC (full-width → half-width), lower case and Traditional → Simplified folding.

    Length-preserving, so offsets into the normalised text are offsets into the
    original: a character whose folded form is not one character is kept.
    """
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch).lower() if ord(ch) > 127 else ch.lower()
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out).translate(_T2S)


def is_english(text: str) -> bool:
    """Whether a question is written in English: more Latin words than Chinese characters, so that a Chinese
    question naming a Latin name (「MasterAgent是哪家公司发布的？」) stays Chinese."""
    return len(_LATIN_WORD.findall(text)) > len(_HAN.findall(text))


def terms(text: str) -> list[str]:
    """Lexical terms: CJK characters and character bigrams, numbers, Latin words.

    Unigrams give recall, bigrams approximate Chinese words without a dictionary,
    so the same function works for Simplified and Traditional text.
    """
    out: list[str] = []
    for m in _TERM.finditer(normalize(text)):
        run = m.group()
        if "\u3400" <= run[0]:
            out.extend(run)
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out


def overlap(a: str, b: str) -> float:
    """Character F1 of two spans (normalised, punctuation and spaces ignored): how far two answers agree."""

    def chars(s: str) -> Counter:
        return Counter(c for c in normalize(s).lower() if c.isalnum())

    x, y = chars(a), chars(b)
    common = sum((x & y).values())
    if not common:
        return 0.0
    p, r = common / sum(x.values()), common / sum(y.values())
    return 2 * p * r / (p + r)
