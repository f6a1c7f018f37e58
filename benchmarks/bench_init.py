"""Drawing weights: every initializer per size, against ``Generator.standard_normal`` of the same size.

Host-side NumPy work whatever the backend: every class here is :func:`backend_independent` (run in
the numpy environment only, loaded as backend ``any``).

The issue's target: a non-orthogonal scheme drawing ``4096 x 4096`` float32 costs at most 1.5x
``numpy.random.Generator.standard_normal`` (float64, the draw every scheme starts from) of the same
shape. ``track_ratio_to_standard_normal`` times both interleaved in one process, ``ratio_repeat``
rounds, and stores the ratio of each round (asv keeps their median and spread); CPU time, which
other processes on a shared machine do not inflate. Orthogonal pays for a QR decomposition and is
timed on its own.
``sparse`` is also timed on its own across sparsities at large sizes: its cost must stay linear in
the size whatever the fraction of zeros (it was quadratic in the rows when most entries were zero).
"""

from __future__ import annotations

import time

import numpy as np

from .common import THREADS, P, Benchmark, backend_independent, prepared, sampled, skip, timed_rounds

_NEEDS_ACTIVATION = {"kumar_normal": "tanh"}


def _draw(name: str, n: int, seed: int = 0, **params):
    import winit_bench as wb

    return wb.initialize(name, (n, n), seed=seed, dtype="float32", activation=_NEEDS_ACTIVATION.get(name), **params)


@backend_independent
class Initialize(Benchmark):
    """``wb.initialize(name, (size, size), dtype="float32")``: host-side, float64 draw then cast."""

    params = (P("init_names"), P("init_sizes"), THREADS)
    param_names = ["initializer", "size", "threads"]

    @prepared
    def setup(self, name, size, threads):
        import winit_bench as wb

        if name not in wb.initializer_names():
            skip(f"initializer {name!r} is not registered")
        _draw(name, min(size, 64))  # warm-up (imports, quadrature caches)

    def time_initialize(self, name, size, threads):
        _draw(name, size)

    def track_ratio_to_standard_normal(self, name, size, threads):
        rng = np.random.default_rng(0)
        shape = (size, size)
        fns = {"base": lambda: rng.standard_normal(shape), "mine": lambda: _draw(name, size)}
        t = timed_rounds(fns, P("ratio_repeat"), timer=time.process_time)
        return sampled(m / b for m, b in zip(t["mine"], t["base"]))

    track_ratio_to_standard_normal.unit = "ratio"


@backend_independent
class StandardNormal(Benchmark):
    """The baseline: ``Generator.standard_normal((size, size))`` in float64 and float32."""

    params = (P("init_sizes"), ["float64", "float32"], THREADS)
    param_names = ["size", "dtype", "threads"]

    @prepared
    def setup(self, size, dtype, threads):
        self.rng = np.random.default_rng(0)
        self.rng.standard_normal((8, 8), dtype=dtype)

    def time_standard_normal(self, size, dtype, threads):
        self.rng.standard_normal((size, size), dtype=dtype)


@backend_independent
class Orthogonal(Benchmark):
    """``orthogonal``: Gaussian draw + QR + sign fix, square matrices across sizes."""

    params = (P("qr_sizes"), THREADS)
    param_names = ["size", "threads"]

    @prepared
    def setup(self, size, threads):
        _draw("orthogonal", 16)
        self.a = np.random.default_rng(0).standard_normal((size, size))

    def time_orthogonal(self, size, threads):
        _draw("orthogonal", size)

    def time_qr(self, size, threads):
        """The QR alone (NumPy/LAPACK), the floor under ``time_orthogonal``."""
        np.linalg.qr(self.a)


@backend_independent
class Sparse(Benchmark):
    """``sparse`` at large sizes and sparsities: linear in the size (0.99 at 4096 took 98.8 s when quadratic)."""

    params = (P("sparse_sizes"), P("sparse_sparsities"), THREADS)
    param_names = ["size", "sparsity", "threads"]

    @prepared
    def setup(self, size, sparsity, threads):
        _draw("sparse", 64, sparsity=sparsity)  # warm-up

    def time_sparse(self, size, sparsity, threads):
        _draw("sparse", size, sparsity=sparsity)
