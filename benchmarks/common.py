"""Shared pieces of the asv suite: profiles, the base class, where a benchmark runs, timing helpers.

Profiles (``$WINIT_BENCH_PROFILE``) choose the parameter grids, the thread counts and asv's own
timing knobs (``winit_bench.study.profiles``, the ``bench`` half):

* ``quick``   -- CI: a handful of small cases, the whole matrix in under 3 minutes on 2 cores;
* ``default`` -- a user's machine (the default);
* ``full``    -- a GPU box: large widths and batches.

The grid never depends on ``$WINIT_BENCH_BACKEND``: asv discovers the benchmarks once for every
environment of the matrix, so a combination the backend cannot run is skipped in ``setup`` by
raising ``NotImplementedError`` (asv records NaN and shows the case as skipped). A benchmark whose
value does not depend on the backend (:func:`backend_independent`) runs in the ``numpy``
environment only and skips in the others; ``winit_bench.results.load_asv_results`` labels its
results backend ``any``.

asv runs every parameter combination in a process of its own, forked from a server that imported
the suite once (``"launch_method": "forkserver"`` in ``asv.conf.json``): the backend is loaded here,
at import, so that no benchmark pays numba's start-up, and a backend that cannot load makes every
case skip in milliseconds.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import math
import os
import time
from pathlib import Path

import numpy as np

from .threads import pin_threads, thread_counts

PROFILE_VAR = "WINIT_BENCH_PROFILE"
BACKEND_VAR = "WINIT_BENCH_BACKEND"
#: the environment in which backend-independent benchmarks run
HOME_BACKEND = "numpy"
#: asv's timing attributes, set per profile on :class:`Benchmark` (``PROFILES[name]["bench"]["asv"]``)
ASV_KNOBS = ("rounds", "repeat", "number", "warmup_time", "min_run_count")


def suite_profiles() -> dict:
    """``PROFILES`` of this checkout's ``winit_bench/study/profiles.py``, whatever commit is installed.

    asv benchmarks every commit with the suite of the checkout, and pairs the results of two commits
    by parameter position: the grids, thread counts and timing knobs must be the checkout's too, or
    an older commit would be measured on other grids (or fail on a key it lacks). The file is run
    as a module of the installed ``winit_bench.study`` (its study half names the installed
    initializers).
    """
    path = Path(__file__).resolve().parents[1] / "winit_bench" / "study" / "profiles.py"
    namespace = {"__name__": "winit_bench.study._suite_profiles", "__package__": "winit_bench.study"}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace["PROFILES"]


PROFILES = suite_profiles()


def profile_name() -> str:
    name = os.environ.get(PROFILE_VAR, "default").strip().lower() or "default"
    if name not in PROFILES:
        raise ValueError(f"unknown ${PROFILE_VAR} {name!r}; valid: {', '.join(PROFILES)}")
    return name


PROFILE = profile_name()


def P(key: str):
    """The value of ``key`` in the active profile."""
    return PROFILES[PROFILE]["bench"][key]


THREADS = thread_counts(P("threads"))


def skip(reason: str):
    """Raise the exception asv turns into a skipped (NaN) result, with one clear message."""
    raise NotImplementedError(f"skipped: {reason}")


def require(module: str, what: str):
    """Import ``winit_bench.<module>`` or skip: another part of the project may not exist yet."""
    try:
        return importlib.import_module(f"winit_bench.{module}")
    except ImportError as exc:
        skip(f"{what} needs winit_bench.{module}, which cannot be imported ({exc})")


def backend_name() -> str:
    return (os.environ.get(BACKEND_VAR) or HOME_BACKEND).strip().lower()


@functools.lru_cache(maxsize=None)
def _backend_or_reason():
    try:
        import winit_bench as wb

        return wb.get_backend(backend_name()), None
    except Exception as exc:  # BackendUnavailable, UnknownBackend, a missing backend module
        return None, f"backend {backend_name()!r} is unusable here: {exc}"


def load_backend():
    """The backend named by ``$WINIT_BENCH_BACKEND`` or a skip saying why it cannot run here."""
    backend, reason = _backend_or_reason()
    if backend is None:
        skip(reason)
    return backend


_forked = []
os.register_at_fork(after_in_child=lambda: _forked.append(True))


def prepared(build):
    """Decorate a benchmark's ``setup``: place the process, then build the state once per process.

    asv_runner re-runs ``setup`` before every timed sample (so that each call sees fresh state);
    the benchmarks here time calls that do not need it, and rebuilding a network per sample would
    cost more than the sample. Placing: a backend-independent class skips outside the ``numpy``
    environment, and the thread pools are pinned to the ``threads`` parameter (the profile's first
    count for a class without one) before anything is built.
    """

    @functools.wraps(build)
    def setup(self, *args):
        params = args[len(args) - len(self.param_names) :]  # after setup_cache's result, if any
        if self.__dict__.get("_prepared") == params:
            return
        self.place(dict(zip(self.param_names, params)))
        build(self, *args)
        self._prepared = params

    return setup


def backend_independent(cls):
    """Class decorator: the benchmarks of ``cls`` measure host code or mathematics, not a backend.

    They run in the ``numpy`` environment only (elsewhere ``setup`` skips, saying so), and each
    benchmark method carries ``home_backend`` into asv's ``benchmarks.json``, from which
    ``load_asv_results`` labels their results backend ``any``.
    """
    cls.home_backend = HOME_BACKEND
    for name in dir(cls):
        if name.startswith(("time_", "track_", "peakmem_", "mem_")):
            getattr(cls, name).home_backend = HOME_BACKEND
    return cls


class Benchmark:
    """Base class: every benchmark declares ``params``/``param_names`` and a :func:`prepared` ``setup``.

    asv's timing knobs (``rounds``, ``repeat``, ``number``, ``warmup_time``, ``min_run_count``) come
    from the profile, as scikit-learn's asv suite does; they apply to the ``time_`` benchmarks.
    """

    timeout = 300
    backend = None
    home_backend = None
    param_names: list = []
    rounds, repeat, number, warmup_time, min_run_count = (P("asv")[knob] for knob in ASV_KNOBS)

    def at_home(self) -> bool:
        """Whether this environment is one this benchmark runs in (a backend-independent one: numpy only)."""
        return self.home_backend is None or backend_name() == self.home_backend

    def place(self, params: dict) -> None:
        """Skip where this benchmark does not belong; pin the thread pools (``threads`` parameter)."""
        if not self.at_home():
            skip(f"backend-independent: measured once, in the {self.home_backend} environment (loaded as backend 'any')")
        n = params.get("threads", THREADS[0])
        if n > 1 and _forked and backend_name() == "numba":
            # numba_step runs a forked child's step on one thread (GNU OpenMP after fork)
            skip(f"numba's step runs on one thread in a forked process; for threads={n} run asv with --launch-method spawn")
        pin_threads(n)

    def each_case(self, compute) -> dict:
        """For ``setup_cache``: ``compute(*case)`` for every parameter combination, once per
        environment, when several benchmarks read the same work; a case that skips keeps its reason.
        Outside this benchmark's environments nothing is computed (``setup`` then skips)."""
        if not self.at_home():
            return {}
        self.place({})
        results = {}
        for case in itertools.product(*self.params):
            try:
                results[case] = compute(*case)
            except NotImplementedError as exc:  # this case skips; the others run
                results[case] = str(exc)
        return results

    @staticmethod
    def cached(results: dict, *params):
        """For ``setup``: the result :meth:`each_case` computed for ``params``, or its skip."""
        found = results[params]
        if isinstance(found, str):
            raise NotImplementedError(found)
        return found

    def setup_backend(self):
        self.backend = load_backend()
        return self.backend

    def sync(self):
        """Wait for the device (a no-op on CPU backends) so timings cover the work, not its launch."""
        if self.backend is not None:
            self.backend.synchronize()

    def to_device(self, x):
        return self.backend.asarray(np.ascontiguousarray(x))


def timed_rounds(fns: dict, rounds: int, min_time: float = 0.05, sync=None, timer=time.perf_counter) -> dict:
    """Seconds per call of each of ``fns`` in each of ``rounds`` rounds, interleaved (lists by name).

    Each function is warmed up and its call count calibrated once (each round loops >= ``min_time``).
    ``timer=time.process_time`` measures CPU time: for single-threaded host work it leaves out the
    time other processes hold the core (never use it for device or multi-threaded BLAS work).
    """
    sync = sync or (lambda: None)

    def seconds(fn, number):
        t0 = timer()
        for _ in range(number):
            fn()
        sync()
        return timer() - t0

    numbers = {}
    for name, fn in fns.items():
        seconds(fn, 1)  # warm-up
        numbers[name] = max(1, int(math.ceil(min_time / max(seconds(fn, 1), 1e-7))))
    out: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            out[name].append(seconds(fn, numbers[name]) / numbers[name])
    return out


def sampled(values) -> dict:
    """A ``track_`` result with its own repeat statistics: asv stores the median of ``values`` as
    the result and their spread (99 % interval, quartiles) as it does for ``time_`` samples."""
    return {"samples": [float(v) for v in values], "number": 1}


def log2(x) -> float:
    """log2 of a non-negative number as a plain float; 0 maps to a large negative finite value."""
    x = float(x)
    if not math.isfinite(x):
        return float(x)
    return float(math.log2(max(x, 1e-300)))


_backend_or_reason()  # at import: once in asv's fork server, inherited by every benchmark
