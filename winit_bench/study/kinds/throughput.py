"""The throughput kind: the engine's training step against its GEMM floor, timed in the same process.

Both are medians of ``repeats`` timings; the floor is :func:`winit_bench.gemm_floor.gemm_floor`, the
same products on the same backend and BLAS as the engine.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from ..spec import Config, Spec, config
from .base import Kind


def _median_seconds(fn, repeats: int, sync) -> float:
    fn()
    sync()
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def time_step(p: dict) -> list[dict]:
    from ...backends import get_backend
    from ...data import gaussian_inputs
    from ...engine import MLP
    from ...gemm_floor import gemm_floor, step_flops

    be = get_backend(p["backend"])
    n, depth, batch, reps = p["width"], p["depth"], p["batch"], p["repeats"]
    sizes = [n] * (depth + 1)
    net = MLP(sizes, "relu", "he_normal", seed=0, dtype=p["dtype"], backend=be)
    X = gaussian_inputs(batch, n, seed=1, dtype=p["dtype"])
    Y = gaussian_inputs(batch, n, seed=2, dtype=p["dtype"])
    net.train_step(X, Y, 1e-6)
    t_step = _median_seconds(lambda: net.train_step(X, Y, 1e-6), reps, be.synchronize)
    t_mm = _median_seconds(gemm_floor(sizes, batch, p["dtype"], be), reps, lambda: None)
    flops = step_flops(sizes, batch)
    return [dict(step_s=t_step, matmul_s=t_mm, flops=flops, engine_gflops=flops / t_step / 1e9, matmul_gflops=flops / t_mm / 1e9,
                 efficiency=t_mm / t_step, samples_per_s=batch / t_step)]


class Throughput(Kind):
    name = "throughput"
    id_columns = ("width", "depth", "batch", "repeats", "dtype", "backend")
    exclusive = True

    def configs(self, spec: Spec) -> list[Config]:
        return [config(self.name, width=w, depth=d, batch=b, repeats=spec.throughput_repeats, dtype=spec.dtype, backend=spec.backend)
                for w, d, b in spec.throughput]

    def run(self, params: dict, cache) -> list[dict]:
        return time_step(params)

    def label(self, p: dict) -> str:
        return f"throughput w={p['width']} L={p['depth']} b={p['batch']}"

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        thr = tables["throughput"]
        if not len(thr):
            return []
        from ..plots import plt, save

        fig, ax = plt().subplots(figsize=(1.6 * len(thr) + 3, 3.5))
        labels = [f"w={r.width}\nL={r.depth}\nb={r.batch}" for r in thr.itertuples()]
        x = np.arange(len(thr))
        ax.bar(x - 0.2, thr.engine_gflops, 0.4, label="engine train step")
        ax.bar(x + 0.2, thr.matmul_gflops, 0.4, label="same 3 x depth matmuls alone")
        for xi, r in zip(x, thr.itertuples()):
            ax.text(xi - 0.2, r.engine_gflops, f"{100 * r.efficiency:.0f}%", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylabel("GFLOP/s (matmul FLOPs)")
        ax.set_title(f"throughput on {thr.backend.iloc[0]} ({thr.dtype.iloc[0]}), % = share of the matmul rate")
        ax.legend(fontsize=8)
        save(fig, plot_dir / "throughput.png")
        return [("throughput", "Throughput", "Engine training step against the same 3 x depth matmuls timed alone in the same run "
                 "(medians); the percentage is the share of the machine's matmul rate the engine reaches.")]

    def report_tables(self, tables: dict) -> dict:
        thr = tables["throughput"]
        return {"": thr[["width", "depth", "batch", "step_s", "matmul_s", "engine_gflops", "matmul_gflops", "efficiency"]]} if len(thr) else {}
