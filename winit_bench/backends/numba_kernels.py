"""The Numba backend's activations and their row loops: ``z += b; a = f(z)`` and ``g *= f'``.

Everything here works on rows ``r0 .. r1`` of a matrix, so that the whole-array kernels of
:mod:`.numba_backend` and the fused training step of :mod:`.numba_step` (which gives each thread
a block of rows) share one implementation. The activations are the formulas of
:mod:`winit_bench.activations`, one scalar function each, dispatched on an integer code; their
``tanh`` and ``expm1`` are :mod:`.numba_math`'s branch-free versions, which LLVM vectorises. The
losses and the column sums are :mod:`.numba_reductions`.

Every constant is converted to the array's dtype (``T = x.dtype.type``), so float32 stays float32
inside the loops (a bare ``1 - a * a`` would silently compute in float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..activations import GELU_C, GELU_K, LECUN_TANH_SCALE, SELU_ALPHA, SELU_SCALE
from . import numba_cache  # noqa: F401  (drops compiled kernels cached from older sources of these modules)
from .numba_math import SCALAR, expm1, tanh

# ---------------------------------------------------------------------------------------------- codes
LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID, SELU, ELU, GELU, SILU, SOFTPLUS, LECUN_TANH = range(11)
CODES = {
    "linear": LINEAR,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "selu": SELU,
    "elu": ELU,
    "gelu": GELU,
    "silu": SILU,
    "softplus": SOFTPLUS,
    "lecun_tanh": LECUN_TANH,
}

JIT = {"cache": True, "error_model": "numpy", "nogil": True}  # numpy error model: no ZeroDivisionError branch


# ---------------------------------------------------------------------------------------------- activations
# The formulas of winit_bench.activations term for term, every constant cast to T. ``_f_*(x, p, T)``
# is f(x); ``_d_*(x, p, T)`` is f'(z) given x = a = f(z) (activations with ``from_output``) or x = z
# (gelu, silu); ``p`` is the leaky slope or the ELU alpha.


@njit(**SCALAR)
def _sig(x, T):
    return T(0.5) * (tanh(T(0.5) * x, T) + T(1))


@njit(**SCALAR)
def _f_linear(x, p, T):
    return x


@njit(**SCALAR)
def _d_linear(x, p, T):
    return T(1)


@njit(**SCALAR)
def _f_relu(x, p, T):
    return T(0) if x < T(0) else x  # np.maximum(x, 0): NaN passes through


@njit(**SCALAR)
def _d_relu(x, p, T):
    return T(1) if x > T(0) else T(0)


@njit(**SCALAR)
def _f_leaky_relu(x, p, T):
    return x if x > T(0) else x * p


@njit(**SCALAR)
def _d_leaky_relu(x, p, T):
    return T(1) if x > T(0) else p


@njit(**SCALAR)
def _f_tanh(x, p, T):
    return tanh(x, T)


@njit(**SCALAR)
def _d_tanh(x, p, T):
    return T(1) - x * x


@njit(**SCALAR)
def _f_sigmoid(x, p, T):
    return _sig(x, T)


@njit(**SCALAR)
def _d_sigmoid(x, p, T):
    return x * (T(1) - x)


@njit(**SCALAR)
def _f_selu(x, p, T):
    return T(SELU_SCALE) * (x if x > T(0) else T(SELU_ALPHA) * expm1(min(x, T(0)), T))


@njit(**SCALAR)
def _d_selu(x, p, T):
    return T(SELU_SCALE) if x > T(0) else x + T(SELU_SCALE * SELU_ALPHA)


@njit(**SCALAR)
def _f_elu(x, p, T):
    return x if x > T(0) else p * expm1(min(x, T(0)), T)


@njit(**SCALAR)
def _d_elu(x, p, T):
    return T(1) if x > T(0) else x + p


@njit(**SCALAR)
def _f_gelu(x, p, T):
    return T(0.5) * x * (T(1) + tanh(T(GELU_C) * (x + T(GELU_K) * x * x * x), T))


@njit(**SCALAR)
def _d_gelu(x, p, T):
    t = tanh(T(GELU_C) * (x + T(GELU_K) * x * x * x), T)
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(GELU_C) * (T(1) + T(3 * GELU_K) * x * x)


@njit(**SCALAR)
def _f_silu(x, p, T):
    return x * _sig(x, T)


@njit(**SCALAR)
def _d_silu(x, p, T):
    s = _sig(x, T)
    return s * (T(1) + x * (T(1) - s))


@njit(**SCALAR)
def _f_softplus(x, p, T):
    return max(x, T(0)) + np.log1p(np.exp(-abs(x)))  # libm, scalar: not on the benchmarked path


@njit(**SCALAR)
def _d_softplus(x, p, T):
    return -expm1(-x, T)


@njit(**SCALAR)
def _f_lecun_tanh(x, p, T):
    return T(LECUN_TANH_SCALE) * tanh(T(2.0 / 3.0) * x, T)


@njit(**SCALAR)
def _d_lecun_tanh(x, p, T):
    q = x / T(LECUN_TANH_SCALE)
    return T(LECUN_TANH_SCALE * 2.0 / 3.0) * (T(1) - q * q)


# ---------------------------------------------------------------------------------------------- loops
# Rows r0..r1 of one fused pass. The branch on the activation sits outside the loops, so each column
# loop calls one small function that LLVM inlines and vectorises. (Passing the activation as a
# first-class function would be shorter but makes the kernels uncachable.)
@njit(**SCALAR)
def rows_bias_act(z, b, out, code, param, r0, r1):
    """``z += b; out = f(z)`` on rows r0..r1, ``out`` distinct from ``z`` (which keeps the pre-activation)."""
    T = z.dtype.type
    p = T(param)
    m = z.shape[1]
    if code == TANH:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_tanh(z[i, j], p, T)
    elif code == RELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_relu(z[i, j], p, T)
    elif code == LEAKY_RELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_leaky_relu(z[i, j], p, T)
    elif code == SIGMOID:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_sigmoid(z[i, j], p, T)
    elif code == SELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_selu(z[i, j], p, T)
    elif code == ELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_elu(z[i, j], p, T)
    elif code == GELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_gelu(z[i, j], p, T)
    elif code == SILU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_silu(z[i, j], p, T)
    elif code == SOFTPLUS:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_softplus(z[i, j], p, T)
    elif code == LECUN_TANH:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_lecun_tanh(z[i, j], p, T)
    else:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = z[i, j]


@njit(**SCALAR)
def rows_bias_act_inplace(z, b, code, param, r0, r1):
    T = z.dtype.type
    p = T(param)
    m = z.shape[1]
    if code == TANH:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_tanh(z[i, j] + b[j], p, T)
    elif code == RELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_relu(z[i, j] + b[j], p, T)
    elif code == LEAKY_RELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_leaky_relu(z[i, j] + b[j], p, T)
    elif code == SIGMOID:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_sigmoid(z[i, j] + b[j], p, T)
    elif code == SELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_selu(z[i, j] + b[j], p, T)
    elif code == ELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_elu(z[i, j] + b[j], p, T)
    elif code == GELU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_gelu(z[i, j] + b[j], p, T)
    elif code == SILU:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_silu(z[i, j] + b[j], p, T)
    elif code == SOFTPLUS:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_softplus(z[i, j] + b[j], p, T)
    elif code == LECUN_TANH:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_lecun_tanh(z[i, j] + b[j], p, T)
    else:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = z[i, j] + b[j]


@njit(**SCALAR)
def rows_act_grad(g, x, code, param, r0, r1):
    T = g.dtype.type
    p = T(param)
    m = g.shape[1]
    if code == TANH:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_tanh(x[i, j], p, T)
    elif code == RELU:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_relu(x[i, j], p, T)
    elif code == LEAKY_RELU:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_leaky_relu(x[i, j], p, T)
    elif code == SIGMOID:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_sigmoid(x[i, j], p, T)
    elif code == SELU:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_selu(x[i, j], p, T)
    elif code == ELU:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_elu(x[i, j], p, T)
    elif code == GELU:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_gelu(x[i, j], p, T)
    elif code == SILU:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_silu(x[i, j], p, T)
    elif code == SOFTPLUS:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_softplus(x[i, j], p, T)
    elif code == LECUN_TANH:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_lecun_tanh(x[i, j], p, T)
