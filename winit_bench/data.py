"""Data sets: scikit-learn's digits (ships offline), teacher networks, Gaussian inputs.

Every loader returns float arrays in the requested dtype and is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .extras import require


@dataclass(frozen=True)
class Split:
    """A train/test split: ``X_*`` of shape (n, features), ``y_*`` integer labels or float targets."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def digits(*, test_fraction: float = 0.25, seed: int = 0, dtype: str = "float32") -> Split:
    """The 8x8 handwritten digits (1797 images, 10 classes), standardised per pixel on the training part.

    Needs scikit-learn (``pip install 'winit_bench[data]'``); it ships the data, nothing is downloaded.
    """
    datasets = require("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0
    Xs = ((X - mean) / std).astype(dtype)
    return Split(Xs[train], y[train].astype(np.int64), Xs[test], y[test].astype(np.int64))


def gaussian_inputs(batch: int, width: int, *, seed: int = 0, dtype: str = "float32", q0: float = 1.0) -> np.ndarray:
    """``X ~ N(0, q0)`` of shape (batch, width): the input mean-field theory assumes."""
    return (np.sqrt(q0) * np.random.default_rng(seed).standard_normal((batch, width))).astype(dtype)


def teacher(n: int, sizes: list[int], *, activation: str = "tanh", seed: int = 0, dtype: str = "float32", noise: float = 0.0):
    """A regression task: Gaussian inputs through a random (LeCun-initialised) teacher network."""
    from .engine import MLP

    net = MLP(sizes, activation, "lecun_normal", seed=seed + 1, dtype="float64")
    X = np.random.default_rng(seed).standard_normal((n, sizes[0]))
    Y = net.backend.to_host(net.forward(X))
    if noise:
        Y = Y + noise * np.random.default_rng(seed + 2).standard_normal(Y.shape)
    return X.astype(dtype), Y.astype(dtype)
