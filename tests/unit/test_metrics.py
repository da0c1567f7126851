"""The CMRC 2018 metric on hand-worked examples."""

import pytest

from qa.eval.metrics import cmrc_tokens, exact_match, f1_score, mrr_at, recall_at


def test_tokens():
    assert cmrc_tokens("深圳AI 2024年，Hello!") == ["深", "圳", "ai", "2024", "年", "hello", "!"]


@pytest.mark.parametrize(
    "pred,golds,em,f1",
    [
        ("3600亿元", ["3600亿元"], 1, 1.0),
        ("突破3600亿元", ["3600亿元"], 0, 0.75),  # tokens 突 破 3600 亿 元 vs 3600 亿 元: P=3/5, R=1
        ("《通知》", ["通知"], 1, 1.0),  # punctuation removed
        ("", ["方科"], 0, 0.0),  # abstaining scores 0
        ("方科", ["王子森", "方科"], 1, 1.0),  # best gold counts
        ("深圳市 财政局", ["深圳市财政局"], 0, 1.0),
        ("ABC公司", ["abc公司"], 1, 1.0),  # lower-cased
        ("甲乙丙丁", ["乙丙x丁"], 0, 2 * (2 / 4) * (2 / 4) / 1.0),  # contiguous run 乙丙 only: P=2/4, R=2/4
    ],
)
def test_hand_worked_examples(pred, golds, em, f1):
    assert exact_match(pred, golds) == em
    assert f1_score(pred, golds) == pytest.approx(f1)


def test_rank_metrics_count_only_ranks_within_k():
    ranks = [1, 3, None, 12]
    assert recall_at(ranks, 1) == 0.25 and recall_at(ranks, 5) == 0.5 and recall_at([], 5) == 0.0
    assert mrr_at(ranks, 10) == pytest.approx((1 + 1 / 3) / 4) and mrr_at([], 10) == 0.0
