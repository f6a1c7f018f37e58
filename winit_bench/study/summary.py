"""Derived tables: ``variance_by_depth``, ``stability`` (variance and training together) and ``recommendations``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .spec import Spec


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


def finite_width_sd_log2(activation: str, depth: int, width: int, n_seeds: int) -> float:
    """Standard deviation of the seed mean of ``log2 q[L]/q[1]`` at finite width, to first order.

    Each layer multiplies the second moment by a factor of variance ``κ/n``, ``κ = E[f^4]/E[f^2]^2 - 1``
    (5 for ReLU: Hanin & Rolnick 2018; 2 for linear), so ``Var ln(q[L]/q[1]) ≈ κ (L - 1)/n``.
    """
    from ..activations import get_activation
    from ..gaussian import expect

    f = get_activation(activation)
    kappa = expect(lambda z: f(z) ** 4) / expect(lambda z: f(z) ** 2) ** 2 - 1
    return math.sqrt(kappa * max(depth - 1, 0) / width / max(n_seeds, 1)) / math.log(2)


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


def _worst_log2(g, act: str, w: int) -> tuple[float, float]:
    """Worst layer |mean over seeds of log2 ratio| forward and backward, less twice the finite-width spread of that mean."""
    L = int(g["layer"].max())
    with np.errstate(all="ignore"):
        f = g.assign(r=np.log2(g["q_z"] / g.groupby("seed")["q_z"].transform(lambda s: s.iloc[0])))
        # backward reference: the last hidden layer's δ (the output's δ is the loss derivative itself)
        gh = g[g["layer"] < L] if L > 1 else g
        last = gh.groupby("seed")["q_delta"].transform(lambda s: s.iloc[-1])
        b = gh.assign(r=np.log2(gh["q_delta"] / last))
    slack = 2 * finite_width_sd_log2(act, L, w, g["seed"].nunique())
    mf = f.groupby("layer")["r"].mean().abs().max() - slack
    mb = b.groupby("layer")["r"].mean().abs().max() - slack
    return (math.inf if not np.isfinite(mf) else max(float(mf), 0.0)), (math.inf if not np.isfinite(mb) else max(float(mb), 0.0))


def stability(tables: dict):
    """Per initializer x activation: worst-layer forward/backward drift over the widths, and digits accuracy."""
    spec: Spec = tables["spec"]
    var, train, failed = tables["variance"], tables["train"], tables["failures"]
    rows = []
    for init in spec.initializers:
        for act in spec.activations:
            ok, worst_f, worst_b, notes = True, 0.0, 0.0, []
            for w in spec.widths:
                fails = failed[(failed.kind == "variance") & (failed.initializer == init) & (failed.activation == act) & (failed.width == w)] if len(failed) else []
                if len(fails):
                    ok, worst_f, worst_b = False, math.inf, math.inf
                    notes.append(f"w={w}: {fails.iloc[0]['status']}")
                    continue
                g = var[(var.initializer == init) & (var.activation == act) & (var.width == w)] if len(var) else var
                if not len(g):
                    notes.append(f"w={w}: not in the grid")
                    continue
                mf, mb = _worst_log2(g, act, w)
                worst_f, worst_b = max(worst_f, mf), max(worst_b, mb)
            trained = math.nan
            if len(train) and spec.train_depths:
                t = train[(train.initializer == init) & (train.activation == act) & (train.depth == max(spec.train_depths))]
                if len(t):
                    trained = float(t["test_accuracy"].fillna(0).mean())
            rows.append(dict(activation=act, initializer=init, max_abs_log2_forward=worst_f, max_abs_log2_backward=worst_b,
                             stable_forward=bool(ok and worst_f <= 1), stable_backward=bool(ok and worst_b <= 1),
                             stable=bool(ok and worst_f <= 1 and worst_b <= 1), test_accuracy=trained,
                             trains=(bool(trained >= spec.train_accuracy) if trained == trained else None), notes="; ".join(notes)))
    return pd.DataFrame(rows)


def recommendations(stab, spec: Spec):
    """Per activation: the stable initializers that train, and the near misses."""
    rows = []
    for act in spec.activations:
        s = stab[stab.activation == act] if len(stab) else stab
        good = s[s.stable & (s.trains == True)]  # noqa: E712
        untested = s[s.stable & s.trains.isna()]
        fwd = s[s.stable_forward & ~s.stable & (s.trains == True)]  # noqa: E712
        rows.append(dict(activation=act, recommended=", ".join(good.initializer), forward_only_and_trains=", ".join(fwd.initializer),
                         stable_untrained=", ".join(untested.initializer),
                         stable_but_not_training=", ".join(s[s.stable & (s.trains == False)].initializer)))  # noqa: E712
    return pd.DataFrame(rows)


def summarize(tables: dict) -> dict:
    """Every derived table: each kind's own, then stability and recommendations."""
    from .kinds import KINDS

    out: dict = {}
    for kind in KINDS:
        out.update(kind.summarize({**tables, **out}))
    out["stability"] = stability({**tables, **out})
    out["recommendations"] = recommendations(out["stability"], tables["spec"])
    return out
