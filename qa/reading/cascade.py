"""The bundled reader and the feature ranker together, as the reader's ``reader.json`` says.

The ranker's answer is taken when it is sure (``ranker_sure``; the transformer is then skipped); otherwise the
transformer reads the top passages. A learned answerability model (logistic regression, fitted by
``python -m qa.train.calibrate``) over both readers' evidence gives the confidence.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..text import sentence_spans, terms
from ..types import Document, Passage, Span
from .extractor import Extractor
from .question import Question
from .transformer import BundledReader, ReaderError, best_of


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
    from ..text import overlap

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

    def __init__(self, reader: BundledReader, features: Extractor) -> None:
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
                    f"compute: rebuild it with `python -m qa.train.calibrate --data ../shared/train`"
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

    def warm_up(self) -> None:
        self.features.warm_up()
        self.reader.warm_up()

    def extract(self, question: Question, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        ranked = None
        if self.uses_ranker(self.reader.settings):
            ranked = self.features.extract(question, passages, documents)
        sure = ranked is not None and self.ranker_sure is not None and ranked.confidence >= self.ranker_sure
        if sure and self.answerability is None:
            return ranked
        weights = question.weights if self.focus or self.unseen or self.answerability else {}
        reads: list[tuple[float, float, str, tuple]] = []
        span = ranked if sure else None
        if not sure:
            ranges = [
                focus(documents[p.chunk.doc_id].text, p.chunk.start, p.chunk.end, weights, self.focus)
                if self.focus
                else (p.chunk.start, p.chunk.end)
                for p in passages[: self.reader.n_passages]
            ]
            read = self.reader.read_passages(question.text, passages, documents, ranges)
            span = best_of(read, documents)
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
                question.unseen,
                question.text,
                sure,
            )
            return replace(span, confidence=self.probability(f))
        if self.unseen:
            span = replace(span, confidence=span.confidence * question.unseen)
        return span
