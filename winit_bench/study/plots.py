"""Matplotlib (Agg) helpers shared by the kinds' plots: panels, clipped lines, heat maps with status cells, atomic PNGs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..extras import require
from ..files import atomic_save

#: distinct colours for the (at most 4) members of a family, the same slot in every panel
SLOT_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
#: how a heat-map cell without a value reads, and its colour: each status looks different
STATUS_CELLS = {"not run": ("not run", "white"), "left out": ("left out", "white"), "failed": ("failed", "0.45"),
                "diverged": ("diverged", "0.45"), "no ratio": ("no ratio", "0.7")}


def plt():
    """matplotlib.pyplot on the Agg backend (the ``plot`` extra)."""
    mpl = require("matplotlib")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def save(fig, path: Path, tight: bool = True) -> None:
    """Write ``fig`` as a PNG, atomically, and close it (``tight=False``: the figure's own margins, one rendering fewer)."""
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight" if tight else None))
    plt().close(fig)


def panels(n: int, ncols: int = 4, size=(4.0, 3.2)):
    """A figure with ``n`` axes in rows of ``ncols``; spare axes hidden."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt().subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    fig.subplots_adjust(hspace=0.45, wspace=0.3)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def clipped_line(ax, x, y, limit: float, **style) -> bool:
    """``y`` drawn up to where it first leaves ``±limit``, cut at the edge and marked there with a triangle.

    True when it was cut. The rest of a runaway line is not drawn, nor anything from its first NaN on
    (``0/0``: no ratio left to draw), so no mark ever stands apart from its line.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.isnan(y).any():
        x, y = x[: int(np.argmax(np.isnan(y)))], y[: int(np.argmax(np.isnan(y)))]
    with np.errstate(invalid="ignore"):
        out = np.abs(y) > limit
    if not out.any():
        ax.plot(x, y, **style)
        return False
    i = int(np.argmax(out))
    edge = math.copysign(limit, y[i])
    xs, ys = x[: i + 1].copy(), y[: i + 1].copy()
    if i > 0 and np.isfinite(y[i - 1]) and np.isfinite(y[i]):  # where the segment crosses the edge
        xs[i] = x[i - 1] + (edge - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1])
    ys[i] = edge
    ax.plot(xs, ys, **style)
    ax.plot([xs[i]], [edge], marker="^" if edge > 0 else "v", ms=6, color=style.get("color"), ls="none", clip_on=False)
    return True


def heatmap(ax, M, labels, rows, cols, title, cmap, vmin, vmax):
    """``M`` as a labelled heat map; a NaN cell shows its ``labels[i][j]`` status (:data:`STATUS_CELLS`) in its own colour."""
    pyplot = plt()
    data = np.ma.masked_invalid(np.clip(M, vmin, vmax))
    im = ax.imshow(data, cmap=pyplot.get_cmap(cmap).with_extremes(bad="white"), vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            text = labels[i][j]
            if np.isnan(M[i, j]):
                text, color = STATUS_CELLS.get(text, (text, "white"))
                ax.add_patch(pyplot.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=color, edgecolor="0.8", lw=0.5,
                                              hatch="///" if text == "not run" else None))
                dark = color == "0.45"
            else:
                r, g, b, _ = im.cmap(im.norm(np.clip(M[i, j], vmin, vmax)))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=10)
    return im
