"""The answer for every activation: the best initializer by one criterion, how far it carries, and what theory says.

**The criterion** (:data:`CRITERION`): at the narrowest width of the grid, the largest usable depth
(:mod:`~winit_bench.study.ratios`); among equally deep ones the best trainability verdict (trains,
unclear, not trained, fails), then the higher low end of its interval, the higher mean accuracy, the
smaller worst ``|log2|`` ratio and the grid's order. Candidates are the combinations measured there,
never a symmetric initializer (zeros, ones, constant: width-1 capacity, docs/theory.md). An
activation with no candidate still gets its row, saying why.

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

CRITERION = ("the largest usable depth at width {width}; among equally deep ones, the best trainability verdict (trains, then "
             "unclear, then not trained, then fails), then the higher low end of its interval, then the higher mean accuracy, then "
             "the smaller worst |log2| ratio, then the grid's order. Symmetric initializers (zeros, ones, constant: width-1 "
             "capacity) are never chosen")
COLUMNS = ["activation", "best", "width", "usable_depth", "max_depth", "wide_width", "usable_depth_wide", "forward_bits_per_layer",
           "backward_bits_per_layer", "sigma_w2", "sigma_b2", "chi1", "xi_q", "xi_c", "xi_grad", "test_accuracy", "ci_low", "ci_high",
           "trainability", "also", "note"]
#: the order of the trainability verdicts in the criterion ("not run": not trained)
VERDICT_RANK = {"trains": 0, "unclear": 1, "not run": 2, "fails": 3, "failed": 3}


def pick(stab: pd.DataFrame, train: pd.DataFrame, act: str, width: int, order) -> tuple[dict | None, list[str], str]:
    """``(row of the best, others as deep, note)`` for ``act`` by :data:`CRITERION` from ``stability`` rows
    and ``trainability`` rows (one depth); ``order`` is the grid's initializer order."""
    s = stab[(stab.activation == act) & (stab.width == width) & (stab.status == "ok")]
    s = s[[not is_symmetric(i) for i in s.initializer]]
    if not len(s):
        return None, [], f"no initializer was measured for {act} at width {width}: see the failed configurations"
    t = train[train.activation == act].drop_duplicates("initializer").set_index("initializer") if len(train) else pd.DataFrame()
    get = lambda col, i, default=math.nan: t.at[i, col] if len(t) and i in t.index else default  # noqa: E731
    cand = s.assign(verdict=[get("verdict", i, "not run") for i in s.initializer], ci_low=[get("ci_low", i) for i in s.initializer],
                    ci_high=[get("ci_high", i) for i in s.initializer], accuracy=[get("test_accuracy", i) for i in s.initializer],
                    worst=np.maximum(s.max_abs_log2_forward, s.max_abs_log2_backward), position=[list(order).index(i) for i in s.initializer])
    key = pd.DataFrame({"d": -cand.usable_depth, "v": cand.verdict.map(VERDICT_RANK).fillna(2), "lo": -cand.ci_low.fillna(-np.inf),
                        "acc": -cand.accuracy.fillna(-np.inf), "w": cand.worst, "r": cand.position})
    cand = cand.loc[key.sort_values(["d", "v", "lo", "acc", "w", "r"], kind="stable").index]
    best = cand.iloc[0]
    also = [i for i, d in zip(cand.initializer[1:], cand.usable_depth[1:]) if d == best.usable_depth]
    note = ""
    if best.verdict in ("fails", "failed"):
        trained = cand[cand.verdict != "not run"]
        note = f"{best.initializer} {'fails' if best.verdict == 'fails' else 'raised in'} the trainability check"
        if (trained.verdict.isin(("fails", "failed"))).all():
            note += f", as does every trained initializer (the best mean accuracy: {trained.accuracy.max():.2f})"
    return best.to_dict(), also, note


def mean_field(init: str, act: str, width: int, var: pd.DataFrame) -> dict:
    """``sigma_w2, sigma_b2, chi1, xi_q, xi_c, xi_grad`` of ``init`` for ``act`` and a ``note`` when theory has none."""
    from .. import theory
    from ..initializers import bias_variance, get_scheme

    nan = dict(sigma_w2=math.nan, sigma_b2=math.nan, chi1=math.nan, xi_q=math.nan, xi_c=math.nan, xi_grad=math.nan)
    if init in DATA_DEPENDENT:
        g = var[(var.initializer == init) & (var.activation == act) & (var.width == width)] if len(var) else var
        hidden = g[(g.layer > 1) & (g.layer < g.layer.max())] if len(g) else g
        if not len(hidden):
            return {**nan, "note": f"{init} was not measured: no realised scales"}
        sw2, sb2 = float(hidden.sigma_w2.mean()), float(hidden.sigma_b2.mean())
    else:
        hidden = {"layer": 1} if "layer" in (get_scheme(init).__kwdefaults__ or {}) else {}  # a hidden layer's, not the first's
        try:
            sw2, sb2 = theory.initializer_sigma_w2(init, width, width, act, **hidden), bias_variance(init, act)
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
            if act not in spec.train_activations:
                notes.append(f"not trained: this run trains {', '.join(spec.train_activations) or 'no activation'} (the profile's "
                             "train activations among --activations); chosen by usable depth alone")
            row.update(best=init, usable_depth=best["usable_depth"], usable_depth_wide=w.usable_depth.iloc[0] if len(w) and wide != width else math.nan,
                       forward_bits_per_layer=best["forward_bits_per_layer"], backward_bits_per_layer=best["backward_bits_per_layer"],
                       test_accuracy=best["accuracy"], ci_low=best["ci_low"], ci_high=best["ci_high"], trainability=best["verdict"], **theory_cols)
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["COLUMNS", "CRITERION", "VERDICT_RANK", "mean_field", "pick", "recommendations"]
