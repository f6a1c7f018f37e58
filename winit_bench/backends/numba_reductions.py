"""The Numba backend's row reductions: the two losses with their output error, and column sums.

Like :mod:`.numba_kernels`' loops, each works on rows ``r0 .. r1`` (or columns ``c0 .. c1``), so that
the whole-array kernels of :mod:`.numba_backend` and the fused step of :mod:`.numba_step` share it.
The losses are summed in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .numba_math import SCALAR, exp


@njit(fastmath={"reassoc", "contract"}, **SCALAR)  # reassoc: a vectorised sum (any order is as good)
def rows_mse(out, y, delta, factor, r0, r1):
    """``delta = factor (out - y)`` on rows r0..r1; returns their ``sum((out - y)^2)`` in float64."""
    T = out.dtype.type
    f = T(factor)
    acc = 0.0
    for i in range(r0, r1):
        for j in range(out.shape[1]):
            d = out[i, j] - y[i, j]
            delta[i, j] = d * f
            d64 = np.float64(d)
            acc += d64 * d64
    return acc


@njit(**SCALAR)
def rows_softmax_xent(logits, labels, delta, factor, r0, r1):
    """``delta = factor (softmax(logits) - onehot(labels))`` on rows r0..r1; returns their summed cross-entropy."""
    m = logits.shape[1]
    T = logits.dtype.type
    f = T(factor)
    tiny = T(np.finfo(logits.dtype).tiny)
    acc = 0.0
    for i in range(r0, r1):
        k = labels[i]
        if k < 0 or k >= m:
            raise ValueError("softmax_xent: a label is out of range")
        mx = logits[i, 0]
        for j in range(1, m):
            mx = max(mx, logits[i, j])
        s = T(0)
        for j in range(m):
            e = exp(logits[i, j] - mx, T)
            delta[i, j] = e
            s += e
        for j in range(m):
            delta[i, j] = delta[i, j] / s
        acc -= np.log(max(delta[i, k], tiny))
        delta[i, k] -= T(1)
        for j in range(m):
            delta[i, j] = delta[i, j] * f
    return acc


def rows_loss(out, target, delta, factor, r0, r1):
    """Mean-squared error for a float ``target`` of ``out``'s shape, softmax cross-entropy for integer labels (jit only)."""
    raise NotImplementedError("only callable from jitted code")


@overload(rows_loss)
def _ov_rows_loss(out, target, delta, factor, r0, r1):
    if isinstance(target, types.Array) and target.ndim == 2:
        return lambda out, target, delta, factor, r0, r1: rows_mse(out, target, delta, factor, r0, r1)
    if isinstance(target, types.Array) and target.ndim == 1 and isinstance(target.dtype, types.Integer):
        return lambda out, target, delta, factor, r0, r1: rows_softmax_xent(out, target, delta, factor, r0, r1)
    return None


@njit(**SCALAR)
def sum_rows_of_columns(x, out, c0, c1):
    """``out[c0:c1] = x[:, c0:c1].sum(axis=0)``, rows added in order."""
    # on 1-D slices LLVM proves ``o`` and ``r`` apart at run time and vectorises: 8x faster than
    # ``out[j] += x[i, j]``, whose store it must assume may change the next load
    o = out[c0:c1]
    o[:] = x[0, c0:c1]
    for i in range(1, x.shape[0]):
        r = x[i, c0:c1]
        for j in range(c1 - c0):
            o[j] += r[j]
