"""PyTorch eager, the peer the engine is raced against: its step, and a child process that times it.

On the CPU PyTorch runs in a process of its own (:class:`TorchProcess`), given the thread count of
the BLAS serving the engine (:func:`threads`); on CUDA in this process (:func:`cuda_torch_step`),
where the device is what both share.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Callable

from .cases import Case, data


_TORCH_ACT = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid", "gelu": "GELU", "selu": "SELU", "elu": "ELU", "silu": "SiLU", "softplus": "Softplus", "leaky_relu": "LeakyReLU", "linear": "Identity"}


def torch_step(case: Case, device: str = "cpu") -> Callable[[], None]:
    """PyTorch eager: ``nn.Sequential`` of ``Linear`` + activation, ``MSELoss``, ``optim.SGD``."""
    from ..extras import require

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
    X, Y = (torch.from_numpy(a).to(device) for a in data(case))
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        loss.item()  # the engine returns its loss as a Python float too
        sync()

    return step


def threads() -> int:
    """The thread count of the BLAS serving the engine's products (what PyTorch is given too).

    Not simply the first BLAS loaded: with MKL serving the engine, NumPy's OpenBLAS has one thread,
    and handing PyTorch that count made it run on one thread in the runs where OpenBLAS came first.
    """
    try:
        from threadpoolctl import threadpool_info

        from ..backends import cblas

        pools = {os.path.realpath(p["filepath"]): int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"}
        lib = cblas.handle()
        engine = os.path.realpath(lib._name) if lib is not None else None
        if pools:
            return pools.get(engine, max(pools.values()))
    except ImportError:
        pass
    return os.cpu_count() or 1


_TORCH_CHILD = """
import json, sys, time, torch
from winit_bench.perf.cases import Case
from winit_bench.perf.torch_peer import torch_step
torch.set_num_threads(int(sys.argv[1]))
print("ready", flush=True)
key = step = None
for line in sys.stdin:
    case, n = json.loads(line)
    if case != key:
        key, step = case, torch_step(Case(*case))
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


def cuda_torch_step(case: Case) -> Callable[[], None] | None:
    """PyTorch's step on CUDA, to race in this process (the device is what both share, each call
    synchronised); None without PyTorch or without a CUDA build of it."""
    try:
        import torch
    except ImportError:
        return None
    return torch_step(case, "cuda") if torch.cuda.is_available() else None
