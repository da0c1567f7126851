"""The optional transformer reader, offline, with a tiny randomly initialised model built here."""

import pytest
from test_engine import check_invariants

from qa import QA


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, engine):
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny-qa")
    chars = sorted({ch for d in engine.documents for ch in d.text if not ch.isspace()})
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]), encoding="utf-8")
    tok = BertTokenizerFast(str(path / "vocab.txt"), tokenize_chinese_chars=True)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertForQuestionAnswering(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_transformer_reader_answers_verbatim(tiny_model, seed_index, seed_rows, monkeypatch):
    from qa.config import Settings
    from qa.reading.transformer import TransformerReader

    monkeypatch.setenv("QA_READER", str(tiny_model))
    monkeypatch.setenv("QA_READER_THRESHOLD", "0")
    engine = QA.load(seed_index)  # the settings from the environment
    assert isinstance(engine.reader, TransformerReader) and engine.threshold == 0
    assert engine.settings == Settings.from_env()
    answered = 0
    for row in seed_rows[:8]:
        a = engine.ask(row["question"])
        check_invariants(engine, a)  # a random model is wrong, but its answers are still verbatim and cited
        answered += a.answerable
    assert answered == 8
