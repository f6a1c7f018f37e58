"""Matplotlib (Agg) helpers shared by the kinds' plots: panels, heat maps, colours, atomic PNGs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..extras import require
from ..files import atomic_save


def plt():
    """matplotlib.pyplot on the Agg backend (the ``plot`` extra)."""
    mpl = require("matplotlib")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def save(fig, path: Path) -> None:
    """Write ``fig`` as a PNG, atomically, and close it."""
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight"))
    plt().close(fig)


def colors(names) -> dict:
    cmap = plt().get_cmap("tab20")
    return {n: cmap(i % 20) for i, n in enumerate(names)}


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


def heatmap(ax, M, rows, cols, title, fmt, cmap, vmin, vmax, failed=None):
    """``M`` as a labelled heat map; NaN cells read 'fail' (in ``failed``) or 'n/a'."""
    data = np.ma.masked_invalid(np.clip(M, vmin, vmax))
    cm = plt().get_cmap(cmap).with_extremes(bad="0.75")
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
