"""Plots (matplotlib, Agg) and ``report.md`` for a ``winit-bench run`` folder, or a summary of asv results.

``build_report(run_dir)`` reads the run's tables (rebuilding them from ``configs.jsonl``), draws

- ``second_moment.png``: q_z = E[z^2] against the layer, one panel per activation, one line per
  initializer (mean over seeds), the mean-field prediction dashed in the same colour;
- ``backprop.png``: q_delta[l] / q_delta[L], the back-propagated error relative to the output layer;
- ``heatmap.png``: log2 q_z[L]/q_z[1], initializer x activation, one panel per width;
- ``trainability.png``: test accuracy on digits, initializer x activation, one panel per depth;
- ``throughput.png``: the engine's training step against the same matmuls alone (GFLOP/s);

and writes ``report.md`` opening with the recommendation table and the elapsed time. Every file is
written atomically.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np

from .extras import require
from .study import SPEC_NAME, atomic_save, atomic_write_text, load_tables, prepare_dir, summarize

PLOTS = ("second_moment", "backprop", "heatmap", "trainability", "throughput")


def _plt():
    mpl = require("matplotlib")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _plt()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight"))
    plt.close(fig)


def _colors(names):
    plt = _plt()
    cmap = plt.get_cmap("tab20")
    return {n: cmap(i % 20) for i, n in enumerate(names)}


def _panels(n: int, ncols: int = 4, size=(4.0, 3.2)):
    plt = _plt()
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    fig.subplots_adjust(hspace=0.45, wspace=0.3)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _profile_plot(var, spec, column: str, pred: str | None, path: Path, title: str, relative_to_last: bool) -> None:
    acts = [a for a in spec.activations if a in set(var.activation)]
    width = spec.widths[0] if spec.widths[0] in set(var.width) else int(var.width.iloc[0])
    colors = _colors(spec.initializers)
    fig, axes = _panels(len(acts))
    for ax, act in zip(axes, acts):
        g = var[(var.activation == act) & (var.width == width)]
        for init in spec.initializers:
            h = g[g.initializer == init]
            if not len(h):
                continue
            m = h.groupby("layer")[column].mean()
            t = h.groupby("layer")[pred].mean() if pred and pred in h.columns else None
            if relative_to_last:
                m = m / m.iloc[-1]
                t = t / t.iloc[-1] if t is not None else None
            m = m.where(m > 0)
            if m.notna().any():
                ax.plot(m.index, m.values, color=colors[init], lw=1.3, label=init)
            if t is not None:
                t = t.where(t > 0)
                if t.notna().any():
                    ax.plot(t.index, t.values, color=colors[init], lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_title(f"{act} (width {width})", fontsize=10)
        ax.set_xlabel("layer")
        ax.axhspan(0.5, 2, color="0.85", zorder=0) if relative_to_last else None
        ax.grid(alpha=0.3)
    if axes:
        axes[0].set_ylabel(title)
        handles, labels = [], []
        for ax in axes:
            for h, l in zip(*ax.get_legend_handles_labels()):
                if l not in labels:
                    handles.append(h)
                    labels.append(l)
        fig.legend(handles, labels, loc="lower center", ncol=min(6, max(1, len(labels))), fontsize=8, bbox_to_anchor=(0.5, -0.02 - 0.025 * math.ceil(len(labels) / 6)))
        fig.suptitle(f"{title}: measured (solid), mean-field theory (dashed)")
    _save(fig, path)


def _heatmap(ax, M, rows, cols, title, fmt, cmap, vmin, vmax, failed=None):
    data = np.ma.masked_invalid(np.clip(M, vmin, vmax))
    cm = _plt().get_cmap(cmap).with_extremes(bad="0.75")
    im = ax.imshow(data, cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = M[i, j]
            label = fmt(v) if not np.isnan(v) else ("fail" if failed is None or (rows[i], cols[j]) in failed else "n/a")
            ax.text(j, i, label, ha="center", va="center", fontsize=6.5)
    ax.set_title(title, fontsize=10)
    return im


def plot_all(tables: dict, plot_dir: Path) -> list[str]:
    """Draw every plot the tables allow; returns the names written."""
    plt = _plt()
    spec, var, train, thr = tables["spec"], tables["variance"], tables["train"], tables["throughput"]
    plot_dir.mkdir(exist_ok=True)
    written = []
    if len(var):
        from .study import predicted_column

        _profile_plot(var, spec, "q_z", predicted_column(var, "q_z"), plot_dir / "second_moment.png", "q_z = E[z^2]", False)
        _profile_plot(var, spec, "q_delta", predicted_column(var, "q_delta"), plot_dir / "backprop.png", "q_delta[l] / q_delta[L]", True)
        written += ["second_moment", "backprop"]
    bd = tables.get("variance_by_depth")
    failures = tables["failures"]
    if len(spec.widths) and (bd is not None and len(bd) or len(failures)):
        fig, axes = _panels(len(spec.widths), ncols=2, size=(0.55 * len(spec.activations) + 3, 0.3 * len(spec.initializers) + 1.5))
        for ax, w in zip(axes, spec.widths):
            M = np.full((len(spec.initializers), len(spec.activations)), np.nan)
            if bd is not None and len(bd):
                h = bd[(bd.width == w) & (bd.depth == spec.max_depth)].groupby(["initializer", "activation"])["log2_qz_ratio"].mean()
                for i, init in enumerate(spec.initializers):
                    for j, act in enumerate(spec.activations):
                        if (init, act) in h.index:
                            M[i, j] = h[(init, act)]
            M[~np.isfinite(M) & ~np.isnan(M)] = np.nan
            fv = failures[(failures.kind == "variance") & (failures.width == w)] if len(failures) else failures
            failed = set(zip(fv.initializer, fv.activation)) if len(fv) else set()
            im = _heatmap(ax, M, spec.initializers, spec.activations, f"log2 q_z[{spec.max_depth}]/q_z[1], width {w}", lambda v: f"{v:.1f}", "RdBu_r", -10, 10, failed)
        fig.colorbar(im, ax=axes, shrink=0.8)
        _save(fig, plot_dir / "heatmap.png")
        written.append("heatmap")
    if len(train):
        depths = sorted(set(train.depth))
        inits = [i for i in spec.initializers if i in set(train.initializer)]
        acts = [a for a in spec.activations if a in set(train.activation)]
        fig, axes = _panels(len(depths), ncols=3, size=(0.55 * len(acts) + 3, 0.3 * len(inits) + 1.5))
        for ax, d in zip(axes, depths):
            h = train[train.depth == d].groupby(["initializer", "activation"])["test_accuracy"].mean()
            M = np.array([[h.get((i, a), np.nan) for a in acts] for i in inits], dtype=float)
            im = _heatmap(ax, M, inits, acts, f"digits test accuracy, depth {d}, {spec.train_steps} steps", lambda v: f"{v:.2f}", "viridis", 0, 1)
        fig.colorbar(im, ax=axes, shrink=0.8)
        _save(fig, plot_dir / "trainability.png")
        written.append("trainability")
    if len(thr):
        fig, ax = plt.subplots(figsize=(1.6 * len(thr) + 3, 3.5))
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
        _save(fig, plot_dir / "throughput.png")
        written.append("throughput")
    return written


def md_table(df, floatfmt: str = "{:.3g}", max_rows: int = 400) -> str:
    """A pipe table (no tabulate dependency)."""
    if df is None or not len(df):
        return "_(none)_\n"
    cols = list(df.columns)

    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else floatfmt.format(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in df.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows in the CSV_")
    return "\n".join(lines) + "\n"


def _duration(seconds) -> str:
    if seconds is None or seconds != seconds:
        return "unknown"
    m, s = divmod(float(seconds), 60)
    return f"{int(m)} min {s:.0f} s" if m else f"{s:.1f} s"


def build_report(run_dir: Path, out_dir: Path | None = None, tables: dict | None = None) -> Path:
    """Write the plots and ``report.md`` for a run folder (into ``out_dir``, default the run folder)."""
    run_dir = Path(run_dir)
    if not (run_dir / SPEC_NAME).exists():
        raise OSError(f"{str(run_dir)!r} is not a winit-bench run folder (no {SPEC_NAME})")
    out_dir = prepare_dir(out_dir or run_dir)
    _plt()
    if tables is None:
        tables = load_tables(run_dir)
        tables.update(summarize(tables))
    spec, meta = tables["spec"], tables["meta"]
    plots = plot_all(tables, out_dir / "plots")
    rec, stab, fails = tables["recommendations"], tables["stability"], tables["failures"]
    info = meta.get("backend_info", {})
    # a killed session never wrote its wall time: fall back on the configurations' own times
    elapsed = max(sum(s.get("wall_s") or 0 for s in meta.get("sessions", [])), float(meta.get("config_s") or 0))
    if elapsed == 0:
        from .study import read_log

        elapsed = sum(r.get("elapsed_s") or 0 for r in read_log(run_dir).values())
    L = spec.max_depth
    parts = [
        f"# winit-bench run: {run_dir.name}\n",
        f"Profile **{spec.profile}**, backend **{spec.backend}** ({', '.join(f'{k}={v}' for k, v in info.items() if k != 'backend')}), "
        f"{spec.dtype}. Elapsed: **{_duration(elapsed)}** over {len(meta.get('sessions', []))} session(s)"
        + ("" if tables.get("complete", True) else " — **incomplete: some configurations have not run yet (use --resume)**") + ".\n",
        "## Recommendations\n",
        f"For each activation, the initializers whose forward (q_z) and backward (q_delta) second moments stay within a "
        f"factor 2 of the first (last) layer at every layer up to depth {L} (mean over seeds of log2 ratios, beyond twice the finite-width spread expected of that mean — Var ln q[L]/q[1] ≈ κ L/n, κ = E[f^4]/E[f^2]^2 - 1, Hanin & Rolnick 2018 — at every width "
        f"{', '.join(map(str, spec.widths))}) **and** that reach test accuracy >= {spec.train_accuracy:g} on digits at depth "
        f"{max(spec.train_depths) if spec.train_depths else '-'} after {spec.train_steps} SGD steps. "
        "The backward ratio is taken against the last hidden layer (the output's δ is the loss derivative). "
        "`forward_only_and_trains`: forward within a factor 2 and trains, backward not; `stable_untrained`: stable but not trained.\n",
        md_table(rec),
    ]
    captions = {
        "second_moment": "Second moment of the pre-activations q_z = E[z^2] against the layer (mean over seeds), with the mean-field q-map dashed. Flat lines preserve the signal; the input has q0 = 1.",
        "backprop": "Back-propagated error q_delta[l] relative to the output layer: flat within the grey band (factor 2) means gradients neither vanish nor explode.",
        "heatmap": f"log2 q_z[{L}]/q_z[1]: 0 preserves the forward signal over {L} layers; +/-1 is a factor 2; grey cells: 'fail' diverged or raised, 'n/a' has no finite ratio (q = 0, e.g. zeros, or underflow).",
        "trainability": "Test accuracy on digits after a fixed budget (chance is 0.1). Symmetric initializers (zeros/ones/constant) have the capacity of a width-1 network.",
        "throughput": "Engine training step against the same 3 x depth matmuls timed alone in the same run (medians); the percentage is the share of the machine's matmul rate the engine reaches.",
    }
    titles = {"second_moment": "Forward: second moment vs depth", "backprop": "Backward: error vs depth", "heatmap": "Heat map",
              "trainability": "Trainability on digits", "throughput": "Throughput"}
    var = tables["variance"]
    if len(var) and "theory_error" in var.columns and var["theory_error"].notna().any():
        errs = var["theory_error"].dropna().unique()
        parts.append(f"**Note:** the theory comparison failed for some configurations (measurements kept, no prediction): {'; '.join(map(str, errs[:3]))}\n")
    for name in plots:
        parts += [f"## {titles[name]}\n", f"![{name}](plots/{name}.png)\n", captions[name] + "\n"]
        if name == "throughput":
            t = tables["throughput"][["width", "depth", "batch", "step_s", "matmul_s", "engine_gflops", "matmul_gflops", "efficiency"]]
            parts.append(md_table(t))
    if len(stab):
        parts += ["## Stability detail\n", f"Worst layer |log2| ratio up to depth {L} (forward, backward) and digits accuracy.\n",
                  md_table(stab.drop(columns=["notes"]) if not stab["notes"].astype(bool).any() else stab)]
    parts += [f"## Failed configurations ({len(fails)})\n", md_table(fails.drop(columns=["key"]) if len(fails) else fails)]
    parts += ["## Files\n", "Tables (CSV, and Parquet when pyarrow is importable) in `tables/`: `variance` (one row per layer and "
              "configuration), `variance_by_depth`, `stability`, `recommendations`, `train`, `throughput`, `failures`. "
              "`configs.jsonl` is the append-only log of finished configurations; `run.json` the grid and sessions.\n"]
    atomic_write_text(out_dir / "report.md", "\n".join(parts))
    return out_dir / "report.md"


def build_asv_report(results_dir: Path, out_dir: Path) -> Path:
    """Summarise asv results (winit_bench.results.load_asv_results) as tables in ``out_dir/report.md``."""
    from .results import load_asv_results

    df = load_asv_results(results_dir)
    out_dir = prepare_dir(out_dir)
    parts = [f"# asv results: {results_dir}\n", f"{len(df)} rows, {df['benchmark'].nunique() if len(df) else 0} benchmarks, "
             f"machines: {', '.join(map(str, sorted(df['machine'].dropna().unique()))) if len(df) else '-'}.\n"]
    if len(df):
        group = [c for c in ("benchmark", "backend", "machine") if c in df.columns]
        ok = df[df["status"] == "ok"] if "status" in df.columns else df
        summary = (df.groupby(group, dropna=False)
                     .agg(n=("value", "size"), ok=("status", lambda s: int((s == "ok").sum())),
                          failed=("status", lambda s: int((s == "failed").sum())), skipped=("status", lambda s: int((s == "skipped").sum())))
                     .reset_index())
        med = ok.groupby(group, dropna=False)["value"].median().rename("median_value").reset_index()
        summary = summary.merge(med, on=group, how="left")
        parts += ["## Per benchmark\n", md_table(summary)]
        if "commit" in df.columns and df["commit"].nunique() > 1:
            by_commit = ok.groupby(["benchmark", "commit"], dropna=False)["value"].median().unstack("commit")
            parts += ["## Median by commit\n", md_table(by_commit.reset_index())]
        atomic_save(out_dir / "asv_results.csv", lambda tmp: df.to_csv(tmp, index=False))
    atomic_write_text(out_dir / "report.md", "\n".join(parts))
    return out_dir / "report.md"


def is_run_dir(path: Path) -> bool:
    return (Path(path) / SPEC_NAME).exists()


def default_asv_out(root: Path = Path("results")) -> Path:
    return Path(root) / f"asv-report-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
