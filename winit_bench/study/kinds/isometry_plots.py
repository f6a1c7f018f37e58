"""The isometry kind's plot: the spread of the squared singular values against depth, and their range, Gaussian vs orthogonal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import SLOT_COLORS, plt, save

STYLES = ("-", "--", ":", "-.")
FLOOR = 1e-3  # the right panel's lower limit: the small singular values of Gaussian products fall far below it


def _lines(iso, names: dict, means: dict):
    """``[(initializer, sigma_b2, width, seed-mean rows per depth)]`` in a stable order."""
    return [(init, sb2, w, means[(init, sb2, w)]) for init in names for sb2 in sorted(iso.sigma_b2.unique(), reverse=True)
            for w in sorted(iso.width.unique()) if (init, sb2, w) in means]


def plot_isometry(iso, means: dict, names: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
    """Draw ``isometry.png`` from the table ``iso``, its seed means and ``{initializer: what its weights are}``."""
    fig, (ax, ax2) = plt().subplots(1, 2, figsize=(11, 4.2))
    sbs, widths = sorted(iso.sigma_b2.unique(), reverse=True), sorted(iso.width.unique())
    handles = []
    for init, sb2, w, m in _lines(iso, names, means):
        color = SLOT_COLORS[list(names).index(init)]
        style = STYLES[(sbs.index(sb2) * len(widths) + widths.index(w)) % len(STYLES)]
        label = f"{names[init]}, σ_b²={sb2:g}" + (f", w={w}" if len(widths) > 1 else "")
        d = m.depth.to_numpy(float)
        lo, hi = m.theory_spread * np.exp(m.band_spread_lo), m.theory_spread * np.exp(m.band_spread_hi)
        ax.fill_between(d, lo, hi, color=color, alpha=0.12, lw=0)
        ax.plot(d, m.theory_spread, color=color, ls=style, lw=1.0)
        ax.plot(d, m.spread, color=color, ls="none", marker="o", ms=4)
        handles.append((plt().Line2D([], [], color=color, ls=style, marker="o", ms=4), label))
        ax2.fill_between(d, np.maximum(m.q05_s2 / m.mean_s2, FLOOR), m.q95_s2 / m.mean_s2, color=color, alpha=0.15, lw=0)
        ax2.plot(d, m.max_s2 / m.mean_s2, color=color, ls=style, lw=1.2)
    ax.set(xscale="log", yscale="log", xlabel="depth l", ylabel="spread  Var(s²) / E[s²]²")
    ax.set_title("spread of the squared singular values of J_l", fontsize=10)
    ax2.set(xscale="log", yscale="log", xlabel="depth l", ylabel="s² / E[s²]", ylim=(FLOOR, None))
    ax2.set_title("largest (line) and 5-95 % range (shaded) of s² / E[s²]", fontsize=10)
    for a in (ax, ax2):
        d = np.sort(iso.depth.unique())
        a.set_xticks(d, [str(int(x)) for x in d])
        a.grid(alpha=0.3, which="both", lw=0.4)
    ax.legend(*zip(*handles), fontsize=8, frameon=False)
    fig.suptitle(f"tanh at the edge of chaos: input-output Jacobian, {int(iso.samples.iloc[0])} samples per network, mean over seeds",
                 fontsize=10)
    save(fig, plot_dir / "isometry.png")
    return [("isometry", "Dynamical isometry: the spectrum of the input-output Jacobian",
             "Left: the spread Var(s²)/E[s²]² of the squared singular values s² of J_l = ∂a[l]/∂x (dots: measured; lines: the "
             "free-probability prediction l(μ2/μ1² − 1 − s1), s1 = −1 for Gaussian and 0 for orthogonal weights, with the first "
             "layer's own scale; shaded: the stated finite-width band, docs/theory.md). Orthogonal weights spread a quarter as fast "
             "at σ_b² = 0.05 and stay O(1) at small σ_b² (q* → 0), Gaussian ones grow like l at every σ_b². Right: the largest "
             f"s² and the 5-95 % range, relative to the mean (a range that reaches the axis goes below {FLOOR:g}: the smallest "
             "singular values of Gaussian products fall exponentially with depth).")]
