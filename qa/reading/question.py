"""The question, analysed once per ask: what kind of answer it wants, its question word, its weighted terms.

``Question.analyse`` needs the collection's lexicon (IDF and which terms occur at all); every reader
receives the same frozen ``Question``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from ..text import is_english, normalize, terms
from .segment import BREAKS, tagged

_COUNT = r"(?:几|[一两二三四五六七八九十]+|\d+)"  # 哪几个, 哪三个, 哪2个
# Question word patterns, most specific first.
QUESTION_TYPES: list[tuple[str, re.Pattern]] = [
    (
        "definition",
        re.compile(
            r"(?:是什么意思|什么意思|是指什么|指的是什么|指什么|全称是什么|what does .+ (?:mean|stand for))", re.I
        ),
    ),
    (
        "time",
        re.compile(
            r"(?:(?:具体|什么|哪个|确切)?(?:时间|日期|年份|年代)(?:是|为)?(?:什么|哪|何|？|\?|$)|哪一?年|何年|哪一?天|何时|"
            r"什么时候|什么时间|哪个月|几月|几号|几日|哪一?年代|when\b|what year|which year)",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"(?:多少[个家台辆人次倍米度年元名项所座条种位件场届期批款篇部本张只吨岁天月]?|几[个家台辆人次倍米度年元名项所座条种位件场届期批款篇部本张只吨岁天月大]?|"
            r"多[长大高远久重宽深]|百分之几|how (?:many|much|large|big|long|far|old|tall|high)|what percentage)",
            re.I,
        ),
    ),
    ("person", re.compile(r"(?:谁|哪位|什么人|何人|\bwho(?:m|se)?\b)", re.I)),
    ("place", re.compile(r"(?:哪里|哪儿|在哪|何地|何处|什么地方|哪个(?:城市|国家|省|地区|地方)|\bwhere\b)", re.I)),
    (
        "org",
        re.compile(
            r"(?:哪家(?:公司|企业|机构|单位|医院|银行)?|哪些(?:部门|单位|机构|公司|企业)|哪个(?:部门|单位|机构|公司|企业)|什么(?:部门|单位|机构|公司|企业)|"
            rf"哪{_COUNT}[个家](?:部门|单位|机构|公司|企业|医院|银行))"
        ),
    ),
    # 「哪三个」「哪两条」「哪一部」: the count belongs to the question word (the answer is a list, or one of them).
    (
        "what",
        re.compile(
            rf"(?:哪{_COUNT}(?:[个种家位类项所条座名件]|部(?!分))|什么|哪些|哪个|哪种|哪一?项|哪|何|\bwhat\b|\bwhich\b)",
            re.I,
        ),
    ),
]
# Question-only words: they say what is asked, not what the answer sentence contains.
STOP = set(
    "的 了 吗 呢 是 在 有 和 与 及 或 被 把 对 为 以 于 就 都 也 还 要 会 能 可 请 问 "
    "多少 什么 哪 谁 几 何 呀 啊 么 个 些 里 儿 哪里 哪儿 哪些 哪个 哪家 哪位 "
    "哪一 哪年 什么 怎么 怎样 如何 为何 为什么 "
    "the a an of in on at to for by is are was were do does did what which who whom whose when where how many much "
    "and or with from as that this it its be been has have had".split()
)

# Characters that never start or end a content bigram.
_FUNCTION = set("的了吗呢是么哪谁几何吧啊呀")
# Confidence factor for each question word (Latin) or character (CJK) that appears nowhere in the articles
# (chosen on validation articles and the seed questions: 0.4/0.6 change validation F1 by < 0.2).
UNSEEN_PENALTY = 0.4
UNSEEN_CHAR_PENALTY = 0.6
_WH = re.compile(r"(?:什么|哪一?[个种些家位类项所条部座]?|何)")


class Lexicon(Protocol):
    """What question analysis needs from a collection (``qa.lexical.BM25`` is one)."""

    def idf_of(self, term: str) -> float: ...

    def knows(self, term: str) -> bool: ...


def question_type(question: str) -> tuple[str | None, re.Match | None]:
    """The expected answer type and the question word's match, for a normalised question."""
    for name, pattern in QUESTION_TYPES:
        m = pattern.search(question)
        if m:
            return name, m
    return None, None


def question_terms(text: str, slot: re.Match | None, lexicon: Lexicon) -> dict[str, float]:
    """Content terms of the question with IDF weights.

    The question word and bigrams across function characters are dropped; a bigram never seen in the
    articles counts less than an unseen character or word (most such bigrams straddle two words).
    """
    if slot:
        text = text[: slot.start()] + " " + text[slot.end() :]
    out = {}
    for t in terms(text):
        if t in STOP or any(ch in _FUNCTION for ch in t):
            continue
        w = lexicon.idf_of(t)
        if len(t) == 2 and "\u3400" <= t[0] and not lexicon.knows(t):
            w *= 0.3
        out[t] = w * (0.5 if len(t) == 1 and "\u3400" <= t else 1.0)
    return out


def unseen_factor(weights: dict[str, float], lexicon: Lexicon) -> float:
    """Words the articles never use at all (a character, a Latin word) mean the question is about something
    they do not cover: each one multiplies the confidence by a penalty below 1."""
    factor = 1.0
    for t in weights:
        if not lexicon.knows(t) and (len(t) == 1 or t[0] < "\u3400"):
            factor *= UNSEEN_PENALTY if t[0] < "\u3400" else UNSEEN_CHAR_PENALTY
    return factor


_QUESTION_END = re.compile(r"(?<=[?？])")
_WORDY = re.compile(r"[A-Za-z\u3400-\u9fff]")


def phrasings(text: str) -> list[str]:
    """A question asked in both languages at once (「What is Moonlight's main business? 月光公司主营什么？」) as
    its Chinese and its English questions, Chinese first; any other question as itself."""
    parts = [c.strip() for c in _QUESTION_END.split(text) if _WORDY.search(c)]
    english = [c for c in parts if is_english(c)]
    chinese = [c for c in parts if c not in english]
    return [" ".join(chinese), " ".join(english)] if english and chinese else [text]


@dataclass(frozen=True)
class Question:
    """A cleaned question and what is known of it before reading any passage."""

    text: str
    normalized: str
    kind: str | None  # number, time, person, place, org, definition, what, or None
    slot: re.Match | None = field(compare=False)  # the question word in ``normalized``
    weights: dict[str, float] = field(compare=False)  # content term → IDF weight
    unseen: float = 1.0  # the factor for question words the articles never use

    @classmethod
    def analyse(cls, text: str, lexicon: Lexicon) -> Question:
        """The question as the readers see it; asked in two languages at once, the phrasing whose words the
        articles use most (``phrasings``)."""
        return max((cls._analyse_one(p, lexicon) for p in phrasings(text)), key=lambda q: q.unseen)

    @classmethod
    def _analyse_one(cls, text: str, lexicon: Lexicon) -> Question:
        nq = normalize(text)
        kind, slot = question_type(nq)
        weights = question_terms(text, slot, lexicon)
        return cls(text, nq, kind, slot, weights, unseen_factor(weights, lexicon))

    @cached_property
    def english(self) -> bool:
        """Whether the question is written in English (``is_english``)."""
        return is_english(self.text)

    @property
    def total(self) -> float:
        return sum(self.weights.values())

    @cached_property
    def head(self) -> str:
        """The noun the question word asks about: 颜色 in 什么颜色, 城市 in 哪个城市 (may be empty)."""
        return _head(self.normalized, self.slot)

    @cached_property
    def beside(self) -> tuple[str, str]:
        """The question's words right before and after its question word (``_slot_neighbours``)."""
        return _slot_neighbours(self.normalized, self.slot, self.head)

    @cached_property
    def asked(self) -> str:
        """The normalised question without its question word."""
        nq, slot = self.normalized, self.slot
        return nq[: slot.start()] + " " + nq[slot.end() :] if slot else nq


def _head(nq: str, slot: re.Match | None) -> str:
    """The noun the question word asks about: 颜色 in 什么颜色, 城市 in 哪个城市 (may be empty)."""
    if slot is None:
        return ""
    rest = nq[slot.start() :]
    m = _WH.match(rest) or _WH.search(rest)
    tail = rest[m.end() :] if m else rest[len(slot.group()) :]
    tail = re.match(r"[\u4e00-\u9fff]{0,2}", tail.lstrip("的")).group()
    return re.split(r"[的是为在有了呢吗和与及]", tail)[0]


def _slot_neighbours(nq: str, slot: re.Match | None, head: str) -> tuple[str, str]:
    """The question's words right before the question word and right after it and its ``head`` noun
    (function words skipped): 位于 in 「学校位于哪里」, 举办 in 「什么国家举办了亚运会」."""
    if slot is None:
        return "", ""
    after = slot.end()
    if head and (i := nq.find(head, slot.start())) >= 0:
        after = max(after, i + len(head))
    toks = [(a, b, w) for a, b, w, _ in tagged(nq) if w.strip() and w not in STOP and w not in BREAKS]
    left = next((w for a, b, w in reversed(toks) if b <= slot.start()), "")
    right = next((w for a, b, w in toks if a >= after), "")
    return left, right
