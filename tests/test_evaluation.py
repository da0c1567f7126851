"""The CMRC 2018 metric on hand-worked examples, and the eval command end to end."""

import json
import subprocess
import sys

import pytest
from conftest import DATA, ROOT

from qa.eval.metrics import cmrc_tokens, exact_match, f1_score


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


def test_eval_command_on_squad_and_jsonl(tmp_path, seed_index, monkeypatch):
    preds, report = tmp_path / "preds.json", tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "qa",
        "eval",
        str(DATA / "cmrc2018_dev.json"),
        "--limit",
        "20",
        "--split",
        "heldout",
        "--drop-gold",
        "--predictions-out",
        str(preds),
        "--report",
        str(report),
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "recall@5" in out.stdout and "reader_f1" in out.stdout and "gold_removed_abstain_recall" in out.stdout
    p = json.loads(preds.read_text())
    assert len(p) == 20 and all(isinstance(v, str) for v in p.values())
    m = json.loads(report.read_text())["metrics"]
    assert m["questions"] == 20 and 0 <= m["f1"] <= 100 and m["recall@5"] > 0.5
    # Without the gold paragraph the engine should mostly abstain, and far more often than with it.
    assert m["gold_removed_questions"] >= 10
    assert m["gold_removed_abstain_recall"] >= 0.5 and m["gold_removed_abstain_precision"] >= 0.6, m
    env_cmd = [
        sys.executable,
        "-m",
        "qa",
        "--index",
        str(seed_index),
        "eval",
        str(DATA / "seed_qa_dev.jsonl"),
        "--report",
        str(report),
    ]
    out = subprocess.run(env_cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    m = json.loads(report.read_text())["metrics"]
    assert m["recall@5"] >= 0.95 and "abstain_recall" in m


def test_crosslingual_eval_runs(tmp_path):
    report = tmp_path / "r.json"
    cmd = [
        sys.executable,
        "-m",
        "qa",
        "eval",
        str(DATA / "xquad.en.json"),
        "--contexts",
        str(DATA / "xquad.zh.json"),
        "--limit",
        "30",
        "--report",
        str(report),
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads(report.read_text())
    assert r["metrics"]["questions"] == 30 and "xquad.en.json over" in r["setting"]
