"""The engine against its physical floor and against PyTorch eager, measured side by side.

The floor of a training step is its matrix products alone: per layer ``a @ W.T`` (forward),
``δ.T @ a`` (weight gradient) and ``δ @ W`` (error to the layer below) — the "GEMM floor".
Every ratio here is timed with the candidates interleaved round by round, so a noisy machine slows
all of them alike, and PyTorch right after them (on the CPU in a child process,
:class:`TorchProcess`); the reported number is the median over rounds.

- :mod:`~winit_bench.perf.cases`: what is measured (a :class:`Case`, its data, the target grid) and
  the steps raced on it in this process: the engine's, the naive NumPy MLP's, the GEMM floor;
- :mod:`~winit_bench.perf.torch_peer`: PyTorch's step, and :class:`TorchProcess` that times it;
- :mod:`~winit_bench.perf.table`: :func:`race`, one row of ratios per case (:func:`measure`), the
  table of the targets (:func:`perf_table`) and its file (:func:`record`);
- :mod:`~winit_bench.perf.peak_memory`: the peak memory a training network adds (:func:`memory`).
"""

from __future__ import annotations

from .cases import GPU_CASE, TARGET_GRID, Case, engine_step, gemm_floor, naive_step
from .peak_memory import memory, memory_probe
from .table import SETTLE, TARGETS, TORCH_SLOW, measure, perf_table, race, record
from .torch_peer import TorchProcess, cuda_torch_step, threads, torch_step

__all__ = [
    "GPU_CASE", "SETTLE", "TARGETS", "TARGET_GRID", "TORCH_SLOW", "Case", "TorchProcess", "cuda_torch_step", "engine_step", "gemm_floor",
    "measure", "memory", "memory_probe", "naive_step", "perf_table", "race", "record", "threads", "torch_step",
]
