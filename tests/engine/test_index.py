"""Index round trip, staleness, model mismatch and damaged files, on a real FAISS index and model."""

import json
import logging

import numpy as np
import pytest
from conftest import SEEDS

from qa import QA, IndexCorrupt, ModelError
from qa import index as store


def test_round_trip(seed_index, engine):
    again = QA.load(seed_index)
    assert [c.text for c in again.store.chunks] == [c.text for c in engine.store.chunks]
    assert np.array_equal(again.store.vectors, engine.store.vectors)
    assert again.store.faiss_index.ntotal == len(engine.store.chunks)
    m = store.read_manifest(seed_index)
    assert m["model"]["name"] == "e5-small" and m["tiktoken_encoding"] == "cl100k_base"
    assert m["source"] == {"kind": "folder", "path": str(SEEDS.resolve())}
    assert m["chunker"] == {"encoding": "cl100k_base", "max_tokens": 192, "overlap": 32}
    assert set(m["files"]) == set(store.FILES)
    assert not list(seed_index.glob("**/*.pkl")) and not list(seed_index.glob("**/*.pickle"))
    a, b = again.ask("2024年深圳人工智能产业规模是多少？"), engine.ask("2024年深圳人工智能产业规模是多少？")
    assert a.to_dict() == b.to_dict()


def test_bm25_is_saved_with_the_index_and_equals_a_fresh_one(seed_index, engine):
    from qa.lexical import BM25

    loaded = QA.load(seed_index).store.lexical
    fresh = BM25.fit([c.text for c in engine.store.chunks])
    assert loaded.vocab == fresh.vocab and loaded.n_docs == len(engine.store.chunks)
    for q in ("2024年深圳人工智能产业规模是多少？", "星尘智能", "unknown-term-xyz"):
        assert np.array_equal(loaded.scores(q), fresh.scores(q))
    assert loaded.scores("星尘智能").max() > 0


def test_an_index_of_format_1_without_saved_bm25_still_loads(tmp_path, seed_index, engine):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(seed_index, old)
    version = store.current_version(old)
    (version / "lexical.npz").unlink()
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    del manifest["files"]["lexical.npz"]
    (version / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    again = QA.load(old)
    q = "2024年深圳人工智能产业规模是多少？"
    assert np.array_equal(again.store.lexical.scores(q), engine.store.lexical.scores(q))
    assert again.ask(q).to_dict() == engine.ask(q).to_dict()


def test_changed_article_rebuilds_only_that_article(tmp_path, seeds_copy):
    index_dir = tmp_path / "idx"
    first = QA.open(seeds_copy, index_dir)
    n_before = len(first.store.chunks)
    assert first.store.manifest["reembedded_chunks"] == n_before
    page = next(seeds_copy.iterdir())
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("共设置9大主题展区", "共设置12大主题展区"), encoding="utf-8")
    second = QA.open(seeds_copy, index_dir)
    changed = [c for c in second.store.chunks if c.doc_id.endswith("#3")]
    assert second.store.manifest["reembedded_chunks"] == len(changed) < n_before
    asked = second.ask("国际电子电路展览会共设置了几大主题展区？")
    assert any("12大" in p.chunk.text for p in asked.passages)  # the changed article is what is searched now
    third = QA.open(seeds_copy, index_dir)  # nothing changed: loaded, not rebuilt
    assert third.store.manifest["built_at"] == second.store.manifest["built_at"]
    assert len(list(index_dir.glob("v-*"))) == 2, "only the current and the previous version are kept"


def test_other_model_is_a_clear_error(seed_index):
    with pytest.raises(ModelError, match="built with model 'e5-small'"):
        QA.load(seed_index, model="minilm")


def test_an_index_keeps_its_own_model_when_none_is_asked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("QA_MODEL", raising=False)
    QA.build(SEEDS, tmp_path / "idx", model="zh-static")
    again = QA.open(SEEDS, tmp_path / "idx")  # the default is e5-small, but this index is zh-static's
    assert again.embedder.name == "zh-static" and again.store.manifest["reembedded_chunks"] > 0


def _flip_probe(index_dir):
    """Pretend the index was built by other weights under the same model name (its probe vector negated)."""
    version = store.current_version(index_dir)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["model"]["probe"] = list(-np.asarray(manifest["model"]["probe"]))
    (version / "manifest.json").write_text(json.dumps(manifest))
    return version


def test_same_name_other_weights_detected(tmp_path, seed_index):
    """A manifest whose probe vector disagrees with the model (other weights under the name) is refused."""
    import shutil

    copy = tmp_path / "idx"
    shutil.copytree(seed_index, copy)
    _flip_probe(copy)
    with pytest.raises(ModelError, match="different vectors"):
        QA.load(copy)


@pytest.mark.parametrize("name", store.FILES)
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_files_are_detected(tmp_path, seed_index, name, damage):
    import shutil

    copy = tmp_path / "idx"
    shutil.copytree(seed_index, copy)
    path = store.current_version(copy) / name
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="truncated or corrupted"):
        QA.load(copy)


def test_damaged_index_is_rebuilt_by_open(tmp_path, seeds_copy, caplog):
    index_dir = tmp_path / "idx"
    QA.open(seeds_copy, index_dir)
    (store.current_version(index_dir) / "vectors.faiss").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        engine = QA.open(seeds_copy, index_dir)
    assert "corrupted" in caplog.text
    assert engine.ask("元戎启行哪一年率先推出“无图”方案？").answer == "2022年"


def test_missing_and_damaged_pointer(tmp_path):
    with pytest.raises(IndexCorrupt, match="no index"):
        QA.load(tmp_path)
    (tmp_path / "CURRENT").write_text("../../etc")
    with pytest.raises(IndexCorrupt, match="damaged"):
        QA.load(tmp_path)


def test_failed_build_keeps_previous_index(tmp_path, seeds_copy, monkeypatch):
    """A build that dies while writing leaves the previous complete version in place."""
    index_dir = tmp_path / "idx"
    QA.open(seeds_copy, index_dir)
    before = store.current_version(index_dir)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(store.faiss, "write_index", boom)
    with pytest.raises(OSError):
        QA.build(seeds_copy, index_dir)
    monkeypatch.undo()
    assert store.current_version(index_dir) == before
    assert not list(index_dir.glob(".tmp-*"))
    assert QA.load(index_dir).ask("2024年深圳人工智能产业规模是多少？").answerable


def test_open_rebuilds_when_the_named_model_has_new_weights(tmp_path, seeds_copy, caplog):
    """After an upgrade of the bundled model, the self-managed index is rebuilt instead of refused."""
    index_dir = tmp_path / "idx"
    QA.open(seeds_copy, index_dir)
    version = _flip_probe(index_dir)
    with pytest.raises(ModelError):
        QA.load(index_dir)
    with caplog.at_level(logging.WARNING):
        engine = QA.open(seeds_copy, index_dir)
    assert "rebuilding" in caplog.text and store.current_version(index_dir) != version
    assert engine.ask("元戎启行哪一年率先推出“无图”方案？").answer == "2022年"
