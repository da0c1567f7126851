"""Train the bundled ``zh-static`` sentence-transformers model (``python -m qa.train_embedding``).

A ``StaticEmbedding`` (mean of token vectors) over a Chinese vocabulary of
characters and frequent words, trained with in-batch-negative contrastive loss
on question → paragraph pairs and self-supervised pairs (sentence → rest of its
paragraph, title → paragraph) from the *training* articles of CMRC 2018, DRCD
and XQuAD (split by article, ``qa.squad.part_of``). Fixed seeds and one
thread make the written files reproducible.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece

from ..embedding import MODELS_DIR
from ..eval import squad
from ..text import sentence_spans

log = logging.getLogger("qa.train_embedding")
SETS = {"cmrc2018": "cmrc2018_dev.json", "drcd": "DRCD_dev.json", "xquad": "xquad.zh.json"}


def training_pairs(data_dir: Path, seed: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(query, passage) pairs and all training texts, from training articles only."""
    pairs: list[tuple[str, str]] = []
    texts: list[str] = []
    by_qid: dict[str, str] = {}
    for name, file in SETS.items():
        for p in squad.split(squad.load(data_dir / file), "train"):
            texts.append(p.context)
            pairs.extend((q.text, p.context) for q in p.questions)
            texts.extend(q.text for q in p.questions)
            if name == "xquad":
                by_qid.update({q.qid: p.context for q in p.questions})
            pairs.append((p.title.replace("_", " "), p.context))
            sents = [p.context[a:b] for a, b in sentence_spans(p.context)]
            for i, s in enumerate(sents):
                if len(s) >= 8 and len(sents) > 1:
                    pairs.append((s, "".join(sents[:i] + sents[i + 1 :])))
    # English XQuAD questions → the Chinese paragraph: a little cross-lingual signal.
    for p in squad.split(squad.load(data_dir / "xquad.en.json"), "train"):
        for q in p.questions:
            if q.qid in by_qid:
                pairs.append((q.text, by_qid[q.qid]))
                texts.append(q.text)
    random.Random(seed).shuffle(pairs)
    return pairs, texts


def build_tokenizer(texts: list[str], max_words: int, min_count: int) -> Tokenizer:
    """WordPiece with no continuation prefix: greedy longest match over words, then characters."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    chars: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for t in texts:
        t = norm.normalize_str(t)
        chars.update(ch for ch in t if not ch.isspace())
        words.update(w for w in jieba.cut(t, HMM=False) if len(w) >= 2 and not w.isspace())
    vocab = ["[UNK]"] + sorted(chars)
    vocab += [w for w, c in words.most_common() if c >= min_count][:max_words]
    tok = Tokenizer(
        WordPiece(
            {w: i for i, w in enumerate(dict.fromkeys(vocab))},
            unk_token="[UNK]",
            continuing_subword_prefix="",
            max_input_chars_per_word=10_000,
        )
    )
    tok.normalizer = norm
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Digits(individual_digits=False)]
    )
    return tok


def _bag(tok: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    return [np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(texts, add_special_tokens=False)]


def _embed(emb: torch.nn.EmbeddingBag, bags: list[np.ndarray]) -> torch.Tensor:
    bags = [b if len(b) else np.zeros(1, np.int64) for b in bags]
    offsets = torch.tensor(np.cumsum([0] + [len(b) for b in bags[:-1]]), dtype=torch.long)
    return torch.nn.functional.normalize(emb(torch.from_numpy(np.concatenate(bags)), offsets), dim=-1)


def heldout_recall(model, data_dir: Path, k: int = 5) -> float:
    """Dense recall@k of held-out CMRC 2018 questions against all held-out paragraphs."""
    paras = squad.split(squad.load(data_dir / SETS["cmrc2018"]), "heldout")
    qs = [(q.text, i) for i, p in enumerate(paras) for q in p.questions]
    P = model.encode([p.context for p in paras], normalize_embeddings=True, convert_to_numpy=True)
    Q = model.encode([q for q, _ in qs], normalize_embeddings=True, convert_to_numpy=True)
    top = np.argsort(-(Q @ P.T), axis=1)[:, :k]
    return float(np.mean([gold in row for (_, gold), row in zip(qs, top)]))


def train(
    out: Path,
    data_dir: Path,
    dim: int = 256,
    max_words: int = 20_000,
    min_count: int = 3,
    epochs: int = 4,
    batch: int = 256,
    lr: float = 0.05,
    scale: float = 20.0,
    seed: int = 42,
) -> dict:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # bit-for-bit reproducible updates
    t0 = time.time()
    pairs, texts = training_pairs(data_dir, seed)
    tok = build_tokenizer(texts, max_words, min_count)
    log.info("%d training pairs, vocabulary %d", len(pairs), tok.get_vocab_size())
    q_bags = _bag(tok, [q for q, _ in pairs])
    p_bags = _bag(tok, [p for _, p in pairs])
    emb = torch.nn.EmbeddingBag(tok.get_vocab_size(), dim, mode="mean")
    torch.nn.init.normal_(emb.weight, std=0.1)
    used = np.zeros(tok.get_vocab_size(), bool)
    for b in q_bags + p_bags:
        used[b] = True
    opt = torch.optim.Adam(emb.parameters(), lr=lr)
    order = np.arange(len(pairs))
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for s in range(0, len(order) - batch + 1, batch):
            idx = order[s : s + batch]
            q = _embed(emb, [q_bags[i] for i in idx])
            p = _embed(emb, [p_bags[i] for i in idx])
            logits = scale * q @ p.T
            labels = torch.arange(len(idx))
            loss = (
                torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)
            ) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        for g in opt.param_groups:
            g["lr"] *= 0.7
        log.info("epoch %d: loss %.4f (%.0fs)", epoch + 1, total / len(order), time.time() - t0)
    with torch.no_grad():
        emb.weight[torch.from_numpy(~used)] = 0.0  # tokens never trained carry no direction
    static = StaticEmbedding(tok, embedding_weights=emb.weight.detach().clone())
    model = SentenceTransformer(modules=[static], device="cpu")
    recall = heldout_recall(model, data_dir)
    log.info("held-out CMRC 2018 dense recall@5: %.3f", recall)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    stats = {
        "pairs": len(pairs),
        "vocab": tok.get_vocab_size(),
        "dim": dim,
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "heldout_cmrc_recall@5": round(recall, 4),
    }
    (out / "training.json").write_text(json.dumps(stats, indent=1))
    (out / "README.md").write_text(
        MODEL_CARD.format(**{k.replace("@", "_at_"): v for k, v in stats.items()}), encoding="utf-8"
    )
    return dict(stats, train_seconds=round(time.time() - t0, 1))


MODEL_CARD = """---
language: [zh, en]
library_name: sentence-transformers
license: cc-by-sa-4.0
tags: [sentence-transformers, static-embedding, chinese, retrieval]
---
# zh-static

A static-embedding (mean of token vectors) sentence-transformers model for
Chinese passage retrieval, trained by this project so that it works offline.
Vocabulary: {vocab} tokens (characters and frequent jieba words, matched
greedily longest-first), {dim} dimensions.

## Training
`python -m qa.train_embedding` (under a minute on 2 CPU cores; seed {seed}, bit-for-bit reproducible).
In-batch-negatives contrastive loss (scale 20), {epochs} epochs, batch {batch},
Adam lr {lr}, on {pairs} pairs: question → paragraph, title → paragraph and
sentence → rest of paragraph, from the training articles (3 in 5, split by
article title; 1 in 5 is for validation, 1 in 5 held out) of:

- CMRC 2018 dev (Cui et al., EMNLP-IJCNLP 2019), CC BY-SA 4.0
- DRCD v1.3 dev (Shao et al., arXiv 1806.00920), CC BY-SA 3.0
- XQuAD zh/en (Artetxe et al., 2020), CC BY-SA 4.0

As a derivative of these sets the weights carry their ShareAlike terms (CC BY-SA 4.0).

## Result
Held-out CMRC 2018 articles, dense-only recall@5 over all held-out paragraphs:
{heldout_cmrc_recall_at_5}. See the project's README for the full comparison.
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR / "zh-static")
    ap.add_argument(
        "--data", type=Path, required=True, help="folder of the SQuAD-format sets to train on (e.g. bench/data)"
    )
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--max-words", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(
        json.dumps(
            train(args.out, args.data, args.dim, args.max_words, epochs=args.epochs, lr=args.lr, seed=args.seed),
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
