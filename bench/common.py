"""Shared helpers for the benchmarks: data paths, the engine per dataset, tables and JSON output."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from qa.config import cpu_bf16_flags

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
TMP = RESULTS / "tmp"
# name → (questions file, paragraphs file or None when the same)
SETS = {
    "CMRC 2018 dev (held-out)": (DATA / "cmrc2018_dev.json", None),
    "DRCD dev (held-out)": (DATA / "DRCD_dev.json", None),
    "XQuAD zh (held-out)": (DATA / "xquad.zh.json", None),
    "XQuAD en questions → zh paragraphs (held-out)": (DATA / "xquad.en.json", DATA / "xquad.zh.json"),
    "seed dev": (DATA / "seed_qa_dev.jsonl", None),
}
log = logging.getLogger("bench")


def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table; floats get 3 significant decimals."""

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return "–" if v is None else str(v)

    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def write(name: str, payload: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = dict(payload, measured_at=time.strftime("%Y-%m-%d %H:%M"), machine=machine())
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")
    print(markdown + "\n", flush=True)


def machine() -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:  # the model and its bfloat16 instructions: the reader's speed and precision (``auto``) depend on them
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
        bf16 = cpu_bf16_flags(info) or ["no bf16 instructions: float32"]
        cpu = f"{model or cpu} ({', '.join(bf16)})"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU"


SEEDS_DIR = ROOT / "seeds"
