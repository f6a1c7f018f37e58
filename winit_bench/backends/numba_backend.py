"""The Numba backend: BLAS called from compiled code for the products, fused JIT kernels for the rest.

The matrix products go to the engine's CBLAS ``?gemm`` (MKL or NumPy's OpenBLAS, as
:mod:`~winit_bench.backends.cblas` chose) from a jitted function (:mod:`.numba_blas`): no Python
around each call, and the SGD update ``W -= δᵀ a`` is one ``gemm`` with ``beta = 1`` at every size.

Each element-wise step of a training step is one pass over memory instead of NumPy's two to five
ufunc calls: ``z += b; a = f(z)`` (:meth:`NumbaBackend.bias_act`), ``g *= f'(a or z)``
(:meth:`~NumbaBackend.act_grad`), ``w -= lr g``, the bias gradient ``Σ_batch δ`` and both losses
with their output error. The activations are the formulas of :mod:`winit_bench.activations`, one
scalar function each, dispatched on an integer code inside the kernel.

Two things make the kernels fast, and both are deliberate:

* ``tanh`` and ``expm1`` (tanh, sigmoid, silu, gelu, lecun_tanh, selu, elu and the softmax) are
  computed by branch-free range reduction plus a polynomial (:func:`_tanh`, :func:`_expm1`), which
  LLVM vectorises. Numba without Intel SVML calls the scalar libm functions, which is 5-10x slower
  than NumPy's own SIMD ``tanh``. The results agree with NumPy's to a few units in the last place
  (float32: <= 3 ulp, float64: <= 3 ulp against the correctly rounded value, NumPy's own error is
  ~1.4 ulp).
* Every constant is converted to the array's dtype (``T = x.dtype.type``), so float32 stays float32
  inside the kernels (a bare ``1 - a * a`` would silently compute in float64).

Threads: the kernels are serial by default. On the 2-core machine this was tuned on, NumPy's
OpenBLAS already runs every large product on both cores, and ``prange`` versions of the fused
kernels never paid: with the ``workqueue`` layer a 10-layer step was 0-18% slower than serial
(width 256-1024, batch 32-256), with the ``omp`` layer 2-24x slower, because OpenMP workers spin
after each kernel and steal the cores OpenBLAS is about to use. The ``prange`` kernels stay available
for bigger machines: arrays of at least ``parallel_min`` elements use them
(``NumbaBackend(parallel_min=...)`` or ``$WINIT_BENCH_NUMBA_PARALLEL_MIN``); they are compiled only
for such an instance. The threading layer is set to ``workqueue`` (workers sleep when idle) unless
``NUMBA_THREADING_LAYER`` says otherwise; it is not re-entrant, so parallel kernels hold a lock.

Every kernel is compiled with ``cache=True`` (compiled code is kept on disk between processes) and
for both float dtypes when the backend loads (:meth:`NumbaBackend.warmup`), so no timed region ever
compiles; after that, compilation is switched off and an argument the kernels were not compiled for
(another dtype, a non-contiguous view, a 1-d ``z``) falls back to the generic implementation.
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ..activations import GELU_C, GELU_K, LECUN_TANH_SCALE, SELU_ALPHA, SELU_SCALE
from . import cblas, numba_blas
from .base import Backend
from .numpy_backend import blas_info

# ---------------------------------------------------------------------------------------------- threads
# Must be decided before the first parallel kernel runs (numba starts its pool then, once).
if not os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = "workqueue"

_NEVER = sys.maxsize
#: arrays with at least this many elements use the multi-threaded kernels; by default none do (see the
#: module docstring); ``WINIT_BENCH_NUMBA_PARALLEL_MIN`` or ``NumbaBackend(parallel_min=...)`` turn them on
PARALLEL_MIN = int(os.environ.get("WINIT_BENCH_NUMBA_PARALLEL_MIN") or _NEVER)

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

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}  # numpy error model: no ZeroDivisionError branch
_MATH = {"error_model": "numpy", "fastmath": {"contract"}}  # FMA only inside the tanh/expm1 polynomials

# ---------------------------------------------------------------------------------------------- vector math
# expm1(t) for t <= 0: t = n ln2 + r, |r| <= ln2/2 (Cody-Waite split of ln2), expm1(r) by its Taylor
# series (float32: 7 terms, float64: 13 terms; truncation < 2^-25 and < 2^-56), then
# expm1(t) = 2^n expm1(r) + (2^n - 1) and exp(t) = 2^n expm1(r) + 2^n, with 2^n built from its bits.
_F32, _F64 = np.float32, np.float64
_LOG2E = 1.4426950408889634
_LN2HI_32, _LN2LO_32 = _F32(0.693145751953125), _F32(1.428606765330187e-06)
_LN2HI_64, _LN2LO_64 = _F64(6.93147180369123816490e-01), _F64(1.90821492927058770002e-10)
_P32 = [_F32(1.0 / math.factorial(k)) for k in range(1, 8)]
_P64 = [_F64(1.0 / math.factorial(k)) for k in range(1, 14)]
_A1, _A2, _A3, _A4, _A5, _A6, _A7 = _P32
_B1, _B2, _B3, _B4, _B5, _B6, _B7, _B8, _B9, _B10, _B11, _B12, _B13 = _P64
# t is clamped here so that 2^n stays a normal number; below it exp(t) is flushed to 0 (it would be
# below the smallest normal) and expm1(t) is -1 to working precision
_TMIN_32, _TMIN_64 = _F32(-87.0), _F64(-708.0)


def _exp_parts(t):
    """``(2^n, 2^n expm1(r))`` for ``t <= 0`` clamped to the normal range (jit only; typed per dtype)."""
    raise NotImplementedError("only callable from jitted code")


def _limits(t):
    """``(lowest t with a normal exp(t), |x| beyond which tanh(x) rounds to ±1)`` in t's dtype (jit only)."""
    raise NotImplementedError("only callable from jitted code")


@overload(_exp_parts, jit_options=_MATH)
def _ov_exp_parts(t):
    if t == types.float32:

        def impl32(t):
            t = max(t, _TMIN_32)
            n = np.floor(t * _F32(_LOG2E) + _F32(0.5))
            r = (t - n * _LN2HI_32) - n * _LN2LO_32
            p = r * (_A1 + r * (_A2 + r * (_A3 + r * (_A4 + r * (_A5 + r * (_A6 + r * _A7))))))
            s = np.int32((np.int32(n) + np.int32(127)) << np.int32(23)).view(np.float32)
            return s, s * p  # exp(t) = s + s p, expm1(t) = s p + (s - 1)

        return impl32
    if t == types.float64:

        def impl64(t):
            t = max(t, _TMIN_64)
            n = np.floor(t * _F64(_LOG2E) + _F64(0.5))
            r = (t - n * _LN2HI_64) - n * _LN2LO_64
            p = r * (_B1 + r * (_B2 + r * (_B3 + r * (_B4 + r * (_B5 + r * (_B6 + r * (_B7 + r * (_B8 + r * (_B9 + r * (_B10 + r * (_B11 + r * (_B12 + r * _B13))))))))))))
            s = np.int64((np.int64(n) + np.int64(1023)) << np.int64(52)).view(np.float64)
            return s, s * p

        return impl64
    return None


@overload(_limits, inline="always")
def _ov_limits(t):
    if t == types.float32:
        return lambda t: (_TMIN_32, _F32(10))
    if t == types.float64:
        return lambda t: (_TMIN_64, _F64(20))
    return None


@njit(**_MATH)
def _expm1(t, T):
    """``expm1(t)`` for ``t <= 0`` (NaN passes through), branch-free."""
    s, sp = _exp_parts(t)
    e = sp + (s - T(1))
    return e if t == t else t


@njit(**_MATH)
def _exp(t, T):
    """``exp(t)`` for ``t <= 0`` (0 below the normal range; NaN passes through), branch-free."""
    s, sp = _exp_parts(t)
    e = sp + s
    e = e if t >= _limits(t)[0] else T(0)
    return e if t == t else t


@njit(**_MATH)
def _tanh(x, T):
    """``tanh(x) = sign(x) * -m/(2 + m)`` with ``m = expm1(-2|x|)`` (no cancellation near 0);
    branch-free, ``|x|`` clamped where tanh rounds to 1 (10 in float32, 20 in float64)."""
    ax = min(abs(x), _limits(x)[1])
    s, sp = _exp_parts(T(-2) * ax)
    m = sp + (s - T(1))
    t = np.copysign(m / (T(-2) - m), x)
    return t if x == x else x


# ---------------------------------------------------------------------------------------------- activations
# The formulas of winit_bench.activations term for term, every constant cast to T. ``_f_*(x, p, T)``
# is f(x); ``_d_*(x, p, T)`` is f'(z) given x = a = f(z) (activations with ``from_output``) or x = z
# (gelu, silu); ``p`` is the leaky slope or the ELU alpha.
_S = {"error_model": "numpy"}


@njit(**_S)
def _sig(x, T):
    return T(0.5) * (_tanh(T(0.5) * x, T) + T(1))


@njit(**_S)
def _f_linear(x, p, T):
    return x


@njit(**_S)
def _d_linear(x, p, T):
    return T(1)


@njit(**_S)
def _f_relu(x, p, T):
    return T(0) if x < T(0) else x  # np.maximum(x, 0): NaN passes through


@njit(**_S)
def _d_relu(x, p, T):
    return T(1) if x > T(0) else T(0)


@njit(**_S)
def _f_leaky_relu(x, p, T):
    return x if x > T(0) else x * p


@njit(**_S)
def _d_leaky_relu(x, p, T):
    return T(1) if x > T(0) else p


@njit(**_S)
def _f_tanh(x, p, T):
    return _tanh(x, T)


@njit(**_S)
def _d_tanh(x, p, T):
    return T(1) - x * x


@njit(**_S)
def _f_sigmoid(x, p, T):
    return _sig(x, T)


@njit(**_S)
def _d_sigmoid(x, p, T):
    return x * (T(1) - x)


@njit(**_S)
def _f_selu(x, p, T):
    return T(SELU_SCALE) * (x if x > T(0) else T(SELU_ALPHA) * _expm1(min(x, T(0)), T))


@njit(**_S)
def _d_selu(x, p, T):
    return T(SELU_SCALE) if x > T(0) else x + T(SELU_SCALE * SELU_ALPHA)


@njit(**_S)
def _f_elu(x, p, T):
    return x if x > T(0) else p * _expm1(min(x, T(0)), T)


@njit(**_S)
def _d_elu(x, p, T):
    return T(1) if x > T(0) else x + p


@njit(**_S)
def _f_gelu(x, p, T):
    return T(0.5) * x * (T(1) + _tanh(T(GELU_C) * (x + T(GELU_K) * x * x * x), T))


@njit(**_S)
def _d_gelu(x, p, T):
    t = _tanh(T(GELU_C) * (x + T(GELU_K) * x * x * x), T)
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(GELU_C) * (T(1) + T(3 * GELU_K) * x * x)


@njit(**_S)
def _f_silu(x, p, T):
    return x * _sig(x, T)


@njit(**_S)
def _d_silu(x, p, T):
    s = _sig(x, T)
    return s * (T(1) + x * (T(1) - s))


@njit(**_S)
def _f_softplus(x, p, T):
    return max(x, T(0)) + np.log1p(np.exp(-abs(x)))  # libm, scalar: not on the benchmarked path


@njit(**_S)
def _d_softplus(x, p, T):
    return -_expm1(-x, T)


@njit(**_S)
def _f_lecun_tanh(x, p, T):
    return T(LECUN_TANH_SCALE) * _tanh(T(2.0 / 3.0) * x, T)


@njit(**_S)
def _d_lecun_tanh(x, p, T):
    q = x / T(LECUN_TANH_SCALE)
    return T(LECUN_TANH_SCALE * 2.0 / 3.0) * (T(1) - q * q)


# ---------------------------------------------------------------------------------------------- loops
# Rows r0..r1 of one fused pass. The branch on the activation sits outside the loops, so each column
# loop calls one small function that LLVM inlines and vectorises. (Passing the activation as a
# first-class function would be shorter but makes the kernels uncachable.)
@njit(**_S)
def _rows_bias_act(z, b, out, code, param, r0, r1):
    T = z.dtype.type
    p = T(param)
    m = z.shape[1]
    if code == TANH:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_tanh(v, p, T)
    elif code == RELU:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_relu(v, p, T)
    elif code == LEAKY_RELU:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_leaky_relu(v, p, T)
    elif code == SIGMOID:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_sigmoid(v, p, T)
    elif code == SELU:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_selu(v, p, T)
    elif code == ELU:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_elu(v, p, T)
    elif code == GELU:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_gelu(v, p, T)
    elif code == SILU:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_silu(v, p, T)
    elif code == SOFTPLUS:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_softplus(v, p, T)
    elif code == LECUN_TANH:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = _f_lecun_tanh(v, p, T)
    else:
        for i in range(r0, r1):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                out[i, j] = v


@njit(**_S)
def _rows_bias_act_inplace(z, b, code, param, r0, r1):
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


@njit(**_S)
def _rows_act_grad(g, x, code, param, r0, r1):
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


# ---------------------------------------------------------------------------------------------- kernels
@njit(**_JIT)
def _bias_act(z, b, out, code, param):
    """``z += b; out = f(z)`` (``out`` distinct from ``z``)."""
    if b.shape[0] != z.shape[1] or out.shape != z.shape:
        raise ValueError("bias_act: shapes of z, b and out do not match")
    _rows_bias_act(z, b, out, code, param, 0, z.shape[0])


@njit(parallel=True, **_JIT)
def _bias_act_par(z, b, out, code, param):
    if b.shape[0] != z.shape[1] or out.shape != z.shape:
        raise ValueError("bias_act: shapes of z, b and out do not match")
    for i in prange(z.shape[0]):
        _rows_bias_act(z, b, out, code, param, i, i + 1)


@njit(**_JIT)
def _bias_act_inplace(z, b, code, param):
    """``z = f(z + b)``."""
    if b.shape[0] != z.shape[1]:
        raise ValueError("bias_act: shapes of z and b do not match")
    _rows_bias_act_inplace(z, b, code, param, 0, z.shape[0])


@njit(parallel=True, **_JIT)
def _bias_act_inplace_par(z, b, code, param):
    if b.shape[0] != z.shape[1]:
        raise ValueError("bias_act: shapes of z and b do not match")
    for i in prange(z.shape[0]):
        _rows_bias_act_inplace(z, b, code, param, i, i + 1)


@njit(**_JIT)
def _act_grad(g, x, code, param):
    """``g *= f'``, the derivative taken from ``x`` (``a`` or ``z``)."""
    if x.shape != g.shape:
        raise ValueError("act_grad: shapes of g and z/a do not match")
    _rows_act_grad(g, x, code, param, 0, g.shape[0])


@njit(parallel=True, **_JIT)
def _act_grad_par(g, x, code, param):
    if x.shape != g.shape:
        raise ValueError("act_grad: shapes of g and z/a do not match")
    for i in prange(g.shape[0]):
        _rows_act_grad(g, x, code, param, i, i + 1)


@njit(**_JIT)
def _sgd(w, g, lr):
    """``w -= lr g`` (``lr g`` rounded to the dtype first, as NumPy does)."""
    if w.shape != g.shape:
        raise ValueError("sgd: shapes of w and g do not match")
    wf = w.reshape(w.size)
    gf = g.reshape(g.size)
    step = w.dtype.type(lr)
    for i in range(wf.size):
        wf[i] = wf[i] - step * gf[i]


@njit(parallel=True, **_JIT)
def _sgd_par(w, g, lr):
    if w.shape != g.shape:
        raise ValueError("sgd: shapes of w and g do not match")
    wf = w.reshape(w.size)
    gf = g.reshape(g.size)
    step = w.dtype.type(lr)
    for i in prange(wf.size):
        wf[i] = wf[i] - step * gf[i]


@njit(**_JIT)
def _sum_rows(x, out):
    """``out = x.sum(axis=0)``, rows added in order (as NumPy does for a C-ordered array)."""
    n, m = x.shape
    if out.shape[0] != m:
        raise ValueError("sum_rows: out has the wrong length")
    if n == 0:
        out[:] = 0
        return
    for j in range(m):
        out[j] = x[0, j]
    for i in range(1, n):
        for j in range(m):
            out[j] += x[i, j]


@njit(fastmath={"reassoc", "contract"}, **_JIT)  # reassoc: a vectorised sum (any order is as good)
def _mse(out, y, delta, factor):
    """``delta = factor (out - y)``; returns ``sum((out - y)^2)`` accumulated in float64."""
    if y.shape != out.shape or delta.shape != out.shape:
        raise ValueError("mse: shapes of out, y and delta do not match")
    T = out.dtype.type
    f = T(factor)
    acc = 0.0
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            d = out[i, j] - y[i, j]
            delta[i, j] = d * f
            d64 = np.float64(d)
            acc += d64 * d64
    return acc


@njit(**_JIT)
def _softmax_xent(logits, labels, delta, factor):
    """``delta = factor (softmax(logits) - onehot(labels))``; returns the summed cross-entropy."""
    n, m = logits.shape
    if labels.shape[0] != n or delta.shape != logits.shape:
        raise ValueError("softmax_xent: shapes of logits, labels and delta do not match")
    T = logits.dtype.type
    f = T(factor)
    tiny = T(np.finfo(logits.dtype).tiny)
    acc = 0.0
    for i in range(n):
        k = labels[i]
        if k < 0 or k >= m:
            raise ValueError("softmax_xent: a label is out of range")
        mx = logits[i, 0]
        for j in range(1, m):
            mx = max(mx, logits[i, j])
        s = T(0)
        for j in range(m):
            e = _exp(logits[i, j] - mx, T)
            delta[i, j] = e
            s += e
        for j in range(m):
            delta[i, j] = delta[i, j] / s
        acc -= np.log(max(delta[i, k], tiny))
        delta[i, k] -= T(1)
        for j in range(m):
            delta[i, j] = delta[i, j] * f
    return acc


_SERIAL = (_bias_act, _bias_act_inplace, _act_grad, _sgd, _sum_rows, _mse, _softmax_xent)
_PARALLEL = (_bias_act_par, _bias_act_inplace_par, _act_grad_par, _sgd_par)


# ---------------------------------------------------------------------------------------------- the backend
class NumbaBackend(Backend):
    """NumPy arrays and BLAS; fused, LLVM-vectorised Numba kernels for the element-wise hot path."""

    name = "numba"
    xp = np

    def __init__(self, parallel_min: int = PARALLEL_MIN):
        """``parallel_min``: arrays with at least this many elements use the ``prange`` kernels (call
        :meth:`warmup` before timing). ``load()`` builds the registry's instance and warms it up."""
        self.parallel_min = int(parallel_min)
        self._lock = threading.Lock()  # the workqueue layer must not run two parallel kernels at once
        self._warm: set = set()  # (dtype, parallel) pairs compiled for
        self._gemms = numba_blas.library_gemms()  # dtype -> the engine's CBLAS gemm, for numba_blas.gemm

    # ---- compilation
    def warmup(self, dtypes=("float32", "float64")) -> None:
        """Compile (or load from the on-disk cache) every kernel this instance can call for ``dtypes``,
        then switch compilation off, so that no timed region ever compiles. Arguments the kernels were
        not compiled for (another dtype, a strided view) then take the generic code instead."""
        parallel = self.parallel_min < _NEVER
        todo = [np.dtype(d) for d in dtypes if (np.dtype(d), parallel) not in self._warm]
        if not todo:
            return
        kernels = _SERIAL + (_PARALLEL if parallel else ()) + (numba_blas.gemm,)
        for k in kernels:
            k.disable_compile(False)
        for dt in todo:
            z = np.linspace(-2, 2, 12, dtype=dt).reshape(3, 4)
            lib = self._gemms.get(dt.type)
            if lib is not None:  # the engine's three layouts: a @ W.T, δ.T @ a (and W -= δ.T @ a), δ @ W
                w, d = np.ones((4, 4), dt), np.ones((3, 4), dt)
                numba_blas.gemm(lib, z, w.T, np.empty((3, 4), dt), 1.0, 0.0)
                numba_blas.gemm(lib, d.T, z, w, -1.0, 1.0)
                numba_blas.gemm(lib, d, w, np.empty((3, 4), dt), 1.0, 0.0)
            b, out, g = np.ones(4, dt), np.empty_like(z), np.ones_like(z)
            _bias_act(z, b, out, TANH, 0.0)
            _bias_act_inplace(z, b, TANH, 0.0)
            _act_grad(g, z, TANH, 0.0)
            for w in (z, b):
                _sgd(w, np.zeros_like(w), 0.1)
            _sum_rows(z, b)
            _mse(z, np.zeros_like(z), g, 1.0)
            _softmax_xent(z, np.zeros(3, np.int64), g, 1.0)
            if parallel:
                _bias_act_par(z, b, out, TANH, 0.0)
                _bias_act_inplace_par(z, b, TANH, 0.0)
                _act_grad_par(g, z, TANH, 0.0)
                for w in (z, b):
                    _sgd_par(w, np.zeros_like(w), 0.1)
        for k in kernels:
            k.disable_compile()
        self._warm.update((dt, p) for dt in todo for p in {False, parallel})

    # ---- linear algebra
    def matmul(self, a, b, out):
        if not self._gemm(a, b, out, 1.0, 0.0):
            np.matmul(a, b, out=out)
        return out

    def _gemm(self, a, b, c, alpha: float, beta: float) -> bool:
        """``c = alpha a @ b + beta c`` through the compiled CBLAS call; False where it cannot run."""
        lib = self._gemms.get(c.dtype.type)
        try:
            return lib is not None and numba_blas.gemm(lib, a, b, c, alpha, beta)
        except TypeError:  # a dtype or layout the call was not compiled for
            return False

    def sum_rows(self, x, out):
        try:
            _sum_rows(x, out)
        except TypeError:
            return super().sum_rows(x, out)
        return out

    # ---- element-wise work
    def bias_act(self, z, b, act, out):
        code = CODES.get(act.name)
        try:
            if code is None:
                raise TypeError(act.name)
            if out is z:
                if z.size >= self.parallel_min:
                    with self._lock:
                        _bias_act_inplace_par(z, b, code, act.param or 0.0)
                else:
                    _bias_act_inplace(z, b, code, act.param or 0.0)
            elif z.size >= self.parallel_min:
                with self._lock:
                    _bias_act_par(z, b, out, code, act.param or 0.0)
            else:
                _bias_act(z, b, out, code, act.param or 0.0)
        except TypeError:
            return super().bias_act(z, b, act, out)
        return out

    def act_grad(self, g, z, a, act, tmp):
        code = CODES.get(act.name)
        if code == LINEAR:
            return g
        if act.from_output:
            x = a
        elif z is None:
            raise ValueError(f"act_grad: the derivative of {act.name} needs the pre-activation z")
        else:
            x = z
        try:
            if code is None:
                raise TypeError(act.name)
            if g.size >= self.parallel_min:
                with self._lock:
                    _act_grad_par(g, x, code, act.param or 0.0)
            else:
                _act_grad(g, x, code, act.param or 0.0)
        except TypeError:
            return super().act_grad(g, z, a, act, tmp)
        return g

    def update_weights(self, w, delta, a_prev, grad_out):
        if not self._gemm(delta.T, a_prev, w, -1.0, 1.0):
            super().update_weights(w, delta, a_prev, grad_out)
        return w

    def sgd(self, w, g, lr: float):
        try:
            if w.size >= self.parallel_min:
                with self._lock:
                    _sgd_par(w, g, lr)
            else:
                _sgd(w, g, lr)
        except TypeError:
            return super().sgd(w, g, lr)
        return w

    # ---- losses
    def mse(self, out, y, delta, scale: float):
        try:
            total = _mse(out, y, delta, 2.0 * scale / out.size)
        except TypeError:
            return super().mse(out, y, delta, scale)
        return total / out.size

    def softmax_xent(self, logits, labels, delta, scale: float):
        batch = logits.shape[0]
        try:
            total = _softmax_xent(logits, labels, delta, scale / batch)
        except TypeError:
            return super().softmax_xent(logits, labels, delta, scale)
        return total / batch

    # ---- description
    def info(self) -> dict:
        return {
            "backend": self.name,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "threading_layer": _threading_layer(),
            "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
            "parallel_min": self.parallel_min,
            **cblas.info(),
            **blas_info(),
        }


def _threading_layer() -> str:
    """The layer in use once a parallel kernel has run, else the one that will be chosen."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return str(numba.config.THREADING_LAYER)


def load() -> NumbaBackend:
    cblas.load()
    backend = NumbaBackend()
    backend.warmup()
    return backend
