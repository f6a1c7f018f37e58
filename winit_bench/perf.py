"""The engine against its physical floor and against PyTorch eager, measured side by side.

The floor of a training step is its matrix products alone: per layer ``a @ W.T`` (forward),
``δ.T @ a`` (weight gradient) and ``δ @ W`` (error to the layer below) — the "GEMM floor".
Every ratio here is timed with the candidates interleaved round by round, so a noisy machine slows
all of them alike, and PyTorch right after them (on the CPU in a child process,
:class:`TorchProcess`); the reported number is the median over rounds.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import gemm_floor as floor
from .backends import get_backend
from .engine import MLP


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


def _data(case: Case, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((case.batch, case.width)).astype(case.dtype)
    Y = rng.standard_normal((case.batch, case.width)).astype(case.dtype)
    return X, Y


def engine_step(case: Case, backend: str) -> Callable[[], None]:
    """A callable doing one synchronised ``train_step`` of the engine."""
    net = MLP(case.sizes, case.activation, "xavier_normal", dtype=case.dtype, backend=backend)
    X, Y = _data(case)
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
    X, Y = _data(case)

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


_TORCH_ACT = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid", "gelu": "GELU", "selu": "SELU", "elu": "ELU", "silu": "SiLU", "softplus": "Softplus", "leaky_relu": "LeakyReLU", "linear": "Identity"}


def torch_step(case: Case, device: str = "cpu") -> Callable[[], None]:
    """PyTorch eager: ``nn.Sequential`` of ``Linear`` + activation, ``MSELoss``, ``optim.SGD``."""
    from .extras import require

    torch = require("torch")
    nn = torch.nn
    layers = []
    for l in range(case.depth):
        layers.append(nn.Linear(case.width, case.width))
        if l < case.depth - 1:
            act = getattr(nn, _TORCH_ACT[case.activation])
            layers.append(act(approximate="tanh") if case.activation == "gelu" else act())
    dtype = getattr(torch, case.dtype)
    model = nn.Sequential(*layers).to(device=device, dtype=dtype)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    X, Y = (torch.from_numpy(a).to(device) for a in _data(case))
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        loss.item()  # the engine returns its loss as a Python float too
        sync()

    return step


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


def threads() -> int:
    """The thread count of the BLAS serving the engine's products (what PyTorch is given too).

    Not simply the first BLAS loaded: with MKL serving the engine, NumPy's OpenBLAS has one thread,
    and handing PyTorch that count made it run on one thread in the runs where OpenBLAS came first.
    """
    try:
        from threadpoolctl import threadpool_info

        from .backends import cblas

        pools = {os.path.realpath(p["filepath"]): int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"}
        lib = cblas.handle()
        engine = os.path.realpath(lib._name) if lib is not None else None
        if pools:
            return pools.get(engine, max(pools.values()))
    except ImportError:
        pass
    return os.cpu_count() or 1


#: seconds between the engine's rounds and PyTorch's: Intel OpenMP's threads (MKL's) spin for 200 ms
#: after their last call by default (``KMP_BLOCKTIME``), on the cores PyTorch's child then needs
SETTLE = 0.25


def measure(case: Case, backends: list[str], *, torch: Callable[[], None] | None = None, naive: bool = True, rounds: int = 15) -> dict:
    """One row: seconds per step of each backend, the GEMM floor, the naive MLP, PyTorch; and their ratios.

    ``torch`` is PyTorch's step for ``case`` (:meth:`TorchProcess.step` on the CPU, :func:`cuda_torch_step`
    on CUDA), raced right after the others, not between their rounds: interleaved, PyTorch's child
    was ~4 % slower (each side's idle threads still spin when the other's round starts).
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


_TORCH_CHILD = """
import json, sys, time, torch, winit_bench.perf as p
torch.set_num_threads(int(sys.argv[1]))
print("ready", flush=True)
key = step = None
for line in sys.stdin:
    case, n = json.loads(line)
    if case != key:
        key, step = case, p.torch_step(p.Case(*case))
    start = time.perf_counter()
    for _ in range(n):
        step()
    print(time.perf_counter() - start, flush=True)
"""


class TorchProcess:
    """PyTorch eager on the CPU in a child process with the engine BLAS's thread count, its steps
    timed on request, so that each case's PyTorch time is taken right after the engine's.

    A process of its own, because PyTorch's OpenMP threads and the engine BLAS's spin after each
    call: in one process each steals the other's cores and neither number is true (measured:
    PyTorch 5-20x slower, NumPy 1.2x slower). On request, because PyTorch timed for every case
    before the engine (the first way) drifted from the engine's numbers on a shared machine: its
    step at width 128-256 varied by up to ±15 % between runs while the engine's did not.
    Use as a context manager: ``with TorchProcess() as peer: measure(case, ..., torch=peer.step(case))``.
    """

    def __init__(self, n_threads: int | None = None):
        import tempfile

        self._errors = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen([sys.executable, "-c", _TORCH_CHILD, str(n_threads or threads())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True)
        try:
            self._answer()  # torch imported: nothing more runs beside what is timed
        except ChildProcessError:
            self.close()
            raise

    def _answer(self, request: str | None = None) -> str:
        try:
            if request is not None:
                self._proc.stdin.write(request + "\n")
                self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        except BrokenPipeError:
            answer = ""
        if not answer:
            self._errors.seek(0)
            last = (self._errors.read().strip().splitlines() or ["no message"])[-1]
            raise ChildProcessError(f"the PyTorch process stopped: {last}")
        return answer

    def timed(self, case: Case, n: int) -> float:
        """Seconds for ``n`` PyTorch steps of ``case`` in the child."""
        return float(self._answer(json.dumps([[case.depth, case.width, case.batch, case.activation, case.dtype], n])))

    def step(self, case: Case) -> Callable[[], None]:
        """A race candidate: one PyTorch step of ``case`` per call, and ``timed(n)`` for n of them."""

        def one():
            self.timed(case, 1)

        one.timed = lambda n: self.timed(case, n)
        return one

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # the child has stopped already
            self._proc.stdin.close()
        self._proc.wait()
        self._errors.close()

    def __enter__(self) -> TorchProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: the GPU target's case: the cupy step against cuBLAS alone and against PyTorch eager on CUDA
GPU_CASE = Case(8, 4096, 4096)


def cuda_torch_step(case: Case) -> Callable[[], None] | None:
    """PyTorch's step on CUDA, to race in this process (the device is what both share, each call
    synchronised); None without PyTorch or without a CUDA build of it."""
    try:
        import torch
    except ImportError:
        return None
    return torch_step(case, "cuda") if torch.cuda.is_available() else None


def record(row: dict, info: dict, directory: str = "results") -> str:
    """Write ``row`` with the backend's ``info`` to ``results/perf-<device>-<timestamp>.csv``; its path."""
    import datetime
    import re

    import pandas as pd

    from .files import atomic_write_text

    device = re.sub(r"[^A-Za-z0-9]+", "-", str(info.get("device", info.get("backend", "cpu")))).strip("-").lower()
    path = os.path.join(directory, f"perf-{device}-{datetime.datetime.now():%Y%m%d-%H%M%S}.csv")
    os.makedirs(directory, exist_ok=True)
    atomic_write_text(path, pd.DataFrame([{**row, **{f"info_{k}": v for k, v in info.items()}}]).to_csv(index=False))
    return path


# The grid of the performance targets (docs/performance.md).
TARGET_GRID = [Case(10, 1024, 256)] + [Case(10, w, b) for w in (64, 128, 256) for b in (32, 256)] + [Case(50, 64, 32), Case(50, 64, 256)]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    """Restart the kernel's resident high-water mark (``VmHWM``) at the current size (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def memory_probe(depth: int, width: int, batch: int, dtype: str, backend: str, steps: int = 5) -> dict:
    """In this process: peak resident memory added by building and training a net, against the minimum it needs.

    The minimum is the algorithm's: weights, their gradients, the activations stashed for backprop
    and one batch (X and Y). ``ru_maxrss`` is not used: a child process inherits its parent's.
    """
    get_backend(backend)  # loaded (and, for numba, compiled code mapped) before the count starts
    _reset_peak_rss()
    base = _rss_bytes()
    case = Case(depth, width, batch, dtype=dtype)
    X, Y = _data(case)
    net = MLP(case.sizes, "tanh", "xavier_normal", dtype=dtype, backend=backend)
    for _ in range(steps):
        net.train_step(X, Y, 1e-3)
    item = np.dtype(dtype).itemsize
    params = sum(a * b + b for a, b in zip(case.sizes[:-1], case.sizes[1:]))
    minimum = item * (2 * params + batch * sum(case.sizes[1:]) + 2 * batch * width)
    return {"added_bytes": _peak_rss_bytes() - base, "minimum_bytes": minimum}


def memory(depth: int = 10, width: int = 1024, batch: int = 256, dtype: str = "float32", backend: str = "numpy") -> dict:
    """Run :func:`memory_probe` in a fresh interpreter so that nothing else inflates the high-water mark."""
    code = f"import json, winit_bench.perf as p; print(json.dumps(p.memory_probe({depth}, {width}, {batch}, {dtype!r}, {backend!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import json

    row = json.loads(out.strip().splitlines()[-1])
    row["ratio"] = row["added_bytes"] / row["minimum_bytes"]
    return row


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
