"""Distributed ingest with Ray Data: ``python -m qa build --ray``.

Files are read in parallel (``flat_map``: one file → its articles); the articles to (re)embed are chunked and
embedded by ``map_batches`` over a pool of embedding actors, each holding its own copy of the model
(``workers`` of them, ``batch_size`` articles' chunks per call). Everything comes back to the driver in the
articles' order, so chunk ids, chunks and vectors equal a single-process build (vectors up to float
tolerance), and the result is written to the configured store as any build is. ``RAY_ADDRESS``
(``Settings.ray_address``) names a cluster; without it a local one starts and stops with the command.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .articles import ArticleError, article_files, read_file
from .chunking import Chunker
from .embedding import Embedder, ModelSpec
from .types import Chunk, Document

log = logging.getLogger(__name__)


def _read(row: dict) -> list[dict]:
    """One file's articles (or none, with a warning, for an unreadable file)."""
    try:
        found = read_file(Path(row["path"]), stem=row["stem"])
    except (OSError, UnicodeError, ValueError) as exc:
        logging.getLogger(__name__).warning("skipping unreadable article file %s: %s", row["path"], exc)
        return []
    return [{"n": row["n"], "k": k, "doc": d.to_dict()} for k, d in enumerate(found)]


class _ChunkAndEmbed:
    """A Ray Data actor: chunks a batch of articles and embeds their chunks with its own copy of the model."""

    def __init__(self, spec: ModelSpec, max_tokens: int, overlap: int) -> None:
        self.embedder = Embedder(spec)
        fits = self.embedder.fits if self.embedder.max_seq_length else None
        self.chunker = Chunker(max_tokens, overlap, fits)

    def __call__(self, batch: dict) -> dict:
        rows = []
        for n, doc in zip(batch["n"], batch["doc"]):
            for j, c in enumerate(self.chunker.split(Document.from_dict(doc), first_id=0)):
                rows.append((int(n), j, asdict(c)))
        vectors = self.embedder.encode_passages([c["text"] for _, _, c in rows])
        return {
            "n": np.array([r[0] for r in rows], np.int64),
            "j": np.array([r[1] for r in rows], np.int64),
            "chunk": [r[2] for r in rows],
            "vector": list(vectors) if len(rows) else [],
        }


class RayIngest:
    """Reads, chunks and embeds on a Ray cluster (``address``; None: a local cluster for this command)."""

    def __init__(self, address: str | None = None, batch_size: int = 256, workers: int | None = None) -> None:
        if batch_size < 1 or (workers is not None and workers < 1):
            raise ValueError("--batch-size and --workers must be at least 1")
        self.address, self.batch_size, self.workers = address, batch_size, workers
        self._started = False

    def start(self):
        """Connect to the cluster (or start a local one) once; returns the ``ray`` module."""
        try:
            import ray
        except ImportError as exc:
            raise ArticleError("`build --ray` needs Ray: pip install 'cited-qa[ray]'") from exc
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={"working_dir": None} if self.address else None,
            )
            self._started = True
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = True
        return ray

    def read(self, source: str | Path) -> list[Document]:
        """Every article under ``source`` (as ``articles.load_documents``), files read by Ray tasks."""
        root = Path(source)
        if not root.exists():
            raise ArticleError(f"article source {root} does not exist")
        ray = self.start()
        files = article_files(root)
        items = [
            {"n": i, "path": str(p), "stem": str(p.relative_to(root)) if root.is_dir() else p.name}
            for i, p in enumerate(files)
        ]
        if not items:
            return []
        rows = ray.data.from_items(items).flat_map(_read).take_all()
        rows.sort(key=lambda r: (r["n"], r["k"]))
        docs = [Document.from_dict(r["doc"]) for r in rows]
        seen: set[str] = set()
        for d in docs:
            if d.doc_id in seen:
                raise ArticleError(f"duplicate article id {d.doc_id!r} in {source}")
            seen.add(d.doc_id)
        log.info("read %d articles from %d files with Ray", len(docs), len(files))
        return docs

    def chunk_and_embed(
        self, docs: list[Document], chunker: Chunker, embedder: Embedder
    ) -> dict[str, tuple[list[Chunk], np.ndarray]]:
        """Per article: its chunks (ids from 0 within the article) and their vectors."""
        if not docs:
            return {}
        ray = self.start()
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ds = ray.data.from_items([{"n": i, "doc": d.to_dict()} for i, d in enumerate(docs)])
        out = ds.map_batches(
            _ChunkAndEmbed,
            fn_constructor_kwargs={
                "spec": embedder.spec,
                "max_tokens": chunker.max_tokens,
                "overlap": chunker.overlap,
            },
            batch_size=self.batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_format="numpy",
        ).take_all()
        out.sort(key=lambda r: (r["n"], r["j"]))
        found: dict[int, tuple[list[Chunk], list[np.ndarray]]] = {}
        for r in out:
            cs, vs = found.setdefault(int(r["n"]), ([], []))
            cs.append(Chunk(**r["chunk"]))
            vs.append(np.asarray(r["vector"], np.float32))
        empty = np.zeros((0, embedder.dim), np.float32)
        log.info("chunked and embedded %d articles into %d chunks with %d Ray workers", len(docs), len(out), workers)
        return {
            d.doc_id: (found[i][0], np.stack(found[i][1])) if i in found else ([], empty) for i, d in enumerate(docs)
        }

    def close(self) -> None:
        """Stop the local cluster this command started (a cluster named by ``RAY_ADDRESS`` keeps running)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
