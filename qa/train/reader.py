"""Fine-tune the converted multilingual-e5-small as an extractive reader (``BertForQuestionAnswering``).

    python -m qa.train.convert_e5 --out build/e5-small
    python -m qa.train_reader --data ../shared/train --base build/e5-small --work build/reader-train
    python -m qa.train_reader --export --work build/reader-train     # → qa/models/e5-reader/
    python -m qa.train_reader --average build/a build/b --out build/ab  # the mean of two runs' weights

Training data: CMRC 2018 train (``--data``/cmrc2018_train.json, all but a 1-in-20 validation slice of
its articles) plus the *training* articles (``qa.squad.part_of``) of DRCD dev, XQuAD zh and XQuAD en
questions over the Chinese paragraphs (cross-lingual). Never CMRC 2018 dev, never held-out or
validation articles. Each question gives every window that holds its answer, 40% of its other
windows (target: position 0, "no answer here") and, for one question in four, a window of another
paragraph of the same article without the answer (a hard negative, teaching abstention; ``--hard-negative``
sets the share) and, with ``--swap-negative``, a share of the questions that name their article's title asked
about another title or answer instead, over their answer window, as no-answer.

Settings follow the CPU probe in the reader issue: windows of 192 tokens overlapping by 64, frozen
word embeddings, no dropout, bf16 autocast (``--precision``; by default where the CPU has bfloat16
instructions), batch 32, AdamW lr 1e-4, 6% warm-up then linear decay.
Checkpoints every ``--checkpoint-every`` steps; rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PRECISIONS, is_bfloat16
from ..eval import squad
from ..reading.windows import MAX_LEN, OVERLAP, Window, batch, context_tokens, question_ids, windows
from . import BENCH_DATA

log = logging.getLogger(__name__)
WORD = "bert.embeddings.word_embeddings.weight"  # the base's full table; an export keeps a trimmed copy


@dataclass(frozen=True)
class Example:
    window: Window
    start: int  # token positions of the answer; 0, 0 when the window does not hold it
    end: int


@dataclass(frozen=True)
class RawQuestion:
    qid: str
    title: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, given answer_start)


def cmrc_validation(title: str) -> bool:
    """The 1-in-20 slice of CMRC 2018 *train* articles kept out of training to choose settings on."""
    return int(hashlib.sha1(("reader-val:" + title).encode("utf-8")).hexdigest(), 16) % 20 == 0


def read_squad(path: Path, questions_from: Path | None = None) -> list[RawQuestion]:
    """Questions of a SQuAD-format file with their contexts; with ``questions_from``, the question texts
    come from that parallel file (same ids), e.g. XQuAD en questions over the zh paragraphs."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    other = {}
    if questions_from:
        for a in json.loads(questions_from.read_text(encoding="utf-8"))["data"]:
            for p in a["paragraphs"]:
                other.update({q["id"]: q["question"] for q in p["qas"]})
    out = []
    for a in data:
        title = a.get("title", "")
        for p in a["paragraphs"]:
            for q in p["qas"]:
                text = other.get(q["id"]) if questions_from else q["question"]
                answers = tuple(
                    (x["text"], int(x.get("answer_start", -1))) for x in q.get("answers", []) if x["text"].strip()
                )
                if text and answers:
                    out.append(RawQuestion(str(q["id"]), title, text, p["context"], answers))
    return out


def locate(context: str, text: str, given: int) -> int | None:
    """The answer's character start: the occurrence of ``text`` nearest the given (sometimes wrong) start."""
    hits = [i for i in range(len(context)) if context.startswith(text, i)] if text in context else []
    return min(hits, key=lambda i: abs(i - given)) if hits else None


def token_span(w: Window, a: int, b: int) -> tuple[int, int] | None:
    """Token positions of characters [a, b) inside window ``w``, or None when not wholly inside."""
    slots = [i for i in w.context_slots if w.offsets[i][1] > w.offsets[i][0]]
    if not slots or a < w.offsets[slots[0]][0] or b > w.offsets[slots[-1]][1]:
        return None
    s = next(i for i in slots if w.offsets[i][1] > a)
    e = max(i for i in slots if w.offsets[i][0] < b)
    return (s, e) if s <= e else None


def examples(
    tokenizer,
    qs: list[RawQuestion],
    rng: random.Random,
    keep_negative: float = 0.4,
    hard_negative: float = 0.25,
    swap_negative: float = 0.0,
) -> list[Example]:
    """Training windows of ``qs`` (see the module docstring). ``swap_negative``: the share of questions naming
    their article's title that are also asked with another article's title or answer in its place, over the
    window holding the answer, as no-answer (「美国的…」 over a passage about 深圳)."""
    by_title: dict[str, list[str]] = {}
    for q in qs:
        ctxs = by_title.setdefault(q.title, [])
        if q.context not in ctxs:
            ctxs.append(q.context)
    names = set(by_title) | {q.answers[0][0] for q in qs} if swap_negative else set()
    stand_ins = sorted(t for t in names if len(t) >= 2)
    cache: dict[str, tuple] = {}

    def tokens(c: str):
        if c not in cache:
            cache[c] = context_tokens(tokenizer, c)
        return cache[c]

    out: list[Example] = []
    for q in qs:
        text, given = q.answers[0]
        a = locate(q.context, text, given)
        if a is None:
            continue
        q_ids = question_ids(tokenizer, q.question)
        for w in windows(q_ids, *tokens(q.context)):
            span = token_span(w, a, a + len(text))
            if span:
                out.append(Example(w, *span))
            elif rng.random() < keep_negative:
                out.append(Example(w, 0, 0))
        others = [c for c in by_title[q.title] if all(t not in c for t, _ in q.answers)]
        if others and rng.random() < hard_negative:
            ws = windows(q_ids, *tokens(rng.choice(others)))
            out.append(Example(rng.choice(ws), 0, 0))
        if swap_negative and len(q.title) >= 2 and q.title in q.question and rng.random() < swap_negative:
            out.extend(swapped(tokenizer, q, a, len(text), stand_ins, tokens(q.context), rng))
    return out


def swapped(tokenizer, q: RawQuestion, a: int, n: int, stand_ins: list[str], tokens, rng: random.Random) -> list:
    """``q`` asked with a stand-in for its title, one neither the question nor its paragraph uses, over the
    window holding its answer (characters [a, a + n)): a no-answer ``Example`` (none when no stand-in is found
    in 20 draws)."""
    for _ in range(20):
        other = rng.choice(stand_ins)
        if other not in q.context and other not in q.question and q.title not in other:
            q_ids = question_ids(tokenizer, q.question.replace(q.title, other))
            held = [w for w in windows(q_ids, *tokens) if token_span(w, a, a + n)]
            return [Example(held[0], 0, 0)] if held else []
    return []


def training_questions(data: Path) -> tuple[list[RawQuestion], list[RawQuestion]]:
    """(training questions, validation questions) from the sources in the module docstring."""
    cmrc = read_squad(data / "cmrc2018_train.json")
    train = [q for q in cmrc if not cmrc_validation(q.title)]
    val = [q for q in cmrc if cmrc_validation(q.title)]
    for path, questions_from in (
        (BENCH_DATA / "DRCD_dev.json", None),
        (BENCH_DATA / "xquad.zh.json", None),
        (BENCH_DATA / "xquad.zh.json", BENCH_DATA / "xquad.en.json"),
    ):
        train += [q for q in read_squad(path, questions_from) if squad.part_of(q.title) == "train"]
    return train, val


def _batches(exs: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of similar lengths (less padding): sort within pools of 50 batches."""
    order = exs[:]
    rng.shuffle(order)
    out = []
    pool = size * 50
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda e: len(e.window.ids))
        out += [chunk[j : j + size] for j in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def train(
    data: Path,
    base: Path,
    work: Path,
    epochs: float = 1.0,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 13,
    checkpoint_every: int = 100,
    threads: int | None = None,
    init: Path | None = None,
    train_embeddings: bool = False,
    hard_negative: float = 0.25,
    swap_negative: float = 0.0,
    precision: str = "auto",
) -> Path:
    """Fine-tune ``base`` (or, with ``init``, continue from that earlier run's checkpoint or exported reader folder
    with a fresh optimizer and schedule) for ``epochs`` passes; checkpoints in ``work``, resumed when present.
    The word embeddings stay frozen unless ``train_embeddings``; ``hard_negative``: the share of questions that also
    get a no-answer window of another paragraph of their article; ``swap_negative``: of those naming their title,
    the share also asked about another title or answer (``swapped``); ``precision``: the forward passes' arithmetic
    (``config.PRECISIONS``; ``auto``: bfloat16 autocast where the CPU has bfloat16 instructions, float32 elsewhere,
    where emulated bfloat16 would be several times slower)."""
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    from ..encoder import BertConfig, BertForQuestionAnswering

    bf16 = is_bfloat16(precision)
    log.info("forward passes in %s", "bfloat16 autocast" if bf16 else "float32")
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    rng = random.Random(seed)
    train_qs, _ = training_questions(data)
    exs = examples(tokenizer, train_qs, rng, hard_negative=hard_negative, swap_negative=swap_negative)
    batches = []
    for epoch in range(math.ceil(epochs)):
        batches += _batches(exs, batch_size, random.Random(seed + epoch))
    batches = batches[: int(len(batches) * epochs / math.ceil(epochs))]
    total = len(batches)
    log.info(
        "%d training questions → %d windows (%.0f%% with the answer); %d steps of %d",
        len(train_qs),
        len(exs),
        100 * np.mean([e.start > 0 for e in exs]),
        total,
        batch_size,
    )

    config = BertConfig.from_file(base / "config.json")
    model = BertForQuestionAnswering(config)
    weights = {f"bert.{k}": v for k, v in load_file(str(base / "model.safetensors")).items()}
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.02)
    torch.nn.init.zeros_(model.qa_outputs.bias)
    missing = model.load_state_dict(weights, strict=False).missing_keys
    if set(missing) != {"qa_outputs.weight", "qa_outputs.bias"}:
        raise RuntimeError(f"base model is missing {missing}")
    if init is not None:
        if init.is_dir():  # an exported reader folder, e.g. the bundled qa/models/e5-reader: the base's word rows
            state = {k: v.float() for k, v in load_file(str(init / "model.safetensors")).items() if k != WORD}
        else:
            state = torch.load(init, weights_only=True)["model"]
        wrong = model.load_state_dict(state, strict=False)
        if set(wrong.missing_keys) - {WORD} or wrong.unexpected_keys:
            raise RuntimeError(f"{init} does not fit the base model: {wrong}")
        log.info("continuing from %s", init)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(train_embeddings)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    ckpt = work / "checkpoint.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = state["step"]
        log.info("resumed from %s at step %d", ckpt, step)
    model.train()
    t0, seen, losses = time.perf_counter(), 0, []
    while step < total:
        b = batches[step]
        ids, att = (torch.from_numpy(x) for x in batch([e.window for e in b]))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            start, end = model(ids, att)
        neg = torch.finfo(start.dtype).min
        start, end = start.masked_fill(att == 0, neg), end.masked_fill(att == 0, neg)
        loss = (
            torch.nn.functional.cross_entropy(start, torch.tensor([e.start for e in b]))
            + torch.nn.functional.cross_entropy(end, torch.tensor([e.end for e in b]))
        ) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        seen += len(b)
        losses.append(float(loss.detach()))
        if step % 20 == 0 or step == total:
            log.info(
                "step %d/%d loss %.3f lr %.2e %.1f examples/s",
                step,
                total,
                np.mean(losses[-20:]),
                sched.get_last_lr()[0],
                seen / (time.perf_counter() - t0),
            )
        if step % checkpoint_every == 0 or step == total:
            trainable = {k: v for k, v in model.state_dict().items() if train_embeddings or k != WORD}
            torch.save(
                {"model": trainable, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step},
                work / "checkpoint.tmp",
            )
            (work / "checkpoint.tmp").replace(ckpt)
    (work / "train_info.json").write_text(
        json.dumps(
            {
                "questions": len(train_qs),
                "windows": len(exs),
                "steps": total,
                "batch": batch_size,
                "lr": lr,
                "epochs": epochs,
                "max_len": MAX_LEN,
                "overlap": OVERLAP,
                "seed": seed,
                "base": str(base),
                "init": str(init) if init else None,
                "train_embeddings": train_embeddings,
                "hard_negative": hard_negative,
                "swap_negative": swap_negative,
                "precision": "bfloat16" if bf16 else "float32",
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return ckpt


def evaluate_reader(reader_path: Path, data: Path, limit: int | None = None) -> dict:
    """Reader alone on the CMRC train validation slice, gold paragraph given: EM / F1 (CMRC metric)."""
    from ..eval.harness import reader_alone
    from ..reading.transformer import BundledReader

    _, val = training_questions(data)
    return reader_alone(
        BundledReader(reader_path), [(q.question, q.context, [t for t, _ in q.answers]) for q in val[:limit]]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qa.train_reader", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, help="folder with cmrc2018_train.json (e.g. ../shared/train); all but --average"
    )
    ap.add_argument(
        "--base", type=Path, default=Path("build/e5-small"), help="converted encoder (python -m qa.train.convert_e5)"
    )
    ap.add_argument("--work", type=Path, default=Path("build/reader-train"), help="checkpoints and logs")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from an earlier run's checkpoint.pt or an exported reader folder (fresh schedule)",
    )
    ap.add_argument("--train-embeddings", action="store_true", help="train the word embeddings too (frozen by default)")
    ap.add_argument(
        "--hard-negative",
        type=float,
        default=0.25,
        help="share of questions that also get a no-answer window of another paragraph of their article",
    )
    ap.add_argument(
        "--swap-negative",
        type=float,
        default=0.0,
        help="share of questions naming their article's title also asked, as no-answer, about another title or answer",
    )
    ap.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="forward passes in bfloat16 autocast or float32; auto: bfloat16 where the CPU has bfloat16 instructions",
    )
    ap.add_argument("--export", action="store_true", help="write the trained reader into --out")
    ap.add_argument(
        "--evaluate",
        type=Path,
        default=None,
        metavar="READER",
        help="score an exported reader folder on the CMRC train validation slice",
    )
    ap.add_argument(
        "--average",
        type=Path,
        nargs="+",
        metavar="READER",
        help="write into --out the element-wise mean of these exported readers' weights (then refit reader.json)",
    )
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models" / "e5-reader")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.average:
        from .export import average

        average(args.average, args.out)
        return 0
    if args.data is None:
        ap.error(
            "the following arguments are required: --data (a folder with cmrc2018_train.json, e.g. ../shared/train)"
        )
    if args.evaluate:
        print(json.dumps(evaluate_reader(args.evaluate, args.data, args.limit)))
        return 0
    if args.export:
        from .export import export

        export(args.base, args.work / "checkpoint.pt", args.out, args.data)
        return 0
    if not (args.data / "cmrc2018_train.json").exists():
        print("error: --data must be a folder holding cmrc2018_train.json (e.g. ../shared/train)", file=sys.stderr)
        return 2
    train(
        args.data,
        args.base,
        args.work,
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        args.checkpoint_every,
        args.threads,
        args.init,
        args.train_embeddings,
        args.hard_negative,
        args.swap_negative,
        args.precision,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
