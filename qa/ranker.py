"""A linear span ranker: named features → score, with weights stored as plain JSON (no pickle).

The extractor describes each candidate span by a dict of named features; this module
only turns such dicts into scores. ``python -m qa.train_ranker`` fits the weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).parent / "models" / "span-ranker.json"


@dataclass(frozen=True)
class SpanRanker:
    """Logistic-regression weights over named features."""

    weights: dict[str, float]
    bias: float
    meta: dict

    def score(self, features: dict[str, float]) -> float:
        """The logit of "this span is the answer"."""
        w = self.weights
        return self.bias + sum(w.get(name, 0.0) * value for name, value in features.items())

    def probability(self, features: dict[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-self.score(features)))

    def save(self, path: Path) -> None:
        payload = {"format": "qa-span-ranker/1", "bias": self.bias, "weights": self.weights, "meta": self.meta}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=0, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> SpanRanker:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != "qa-span-ranker/1":
            raise ValueError(f"{path} is not a span-ranker file")
        return cls({k: float(v) for k, v in data["weights"].items()}, float(data["bias"]), data.get("meta", {}))
