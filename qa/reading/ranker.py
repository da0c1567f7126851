"""The learned span ranker and answerability model, stored as plain JSON (no pickle).

The extractor describes each candidate span, and each question's best answer, by dicts
of named features; this module only turns such dicts into scores:

1. a linear model (listwise logistic regression) scores every candidate;
2. gradient-boosted trees (fitted by LightGBM, kept in its text format inside the JSON and
   predicted by ``qa.trees`` in numpy, so answering never imports LightGBM) re-score
   the linear model's best ``rescore_top`` candidates from the frequent features plus the
   linear score; the final score is the trees' plus ``blend`` times the linear score (which
   keeps the trees from overruling a clear linear preference on inputs unlike their
   training data). With several tree models (the same data, different random seeds), their
   scores are averaged: one model's answers depend on its seed;
3. a logistic regression over question-level features gives the probability that the
   retrieved passages answer the question at all (the engine abstains below the threshold
   stored with it in ``meta["abstain_below"]``).

``python -m qa.train_ranker`` fits all three. Loading checks every feature name against the schema in
``features``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import repeat
from operator import mul
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "models" / "span-ranker.json"
FORMATS = ("qa-span-ranker/1", "qa-span-ranker/2", "qa-span-ranker/3")  # /3: a list of tree models


def _dot(weights: dict[str, float], bias: float, features: dict[str, float]) -> float:
    return bias + sum(map(mul, map(weights.get, features, repeat(0.0)), features.values()))


def _tree_models(trees: str | list[str] | None) -> tuple[str, ...]:
    """The stored tree models: a list (format /3), one string (/2) or none."""
    if not trees:
        return ()
    return (trees,) if isinstance(trees, str) else tuple(trees)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class SpanRanker:
    """Linear weights over named features, optional boosted trees (one or more models, averaged) over
    ``columns`` + the linear score, and optional answerability weights over question-level features."""

    weights: dict[str, float]
    bias: float
    meta: dict
    trees: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    answerable: dict[str, float] | None = None
    answerable_bias: float = 0.0
    blend: float = 0.0
    rescore_top: int = 0
    _forests: tuple = field(default=(), init=False, repr=False, compare=False)
    _column: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.trees:
            from .trees import Forest

            object.__setattr__(self, "_forests", tuple(Forest.from_text(t) for t in self.trees))
            object.__setattr__(self, "_column", {name: j for j, name in enumerate(self.columns)})
            for forest in self._forests:
                if forest.num_features != len(self.columns) + 1:
                    raise ValueError(
                        f"span ranker trees expect {forest.num_features} features, not {len(self.columns) + 1}"
                    )

    def score(self, features: dict[str, float]) -> float:
        """The linear stage's score of one candidate."""
        return _dot(self.weights, self.bias, features)

    def scores(self, candidates: list[dict[str, float]]) -> np.ndarray:
        """Scores of a question's candidates (higher is better; comparable within one question).

        With trees, only the linear stage's best ``rescore_top`` candidates (all when 0) are re-scored by
        them; the others score -inf (the trees cost time in proportion to the candidates they see)."""
        linear = np.fromiter((self.score(f) for f in candidates), float, len(candidates))
        if not self._forests or not candidates:
            return linear
        top = np.arange(len(candidates))
        if 0 < self.rescore_top < len(candidates):
            top = np.sort(np.argpartition(-linear, self.rescore_top)[: self.rescore_top])
        n = len(self.columns)
        X = np.zeros((len(top), n + 1))
        for i, feats in enumerate(candidates[j] for j in top):
            for name, value in feats.items():
                j = self._column.get(name)
                if j is not None:
                    X[i, j] = value
        X[:, n] = linear[top]
        out = np.full(len(candidates), -np.inf)
        out[top] = np.mean([f.predict(X) for f in self._forests], axis=0) + self.blend * linear[top]
        return out

    def answerable_probability(self, features: dict[str, float]) -> float | None:
        """The probability that the passages answer the question; None without an answerability model."""
        if self.answerable is None:
            return None
        return _sigmoid(_dot(self.answerable, self.answerable_bias, features))

    def save(self, path: Path) -> None:
        payload = {
            "format": FORMATS[-1],
            "bias": self.bias,
            "weights": self.weights,
            "meta": self.meta,
            "columns": list(self.columns),
            "trees": list(self.trees),
            "blend": self.blend,
            "rescore_top": self.rescore_top,
            "answerable": None
            if self.answerable is None
            else {"bias": self.answerable_bias, "weights": self.answerable},
        }
        Path(path).write_text(json.dumps(payload, ensure_ascii=False, indent=0, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> SpanRanker:
        """Read a ranker file; one that names features the code does not produce (``features.check_names``)
        is refused with ``ValueError``."""
        from .features import check_names

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a span-ranker file: {e}") from None
        if not isinstance(data, dict) or data.get("format") not in FORMATS:
            raise ValueError(f"{path} is not a span-ranker file")
        ans = data.get("answerable") or None
        check_names([*data["weights"], *(data.get("columns") or ())], str(path))
        if ans is not None:
            check_names(ans["weights"], f"{path} (answerability model)", answer=True)
        return cls(
            {k: float(v) for k, v in data["weights"].items()},
            float(data["bias"]),
            data.get("meta", {}),
            _tree_models(data.get("trees")),
            tuple(data.get("columns") or ()),
            None if ans is None else {k: float(v) for k, v in ans["weights"].items()},
            0.0 if ans is None else float(ans["bias"]),
            float(data.get("blend", 0.0)),
            int(data.get("rescore_top", 0)),
        )
