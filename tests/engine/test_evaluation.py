"""The eval command end to end."""

import json
import subprocess
import sys

from conftest import DATA, ROOT


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
