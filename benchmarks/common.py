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

from winit_bench.study.profiles import PROFILES  # noqa: E402  (one definition for the study and the suite)


def profile_name() -> str:
    name = os.environ.get(PROFILE_VAR, "default").strip().lower() or "default"
    if name not in PROFILES:
        raise ValueError(f"unknown ${PROFILE_VAR} {name!r}; valid: {', '.join(PROFILES)}")
    return name


PROFILE = profile_name()


def P(key: str):
    """The value of ``key`` in the active profile."""
    return PROFILES[PROFILE]["bench"][key]


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
