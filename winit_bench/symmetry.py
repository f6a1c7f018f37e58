"""The seed's symmetry result, executable: a constant-initialised network has the capacity of width 1.

Network A has ``n[l]`` units per layer, every weight of layer ``l`` equal to ``w[l]`` and every bias
equal to ``β[l]``. Each unit of a hidden layer then computes the same value and receives the same
gradient, so gradient descent keeps A symmetric at every step, and at every step A computes exactly
what the width-1 network B built from A's current weights computes (docs/theory.md, "Symmetric initialisation"):

- B has sizes ``[n[0], 1, ..., 1, n[L]]``;
- B's first layer keeps A's weights on the real inputs (the common row of ``W[1]``), bias ``β[1]``;
- for ``l >= 2`` B's single weight is ``n[l-1] * w[l]`` (the sum of the identical incoming weights),
  biases unchanged; the output layer likewise (output unit ``i`` gets ``Σ_j W[L][i, j]``, its own bias).

Gradient descent does not keep all weights of the first and last layer equal: ``dW[1]_ij = δ_i x_j``
keeps the *rows* of ``W[1]`` equal, ``dW[L]_ij = δ_i a_j`` keeps the *columns* of ``W[L]`` equal. So
"symmetric" here means: every hidden unit has the same incoming weight row and bias, and every unit
of the next layer sees the same weight from each hidden unit (:func:`is_symmetric`).

:func:`symmetry_experiment` trains A for ``steps`` steps and after every step rebuilds B and compares.
With a random initializer (the contrast) A's hidden layers have many distinct units and the B built
from it computes something else.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import streams

from .diagnostics import layer_stats
from .engine import MLP


def _collapse(net: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    """Width-1 parameters: average over the (identical) hidden units of a layer's output side, sum over its hidden input side."""
    params = net.weights()
    depth = net.depth
    out = []
    for l, (w, b) in enumerate(params):
        w = w.astype(np.float64)
        b = b.astype(np.float64)
        if l < depth - 1:  # the output side is a hidden layer: all rows identical -> keep the common row
            w = w.mean(axis=0, keepdims=True)
            b = np.array([b.mean()])
        if l > 0:  # the input side is a hidden layer of identical units -> one weight, the sum of the row
            w = w.sum(axis=1, keepdims=True)
        out.append((w, b))
    return out


def width_one_equivalent(net: MLP) -> MLP:
    """The width-1 network B built from ``net``'s current weights (same activation, output, dtype, backend, seed).

    For a symmetric ``net`` (see :func:`is_symmetric`) B computes the same outputs to float rounding.
    For any other ``net`` B is still built (hidden rows averaged, hidden inputs summed), but computes
    something different.
    """
    sizes = [net.sizes[0]] + [1] * (net.depth - 1) + [net.sizes[-1]]
    b_net = MLP(sizes, net.activation, "zeros", output=net.output, seed=net.seed, dtype=net.dtype.name, backend=net.backend)
    b_net.set_weights(_collapse(net))
    return b_net


def _all_equal(x: np.ndarray, axis: int, rtol: float) -> bool:
    if x.shape[axis] <= 1:
        return True
    ref = np.take(x, [0], axis=axis)
    scale = float(np.max(np.abs(x)))
    return bool(np.max(np.abs(x - ref)) <= rtol * scale)


def is_symmetric(net: MLP, X=None, *, rtol: float | None = None) -> bool:
    """True when every hidden layer of ``net`` is symmetric: equal incoming weight rows and equal biases
    for its units, and equal weights from each of its units into every unit of the next layer.

    ``rtol`` (relative to the largest weight of the layer): 1e-5 for float32, 1e-12 for float64 by
    default. With ``X`` the activations are checked too: every hidden layer has one distinct unit on
    ``X`` (``layer_stats(net, X).distinct_units``).
    """
    if rtol is None:
        rtol = 1e-5 if net.dtype == np.float32 else 1e-12
    params = net.weights()
    depth = net.depth
    for l, (w, b) in enumerate(params):
        if l < depth - 1 and not (_all_equal(w, 0, rtol) and _all_equal(b, 0, rtol)):
            return False
        if l > 0 and not _all_equal(w, 1, rtol):
            return False
    if X is not None and depth > 1:
        stats = layer_stats(net, X)
        if not (stats["distinct_units"].iloc[:-1] == 1).all():
            return False
    return True


def _batch(net: MLP, X, Y, seed: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``Y`` as host arrays for ``net`` (``X`` and float targets in its dtype); where not given,
    ``batch`` standard-normal rows and targets (labels for softmax) from the symmetry stream of ``seed``."""
    rng = streams.symmetry(seed)
    if X is None:
        X = rng.standard_normal((batch, net.sizes[0]))
    X = np.asarray(net.backend.to_host(X), dtype=net.dtype)
    if Y is None:
        n_out = net.sizes[-1]
        Y = rng.integers(0, n_out, X.shape[0]) if net.output == "softmax" else rng.standard_normal((X.shape[0], n_out))
    Y = np.asarray(net.backend.to_host(Y))
    if net.output == "linear":
        Y = Y.astype(net.dtype)
    return X, Y


def symmetry_experiment(
    sizes,
    activation: str = "tanh",
    *,
    initializer: str = "constant",
    value: float = 0.1,
    bias: float = 0.1,
    steps: int = 5,
    lr: float = 0.05,
    X=None,
    Y=None,
    seed: int = 0,
    dtype: str = "float64",
    backend=None,
    output: str = "linear",
    batch: int = 32,
    **init_params,
) -> pd.DataFrame:
    """Train network A and compare it after every step with the width-1 network B built from it.

    A is ``MLP(sizes, activation, initializer, bias=bias, ...)``; with ``initializer="constant"`` every
    weight starts at ``value`` (ignored for other initializers, which take ``init_params``). ``X, Y``
    default to ``batch`` standard-normal inputs and targets (labels for softmax) from ``seed``.

    One row per step ``0..steps`` (0: before training), columns: ``step``, ``loss`` (A's loss at that
    point), ``loss_b``, ``max_abs_diff`` and ``rel_diff`` between A's and B's outputs on ``X``,
    ``distinct_units_max`` / ``distinct_units_min`` over A's hidden layers, ``symmetric``
    (:func:`is_symmetric` on the weights) and ``equivalent`` (``rel_diff`` within 1e-4 for float32,
    1e-9 for float64).
    """
    if initializer == "constant":
        init_params = {"value": value, **init_params}
    a_net = MLP(sizes, activation, initializer, output=output, seed=seed, dtype=dtype, backend=backend, bias=bias, **init_params)
    X, Y = _batch(a_net, X, Y, seed, batch)
    tol = 1e-4 if a_net.dtype == np.float32 else 1e-9
    to_host = a_net.backend.to_host
    rows = []
    for step in range(int(steps) + 1):
        b_net = width_one_equivalent(a_net)
        out_a = np.asarray(to_host(a_net.forward(X)), dtype=np.float64)
        out_b = np.asarray(to_host(b_net.forward(X)), dtype=np.float64)
        diff = float(np.max(np.abs(out_a - out_b)))
        rel = diff / max(float(np.max(np.abs(out_a))), np.finfo(np.float64).tiny)
        stats = layer_stats(a_net, X, Y)
        hidden = stats["distinct_units"].iloc[:-1]
        loss_b = b_net.gradients(X, Y)[0]
        symmetric = is_symmetric(a_net)
        loss = a_net.train_step(X, Y, lr) if step < steps else a_net.gradients(X, Y)[0]
        rows.append(
            {
                "step": step,
                "loss": loss,
                "loss_b": loss_b,
                "max_abs_diff": diff,
                "rel_diff": rel,
                "distinct_units_max": int(hidden.max()) if len(hidden) else 1,
                "distinct_units_min": int(hidden.min()) if len(hidden) else 1,
                "symmetric": symmetric,
                "equivalent": bool(rel <= tol) if math.isfinite(rel) else False,
            }
        )
    df = pd.DataFrame(rows)
    df.attrs.update(sizes=list(a_net.sizes), activation=str(a_net.activation), initializer=initializer, lr=lr, dtype=a_net.dtype.name)
    return df


__all__ = ["symmetry_experiment", "width_one_equivalent", "is_symmetric"]
