"""Question + context windows for an extractive transformer reader, and span decoding back to characters.

One layout for training and reading: ``<s> question </s></s> context-window </s>`` (XLM-R's pair
template), context windows of at most ``max_len`` tokens in all, overlapping by ``overlap`` tokens.
Every context token keeps its character offsets, so a decoded span is a slice of the context.
Position 0 (``<s>``) stands for "no answer in this window".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOS, PAD, EOS = 0, 1, 2
MAX_LEN = 192
OVERLAP = 64
MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class Window:
    """One model input: token ids, and for each token its character span in the context ((-1, -1) outside it)."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    first: int  # index of the first context token

    @property
    def context_slots(self) -> range:
        return range(self.first, len(self.ids) - 1)


def question_ids(tokenizer, question: str, max_tokens: int = MAX_QUESTION_TOKENS) -> list[int]:
    """The question's token ids, cut to ``max_tokens`` (a longer question keeps its start)."""
    return tokenizer.encode(question, add_special_tokens=False).ids[:max_tokens]


def context_tokens(tokenizer, context: str) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer.encode(context, add_special_tokens=False)
    return enc.ids, [tuple(o) for o in enc.offsets]


def windows(
    q_ids: list[int], c_ids: list[int], c_offsets: list[tuple[int, int]], max_len: int = MAX_LEN, overlap: int = OVERLAP
) -> list[Window]:
    """Overlapping windows covering all context tokens (at least one window, even for an empty context)."""
    room = max(8, max_len - len(q_ids) - 4)
    step = max(1, room - overlap)
    head = [BOS, *q_ids, EOS, EOS]
    out = []
    start = 0
    while True:
        part = slice(start, start + room)
        ids = head + c_ids[part] + [EOS]
        offsets = [(-1, -1)] * len(head) + c_offsets[part] + [(-1, -1)]
        out.append(Window(ids, offsets, len(head)))
        if start + room >= len(c_ids):
            return out
        start += step


def anchor_window(ws: list[Window], a: int, b: int) -> int:
    """The index of the window holding most of context characters [a, b) (the first of equals)."""

    def held(w: Window) -> int:
        spans = [o for o in w.offsets if o[1] > o[0]]
        return max(0, min(b, spans[-1][1]) - max(a, spans[0][0])) if spans else 0

    return max(range(len(ws)), key=lambda k: (held(ws[k]), -k))


def batch(ws: list[Window]) -> tuple[np.ndarray, np.ndarray]:
    """Padded ids and attention mask (int64) for a list of windows."""
    n = max(len(w.ids) for w in ws)
    ids = np.full((len(ws), n), PAD, np.int64)
    att = np.zeros((len(ws), n), np.int64)
    for i, w in enumerate(ws):
        ids[i, : len(w.ids)] = w.ids
        att[i, : len(w.ids)] = 1
    return ids, att


def best_span(
    start: np.ndarray, end: np.ndarray, w: Window, max_answer_tokens: int = 40, length_penalty: float = 0.0
) -> tuple[float, int, int, float]:
    """(span score, char start, char end, no-answer score) of the best context span of one window.

    Scores are log-probabilities over the window's positions (start + end); the span keeps the
    context's characters between its first token's start and its last token's end. ``length_penalty``
    (log-probability per token beyond the first) picks the span; the score returned is its own, unpenalised.
    """
    null = float(start[0] + end[0])
    slots, grid, pick = span_grid(start, end, w, max_answer_tokens, length_penalty)
    if len(slots) == 0:
        return float("-inf"), 0, 0, null
    i, j = np.unravel_index(int(np.argmax(pick)), grid.shape)
    return float(grid[i, j]), w.offsets[slots[i]][0], w.offsets[slots[j]][1], null


def span_grid(
    start: np.ndarray, end: np.ndarray, w: Window, max_answer_tokens: int, length_penalty: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The window's context token indexes (``slots``), and over them the score of every span [i, j] (start +
    end log-probability; -inf for j < i or longer than ``max_answer_tokens`` tokens beyond i) and the score less
    ``length_penalty`` per token beyond the first, by which spans are picked."""
    slots = np.array([i for i in w.context_slots if w.offsets[i][1] > w.offsets[i][0]], dtype=int)
    s, e = start[slots], end[slots]
    grid = s[:, None] + e[None, :]
    k = np.arange(len(slots))
    length = k[None, :] - k[:, None]
    grid[(length < 0) | (length > max_answer_tokens)] = -np.inf
    pick = grid - length_penalty * np.maximum(length, 0) if length_penalty else grid
    return slots, grid, pick


def strip_space(text: str, a: int, b: int) -> tuple[int, int]:
    """Characters [a, b) of ``text`` without outer whitespace."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


# A span never ends in these: the CMRC metric ignores them, a reader of the answer sees them as debris.
TRAILING_PUNCT = frozenset("。，、；：！？,;:!?")
CLOSERS = {"”": "“", "」": "「", "』": "『", "）": "（", ")": "(", "》": "《", "’": "‘", "】": "【"}
OPENERS = {o: c for c, o in CLOSERS.items()}


def tidy(text: str, a: int, b: int) -> tuple[int, int]:
    """A decoded span's characters [a, b) of ``text`` without outer whitespace, trailing clause punctuation
    (「…车型。」), a quotation mark or bracket the span does not open or close (「《理想國」, 「…迭代。”」), or
    a trailing 的 where the model ended the span (「174米长的」; three characters or more). Never empty when [a, b)
    held a character.
    Reader alone on 2,000 validation questions (400 × 5 sets): 192 spans changed, CMRC-metric EM/F1 equal
    (it ignores that punctuation) or higher (XQuAD's ASCII brackets), answers exactly as annotated 1,114 → 1,128
    (no set fewer); on 2,838, the 的 rule changed 28 spans, EM +0.3 to +0.5 on three sets, F1 +0.1 on all, and
    gold answers end in 的 0.2% of the time."""
    a, b = strip_space(text, a, b)
    end = b
    while b - a > 1:
        last, first, span = text[b - 1], text[a], text[a:b]
        if last in TRAILING_PUNCT or (last in CLOSERS and span.count(CLOSERS[last]) < span.count(last)):
            a, b = strip_space(text, a, b - 1)
        elif first in OPENERS and span.count(OPENERS[first]) < span.count(first):
            a, b = strip_space(text, a + 1, b)
        else:
            break
    if b == end and b - a >= 3 and text[b - 1] == "的":  # a clause's final 的 (「…所写成的。」) stays
        b -= 1
    return a, b


def log_softmax(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = np.where(mask > 0, x, -1e9)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))
