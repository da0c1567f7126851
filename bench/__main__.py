"""Run the benchmarks: ``python -m bench [--quick] [--only NAME,…]``, names from ``ALL`` below.

Writes bench/results/<name>.json and .md, and bench/results/RESULTS.md with every table.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .common import RESULTS  # noqa: E402

ALL = (
    "fusion",
    "embedders",
    "reader",
    "quality",
    "models",
    "peer",
    "speed",
    "cold",
    "faiss",
    "scale",
    "ingest",
    "store_fusion",
    "load",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer questions, collections up to 100k vectors")
    ap.add_argument("--only", default=",".join(ALL), help="comma-separated subset of " + ",".join(ALL))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    limit = 200 if args.quick else None
    chosen = [x.strip() for x in args.only.split(",") if x.strip()]
    for name in chosen:
        t = time.perf_counter()
        if name == "faiss":
            from . import faiss_scale

            faiss_scale.run((1_000, 10_000, 100_000) if args.quick else (1_000, 10_000, 100_000, 1_000_000))
        else:
            module = __import__(f"bench.{name}", fromlist=["run"])
            module.run(limit)
        print(f"[{name}: {time.perf_counter() - t:.0f}s]\n", flush=True)
    parts = [(RESULTS / f"{n}.md").read_text(encoding="utf-8") for n in ALL if (RESULTS / f"{n}.md").exists()]
    (RESULTS / "RESULTS.md").write_text(
        "# Benchmark results\n\nProduced by `python -m bench` (see bench/results/*.json).\n\n" + "\n".join(parts),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
