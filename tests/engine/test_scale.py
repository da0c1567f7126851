"""Past one machine: Milvus (Lite, embedded) as the chunk store and Ray Data for ingest, through the same ``ask()``.

Real components: pymilvus with Milvus Lite, and a local Ray cluster started by the build."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, SEEDS
from test_engine import check_invariants

from qa import QA, ModelError, Settings
from qa.milvus import StoreError, StoreSpec, connect

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def milvus_db(tmp_path_factory):
    return tmp_path_factory.mktemp("milvus") / "chunks.db"


@pytest.fixture(scope="module")
def milvus_index(tmp_path_factory, milvus_db):
    """The seed articles, indexed into Milvus Lite from a copy of the seed folder."""
    seeds = tmp_path_factory.mktemp("articles") / "seeds"
    shutil.copytree(SEEDS, seeds)
    index = tmp_path_factory.mktemp("milvus-index")
    settings = Settings.from_env().with_(store=f"milvus:{milvus_db}")
    return QA.build(seeds, index, settings=settings), seeds, index, settings


def test_store_uris_are_parsed_and_bad_ones_refused():
    assert StoreSpec.parse(None) == StoreSpec("local") == StoreSpec.parse("local")
    assert StoreSpec.parse("milvus:./m.db") == StoreSpec("milvus", "./m.db")
    assert StoreSpec.parse("milvus://db.example:19530") == StoreSpec("milvus", "http://db.example:19530")
    for bad in ("milvus:./m.sqlite", "qdrant://x"):
        with pytest.raises(ValueError):
            StoreSpec.parse(bad)


def test_seed_questions_get_the_same_answers_through_milvus(milvus_index, seed_index, seed_rows):
    engine = milvus_index[0]
    local = QA.load(seed_index)
    assert engine.store.remote is not None and engine.store.manifest["store"]["kind"] == "milvus"
    for row in seed_rows:
        a, b = local.ask(row["question"]), engine.ask(row["question"])
        check_invariants(engine, b)  # every citation is document.text[start:end] == quote
        assert (b.answer, b.answerable) == (a.answer, a.answerable), row["question"]


def test_both_stores_implement_the_chunk_store_and_agree(milvus_index, seed_index, seed_rows):
    from qa.index import ChunkStore, LocalChunks

    local, remote = QA.load(seed_index).store, milvus_index[0].store
    assert isinstance(local.chunk_store, LocalChunks) and remote.chunk_store is remote.remote
    assert all(
        callable(getattr(s, m))
        for s in (local.chunk_store, remote.chunk_store)
        for m in ChunkStore.__dict__
        if m[0] != "_"
    )
    embedder = milvus_index[0].embedder
    for row in seed_rows[:10]:
        q = row["question"]
        qvec = embedder.encode_queries([q])[0]
        (li, ls), (ri, rs) = local.chunk_store.dense_search(qvec, 5), remote.chunk_store.dense_search(qvec, 5)
        assert list(li) == list(ri) and np.allclose(ls, rs, atol=1e-4), q  # exact search in both
        (lt, _), (rt, rscores) = local.chunk_store.lexical_search(q, 5), remote.chunk_store.lexical_search(q, 5)
        assert set(lt) & set(rt) and (np.diff(rscores) <= 1e-6).all(), (
            q
        )  # other tokenisers, same passages among the top
    rows = remote.chunk_store.get([0, 1])
    assert [(r["id"], r["text"]) for r in rows] == [(c.chunk_id, c.text) for c in local.chunks[:2]]


def test_deleting_an_article_removes_its_chunks_and_adding_them_back_restores_the_search(milvus_index):
    store = milvus_index[0].store
    doc_id = store.chunks[0].doc_id
    own = [c for c in store.chunks if c.doc_id == doc_id]
    qvec = np.asarray(store.vectors[own[0].chunk_id])
    assert store.remote.dense_search(qvec, 1)[0][0] == own[0].chunk_id
    assert store.remote.delete(doc_id) == len(own)
    assert own[0].chunk_id not in set(store.remote.dense_search(qvec, 5)[0])
    store.remote.add(own, np.asarray(store.vectors[[c.chunk_id for c in own]]))
    assert store.remote.dense_search(qvec, 1)[0][0] == own[0].chunk_id


def test_both_fusions_find_the_answer_passage(milvus_index):
    from qa.retrieval import Retriever

    engine = milvus_index[0]
    question = "退休后享受职工医保待遇，职工医保累计缴费年限要满多少年？"
    for fusion in ("z", "rrf"):
        passages = Retriever(engine.store, engine.embedder, "hybrid", fusion=fusion).retrieve(question, 5)
        assert len(passages) == 5 and any("25年" in p.chunk.text for p in passages[:2]), fusion
        assert [p.rank for p in passages] == [1, 2, 3, 4, 5]


def test_reopening_uses_the_index_own_store_and_the_alias_names_its_collection(milvus_index):
    _, _, index, settings = milvus_index
    again = QA.open(None, index, settings=Settings.from_env())  # no store configured: the index's own
    where = again.store.manifest["store"]
    assert again.store.remote is not None and where["uri"] == settings.store.removeprefix("milvus:")
    client = connect(where["uri"])
    assert where["alias"] in client.list_aliases(where["collection"])["aliases"]
    assert again.ask("2024年深圳人工智能产业规模是多少？").answer == "3600亿元"


def test_a_changed_article_writes_a_new_collection_and_drops_the_older(milvus_index, tmp_path):
    engine, seeds, index, settings = milvus_index
    first = engine.store.manifest["store"]["collection"]
    article = next(p for p in sorted(seeds.iterdir()) if p.is_file())
    article.write_text(
        article.read_text(encoding="utf-8") + "\n\n## 补充\n\n月光公司总部位于成都。\n", encoding="utf-8"
    )
    updated = QA.open(None, index, settings=Settings.from_env())
    where = updated.store.manifest["store"]
    assert where["collection"] != first and updated.store.manifest["reembedded_chunks"] < len(updated.store.chunks)
    assert updated.ask("月光公司总部位于哪里？").answer == "成都"
    newest = QA.open(None, index, settings=Settings.from_env())  # unchanged: loaded, not rebuilt
    assert newest.store.manifest["store"]["collection"] == where["collection"]
    names = connect(where["uri"]).list_collections()
    assert where["collection"] in names and len([n for n in names if n.startswith(where["alias"] + "_")]) <= 2


def test_an_unreachable_store_is_a_clear_error_naming_it(tmp_path):
    settings = Settings.from_env().with_(store="milvus://127.0.0.1:9")
    t = time.perf_counter()
    with pytest.raises(StoreError, match=r"cannot reach the Milvus store at http://127\.0\.0\.1:9"):
        QA.build(SEEDS, tmp_path / "idx", settings=settings)
    assert time.perf_counter() - t < 60
    assert not (tmp_path / "idx" / "CURRENT").exists(), "nothing was made current"


def test_a_store_built_with_another_model_is_the_same_error_as_a_local_index(milvus_index):
    index = milvus_index[2]
    with pytest.raises(ModelError, match="was built with model 'e5-small', not 'zh-static'"):
        QA.load(index, model="zh-static")


def test_a_local_index_moves_to_milvus_by_setting_the_store_without_reembedding(tmp_path, milvus_db, seed_index):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    moved = QA.open(None, index, settings=Settings.from_env().with_(store=f"milvus:{tmp_path / 'other.db'}"))
    assert moved.store.remote is not None and moved.store.manifest["reembedded_chunks"] == 0
    assert (
        moved.ask("星尘智能的联合创始人是谁？").answer == QA.load(seed_index).ask("星尘智能的联合创始人是谁？").answer
    )


# ----- Ray ------------------------------------------------------------------------------------------------
ray = pytest.importorskip("ray")


def _cli(*args, env=None, **kw):
    env = dict(os.environ, HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, **kw)


def test_a_ray_build_equals_a_single_process_build(tmp_path, seed_index, seed_rows):
    db = tmp_path / "ray.db"
    out = _cli(
        "build", "--ray", "--workers", "2", "--batch-size", "3", "--seeds", str(SEEDS),
        "--index", str(tmp_path / "idx"), "--store", f"milvus:{db}",
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "indexed" in out.stdout and "Running Dataset" in out.stderr, "Ray Data's progress is shown"
    single, distributed = QA.load(seed_index), QA.load(tmp_path / "idx")
    assert distributed.store.chunks == single.store.chunks
    assert list(distributed.store.documents.values()) == list(single.store.documents.values())
    # Up to float tolerance: the e5 passage encoder runs in bf16, and other batches pad differently.
    cosines = np.sum(np.asarray(distributed.store.vectors) * single.store.vectors, axis=1)
    assert cosines.min() > 0.9995 and np.abs(distributed.store.vectors - single.store.vectors).max() < 1e-2
    for row in seed_rows:
        assert distributed.ask(row["question"]).answer == single.ask(row["question"]).answer, row["question"]


def test_killing_a_ray_build_keeps_the_old_collection_answering(milvus_index, tmp_path):
    engine, seeds, index, settings = milvus_index
    before = QA.open(None, index, settings=Settings.from_env())
    serving = before.store.manifest["store"]["collection"]
    answer = before.ask("2024年深圳人工智能产业规模是多少？").answer
    from milvus_lite import server_manager_instance

    # A Milvus Lite file is open in one process at a time: this one lets go of it for the build's.
    server_manager_instance.release_server(settings.store.removeprefix("milvus:"))
    bigger = tmp_path / "bigger"
    shutil.copytree(seeds, bigger)
    for i in range(40):  # enough work that the build is still embedding when it is killed
        (bigger / f"extra-{i}.md").write_text(f"# 附加{i}\n\n" + "深圳新闻补充段落。" * 200, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "build", "--ray", "--workers", "1", "--batch-size", "1", "--force",
         "--seeds", str(bigger), "--index", str(index), "--store", settings.store],
        cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"), stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 300
        for line in proc.stderr:
            if "MapBatches" in line or time.time() > deadline:
                break
        time.sleep(2)
        assert proc.poll() is None, "the build was still running when killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    after = QA.open(None, index, settings=Settings.from_env())
    assert after.store.manifest["store"]["collection"] == serving
    assert after.ask("2024年深圳人工智能产业规模是多少？").answer == answer
    assert len(after.store.documents) == len(before.store.documents)
