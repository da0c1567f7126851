"""The command line, run as a real subprocess."""

import json
import os
import subprocess
import sys

from conftest import ROOT, SEEDS


def run(*args, index):
    env = dict(os.environ, HF_HUB_OFFLINE="1", QA_INDEX=str(index), QA_SEEDS=str(SEEDS))
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_ask_text_and_json(seed_index):
    out = run("ask", "元戎启行已交付多少辆量产车？", index=seed_index)
    assert out.returncode == 0, out.stderr
    assert "20万辆" in out.stdout and "[1]" in out.stdout and "深圳AI竞速全球“智”造高地" in out.stdout
    out = run("ask", "--json", "星尘智能的联合创始人是谁？", index=seed_index)
    d = json.loads(out.stdout)
    assert d["answer"] == "方科" and d["citations"][0]["quote"] == "方科"


def test_abstention_text(seed_index):
    out = run("ask", "晶泰科技的股票代码是多少？", index=seed_index)
    assert out.returncode == 0 and "未找到" in out.stdout


def test_empty_question_exit_code_2(seed_index):
    out = run("ask", "   ", index=seed_index)
    assert out.returncode == 2 and "question is empty" in out.stderr and "Traceback" not in out.stderr


def test_build_and_missing_seeds(tmp_path):
    out = run("build", index=tmp_path / "idx")
    assert out.returncode == 0, out.stderr
    assert "indexed 4 articles" in out.stdout
    out = run("--seeds", str(tmp_path / "missing"), "ask", "深圳", index=tmp_path / "idx2")
    assert out.returncode == 1 and "does not exist" in out.stderr


def test_a_cold_answer_imports_torch_only_when_the_reader_runs(seed_index):
    """The feature ranker's sure answers need neither torch nor LightGBM nor SciPy (cold start: bench/cold.py)."""
    script = (
        "import sys; from qa import QA; e = QA.load(sys.argv[1]); a = e.ask('星尘智能交付了多少台？'); "
        "print(a.answerable, *(m in sys.modules for m in ('torch', 'lightgbm', 'scipy', 'sentence_transformers'))); "
        "e.ask('How many units has Stardust Intelligence delivered?'); print('torch' in sys.modules)"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", script, str(seed_index)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()
    assert out == ["True", "False", "False", "False", "False", "True"]
