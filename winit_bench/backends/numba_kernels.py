"""The Numba backend's row loops: ``z += b; a = f(z)`` and ``g *= f'``, dispatched on the activation's code.

Everything here works on rows ``r0 .. r1`` of a matrix, so that the whole-array kernels of
:mod:`.numba_backend` and the fused training step of :mod:`.numba_step` (which gives each thread
a block of rows) share one implementation. The activations are :mod:`.numba_activations`' scalar
functions, one per activation, dispatched on an integer code. The losses and the column sums are
:mod:`.numba_reductions`.
"""

from __future__ import annotations

from numba import njit

from . import numba_cache  # noqa: F401  (drops compiled kernels cached from older sources of these modules)
from .numba_activations import (  # noqa: F401  (CODES, LINEAR, TANH: re-exported for the backend and the step)
    CODES, SCALAR,
    LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID, SELU, ELU,
    GELU, SILU, SOFTPLUS, LECUN_TANH, HARD_TANH, ERF, GELU_ERF,
    _d_elu, _d_gelu, _d_leaky_relu, _d_lecun_tanh, _d_relu, _d_selu,
    _d_sigmoid, _d_silu, _d_softplus, _d_tanh, _f_elu, _f_gelu,
    _f_leaky_relu, _f_lecun_tanh, _f_relu, _f_selu, _f_sigmoid, _f_silu,
    _f_softplus, _f_tanh, _d_hard_tanh, _d_erf, _d_gelu_erf, _f_hard_tanh, _f_erf, _f_gelu_erf,
)

JIT = {"cache": True, "error_model": "numpy", "nogil": True}  # numpy error model: no ZeroDivisionError branch

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
    elif code == HARD_TANH:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_hard_tanh(z[i, j], p, T)
    elif code == ERF:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_erf(z[i, j], p, T)
    elif code == GELU_ERF:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] += b[j]
                out[i, j] = _f_gelu_erf(z[i, j], p, T)
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
    elif code == HARD_TANH:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_hard_tanh(z[i, j] + b[j], p, T)
    elif code == ERF:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_erf(z[i, j] + b[j], p, T)
    elif code == GELU_ERF:
        for i in range(r0, r1):
            for j in range(m):
                z[i, j] = _f_gelu_erf(z[i, j] + b[j], p, T)
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
    elif code == HARD_TANH:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_hard_tanh(x[i, j], p, T)
    elif code == ERF:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_erf(x[i, j], p, T)
    elif code == GELU_ERF:
        for i in range(r0, r1):
            for j in range(m):
                g[i, j] = g[i, j] * _d_gelu_erf(x[i, j], p, T)
