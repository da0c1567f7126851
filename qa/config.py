"""Configuration: one frozen ``Settings``, read from the environment in one place (``Settings.from_env``).

The command line and the app build one (their options override it) and pass it down to
``QA.build`` / ``QA.load`` / ``QA.open``; nothing below reads environment variables.

=====================  ===============================================================  ==============
variable               meaning                                                          default
=====================  ===============================================================  ==============
QA_SEEDS               article folder (for ``ask``, the index's own articles win)        ``seeds/``
QA_INDEX               index folder                                                      ``index/``
QA_MODEL               embedding model: preset, folder or hub id                         the index's, else e5-small
QA_RANKER              ``off`` for the hand-written span score instead of the ranker     on
QA_READER              ``e5`` (bundled reader), ``ranker`` (feature ranker alone), or
                       a hub id / folder of a SQuAD-style transformer                    ``e5``
QA_READER_THRESHOLD    abstain below this confidence                                     the reader's own
QA_PRECISION           the e5 models' torch arithmetic: ``bfloat16`` (fast only where the
                       CPU has bfloat16 instructions, AVX512-BF16 or AMX; emulated, 6x
                       slower than float32), ``float32``, or ``auto``: bfloat16 where the
                       CPU has those instructions, else float32                         ``auto``
QA_STORE               where chunks are searched: local (FAISS + BM25 in the index folder),
                       milvus:./file.db (Milvus Lite) or milvus://host:19530                the index's, else local
RAY_ADDRESS            the Ray cluster of ``build --ray`` (unset: a local one)           a local cluster
QA_CONCURRENCY         the app's simultaneous questions (threads shared among them)      4
QA_QUEUE_SIZE          the app's waiting questions before it answers "busy"             64
GRADIO_SERVER_NAME     the app's host                                                    127.0.0.1
GRADIO_SERVER_PORT     the app's port                                                    7860
HF_HUB_OFFLINE         never try the Hugging Face hub                                    off
XDG_CACHE_HOME         where caches go (``cited-qa/`` inside)                            ``~/.cache``
=====================  ===============================================================  ==============
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
_OFF = ("off", "0", "false", "no", "heuristic")
PRECISIONS = ("auto", "bfloat16", "float32")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo's names of the instructions torch's bfloat16 kernels use


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU's bfloat16 instruction sets among ``BF16_FLAGS``, from ``cpuinfo`` (default: /proc/cpuinfo's
    text); none where the file is missing (not Linux) or names none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return [f for f in BF16_FLAGS if f in flags]


@functools.cache
def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (read once; without them torch emulates bfloat16 and a reader
    window takes 6x as long as in float32: 646 against 108 ms on a 2-core AMD EPYC with AVX2 only)."""
    return bool(cpu_bf16_flags())


def is_bfloat16(precision: str) -> bool:
    """Whether ``precision`` (``Settings.precision``) means bfloat16: ``auto`` does where the CPU has bfloat16
    instructions (``native_bfloat16``); a value not in ``PRECISIONS`` is an error."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision == "bfloat16" or (precision == "auto" and native_bfloat16())


@dataclass(frozen=True)
class Settings:
    """Everything the engine, the CLI and the app can be configured with."""

    seeds: Path | None = None  # None: the index's own articles when it has some, else DEFAULT_SEEDS
    index: Path = ROOT / "index"
    model: str | None = None  # None: the index's own model, else the default preset
    ranker: bool = True
    reader: str = "e5"
    reader_threshold: float | None = None
    precision: str = "auto"  # one of PRECISIONS
    store: str | None = None  # None: the index's own store, else local (``qa.milvus.StoreSpec``)
    ray_address: str | None = None
    concurrency: int = 4
    queue_size: int = 64
    host: str = "127.0.0.1"
    port: int = 7860
    offline: bool = False
    cache_dir: Path = Path.home() / ".cache" / "cited-qa"

    DEFAULT_SEEDS = ROOT / "seeds"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (the table above); unset or empty ones keep their defaults."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        def number(name: str, kind, default):
            value = get(name)
            if value is None:
                return default
            try:
                return kind(value)
            except ValueError:
                raise ValueError(f"${name} must be a number, not {value!r}") from None

        d = cls()
        cache = get("XDG_CACHE_HOME")
        precision = (get("QA_PRECISION") or d.precision).lower()
        if precision not in PRECISIONS:
            raise ValueError(f"$QA_PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        return cls(
            seeds=Path(get("QA_SEEDS")) if get("QA_SEEDS") else None,
            index=Path(get("QA_INDEX") or d.index),
            model=get("QA_MODEL"),
            ranker=(get("QA_RANKER") or "on").lower() not in _OFF,
            reader=get("QA_READER") or d.reader,
            reader_threshold=number("QA_READER_THRESHOLD", float, None),
            precision=precision,
            store=get("QA_STORE"),
            ray_address=get("RAY_ADDRESS"),
            concurrency=max(1, number("QA_CONCURRENCY", int, d.concurrency)),
            queue_size=max(1, number("QA_QUEUE_SIZE", int, d.queue_size)),
            host=get("GRADIO_SERVER_NAME") or d.host,
            port=number("GRADIO_SERVER_PORT", int, d.port),
            offline=(get("HF_HUB_OFFLINE") or "0").lower() not in ("0", "false", "no"),
            cache_dir=Path(cache) / "cited-qa" if cache else d.cache_dir,
        )

    def with_(self, **changes) -> Settings:
        """A copy with some fields changed (options given as None are left as they were)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def article_source(self) -> Path | None:
        """The article folder to open the index with: the one set; else None, meaning the index's own
        articles, when an index exists; else the default ``seeds/``."""
        if self.seeds:
            return Path(self.seeds)
        return None if (Path(self.index) / "CURRENT").exists() else self.DEFAULT_SEEDS

    def seeds_dir(self) -> Path:
        """The folder to build from: the one set, else ``seeds/``."""
        return Path(self.seeds) if self.seeds else self.DEFAULT_SEEDS


def limit_threads(concurrent_requests: int) -> int:
    """Give each of ``concurrent_requests`` its share of the cores in torch and FAISS (OpenMP), so
    simultaneous questions do not oversubscribe the machine; returns the threads per request."""
    import faiss
    import torch

    per_request = max(1, (os.cpu_count() or 1) // max(1, concurrent_requests))
    torch.set_num_threads(per_request)
    faiss.omp_set_num_threads(per_request)
    return per_request


@functools.cache
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread. For small products (one query through the numpy
    encoder): their threads gain nothing there, and once woken they spin on the cores for a while after,
    which slowed the reader's torch forward right after a query's encoding fourfold on 2 cores (measured)."""
    return _blas().limit(limits=1, user_api="blas")
