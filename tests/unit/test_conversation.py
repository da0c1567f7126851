"""Follow-up questions: pronouns and elliptical questions completed from the earlier ones."""

import pytest
from conftest import SEEDS

from qa.conversation import ellipsis_subject, resolve_followup

TEXT = "".join(p.read_text(encoding="utf-8") for p in SEEDS.iterdir() if p.is_file())


def known(piece: str) -> bool:
    return piece in TEXT


@pytest.mark.parametrize(
    "question,history,expected",
    [
        ("那元戎启行呢？", ["星尘智能交付了多少台？"], "元戎启行交付了多少台？"),
        ("元戎启行呢", ["星尘智能交付了多少台？"], "元戎启行交付了多少台？"),
        ("还有优必选呢？", ["星尘智能交付了多少台？"], "优必选交付了多少台？"),
        # a chain of follow-ups keeps the full question it started from
        ("那优必选呢？", ["星尘智能交付了多少台？", "那元戎启行呢？"], "优必选交付了多少台？"),
        ("它哪一年推出无图方案？", ["星尘智能交付了多少台？", "那元戎启行呢？"], "元戎启行哪一年推出无图方案？"),
        ("那2023年呢？", ["2024年深圳人工智能产业规模是多少？"], "2023年深圳人工智能产业规模是多少？"),
        ("What about UBTech?", ["星尘智能交付了多少台？"], "UBTech交付了多少台？"),
        # questions of their own are left alone
        ("这是什么呢？", ["星尘智能交付了多少台？"], "这是什么呢？"),
        ("为什么呢？", ["星尘智能交付了多少台？"], "为什么呢？"),
        ("What about it?", ["星尘智能交付了多少台？"], "What about it?"),
        ("元戎启行交付了多少辆车？", ["星尘智能交付了多少台？"], "元戎启行交付了多少辆车？"),
        ("那元戎启行呢？", [], "那元戎启行呢？"),
    ],
)
def test_followups_are_completed_from_the_earlier_questions(question, history, expected):
    assert resolve_followup(question, history, known) == expected


def test_ellipsis_subject():
    assert ellipsis_subject("那元戎启行呢？") == "元戎启行"
    assert ellipsis_subject("And Deeproute?") == "Deeproute"
    assert ellipsis_subject("元戎启行交付了多少辆车？") is None
    assert ellipsis_subject("它呢？") is None
