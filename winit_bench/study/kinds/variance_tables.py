"""The variance kind's derived table: per configuration and depth, the forward and backward log2 ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..spec import Spec


def predicted_column(df, base: str) -> str | None:
    """The column of the theory's prediction for ``base`` (``q_z`` or ``q_delta``), if any."""
    for c in (f"{base}_theory", f"{base}_pred", f"{base}_predicted", f"predicted_{base}", f"theory_{base}", f"pred_{base}"):
        if c in df.columns:
            return c
    for c in df.columns:
        lc = c.lower()
        if base in lc and ("pred" in lc or "theory" in lc) and "log2" not in lc and "ratio" not in lc:
            return c
    return None


def _depth_rows(g, depths, qd_pred, qz_pred) -> list[dict]:
    """Per depth d: forward log2 q_z[d]/q_z[1]; backward log2 q_delta[L+1-d]/q_delta[L] (d layers back from the output)."""
    g = g.sort_values("layer")
    L = int(g["layer"].max())
    f64 = np.float64
    qz = {l: f64(v) for l, v in zip(g["layer"], g["q_z"])}
    qd = {l: f64(v) for l, v in zip(g["layer"], g["q_delta"])}
    tz = {l: f64(v) for l, v in zip(g["layer"], g[qz_pred])} if qz_pred else {}
    td = {l: f64(v) for l, v in zip(g["layer"], g[qd_pred])} if qd_pred else {}
    out = []
    with np.errstate(all="ignore"):
        lz = {l: np.log2(qz[l] / qz[1]) for l in qz}
        ld = {l: np.log2(qd[l] / qd[L]) for l in qd}
        for d in depths:
            if d > L:
                continue
            fwd = [lz[l] for l in range(1, d + 1)]
            bwd = [ld[l] for l in range(L + 1 - d, L + 1)]
            row = dict(depth=d, log2_qz_ratio=float(lz[d]), log2_qdelta_ratio=float(ld[L + 1 - d]),
                       max_abs_log2_qz=float(np.max(np.abs(fwd))), max_abs_log2_qdelta=float(np.max(np.abs(bwd))))
            if tz:
                row["theory_log2_qz_ratio"] = float(np.log2(tz[d] / tz[1]))
            if td:
                row["theory_log2_qdelta_ratio"] = float(np.log2(td[L + 1 - d] / td[L]))
            out.append(row)
    return out


def variance_by_depth(var, spec: Spec):
    """One row per variance configuration and depth of the grid."""
    keys = ["initializer", "activation", "width", "seed"]
    rows = []
    if len(var):
        qz_pred, qd_pred = predicted_column(var, "q_z"), predicted_column(var, "q_delta")
        for k, g in var.groupby(keys, sort=False):
            rows += [{**dict(zip(keys, k)), **r} for r in _depth_rows(g, spec.depths, qd_pred, qz_pred)]
    return pd.DataFrame(rows)
