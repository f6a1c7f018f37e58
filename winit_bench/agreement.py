"""Does a backend compute what the NumPy reference computes? Forward, gradients, training, weights.

Used by the test suite (numba, cupy) and by ``winit-bench selftest``, the one-command check that
a backend can be trusted on this machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .activations import activation_names
from .engine import MLP


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _data(sizes, batch, output, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0]))
    Y = rng.integers(0, sizes[-1], batch) if output == "softmax" else rng.standard_normal((batch, sizes[-1]))
    return X, Y


def compare_backends(
    backend: str,
    *,
    activations=None,
    outputs=("linear", "softmax"),
    dtypes=("float64", "float32"),
    sizes=(12, 16, 16, 5),
    batch: int = 8,
    steps: int = 10,
    lr: float = 0.05,
) -> pd.DataFrame:
    """Largest relative difference from NumPy per activation x output x dtype, on forward, gradients, ``steps`` SGD steps and initial weights."""
    rows = []
    for act in activations or activation_names():
        for output in outputs:
            for dtype in dtypes:
                X, Y = _data(sizes, batch, output)
                X = X.astype(dtype)
                nets = [MLP(sizes, act, "xavier_normal", output=output, dtype=dtype, backend=b, bias_std=0.1) for b in ("numpy", backend)]
                ref, other = nets
                row = {"activation": act, "output": output, "dtype": dtype}
                row["weights_identical"] = all(
                    np.array_equal(w1, w2) and np.array_equal(b1, b2) for (w1, b1), (w2, b2) in zip(ref.weights(), other.weights())
                )
                row["forward"] = _rel(other.backend.to_host(other.forward(X)), ref.forward(X))
                (_, g1), (_, g2) = ref.gradients(X, Y), other.gradients(X, Y)
                row["gradients"] = max(_rel(b[k], a[k]) for a, b in zip(g1, g2) for k in (0, 1))
                losses = [[net.train_step(X, Y, lr) for _ in range(steps)] for net in nets]
                row["train_loss"] = _rel(losses[1], losses[0])
                row["train_weights"] = max(_rel(b[k], a[k]) for a, b in zip(ref.weights(), other.weights()) for k in (0, 1))
                rows.append(row)
                free = getattr(other.backend, "free_memory", None)
                if free:
                    free()
    return pd.DataFrame(rows)


TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose differences exceed the dtype's tolerance, or whose initial weights differ."""
    tol = table["dtype"].map(TOLERANCE)
    bad = ~table["weights_identical"]
    for col in ("forward", "gradients", "train_loss", "train_weights"):
        bad |= table[col] > tol
    return table[bad]
