"""Derived tables: ``variance_by_depth``, ``stability`` (variance and training together) and ``recommendations``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .kinds import KINDS
from .spec import Spec


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
    out: dict = {}
    for kind in KINDS:
        out.update(kind.summarize({**tables, **out}))
    out["stability"] = stability({**tables, **out})
    out["recommendations"] = recommendations(out["stability"], tables["spec"])
    return out
