"""The variance kind's plots: forward and backward log2 ratios against depth (families x activations), and the heat map.

Each panel shows one family of initializers (at most 4, each in its own colour; identical results
share a line) for one activation, at the narrowest width of the grid: the seed mean of
:mod:`~winit_bench.study.ratios`' ``F(d)`` or ``B(d)`` solid, the mean-field prediction dashed where
the theory describes the weights. The grey band is the usable range (a factor 2); lines that leave
the plotted range are clipped and marked with a triangle where they leave it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..inits import families, theory_applies
from ..plots import SLOT_COLORS, clipped_line, heatmap, plt, save
from ..ratios import TOLERANCE_LOG2, tolerances

#: the plotted range of the log2 ratios, in bits (a factor 256 either way)
YLIM = 8.0


def _status(stab, init: str, act: str, width: int) -> str:
    s = stab[(stab.initializer == init) & (stab.activation == act) & (stab.width == width)]
    return s.status.iloc[0] if len(s) else "not run"


def _no_ratio_from(y: np.ndarray) -> int | None:
    """The depth from which ``y`` has no finite ratio (a NaN: 0/0) before it ever left the plotted range, or None."""
    with np.errstate(invalid="ignore"):
        gone = np.isnan(y) | (np.abs(y) > YLIM)
    i = int(np.argmax(gone)) if gone.any() else None
    return i + 1 if i is not None and np.isnan(y[i]) else None


def _lines(means, stab, members, act, width, column):
    """``[(label, slot, values, theory values or None)]`` with identical results merged, and notes on the members
    without a line (or whose line stops): their status, 'a = b', or the depth from which no ratio is finite."""
    lines, notes = [], []
    for slot, init in enumerate(members):
        m = means.get((init, act, width))
        if m is None:
            notes.append(f"{init}: {_status(stab, init, act, width)}")
            continue
        y = m[column].to_numpy(float)
        same = next((l for l in lines if np.array_equal(l[2], y, equal_nan=True)), None) if np.isfinite(y[2:]).any() else None
        if same is not None:
            notes.append(f"{init} = {same[0]}")
            continue
        stop = _no_ratio_from(y)
        if stop is not None:
            notes.append(f"{init}: no finite ratio" + (f" from depth {stop}" if stop > 1 else ""))
        t = m.get(f"theory_{column}") if theory_applies(init, act) else None
        lines.append([init, slot, y, None if t is None else t.to_numpy(float)])
    return lines, notes


def _panel(ax, means, stab, members, act, width, column, seeds: int, depth: int) -> None:
    lines, notes = _lines(means, stab, members, act, width, column)
    tol = tolerances(act, width, seeds, depth)[0 if column == "forward" else 1]
    ax.fill_between(np.arange(1, depth + 1), -tol, tol, color="0.88", lw=0, zorder=0)
    for label, slot, y, t in lines:
        x = np.arange(1, len(y) + 1)
        clipped_line(ax, x, y, YLIM, color=SLOT_COLORS[slot], lw=1.4)
        if t is not None:
            clipped_line(ax, x, t, YLIM, color=SLOT_COLORS[slot], lw=1.0, ls="--")
    ax.axhline(0, color="0.6", lw=0.6, zorder=0)
    if notes:  # under the axes, never over the data
        ax.set_xlabel("\n".join(notes), fontsize=6, color="0.3", style="italic")


def _profile_plot(tables: dict, column: str, path: Path, ylabel: str) -> None:
    spec, stab, means = tables["spec"], tables["stability"], tables["ratio_means"]
    width = min(spec.widths)
    seeds = len(spec.seeds) if width < spec.wide else len(spec.wide_seeds)
    acts = list(spec.activations)
    fams = families(spec.initializers)
    W, H = 2.3 * len(acts) + 2.9, 2.3 * len(fams) + 1.4  # inches: the panels, the legends (right), titles and notes
    fig, axes = plt().subplots(len(fams), len(acts), figsize=(W, H), squeeze=False)  # not shared: O(n^2) in matplotlib
    fig.subplots_adjust(left=0.8 / W, right=1 - 2.0 / W, top=1 - 0.6 / H, bottom=1.05 / H, hspace=0.75, wspace=0.25)
    for (row, col), ax in np.ndenumerate(axes):
        ax.set_ylim(-YLIM * 1.08, YLIM * 1.08)
        ax.set_xlim(0, spec.max_depth + 1)
        ax.set_yticks([-8, -4, 0, 4, 8])
        ax.tick_params(labelsize=7, labelleft=col == 0, labelbottom=row == len(fams) - 1)
    for row, (fam, members) in enumerate(fams):
        for col, act in enumerate(acts):
            ax = axes[row][col]
            _panel(ax, means, stab, members, act, width, column, seeds, spec.max_depth)
            if row == 0:
                ax.set_title(act, fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{fam}\n{ylabel}", fontsize=8)
        handles = [plt().Line2D([], [], color=SLOT_COLORS[s], lw=1.4) for s in range(len(members))]
        axes[row][-1].legend(handles, members, loc="center left", bbox_to_anchor=(1.04, 0.5), fontsize=7, frameon=False)
    fig.supxlabel("depth d (the ticks of every column)", fontsize=9, y=0.1 / H)
    fig.suptitle(f"{ylabel} at width {width}: measured (solid, mean over seeds), mean-field theory (dashed); "
                 f"grey: the usable range; ▲▼: leaves the plotted ±{YLIM:g} bits", fontsize=10, y=1 - 0.12 / H)
    save(fig, path, tight=False)


def _heatmap_plot(tables: dict, path: Path) -> None:
    spec, stab, means, L = tables["spec"], tables["stability"], tables["ratio_means"], tables["spec"].max_depth
    inits, acts = list(spec.initializers), list(spec.activations)
    fig, axes = plt().subplots(1, len(spec.widths), figsize=((0.62 * len(acts) + 2.2) * len(spec.widths), 0.3 * len(inits) + 1.8), squeeze=False)
    for ax, w in zip(axes[0], spec.widths):
        M = np.full((len(inits), len(acts)), np.nan)
        labels = [["" for _ in acts] for _ in inits]
        for i, init in enumerate(inits):
            for j, act in enumerate(acts):
                status, m = _status(stab, init, act, w), means.get((init, act, w))
                v = m.forward.iloc[-1] if m is not None and status == "ok" else np.nan
                if np.isfinite(v):
                    M[i, j], labels[i][j] = v, f"{v:.1f}"
                else:
                    labels[i][j] = "no ratio" if status == "ok" else status
        im = heatmap(ax, M, labels, inits, acts, f"log2 q_z[{L}]/q_z[1], width {w}", "RdBu_r", -10, 10)
    fig.colorbar(im, ax=list(axes[0]), shrink=0.8, label="bits (clipped at ±10)")
    save(fig, path)


def plot_variance(tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
    """Draw the variance plots the tables allow; ``(name, title, caption)`` of each."""
    spec, L, written = tables["spec"], tables["spec"].max_depth, []
    if tables["ratio_means"]:
        w = min(spec.widths)
        _profile_plot(tables, "forward", plot_dir / "second_moment.png", "log2 q_z[d]/q_z[1]")
        _profile_plot(tables, "backward", plot_dir / "backprop.png", "log2 q_δ[1]/q_δ[d-1]")
        common = (f"Rows: families of initializers; columns: activations; width {w}, mean over seeds. Solid: measured; dashed: "
                  "mean-field theory for the realised weight and bias scales, drawn only where its assumptions hold (i.i.d. or "
                  "orthogonal zero-mean weights: not zeros, ones, constant, identity). The grey band is the usable range: a factor 2 "
                  f"(±{TOLERANCE_LOG2:g} bit) widened with depth by twice the spread finite width alone gives the seed mean (the "
                  f"criterion of the usable depth); a line that leaves the plotted ±{YLIM:g} bits is cut there and "
                  "marked ▲ or ▼. Under a panel, the members without a line of their own, or whose line stops, say why: 'a = b' "
                  "(identical results: b's line), not run, left out, failed, diverged, or no finite ratio from some depth on (0/0: a "
                  "second moment of exactly 0, the zeros initializer or a float32 underflow).")
        written += [("second_moment", "Forward: the signal against depth",
                     f"How much the second moment of the pre-activations grows or shrinks over d layers, log2 q_z[d]/q_z[1]. {common}"),
                    ("backprop", "Backward: the gradient against depth",
                     "The error reaching the first layer of a depth-d network relative to its last hidden layer, log2 q_δ[1]/q_δ[d-1] "
                     f"(0 for d <= 2). {common}")]
    if len(tables["stability"]):
        _heatmap_plot(tables, plot_dir / "heatmap.png")
        written.append(("heatmap", "Heat map", f"log2 q_z[{L}]/q_z[1] (mean over seeds): 0 preserves the forward signal over {L} layers; "
                        "±1 is a factor 2. Cells without a value say why: 'no ratio' was measured but has no finite ratio (a second "
                        "moment of 0, or an overflow); 'failed' and 'diverged' (dark) raised or overflowed, see the failed configurations; "
                        "'not run' (hatched) and 'left out' (white) are not in the grid, see the reasons under the recommendations."))
    return written
