"""The engine against PyTorch eager on the same MLP: the performance issue's comparison under asv.

``winit-bench perf`` prints the whole ratio table (with the GEMM floor and the naive MLP); this file
keeps the same comparison in asv's history, per case ``depth x width x batch`` (tanh, float32, MSE,
plain SGD): PyTorch is ``nn.Sequential`` of ``Linear`` + ``Tanh`` with ``optim.SGD``
(:func:`winit_bench.perf.torch_step`).

``track_ratio_to_torch`` is the engine's step time over PyTorch's (below 1: the engine is faster),
one ratio per round (``track_repeat`` rounds: the engine's time, then PyTorch's), so that asv keeps
their median and spread.
On the CPU PyTorch runs in a child process with the benchmark's thread count (in one process the
two libraries' spinning threads slow each other down and neither number would be true), timed right
after the engine (:class:`winit_bench.perf.TorchProcess`). With the cupy backend PyTorch
runs on CUDA in the same process, both timed with device synchronisation.
Everything here is skipped when PyTorch is not installed (``pip install 'winit-bench[peers]'``).
"""

from __future__ import annotations

import contextlib
import time

from .common import THREADS, Benchmark, P, backend_name, prepared, require, sampled, skip


class _Peers(Benchmark):
    """One case of the target grid against PyTorch, on the device the engine's backend uses."""

    params = (P("peer_cases"), THREADS)
    param_names = ["case", "threads"]
    timeout = 600

    def setup_peer(self, case: str) -> None:
        """``self.perf``, ``self.case`` and ``self.device``; skipped without PyTorch (or its CUDA build for cupy)."""
        self.setup_backend()  # an unusable backend skips before PyTorch's import (1-2 s)
        try:
            import torch
        except ImportError:
            skip("PyTorch is not installed; pip install 'winit-bench[peers]'")
        self.perf = require("perf", "the PyTorch comparison")
        self.case = self.perf.Case(*(int(v) for v in case.split("x")))
        self.device = "cuda" if backend_name() == "cupy" else "cpu"
        if self.device == "cuda" and not torch.cuda.is_available():
            skip("the cupy backend needs PyTorch with CUDA for this comparison")


class EngineVsTorch(_Peers):
    @prepared
    def setup(self, case, threads):
        self.setup_peer(case)
        self.step = self.perf.engine_step(self.case, self.setup_backend().name)
        self.step()  # warm-up: buffers, the compiled step, BLAS threads

    def time_engine_step(self, case, threads):
        self.step()

    def track_ratio_to_torch(self, case, threads):
        with self.perf.TorchProcess(threads) if self.device == "cpu" else contextlib.nullcontext() as peer:
            torch = peer.step(self.case) if peer else self.perf.cuda_torch_step(self.case)
            ratios = []
            for _ in range(P("track_repeat")):
                engine = self.perf.race({"engine": self.step}, rounds=1)["engine"]
                time.sleep(self.perf.SETTLE if peer else 0)  # MKL's threads spin on after their last call
                ratios.append(engine / self.perf.race({"torch": torch}, rounds=1)["torch"])
        return sampled(ratios)

    track_ratio_to_torch.unit = "ratio"


class TorchStep(_Peers):
    """PyTorch's own step time, in a process of its own (asv runs each benchmark in a fresh one)."""

    @prepared
    def setup(self, case, threads):
        self.setup_peer(case)
        import torch

        torch.set_num_threads(threads)  # its own OpenMP, loaded after the suite pinned the others
        self.step = self.perf.torch_step(self.case, self.device)
        self.step()

    def time_torch_step(self, case, threads):
        self.step()
