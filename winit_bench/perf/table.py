"""The ratio table of ``winit-bench perf``: candidates raced round by round, one row of ratios per case.

Every ratio here is timed with the candidates interleaved round by round, so a noisy machine slows
all of them alike, and PyTorch right after them (on the CPU in a child process,
:class:`~winit_bench.perf.torch_peer.TorchProcess`); the reported number is the median over rounds.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from typing import Callable

from .cases import TARGET_GRID, Case, engine_step, gemm_floor, naive_step
from .torch_peer import TorchProcess


def _timer(fn) -> Callable[[int], float]:
    """``timed(n)``: seconds for ``n`` calls of ``fn``; a candidate that runs elsewhere brings its own."""
    if hasattr(fn, "timed"):
        return fn.timed

    def timed(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start

    return timed


def race(candidates: dict[str, Callable[[], None]], *, rounds: int = 15, min_time: float = 0.05) -> dict[str, float]:
    """Median seconds per call of each candidate, interleaved round by round after a warm-up.

    Each round runs every candidate for about ``min_time`` seconds (the call count is calibrated
    once, by doubling until a fifth of that is reached).
    """
    timers = {name: _timer(fn) for name, fn in candidates.items()}
    calls = {}
    for name, timed in timers.items():
        timed(1)
        n = 1
        while (elapsed := timed(n)) < min_time / 5:
            n *= 2
        calls[name] = max(1, round(n * min_time / max(elapsed, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timed in timers.items():
            samples[name].append(timed(calls[name]) / calls[name])
    return {name: statistics.median(s) for name, s in samples.items()}


#: seconds between the engine's rounds and PyTorch's: Intel OpenMP's threads (MKL's) spin for 200 ms
#: after their last call by default (``KMP_BLOCKTIME``), on the cores PyTorch's child then needs
SETTLE = 0.25


def measure(case: Case, backends: list[str], *, torch: Callable[[], None] | None = None, naive: bool = True, rounds: int = 15) -> dict:
    """One row: seconds per step of each backend, the GEMM floor, the naive MLP, PyTorch; and their ratios.

    ``torch`` is PyTorch's step for ``case`` (:meth:`TorchProcess.step` on the CPU,
    :func:`~.torch_peer.cuda_torch_step` on CUDA), raced right after the others, not between their
    rounds: interleaved, PyTorch's child was ~4 % slower (each side's idle threads still spin when
    the other's round starts).
    """
    candidates = {f"engine_{b}": engine_step(case, b) for b in backends}
    candidates["gemm_floor"] = gemm_floor(case, backends[0])
    if naive and case.activation == "tanh":
        candidates["naive_numpy"] = naive_step(case)
    min_time = 0.05 if case.width <= 256 else 0.3
    t = race(candidates, rounds=rounds, min_time=min_time)
    if torch is not None:
        time.sleep(SETTLE)
        t.update(race({"torch": torch}, rounds=rounds, min_time=min_time))
    row = {"depth": case.depth, "width": case.width, "batch": case.batch, "activation": case.activation, "dtype": case.dtype}
    row.update({f"{k}_ms": v * 1e3 for k, v in t.items()})
    row["gemm_gflops"] = case.flops / t["gemm_floor"] / 1e9
    if "naive_numpy" in t:
        row["naive_vs_gemm"] = t["naive_numpy"] / t["gemm_floor"]
    for b in backends:
        row[f"{b}_vs_gemm"] = t[f"engine_{b}"] / t["gemm_floor"]
        if "torch" in t:
            row[f"{b}_vs_torch"] = t[f"engine_{b}"] / t["torch"]
    if "numba" in backends and "numpy" in backends:
        row["numba_speedup"] = t["engine_numpy"] / t["engine_numba"]
        # the same on the part a backend controls: the step minus the products both share
        floor = t["gemm_floor"]
        own = t["engine_numba"] - floor  # <= 0 where the fused update makes the step cheaper than the floor
        row["numba_speedup_beyond_gemm"] = (t["engine_numpy"] - floor) / own if own > 0 else float("nan")
        row["numba_speedup_bound"] = t["engine_numpy"] / floor  # were numba's own work free
    return row


#: PyTorch slower than this multiple of the GEMM floor at width 1024 was disturbed (or given fewer threads)
TORCH_SLOW = 1.6


TARGETS = "numpy_vs_gemm <= 1.15 at width 1024; *_vs_torch <= 1.0 (width <= 256), <= 1.05 (width 1024); numba_speedup >= 1.3 (width <= 256); memory ratio <= 1.3"


def perf_table(backends: list[str], grid=None, *, rounds: int = 15, progress=None):
    """The ratio table of the performance targets, one row per case (a pandas DataFrame)."""
    import importlib.util

    import pandas as pd

    rows = []
    with TorchProcess() if importlib.util.find_spec("torch") else contextlib.nullcontext() as peer:
        for case in grid or TARGET_GRID:
            rows.append(measure(case, backends, torch=peer.step(case) if peer else None, rounds=rounds))
            if progress:
                progress(case)
    return pd.DataFrame(rows)


def record(row: dict, info: dict, directory: str = "results") -> str:
    """Write ``row`` with the backend's ``info`` to ``results/perf-<device>-<timestamp>.csv``; its path."""
    import datetime
    import re

    import pandas as pd

    from ..files import atomic_write_text

    device = re.sub(r"[^A-Za-z0-9]+", "-", str(info.get("device", info.get("backend", "cpu")))).strip("-").lower()
    path = os.path.join(directory, f"perf-{device}-{datetime.datetime.now():%Y%m%d-%H%M%S}.csv")
    os.makedirs(directory, exist_ok=True)
    atomic_write_text(path, pd.DataFrame([{**row, **{f"info_{k}": v for k, v in info.items()}}]).to_csv(index=False))
    return path
