"""Gradient-boosted trees from LightGBM's text model format, predicted in plain numpy.

Answering never imports LightGBM (its import pulls scikit-learn and SciPy: about 1.6 s of a
cold start); ``python -m qa.train_ranker`` still fits the trees with it. Prediction uses the
QuickScorer layout: every internal node holds a bit mask of the leaves that stay reachable
when its test fails; a row's exit leaf in a tree is the leftmost leaf whose bit survives the
AND of the masks of all failed tests. All trees and rows are evaluated at once, without a
per-node loop, and the result equals LightGBM's raw score (the sum of the exit leaves' values).

Supported: numerical splits with LightGBM's missing-value rules (none, zero, NaN), up to 64
leaves per tree; anything else (categorical splits, linear trees) is refused when loading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ZERO = 1e-35  # LightGBM's kZeroThreshold
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


class TreeFormatError(ValueError):
    """The text is not a LightGBM model this module can predict."""


KEYS = (
    "num_leaves",
    "num_cat",
    "is_linear",
    "split_feature",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "leaf_value",
)


def _fields(body: str) -> dict[str, list[str]]:
    """For each key the trees use, its value in each tree that has it, in order."""
    out: dict[str, list[str]] = {k: [] for k in KEYS}
    for line in body.split("\n"):
        key, _, value = line.partition("=")
        if key in out:
            out[key].append(value)
    return out


def _expand(rows: list[str], present: np.ndarray) -> list[str]:
    """Rows for the trees that have them, "" for the others."""
    it = iter(rows)
    return [next(it) if p else "" for p in present]


def _padded(rows: list[str], width: int, fill, dtype) -> np.ndarray:
    """Space-separated numbers, one row per tree, right-padded with ``fill`` to ``width``."""
    out = np.full((len(rows), width), fill, dtype=dtype)
    lengths = np.fromiter((r.count(" ") + 1 if r else 0 for r in rows), np.int64, len(rows))
    values = np.array(" ".join(r for r in rows if r).split(), dtype=dtype)
    out[np.arange(width)[None, :] < lengths[:, None]] = values
    return out


@dataclass(frozen=True)
class Forest:
    """One LightGBM model's trees, flattened: ``features``/``thresholds``/``masks`` are (trees × nodes),
    padded with tests that never fail; ``leaf_values`` (trees × leaves) in left-to-right order."""

    features: np.ndarray
    thresholds: np.ndarray
    masks: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray  # 0 none, 1 zero, 2 NaN (LightGBM's missing types)
    leaf_values: np.ndarray
    num_features: int

    @classmethod
    def from_text(cls, text: str) -> Forest:
        header = text.split("\nTree=", 1)[0]
        fields = dict(line.partition("=")[::2] for line in header.splitlines() if "=" in line)
        try:
            num_features = int(fields["max_feature_idx"]) + 1
        except (KeyError, ValueError):
            raise TreeFormatError("not a LightGBM text model (no max_feature_idx)") from None
        fields = _fields(text.split("end of trees", 1)[0].split("\nTree=", 1)[-1])
        n_leaves = np.array([int(v) for v in fields["num_leaves"]], np.int64)
        if not len(n_leaves):
            raise TreeFormatError("the LightGBM model has no trees")
        if any(v != "0" for v in fields["num_cat"] + fields["is_linear"]):
            raise TreeFormatError("linear trees and categorical splits are not supported")
        width = int(n_leaves.max())
        if width > 64:
            raise TreeFormatError(f"trees with {width} leaves: at most 64 are supported")
        n, depth = len(n_leaves), max(width - 1, 1)
        split = n_leaves > 1  # single-leaf trees have no split lines
        feats, thr, decision, left, right = (
            _padded(_expand(fields[key], split), depth, fill, dtype)
            for key, fill, dtype in (
                ("split_feature", 0, np.int64),
                ("threshold", np.inf, np.float64),
                ("decision_type", 0, np.int64),
                ("left_child", 0, np.int64),
                ("right_child", 0, np.int64),
            )
        )
        values = _padded(fields["leaf_value"], width, 0.0, np.float64)
        if (decision & 1).any():
            raise TreeFormatError("categorical splits are not supported")
        internal = np.arange(depth)[None, :] < (n_leaves - 1)[:, None]
        node = np.arange(depth)[None, :]
        if ((left >= 0) & (left <= node) & internal).any() or ((right >= 0) & (right <= node) & internal).any():
            raise TreeFormatError("a tree's nodes are not numbered parent before child")
        t = np.arange(n)
        # Leaves under each node, children first (they are numbered after their parent).
        count = np.zeros((n, depth), np.int64)
        under = lambda c: np.where(c < 0, 1, count[t, np.maximum(c, 0)])  # noqa: E731
        for j in reversed(range(depth)):
            count[:, j] = np.where(internal[:, j], under(left[:, j]) + under(right[:, j]), 0)
        # Left-to-right position of each subtree's first leaf, parents first; leaves take their node's.
        offset = np.zeros((n, depth), np.int64)
        position = np.zeros((n, width), np.int64)
        for j in range(depth):
            live = internal[:, j]
            for child, start in ((left[:, j], offset[:, j]), (right[:, j], offset[:, j] + under(left[:, j]))):
                inner, leaf = live & (child >= 0), live & (child < 0)
                offset[t[inner], child[inner]] = start[inner]
                position[t[leaf], ~child[leaf]] = start[leaf]
        leaves = np.zeros((n, width))
        leaves[~split, 0] = values[~split, 0]
        k, leaf = np.nonzero(np.arange(width)[None, :] < np.where(split, n_leaves, 0)[:, None])
        leaves[k, position[k, leaf]] = values[k, leaf]
        # A failed test (go right) rules out the contiguous run of leaves under the left child.
        run = np.where(
            internal, np.where(left < 0, 1, np.take_along_axis(count, np.maximum(left, 0), axis=1)), 0
        ).astype(np.uint64)
        ones = np.left_shift(np.uint64(1), run) - np.uint64(1)
        masks = np.where(internal, ~np.left_shift(ones, offset.astype(np.uint64)), _ALL).astype(np.uint64)
        thr = np.where(internal, thr, np.inf)
        feats = np.where(internal, feats, 0)
        dleft = np.where(internal, (decision & 2) > 0, True)
        missing = np.where(internal, (decision >> 2) & 3, 0).astype(np.int8)
        return cls(feats, thr, masks, dleft, missing, leaves, num_features)

    def used_features(self) -> np.ndarray:
        """The feature columns any split reads (sorted)."""
        return np.unique(self.features[np.isfinite(self.thresholds)])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw scores of the rows of ``X`` (rows × ``num_features``, dense float64), as LightGBM's ``predict``."""
        x = np.asarray(X, dtype=np.float64)[:, self.features]  # rows × trees × nodes
        nan = np.isnan(x)
        x = np.where(nan & (self.missing != 2), 0.0, x)
        go_left = x <= self.thresholds
        default = ((self.missing == 1) & (np.abs(x) <= _ZERO)) | ((self.missing == 2) & nan)
        go_left = np.where(default, self.default_left, go_left)
        survivors = np.bitwise_and.reduce(np.where(go_left, _ALL, self.masks), axis=2)
        lowest = survivors & (~survivors + np.uint64(1))
        exit_leaf = np.log2(lowest.astype(np.float64)).astype(np.int64)
        return self.leaf_values[np.arange(len(self.leaf_values)), exit_leaf].sum(axis=1)
