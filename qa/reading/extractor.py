"""The feature-based reader: the sentence that best answers, then the best verbatim span in it.

1. Sentences of the retrieved passages are scored by how much of the question's IDF-weighted vocabulary
   they cover (plus a small prior for passage rank); the best ``n_sentences`` are read.
2. Their candidate spans (``candidates``) are scored by the hand-written heuristic (``heuristic``).
3. With the learned ranker (``ranker``, the default) the best candidates are described by named features
   (``features``) and scored by its linear model and trees; its answerability model turns question-level
   features into the confidence. Without it the heuristic picks the span and the confidence is the
   sentence's coverage. Either is lowered for question words the articles never use (``Question.unseen``).
4. The span, its sentence and offsets are returned verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text import normalize, sentence_spans, terms
from ..types import Document, Passage, Span
from .candidates import longest_common, sentence_candidates, trim
from .features import answer_features, describe, relative, sentence_features
from .heuristic import score, term_positions
from .question import Question
from .ranker import SpanRanker

# Without an answerability model the engine abstains below this confidence.
ABSTAIN_BELOW = 0.5


@dataclass(frozen=True)
class Candidate(Span):
    """A candidate span (``confidence`` before the unseen-word factor) with the learned ranker's features."""

    features: dict | None = None


class Extractor:
    """Chooses the answering sentence and span among retrieved passages (the ``Reader`` interface).

    ``ranker``: the learned span ranker, or None for the hand-written score. ``candidates(described=True)``
    gives the ranker's features without a ranker (training does)."""

    def __init__(self, ranker: SpanRanker | None = None, n_passages: int = 5, n_sentences: int = 3) -> None:
        self.ranker = ranker
        self.n_passages = n_passages
        self.n_sentences = n_sentences
        self.threshold = (
            float(ranker.meta.get("abstain_below", ABSTAIN_BELOW)) if ranker and ranker.answerable else ABSTAIN_BELOW
        )

    def warm_up(self) -> None:
        from .segment import warm_up

        warm_up()

    def candidates(
        self, q: Question, passages: list[Passage], documents: dict[str, Document], described: bool | None = None
    ) -> list[Candidate]:
        """Candidate spans from the best sentences, with heuristic scores and (``described``, by default when
        there is a ranker) the ranker's features."""
        described = self.ranker is not None if described is None else described
        qterms, total = q.weights, q.total
        if not passages or total <= 0:
            return []
        scored = []
        for p in passages[: self.n_passages]:
            text = documents[p.chunk.doc_id].text
            prev: set[str] = set()
            for a, b in sentence_spans(text, p.chunk.start, p.chunk.end):
                here = set(terms(text[a:b]))
                # A term only in the previous sentence counts half: "它"/"该企业" refer back.
                cover = sum(w * (1.0 if t in here else 0.5 if t in prev else 0.0) for t, w in qterms.items()) / total
                scored.append((cover + 0.1 / p.rank, cover, p, a, b, here | prev))
                prev = here
        scored.sort(key=lambda x: -x[0])
        out: list[Candidate] = []
        top_weight = max(qterms.values())
        top = scored[: self.n_sentences]
        # The longest stretch of the question (without its question word) each sentence repeats verbatim.
        common = (
            [longest_common(q.asked, normalize(documents[p.chunk.doc_id].text[a:b])) for _, _, p, a, b, _ in top]
            if described
            else []
        )
        most_common = max((c[0] for c in common), default=0)
        for rank, (sent_score, cover, p, a, b, near_terms) in enumerate(top, 1):
            # The most specific question word the sentence (or the one before) lacks: 售价 in 「S1的售价是多少」.
            missing = max((w for t, w in qterms.items() if t not in near_terms), default=0.0) / top_weight
            s = documents[p.chunk.doc_id].text[a:b]
            spans = self._spans(q, s, described)
            typed = bool(spans) or q.kind is None
            if not spans or described:  # the whole sentence is always a candidate for the ranker
                sa, sb = trim(s, 0, len(s))
                spans.append((0.0, sa, sb, {"whole": 1.0}))
            sentence = {
                "cover": cover,
                "cover_gap": scored[0][1] - cover,
                "missing": missing,
                "sent_rank": 1.0 / rank,
                "passage_rank": 1.0 / p.rank,
            }
            for heur, sa, sb, feats in spans:
                if feats is not None and described:
                    sentence_features(q, feats, (sa, sb), common[rank - 1], most_common, sentence, heur)
                confidence = cover * (1.0 if typed else 0.85)
                out.append(
                    Candidate(p.chunk.doc_id, a + sa, a + sb, a, b, p.rank, sent_score + heur, confidence, feats)
                )
        if described:
            relative([c.features for c in out if c.features])
        if q.kind == "definition" and described:
            # "X是什么意思" where a passage glosses X in parentheses: the gloss is the answer
            # (too rare in the training sets for the ranker to learn it).
            out = [c for c in out if c.features and c.features.get("gloss")] or out
        return out

    def extract(self, q: Question, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        """The best span; its confidence is the answerability model's probability when the ranker has
        one (else the heuristic: the sentence's coverage), times the unseen-word factor."""
        cands = self.candidates(q, passages, documents)
        if not cands:
            return None
        if self.ranker is None:
            best = max(cands, key=lambda c: c.score)
            return _as_span(best, best.score, best.confidence * q.unseen)
        scores = self.ranker.scores([c.features for c in cands])
        i = int(np.argmax(scores))
        best = cands[i]
        p = self.ranker.answerable_probability(answer_features(q, best.features or {}, scores, i))
        return _as_span(best, float(scores[i]), (best.confidence if p is None else p) * q.unseen)

    @staticmethod
    def _spans(q: Question, s: str, described: bool) -> list[tuple[float, int, int, dict | None]]:
        """Candidates inside sentence ``s``: (heuristic score, start, end, features or None)."""
        sc = sentence_candidates(q, s, described)
        if sc is None:
            return []
        positions = term_positions(q, sc.normalized)
        rows = score(q, sc, positions)
        if described:
            return describe(q, sc, rows, positions)
        return [(r.heur, r.start, r.end, None) for r in rows]


def _as_span(c: Candidate, score: float, confidence: float) -> Span:
    """The ``Span`` of candidate ``c`` with its final score and confidence."""
    return Span(c.doc_id, c.start, c.end, c.sent_start, c.sent_end, c.passage_rank, score, confidence)
