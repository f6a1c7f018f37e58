"""The Numba backend: BLAS called from compiled code for the products, fused JIT kernels for the rest.

The matrix products go to the engine's CBLAS ``?gemm`` (MKL or NumPy's OpenBLAS, as
:mod:`~winit_bench.backends.cblas` chose) from a jitted function (:mod:`.numba_blas`): no Python
around each call, and the SGD update ``W -= δᵀ a`` is one ``gemm`` with ``beta = 1`` at every size.

A training step is one compiled call (:mod:`.numba_step`, through :meth:`NumbaBackend.step_plan`):
forward, loss and backward on blocks of the batch, one per thread, then the update on blocks of
each ``W``'s rows. Everything else (``forward``, ``capture``) goes through the per-operation
kernels below, each one pass over memory instead of NumPy's two to five ufunc calls:
``z += b; a = f(z)`` (:meth:`NumbaBackend.bias_act`), ``g *= f'(a or z)``
(:meth:`~NumbaBackend.act_grad`), ``w -= lr g``, the bias gradient ``Σ_batch δ`` and both losses
with their output error; their loops are :mod:`.numba_kernels` and :mod:`.numba_reductions`.

Threads of the per-operation kernels: serial by default. Between two BLAS calls ``prange`` versions
never paid on the 2-core machine this was tuned on (with the ``workqueue`` layer a 10-layer step was
0-18 % slower, with ``omp`` 2-24x slower: OpenMP workers spin after each kernel on the cores the BLAS
is about to use). They stay available for bigger machines: arrays of at least ``parallel_min``
elements use them (``NumbaBackend(parallel_min=...)`` or ``$WINIT_BENCH_NUMBA_PARALLEL_MIN``); they
are compiled only for such an instance and hold a lock (a numba threading layer is not re-entrant).

Every kernel is compiled with ``cache=True`` (compiled code is kept on disk between processes) and
for both float dtypes when the backend loads (:meth:`NumbaBackend.warmup`), so no timed region ever
compiles; after that, compilation is switched off and an argument the kernels were not compiled for
(another dtype, a non-contiguous view, a 1-d ``z``) falls back to the generic implementation.
"""

from __future__ import annotations

import os
import sys
import threading

import numba
import numpy as np
from numba import njit, prange

from . import cblas, numba_blas, numba_step
from .base import Backend
from .numba_kernels import CODES, JIT, LINEAR, TANH, rows_act_grad, rows_bias_act, rows_bias_act_inplace
from .numba_reductions import rows_mse, rows_softmax_xent, sum_rows_of_columns
from .numpy_backend import blas_info

_NEVER = sys.maxsize
#: arrays with at least this many elements use the multi-threaded kernels; by default none do (see the
#: module docstring); ``WINIT_BENCH_NUMBA_PARALLEL_MIN`` or ``NumbaBackend(parallel_min=...)`` turn them on
PARALLEL_MIN = int(os.environ.get("WINIT_BENCH_NUMBA_PARALLEL_MIN") or _NEVER)


# ---------------------------------------------------------------------------------------------- kernels
@njit(**JIT)
def _bias_act(z, b, out, code, param):
    """``z += b; out = f(z)`` (``out`` distinct from ``z``)."""
    if b.shape[0] != z.shape[1] or out.shape != z.shape:
        raise ValueError("bias_act: shapes of z, b and out do not match")
    rows_bias_act(z, b, out, code, param, 0, z.shape[0])


@njit(parallel=True, **JIT)
def _bias_act_par(z, b, out, code, param):
    if b.shape[0] != z.shape[1] or out.shape != z.shape:
        raise ValueError("bias_act: shapes of z, b and out do not match")
    for i in prange(z.shape[0]):
        rows_bias_act(z, b, out, code, param, i, i + 1)


@njit(**JIT)
def _bias_act_inplace(z, b, code, param):
    """``z = f(z + b)``."""
    if b.shape[0] != z.shape[1]:
        raise ValueError("bias_act: shapes of z and b do not match")
    rows_bias_act_inplace(z, b, code, param, 0, z.shape[0])


@njit(parallel=True, **JIT)
def _bias_act_inplace_par(z, b, code, param):
    if b.shape[0] != z.shape[1]:
        raise ValueError("bias_act: shapes of z and b do not match")
    for i in prange(z.shape[0]):
        rows_bias_act_inplace(z, b, code, param, i, i + 1)


@njit(**JIT)
def _act_grad(g, x, code, param):
    """``g *= f'``, the derivative taken from ``x`` (``a`` or ``z``)."""
    if x.shape != g.shape:
        raise ValueError("act_grad: shapes of g and z/a do not match")
    rows_act_grad(g, x, code, param, 0, g.shape[0])


@njit(parallel=True, **JIT)
def _act_grad_par(g, x, code, param):
    if x.shape != g.shape:
        raise ValueError("act_grad: shapes of g and z/a do not match")
    for i in prange(g.shape[0]):
        rows_act_grad(g, x, code, param, i, i + 1)


@njit(**JIT)
def _sgd(w, g, lr):
    """``w -= lr g`` (``lr g`` rounded to the dtype first, as NumPy does)."""
    if w.shape != g.shape:
        raise ValueError("sgd: shapes of w and g do not match")
    wf = w.reshape(w.size)
    gf = g.reshape(g.size)
    step = w.dtype.type(lr)
    for i in range(wf.size):
        wf[i] = wf[i] - step * gf[i]


@njit(parallel=True, **JIT)
def _sgd_par(w, g, lr):
    if w.shape != g.shape:
        raise ValueError("sgd: shapes of w and g do not match")
    wf = w.reshape(w.size)
    gf = g.reshape(g.size)
    step = w.dtype.type(lr)
    for i in prange(wf.size):
        wf[i] = wf[i] - step * gf[i]


@njit(**JIT)
def _sum_rows(x, out):
    """``out = x.sum(axis=0)``, rows added in order (as NumPy does for a C-ordered array)."""
    n, m = x.shape
    if out.shape[0] != m:
        raise ValueError("sum_rows: out has the wrong length")
    if n == 0:
        out[:] = 0
    else:
        sum_rows_of_columns(x, out, 0, m)


@njit(**JIT)
def _mse(out, y, delta, factor):
    """``delta = factor (out - y)``; returns ``sum((out - y)^2)`` accumulated in float64."""
    if y.shape != out.shape or delta.shape != out.shape:
        raise ValueError("mse: shapes of out, y and delta do not match")
    return rows_mse(out, y, delta, factor, 0, out.shape[0])


@njit(**JIT)
def _softmax_xent(logits, labels, delta, factor):
    """``delta = factor (softmax(logits) - onehot(labels))``; returns the summed cross-entropy."""
    if labels.shape[0] != logits.shape[0] or delta.shape != logits.shape:
        raise ValueError("softmax_xent: shapes of logits, labels and delta do not match")
    return rows_softmax_xent(logits, labels, delta, factor, 0, logits.shape[0])


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
        self._lock = threading.Lock()  # the workqueue layer must not run two parallel regions at once
        self._warm: set = set()  # (dtype, parallel) pairs compiled for
        self._gemms = numba_blas.library_gemms()  # dtype -> the engine's CBLAS gemm, for numba_blas.gemm
        self._blas = cblas.library()

    # ---- compilation
    def warmup(self, dtypes=("float32", "float64")) -> None:
        """Compile (or load from the on-disk cache) every kernel this instance can call for ``dtypes``,
        then switch compilation off, so that no timed region ever compiles. Arguments the kernels were
        not compiled for (another dtype, a strided view) then take the generic code instead."""
        parallel = self.parallel_min < _NEVER
        todo = [np.dtype(d) for d in dtypes if (np.dtype(d), parallel) not in self._warm]
        if not todo:
            return
        kernels = _SERIAL + (_PARALLEL if parallel else ()) + ((numba_blas.gemm, *numba_step.KERNELS) if self._gemms else ())
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
            if lib is not None:
                numba_step.warmup(lib, dt)
            if parallel:
                _bias_act_par(z, b, out, TANH, 0.0)
                _bias_act_inplace_par(z, b, TANH, 0.0)
                _act_grad_par(g, z, TANH, 0.0)
                for w in (z, b):
                    _sgd_par(w, np.zeros_like(w), 0.1)
        for k in kernels:
            k.disable_compile()
        self._warm.update((dt, p) for dt in todo for p in {False, parallel})

    # ---- the whole training step
    def step_plan(self, ws, bs, grad_b, zs, acts, activation, output):
        lib = self._gemms.get(zs[0].dtype.type)
        if lib is None or activation.name not in CODES or (zs[0].dtype, False) not in self._warm:
            return None
        return numba_step.StepPlan(lib, ws, bs, grad_b, zs, acts, activation, output, cblas.threads, self._lock, threads=self._blas == "mkl")

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
            "step_threads": numba.get_num_threads() if numba_step.fast_threads() else 1,  # at most: also limited by the BLAS's threads and the batch
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
