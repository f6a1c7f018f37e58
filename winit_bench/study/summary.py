"""Derived tables: each kind's own, ``stability`` (per initializer x activation x width) and ``recommendations``.

``stability`` says for every combination of the grid what happened (``status``: ok, failed,
diverged, not run, left out, with the ``reason``) and, where it was measured, the usable depth and
the raw worst ratios of :mod:`~winit_bench.study.ratios`, the tolerance in a column of its own.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .inits import left_out
from .kinds import KINDS
from .ratios import drift, seed_means, tolerances, usable_depth
from .recommend import recommendations
from .spec import Spec

STABILITY_COLUMNS = ["activation", "initializer", "width", "status", "reason", "seeds", "usable_depth", "max_abs_log2_forward",
                     "max_abs_log2_backward", "tolerance_forward_log2", "tolerance_backward_log2", "forward_bits_per_layer",
                     "backward_bits_per_layer", "stable"]


def not_run_reason(spec: Spec, init: str, act: str, width: int) -> tuple[str, str] | None:
    """``(status, reason)`` of a combination the grid does not run, or None."""
    why = left_out(init, act)
    if why is not None:
        return "left out", f"undefined by design: {why}"
    if width >= spec.wide and spec.wide_initializers and init not in spec.wide_initializers:
        return "not run", (f"the {spec.profile} profile runs only {', '.join(spec.wide_initializers)} at width >= {spec.wide} "
                           "(its time budget); --profile full or --initializers runs every initializer at every width")
    return None


def _measured(m: pd.DataFrame, act: str, width: int) -> dict:
    fwd, bwd = m.forward.to_numpy(np.float64), m.backward.to_numpy(np.float64)
    L, seeds = len(fwd), m.attrs["seeds"]
    tol_f, tol_b = tolerances(act, width, seeds, L)
    worst = lambda x: float(np.max(np.abs(x))) if np.isfinite(x).all() else math.inf  # noqa: E731
    f_bits, b_bits = drift(fwd, bwd)
    depth = usable_depth(fwd, bwd, tol_f, tol_b)
    return dict(seeds=seeds, usable_depth=depth, max_abs_log2_forward=worst(fwd), max_abs_log2_backward=worst(bwd),
                tolerance_forward_log2=tol_f[-1], tolerance_backward_log2=tol_b[-1], forward_bits_per_layer=f_bits,
                backward_bits_per_layer=b_bits, stable=depth == L)


def stability(tables: dict) -> pd.DataFrame:
    """One row per initializer x activation x width of the grid, measured or not (docs/run.md)."""
    spec: Spec = tables["spec"]
    means, failed = tables["ratio_means"], tables["failures"]
    fv = failed[failed.kind == "variance"] if len(failed) else failed
    rows = []
    for init in spec.initializers:
        for act in spec.activations:
            for w in spec.widths:
                row = dict(activation=act, initializer=init, width=w, status="ok", reason="")
                skipped = not_run_reason(spec, init, act, w)
                fails = fv[(fv.initializer == init) & (fv.activation == act) & (fv.width == w)] if len(fv) else fv
                if skipped is not None:
                    row["status"], row["reason"] = skipped
                elif len(fails):
                    first = fails.iloc[0]
                    row["status"], row["reason"] = first.status, f"seed {first.seed}: {first.error}"
                elif (init, act, w) not in means:
                    row["status"], row["reason"] = "not run", "not finished: an incomplete run (--resume runs it)"
                else:
                    row.update(_measured(means[(init, act, w)], act, w))
                rows.append(row)
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


def summarize(tables: dict) -> dict:
    """Every derived table: each kind's own, then stability and recommendations."""
    out: dict = {}
    for kind in KINDS:
        out.update(kind.summarize({**tables, **out}))
    out["ratio_means"] = seed_means(tables["variance"])  # a dict, not a table: never written
    out["stability"] = stability({**tables, **out})
    out["recommendations"] = recommendations({**tables, **out})
    return out
