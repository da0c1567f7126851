"""Refresh the README's "Measured results" block from bench/results/*.md: ``python -m bench.readme``."""

from __future__ import annotations

import re

from .common import RESULTS, ROOT

PARTS = (
    "reader",
    "embedders",
    "quality",
    "fusion",
    "models",
    "peer",
    "speed",
    "cold",
    "load",
    "faiss",
    "scale",
    "ingest",
    "store_fusion",
)


def main() -> None:
    here = ROOT / "bench"
    blocks = [(here / "README_results_head.md").read_text(encoding="utf-8").strip()]
    for name in PARTS:
        path = RESULTS / f"{name}.md"
        if path.exists():
            blocks.append(path.read_text(encoding="utf-8").strip().replace("### ", "#### "))
    blocks.append((here / "README_reliability.md").read_text(encoding="utf-8").strip())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- results:start[^>]*-->\n).*?(<!-- results:end -->)", re.S)
    (ROOT / "README.md").write_text(
        pattern.sub(lambda m: m.group(1) + "\n\n".join(blocks) + "\n" + m.group(2), readme), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
