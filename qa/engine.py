"""The engine: articles → chunks → index → retrieval → extraction → ``Answer``.

``QA`` composes the stages; the CLI, the web app and ``qa.ask`` are thin shells over it.
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import index as store_mod
from .articles import ArticleError, load_documents
from .chunking import ENCODING, Chunker
from .embedding import ENV_VAR, Embedder, ModelError, resolve
from .extraction import Extractor, Span, warm_up
from .ranker import DEFAULT_PATH as RANKER_PATH
from .ranker import SpanRanker
from .retrieval import Mode, Retriever
from .text import sentence_spans
from .types import Answer, Chunk, Citation, Document, Reader

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
# Below this confidence the engine abstains, unless the ranker's answerability model brings its own
# threshold (chosen on validation articles by ``python -m qa.train_ranker``).
ABSTAIN_BELOW = 0.5
MAX_CITATIONS = 3
# With QA_READER, the confidence is the model's span probability; below this the engine abstains.
READER_ABSTAIN_BELOW = 0.1


def default_ranker() -> SpanRanker | None:
    """The bundled learned span ranker (``python -m qa.train_ranker``); None when $QA_RANKER=off."""
    return _ranker(os.environ.get("QA_RANKER", "").lower() not in ("off", "0", "false", "heuristic"))


@lru_cache(maxsize=2)
def _ranker(on: bool) -> SpanRanker | None:
    return SpanRanker.load(RANKER_PATH) if on else None


def default_reader():
    """The reader named by $QA_READER, loaded once per name: unset or ``e5`` → the bundled e5 reader;
    ``ranker`` → None (the feature ranker reads); anything else → a hub id or folder for ``TransformerReader``."""
    return _reader((os.environ.get("QA_READER") or "e5").strip())


@lru_cache(maxsize=2)
def _reader(name: str):
    if name.lower() in ("ranker", "off", "none", "0"):
        return None
    if name.lower() in ("e5", "bundled", "default"):
        from .reader import BundledReader

        threshold = os.environ.get("QA_READER_THRESHOLD")
        return BundledReader(threshold=float(threshold) if threshold else None)
    from .reader import TransformerReader

    return TransformerReader(name, threshold=float(os.environ.get("QA_READER_THRESHOLD", READER_ABSTAIN_BELOW)))


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
        threshold: float | None = None,
        ranker: SpanRanker | None = None,
        reader: Reader | str | None = "default",
    ) -> None:
        """``reader``: "default" ($QA_READER, else the bundled e5 reader), None for the feature ranker alone,
        or a reader object (``extract(question, passages, documents)`` and a ``threshold``)."""
        from .reader import BundledReader, Cascade

        self.store = store
        self.embedder = embedder
        self.retriever = Retriever(store, embedder, mode)
        reader = default_reader() if reader == "default" else reader
        if ranker is None and (not isinstance(reader, BundledReader) or Cascade.uses_ranker(reader.settings)):
            ranker = default_ranker()  # (the bundled reader alone only needs the question's terms)
        features = Extractor(store.lexical.idf_of, store.lexical.knows, ranker=ranker)
        if isinstance(reader, BundledReader):  # the bundled reader, with the ranker beside it as reader.json says
            self.extractor = Cascade(reader, features)
            default = self.extractor.threshold
        elif reader is not None:  # QA_READER's transformer
            self.extractor = reader
            default = reader.threshold
        else:
            self.extractor = features
            # The ranker's answerability model comes with the threshold chosen for it on validation articles.
            default = (
                float(ranker.meta.get("abstain_below", ABSTAIN_BELOW))
                if ranker and ranker.answerable
                else ABSTAIN_BELOW
            )
        self.threshold = default if threshold is None else threshold

    def warm_up(self) -> QA:
        """Load what the first answer would otherwise wait for (the segmenter's dictionary, the reader's weights
        and torch), e.g. while a server starts; a one-off command-line answer skips it and loads the reader only
        if its question needs it."""
        warm_up()
        reader = getattr(self.extractor, "reader", self.extractor)
        if hasattr(reader, "warm_up"):
            reader.warm_up()
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
        reader="default",
    ) -> QA:
        """Index ``source`` (a folder/file of articles or a list of documents).

        With ``index_dir`` the index is written there (atomically), reusing the
        vectors of unchanged articles from the previous index built with the same
        model and chunker; without it the index lives in memory only. ``model`` may be
        an already loaded ``Embedder`` (shared, e.g. by per-user collections).
        An existing index built from another source is only replaced with ``force``.
        """
        in_memory = isinstance(source, (list, tuple))
        docs = list(source) if in_memory else load_documents(source)
        origin = {"kind": "memory"} if in_memory else _folder(source)
        if index_dir and not force:
            check_source(Path(index_dir), origin)
        return cls._build(docs, origin, index_dir, model, chunker, mode, reader)

    @classmethod
    def _build(
        cls,
        docs: list[Document],
        origin: dict,
        index_dir: str | Path | None,
        model: str | Embedder | None,
        chunker: Chunker | None,
        mode: Mode,
        reader="default",
    ) -> QA:
        t0 = time.perf_counter()
        embedder = model if isinstance(model, Embedder) else Embedder(resolve(model))
        chunker = chunker or Chunker()
        chunker = Chunker(chunker.max_tokens, chunker.overlap, embedder.fits if embedder.max_seq_length else None)
        reuse = _reusable(Path(index_dir), embedder, chunker) if index_dir else {}
        chunks: list[Chunk] = []
        vectors: list[np.ndarray] = []
        todo: list[tuple[int, list[Chunk]]] = []
        for d in docs:
            h = store_mod.doc_hash(d)
            old = reuse.get(d.doc_id)
            if old and old[0] == h:
                new = [replace(c, chunk_id=len(chunks) + i) for i, c in enumerate(old[1])]
                vectors.append(old[2])
            else:
                new = chunker.split(d, first_id=len(chunks))
                todo.append((len(vectors), new))
                vectors.append(np.zeros((0, embedder.dim), np.float32))
            chunks.extend(new)
        if not chunks and any(d.text.strip() for d in docs):
            raise ArticleError(f"{len(docs)} articles with text gave no chunks to index: check their sections")
        texts = [c.text for _, cs in todo for c in cs]
        log.info(
            "embedding %d of %d chunks (%d articles changed) with %s", len(texts), len(chunks), len(todo), embedder.name
        )
        fresh = embedder.encode_passages(texts)
        pos = 0
        for slot, cs in todo:
            vectors[slot] = fresh[pos : pos + len(cs)]
            pos += len(cs)
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        manifest = {
            "model": {
                "name": embedder.name,
                "path": embedder.spec.path,
                "dim": embedder.dim,
                "probe": embedder.probe.tolist(),
            },
            "chunker": chunker.settings(),
            "tiktoken_encoding": ENCODING,
            "source": origin,
            "corpus_fingerprint": store_mod.corpus_fingerprint(docs),
            "documents": {d.doc_id: store_mod.doc_hash(d) for d in docs},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "reembedded_chunks": len(texts),
        }
        if index_dir:
            with store_mod.build_lock(Path(index_dir)):
                stored = store_mod.save(Path(index_dir), manifest, docs, chunks, matrix)
        else:
            stored = store_mod.StoredIndex.in_memory(manifest, docs, chunks, matrix)
        log.info("indexed %d articles, %d chunks in %.2fs", len(docs), len(chunks), time.perf_counter() - t0)
        return cls(stored, embedder, mode, reader=reader)

    @classmethod
    def load(
        cls, index_dir: str | Path, model: str | Embedder | None = None, mode: Mode = "hybrid", reader="default"
    ) -> QA:
        """Load a built index; ``model`` (if given) must be the one the index was built with."""
        stored = store_mod.load(Path(index_dir))
        built = stored.manifest["model"]
        if model is not None and _name(model) != built["name"]:
            raise ModelError(
                f"index in {index_dir} was built with model {built['name']!r}, not {_name(model)!r}: "
                f"rebuild it with `python -m qa build --model {_name(model)}` or load it without a model"
            )
        embedder = model if isinstance(model, Embedder) else Embedder(resolve(model or built["name"]))
        _check_model(embedder, built, index_dir)
        return cls(stored, embedder, mode, reader=reader)

    @classmethod
    def open(
        cls,
        source: str | Path | None,
        index_dir: str | Path,
        model: str | Embedder | None = None,
        mode: Mode = "hybrid",
        reader="default",
    ) -> QA:
        """Load the index in ``index_dir``, (re)building it first if missing or stale for ``source``.

        ``source=None`` means the index's own article folder (recorded when it was built); an index
        built from another source than ``source`` is an error (``IndexSourceError``), never rebuilt."""
        index_dir = Path(index_dir)
        try:
            manifest = store_mod.read_manifest(index_dir)
        except store_mod.IndexCorrupt as exc:
            log.warning("%s: rebuilding", exc)
            manifest = None
        origin = (manifest or {}).get("source") or {}
        if source is None:
            if origin.get("kind") == "memory":
                return cls.load(index_dir, model, mode, reader)
            if origin.get("kind") != "folder":
                raise IndexSourceError(
                    f"no index in {index_dir} to open and no article folder given: "
                    f"build one with `python -m qa build --seeds FOLDER --index {index_dir}`"
                )
            source = origin["path"]
            if not Path(source).exists():  # the folder moved or went: the index still answers from its own copy
                log.warning(
                    "the articles the index in %s was built from (%s) are gone: answering from the index",
                    index_dir,
                    source,
                )
                return cls.load(index_dir, model, mode, reader)
        elif manifest:
            check_source(index_dir, _folder(source), manifest)
        docs = load_documents(source)
        if model is None and manifest and not os.environ.get(ENV_VAR):  # no model asked for: the index's own
            model = manifest["model"]["name"]
        wanted = _name(model)
        if manifest and manifest["model"]["name"] != wanted:
            raise ModelError(
                f"index in {index_dir} was built with model {manifest['model']['name']!r} "
                f"but {wanted!r} is configured: "
                f"rebuild with `python -m qa build --model {wanted}`"
            )
        if (
            manifest
            and manifest.get("corpus_fingerprint") == store_mod.corpus_fingerprint(docs)
            and manifest.get("chunker") == Chunker().settings()
        ):
            try:
                return cls.load(index_dir, model, mode, reader)
            except (store_mod.IndexCorrupt, ModelError) as exc:  # damaged, or the same model with new weights
                log.warning("%s: rebuilding", exc)
        elif manifest:
            log.info("articles in %s changed since the index was built: updating it", source)
        return cls._build(docs, _folder(source), index_dir, model, None, mode, reader)

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

    def ask(self, question: str, k: int = 5) -> Answer:
        """Answer with verbatim, cited spans, or abstain (``answerable=False``) with the closest passages."""
        question = clean_question(question)
        if not isinstance(k, int) or not 1 <= k <= 50:
            raise ValueError("k must be an integer from 1 to 50")
        return self.answer(question, self.retriever.retrieve(question, k))

    def answer(self, question: str, passages: list) -> Answer:
        """Extract the answer to a cleaned ``question`` from already retrieved ``passages``."""
        return self.answer_from(question, passages, self.extractor.extract(question, passages, self.store.documents))

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


def _folder(source: str | Path) -> dict:
    return {"kind": "folder", "path": str(Path(source).resolve())}


class IndexSourceError(ArticleError):
    """An index exists but was built from other articles than the ones named."""


def check_source(index_dir: Path, origin: dict, manifest: dict | None = None) -> None:
    """Raise ``IndexSourceError`` when the index in ``index_dir`` was built from another source than ``origin``
    (indexes from before sources were recorded are accepted)."""
    try:
        manifest = manifest or store_mod.read_manifest(index_dir)
    except store_mod.IndexCorrupt:
        return  # a damaged index is rebuilt whatever it held
    built = (manifest or {}).get("source")
    if not built or built == origin:
        return
    was = built.get("path") or "in-memory documents"
    now = origin.get("path") or "in-memory documents"
    raise IndexSourceError(
        f"the index in {index_dir} was built from {was}, not {now}: ask it without --seeds (it uses its own "
        f"articles), or replace it with `python -m qa build --seeds {now} --index {index_dir} --force`"
    )


def _name(model: str | Embedder | None) -> str:
    return model.name if isinstance(model, Embedder) else resolve(model).name


def _check_model(embedder: Embedder, built: dict, where) -> None:
    if embedder.dim != built["dim"] or not embedder.same_as(built["probe"]):
        raise ModelError(
            f"model {embedder.name!r} gives different vectors than the model the index in {where} was built with "
            f"(other weights or dimension {embedder.dim} vs {built['dim']}); rebuild with `python -m qa build`"
        )


def _reusable(index_dir: Path, embedder: Embedder, chunker: Chunker) -> dict[str, tuple[str, list[Chunk], np.ndarray]]:
    """Per article: (hash, chunks, vectors) from the existing index, when built the same way."""
    try:
        old = store_mod.load(index_dir)
    except store_mod.IndexCorrupt:
        return {}
    m = old.manifest
    if m["model"]["name"] != embedder.name or m.get("chunker") != chunker.settings():
        return {}
    try:
        _check_model(embedder, m["model"], index_dir)
    except ModelError:
        return {}
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(old.chunks):
        by_doc.setdefault(c.doc_id, []).append(i)
    return {d: (m["documents"].get(d, ""), [old.chunks[i] for i in ids], old.vectors[ids]) for d, ids in by_doc.items()}
