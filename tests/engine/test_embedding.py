"""The bundled model and the model presets, with real sentence-transformers models."""

import numpy as np
import pytest

from qa.embedding import PRESETS, Embedder, ModelError, resolve


@pytest.fixture(scope="module")
def zh():
    return Embedder(resolve("zh-static"))


def test_default_is_the_bundled_offline_model():
    from qa.config import Settings

    assert resolve(None).name == "e5-small"
    assert resolve(Settings.from_env({"QA_MODEL": "minilm"}).model).name == "minilm"


def test_bundled_model_understands_chinese(zh):
    q = zh.encode_queries(["深圳人工智能产业有多大？"])[0]
    docs = zh.encode_passages(["2024年，深圳人工智能产业规模突破3600亿元。", "补缴后中断期间的医保待遇可追溯享受。"])
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert q @ docs[0] > q @ docs[1]
    assert zh.max_seq_length is None and zh.fits("很长" * 10000)


def test_presets_and_prefixes():
    assert PRESETS["bge-small-zh"].path == "BAAI/bge-small-zh-v1.5"
    assert PRESETS["bge-small-zh"].query_prefix.startswith("为这个句子")
    e5 = resolve("intfloat/multilingual-e5-base")
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")


def test_e5_small_is_bundled_and_crosslingual():
    e5 = Embedder(resolve("e5-small"))
    assert e5.native is not None and e5.max_seq_length == 512 and not e5.fits("深圳" * 2000)
    q = e5.encode_queries(["How large was Shenzhen's AI industry in 2024?"])[0]
    docs = e5.encode_passages(["2024年，深圳人工智能产业规模突破3600亿元。", "补缴后中断期间的医保待遇可追溯享受。"])
    assert q @ docs[0] > q @ docs[1]


def test_static_model_is_encoded_without_sentence_transformers(zh):
    from sentence_transformers import SentenceTransformer

    texts = ["2024年深圳人工智能产业规模是多少？", "", "hello world 深圳"]
    reference = SentenceTransformer(PRESETS["zh-static"].path, device="cpu").encode(texts, normalize_embeddings=True)
    assert zh.native is not None and np.allclose(zh.encode_queries(texts), reference, atol=1e-6)


def test_minilm_checks_its_sequence_limit():
    m = Embedder(resolve("minilm"))
    assert m.max_seq_length and m.fits("短句") and not m.fits("word " * 2000)


def test_unavailable_model_is_a_clear_error():
    with pytest.raises(ModelError, match="cannot load embedding model"):
        Embedder(resolve("no-such-org/no-such-model"))


def test_e5_questions_in_numpy_equal_the_torch_encoder():
    """A few texts (questions, the probe) run through qa.bert in numpy; batches through torch: the same function."""
    import torch

    from qa.encoder import mean_pool

    e5 = Embedder(resolve("e5-small")).native
    texts = [
        "query: 星尘智能交付了多少台？",
        "query: How many units has Stardust delivered?",
        "passage: 今年6月，星尘智能攻克了绳驱量产难关，实现多个月批量稳定交付。",
    ]
    fast = e5.encode(texts)  # ≤ FEW texts: numpy
    e5._encode_torch(texts[:1], 1)  # loads the torch model
    ids, att = (torch.from_numpy(a) for a in e5._ids(texts))
    with torch.inference_mode():
        exact = mean_pool(e5.torch_model(ids, att), att).numpy()
    np.testing.assert_allclose(fast, exact, atol=1e-5)
    batch = e5.encode(texts * 3)  # > FEW: torch, in bfloat16 where the CPU has it (``auto``)
    assert float(np.min(np.sum(batch[:3] * fast, axis=1))) > 0.999
