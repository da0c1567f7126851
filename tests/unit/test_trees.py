"""The numpy tree predictor (qa/trees.py) against LightGBM itself: the same raw scores."""

import json

import numpy as np
import pytest

from qa.reading.ranker import DEFAULT_PATH
from qa.reading.trees import Forest, TreeFormatError

lightgbm = pytest.importorskip("lightgbm")


def _rows(rng, n_rows: int, n_features: int) -> np.ndarray:
    """Sparse-looking rows: mostly zeros, some tiny (|x| ≤ 1e-35), ones, and real values."""
    X = np.zeros((n_rows, n_features))
    for i in range(n_rows):
        cols = rng.choice(n_features, size=min(n_features, 12), replace=False)
        X[i, cols] = rng.choice([0.0, 1.0, 1e-36, -2.5, rng.normal(), rng.uniform(0, 5)], size=len(cols))
    return X


@pytest.mark.parametrize("zero_as_missing,use_missing", [(False, True), (True, True), (False, False)])
def test_trained_boosters_give_lightgbms_scores(zero_as_missing, use_missing):
    rng = np.random.default_rng(1)
    X = _rows(rng, 600, 20)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values take each split's default direction
    y = np.nan_to_num(X[:, 0]) * 2 - np.nan_to_num(X[:, 3]) + (np.nan_to_num(X[:, 7]) > 0.5)
    booster = lightgbm.train(
        {
            "objective": "regression",
            "num_leaves": 31,
            "min_data_in_leaf": 3,
            "verbose": -1,
            "zero_as_missing": zero_as_missing,
            "use_missing": use_missing,
        },
        lightgbm.Dataset(X, y),
        num_boost_round=40,
    )
    forest = Forest.from_text(booster.model_to_string())
    test = _rows(np.random.default_rng(2), 300, 20)
    test[np.random.default_rng(3).random(test.shape) < 0.05] = np.nan
    np.testing.assert_allclose(forest.predict(test), booster.predict(test), rtol=0, atol=1e-9)
    assert forest.predict(test).std() > 0.1  # the trees do split on these rows


def test_the_shipped_ranker_trees_give_lightgbms_scores():
    trees = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))["trees"]
    for text in trees:
        forest = Forest.from_text(text)
        X = _rows(np.random.default_rng(4), 100, forest.num_features)
        used = forest.used_features()
        X[:, used[:40]] = np.random.default_rng(5).uniform(0, 3, size=(100, 40))  # values where the splits look
        np.testing.assert_allclose(forest.predict(X), lightgbm.Booster(model_str=text).predict(X), rtol=0, atol=1e-9)


def test_categorical_splits_and_other_text_are_refused():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(300, 3)).astype(float)
    booster = lightgbm.train(
        {"objective": "regression", "verbose": -1, "min_data_in_leaf": 3},
        lightgbm.Dataset(X, X[:, 0] * 2.0, categorical_feature=[0]),
        num_boost_round=3,
    )
    with pytest.raises(TreeFormatError, match="categorical"):
        Forest.from_text(booster.model_to_string())
    with pytest.raises(TreeFormatError):
        Forest.from_text("not a model")
