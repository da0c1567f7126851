"""Follow-up questions: complete a question that leaves out its subject from the previous turns.

「元戎启行交付了多少辆车？」 then 「它哪一年推出无图方案？」: the pronoun is replaced by the
topic of the earlier question (the longest piece of it that the articles contain), so
retrieval and extraction see 「元戎启行哪一年推出无图方案？」. History is never concatenated
blindly: a question without a pronoun is used as it is.
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


def resolve_followup(question: str, history: list[str], known: Callable[[str], bool]) -> str:
    """``question`` with its first pronoun replaced by the topic of the latest earlier question that has one."""
    m = _ANAPHORA.search(question)
    if not m:
        return question
    for earlier in reversed(history):
        subject = topic(earlier, known)
        if subject:
            return question[: m.start()] + subject + question[m.end() :]
    return question
