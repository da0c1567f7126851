"""Where the default engine finds its articles and index, from the environment."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def seeds_dir() -> Path:
    """$QA_SEEDS, else ``seeds/`` beside the package."""
    return Path(os.environ.get("QA_SEEDS") or ROOT / "seeds")


def article_source(explicit: str | Path | None, index: Path) -> Path | None:
    """The article folder to open ``index`` with: the one given (or $QA_SEEDS); else None, meaning the
    index's own articles, when an index exists; else the default ``seeds/``."""
    given = explicit or os.environ.get("QA_SEEDS")
    if given:
        return Path(given)
    return None if (Path(index) / "CURRENT").exists() else seeds_dir()


def index_dir() -> Path:
    """$QA_INDEX, else ``index/`` beside the package."""
    return Path(os.environ.get("QA_INDEX") or ROOT / "index")


def limit_threads(concurrent_requests: int) -> int:
    """Give each of ``concurrent_requests`` its share of the cores in torch and FAISS (OpenMP), so
    simultaneous questions do not oversubscribe the machine; returns the threads per request."""
    import faiss
    import torch

    per_request = max(1, (os.cpu_count() or 1) // max(1, concurrent_requests))
    torch.set_num_threads(per_request)
    faiss.omp_set_num_threads(per_request)
    return per_request
