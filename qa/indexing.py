"""Building an index: articles → chunks → vectors → a saved (or in-memory) ``StoredIndex``.

Chunks and vectors of articles unchanged since the previous index (same model, same chunker) are reused;
the manifest says how the index was built (model, chunker, source, fingerprints) and is written here only.
``open_index`` decides whether an existing index can answer for a source as it is, or must be updated.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import index as store_mod
from .articles import ArticleError, load_documents
from .chunking import ENCODING, Chunker
from .embedding import Embedder, ModelError, resolve
from .milvus import StoreError, StoreSpec
from .types import Chunk, Document

log = logging.getLogger(__name__)


class IndexSourceError(ArticleError):
    """An index exists but was built from other articles than the ones named."""


def folder_origin(source: str | Path) -> dict:
    """The manifest's record of an article folder (or file)."""
    return {"kind": "folder", "path": str(Path(source).resolve())}


MEMORY = {"kind": "memory"}


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


def model_name(model: str | Embedder | None) -> str:
    return model.name if isinstance(model, Embedder) else resolve(model).name


def load_embedder(model: str | Embedder | None, offline: bool = False, precision: str = "auto") -> Embedder:
    if isinstance(model, Embedder):
        return model
    return Embedder(resolve(model), offline=offline, precision=precision)


def check_model(embedder: Embedder, built: dict, where) -> None:
    """Raise ``ModelError`` unless ``embedder`` gives the vectors the index's manifest (``built``) records."""
    if embedder.dim != built["dim"] or not embedder.same_as(built["probe"]):
        raise ModelError(
            f"model {embedder.name!r} gives different vectors than the model the index in {where} was built with "
            f"(other weights or dimension {embedder.dim} vs {built['dim']}); rebuild with `python -m qa build`"
        )


def store_of(manifest: dict | None, configured: str | None) -> StoreSpec:
    """The store a build writes to: the configured one, else the existing index's own, else the local one."""
    if configured:
        return StoreSpec.parse(configured)
    where = (manifest or {}).get("store") or {}
    return StoreSpec("milvus", where["uri"]) if where.get("kind") == "milvus" else StoreSpec("local")


def _reusable(index_dir: Path, embedder: Embedder, chunker: Chunker) -> dict[str, tuple[str, list[Chunk], np.ndarray]]:
    """Per article: (hash, chunks, vectors) from the existing index, when built the same way."""
    try:
        old = store_mod.load(index_dir)
    except (store_mod.IndexCorrupt, StoreError) as exc:
        log.info("nothing reused from the index in %s: %s", index_dir, exc)
        return {}
    m = old.manifest
    if m["model"]["name"] != embedder.name or m.get("chunker") != chunker.settings():
        return {}
    try:
        check_model(embedder, m["model"], index_dir)
    except ModelError:
        return {}
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(old.chunks):
        by_doc.setdefault(c.doc_id, []).append(i)
    return {d: (m["documents"].get(d, ""), [old.chunks[i] for i in ids], old.vectors[ids]) for d, ids in by_doc.items()}


def chunk_and_embed(
    docs: list[Document], chunker: Chunker, embedder: Embedder
) -> dict[str, tuple[list[Chunk], np.ndarray]]:
    """Per article: its chunks (ids from 0 within the article) and their vectors, in this process."""
    split = [chunker.split(d, first_id=0) for d in docs]
    matrix = embedder.encode_passages([c.text for cs in split for c in cs])
    out, pos = {}, 0
    for d, cs in zip(docs, split):
        out[d.doc_id] = (cs, matrix[pos : pos + len(cs)])
        pos += len(cs)
    return out


def build_index(
    docs: list[Document],
    origin: dict,
    index_dir: str | Path | None,
    embedder: Embedder,
    chunker: Chunker | None = None,
    store: StoreSpec | None = None,
    ingest=None,
) -> store_mod.StoredIndex:
    """Chunk and embed ``docs`` (reusing unchanged articles' vectors) into ``index_dir`` (atomically; in memory
    when None), searched by ``store`` (default: local FAISS + BM25; in-memory indexes are always local).
    ``ingest`` (``qa.ray_ingest.RayIngest``) chunks and embeds the articles to embed instead of this process.
    Articles with text that give no chunks are an error, never an empty index."""
    t0 = time.perf_counter()
    chunker = chunker or Chunker()
    chunker = Chunker(chunker.max_tokens, chunker.overlap, embedder.fits if embedder.max_seq_length else None)
    reuse = _reusable(Path(index_dir), embedder, chunker) if index_dir else {}
    kept: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    for d in docs:
        old = reuse.get(d.doc_id)
        if old and old[0] == store_mod.doc_hash(d):
            kept[d.doc_id] = (old[1], old[2])
    todo = [d for d in docs if d.doc_id not in kept]
    if ingest is None:
        fresh = chunk_and_embed(todo, chunker, embedder)
    else:
        fresh = ingest.chunk_and_embed(todo, chunker, embedder)
    n_embedded = sum(len(cs) for cs, _ in fresh.values())
    log.info("embedded %d chunks (%d articles changed) with %s", n_embedded, len(todo), embedder.name)
    chunks: list[Chunk] = []
    vectors: list[np.ndarray] = []
    for d in docs:
        cs, vs = kept.get(d.doc_id) or fresh[d.doc_id]
        base = len(chunks)
        chunks.extend([replace(c, chunk_id=base + i) for i, c in enumerate(cs)])
        vectors.append(vs)
    if not chunks and any(d.text.strip() for d in docs):
        raise ArticleError(f"{len(docs)} articles with text gave no chunks to index: check their sections")
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
        "reembedded_chunks": n_embedded,
    }
    if index_dir:
        with store_mod.build_lock(Path(index_dir)):
            remote = store if store is not None and store.kind == "milvus" else None
            stored = store_mod.save(Path(index_dir), manifest, docs, chunks, matrix, remote)
    else:
        stored = store_mod.StoredIndex.in_memory(manifest, docs, chunks, matrix)
    log.info("indexed %d articles, %d chunks in %.2fs", len(docs), len(chunks), time.perf_counter() - t0)
    return stored


def load_index(
    index_dir: str | Path, model: str | Embedder | None = None, offline: bool = False, precision: str = "auto"
) -> tuple[store_mod.StoredIndex, Embedder]:
    """A built index and its embedding model; ``model`` (if given) must be the one the index was built with."""
    stored = store_mod.load(Path(index_dir))
    built = stored.manifest["model"]
    if model is not None and model_name(model) != built["name"]:
        raise ModelError(
            f"index in {index_dir} was built with model {built['name']!r}, not {model_name(model)!r}: "
            f"rebuild it with `python -m qa build --model {model_name(model)}` or load it without a model"
        )
    embedder = load_embedder(model or built["name"], offline, precision)
    check_model(embedder, built, index_dir)
    return stored, embedder


def open_index(
    source: str | Path | None,
    index_dir: str | Path,
    model: str | Embedder | None = None,
    offline: bool = False,
    store: str | None = None,
    precision: str = "auto",
) -> tuple[store_mod.StoredIndex, Embedder]:
    """The index in ``index_dir``, (re)built first if missing or stale for ``source``.

    ``source=None`` means the index's own article folder (recorded when it was built); an index built from
    another source than ``source`` is an error (``IndexSourceError``), never rebuilt. ``model=None`` means
    the index's own model; ``store=None`` its own store (another one rebuilds it there, reusing its vectors)."""
    index_dir = Path(index_dir)
    try:
        manifest = store_mod.read_manifest(index_dir)
    except store_mod.IndexCorrupt as exc:
        log.warning("%s: rebuilding", exc)
        manifest = None
    origin = (manifest or {}).get("source") or {}
    if source is None:
        if origin.get("kind") == "memory":
            return load_index(index_dir, model, offline, precision)
        if origin.get("kind") != "folder":
            raise IndexSourceError(
                f"no index in {index_dir} to open and no article folder given: "
                f"build one with `python -m qa build --seeds FOLDER --index {index_dir}`"
            )
        source = origin["path"]
        if not Path(source).exists():  # the folder moved or went: the index still answers from its own copy
            log.warning(
                "the articles the index in %s was built from (%s) are gone: answering from the index", index_dir, source
            )
            return load_index(index_dir, model, offline, precision)
    elif manifest:
        check_source(index_dir, folder_origin(source), manifest)
    docs = load_documents(source)
    if model is None and manifest:  # no model asked for: the index's own
        model = manifest["model"]["name"]
    wanted = model_name(model)
    if manifest and manifest["model"]["name"] != wanted:
        raise ModelError(
            f"index in {index_dir} was built with model {manifest['model']['name']!r} "
            f"but {wanted!r} is configured: "
            f"rebuild with `python -m qa build --model {wanted}`"
        )
    target = store_of(manifest, store)
    if (
        manifest
        and manifest.get("corpus_fingerprint") == store_mod.corpus_fingerprint(docs)
        and manifest.get("chunker") == Chunker().settings()
        and store_of(manifest, None) == target
    ):
        try:
            return load_index(index_dir, model, offline, precision)
        except (store_mod.IndexCorrupt, ModelError) as exc:  # damaged, or the same model with new weights
            log.warning("%s: rebuilding", exc)
    elif manifest:
        log.info("articles in %s changed since the index was built: updating it", source)
    embedder = load_embedder(model, offline, precision)
    return build_index(docs, folder_origin(source), index_dir, embedder, store=target), embedder
