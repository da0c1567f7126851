"""The engine: articles → chunks → index → retrieval → reading → ``Answer``.

``QA`` composes a stored index, its embedding model, a retriever and a reader; the CLI, the web app and
``qa.ask`` are thin shells over it. Building and opening indexes is ``qa.indexing``'s; which reader and
thresholds is ``qa.config.Settings``'.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

from . import index as store_mod
from .articles import load_documents
from .chunking import Chunker
from .config import Settings
from .embedding import Embedder
from .indexing import MEMORY, IndexSourceError, build_index, check_source, folder_origin, load_index, open_index
from .reading import Question, make_reader
from .retrieval import Mode, Retriever
from .text import sentence_spans
from .types import Answer, Citation, Document, Passage, Reader, Span

__all__ = ["QA", "IndexSourceError", "clean_question", "MAX_QUESTION_CHARS"]

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
MAX_CITATIONS = 3


def clean_question(question: str) -> str:
    """Validate and normalise a question: control characters and lone surrogates removed, length capped.

    Raises ``ValueError`` for a non-string or a question with nothing left in it.
    """
    if not isinstance(question, str):
        raise ValueError(f"question must be a string, not {type(question).__name__}")
    text = "".join(
        " " if ch.isspace() else ch
        for ch in question
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs", "Cf", "Co", "Cn")
    )
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise ValueError(
            "question is empty: ask something about the articles, e.g. 「2024年深圳人工智能产业规模是多少？」"
        )
    if len(text) > MAX_QUESTION_CHARS:
        log.warning("question of %d characters cut to the first %d", len(text), MAX_QUESTION_CHARS)
        text = text[:MAX_QUESTION_CHARS]
    return text


class QA:
    """A question-answering engine over one index."""

    def __init__(
        self,
        store: store_mod.StoredIndex,
        embedder: Embedder,
        mode: Mode = "hybrid",
        settings: Settings | None = None,
        reader: Reader | None = None,
        threshold: float | None = None,
        lexical_weight: float | None = None,
    ) -> None:
        """``reader``: any ``Reader``; by default the one ``settings`` name (``reading.make_reader``).
        ``threshold``: abstain below this confidence; by default the reader's own. ``lexical_weight``: BM25's
        share of the hybrid score; by default the embedding model's own."""
        settings = settings or Settings.from_env()
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.retriever = Retriever(store, embedder, mode, lexical_weight)
        self.reader: Reader = make_reader(settings) if reader is None else reader
        self.threshold = self.reader.threshold if threshold is None else threshold

    def warm_up(self) -> QA:
        """Load what the first answer would otherwise wait for (the reader's weights and torch; the feature
        ranker's segmenter dictionary) and what makes every answer faster (the e5 query encoder in torch), e.g.
        while a server starts; a one-off command-line answer skips it."""
        self.reader.warm_up()
        self.embedder.warm_up()
        return self

    # ----- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        source: str | Path | list[Document],
        index_dir: str | Path | None = None,
        model: str | Embedder | None = None,
        chunker: Chunker | None = None,
        mode: Mode = "hybrid",
        force: bool = False,
        settings: Settings | None = None,
        reader: Reader | None = None,
        ingest=None,
    ) -> QA:
        """Index ``source`` (a folder/file of articles or a list of documents).

        With ``index_dir`` the index is written there (atomically), reusing the
        vectors of unchanged articles from the previous index built with the same
        model and chunker; without it the index lives in memory only. ``model`` may be
        an already loaded ``Embedder`` (shared, e.g. by per-user collections).
        An existing index built from another source is only replaced with ``force``.
        ``settings`` default to ``Settings.from_env()``; their ``store`` says where a written index's chunks are
        searched. ``ingest`` (``qa.ray_ingest.RayIngest``) reads, chunks and embeds on a Ray cluster.
        """
        from .indexing import load_embedder, store_of

        settings = settings or Settings.from_env()
        in_memory = isinstance(source, (list, tuple))
        if in_memory:
            docs = list(source)
        else:
            docs = ingest.read(source) if ingest is not None else load_documents(source)
        origin = MEMORY if in_memory else folder_origin(source)
        manifest = None
        if index_dir:
            try:
                manifest = store_mod.read_manifest(Path(index_dir))
            except store_mod.IndexCorrupt:
                manifest = None
            if not force:
                check_source(Path(index_dir), origin, manifest)
        embedder = load_embedder(model or settings.model, settings.offline, settings.precision)
        store = store_of(manifest, settings.store) if index_dir else None
        stored = build_index(docs, origin, index_dir, embedder, chunker, store, ingest)
        return cls(stored, embedder, mode, settings, reader)

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        model: str | Embedder | None = None,
        mode: Mode = "hybrid",
        settings: Settings | None = None,
        reader: Reader | None = None,
    ) -> QA:
        """Load a built index; ``model`` (if given) must be the one the index was built with."""
        settings = settings or Settings.from_env()
        stored, embedder = load_index(index_dir, model, settings.offline, settings.precision)
        return cls(stored, embedder, mode, settings, reader)

    @classmethod
    def open(
        cls,
        source: str | Path | None,
        index_dir: str | Path,
        model: str | Embedder | None = None,
        mode: Mode = "hybrid",
        settings: Settings | None = None,
        reader: Reader | None = None,
    ) -> QA:
        """Load the index in ``index_dir``, (re)building it first if missing or stale for ``source``.

        ``source=None`` means the index's own article folder (recorded when it was built); an index
        built from another source than ``source`` is an error (``IndexSourceError``), never rebuilt."""
        settings = settings or Settings.from_env()
        stored, embedder = open_index(
            source, index_dir, model or settings.model, settings.offline, settings.store, settings.precision
        )
        return cls(stored, embedder, mode, settings, reader)

    # ----- use ----------------------------------------------------------------------------------
    def document(self, doc_id: str) -> Document:
        try:
            return self.store.documents[doc_id]
        except KeyError:
            raise KeyError(f"no article with id {doc_id!r}") from None

    @property
    def documents(self) -> list[Document]:
        return list(self.store.documents.values())

    def contains(self, text: str) -> bool:
        """Whether any article contains ``text`` verbatim."""
        return any(text in d.text for d in self.store.documents.values())

    def ask_followup(self, question: str, history: list[str], k: int = 5) -> Answer:
        """``ask`` a question that may refer back to earlier questions (「它」「该公司」…)."""
        from .conversation import resolve_followup

        return self.ask(resolve_followup(clean_question(question), history, self.contains), k)

    def question(self, text: str) -> Question:
        """``text`` cleaned and analysed against this collection's vocabulary."""
        return Question.analyse(clean_question(text), self.store.lexical)

    def retrieve(self, question: str, k: int = 5) -> list[Passage]:
        """The ``k`` passages that best match ``question`` (cleaned first)."""
        return self.retriever.retrieve(clean_question(question), k)

    def ask(self, question: str, k: int = 5) -> Answer:
        """Answer with verbatim, cited spans, or abstain (``answerable=False``) with the closest passages."""
        question = clean_question(question)
        if not isinstance(k, int) or not 1 <= k <= 50:
            raise ValueError("k must be an integer from 1 to 50")
        return self.answer(question, self.retriever.retrieve(question, k))

    def read(self, question: str, passages: list[Passage]) -> Span | None:
        """The reader's span for a cleaned ``question`` in ``passages`` (None: it found none)."""
        return self.reader.extract(Question.analyse(question, self.store.lexical), passages, self.store.documents)

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        """The answer to a cleaned ``question`` from already retrieved ``passages``."""
        return self.answer_from(question, passages, self.read(question, passages))

    def answer_from(self, question: str, passages: list, span: Span | None) -> Answer:
        """The ``Answer`` for an extracted ``span``: cited, or an abstention when it is missing or unsure."""
        if span is None or span.confidence < self.threshold:
            return Answer(question, "", False, span.confidence if span else 0.0, [], passages)
        citations = self._citations(span, passages)
        return Answer(question, citations[0].quote, True, span.confidence, citations, passages)

    def _citations(self, span: Span, passages) -> list[Citation]:
        doc = self.document(span.doc_id)
        quote = doc.text[span.start : span.end]
        cites = [self._cite(1, doc, span.start, span.end, span.sent_start, span.sent_end, span.confidence)]
        seen = {(span.doc_id, span.sent_start)}
        # The same words elsewhere in the retrieved passages are further evidence: cite them too.
        for p in passages:
            other = self.document(p.chunk.doc_id)
            hits = [
                p.chunk.start + m.start()
                for m in re.finditer(re.escape(quote), other.text[p.chunk.start : p.chunk.end])
            ]
            sentences = sentence_spans(other.text, p.chunk.start, p.chunk.end) if hits else []
            for a in hits:
                sa, sb = next(((s, e) for s, e in sentences if s <= a < e), (a, a + len(quote)))
                sb = max(sb, a + len(quote))  # a quote across sentences keeps its own end as context
                if (p.chunk.doc_id, sa) in seen or len(cites) >= MAX_CITATIONS:
                    continue
                seen.add((p.chunk.doc_id, sa))
                cites.append(self._cite(len(cites) + 1, other, a, a + len(quote), sa, sb, p.score))
        return cites

    @staticmethod
    def _cite(n: int, doc: Document, start: int, end: int, sent_start: int, sent_end: int, score: float) -> Citation:
        c = Citation(
            n,
            doc.doc_id,
            doc.title,
            doc.section_at(start),
            start,
            end,
            doc.text[start:end],
            doc.text[sent_start:sent_end],
            sent_start,
            float(score),
            doc.page_at(start),
        )
        if doc.text[c.start : c.end] != c.quote or c.quote not in c.context:
            raise RuntimeError(f"citation {c} is not verbatim")  # a bug, never shown as an answer
        return c
