"""Transformer readers: the best answer span in the retrieved passages, from start/end logits.

Two readers with one interface (``extract(question, passages, documents) -> Span | None``, as the
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
from dataclasses import replace
from pathlib import Path

import numpy as np

from .extraction import Span
from .text import sentence_spans, terms
from .types import Document, Passage
from .windows import batch, best_span, context_tokens, log_softmax, question_ids, windows

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent / "models" / "e5-reader"
REBUILD = (
    "python -m qa.convert_e5 && python -m qa.train_reader --data ../shared/train "
    "&& python -m qa.train_reader --export --data ../shared/train "
    "&& python -m qa.calibrate_reader --data ../shared/train"
)


class ReaderError(Exception):
    """The reader's files are missing or damaged."""


def _span(p: Passage, text: str, prob: float, a: int, b: int) -> Span:
    """A ``Span`` for document characters [a, b) of passage ``p`` (outer whitespace trimmed), with its sentence."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    sa, sb = next(((s, e) for s, e in sentence_spans(text, p.chunk.start, p.chunk.end) if s <= a < e), (a, b))
    if b > sb:  # an answer across sentences keeps its own bounds as context
        sa, sb = min(sa, a), b
    return Span(p.chunk.doc_id, a, b, sa, sb, p.rank, prob, prob)


def _best_span(reads: list[tuple[Passage, float, float, int, int]], documents: dict[str, Document]) -> Span | None:
    """The most probable of ``BundledReader.read_passages``'s spans, or None when no passage has one."""
    found = None
    for p, prob, _, a, b in reads:
        if b > a and (found is None or prob > found.confidence):
            found = _span(p, documents[p.chunk.doc_id].text, prob, a, b)
    return found


class BundledReader:
    """The bundled e5 reader over the top ``n_passages`` passages.

    Constructing it checks the files (present, complete, shaped as ``config.json`` says) without loading
    them; the weights, and torch, load on the first question that needs the reader (or ``warm_up()``)."""

    def __init__(
        self,
        path: str | Path = BUNDLED,
        n_passages: int | None = None,
        max_answer_tokens: int = 64,
        threshold: float | None = None,
    ) -> None:
        from .bert import BertConfig, safetensors_shapes

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
        self.max_answer_tokens = max_answer_tokens
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

        from .encoder import BertForQuestionAnswering

        try:
            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            model = BertForQuestionAnswering(self.config)
            model.load_state_dict(
                {k: v.float() for k, v in load_file(str(self.path / "model.safetensors")).items()}, strict=True
            )
        except Exception as exc:
            raise self._error(self.path, exc) from exc
        self.tokenizer, self.torch, self.model = tokenizer, torch, model.eval()

    def read(self, question: str, contexts: list[str]) -> list[tuple[float, int, int]]:
        """For each context, (probability, start, end) of its best span in characters (probability 0: none)."""
        return [r[:3] for r in self.read_with_null(question, contexts)]

    def read_with_null(self, question: str, contexts: list[str]) -> list[tuple[float, int, int, float]]:
        """``read``, with the no-answer probability of the window that holds each best span."""
        self.warm_up()
        q = question_ids(self.tokenizer, question)
        ws, owner = [], []
        for i, c in enumerate(contexts):
            for w in windows(q, *context_tokens(self.tokenizer, c)):
                ws.append(w)
                owner.append(i)
        if not ws:
            return []
        ids, att = batch(ws)
        torch = self.torch
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            start, end = self.model(torch.from_numpy(ids), torch.from_numpy(att))
        start, end = log_softmax(start.numpy(), att), log_softmax(end.numpy(), att)
        best = [(0.0, 0, 0, 1.0)] * len(contexts)
        for k, w in enumerate(ws):
            score, a, b, null = best_span(start[k], end[k], w, self.max_answer_tokens)
            prob = float(np.exp(score))
            if prob > best[owner[k]][0]:
                best[owner[k]] = (prob, a, b, float(np.exp(null)))
        return best

    def read_passages(
        self,
        question: str,
        passages: list[Passage],
        documents: dict[str, Document],
        ranges: list[tuple[int, int]] | None = None,
    ) -> list[tuple[Passage, float, float, int, int]]:
        """For each of the top ``n_passages``: (passage, span probability, no-answer probability, start, end),
        start and end in its document's characters (equal: no span); ``ranges`` (document offsets, one per
        passage) narrows what is read."""
        top = passages[: self.n_passages]
        ranges = ranges or [(p.chunk.start, p.chunk.end) for p in top]
        texts = [documents[p.chunk.doc_id].text for p in top]
        read = self.read_with_null(question, [t[lo:hi] for t, (lo, hi) in zip(texts, ranges)])
        return [(p, prob, null, lo + a, lo + b) for p, (lo, hi), (prob, a, b, null) in zip(top, ranges, read)]

    def extract(
        self,
        question: str,
        passages: list[Passage],
        documents: dict[str, Document],
        ranges: list[tuple[int, int]] | None = None,
    ) -> Span | None:
        """The best span of the top passages (see ``read_passages``)."""
        return _best_span(self.read_passages(question, passages, documents, ranges), documents)


def focus(text: str, start: int, end: int, weights: dict[str, float], chars: int) -> tuple[int, int]:
    """The stretch of ``text[start:end]`` to read: the sentence holding most of the question's weighted terms,
    then its neighbours (after first, then before) while the stretch stays within ``chars`` characters."""
    sentences = sentence_spans(text, start, end)
    if not sentences or end - start <= chars:
        return start, end
    scores = []
    for a, b in sentences:
        here = set(terms(text[a:b]))
        scores.append(sum(w for t, w in weights.items() if t in here))
    i = j = max(range(len(sentences)), key=scores.__getitem__)
    while True:
        grown = False
        for k in (j + 1, i - 1):
            lo, hi = min(i, k), max(j, k)
            if 0 <= k < len(sentences) and sentences[hi][1] - sentences[lo][0] <= chars:
                i, j, grown = lo, hi, True
        if not grown:
            return sentences[i][0], sentences[j][1]


# The answerability model's inputs (reader.json's "answerability" names them; other names are an error). No
# collection-relative scores (the fused z-score, BM25): an answer must not lose confidence because the user's own
# collection is small; the dense cosine of the top passage is absolute.
ANSWERABILITY_FEATURES = (
    "reader_logp",
    "reader_null_logp",
    "reader_margin",
    "reader_rank",
    "read",
    "ranker_conf",
    "agree",
    "from_ranker",
    "log_unseen",
    "coverage",
    "missing",
    "top_dense",
    "english",
    "log_len",
)


def coverage(weights: dict[str, float], text: str) -> tuple[float, float]:
    """How much of the question ``text`` (the answer's passage) speaks of: the IDF-weighted share of the
    question's terms it contains, and the weight of the heaviest term it lacks relative to the heaviest term
    (1.0 when the question's most specific word is absent: 「美国的…」 over a passage about 深圳)."""
    top = max(weights.values(), default=0.0)
    if top <= 0:
        return 0.0, 0.0
    present = set(terms(text))
    share = sum(w for t, w in weights.items() if t in present) / sum(weights.values())
    return share, max((w for t, w in weights.items() if t not in present), default=0.0) / top


def ranker_evidence(
    ranked: Span | None, passages: list[Passage], documents: dict[str, Document], weights: dict[str, float]
) -> tuple[float, str, tuple[float, float]] | None:
    """The feature ranker's answer as the answerability model sees it: (confidence, text, ``coverage`` of the
    passage it came from), or None without an answer."""
    if ranked is None:
        return None
    doc = documents[ranked.doc_id].text
    home = next(
        (p for p in passages if p.chunk.doc_id == ranked.doc_id and p.chunk.start <= ranked.start < p.chunk.end),
        None,
    )
    cover = coverage(weights, doc[home.chunk.start : home.chunk.end]) if home else (0.0, 0.0)
    return ranked.confidence, doc[ranked.start : ranked.end], cover


def answerability_features(
    reads: list[tuple[float, float, str, tuple]],
    ranker: tuple[float, str, tuple] | None,
    top: Passage | None,
    unseen: float,
    question: str,
    from_ranker: bool,
) -> dict[str, float]:
    """What the answerability model sees about one answer: ``reads`` per passage read (span probability,
    no-answer probability, span text, the passage's ``coverage``; empty when the reader was skipped), the
    feature ranker's (confidence, text, coverage), the top passage, the unseen-word factor; ``from_ranker``
    when the ranker's answer was taken."""
    from .text import overlap

    order = sorted(range(len(reads)), key=lambda i: -reads[i][0])
    best = reads[order[0]] if reads else (0.0, 1.0, "", (0.0, 0.0))
    second = reads[order[1]][0] if len(reads) > 1 else 0.0
    conf, rtext, rcover = ranker if ranker else (0.0, "", (0.0, 0.0))
    answer = rtext if from_ranker else best[2]
    return {
        "reader_logp": float(np.log(best[0] + 1e-6)),
        "reader_null_logp": float(np.log(best[1] + 1e-6)),
        "reader_margin": float(np.log(best[0] + 1e-6) - np.log(second + 1e-6)) if len(reads) > 1 else 0.0,
        "reader_rank": float(order[0] + 1) if reads else 0.0,
        "read": float(bool(reads)),
        "ranker_conf": float(conf),
        "agree": overlap(best[2], rtext) if reads and rtext else 0.0,
        "from_ranker": float(from_ranker),
        "log_unseen": float(np.log(unseen + 1e-6)),
        "coverage": float((rcover if from_ranker else best[3])[0]),
        "missing": float((rcover if from_ranker else best[3])[1]),
        "top_dense": float(top.dense_score or 0.0) if top else 0.0,
        "english": float(sum(c.isascii() and c.isalpha() for c in question) > len(question) / 2),
        "log_len": float(np.log1p(len(answer))),
    }


class Cascade:
    """The bundled reader with the feature ranker beside it, as its ``reader.json`` says: the ranker's answer
    when it is sure (``ranker_sure``; the reader is skipped), and either a learned answerability model over
    both (``answerability``: the confidence is its probability that the answer is right) or the reader's span
    probability, times the ranker's factor for question words the articles never use (``unseen``)."""

    def __init__(self, reader: BundledReader, features) -> None:
        self.reader = reader
        self.features = features
        self.ranker_sure = reader.settings.get("ranker_sure")
        self.unseen = bool(reader.settings.get("unseen", False))
        self.focus = reader.settings.get("focus_chars")  # read this many characters around each passage's best sentence
        self.threshold = reader.threshold
        model = reader.settings.get("answerability")
        self.answerability = None
        if model:
            if tuple(model.get("features", ())) != ANSWERABILITY_FEATURES:
                raise ReaderError(
                    f"{reader.path / 'reader.json'} names answerability features this code does not "
                    f"compute: rebuild it with `python -m qa.calibrate_reader --data ../shared/train`"
                )
            self.answerability = (
                np.asarray(model["mean"]),
                np.asarray(model["scale"]),
                np.asarray(model["weights"]),
                float(model["bias"]),
            )

    @staticmethod
    def uses_ranker(settings: dict) -> bool:
        """Whether a ``reader.json`` asks for the feature ranker's answer (the cascade or the answerability model)."""
        return settings.get("ranker_sure") is not None or bool(settings.get("answerability"))

    def probability(self, features: dict[str, float]) -> float:
        """The answerability model's probability that the answer with these features is right."""
        mean, scale, w, b = self.answerability
        x = (np.array([features[k] for k in ANSWERABILITY_FEATURES]) - mean) / scale
        return float(1.0 / (1.0 + np.exp(-(x @ w + b))))

    def extract(self, question: str, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        ranked = None
        if self.uses_ranker(self.reader.settings):
            ranked = self.features.extract(question, passages, documents)
        sure = ranked is not None and self.ranker_sure is not None and ranked.confidence >= self.ranker_sure
        if sure and self.answerability is None:
            return ranked
        weights = self.features.question_terms(question) if self.focus or self.unseen or self.answerability else {}
        reads: list[tuple[float, float, str, tuple]] = []
        span = ranked if sure else None
        if not sure:
            ranges = [
                focus(documents[p.chunk.doc_id].text, p.chunk.start, p.chunk.end, weights, self.focus)
                if self.focus
                else (p.chunk.start, p.chunk.end)
                for p in passages[: self.reader.n_passages]
            ]
            read = self.reader.read_passages(question, passages, documents, ranges)
            span = _best_span(read, documents)
            if self.answerability is not None:
                for (p, prob, null, a, b), (lo, hi) in zip(read, ranges):
                    text = documents[p.chunk.doc_id].text
                    reads.append((prob, null, text[a:b] if b > a else "", coverage(weights, text[lo:hi])))
        if span is None:
            return None
        if self.answerability is not None:
            f = answerability_features(
                reads,
                ranker_evidence(ranked, passages, documents, weights),
                passages[0] if passages else None,
                self.features.unseen_factor_of(weights),
                question,
                sure,
            )
            return replace(span, confidence=self.probability(f))
        if self.unseen:
            span = replace(span, confidence=span.confidence * self.features.unseen_factor_of(weights))
        return span


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

    def extract(self, question: str, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        found = None
        for p in passages[: self.n_passages]:
            best = self._best(question, p.chunk.text)
            if best is not None and (found is None or best[0] > found.confidence):
                prob, a, b = best
                found = _span(p, documents[p.chunk.doc_id].text, prob, p.chunk.start + a, p.chunk.start + b)
        return found
