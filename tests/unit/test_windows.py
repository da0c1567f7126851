"""Reader windows and span decoding on fixed inputs (no model): every context token covered, spans kept inside."""

from __future__ import annotations

import numpy as np

from qa.reading.windows import BOS, EOS, anchor_window, best_span, tidy, windows


def test_windows_cover_every_context_token_with_the_question_in_front():
    q = [10, 11, 12]
    c_ids = list(range(100, 400))
    offsets = [(i, i + 1) for i in range(len(c_ids))]
    ws = windows(q, c_ids, offsets, max_len=64, overlap=16)
    assert len(ws) > 1
    seen = set()
    for w in ws:
        assert len(w.ids) <= 64 and w.ids[: w.first] == [BOS, *q, EOS, EOS] and w.ids[-1] == EOS
        seen.update(w.ids[i] for i in w.context_slots)
    assert seen == set(c_ids)


def test_the_anchor_window_is_the_one_holding_most_of_the_anchor():
    c_ids = list(range(100, 400))
    ws = windows([10], c_ids, [(i, i + 1) for i in range(len(c_ids))], max_len=64, overlap=16)
    starts = [w.offsets[w.first][0] for w in ws]
    assert anchor_window(ws, 0, 10) == 0
    # characters past the first window's end: the window that holds all of them
    k = anchor_window(ws, starts[2] + 30, starts[2] + 40)
    assert ws[k].offsets[ws[k].first][0] <= starts[2] + 30 and ws[k].offsets[-2][1] >= starts[2] + 40
    # held by two overlapping windows alike: the first of them
    a = starts[1]
    assert anchor_window(ws, a, a + 5) == 0 and anchor_window(ws, len(c_ids) - 3, len(c_ids)) == len(ws) - 1


def test_best_span_keeps_within_the_context_and_the_length_cap():
    q, c_ids = [10], list(range(100, 120))
    w = windows(q, c_ids, [(2 * i, 2 * i + 2) for i in range(len(c_ids))])[0]
    start, end = np.full(len(w.ids), -9.0), np.full(len(w.ids), -9.0)
    start[w.first + 3], end[w.first + 12] = 0.0, 0.0  # the model points at context tokens 3..12
    end[1] = 5.0  # a question position may score high: it is never part of a span
    score, a, b, _ = best_span(start, end, w, max_answer_tokens=40)
    assert (a, b) == (6, 26) and score == 0.0
    _, a, b, _ = best_span(start, end, w, max_answer_tokens=4)
    assert b - a <= 10  # at most 5 tokens of 2 characters


def test_tidy_drops_outer_whitespace_and_a_trailing_de():
    text = " 一幅174米长的 AI画卷，目的 "
    a = text.index("174")
    assert text[slice(*tidy(text, a, text.index(" AI") + 1))] == "174米长"
    assert text[slice(*tidy(text, 0, 4))] == "一幅1"
    two = text.index("目的")
    assert text[slice(*tidy(text, two, two + 2))] == "目的"  # two characters: a word, kept whole


def test_tidy_drops_trailing_punctuation_and_unpaired_quotes_but_keeps_pairs():
    def tidied(text: str) -> str:
        return text[slice(*tidy(text, 0, len(text)))]

    assert tidied("20万辆搭载城市NOA(领航辅助驾驶)的量产车型。") == "20万辆搭载城市NOA(领航辅助驾驶)的量产车型"
    assert (
        tidied("2小时内即可获取最新耗材和套件，助力产品快速迭代。” ")
        == "2小时内即可获取最新耗材和套件，助力产品快速迭代"
    )
    assert tidied("《理想國") == "理想國" and tidied("《理想國》") == "《理想國》"
    assert tidied("“训力券”“语料券”") == "“训力券”“语料券”"
    assert tidied("金德里德医疗保健和PharMerica)。") == "金德里德医疗保健和PharMerica"
    assert tidied("亦是安部自身的经验所写成的。") == "亦是安部自身的经验所写成的"  # a clause's 的 stays
    assert tidied("。") == "。"  # never emptied
    text = "目前已交付20万辆，"
    a = text.index("20")
    assert text[slice(*tidy(text, a, len(text)))] == "20万辆"  # offsets into the whole text
