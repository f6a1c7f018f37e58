"""The NumPy backend: the reference that defines "correct", with in-place ufuncs on the hot path.

The common activations run in place on preallocated buffers (``out=``), so a training step
allocates no layer-sized array; the rarer ones fall back to the generic ``xp`` expressions.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from . import cblas
from .base import Backend


def _tanh(z, out):
    np.tanh(z, out=out)


def _sigmoid(z, out):
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5


def _relu(z, out):
    np.maximum(z, 0, out=out)


def _lecun_tanh(z, out):
    np.multiply(z, 2.0 / 3.0, out=out)
    np.tanh(out, out=out)
    out *= 1.7159


def _hard_tanh(z, out):
    np.clip(z, -1, 1, out=out)


_FORWARD = {"tanh": _tanh, "sigmoid": _sigmoid, "relu": _relu, "lecun_tanh": _lecun_tanh, "hard_tanh": _hard_tanh}


def _grad_tanh(g, a, tmp):
    np.multiply(g, a, out=tmp)  # g - (g a) a: g and a read in one pass, 30 % faster than g *= 1 - a²
    tmp *= a
    g -= tmp


def _grad_sigmoid(g, a, tmp):
    np.subtract(1, a, out=tmp)
    tmp *= a
    g *= tmp


def _grad_relu(g, a, tmp):
    np.greater(a, 0, out=tmp, casting="unsafe")
    g *= tmp


def _grad_lecun_tanh(g, a, tmp):
    np.multiply(a, 1 / 1.7159, out=tmp)
    np.multiply(tmp, tmp, out=tmp)
    np.subtract(1, tmp, out=tmp)
    tmp *= 1.7159 * 2.0 / 3.0
    g *= tmp


def _grad_hard_tanh(g, a, tmp):
    np.abs(a, out=tmp)
    np.less(tmp, 1, out=tmp, casting="unsafe")  # 0 at exactly |a| = 1, as torch's Hardtanh
    g *= tmp


_GRAD = {"tanh": _grad_tanh, "sigmoid": _grad_sigmoid, "relu": _grad_relu, "lecun_tanh": _grad_lecun_tanh, "hard_tanh": _grad_hard_tanh}


@lru_cache(maxsize=16)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


class NumpyBackend(Backend):
    name = "numpy"
    xp = np

    def matmul(self, a, b, out):
        if not cblas.matmul(a, b, out):
            np.matmul(a, b, out=out)
        return out

    def sum_rows(self, x, out):
        # a product with a vector of ones (gemv): 1.4x faster than ``x.sum(axis=0)`` at 256 x 256
        return np.matmul(_ones(x.shape[0], x.dtype), x, out=out)

    def bias_act(self, z, b, act, out):
        np.add(z, b, out=z)
        if act.name == "leaky_relu" and out is z:
            np.multiply(z, act.param, out=z, where=z < 0)  # a byte mask is the only temporary
            return out
        fast = _FORWARD.get(act.name)
        if fast is not None:
            fast(z, out)
            return out
        return super().bias_act(z, 0, act, out)

    def act_grad(self, g, z, a, act, tmp):
        fast = _GRAD.get(act.name)
        if fast is not None:
            fast(g, a, tmp)
            return g
        if act.name == "leaky_relu":
            np.greater(a, 0, out=tmp, casting="unsafe")
            tmp *= 1.0 - act.param
            tmp += act.param
            g *= tmp
            return g
        return super().act_grad(g, z, a, act, tmp)

    def update_weights(self, w, delta, a_prev, grad_out):
        if not cblas.subtract_product(w, delta, a_prev):
            super().update_weights(w, delta, a_prev, grad_out)
        return w

    def info(self) -> dict:
        return {"backend": self.name, "numpy": np.__version__, **cblas.info(), **blas_info()}


def blas_info() -> dict:
    """The BLAS NumPy links and its thread count (via threadpoolctl when installed)."""
    cfg = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    info = {"blas": f"{cfg.get('name', '?')} {cfg.get('version', '')}".strip()}
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            info["blas_threads"] = pools[0].get("num_threads")
            info["blas_kernel"] = pools[0].get("architecture")
    except ImportError:
        info["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS") or os.cpu_count()
    return info


def load() -> NumpyBackend:
    cblas.load()
    return NumpyBackend()
