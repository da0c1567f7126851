"""Transformer readers: the best answer span in the retrieved passages, from start/end logits.

Two readers with the ``Reader`` interface (``extract(question, passages, documents) -> Span | None``, as the
feature-based ``Extractor``):

* ``BundledReader`` (the default): multilingual-e5-small fine-tuned on CMRC 2018 / DRCD / XQuAD,
  shipped in ``qa/models/e5-reader`` and run through plain torch (``qa/encoder.py``; no
  ``transformers`` import). It reads ``<s> question </s></s> passage </s>`` windows of the top
  passages in one batch; position 0 is "no answer here".
* ``TransformerReader``: any ``AutoModelForQuestionAnswering`` by hub id or folder (``QA_READER``).

Spans are mapped back through the tokenizer's character offsets: every answer is a slice of
an article. The confidence is the chosen span's probability in its window.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from ..text import sentence_spans
from ..types import Document, Passage, Span
from .windows import (
    MAX_LEN,
    anchor_window,
    batch,
    best_span,
    context_tokens,
    log_softmax,
    question_ids,
    strip_space,
    tidy,
    windows,
)

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent.parent / "models" / "e5-reader"
REBUILD = " && ".join(  # the bundled reader's recipe: a first run, a second from its export, then reader.json
    (
        "python -m qa.train.convert_e5",
        "python -m qa.train_reader --data ../shared/train",
        "python -m qa.train_reader --export --data ../shared/train --out build/reader-first",
        "python -m qa.train_reader --data ../shared/train --init build/reader-first --epochs 0.5 --lr 5e-5 "
        "--hard-negative 1.0 --swap-negative 0.5 --work build/reader-second",
        "python -m qa.train_reader --export --data ../shared/train --work build/reader-second",
        "python -m qa.train.calibrate --data ../shared/train",
    )
)


class ReaderError(Exception):
    """The reader's files are missing or damaged."""


def span_at(p: Passage, text: str, prob: float, a: int, b: int) -> Span:
    """A ``Span`` for document characters [a, b) of passage ``p`` (outer whitespace trimmed), with its sentence."""
    a, b = strip_space(text, a, b)
    sa, sb = next(((s, e) for s, e in sentence_spans(text, p.chunk.start, p.chunk.end) if s <= a < e), (a, b))
    if b > sb:  # an answer across sentences keeps its own bounds as context
        sa, sb = min(sa, a), b
    return Span(p.chunk.doc_id, a, b, sa, sb, p.rank, prob, prob)


def in_ranges(anchors: list[tuple[int, int] | None] | None, ranges: list[tuple[int, int]]) -> list | None:
    """Document-offset ``anchors``, one per read range, as offsets in the text of their range (None stays None)."""
    if not anchors:
        return None
    return [None if x is None else (x[0] - lo, x[1] - lo) for x, (lo, _) in zip(anchors, ranges)]


def best_of(reads: list[tuple[Passage, float, float, int, int]], documents: dict[str, Document]) -> Span | None:
    """The most probable of ``BundledReader.read_passages``'s spans, or None when no passage has one."""
    found = None
    for p, prob, _, a, b in reads:
        if b > a and (found is None or prob > found.confidence):
            found = span_at(p, documents[p.chunk.doc_id].text, prob, a, b)
    return found


class BundledReader:
    """The bundled e5 reader over the top ``n_passages`` passages.

    Constructing it checks the files (present, complete, shaped as ``config.json`` says) without loading
    them; the weights, and torch, load on the first question that needs the reader (or ``warm_up()``)."""

    def __init__(
        self,
        path: str | Path = BUNDLED,
        n_passages: int | None = None,
        max_answer_tokens: int | None = None,
        threshold: float | None = None,
        precision: str = "auto",
    ) -> None:
        """``precision`` (``Settings.precision``): ``bfloat16`` (autocast, Linears in bfloat16), ``float32``, or
        ``auto`` (bfloat16 where the CPU has bfloat16 instructions, ``config.native_bfloat16``)."""
        from ..bert import BertConfig, safetensors_shapes
        from ..config import is_bfloat16

        self.bf16 = is_bfloat16(precision)

        path = Path(path)
        for name in ("config.json", "tokenizer.json", "model.safetensors"):
            if not (path / name).is_file():
                raise ReaderError(f"the reader file {path / name} is missing: rebuild it with `{REBUILD}`")
        try:
            self.config = BertConfig.from_file(path / "config.json")
            shapes = safetensors_shapes(path / "model.safetensors")
            expected = self.config.shapes("bert.", qa_head=True)
            if shapes != expected:
                wrong = sorted(set(shapes) ^ set(expected)) or [k for k in expected if shapes[k] != expected[k]]
                raise ValueError(f"its tensors do not match config.json ({len(wrong)} differ, e.g. {wrong[0]})")
            settings = (
                json.loads((path / "reader.json").read_text(encoding="utf-8"))
                if (path / "reader.json").is_file()
                else {}
            )
        except Exception as exc:  # any damage: a truncated file, wrong shapes, bad JSON
            raise self._error(path, exc) from exc
        self.path = path
        self.model = self.tokenizer = self.torch = None
        self._loading = threading.Lock()
        self.settings = settings
        self.n_passages = n_passages or int(settings.get("n_passages", 3))
        self.threshold = float(settings.get("abstain_below", 0.3)) if threshold is None else threshold
        # How it reads (reader.json, chosen on validation articles): windows of ``window_tokens`` tokens in all
        # (the training's 192 unless set), spans of at most ``max_answer_tokens`` tokens, picked with
        # ``length_penalty`` log-probability per token.
        self.window_tokens = int(settings.get("window_tokens", MAX_LEN))
        self.max_answer_tokens = max_answer_tokens or int(settings.get("max_answer_tokens", 64))
        self.length_penalty = float(settings.get("length_penalty", 0.0))
        # A passage's best sentence is read first; its window's span wins at or above this probability (None:
        # every window is read).
        stop = settings.get("anchor_stop")
        self.anchor_stop = None if stop is None else float(stop)
        self.name = str(path)

    @staticmethod
    def _error(path: Path, exc: Exception) -> ReaderError:
        return ReaderError(
            f"the reader in {path} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}): "
            f"rebuild it with `{REBUILD}`"
        )

    def warm_up(self) -> None:
        """Load torch, the tokenizer and the weights now (the app does, so that no question waits for them)."""
        with self._loading:  # a question may arrive while the app's warm-up thread is still loading
            if self.model is None:
                self._load()

    def _load(self) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        from ..encoder import BertForQuestionAnswering

        try:
            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            model = BertForQuestionAnswering(self.config)
            model.load_state_dict(
                {k: v.float() for k, v in load_file(str(self.path / "model.safetensors")).items()}, strict=True
            )
        except Exception as exc:
            raise self._error(self.path, exc) from exc
        # Forward passes run under bfloat16 autocast, which would cast every Linear weight on every call:
        # stored in bfloat16 once, the same numbers come about 6% sooner (layer norms stay float32).
        for layer in model.modules():
            if self.bf16 and isinstance(layer, torch.nn.Linear):
                layer.to(torch.bfloat16)
        self.tokenizer, self.torch, self.model = tokenizer, torch, model.eval()

    def read(self, question: str, contexts: list[str]) -> list[tuple[float, int, int]]:
        """For each context, (probability, start, end) of its best span in characters (probability 0: none)."""
        return [r[:3] for r in self.read_with_null(question, contexts)]

    def read_with_null(
        self, question: str, contexts: list[str], anchors: list[tuple[int, int] | None] | None = None
    ) -> list[tuple[float, int, int, float]]:
        """``read``, with the no-answer probability of the window that holds each best span. With ``anchors``
        (per context, the characters of its best sentence, or None) and reader.json's ``anchor_stop``, a context
        is read in two steps: the window holding its anchor first, the rest only when that window's best span
        is less probable than ``anchor_stop`` (``decode``'s rule, so the answer is the one reading every window
        would give)."""
        stop = self.anchor_stop if anchors else None
        if stop is None:
            return self.decode(self.logits(question, contexts), contexts)
        ws, owner = self.windows_of(question, contexts)
        first = self.anchor_windows(ws, owner, anchors)
        start, end = [None] * len(ws), [None] * len(ws)
        self._forward(ws, sorted({*first.values(), *(k for k, o in enumerate(owner) if o not in first)}), start, end)
        logits = (ws, owner, start, end)
        sure = self._sure(logits, anchors, stop, self.max_answer_tokens, self.length_penalty)
        self._forward(ws, [k for k, o in enumerate(owner) if start[k] is None and o not in sure], start, end)
        return self.decode(logits, contexts, anchors=anchors, anchor_stop=stop)

    def windows_of(self, question: str, contexts: list[str], window_tokens: int | None = None) -> tuple[list, list]:
        """Every context's windows, and the context each belongs to."""
        self.warm_up()
        q = question_ids(self.tokenizer, question)
        ws, owner = [], []
        for i, c in enumerate(contexts):
            for w in windows(q, *context_tokens(self.tokenizer, c), max_len=window_tokens or self.window_tokens):
                ws.append(w)
                owner.append(i)
        return ws, owner

    @staticmethod
    def anchor_windows(ws: list, owner: list[int], anchors: list[tuple[int, int] | None]) -> dict[int, int]:
        """For each context with an anchor, the index (in ``ws``) of the window holding most of it."""
        out = {}
        for i, anchor in enumerate(anchors):
            mine = [k for k, o in enumerate(owner) if o == i]
            if anchor is not None and mine:
                out[i] = mine[anchor_window([ws[k] for k in mine], *anchor)]
        return out

    def _sure(self, logits: tuple, anchors, stop: float | None, cap: int, penalty: float) -> dict[int, int]:
        """The contexts whose anchor window (read: it has logits) has a best span at least ``stop`` probable, and
        that window's index; none without anchors or a stop."""
        if not anchors or stop is None:
            return {}
        ws, owner, start, end = logits
        return {
            i: k
            for i, k in self.anchor_windows(ws, owner, anchors).items()
            if start[k] is not None and np.exp(best_span(start[k], end[k], ws[k], cap, penalty)[0]) >= stop
        }

    def _forward(self, ws: list, which: list[int], start: list, end: list) -> None:
        """One forward pass over windows ``which``: their start and end log-probabilities into ``start``/``end``."""
        if not which:
            return
        ids, att = batch([ws[k] for k in which])
        torch = self.torch
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            s, e = self.model(torch.from_numpy(ids), torch.from_numpy(att))
        s, e = log_softmax(s.float().numpy(), att), log_softmax(e.float().numpy(), att)
        for row, k in enumerate(which):
            start[k], end[k] = s[row], e[row]

    def logits(self, question: str, contexts: list[str], window_tokens: int | None = None) -> tuple:
        """One forward pass over every context's windows: (windows, owning context of each, start and end
        log-probabilities of each window's positions)."""
        ws, owner = self.windows_of(question, contexts, window_tokens)
        start, end = [None] * len(ws), [None] * len(ws)
        self._forward(ws, list(range(len(ws))), start, end)
        return ws, owner, start, end

    def decode(
        self,
        logits: tuple,
        contexts: list[str],
        max_answer_tokens: int | None = None,
        length_penalty: float | None = None,
        anchors: list[tuple[int, int] | None] | None = None,
        anchor_stop: float | None = None,
    ) -> list[tuple[float, int, int, float]]:
        """Per context (those ``logits`` were computed for), from its windows: (probability, start, end, no-answer
        probability) of its best span, edges tidied (``windows.tidy``; probability 0: none). With ``anchors`` and
        ``anchor_stop``, the best span of a context's anchor window wins when it is at least that probable
        (``read_with_null``); windows without logits are skipped."""
        return self.decode_counted(logits, contexts, max_answer_tokens, length_penalty, anchors, anchor_stop)[0]

    def decode_counted(
        self,
        logits: tuple,
        contexts: list[str],
        max_answer_tokens: int | None = None,
        length_penalty: float | None = None,
        anchors: list[tuple[int, int] | None] | None = None,
        anchor_stop: float | None = None,
    ) -> tuple[list[tuple[float, int, int, float]], int]:
        """``decode``, and how many windows its rule reads (the staged reading's forward passes)."""
        ws, owner, start, end = logits
        cap = max_answer_tokens or self.max_answer_tokens
        penalty = self.length_penalty if length_penalty is None else length_penalty
        sure = self._sure(logits, anchors, anchor_stop, cap, penalty)
        best = [(0.0, 0, 0, 1.0)] * len(contexts)
        used = 0
        for k, w in enumerate(ws):
            if start[k] is None or sure.get(owner[k], k) != k:
                continue
            used += 1
            score, a, b, null = best_span(start[k], end[k], w, cap, penalty)
            prob = float(np.exp(score))
            if prob > best[owner[k]][0]:
                best[owner[k]] = (prob, a, b, float(np.exp(null)))
        tidied = [(p, *tidy(c, a, b), null) if b > a else (p, a, b, null) for c, (p, a, b, null) in zip(contexts, best)]
        return tidied, used

    def read_passages(
        self,
        question: str,
        passages: list[Passage],
        documents: dict[str, Document],
        ranges: list[tuple[int, int]] | None = None,
        anchors: list[tuple[int, int] | None] | None = None,
    ) -> list[tuple[Passage, float, float, int, int]]:
        """For each of the top ``n_passages``: (passage, span probability, no-answer probability, start, end),
        start and end in its document's characters (equal: no span); ``ranges`` (document offsets, one per
        passage read, the first ``len(ranges)``) narrows what is read; ``anchors`` (document offsets, one per
        range, or None) are read first (``read_with_null``)."""
        top = passages[: len(ranges)] if ranges else passages[: self.n_passages]
        ranges = ranges or [(p.chunk.start, p.chunk.end) for p in top]
        texts = [documents[p.chunk.doc_id].text for p in top]
        read = self.read_with_null(
            question, [t[lo:hi] for t, (lo, hi) in zip(texts, ranges)], in_ranges(anchors, ranges)
        )
        return [(p, prob, null, lo + a, lo + b) for p, (lo, hi), (prob, a, b, null) in zip(top, ranges, read)]

    def extract(self, question, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        """The best span of the top passages (see ``read_passages``); ``question`` a ``Question``."""
        return best_of(self.read_passages(question.text, passages, documents), documents)


class TransformerReader:
    """Reads the top passages with a Hugging Face extractive-QA model (``QA_READER``)."""

    def __init__(
        self,
        name_or_path: str,
        n_passages: int = 3,
        max_answer_tokens: int = 30,
        device: str = "cpu",
        threshold: float = 0.1,
    ) -> None:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        self.name = name_or_path
        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        self.model = AutoModelForQuestionAnswering.from_pretrained(name_or_path).to(device).eval()
        self.device = device
        self.n_passages = n_passages
        self.max_answer_tokens = max_answer_tokens
        self.threshold = threshold

    def warm_up(self) -> None:
        """Loaded when constructed."""

    def _best(self, question: str, context: str) -> tuple[float, int, int] | None:
        """(probability, start, end) of the best context span, in characters, or None."""
        import torch

        enc = self.tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=512,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping")[0].tolist()
        in_context = [s == 1 for s in enc.sequence_ids(0)]
        with torch.no_grad():
            out = self.model(**{k: v.to(self.device) for k, v in enc.items()})
        start = torch.log_softmax(out.start_logits[0], -1).cpu().numpy()
        end = torch.log_softmax(out.end_logits[0], -1).cpu().numpy()
        idx = [i for i, ok in enumerate(in_context) if ok and offsets[i][1] > offsets[i][0]]
        best = None
        for i in idx:
            for j in idx:
                if i <= j <= i + self.max_answer_tokens:
                    score = start[i] + end[j]
                    if best is None or score > best[0]:
                        best = (score, offsets[i][0], offsets[j][1])
        return None if best is None else (float(np.exp(best[0])), best[1], best[2])

    def extract(self, question, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        found = None
        for p in passages[: self.n_passages]:
            best = self._best(question.text, p.chunk.text)
            if best is not None and (found is None or best[0] > found.confidence):
                prob, a, b = best
                found = span_at(p, documents[p.chunk.doc_id].text, prob, p.chunk.start + a, p.chunk.start + b)
        return found
