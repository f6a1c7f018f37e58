"""The memory ``winit-bench perf`` reports: the peak resident memory a network adds while it trains,
against the minimum the algorithm needs (Linux: ``/proc/self``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from ..backends import get_backend
from ..engine import MLP
from .cases import Case, data


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
    X, Y = data(case)
    net = MLP(case.sizes, "tanh", "xavier_normal", dtype=dtype, backend=backend)
    for _ in range(steps):
        net.train_step(X, Y, 1e-3)
    item = np.dtype(dtype).itemsize
    params = sum(a * b + b for a, b in zip(case.sizes[:-1], case.sizes[1:]))
    minimum = item * (2 * params + batch * sum(case.sizes[1:]) + 2 * batch * width)
    return {"added_bytes": _peak_rss_bytes() - base, "minimum_bytes": minimum}


def memory(depth: int = 10, width: int = 1024, batch: int = 256, dtype: str = "float32", backend: str = "numpy") -> dict:
    """Run :func:`memory_probe` in a fresh interpreter so that nothing else inflates the high-water mark."""
    code = f"import json, winit_bench.perf.peak_memory as p; print(json.dumps(p.memory_probe({depth}, {width}, {batch}, {dtype!r}, {backend!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    row["ratio"] = row["added_bytes"] / row["minimum_bytes"]
    return row
