"""Where the default engine finds its articles and index, from the environment."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def seeds_dir() -> Path:
    """$QA_SEEDS, else ``seeds/`` beside the package."""
    return Path(os.environ.get("QA_SEEDS") or ROOT / "seeds")


def index_dir() -> Path:
    """$QA_INDEX, else ``index/`` beside the package."""
    return Path(os.environ.get("QA_INDEX") or ROOT / "index")
