"""What ``winit-bench perf`` measures: a case, its data, and the steps raced on it in this process.

A :class:`Case` is an MLP of ``depth`` layers of ``width`` units trained on batches of ``batch`` rows.
Its candidates here are the engine's ``train_step`` (:func:`engine_step`), the straightforward NumPy
MLP (:func:`naive_step`) and the step's matrix products alone (:func:`gemm_floor`); PyTorch's step
is :mod:`.torch_peer`'s. Every candidate trains on the same :func:`data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import gemm_floor as floor
from ..engine import MLP


@dataclass(frozen=True)
class Case:
    depth: int
    width: int
    batch: int
    activation: str = "tanh"
    dtype: str = "float32"

    @property
    def sizes(self) -> list[int]:
        return [self.width] * (self.depth + 1)

    @property
    def flops(self) -> float:
        """Multiply-adds of the 3 x depth products, times 2."""
        return floor.step_flops(self.sizes, self.batch)


#: the grid of the performance targets (docs/performance.md)
TARGET_GRID = [Case(10, 1024, 256)] + [Case(10, w, b) for w in (64, 128, 256) for b in (32, 256)] + [Case(50, 64, 32), Case(50, 64, 256)]

#: the GPU target's case: the cupy step against cuBLAS alone and against PyTorch eager on CUDA
GPU_CASE = Case(8, 4096, 4096)


def data(case: Case, seed: int = 0):
    """The batch ``(X, Y)`` every candidate trains on: standard normal, in the case's dtype."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((case.batch, case.width)).astype(case.dtype)
    Y = rng.standard_normal((case.batch, case.width)).astype(case.dtype)
    return X, Y


def engine_step(case: Case, backend: str) -> Callable[[], None]:
    """A callable doing one synchronised ``train_step`` of the engine."""
    net = MLP(case.sizes, case.activation, "xavier_normal", dtype=case.dtype, backend=backend)
    X, Y = data(case)
    X, Y = net.backend.asarray(X), net.backend.asarray(Y)
    sync = net.backend.synchronize

    def step():
        net.train_step(X, Y, 1e-3)
        sync()

    return step


def naive_step(case: Case) -> Callable[[], None]:
    """The straightforward NumPy MLP (fresh arrays every step, ``W -= lr * dW``): the "before" of docs/performance.md."""
    rng = np.random.default_rng(0)
    n, dt = case.width, case.dtype
    ws = [(rng.standard_normal((n, n)) / np.sqrt(n)).astype(dt) for _ in range(case.depth)]
    bs = [np.zeros(n, dt) for _ in range(case.depth)]
    X, Y = data(case)

    def step():
        acts = [X]
        for l in range(case.depth):
            z = acts[-1] @ ws[l].T + bs[l]
            acts.append(np.tanh(z) if l < case.depth - 1 else z)
        delta = 2 * (acts[-1] - Y) / Y.size
        for l in reversed(range(case.depth)):
            dw, db = delta.T @ acts[l], delta.sum(axis=0)
            if l:
                delta = (delta @ ws[l]) * (1 - acts[l] ** 2)
            ws[l] -= 1e-3 * dw
            bs[l] -= 1e-3 * db

    return step


def gemm_floor(case: Case, backend: str) -> Callable[[], None]:
    """A callable doing the step's 3 x depth matrix products alone (:func:`winit_bench.gemm_floor.gemm_floor`)."""
    return floor.gemm_floor(case.sizes, case.batch, case.dtype, backend)
