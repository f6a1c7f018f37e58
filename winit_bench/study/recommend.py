"""The answer for every activation: the best initializer by one criterion, how far it carries, and what theory says.

**The criterion** (:data:`CRITERION`): at the narrowest width of the grid, the largest usable depth
(:mod:`~winit_bench.study.ratios`); ties go to the higher low end of the trainability interval,
then the higher mean accuracy, then the smaller worst ``|log2|`` ratio, then the grid's order.
Candidates are the combinations measured there, never a symmetric initializer (zeros, ones,
constant: width-1 capacity, docs/theory.md) and, unless that leaves none, none whose training
``fails`` or ``failed``. An activation with no candidate still gets its row, saying why.

Beside the measurement, mean-field theory at the initializer's own ``sigma_w2``, ``sigma_b2`` for
square layers: ``chi1``, ``xi_q``, ``xi_c`` and the gradient depth scale ``xi_grad = -1/ln chi1``
(infinite at ``chi1 = 1``; negative when gradients grow, by e every ``|xi_grad|`` layers). LSUV's
scales are the realised ones (hidden layers, mean over seeds); schemes whose weights break the
theory's assumptions (i.i.d., zero mean) get none.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .inits import DATA_DEPENDENT, is_symmetric

CRITERION = ("the largest usable depth at width {width}; ties go to the higher low end of the trainability interval, then the "
             "higher mean accuracy, then the smaller worst |log2| ratio, then the grid's order. Never a symmetric initializer "
             "(zeros, ones, constant: width-1 capacity) and, unless no other is left, never one whose training fails")
COLUMNS = ["activation", "best", "width", "usable_depth", "max_depth", "wide_width", "usable_depth_wide", "forward_bits_per_layer",
           "backward_bits_per_layer", "sigma_w2", "sigma_b2", "chi1", "xi_q", "xi_c", "xi_grad", "test_accuracy", "ci_low", "ci_high",
           "trainability", "also", "note"]
_FAILS = ("fails", "failed")


def pick(stab: pd.DataFrame, train: pd.DataFrame, act: str, width: int, order) -> tuple[dict | None, list[str], str]:
    """``(row of the best, others as deep, note)`` for ``act`` by :data:`CRITERION` from ``stability`` rows
    and ``trainability`` rows (one depth); ``order`` is the grid's initializer order."""
    s = stab[(stab.activation == act) & (stab.width == width) & (stab.status == "ok")]
    s = s[[not is_symmetric(i) for i in s.initializer]]
    if not len(s):
        return None, [], f"no initializer was measured for {act} at width {width}: see the failed configurations"
    t = train[train.activation == act].set_index("initializer") if len(train) else pd.DataFrame()
    get = lambda col, i: t.at[i, col] if len(t) and i in t.index else math.nan  # noqa: E731
    cand = s.assign(verdict=[get("verdict", i) if len(t) and i in t.index else "not run" for i in s.initializer],
                    ci_low=[get("ci_low", i) for i in s.initializer], accuracy=[get("test_accuracy", i) for i in s.initializer],
                    worst=np.maximum(s.max_abs_log2_forward, s.max_abs_log2_backward), rank=[list(order).index(i) for i in s.initializer])
    note = ""
    if (~cand.verdict.isin(_FAILS)).any():
        cand = cand[~cand.verdict.isin(_FAILS)]
    else:
        note = "nothing measured here trains (every verdict fails): ranked on depth alone"
    key = pd.DataFrame({"d": -cand.usable_depth, "lo": -cand.ci_low.fillna(-np.inf), "acc": -cand.accuracy.fillna(-np.inf),
                        "w": cand.worst, "r": cand.rank})
    cand = cand.loc[key.sort_values(["d", "lo", "acc", "w", "r"], kind="stable").index]
    best = cand.iloc[0]
    also = [i for i, d in zip(cand.initializer[1:], cand.usable_depth[1:]) if d == best.usable_depth]
    return best.to_dict(), also, note


def mean_field(init: str, act: str, width: int, var: pd.DataFrame) -> dict:
    """``sigma_w2, sigma_b2, chi1, xi_q, xi_c, xi_grad`` of ``init`` for ``act`` and a ``note`` when theory has none."""
    from .. import theory
    from ..critical import NAMES, critical_point
    from ..initializers import bias_variance

    nan = dict(sigma_w2=math.nan, sigma_b2=math.nan, chi1=math.nan, xi_q=math.nan, xi_c=math.nan, xi_grad=math.nan)
    if init in NAMES:
        p = critical_point(act)
        sw2, sb2 = p.sigma_w2, p.sigma_b2
    elif init in DATA_DEPENDENT:
        g = var[(var.initializer == init) & (var.activation == act) & (var.width == width)] if len(var) else var
        hidden = g[(g.layer > 1) & (g.layer < g.layer.max())] if len(g) else g
        if not len(hidden):
            return {**nan, "note": f"{init} was not measured: no realised scales"}
        sw2, sb2 = float(hidden.sigma_w2.mean()), float(hidden.sigma_b2.mean())
    else:
        try:
            sw2, sb2 = theory.initializer_sigma_w2(init, width, width, act), bias_variance(init, act)
        except ValueError as exc:
            return {**nan, "note": f"mean-field theory does not describe {init}: {str(exc).split(';')[0]}"}
    out = dict(sigma_w2=sw2, sigma_b2=sb2, chi1=theory.chi1(act, sw2, sb2), xi_q=math.nan, xi_c=math.nan, note="")
    chi = out["chi1"]
    out["xi_grad"] = math.inf if abs(chi - 1) <= 1e-10 else (-1 / math.log(chi) if chi > 0 else 0.0)
    for name in ("xi_q", "xi_c"):
        try:
            out[name] = getattr(theory, name)(act, sw2, sb2)
        except ValueError:  # no finite operating point (q* infinite)
            pass
    return out


def recommendations(tables: dict) -> pd.DataFrame:
    """One row per activation of the grid, never empty: the best initializer, how far it carries, theory beside it."""
    spec, stab, var = tables["spec"], tables["stability"], tables["variance"]
    trained = tables.get("trainability", pd.DataFrame())
    depth = max(spec.train_depths) if spec.train_depths else None
    train = trained[trained.depth == depth] if len(trained) else trained
    width, wide, L = min(spec.widths), max(spec.widths), spec.max_depth
    rows = []
    for act in spec.activations:
        best, also, note = pick(stab, train, act, width, spec.initializers)
        row = dict(activation=act, best="(none)", width=width, max_depth=L, wide_width=wide if wide != width else math.nan, also=", ".join(also[:4]))
        notes = [note] if note else []
        if best is not None:
            init = best["initializer"]
            w = stab[(stab.activation == act) & (stab.initializer == init) & (stab.width == wide) & (stab.status == "ok")]
            theory_cols = mean_field(init, act, width, var)
            notes += [n for n in (theory_cols.pop("note"),) if n]
            if best["usable_depth"] < L:
                notes.insert(0, f"nothing in the grid holds to depth {L}: the best carries {best['usable_depth']} layers")
            row.update(best=init, usable_depth=best["usable_depth"], usable_depth_wide=w.usable_depth.iloc[0] if len(w) and wide != width else math.nan,
                       forward_bits_per_layer=best["forward_bits_per_layer"], backward_bits_per_layer=best["backward_bits_per_layer"],
                       test_accuracy=best["accuracy"], ci_low=best["ci_low"], ci_high=train.set_index(["activation", "initializer"]).ci_high.get((act, init), math.nan) if len(train) else math.nan,
                       trainability=best["verdict"], **theory_cols)
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["COLUMNS", "CRITERION", "mean_field", "pick", "recommendations"]
