"""Drawing weights: every initializer per size, against ``Generator.standard_normal`` of the same size.

The issue's target: a non-orthogonal scheme drawing ``4096 x 4096`` float32 costs at most 1.5x
``numpy.random.Generator.standard_normal`` (float64, the draw every scheme starts from) of the same
shape. ``track_ratio_to_standard_normal`` measures both in one process (medians) and reports the
ratio (CPU time: immune to other processes on a shared machine). Orthogonal pays for a QR decomposition and is timed on its own.
``sparse`` is also timed on its own across sparsities at large sizes: its cost must stay linear in
the size whatever the fraction of zeros (it was quadratic in the rows when most entries were zero).
"""

from __future__ import annotations

import time

import numpy as np

from .common import P, Benchmark, median_time, skip

_NEEDS_ACTIVATION = {"kumar_normal": "tanh"}


def _draw(name: str, n: int, seed: int = 0):
    import winit_bench as wb

    return wb.initialize(name, (n, n), seed=seed, dtype="float32", activation=_NEEDS_ACTIVATION.get(name))


class Initialize(Benchmark):
    """``wb.initialize(name, (size, size), dtype="float32")``: host-side, float64 draw then cast."""

    params = (P("init_names"), P("init_sizes"))
    param_names = ["initializer", "size"]

    def setup(self, name, size):
        import winit_bench as wb

        if name not in wb.initializer_names():
            skip(f"initializer {name!r} is not registered")
        _draw(name, min(size, 64))  # warm-up (imports, quadrature caches)

    def time_initialize(self, name, size):
        _draw(name, size)

    def track_ratio_to_standard_normal(self, name, size):
        rng = np.random.default_rng(0)
        shape = (size, size)
        # both draws are single-threaded host work: CPU time keeps the ratio honest on a busy machine
        base = median_time(lambda: rng.standard_normal(shape), repeat=P("ratio_repeat"), timer=time.process_time)
        mine = median_time(lambda: _draw(name, size), repeat=P("ratio_repeat"), timer=time.process_time)
        return float(mine / base)

    track_ratio_to_standard_normal.unit = "ratio"


class StandardNormal(Benchmark):
    """The baseline: ``Generator.standard_normal((size, size))`` in float64 and float32."""

    params = (P("init_sizes"), ["float64", "float32"])
    param_names = ["size", "dtype"]

    def setup(self, size, dtype):
        self.rng = np.random.default_rng(0)
        self.rng.standard_normal((8, 8), dtype=dtype)

    def time_standard_normal(self, size, dtype):
        self.rng.standard_normal((size, size), dtype=dtype)


class Orthogonal(Benchmark):
    """``orthogonal``: Gaussian draw + QR + sign fix, square matrices across sizes."""

    params = (P("qr_sizes"),)
    param_names = ["size"]

    def setup(self, size):
        _draw("orthogonal", 16)
        self.a = np.random.default_rng(0).standard_normal((size, size))

    def time_orthogonal(self, size):
        _draw("orthogonal", size)

    def time_qr(self, size):
        """The QR alone (NumPy/LAPACK), the floor under ``time_orthogonal``."""
        np.linalg.qr(self.a)


class Sparse(Benchmark):
    """``sparse`` at large sizes and sparsities: linear in the size (0.99 at 4096 took 98.8 s when quadratic)."""

    params = (P("sparse_sizes"), P("sparse_sparsities"))
    param_names = ["size", "sparsity"]

    def setup(self, size, sparsity):
        import winit_bench as wb

        wb.initialize("sparse", (64, 64), sparsity=sparsity)  # warm-up

    def time_sparse(self, size, sparsity):
        import winit_bench as wb

        wb.initialize("sparse", (size, size), dtype="float32", sparsity=sparsity)
