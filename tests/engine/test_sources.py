"""An index knows its articles: never silently rebuilt from another folder; in-memory documents index."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, SEEDS

from qa import QA, Document, Section
from qa.articles import ArticleError
from qa.engine import IndexSourceError


def cli(*args, env_extra=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("QA_SEEDS", None)
    env.pop("QA_INDEX", None)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture()
def big(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "a.md").write_text(
        "# 星河公司简介\n\n星河公司总部位于杭州，成立于2019年，主营卫星通信设备。", encoding="utf-8"
    )
    return folder


def test_ask_without_seeds_uses_the_index_s_own_articles(big, tmp_path):
    idx = tmp_path / "big_idx"
    out = cli("build", "--seeds", str(big), "--index", str(idx))  # options after the subcommand
    assert out.returncode == 0, out.stderr
    assert "Batches" not in out.stderr  # no progress-bar noise off a terminal
    out = cli("--index", str(idx), "ask", "--json", "星河公司总部位于哪里？")
    assert out.returncode == 0, out.stderr
    assert '"answer": "杭州"' in out.stdout
    assert cli("ask", "--index", str(idx), "星河公司成立于哪一年？").returncode == 0


def test_an_index_is_never_rebuilt_from_another_folder(big, tmp_path):
    idx = tmp_path / "big_idx"
    QA.build(big, idx)
    built = sorted(p.name for p in idx.iterdir())
    with pytest.raises(IndexSourceError, match="was built from .*big.*--force"):
        QA.open(SEEDS, idx)
    out = cli("--seeds", str(SEEDS), "--index", str(idx), "ask", "深圳人工智能产业规模是多少？")
    assert out.returncode == 1 and "was built from" in out.stderr and "--force" in out.stderr
    out = cli("build", "--seeds", str(SEEDS), "--index", str(idx))
    assert out.returncode == 1 and "--force" in out.stderr
    assert sorted(p.name for p in idx.iterdir()) == built  # untouched
    out = cli("build", "--seeds", str(SEEDS), "--index", str(idx), "--force")
    assert out.returncode == 0 and "indexed 4 articles" in out.stdout


def test_changed_articles_still_update_their_own_index(big, tmp_path):
    idx = tmp_path / "big_idx"
    QA.build(big, idx)
    (big / "b.md").write_text("# 月光公司\n\n月光公司总部位于成都，成立于2021年。", encoding="utf-8")
    engine = QA.open(None, idx)
    assert len(engine.documents) == 2


def test_documents_without_sections_are_indexed():
    engine = QA.build([Document("d1", "星河公司", "星河公司总部位于杭州，成立于2019年。")])
    assert len(engine.store.chunks) == 1
    a = engine.ask("星河公司总部位于哪里？")
    assert a.answerable and a.answer == "杭州"


def test_articles_that_give_no_chunks_are_an_error():
    with pytest.raises(ArticleError, match="no chunks"):
        QA.build([Document("d1", "t", "正文。", (Section("", 0, 0),))])  # an empty section over non-empty text
