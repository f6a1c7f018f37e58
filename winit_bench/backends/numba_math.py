"""Branch-free ``tanh``, ``expm1`` and ``exp`` for the Numba backend's loops, which LLVM vectorises.

Numba without Intel SVML calls the scalar libm functions, which is 5-10x slower than NumPy's own
SIMD ``tanh``. So ``tanh``, ``expm1`` and ``exp`` (tanh, sigmoid, silu, gelu, lecun_tanh, selu, elu,
the derivatives of erf and gelu_erf, and the softmax) are computed here by range reduction plus a
polynomial, without a branch. The results agree with NumPy's to a few units in the last place (float32: <= 3 ulp, float64: <= 3 ulp against the
correctly rounded value, NumPy's own error is ~1.4 ulp).

Every function takes ``T``, the array's scalar type, and converts its constants to it, so float32
stays float32 (see :mod:`.numba_activations`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

#: NumPy's error model (no ZeroDivisionError branch): the options of the functions here and of the row
#: loops. They are not cached themselves: the cached kernels of :mod:`.numba_backend` and
#: :mod:`.numba_step` compile them in (:mod:`.numba_cache` drops those when any of these sources changes)
SCALAR = {"error_model": "numpy"}
_MATH = {**SCALAR, "fastmath": {"contract"}}  # FMA only inside the tanh/expm1 polynomials

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
def expm1(t, T):
    """``expm1(t)`` for ``t <= 0`` (NaN passes through), branch-free."""
    s, sp = _exp_parts(t)
    e = sp + (s - T(1))
    return e if t == t else t


@njit(**_MATH)
def exp(t, T):
    """``exp(t)`` for ``t <= 0`` (0 below the normal range; NaN passes through), branch-free."""
    s, sp = _exp_parts(t)
    e = sp + s
    e = e if t >= _limits(t)[0] else T(0)
    return e if t == t else t


@njit(**_MATH)
def tanh(x, T):
    """``tanh(x) = sign(x) * -m/(2 + m)`` with ``m = expm1(-2|x|)`` (no cancellation near 0);
    branch-free, ``|x|`` clamped where tanh rounds to 1 (10 in float32, 20 in float64)."""
    ax = min(abs(x), _limits(x)[1])
    s, sp = _exp_parts(T(-2) * ax)
    m = sp + (s - T(1))
    t = np.copysign(m / (T(-2) - m), x)
    return t if x == x else x
