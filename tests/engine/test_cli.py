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


def test_a_cold_answer_loads_only_what_its_reader_needs(seed_index):
    """The default answer loads torch for the reader, never the ranker's LightGBM, SciPy, jieba or
    sentence-transformers; the feature ranker alone needs no torch (cold start: bench/cold.py)."""
    script = (
        "import sys; from qa import QA, Settings; e = QA.load(sys.argv[1], settings=Settings(reader=sys.argv[2])); "
        "a = e.ask('星尘智能交付了多少台？'); "
        "heavy = ('torch', 'lightgbm', 'scipy', 'jieba', 'sentence_transformers'); "
        "print(a.answerable, *(m in sys.modules for m in heavy))"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")

    def loaded(reader: str) -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", script, str(seed_index), reader],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.split()

    assert loaded("e5") == ["True", "True", "False", "False", "False", "False"]
    assert loaded("ranker")[:2] == ["True", "False"]
