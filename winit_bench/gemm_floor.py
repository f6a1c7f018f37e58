"""The GEMM floor of a training step: its matrix products alone, the bound no engine can beat.

Per layer a step does three products: ``a[l-1] @ W[l].T`` (forward), ``δ[l].T @ a[l-1]`` (weight
gradient) and ``δ[l] @ W[l]`` (error to the layer below), ``2 · batch · n_in · n_out`` FLOPs each.
:func:`gemm_floor` times exactly these, into preallocated arrays on the backend's own
``matmul`` (the same BLAS the engine calls), so ``engine time / floor time`` is the engine's
overhead beyond its products. ``winit-bench perf``, the study's throughput kind and the asv
benchmark ``bench_throughput`` all use this one function.

>>> step = gemm_floor([64, 64, 64], batch=32, dtype="float32", backend="numpy")
>>> step()                       # the 3 x 2 products once
>>> step_flops([64, 64, 64], 32)
786432.0
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .backends import Backend, get_backend


def step_flops(sizes: Sequence[int], batch: int) -> float:
    """FLOPs of a training step's products: ``3 · 2 · batch · Σ n[l-1] n[l]``."""
    return 2.0 * 3 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def gemm_floor(sizes: Sequence[int], batch: int, dtype: str = "float32", backend: str | Backend | None = None,
               seed: int = 0) -> Callable[[], None]:
    """A callable doing one step's ``3 x depth`` matrix products, synchronised, into preallocated arrays.

    Weights are Gaussian with ``Var = 1/n_in`` so that values stay finite at any depth.
    """
    be = get_backend(backend)
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w = be.asarray((rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dt))
        a = be.asarray(rng.standard_normal((batch, n_in)).astype(dt))
        d = be.asarray(rng.standard_normal((batch, n_out)).astype(dt))
        outs = (be.empty((batch, n_out), dt), be.empty((n_out, n_in), dt), be.empty((batch, n_in), dt))
        layers.append((w, a, d, outs))

    def step() -> None:
        for w, a, d, (z, gw, g) in layers:
            be.matmul(a, w.T, out=z)
            be.matmul(d.T, a, out=gw)
            be.matmul(d, w, out=g)
        be.synchronize()

    return step
