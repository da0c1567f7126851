"""Stage 5, reading: the answer span in the retrieved passages.

In data-flow order:

* ``question``   — ``Question``: the question analysed once per ask (kind, question word, weighted terms)
* ``segment``    — jieba's words and parts of speech
* ``candidates`` — candidate spans in a sentence (typed patterns, gaps, clauses, runs of words)
* ``heuristic``  — the hand-written span score
* ``features``   — named features for the learned ranker, against a declared schema
* ``ranker`` / ``trees`` — the learned ranker (linear model, trees predicted in numpy, answerability)
* ``extractor``  — ``Extractor``, the feature-based reader composing the above
* ``windows`` / ``transformer`` — transformer readers (the bundled e5 reader, any hub QA model)
* ``calibrated`` — ``CalibratedReader``: the bundled reader with its answerability model (the default)

Every reader implements ``qa.types.Reader``; ``make_reader`` builds the one ``Settings`` ask for.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..config import Settings
from .extractor import Extractor
from .question import Lexicon, Question

__all__ = ["Extractor", "Lexicon", "Question", "make_reader", "load_ranker"]

# With a hub QA model (QA_READER=<id>), the confidence is its span probability; below this the engine abstains.
TRANSFORMER_ABSTAIN_BELOW = 0.1


@lru_cache(maxsize=2)
def load_ranker(path: Path | None = None):
    """The span ranker in ``path`` (default: the bundled one), loaded once per path (16 MB of JSON)."""
    from .ranker import DEFAULT_PATH, SpanRanker

    return SpanRanker.load(path or DEFAULT_PATH)


@lru_cache(maxsize=2)
def _bundled(threshold: float | None, precision: str):
    from .transformer import BundledReader

    return BundledReader(threshold=threshold, precision=precision)


@lru_cache(maxsize=2)
def _hub(name: str, threshold: float):
    from .transformer import TransformerReader

    return TransformerReader(name, threshold=threshold)


def make_reader(settings: Settings):
    """The reader ``settings.reader`` names: ``e5`` → the bundled e5 reader with its answerability model
    (``CalibratedReader``); ``ranker`` → the feature ranker alone (``Extractor``; the hand-written score with
    ``settings.ranker`` off); anything else → a hub id or folder for ``TransformerReader``. Model files load
    once per process; readers are stateless and shared."""
    name = settings.reader.strip()
    if name.lower() in ("ranker", "off", "none", "0"):
        return Extractor(load_ranker() if settings.ranker else None)
    if name.lower() in ("e5", "bundled", "default"):
        from .calibrated import CalibratedReader

        return CalibratedReader(_bundled(settings.reader_threshold, settings.precision))
    threshold = settings.reader_threshold
    return _hub(name, TRANSFORMER_ABSTAIN_BELOW if threshold is None else threshold)
