"""Milvus as the chunk store: dense vectors and Milvus's own BM25 full-text search (jieba analyzer).

``QA_STORE`` / ``--store`` chooses it: ``milvus:./milvus.db`` (Milvus Lite, embedded in the process: tests and
small set-ups) or ``milvus://host:19530`` (a Milvus server or cluster). Only chunks live in Milvus (id, article
id, text, vector; the BM25 sparse vector is Milvus's); the articles, the chunks' offsets and the manifest stay
in the project's own index folder, so every citation is still ``document.text[start:end] == quote``.

Each build writes a new collection ``<alias>_<version>``; the index folder's new version names it and becomes
current atomically (``CURRENT``), then the alias ``<alias>`` is pointed at it for other readers and the older
collections are dropped. An interrupted build leaves the previous version and its collection serving.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from .types import Chunk

log = logging.getLogger(__name__)

ALIAS = "cited_qa"
ANALYZER = {"tokenizer": "jieba"}  # Milvus's Chinese analyzer (Lite and server)
INSERT_BATCH = 2000
MAX_TEXT = 65535
CONNECT_TIMEOUT_S = 5.0
LITE_ATTEMPTS = 3


class StoreError(Exception):
    """The chunk store cannot be reached or does not hold what the index says (never a reason to rebuild over it:
    the message names the store's URI)."""


@dataclass(frozen=True)
class StoreSpec:
    """A parsed ``QA_STORE``: ``local`` (FAISS + BM25 in the index folder) or Milvus at ``uri``."""

    kind: str  # "local" or "milvus"
    uri: str = ""

    @classmethod
    def parse(cls, text: str | None) -> StoreSpec:
        text = (text or "local").strip()
        if text in ("", "local", "faiss"):
            return cls("local")
        if text.startswith("milvus://"):
            return cls("milvus", "http://" + text.removeprefix("milvus://"))
        if text.startswith("milvus:"):
            path = text.removeprefix("milvus:")
            if not path.endswith(".db"):
                raise ValueError(f"a Milvus Lite store is a .db file, e.g. milvus:./milvus.db, not {text!r}")
            return cls("milvus", path)
        raise ValueError(f"unknown store {text!r}: use local, milvus:./file.db (Milvus Lite) or milvus://host:19530")


class _LiteNoise(logging.Filter):
    """Milvus Lite's in-process gRPC server logs a traceback when pymilvus asks it for a timestamp while waiting
    for an index (``AllocTimestamp`` is not implemented there; pymilvus goes on without it): not an error of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not isinstance(record.exc_info[1], NotImplementedError):
            return True
        tb = record.exc_info[2]
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        return tb is None or tb.tb_frame.f_code.co_name != "AllocTimestamp"


def _quiet_lite() -> None:
    server = logging.getLogger("grpc._server")
    if not any(isinstance(f, _LiteNoise) for f in server.filters):
        server.addFilter(_LiteNoise())


def connect(uri: str):
    """A ``MilvusClient`` for ``uri``; ``StoreError`` naming the URI when it cannot be reached."""
    if uri.endswith(".db"):
        _quiet_lite()
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise StoreError("the Milvus store needs pymilvus: pip install 'cited-qa[milvus]'") from exc
    # A Milvus Lite server just started (or just released by another client of this process) may refuse the
    # first connection (grpc GOAWAY "too_many_pings", seen once in a CI run): a local file is tried again.
    attempts = LITE_ATTEMPTS if uri.endswith(".db") else 1
    for attempt in range(1, attempts + 1):
        try:
            return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:  # pymilvus raises MilvusException, grpc errors, OSError…
            if attempt == attempts:
                hint = " (a Milvus Lite file is open in one process at a time: is another one using it?)"
                hint = hint if uri.endswith(".db") else ""
                raise StoreError(f"cannot reach the Milvus store at {uri}: {str(exc)[:300]}{hint}") from exc
            log.info("Milvus Lite at %s refused a connection (%s): trying again", uri, str(exc)[:120])
            time.sleep(1.0)


def _schema(dim: int):
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    s.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True, analyzer_params=ANALYZER)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    s.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    return s


def _index_params(client, n: int):
    p = client.prepare_index_params()
    # Exact search for small collections, as the local store; HNSW above (see the README's sizing section).
    if n < 50_000:
        p.add_index("vector", index_type="FLAT", metric_type="IP")
    else:
        p.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 200})
    p.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return p


def add_rows(client, collection: str, chunks: list[Chunk], vectors: np.ndarray) -> None:
    """Insert ``chunks`` with their vectors in batches."""
    for start in range(0, len(chunks), INSERT_BATCH):
        rows = [
            {"id": c.chunk_id, "doc_id": c.doc_id, "text": c.text[:MAX_TEXT], "vector": v.tolist()}
            for c, v in zip(chunks[start : start + INSERT_BATCH], vectors[start : start + INSERT_BATCH])
        ]
        client.insert(collection, rows)


def write_collection(uri: str, version: str, chunks: list[Chunk], vectors: np.ndarray, alias: str = ALIAS) -> str:
    """Create collection ``<alias>_<version>`` holding ``chunks`` (row i ↔ chunk id i) and their vectors;
    returns its name. The alias is not moved here (``publish``): nothing serves the new collection yet."""
    client = connect(uri)
    name = f"{alias}_{re.sub(r'[^0-9A-Za-z_]', '_', version)}"
    t0 = time.perf_counter()
    try:
        client.create_collection(
            name,
            schema=_schema(vectors.shape[1]),
            index_params=_index_params(client, len(chunks)),
            consistency_level="Strong",  # a build's rows are searched at once after it (a server defaults to Bounded)
        )
        add_rows(client, name, chunks, vectors)
        client.flush(name)
        client.load_collection(name)
    except StoreError:
        raise
    except Exception as exc:
        _drop(client, name)
        raise StoreError(f"writing {len(chunks)} chunks to the Milvus store at {uri} failed: {str(exc)[:300]}") from exc
    log.info("wrote %d chunks to Milvus collection %s in %.1fs", len(chunks), name, time.perf_counter() - t0)
    return name


def publish(uri: str, collection: str, alias: str = ALIAS) -> None:
    """Point ``alias`` at ``collection`` and drop the other collections under the alias's prefix (except the
    one the alias named before, which a process that loaded the previous version may still search)."""
    client = connect(uri)
    names = client.list_collections()
    before = next((n for n in names if alias in client.list_aliases(n).get("aliases", [])), None)
    if before is None:
        client.create_alias(collection, alias)
    elif before != collection:
        client.alter_alias(collection, alias)
    for name in names:
        if name.startswith(alias + "_") and name not in (collection, before):
            _drop(client, name)


def _drop(client, name: str) -> None:
    try:
        client.drop_collection(name)
    except Exception as exc:  # best effort: a stale collection only costs space
        log.warning("could not drop Milvus collection %s: %s", name, exc)


class MilvusChunks:
    """Search one Milvus collection: dense (inner product) and BM25 over the chunks' text."""

    def __init__(self, uri: str, collection: str, n_chunks: int, dim: int) -> None:
        self.uri, self.collection = uri, collection
        self.client = connect(uri)
        try:
            if not self.client.has_collection(collection):
                raise StoreError(
                    f"the Milvus store at {uri} has no collection {collection!r}, which the index names: "
                    f"rebuild with `python -m qa build --store …`"
                )
            info = self.client.describe_collection(collection)
            self.client.load_collection(collection)
            rows = self.client.query(collection, filter="", output_fields=["count(*)"], consistency_level="Strong")
            count = int(rows[0]["count(*)"])
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot read collection {collection!r} of the Milvus store at {uri}: {exc}") from exc
        stored_dim = next((f.get("params", {}).get("dim") for f in info["fields"] if f["name"] == "vector"), None)
        if stored_dim is not None and int(stored_dim) != dim:
            from .embedding import ModelError

            raise ModelError(
                f"the Milvus collection {collection!r} holds {stored_dim}-dimensional vectors, not the {dim} of the "
                f"index's model: rebuild with `python -m qa build --store …`"
            )
        if count != n_chunks:
            raise StoreError(
                f"the Milvus collection {collection!r} at {uri} holds {count} chunks, the index {n_chunks}: "
                f"rebuild with `python -m qa build --store …`"
            )

    def dense_search(self, qvec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, inner products) of the ``k`` nearest chunks, best first."""
        hits = self.client.search(
            self.collection,
            data=[np.asarray(qvec, np.float32).tolist()],
            anns_field="vector",
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )[0]
        return np.array([h["id"] for h in hits], np.int64), np.array([h["distance"] for h in hits], np.float32)

    def lexical_search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, BM25 scores) of the ``k`` best chunks by Milvus's full-text search, best first (Milvus Lite
        reports BM25 as a negative distance; the magnitude is the score)."""
        if not query.strip():
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = self.client.search(
            self.collection,
            data=[query],
            anns_field="sparse",
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "BM25"},
        )[0]
        return np.array([h["id"] for h in hits], np.int64), np.abs(np.array([h["distance"] for h in hits], np.float32))

    def rrf_search(self, qvec: np.ndarray, query: str, k: int, depth: int) -> list[int]:
        """Milvus's own fusion: reciprocal-rank fusion of the dense and BM25 lists (k = 60), chunk ids best first."""
        from pymilvus import AnnSearchRequest, RRFRanker

        requests = [
            AnnSearchRequest([np.asarray(qvec, np.float32).tolist()], "vector", {"metric_type": "IP"}, depth),
            AnnSearchRequest([query], "sparse", {"metric_type": "BM25"}, depth),
        ]
        hits = self.client.hybrid_search(self.collection, requests, RRFRanker(60), limit=k, output_fields=["id"])[0]
        return [int(h["id"]) for h in hits]

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Insert chunks (their ``chunk_id`` is the primary key) and their vectors; Milvus computes the BM25 vectors."""
        add_rows(self.client, self.collection, chunks, vectors)

    def delete(self, doc_id: str) -> int:
        """Remove an article's chunks from the collection (the index folder's version is not changed: this is for
        operators repairing a store by hand); returns how many were deleted."""
        escaped = doc_id.replace("\\", "\\\\").replace('"', '\\"')
        out = self.client.delete(self.collection, filter=f'doc_id == "{escaped}"')
        return len(out) if isinstance(out, list) else int(out.get("delete_count", 0))

    def get(self, ids: list[int]) -> list[dict]:
        """The stored rows (id, doc_id, text) of chunk ``ids``."""
        return self.client.query(self.collection, ids=list(map(int, ids)), output_fields=["id", "doc_id", "text"])
