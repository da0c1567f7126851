"""Cited extractive question answering over Chinese articles.

>>> from qa import ask
>>> a = ask("2024年深圳人工智能产业规模是多少？")
>>> a.answer, a.citations[0].title
"""

from __future__ import annotations

import logging
import threading

from .articles import ArticleError
from .config import Settings
from .embedding import ModelError
from .engine import QA
from .index import IndexCorrupt
from .milvus import StoreError
from .types import Answer, Chunk, Citation, Document, Passage, Section

__all__ = [
    "QA",
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "Passage",
    "Section",
    "Settings",
    "ask",
    "get_engine",
    "ArticleError",
    "ModelError",
    "IndexCorrupt",
    "StoreError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

_engine: QA | None = None
_lock = threading.Lock()


def get_engine(settings: Settings | None = None, warm_up: bool = True) -> QA:
    """The default engine, made on first use with ``settings`` (default: ``Settings.from_env()``): its index in
    ``index/`` ($QA_INDEX) over its own articles, or over ``seeds/`` ($QA_SEEDS) when there is no index yet
    (built on first use, updated when an article changes), warmed up (``QA.warm_up``) unless ``warm_up`` is
    false (the app warms it beside its starting server)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                settings = settings or Settings.from_env()
                engine = QA.open(settings.article_source(), settings.index, settings=settings)
                _engine = engine.warm_up() if warm_up else engine
    return _engine


def ask(question: str, *, k: int = 5) -> Answer:
    """Answer ``question`` from the default articles with cited verbatim spans (see ``QA.ask``)."""
    return get_engine().ask(question, k=k)
