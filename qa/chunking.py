"""Stage 2: split documents into sentence-aligned chunks under a tiktoken budget.

Chunks never cross a section, start and end on sentence boundaries (a single
sentence longer than the budget is cut at clause marks, then by characters),
and consecutive chunks of a section overlap by up to ``overlap`` tokens of
whole sentences. The ``cl100k_base`` BPE file ships with the package, so no
download is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from .text import sentence_spans
from .types import Chunk, Document

ENCODING = "cl100k_base"
_BPE_FILE = Path(__file__).parent / "data" / "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
_BPE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# The published cl100k_base pre-tokenisation pattern and special tokens (tiktoken_ext.openai_public).
_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
    r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
_CLAUSE = re.compile(r"[，、：,:]")


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The shipped ``cl100k_base`` encoding, loaded with no network access."""
    ranks = load_tiktoken_bpe(str(_BPE_FILE), expected_hash=_BPE_SHA256)
    return tiktoken.Encoding(name=ENCODING, pat_str=_PAT, mergeable_ranks=ranks, special_tokens=_SPECIAL)


def count_tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


@dataclass(frozen=True)
class Chunker:
    """Packs whole sentences into chunks of at most ``max_tokens`` tiktoken tokens.

    ``fits`` is an extra check (e.g. the embedding model's own sequence limit);
    a chunk is closed before it would fail it.
    """

    max_tokens: int = 192
    overlap: int = 32
    fits: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        if not 0 <= self.overlap < self.max_tokens // 2:
            raise ValueError("overlap must be between 0 and max_tokens / 2")

    def settings(self) -> dict:
        return {"encoding": ENCODING, "max_tokens": self.max_tokens, "overlap": self.overlap}

    def split(self, doc: Document, first_id: int = 0) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in doc.sections or ():
            units = [
                u for s, e in sentence_spans(doc.text, section.start, section.end) for u in self._units(doc.text, s, e)
            ]
            for s, e in self._pack(doc.text, units):
                text = doc.text[s:e]
                chunks.append(Chunk(first_id + len(chunks), doc.doc_id, section.title, s, e, text, count_tokens(text)))
        return chunks

    def _ok(self, text: str) -> bool:
        return count_tokens(text) <= self.max_tokens and (self.fits is None or self.fits(text))

    def _units(self, text: str, s: int, e: int) -> list[tuple[int, int]]:
        """A sentence as one unit, or cut into pieces that each fit the budget."""
        if self._ok(text[s:e]):
            return [(s, e)]
        pieces, start = [], s
        cuts = [m.end() for m in _CLAUSE.finditer(text, s, e)] + [e]
        last = s
        for cut in cuts:
            if cut > last and not self._ok(text[start:cut]) and last > start:
                pieces.append((start, last))
                start = last
            last = cut
        pieces.append((start, e))
        out = []
        for ps, pe in pieces:
            while not self._ok(text[ps:pe]):
                lo, hi = ps + 1, pe  # longest prefix that fits, by bisection
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    lo, hi = (mid, hi) if self._ok(text[ps:mid]) else (lo, mid - 1)
                out.append((ps, lo))
                ps = lo
            out.append((ps, pe))
        return out

    def _pack(self, text: str, units: list[tuple[int, int]]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(units):
            j = i + 1
            while j < len(units) and self._ok(text[units[i][0] : units[j][1]]):
                j += 1
            spans.append((units[i][0], units[j - 1][1]))
            if j >= len(units):
                break
            # Step back over whole trailing units that fit in the overlap budget.
            k = j
            while k - 1 > i and count_tokens(text[units[k - 1][0] : units[j - 1][1]]) <= self.overlap:
                k -= 1
            i = k
        return spans
