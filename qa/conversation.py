"""Follow-up questions: complete a question that leaves out its subject from the previous turns.

「元戎启行交付了多少辆车？」 then 「它哪一年推出无图方案？」: the pronoun is replaced by the
topic of the earlier question (the longest piece of it that the articles contain), so
retrieval and extraction see 「元戎启行哪一年推出无图方案？」. History is never concatenated
blindly: a question without a pronoun is used as it is.

An elliptical question names only a new subject: 「星尘智能交付了多少台？」 then 「那元戎启行呢？」
(or "What about X?") asks the earlier question again about X: 「元戎启行交付了多少台？」.
"""

from __future__ import annotations

import re
from typing import Callable

# Pronouns and demonstratives that stand for an earlier subject, longest first.
_ANAPHORA = re.compile(r"(?:该公司|该企业|该机构|该部门|这家公司|这家企业|这家|那家|它们|他们|她们|它|他|她|其|该|此)")
_QWORDS = re.compile(r"(多少|什么|哪|谁|几|何|吗|呢|是|的|了|有|在)")


def topic(question: str, known: Callable[[str], bool], max_len: int = 12) -> str | None:
    """The subject of ``question``: in its first phrase that the articles mention (Chinese puts the
    topic first), the longest piece of 2+ characters, not only digits, that ``known`` accepts."""
    text = _QWORDS.sub(" ", question)
    for part in re.findall(r"[^\s，。？！、,.?!“”\"《》()（）]{2,}", text):
        for n in range(min(len(part), max_len), 1, -1):
            for i in range(len(part) - n + 1):
                piece = part[i : i + n]
                if not piece.isdigit() and known(piece):
                    return piece
    return None


# 「那元戎启行呢？」「还有优必选呢」「元戎启行呢？」 "What about UBTech?" "And Deeproute?": only a new subject.
_ELLIPSIS = re.compile(
    r"^(?:那么|那|还有|而|那个)?\s*(?P<subject>[^，。？！、,.?!\s呢](?:[^，。？！、,.?!呢]*[^，。？！、,.?!\s呢])?)\s*"
    r"(?:呢|又如何|怎么样|如何)[？?！!。.]*$"
    r"|^(?:what|how)\s+about\s+(?P<en>.+?)\s*[?.!]*$|^and\s+(?P<en2>.+?)\s*\?+$",
    re.IGNORECASE,
)


_TIME = re.compile(r"\d{2,4}年(?:\d{1,2}月)?|\d{1,2}月|今年|去年|前年|明年")
_NOT_A_SUBJECT = re.compile(r"什么|哪|谁|多少|几|怎|为何|为啥|吗|是否|\b(?:what|which|who|how|why)\b", re.IGNORECASE)


def ellipsis_subject(question: str) -> str | None:
    """The new subject of an elliptical follow-up (「那元戎启行呢？」 → 元戎启行), else None."""
    m = _ELLIPSIS.match(question.strip())
    if m is None:
        return None
    subject = next(g for g in m.group("subject", "en", "en2") if g)
    if (
        len(subject) > 20
        or _NOT_A_SUBJECT.search(subject)
        or _ANAPHORA.fullmatch(subject)
        or subject in "你我您咱"
        or subject.lower() in ("it", "this", "that", "them", "they", "he", "she", "you")
    ):
        return None  # 「这是什么呢？」「为什么呢？」「它呢？」 are questions of their own
    return subject


def resolve_followup(question: str, history: list[str], known: Callable[[str], bool]) -> str:
    """``question`` completed from ``history`` (oldest first): an elliptical question becomes the latest full
    earlier question with its topic replaced by the new subject; a pronoun becomes the latest earlier topic."""
    subject = ellipsis_subject(question)
    if subject is not None:
        for earlier in reversed(history):
            if ellipsis_subject(earlier) is not None:
                continue  # itself a follow-up: the full question is further back
            when = _TIME.search(earlier)
            if _TIME.fullmatch(subject):  # 「那2023年呢？」 changes the time, not the subject
                return earlier.replace(when.group(), subject, 1) if when else question
            old = topic(earlier, known)
            if old and old != subject:
                return earlier.replace(old, subject, 1)
        return question
    m = _ANAPHORA.search(question)
    if not m:
        return question
    for earlier in reversed(history):
        subject = topic(earlier, known)
        if subject:
            return question[: m.start()] + subject + question[m.end() :]
    return question
