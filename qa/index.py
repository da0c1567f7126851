"""Stage 3b: the on-disk index: FAISS vectors, chunk and document metadata, a manifest.

Layout of an index folder::

    index/
      CURRENT            name of the complete version in use (replaced atomically)
      v-<time>-<pid>/    one complete version
        manifest.json    format, model, chunker, corpus fingerprint, file checksums
        documents.jsonl  the articles (text, title, sections)
        chunks.jsonl     chunk metadata and text, row i ↔ vector i
        vectors.npy      float32 embeddings (reused for incremental rebuilds)
        vectors.faiss    the FAISS inner-product index
        lexical.npz      the BM25 weights (``qa.lexical``), so loading does not recompute them

With a Milvus store (``qa.milvus``) a version holds the articles, the chunks, their vectors (kept for incremental
rebuilds, memory-mapped at load) and ``vocabulary.npz`` (the terms' IDF, for question analysis) instead of
``vectors.faiss`` and ``lexical.npz``: the dense and BM25 search run in the Milvus collection its manifest
names, written before the version is made current.

A version is written in full, flushed, and only then named in ``CURRENT``, so
a crash at any point leaves the previous version usable. Every file is
checked against the manifest's SHA-256 on load. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from .lexical import BM25, Vocabulary
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
FILES = ("documents.jsonl", "chunks.jsonl", "vectors.npy", "vectors.faiss", "lexical.npz")
# Format 1 (before BM25 was saved) still loads: its BM25 is recomputed, as it always was.
READABLE = {1: FILES[:4], 2: FILES}
MILVUS_FILES = ("documents.jsonl", "chunks.jsonl", "vectors.npy", "vocabulary.npz")
# numpy parses a .npy header with ast.literal_eval, and on CPython 3.11 two threads parsing at once can raise
# "SystemError: AST constructor recursion depth mismatch" (see CPython gh-106905): loads are serialised.
_NPY_LOCK = threading.Lock()
# Exact search below this many vectors; HNSW above (see bench/ for the measurements behind it).
HNSW_FROM = 50_000


class IndexCorrupt(RuntimeError):
    """The index is missing, unreadable or corrupted."""


def doc_hash(doc: Document) -> str:
    payload = json.dumps([doc.title, doc.text, [asdict(s) for s in doc.sections]], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def corpus_fingerprint(docs: list[Document]) -> str:
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.doc_id):
        h.update(f"{d.doc_id}\0{doc_hash(d)}\n".encode())
    return h.hexdigest()


def make_faiss_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product search for small collections, HNSW for large ones."""
    dim = vectors.shape[1]
    if len(vectors) >= HNSW_FROM:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


class ChunkStore(Protocol):
    """Where an index's chunks are searched: ``LocalChunks`` (FAISS + BM25 in the index folder) or
    ``qa.milvus.MilvusChunks``. Chunk ids are the rows of ``StoredIndex.chunks``; results are best first."""

    def dense_search(self, qvec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def lexical_search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def get(self, ids: list[int]) -> list[dict]: ...


@dataclass(frozen=True)
class LocalChunks:
    """The local store's chunk search (a version's FAISS index and BM25). Its writes are whole versions
    (``save``), so that a version never changes once current."""

    chunks: list[Chunk]
    faiss_index: faiss.Index
    lexical: BM25

    def dense_search(self, qvec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.faiss_index.search(
            np.ascontiguousarray(qvec[None, :], dtype=np.float32), min(k, len(self.chunks))
        )
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def lexical_search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.lexical.scores(query)
        top = [int(i) for i in np.argsort(-scores, kind="stable")[:k] if scores[i] > 0]
        return np.array(top, np.int64), scores[top].astype(np.float32)

    def get(self, ids: list[int]) -> list[dict]:
        return [{"id": int(i), "doc_id": self.chunks[i].doc_id, "text": self.chunks[i].text} for i in ids]


@dataclass
class StoredIndex:
    """A loaded index version: documents, chunks, their vectors, the FAISS index and the chunks' BM25; or, with a
    Milvus store, the collection that searches them (``remote``) and the terms' IDF (``lexical``)."""

    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: np.ndarray
    faiss_index: faiss.Index | None
    lexical: BM25 | Vocabulary
    remote: ChunkStore | None = None  # qa.milvus.MilvusChunks

    @classmethod
    def in_memory(
        cls, manifest: dict, documents: list[Document], chunks: list[Chunk], vectors: np.ndarray
    ) -> StoredIndex:
        """An index that is never written (``QA.build`` without a folder)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(
            manifest,
            {d.doc_id: d for d in documents},
            list(chunks),
            vectors,
            make_faiss_index(vectors),
            BM25.fit([c.text for c in chunks]),
        )

    @property
    def chunk_store(self) -> ChunkStore:
        """This version's ``ChunkStore``: the Milvus collection, or the local FAISS index and BM25."""
        return self.remote if self.remote is not None else LocalChunks(self.chunks, self.faiss_index, self.lexical)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def build_lock(index_dir: Path):
    """Exclusive lock so two processes never build into one folder at once."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def save(
    index_dir: Path,
    manifest: dict,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    store=None,
) -> StoredIndex:
    """Write a new complete version and switch ``CURRENT`` to it; old versions are removed. With ``store`` (a
    Milvus ``StoreSpec``) the chunks go to a new Milvus collection first, and the alias moves to it after."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp = index_dir / f".tmp-{version}"
    tmp.mkdir()
    previous = (current_version(index_dir) or Path("")).name
    remote = store is not None and store.kind == "milvus"
    collection = None
    try:
        _write_jsonl(tmp / "documents.jsonl", (d.to_dict() for d in documents))
        _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        if remote:
            from .milvus import ALIAS, write_collection

            files, index = MILVUS_FILES, None
            lexical = Vocabulary.fit(c.text for c in chunks)
            np.savez(tmp / "vocabulary.npz", **lexical.to_arrays())
            collection = write_collection(store.uri, version, chunks, vectors)
            where = {"kind": "milvus", "uri": store.uri, "collection": collection, "alias": ALIAS}
        else:
            files, index = FILES, make_faiss_index(vectors)
            faiss.write_index(index, str(tmp / "vectors.faiss"))
            lexical = BM25.fit([c.text for c in chunks])
            np.savez(tmp / "lexical.npz", **lexical.to_arrays())
            where = {"kind": "local"}
        manifest = dict(
            manifest,
            format_version=FORMAT_VERSION,
            n_chunks=len(chunks),
            index_type="Milvus" if remote else type(index).__name__,
            store=where,
            files={name: {"sha256": _sha256(tmp / name), "bytes": (tmp / name).stat().st_size} for name in files},
        )
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        for name in (*files, "manifest.json"):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        os.rename(tmp, index_dir / version)
        _fsync_dir(index_dir)
        pointer = index_dir / f".CURRENT-{version}"
        pointer.write_text(version + "\n")
        with open(pointer, "rb") as f:
            os.fsync(f.fileno())
        os.replace(pointer, index_dir / "CURRENT")
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if collection is not None:  # written but never made current
            from .milvus import _drop, connect

            _drop(connect(store.uri), collection)
        raise
    _remove_old(index_dir, keep=(version, previous))
    by_id = {d.doc_id: d for d in documents}
    if remote:
        from .milvus import MilvusChunks, StoreError, publish

        try:  # the alias is for other readers: the version already names its collection
            publish(store.uri, collection)
        except StoreError as exc:
            log.warning("the new collection %s serves, but its alias could not be moved: %s", collection, exc)
        return StoredIndex(
            manifest,
            by_id,
            list(chunks),
            vectors,
            None,
            lexical,
            MilvusChunks(store.uri, collection, len(chunks), vectors.shape[1]),
        )
    return StoredIndex(manifest, by_id, list(chunks), vectors, index, lexical)


def _remove_old(index_dir: Path, keep: tuple[str, ...]) -> None:
    """Remove versions older than the new and the previous one (a reader may still be opening that)."""
    for p in index_dir.iterdir():
        if p.name not in keep and (p.name.startswith("v-") or p.name.startswith(".tmp-")) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def current_version(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / "CURRENT"
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    if not name.startswith("v-") or "/" in name:
        raise IndexCorrupt(f"{pointer} is damaged ({name!r}); delete {index_dir} and rebuild with `python -m qa build`")
    return Path(index_dir) / name


def read_manifest(index_dir: Path) -> dict | None:
    """The manifest of the current version, or None when there is no index yet."""
    version = current_version(index_dir)
    return None if version is None else _manifest(version)


def _manifest(version: Path) -> dict:
    try:
        return json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(
            f"index manifest in {version} is unreadable ({exc}); rebuild with `python -m qa build`"
        ) from exc


def load(index_dir: Path, attempts: int = 3) -> StoredIndex:
    """Load and verify the current version; raises ``IndexCorrupt`` with advice on any damage.

    ``CURRENT`` is read once per attempt; a load that races a rebuild (its version was removed
    meanwhile) is retried on the new version.
    """
    for attempt in range(attempts):
        version = current_version(Path(index_dir))
        if version is None:
            raise IndexCorrupt(f"no index in {index_dir}; build one with `python -m qa build`")
        try:
            return _load(version)
        except IndexCorrupt:
            if attempt + 1 == attempts or version.exists():
                raise
            log.info("index version %s was replaced while loading; retrying", version.name)
    raise AssertionError("unreachable")


def _load(version: Path) -> StoredIndex:
    manifest = _manifest(version)
    where = manifest.get("store") or {"kind": "local"}
    files = READABLE.get(manifest.get("format_version"))
    if where.get("kind") == "milvus" and files:
        files = MILVUS_FILES
    if files is None:
        raise IndexCorrupt(
            f"index in {version} has format {manifest.get('format_version')}, expected {FORMAT_VERSION}; rebuild it"
        )
    for name in files:
        path = version / name
        expected = manifest.get("files", {}).get(name, {})
        if not path.exists():
            raise IndexCorrupt(f"index file {path} is missing; rebuild with `python -m qa build`")
        if path.stat().st_size != expected.get("bytes") or _sha256(path) != expected.get("sha256"):
            raise IndexCorrupt(
                f"index file {path} is truncated or corrupted (checksum mismatch); rebuild with `python -m qa build`"
            )
    try:
        documents = {}
        for line in (version / "documents.jsonl").read_text(encoding="utf-8").splitlines():
            doc = Document.from_dict(json.loads(line))
            documents[doc.doc_id] = doc
        chunks = [
            Chunk(**json.loads(line)) for line in (version / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        remote = where.get("kind") == "milvus"
        with _NPY_LOCK:  # a Milvus-backed index maps its vectors instead of reading them (they may be many)
            vectors = np.load(version / "vectors.npy", allow_pickle=False, mmap_mode="r" if remote else None)
        index = None if remote else faiss.read_index(str(version / "vectors.faiss"))
        if remote:
            with _NPY_LOCK, np.load(version / "vocabulary.npz", allow_pickle=False) as arrays:
                lexical = Vocabulary.from_arrays({k: arrays[k] for k in arrays.files})
        elif "lexical.npz" in files:
            with _NPY_LOCK, np.load(version / "lexical.npz", allow_pickle=False) as arrays:
                lexical = BM25.from_arrays({k: arrays[k] for k in arrays.files})
        else:
            lexical = BM25.fit([c.text for c in chunks])
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexCorrupt(f"index in {version} is unreadable ({exc}); rebuild with `python -m qa build`") from exc
    indexed = len(chunks) if index is None else index.ntotal
    if len(chunks) != len(vectors) or indexed != len(chunks) or lexical.n_docs != len(chunks):
        raise IndexCorrupt(
            f"index in {version} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors, "
            f"{indexed} indexed, {lexical.n_docs} in BM25)"
        )
    if remote:  # outside the checks above: an unreachable store is not a damaged index (never rebuilt over)
        from .milvus import MilvusChunks

        store = MilvusChunks(where["uri"], where["collection"], len(chunks), vectors.shape[1])
        return StoredIndex(manifest, documents, chunks, vectors, None, lexical, store)
    return StoredIndex(manifest, documents, chunks, vectors, index, lexical)
