"""The Numba backend's activations, one scalar function each: ``_f_<name>`` and ``_d_<name>``, and their integer codes.

The formulas of :mod:`winit_bench.activations` term for term, every constant cast to the array's
scalar type ``T`` (a bare ``1 - a * a`` would silently compute a float32 array in float64).
``_f_<name>(x, p, T)`` is f(x); ``_d_<name>(x, p, T)`` is f'(z) given x = a = f(z) (activations with
``from_output``) or x = z (gelu, silu, erf, gelu_erf); ``p`` is the leaky slope or the ELU alpha.
``tanh``, ``expm1`` and ``exp`` are :mod:`.numba_math`'s branch-free versions, which LLVM vectorises;
``erf``/``erfc`` are libm's (``math.erf``, scalar). The row loops that dispatch on the codes are
:mod:`.numba_kernels`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..activations import GELU_C, GELU_K, INV_SQRT_2PI, LECUN_TANH_SCALE, SELU_ALPHA, SELU_SCALE, TWO_OVER_SQRT_PI
from .numba_math import SCALAR, exp, expm1, tanh

# ---------------------------------------------------------------------------------------------- codes
LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID, SELU, ELU, GELU, SILU, SOFTPLUS, LECUN_TANH, HARD_TANH, ERF, GELU_ERF = range(14)
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
    "hard_tanh": HARD_TANH,
    "erf": ERF,
    "gelu_erf": GELU_ERF,
}


# ---------------------------------------------------------------------------------------------- activations
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


@njit(**SCALAR)
def _f_hard_tanh(x, p, T):
    return T(-1) if x < T(-1) else (T(1) if x > T(1) else x)  # np.clip: NaN passes through


@njit(**SCALAR)
def _d_hard_tanh(x, p, T):
    return T(1) if abs(x) < T(1) else T(0)  # 0 at exactly ±1, as torch's Hardtanh


@njit(**SCALAR)
def _f_erf(x, p, T):
    return T(math.erf(x))


@njit(**SCALAR)
def _d_erf(x, p, T):
    return T(TWO_OVER_SQRT_PI) * exp(-x * x, T)


@njit(**SCALAR)
def _phi(x, T):
    """Φ(x) = erfc(-x/√2)/2, with relative precision in the left tail."""
    return T(0.5) * T(math.erfc(-x * T(math.sqrt(0.5))))


@njit(**SCALAR)
def _f_gelu_erf(x, p, T):
    return x * _phi(x, T)


@njit(**SCALAR)
def _d_gelu_erf(x, p, T):
    return _phi(x, T) + T(INV_SQRT_2PI) * x * exp(T(-0.5) * x * x, T)
