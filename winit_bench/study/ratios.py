"""The log2 ratios behind every derived table and plot of the study, each defined here once.

One variance configuration is one network of depth ``L`` and one seed; a network of depth ``d <= L``
is its first ``d`` layers. At each depth ``d = 1..L``:

* **forward** ``F(d) = log2 q_z[d] / q_z[1]``: how much the signal grew or shrank over ``d`` layers;
* **backward** ``B(d) = log2 q_delta[1] / q_delta[d-1]`` (0 for ``d <= 2``): in a network of depth
  ``d``, the error reaching the first layer relative to the last hidden layer ``d - 1``. The output
  layer's error is the loss derivative, not part of the propagation; the ratio is the product of the
  per-layer factors of layers ``1..d-2``, which the first ``d`` layers of the deep network share
  with a network of depth ``d``;
* the same two ratios of the mean-field predictions ``q_z_pred`` and ``q_delta_pred``.

Over seeds the ratios are averaged (``F̄``, ``B̄``). The **usable depth** is the largest ``d`` with
``|F̄(k)| <= tol_F(k)`` and ``|B̄(k)| <= tol_B(k)`` for every ``k <= d`` (a ratio that is not finite
breaks it): the first depth at which either ratio leaves its tolerance is one more. The tolerance
(:func:`tolerance`) is a factor 2 either way (:data:`TOLERANCE_LOG2`, 1 bit) beyond twice the
spread that finite width alone gives the seed mean at that depth (:func:`finite_width_sd`), so that
the fluctuations of one draw, which no initializer avoids, do not decide; at width 256 and depth 64
a ReLU network's signal wanders by about 1.6 bits from seed to seed. The **drift** is
``F̄(L)/(L - 1)`` and ``B̄(L)/(L - 2)`` bits per layer.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from .. import theory

#: |log2 ratio| allowed: a factor 2 either way
TOLERANCE_LOG2 = 1.0
KEYS = ["initializer", "activation", "width", "seed"]


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


def _series(qz: np.ndarray, qd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(F, B)`` of one configuration from its per-layer ``q_z`` and ``q_delta`` (layers in order)."""
    with np.errstate(all="ignore"):
        b = np.log2(qd[0] / qd[np.maximum(np.arange(len(qd)) - 1, 0)])  # layer d - 1 is 0-based d - 2
        b[:2] = 0.0  # no hidden layer (d = 1), or the first is the last (d = 2): nothing propagates
        return np.log2(qz / qz[0]), b


def configurations(var: pd.DataFrame) -> list[tuple[tuple, dict]]:
    """Per configuration (``KEYS``, in the table's order): its ``forward``, ``backward`` and, where the
    table has the predictions, ``theory_forward``, ``theory_backward`` arrays over depths ``1..L``."""
    if not len(var):
        return []
    pz, pd_ = predicted_column(var, "q_z"), predicted_column(var, "q_delta")
    v = var.reset_index(drop=True)
    order = np.lexsort((v.layer.to_numpy(), v.groupby(KEYS, sort=False).ngroup().to_numpy()))
    v = v.iloc[order]
    ids = v[KEYS].to_numpy(object)
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]).any(axis=1)])
    cols = {c: v[c].to_numpy(np.float64) for c in ("q_z", "q_delta") + ((pz, pd_) if pz and pd_ else ())}
    out = []
    for a, b in zip(starts, np.r_[starts[1:], len(v)]):
        f, bw = _series(cols["q_z"][a:b], cols["q_delta"][a:b])
        r = dict(forward=f, backward=bw)
        if pz and pd_:
            r["theory_forward"], r["theory_backward"] = _series(cols[pz][a:b], cols[pd_][a:b])
        out.append((tuple(ids[a]), r))
    return out


def by_seed(var: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (``KEYS``) and depth: ``forward``, ``backward`` and, where the table has the
    predictions, ``theory_forward``, ``theory_backward``."""
    configs = configurations(var)
    if not configs:
        return pd.DataFrame(columns=KEYS + ["depth", "forward", "backward"])
    n = [len(r["forward"]) for _, r in configs]
    out = {k: np.repeat([key[i] for key, _ in configs], n) for i, k in enumerate(KEYS)}
    out["depth"] = np.concatenate([np.arange(1, m + 1) for m in n])
    out.update({c: np.concatenate([r[c] for _, r in configs]) for c in configs[0][1]})
    return pd.DataFrame(out)


def seed_means(var: pd.DataFrame) -> dict:
    """``{(initializer, activation, width): frame}``: per depth (the index), the seed mean of :func:`by_seed`'s
    columns (NaN where any seed's value is NaN), with ``seeds``, the number of seeds, in the frame's ``attrs``."""
    groups: dict = {}
    for (init, act, width, seed), r in configurations(var):
        groups.setdefault((init, act, width), []).append(r)
    out = {}
    for key, rs in groups.items():
        frame = pd.DataFrame({c: np.mean(np.stack([r[c] for r in rs]), axis=0) for c in rs[0]}, index=np.arange(1, len(rs[0]["forward"]) + 1))
        frame.attrs["seeds"] = len(rs)
        out[key] = frame
    return out


def tolerance(moments: tuple[float, float], width: int, n_seeds: int, spans) -> np.ndarray:
    """:data:`TOLERANCE_LOG2` plus twice :func:`finite_width_sd` of a ratio spanning ``spans`` layers (one per depth):
    the forward ratio at depth ``d`` spans ``d - 1`` layers, the backward ``max(d - 2, 0)``."""
    return TOLERANCE_LOG2 + 2 * np.array([finite_width_sd(moments, int(k), width, n_seeds) for k in spans])


@lru_cache(maxsize=64)
def layer_moments(activation: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Forward and backward ``(κ, μ3)`` of one unit at ``z ~ N(0, 1)`` (:func:`winit_bench.theory.unit_moments`)."""
    return theory.unit_moments(activation)


def tolerances(activation: str, width: int, n_seeds: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The forward and backward tolerance at depths ``1..depth`` (module docstring)."""
    (m_f, m_b), (s_f, s_b) = layer_moments(activation), spans(depth)
    return tolerance(m_f, width, n_seeds, s_f), tolerance(m_b, width, n_seeds, s_b)


def spans(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """How many layers the forward and the backward ratio span at depths ``1..depth``."""
    d = np.arange(1, depth + 1)
    return d - 1, np.maximum(d - 2, 0)


def usable_depth(forward: np.ndarray, backward: np.ndarray, tol_forward, tol_backward) -> int:
    """The largest ``d`` such that both seed-mean ratios stay within their tolerance at every depth up to ``d`` (0: not even 1)."""
    with np.errstate(invalid="ignore"):
        ok = (np.abs(forward) <= tol_forward) & (np.abs(backward) <= tol_backward)
    return int(len(ok) if ok.all() else np.argmin(ok))


def drift(forward: np.ndarray, backward: np.ndarray) -> tuple[float, float]:
    """Bits per layer, forward ``F(L)/(L - 1)`` and backward ``B(L)/(L - 2)`` (NaN where too shallow)."""
    L = len(forward)
    return (float(forward[-1]) / (L - 1) if L > 1 else math.nan), (float(backward[-1]) / (L - 2) if L > 2 else math.nan)


def finite_width_sd(moments: tuple[float, float], layers: int, width: int, n_seeds: int) -> float:
    """Standard deviation of the seed mean of a log2 ratio spanning ``layers`` layers, from finite width alone, to second order in ``1/n``.

    Each layer multiplies the second moment by the mean of ``n`` i.i.d. shares of mean 1, variance
    ``κ`` and third central moment ``μ3`` (:func:`layer_moments`), so ``Var ln`` of one layer's factor
    is ``κ/n + (5κ²/2 - μ3)/n²`` (:func:`winit_bench.theory.log_mean_variance`; the first order is
    Hanin & Rolnick 2018's, ``κ = 5`` for ReLU). Over ``layers`` independent layers the variances add;
    the seed mean divides by the number of seeds. docs/theory.md, "Finite width", has the derivation
    and its measured error.
    """
    per_layer = theory.log_mean_variance(*moments, width)
    return math.sqrt(per_layer * max(layers, 0) / max(n_seeds, 1)) / math.log(2)


__all__ = ["KEYS", "TOLERANCE_LOG2", "by_seed", "drift", "finite_width_sd", "configurations", "predicted_column", "layer_moments", "seed_means", "spans", "tolerance", "tolerances", "usable_depth"]
