"""Text helpers: the length-preserving normalisation that lets Traditional Chinese be read like Simplified."""

from hypothesis import given
from hypothesis import strategies as st

from qa.text import is_english, normalize, sentence_spans, terms


def test_traditional_folds_to_simplified():
    assert (
        normalize("小艾伯特·高爾擔任美國副總統的時候誰擔任美國總統?")
        == "小艾伯特·高尔担任美国副总统的时候谁担任美国总统?"
    )
    assert normalize("甚麼時候") == "什么时候"
    assert terms("臺灣的經濟發展") == terms("台湾的经济发展")


def test_simplified_and_other_scripts_are_unchanged():
    text = "2024年深圳人工智能产业规模突破3600亿元，著名企业有20个。"
    assert normalize(text) == text.replace("，", ",")
    assert normalize("ＡＢＣ１２３") == "abc123"  # full width → half width, lower case


def test_a_question_is_english_when_latin_words_outnumber_chinese_characters():
    assert is_english("How large was Shenzhen's AI industry in 2024?")
    assert is_english("What did 深圳 announce in 2024?")
    assert not is_english("MasterAgent是哪家公司发布的？")
    assert not is_english("Sky Movies和Sky Box office也包含什么可选音轨？")
    assert not is_english("2024年深圳人工智能产业规模是多少？")
    assert not is_english("") and not is_english("2024?")


@given(st.text(max_size=200))
def test_normalize_keeps_every_offset(text):
    folded = normalize(text)
    assert len(folded) == len(text)
    for a, b in sentence_spans(text):
        assert 0 <= a <= b <= len(text)
