"""The variance kind's plots: second moment and back-propagated error against the layer, and the heat map."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..plots import colors, heatmap, panels, save
from .variance_tables import predicted_column


def _profile_plot(var, spec, column: str, pred: str | None, path: Path, title: str, relative_to_last: bool) -> None:
    acts = [a for a in spec.activations if a in set(var.activation)]
    width = spec.widths[0] if spec.widths[0] in set(var.width) else int(var.width.iloc[0])
    palette = colors(spec.initializers)
    fig, axes = panels(len(acts))
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
                ax.plot(m.index, m.values, color=palette[init], lw=1.3, label=init)
            if t is not None:
                t = t.where(t > 0)
                if t.notna().any():
                    ax.plot(t.index, t.values, color=palette[init], lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_title(f"{act} (width {width})", fontsize=10)
        ax.set_xlabel("layer")
        if relative_to_last:
            ax.axhspan(0.5, 2, color="0.85", zorder=0)
        ax.grid(alpha=0.3)
    if axes:
        axes[0].set_ylabel(title)
        handles, labels = [], []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="lower center", ncol=min(6, max(1, len(labels))), fontsize=8,
                   bbox_to_anchor=(0.5, -0.02 - 0.025 * math.ceil(len(labels) / 6)))
        fig.suptitle(f"{title}: measured (solid), mean-field theory (dashed)")
    save(fig, path)


def _heatmap_plot(tables: dict, path: Path) -> None:
    spec, bd, failures = tables["spec"], tables.get("variance_by_depth"), tables["failures"]
    fig, axes = panels(len(spec.widths), ncols=2, size=(0.55 * len(spec.activations) + 3, 0.3 * len(spec.initializers) + 1.5))
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
        im = heatmap(ax, M, spec.initializers, spec.activations, f"log2 q_z[{spec.max_depth}]/q_z[1], width {w}", lambda v: f"{v:.1f}", "RdBu_r", -10, 10, failed)
    fig.colorbar(im, ax=axes, shrink=0.8)
    save(fig, path)


def plot_variance(tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
    """Draw the variance plots the tables allow; ``(name, title, caption)`` of each."""
    var, spec, L = tables["variance"], tables["spec"], tables["spec"].max_depth
    written = []
    if len(var):
        _profile_plot(var, spec, "q_z", predicted_column(var, "q_z"), plot_dir / "second_moment.png", "q_z = E[z^2]", False)
        _profile_plot(var, spec, "q_delta", predicted_column(var, "q_delta"), plot_dir / "backprop.png", "q_delta[l] / q_delta[L]", True)
        written += [("second_moment", "Forward: second moment vs depth", "Second moment of the pre-activations q_z = E[z^2] against the "
                     "layer (mean over seeds), with the mean-field q-map dashed. Flat lines preserve the signal; the input has q0 = 1."),
                    ("backprop", "Backward: error vs depth", "Back-propagated error q_delta[l] relative to the output layer: flat within "
                     "the grey band (factor 2) means gradients neither vanish nor explode.")]
    bd = tables.get("variance_by_depth")
    if len(spec.widths) and (bd is not None and len(bd) or len(tables["failures"])):
        _heatmap_plot(tables, plot_dir / "heatmap.png")
        written.append(("heatmap", "Heat map", f"log2 q_z[{L}]/q_z[1]: 0 preserves the forward signal over {L} layers; +/-1 is a factor 2; "
                        "grey cells: 'fail' diverged or raised, 'n/a' has no finite ratio (q = 0, e.g. zeros, or underflow)."))
    return written
