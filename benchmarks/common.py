"""Shared pieces of the asv suite: profiles, the base class, timing helpers.

Profiles (``$WINIT_BENCH_PROFILE``) choose the parameter grids:

* ``quick``   -- CI: a handful of small cases, the whole suite in a few minutes on 2 cores;
* ``default`` -- a user's machine (the default);
* ``full``    -- a GPU box: large widths and batches.

The grid never depends on ``$WINIT_BENCH_BACKEND``: asv discovers the benchmarks once for every
environment of the matrix, so a combination the backend cannot run is skipped in ``setup`` by
raising ``NotImplementedError`` (asv records NaN and shows the case as skipped).
"""

from __future__ import annotations

import math
import os
import statistics
import time

import numpy as np

PROFILE_VAR = "WINIT_BENCH_PROFILE"
BACKEND_VAR = "WINIT_BENCH_BACKEND"

# every initializer with a closed-form draw (orthogonal's QR is timed on its own)
NON_ORTHOGONAL = [
    "uniform", "normal", "truncated_normal", "lecun_normal", "lecun_uniform", "xavier_normal",
    "xavier_uniform", "he_normal", "he_uniform", "kumar_normal", "identity", "sparse",
    "variance_scaling", "torch_linear_default",
]  # fmt: skip

# depth x width x batch: the performance targets' grid (winit_bench.perf.TARGET_GRID)
PEER_GRID = ["10x1024x256", "10x64x32", "10x64x256", "10x128x32", "10x128x256", "10x256x32", "10x256x256", "50x64x32", "50x64x256"]

PROFILES = {
    "quick": {
        "init_names": ["xavier_uniform", "he_normal", "truncated_normal"],
        "init_sizes": [256],
        "qr_sizes": [64, 256],
        "sparse_sizes": [1024],
        "sparse_sparsities": [0.5, 0.99],
        "ratio_repeat": 3,
        "depth": [2],
        "width": [128],
        "batch": [64],
        "dtype": ["float32"],
        "track_repeat": 3,
        "stats_shapes": ["8x128x64"],
        "peer_cases": ["10x64x32"],
        "stab_inits": ["xavier_normal", "he_normal"],
        "stab_acts": ["tanh", "relu"],
        "stab_depth": [4],
        "stab_width": [64],
        "stab_batch": 256,
        "train_inits": ["xavier_normal", "he_normal"],
        "train_acts": ["tanh", "relu"],
        "train_depth": [3],
        "train_width": 64,
        "train_steps": 50,
    },
    "default": {
        "init_names": NON_ORTHOGONAL,
        "init_sizes": [256, 1024, 4096],
        "qr_sizes": [64, 256, 1024],
        "sparse_sizes": [1024, 4096],
        "sparse_sparsities": [0.1, 0.5, 0.99],
        "ratio_repeat": 5,
        "depth": [2, 8],
        "width": [256, 1024],
        "batch": [64, 512],
        "dtype": ["float32", "float64"],
        "track_repeat": 5,
        "stats_shapes": ["50x512x256"],
        "peer_cases": PEER_GRID,
        "stab_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "stab_acts": ["tanh", "relu", "sigmoid"],
        "stab_depth": [4, 16, 32],
        "stab_width": [64, 256],
        "stab_batch": 512,
        "train_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "train_acts": ["tanh", "relu", "sigmoid"],
        "train_depth": [3, 10],
        "train_width": 64,
        "train_steps": 300,
    },
    "full": {
        "init_names": NON_ORTHOGONAL,
        "init_sizes": [256, 1024, 4096],
        "qr_sizes": [64, 256, 1024, 2048],
        "sparse_sizes": [1024, 4096, 8192],
        "sparse_sparsities": [0.1, 0.5, 0.99],
        "ratio_repeat": 7,
        "depth": [2, 8, 32],
        "width": [256, 1024, 4096],
        "batch": [64, 512, 4096],
        "dtype": ["float32", "float64"],
        "track_repeat": 7,
        "stats_shapes": ["50x512x256", "20x2048x1024"],
        "peer_cases": PEER_GRID + ["8x4096x4096"],  # the GPU target
        "stab_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "stab_acts": ["tanh", "relu", "sigmoid"],
        "stab_depth": [4, 16, 32, 64],
        "stab_width": [64, 256, 1024],
        "stab_batch": 1024,
        "train_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "train_acts": ["tanh", "relu", "sigmoid"],
        "train_depth": [3, 10, 20],
        "train_width": 128,
        "train_steps": 1000,
    },
}


def profile_name() -> str:
    name = os.environ.get(PROFILE_VAR, "default").strip().lower() or "default"
    if name not in PROFILES:
        raise ValueError(f"unknown ${PROFILE_VAR} {name!r}; valid: {', '.join(PROFILES)}")
    return name


PROFILE = profile_name()


def P(key: str):
    """The value of ``key`` in the active profile."""
    return PROFILES[PROFILE][key]


def skip(reason: str):
    """Raise the exception asv turns into a skipped (NaN) result, with one clear message."""
    raise NotImplementedError(f"skipped: {reason}")


def require(module: str, what: str):
    """Import ``winit_bench.<module>`` or skip: another part of the project may not exist yet."""
    import importlib

    try:
        return importlib.import_module(f"winit_bench.{module}")
    except ImportError as exc:
        skip(f"{what} needs winit_bench.{module}, which cannot be imported ({exc})")


def backend_name() -> str:
    return (os.environ.get(BACKEND_VAR) or "numpy").strip().lower()


def load_backend():
    """The backend named by ``$WINIT_BENCH_BACKEND`` or a skip saying why it cannot run here."""
    name = backend_name()
    try:
        import winit_bench as wb

        return wb.get_backend(name)
    except Exception as exc:  # BackendUnavailable, UnknownBackend, a missing backend module
        skip(f"backend {name!r} is unusable here: {exc}")


def median_time(fn, repeat: int = 5, min_time: float = 0.05, sync=None, timer=time.perf_counter) -> float:
    """Median over ``repeat`` samples of the seconds per call of ``fn`` (each sample loops for >= min_time).

    ``timer=time.process_time`` measures CPU time: for single-threaded host work it is immune to
    other processes on a shared machine (never use it for device or multi-threaded BLAS work).
    """
    fn()  # warm-up
    if sync:
        sync()
    t0 = timer()
    fn()
    if sync:
        sync()
    once = max(timer() - t0, 1e-7)
    number = max(1, int(math.ceil(min_time / once)))
    samples = []
    for _ in range(repeat):
        t0 = timer()
        for _ in range(number):
            fn()
        if sync:
            sync()
        samples.append((timer() - t0) / number)
    return float(statistics.median(samples))


def log2(x) -> float:
    """log2 of a non-negative number as a plain float; 0 maps to a large negative finite value."""
    x = float(x)
    if not math.isfinite(x):
        return float(x)
    return float(math.log2(max(x, 1e-300)))


class Benchmark:
    """Base class: every benchmark declares ``params``/``param_names`` and what to build in ``setup``."""

    timeout = 300
    backend = None

    def setup_backend(self):
        self.backend = load_backend()
        return self.backend

    def sync(self):
        """Wait for the device (a no-op on CPU backends) so timings cover the work, not its launch."""
        if self.backend is not None:
            self.backend.synchronize()

    def to_device(self, x):
        return self.backend.asarray(np.ascontiguousarray(x))
