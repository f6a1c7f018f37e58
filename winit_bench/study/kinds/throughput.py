"""The throughput kind: the engine's training step against its GEMM floor, timed in the same process.

The floor is :func:`winit_bench.gemm_floor.gemm_floor`: the step's ``3 x depth`` products on the
same backend and BLAS as the engine. The two are timed in alternation (step, floor, step, floor,
...), so that both see the same load on a shared machine; ``efficiency`` is the floor's median over
the step's. Above 1 the step beat its own products timed alone: the table's ``note`` says so beside
the number, with the spread of the paired ratios (timing noise when it reaches down to 1) and the
known causes: the engine's update ``W -= δᵀa`` is one GEMM accumulating into ``W`` (beta = 1), so
it never writes the separate gradient array the floor writes (less memory traffic: 4 MB per layer
at width 1024 in float32), and the engine's operands are still in cache from the pass that made them.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from ..spec import Config, Spec, config
from .base import Kind


def paired_seconds(step, floor, repeats: int, sync) -> tuple[list[float], list[float]]:
    """``repeats`` timings of ``step`` and of ``floor``, alternating, after one warm-up call of each."""
    step()
    sync()
    floor()
    a, b = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        sync()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        floor()
        b.append(time.perf_counter() - t)
    return a, b


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    steps, floors = paired_seconds(lambda: net.train_step(X, Y, 1e-6), gemm_floor(sizes, batch, p["dtype"], be), reps, be.synchronize)
    t_step, t_mm = statistics.median(steps), statistics.median(floors)
    ratios = np.array(floors) / np.array(steps)
    flops = step_flops(sizes, batch)
    return [dict(step_s=t_step, matmul_s=t_mm, flops=flops, engine_gflops=flops / t_step / 1e9, matmul_gflops=flops / t_mm / 1e9,
                 efficiency=t_mm / t_step, samples_per_s=batch / t_step, ratio_q25=float(np.quantile(ratios, 0.25)),
                 ratio_q75=float(np.quantile(ratios, 0.75)), load_1min=load, fused_update=bool(be.info().get("fused_sgd_gemm", False)))]


def efficiency_note(r: dict) -> str:
    """The explanation an efficiency above 1 never appears without (empty at or below 1)."""
    eff = r["efficiency"]
    if not eff > 1:
        return ""
    spread = f"paired ratios {r['ratio_q25']:.2f}-{r['ratio_q75']:.2f}, load {r['load_1min']:.1f}"
    if r["ratio_q25"] <= 1:
        return f"above 1 within timing noise ({spread}): the step and its products alone take the same time"
    fused = ("the engine's update W -= δᵀa is one GEMM accumulating into W (beta = 1): it never writes the separate gradient "
             "array the floor writes, less memory traffic; and ") if r.get("fused_update") else ""
    return f"above 1 beyond timing noise ({spread}): {fused}the engine's operands are still in cache from the pass that made them"


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

    def table_rows(self, ids: dict, record: dict) -> list[dict]:
        return [{**r, "note": efficiency_note(r)} for r in super().table_rows(ids, record)]

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        thr = tables["throughput"]
        if not len(thr):
            return []
        from ..plots import plt, save

        fig, ax = plt().subplots(figsize=(1.6 * len(thr) + 3, 3.8))
        labels = [f"w={r.width}\nL={r.depth}\nb={r.batch}" for r in thr.itertuples()]
        x = np.arange(len(thr))
        ax.bar(x - 0.2, thr.engine_gflops, 0.4, label="engine train step")
        ax.bar(x + 0.2, thr.matmul_gflops, 0.4, label="its 3 x depth matmuls alone (GEMM floor)")
        for xi, r in zip(x, thr.itertuples()):
            star = " *" if r.efficiency > 1 else ""
            ax.text(xi - 0.2, r.engine_gflops, f"{100 * r.efficiency:.0f}%{star}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylabel("GFLOP/s (matmul FLOPs)")
        ax.set_ylim(0, 1.2 * max(thr.engine_gflops.max(), thr.matmul_gflops.max()))
        ax.set_title(f"throughput on {thr.backend.iloc[0]} ({thr.dtype.iloc[0]}); % = floor time / step time", fontsize=10)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, frameon=False)
        save(fig, plot_dir / "throughput.png")
        above = thr[thr.efficiency > 1]
        note = (" * above 100 %: the step beat its own products timed alone; the table below says why beside each number."
                if len(above) else "")
        return [("throughput", "Throughput", "Engine training step against the same 3 x depth matrix products timed alone on the same "
                 "backend and BLAS, in alternation in the same process (medians); the percentage is the floor's time over the step's, "
                 "the share of the step spent in its products." + note)]

    def report_tables(self, tables: dict) -> dict:
        thr = tables["throughput"]
        return {"": thr[["width", "depth", "batch", "step_s", "matmul_s", "engine_gflops", "matmul_gflops", "efficiency", "note"]]} if len(thr) else {}
