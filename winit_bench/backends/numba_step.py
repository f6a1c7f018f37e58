"""A whole training step of an MLP as one compiled call: the Numba backend's ``train_step``.

No row of a batch needs another row on its way forward and back, so the step cuts the batch into
``parts`` blocks of rows and runs forward, output error and the δ chain of each block on a thread
of its own. Then each thread takes a block of the rows of every ``W`` (and of ``b``) and applies the
SGD update for the whole batch: ``W[r] -= δ[:, r]ᵀ a``, ``b[r] -= Σ_batch δ[:, r]`` (δ arrives scaled
by the learning rate, as in the engine). Two parallel regions per step, no Python between layers.

Inside a block the BLAS runs on one thread (MKL's thread-local setting). The threads are the
step's own: the element-wise work runs on every core too, and no BLAS thread pool wakes up and waits
between products. With one part (a small batch, a BLAS limited to one thread, a slow threading
layer, or OpenBLAS) the products keep the BLAS's own threads, as in the per-operation path.
OpenBLAS cannot take part: its ``openblas_set_num_threads_local`` sets the global count, and its
idle workers, spinning after NumPy's own products, fight the step's threads for the cores
(measured at width 256, batch 256: the step 1.3x slower than on one part alone, 2-6x slower right
after NumPy's products).

Threading layer: ``omp`` first. Its parallel region starts in ~2 µs, where ``workqueue`` takes
~140 µs on the 2-vCPU machine this was tuned on (a 10-layer step at width 64 and batch 32 takes
~130 µs in all); with ``workqueue`` the step therefore runs as one part. ``NUMBA_THREADING_LAYER``
overrides the choice.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import njit, prange
from numba.typed import List

from .numba_blas import _call_int, gemm
from .numba_kernels import CODES, JIT, LINEAR, rows_act_grad, rows_bias_act, rows_bias_act_inplace
from .numba_reductions import rows_loss, sum_rows_of_columns

# Must be decided before the first parallel region runs (numba starts its pool then, once).
if not os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = "default"
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]

#: layers whose parallel region starts fast enough for a step to use several threads
FAST_LAYERS = ("omp", "tbb")
#: the fewest batch rows a thread gets: with 16 rows a thread, two threads lost 2-28 % against one
#: (width 64-256, batch 32); with 32 or more they won up to 30 % or tied (one loss: width 64, batch 64)
MIN_ROWS = 32


@njit(**JIT)
def _rows_pass(lib, ws, bs, x, target, zs, acts, deltas, code, param, keep_z, factor, r0, r1):
    """Forward, output error and δ chain of batch rows ``r0 .. r1``; returns their summed loss."""
    last = len(ws) - 1
    a = x[r0:r1]
    for l in range(last + 1):
        z = zs[l]
        gemm(lib, a, ws[l].T, z[r0:r1], 1.0, 0.0)
        if l == last:
            rows_bias_act_inplace(z, bs[l], LINEAR, 0.0, r0, r1)
        elif keep_z:
            rows_bias_act(z, bs[l], acts[l], code, param, r0, r1)
        else:
            rows_bias_act_inplace(z, bs[l], code, param, r0, r1)
        a = acts[l][r0:r1]
    loss = rows_loss(zs[last], target, deltas[last], factor, r0, r1)
    for l in range(last, 0, -1):
        gemm(lib, deltas[l][r0:r1], ws[l], deltas[l - 1][r0:r1], 1.0, 0.0)
        rows_act_grad(deltas[l - 1], zs[l - 1], code, param, r0, r1)  # zs[l-1] is acts[l-1] unless keep_z
    return loss


@njit(**JIT)
def _rows_update(lib, ws, bs, grad_b, x, acts, deltas, part, parts):
    """``W[r] -= δ[:, r]ᵀ a`` and ``b[r] -= Σ δ[:, r]`` for block ``part`` of the rows ``r`` of every layer."""
    for l in range(len(ws)):
        n = ws[l].shape[0]
        r0, r1 = part * n // parts, (part + 1) * n // parts
        if r0 == r1:
            continue
        d, gb, b = deltas[l], grad_b[l], bs[l]
        gemm(lib, d[:, r0:r1].T, x if l == 0 else acts[l - 1], ws[l][r0:r1], -1.0, 1.0)
        sum_rows_of_columns(d, gb, r0, r1)
        for j in range(r0, r1):
            b[j] -= gb[j]


@njit(**JIT)
def _step(lib, ws, bs, grad_b, x, target, zs, acts, deltas, code, param, keep_z, factor):
    """The step as one part, the BLAS with its own threads; returns the summed loss (no update if not finite)."""
    loss = _rows_pass(lib, ws, bs, x, target, zs, acts, deltas, code, param, keep_z, factor, 0, x.shape[0])
    if np.isfinite(loss):
        _rows_update(lib, ws, bs, grad_b, x, acts, deltas, 0, 1)
    return loss


@njit(parallel=True, **JIT)
def _step_parallel(lib, ws, bs, grad_b, x, target, zs, acts, deltas, code, param, keep_z, factor, parts):
    """The step on ``parts`` threads, each with a one-thread BLAS; returns the summed loss (no update if not finite)."""
    batch = x.shape[0]
    losses = np.zeros(parts)
    for p in prange(parts):
        before = _call_int(lib[2], 1)
        losses[p] = _rows_pass(lib, ws, bs, x, target, zs, acts, deltas, code, param, keep_z, factor, p * batch // parts, (p + 1) * batch // parts)
        _call_int(lib[2], before)
    loss = losses.sum()
    if np.isfinite(loss):
        for p in prange(parts):
            before = _call_int(lib[2], 1)
            _rows_update(lib, ws, bs, grad_b, x, acts, deltas, p, parts)
            _call_int(lib[2], before)
    return loss


_forked = False  # GNU OpenMP aborts a forked child that uses it after its parent did: such a child steps on one thread


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def fast_threads() -> bool:
    """Whether numba's threading layer starts a parallel region fast enough for :class:`StepPlan` to use threads."""
    try:
        return numba.threading_layer() in FAST_LAYERS
    except ValueError:  # no parallel region has run yet
        return False


class StepPlan:
    """The arguments of one network's compiled step at one batch size, gathered once.

    ``ws``/``bs`` are the network's parameters, ``zs``/``acts`` its per-layer work arrays
    (``acts[l] is zs[l]`` unless the activation's derivative needs ``z``), ``grad_b`` scratch of the
    biases' shapes; the plan adds one ``δ`` per layer. ``threads=False``: always one part (the BLAS
    cannot run on one thread per calling thread). Calling it runs one step: ``plan(x, target, lr)``
    returns the loss before the step, or None when an argument does not fit the compiled code.
    """

    def __init__(self, lib, ws, bs, grad_b, zs, acts, activation, output: str, blas_threads, lock: threading.Lock, threads: bool = True):
        self._lib, self._blas_threads, self._lock = lib, blas_threads, lock
        self._keep_z = any(a is not z for a, z in zip(acts[:-1], zs[:-1]))
        self._code, self._param = CODES[activation.name], float(activation.param or 0.0)
        self._output = output
        self._size = zs[-1].size
        self._lists = (List(ws), List(bs), List(grad_b))
        self._work = (List(zs), List(acts), List([np.empty_like(z) for z in zs]))
        batch = zs[0].shape[0]
        self.max_parts = min(numba.get_num_threads(), batch // MIN_ROWS) if threads and lib[2] and fast_threads() else 1

    def parts(self) -> int:
        """Threads for the next step: numba's, limited by the BLAS's current thread count and the batch."""
        return 1 if _forked else max(1, min(self.max_parts, self._blas_threads()))

    def __call__(self, x, target, lr: float) -> float | None:
        batch, size = x.shape[0], self._size
        mean_over = size if self._output == "linear" else batch
        factor = (2.0 if self._output == "linear" else 1.0) * lr / mean_over
        args = (self._lib, *self._lists, x, target, *self._work, self._code, self._param, self._keep_z, factor)
        parts = self.parts()
        try:
            if parts > 1:
                with self._lock:
                    total = _step_parallel(*args, parts)
            else:
                total = _step(*args)
        except TypeError:  # a dtype or layout the step was not compiled for
            return None
        return total / mean_over


def warmup(lib, dtype) -> None:
    """Compile (or load from the disk cache) both steps for ``dtype``, both outputs, and start the threading layer."""
    x = np.linspace(-1, 1, 2 * MIN_ROWS * 3, dtype=dtype).reshape(2 * MIN_ROWS, 3)
    ws, bs, gb = List([np.eye(3, dtype=dtype)] * 2), List([np.zeros(3, dtype)] * 2), List([np.zeros(3, dtype)] * 2)
    for target in (np.zeros_like(x), np.zeros(len(x), np.int64)):
        zs = List([np.empty_like(x), np.empty_like(x)])
        args = (lib, ws, bs, gb, x, target, zs, zs, List([np.empty_like(x), np.empty_like(x)]), CODES["tanh"], 0.0, False, 0.0)
        _step(*args)
        _step_parallel(*args, 1)  # compiled for any number of parts; one leaves the BLAS's thread count alone


KERNELS = (_step, _step_parallel)
