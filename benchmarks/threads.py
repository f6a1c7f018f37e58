"""The thread counts a benchmark runs with: declared per profile, set inside the suite, recorded.

Every thread pool of a benchmark's process is limited to one count: the BLAS and OpenMP pools
through threadpoolctl (NumPy's OpenBLAS, and MKL when it serves the engine's products,
``winit_bench.backends.cblas``) and numba's through ``numba.set_num_threads``. Unpinned, the
libraries start one thread per core whoever else runs there: on a shared 2-core machine an
orthogonal draw of 256 x 256 read 6.6 ms in one run and 1.9 s in the next.

The counts come from the profile's ``threads`` list (``winit_bench.study.profiles``), or from
``$WINIT_BENCH_THREADS`` (``1``, ``1,2``, ``all``) when set; 0 or ``all`` means every core. The
benchmarks whose value depends on it take the count as their last parameter, ``threads``, so asv
stores it with each result; the others (statistics of a network at initialisation, training
outcomes) run on the first count and do not depend on it.
"""

from __future__ import annotations

import os
import sys

THREADS_VAR = "WINIT_BENCH_THREADS"
#: read by a library when it loads: set too, for those loaded after the pinning and for child processes
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_state: dict = {}


def _count(text, source: str) -> int:
    value = str(text).strip().lower()
    if value in ("0", "all"):
        return os.cpu_count() or 1
    if value.isdigit():
        return int(value)
    raise ValueError(f"{source}: {text!r} is not a thread count; use a positive integer, 0 or 'all' (every core)")


def thread_counts(declared) -> list[int]:
    """The thread counts to benchmark: ``$WINIT_BENCH_THREADS`` (comma-separated) or ``declared``.

    >>> thread_counts([1, "all"])[0]
    1
    """
    text = os.environ.get(THREADS_VAR, "").strip()
    items, source = (text.split(","), f"${THREADS_VAR}") if text else (list(declared), "the profile's threads")
    counts = list(dict.fromkeys(_count(item, source) for item in items))
    if not counts:
        raise ValueError(f"{source}: no thread count given; use e.g. 1 or 1,2")
    return counts


def pin_threads(n: int) -> None:
    """Limit this process's BLAS, OpenMP and numba thread pools to ``n`` threads (once per count).

    threadpoolctl limits the pools loaded now; the usual variables (:data:`ENV_VARS`) set the count
    of those loaded later (MKL when no backend loaded it yet, MKL's OpenMP runtime on its first
    call). With MKL serving the engine, NumPy's own OpenBLAS keeps its single thread (``cblas.load``:
    its idle threads would spin on the cores MKL needs). numba is limited when it is loaded (the
    numba backend).
    """
    if _state.get("n") == n:
        return
    from threadpoolctl import threadpool_limits

    from winit_bench.backends import cblas

    for var in ENV_VARS:  # runtimes loaded later (MKL, and its OpenMP on first use) and child processes
        os.environ[var] = str(n)
    if "numba" in sys.modules:
        import numba

        # first: launching numba's threading layer resets the OpenMP runtime's count
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _state["limits"] = threadpool_limits(limits=n)  # stays in force: never restored in this process
    cblas.load()  # the engine's BLAS, if not loaded yet; beside MKL, NumPy's OpenBLAS back to one thread
    _state["n"] = n


def pinned() -> int | None:
    """The count :func:`pin_threads` last set in this process (None: not pinned)."""
    return _state.get("n")
