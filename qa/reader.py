"""Optional transformer reader: an extractive-QA model (``AutoModelForQuestionAnswering``) chosen by name.

For users with hub access (e.g. a Chinese SQuAD-style model); set ``QA_READER`` to a hub
id or a local folder and the engine uses it instead of the learned ranker. Spans are
decoded from the model's start/end logits and mapped back through the tokenizer's
character offsets, so every answer is still a verbatim slice of an article.
"""

from __future__ import annotations

import logging

import numpy as np

from .extraction import Span
from .text import sentence_spans
from .types import Document, Passage

log = logging.getLogger(__name__)


class TransformerReader:
    """Reads the top passages with an extractive-QA transformer and returns the best span."""

    def __init__(self, name_or_path: str, n_passages: int = 3, max_answer_tokens: int = 30, device: str = "cpu") -> None:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        self.name = name_or_path
        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        self.model = AutoModelForQuestionAnswering.from_pretrained(name_or_path).to(device).eval()
        self.device = device
        self.n_passages = n_passages
        self.max_answer_tokens = max_answer_tokens

    def _best(self, question: str, context: str) -> tuple[float, int, int] | None:
        """(probability, start, end) of the best context span, in characters, or None."""
        import torch

        enc = self.tokenizer(question, context, truncation="only_second", max_length=512, return_offsets_mapping=True,
                             return_tensors="pt")
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
            text = documents[p.chunk.doc_id].text
            best = self._best(question, p.chunk.text)
            if best is None:
                continue
            prob, a, b = best
            a, b = p.chunk.start + a, p.chunk.start + b
            sa, sb = next(((s, e) for s, e in sentence_spans(text, p.chunk.start, p.chunk.end) if s <= a < e), (a, b))
            if b > sb:  # an answer across sentences keeps its own bounds as context
                sa, sb = min(sa, a), b
            if found is None or prob > found.confidence:
                found = Span(p.chunk.doc_id, a, b, sa, sb, p.rank, prob, prob)
        return found
