"""Argument checks shared by the theory's public functions: one message per mistake, naming the argument."""

from __future__ import annotations

import math

import numpy as np

from numpy.typing import ArrayLike

from ..activations import Activation, get_activation
from ..gaussian import quiet


def get_act(activation: str | Activation) -> Activation:
    return get_activation(activation)


def nonneg(name: str, value, *, allow_inf: bool = False) -> float:
    v = float(value)
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        kind = "a number >= 0 (inf allowed)" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return v


def correlation(c) -> float:
    v = float(c)
    if not -1.0 <= v <= 1.0:
        raise ValueError(f"a correlation must lie in [-1, 1], got {c!r}")
    return v


def is_homogeneous(act: Activation) -> bool:
    """``f(t u) = t f(u)`` for ``t > 0`` (linear, ReLU, leaky ReLU): the q-map is then linear in q."""
    u = np.array([-2.5, -0.7, -0.01, 0.03, 0.9, 3.1])
    fu = quiet(act, u)
    return float(quiet(act, np.array(0.0))) == 0.0 and all(
        np.allclose(quiet(act, t * u), t * fu, rtol=1e-13, atol=0) for t in (0.37, 5.0)
    )


def per_layer(name: str, value, depth: int) -> np.ndarray:
    """``value`` (a number or one per layer) as ``depth`` numbers >= 0."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(depth, float(arr))
    if arr.shape != (depth,):
        raise ValueError(f"{name} must be a number or a sequence of length depth={depth}, got shape {arr.shape}")
    for v in arr:
        nonneg(name, v)
    return arr


def check_sizes(sizes: ArrayLike) -> list[int]:
    """The widths ``(n_0, ..., n_L)`` of an MLP as ints: at least two, each a positive integer."""
    try:
        out = [int(n) for n in sizes]
        ok = len(out) >= 2 and all(n == m and n >= 1 for n, m in zip(out, sizes))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"sizes must list at least two positive integer widths (n_0, n_1, ..., n_L), got {sizes!r}")
    return out

