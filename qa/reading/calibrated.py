"""The bundled reader with a learned answerability model: the default answer path.

In each of the top ``n_passages`` passages (``n_passages_english`` for a question written in English) the
reader reads the stretch around the passage's best sentence (``reading_range``: the passage's sentence holding
most of the question's weighted terms, grown by its neighbours within its section up to ``focus_chars``
characters, ``focus_chars_english`` for English questions; none: the chunk itself). For a Chinese question the
window holding that best sentence is read first, the rest of the stretch only when its span is less probable
than ``anchor_stop`` (``BundledReader.read_with_null``). The most probable span wins. Its confidence is the
answerability model's probability that it is right (a logistic regression over ``ANSWERABILITY_FEATURES``, fitted
on validation articles by ``python -m qa.train.calibrate`` and stored in the reader's ``reader.json``), for a
Chinese question times the share of its term weight the articles use at all to the power ``unseen``, for an English
question shifted by ``english_shift`` log-odds (so that one threshold abstains as often on English questions the
articles cannot answer as on Chinese ones); the engine abstains below ``abstain_below``. How the reader itself
reads (``window_tokens``, ``max_answer_tokens``, ``length_penalty``, ``anchor_stop``) is ``BundledReader``'s part of
the same file.

The feature ranker takes no part: it was trained on the very validation articles the answer path is chosen on,
so its confidence there says nothing about unseen articles (``QA_READER=ranker`` still selects it alone).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..text import is_english, normalize, overlap, sentence_spans, terms
from ..types import Chunk, Document, Passage, Span
from .question import Question
from .transformer import BundledReader, ReaderError, best_of, span_at

# The answerability model's inputs (reader.json's "answerability" names them; other names are an error). No
# collection-relative scores (the fused z-score, BM25): an answer must not lose confidence because the user's own
# collection is small; the dense cosine of the top passage is absolute.
ANSWERABILITY_FEATURES = (
    "reader_logp",
    "reader_null_logp",
    "reader_margin",
    "reader_rank",
    "second_agree",
    "log_unseen",
    "coverage",
    "missing",
    "top_dense",
    "english",
    "log_len",
)


def unseen_factor(unseen, english, power: float = 1.0):
    """What the confidence is multiplied by under ``unseen`` (its value the ``power``): the question's
    unseen-word factor to that power for a Chinese question, 1 for an English one (over Chinese articles every
    English word is unseen). Scalars or arrays."""
    return np.where(english, 1.0, np.power(unseen, power))


def logit(p):
    """The log-odds of probabilities ``p`` (clipped to [1e-6, 1 - 1e-6]; scalars or arrays)."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def shifted(p, shift: float):
    """Probabilities ``p`` with ``shift`` added to their log-odds (scalars or arrays): an English question's
    confidence is shifted so that the one threshold abstains as often on its gold-removed validation readings
    as on the Chinese ones (``english_shift``)."""
    return 1.0 / (1.0 + np.exp(-(logit(p) + shift)))


def _best_sentence(document: Document, chunk: Chunk, weights: dict[str, float]) -> tuple[list, int | None]:
    """The sentences of ``chunk``'s section and the index of the chunk's sentence holding most of the question's
    weighted ``terms`` (the first on a tie; None when the chunk holds no sentence)."""
    text = document.text
    section = next((s for s in document.sections if s.start <= chunk.start < s.end), None)
    lo_bound, hi_bound = (section.start, section.end) if section else (0, len(text))
    sentences = sentence_spans(text, lo_bound, hi_bound)
    inside = [k for k, (a, b) in enumerate(sentences) if a < chunk.end and b > chunk.start]
    if not inside:
        return sentences, None

    def score(k: int) -> float:
        here = set(terms(text[sentences[k][0] : sentences[k][1]]))
        return sum(w for t, w in weights.items() if t in here)

    return sentences, max(inside, key=score)


def best_sentence(document: Document, chunk: Chunk, weights: dict[str, float]) -> tuple[int, int]:
    """The document characters of ``chunk``'s best sentence for the question's ``weights`` (``reading_range``
    grows from it; the reader reads its window first); the chunk itself when it holds no sentence."""
    sentences, best = _best_sentence(document, chunk, weights)
    return (chunk.start, chunk.end) if best is None else sentences[best]


def reading_range(document: Document, chunk: Chunk, weights: dict[str, float], chars: int | None) -> tuple[int, int]:
    """The document characters to read for a retrieved ``chunk``: with ``chars``, the chunk's sentence holding
    most of the question's weighted ``terms`` (the first on a tie), then its neighbours (after first, then
    before, within the chunk's section, also beyond the chunk) while the stretch stays within ``chars``
    characters; without, the chunk itself."""
    if not chars:
        return chunk.start, chunk.end
    sentences, best = _best_sentence(document, chunk, weights)
    if best is None:
        return chunk.start, chunk.end
    i = j = best
    while True:
        grown = False
        for k in (j + 1, i - 1):
            lo, hi = min(i, k), max(j, k)
            if 0 <= k < len(sentences) and sentences[hi][1] - sentences[lo][0] <= chars:
                i, j, grown = lo, hi, True
        if not grown:
            return sentences[i][0], sentences[j][1]


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


def answerability_features(
    reads: list[tuple[float, float, str, tuple]], top: Passage | None, unseen: float, question: str
) -> dict[str, float]:
    """What the answerability model sees about one answer: ``reads`` per passage read (span probability,
    no-answer probability, span text, the read stretch's ``coverage``), the top passage, the unseen-word
    factor of the question's words."""
    order = sorted(range(len(reads)), key=lambda i: -reads[i][0])
    best = reads[order[0]] if reads else (0.0, 1.0, "", (0.0, 0.0))
    second = reads[order[1]] if len(reads) > 1 else None
    return {
        "reader_logp": float(np.log(best[0] + 1e-6)),
        "reader_null_logp": float(np.log(best[1] + 1e-6)),
        "reader_margin": float(np.log(best[0] + 1e-6) - np.log(second[0] + 1e-6)) if second else 0.0,
        "reader_rank": float(order[0] + 1) if reads else 0.0,
        "second_agree": overlap(best[2], second[2]) if second and best[2] and second[2] else 0.0,
        "log_unseen": float(np.log(unseen + 1e-6)),
        "coverage": float(best[3][0]),
        "missing": float(best[3][1]),
        "top_dense": float(top.dense_score or 0.0) if top else 0.0,
        "english": float(is_english(question)),
        "log_len": float(np.log1p(len(best[2]))),
    }


def gloss(question: Question, top: list[Passage], ranges: list, documents: dict[str, Document]) -> Span | None:
    """For 「X是什么意思」: the parenthesis that glosses X in the stretches read (「VLA(视觉语言动作)」), first
    passage first, confidence the share of the question's term weight its sentence holds; too rare in the
    training sets for the reader to learn it. None without one."""
    from .candidates import glosses

    for p, (lo, hi) in zip(top, ranges):
        text = documents[p.chunk.doc_id].text
        for a, b in sentence_spans(text, lo, hi):
            found = sorted(glosses(normalize(text[a:b]), question.normalized))
            if found:
                share, _ = coverage(question.weights, text[a:b])
                return span_at(p, text, share, a + found[0][0], a + found[0][1])
    return None


class CalibratedReader:
    """The bundled reader over the best stretch of each top passage, its confidence the answerability model's
    (``reader.json``: ``n_passages``, ``n_passages_english``, ``focus_chars``, ``focus_chars_english``,
    ``answerability``, ``abstain_below``); without an answerability model, the reader's span probability."""

    def __init__(self, reader: BundledReader) -> None:
        self.reader = reader
        settings = reader.settings
        self.n_passages = reader.n_passages  # (reader.json's n_passages)
        self.n_english = int(settings.get("n_passages_english", self.n_passages))
        self.focus = settings.get("focus_chars")
        self.focus_english = settings.get("focus_chars_english", self.focus)
        self.threshold = reader.threshold
        self.unseen = float(settings.get("unseen", 0))  # the power of the unseen-word factor (true: 1; 0: off)
        self.english_shift = float(settings.get("english_shift", 0.0))
        model = settings.get("answerability")
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

    def probability(self, features: dict[str, float]) -> float:
        """The answerability model's probability that the answer with these features is right."""
        mean, scale, w, b = self.answerability
        x = (np.array([features[k] for k in ANSWERABILITY_FEATURES]) - mean) / scale
        return float(1.0 / (1.0 + np.exp(-(x @ w + b))))

    def warm_up(self) -> None:
        self.reader.warm_up()

    def ranges(
        self, question: Question, passages: list[Passage], documents: dict[str, Document]
    ) -> tuple[list[Passage], list[tuple[int, int]]]:
        """The passages to read and, for each, the document characters read."""
        top = passages[: self.n_english if question.english else self.n_passages]
        chars = self.focus_english if question.english else self.focus
        return top, [reading_range(documents[p.chunk.doc_id], p.chunk, question.weights, chars) for p in top]

    @staticmethod
    def anchors(question: Question, top: list[Passage], documents: dict[str, Document]) -> list | None:
        """The best sentence of each passage, read first (``BundledReader.read_with_null``), for a Chinese
        question; None for an English one, whose words pick no Chinese sentence (on validation articles reading
        its first sentence's window first lost 0.4-0.6 F1)."""
        if question.english:
            return None
        return [best_sentence(documents[p.chunk.doc_id], p.chunk, question.weights) for p in top]

    def extract(self, question: Question, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        top, ranges = self.ranges(question, passages, documents)
        if question.kind == "definition":
            glossed = gloss(question, top, ranges, documents)
            if glossed is not None:
                return glossed
        read = self.reader.read_passages(question.text, top, documents, ranges, self.anchors(question, top, documents))
        span = best_of(read, documents)
        if span is None:
            return None
        confidence = span.confidence
        if self.answerability is not None:
            reads = []
            for (p, prob, null, a, b), (lo, hi) in zip(read, ranges):
                text = documents[p.chunk.doc_id].text
                reads.append((prob, null, text[a:b] if b > a else "", coverage(question.weights, text[lo:hi])))
            f = answerability_features(reads, passages[0] if passages else None, question.unseen, question.text)
            confidence = self.probability(f)
        if self.unseen:
            confidence *= float(unseen_factor(question.unseen, question.english, self.unseen))
        if question.english and self.english_shift:
            confidence = float(shifted(confidence, self.english_shift))
        return replace(span, confidence=confidence)
