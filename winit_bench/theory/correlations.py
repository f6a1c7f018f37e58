"""The correlation map of two inputs, its stable fixed point ``c*`` and slope ``chi_c``, the edge of chaos and the depth scales.

Schoenholz et al. 2017, "Deep Information Propagation". Conventions in :mod:`winit_bench.theory`.
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import Activation
from ..gaussian import gauss_expect2, quiet
from ._checks import correlation, get_act, is_homogeneous, nonneg
from ._roots import bracketed_root
from .q_map import _TOL, _mean_df2, _mean_f2, _resolve_q, chi1, chi_q, fixed_point

_Q_SMALL = 1e-30  # the limit q -> 0+ of the correlation map


def _corr_setup(act: Activation, sigma_w2, sigma_b2, q) -> tuple[float, float, float]:
    """``(sigma_w2, q, sigma_b2)`` at which to evaluate the correlation map, limits resolved.

    ``q = 0`` (reached only with ``sigma_b2 = 0``, ``f(0) = 0``) is the limit ``q -> 0+``; ``q = inf``
    is allowed for positively homogeneous activations, whose map then is the bias-free one at any q.
    """
    sw, sb = nonneg("sigma_w2", sigma_w2), nonneg("sigma_b2", sigma_b2)
    q = _resolve_q(act, sw, sb, q)
    if math.isinf(q):
        if not is_homogeneous(act):
            raise ValueError(
                f"q* is infinite for {act} at sigma_w2={sw:g}, sigma_b2={sb:g}: the correlation map has no "
                "finite operating point; pass a finite q="
            )
        return sw, 1.0, 0.0
    return sw, max(q, _Q_SMALL), sb


def _next_cov(act: Activation, sw: float, sb: float, q: float, c: float) -> tuple[float, float]:
    """``(sigma_w2 E[f(u1) f(u2)] + sigma_b2, sigma_w2 E[f(u1)^2] + sigma_b2)``."""
    cov = sw * gauss_expect2(act, act, q, c, act.kinks) + sb
    var = sw * gauss_expect2(act, act, q, 1.0, act.kinks) + sb  # the same rule as cov: cmap(1) is exactly 1
    if var <= 0:
        raise ValueError(f"the next layer's pre-activations are identically 0 for {act} at sigma_w2={sw:g}, sigma_b2={sb:g}")
    return cov, var


def cmap(activation: str | Activation, sigma_w2: float, sigma_b2: float, c: float, q: float | None = None) -> float:
    """The correlation map ``c -> c'`` at ``q*`` (or ``q``).

    ``c' = (sigma_w2 E[f(u1) f(u2)] + sigma_b2) / q'`` with ``u1 = sqrt(q) z1``,
    ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` and ``q' = sigma_w2 E[f(u1)^2] + sigma_b2``
    (``= q*`` at the fixed point), so ``cmap(1) = 1`` for every ``q``.
    """
    act = get_act(activation)
    sw, q, sb = _corr_setup(act, sigma_w2, sigma_b2, q)
    cov, var = _next_cov(act, sw, sb, q, correlation(c))
    return min(1.0, max(-1.0, cov / var))


def chi_c(
    activation: str | Activation, sigma_w2: float, sigma_b2: float, c: float | None = None, q: float | None = None
) -> float:
    """Slope of the correlation map at ``c`` (default ``c*``): ``sigma_w2 q E[f'(u1) f'(u2)] / q'``.

    At the fixed point ``q' = q = q*`` this is Schoenholz et al.'s ``sigma_w2 E[f'(u1) f'(u2)]``;
    at ``c = 1`` it equals ``chi1`` whenever ``0 < q* < inf``.
    """
    act = get_act(activation)
    sw, qe, sb = _corr_setup(act, sigma_w2, sigma_b2, q)
    c = c_star(act, sigma_w2, sigma_b2, q=q) if c is None else correlation(c)
    d = act.derivative
    var = sw * _mean_f2(act, qe) + sb
    return sw * qe * gauss_expect2(d, d, qe, c, act.kinks) / var


def c_star(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """The stable fixed point of the correlation map on ``[-1, 1]``.

    ``1.0`` when ``c = 1`` is stable (ordered phase and its boundary: slope at 1 ``<= 1``);
    otherwise (chaotic phase) the fixed point below 1 where the map crosses the diagonal from above.
    """
    act = get_act(activation)
    sw, qe, sb = _corr_setup(act, sigma_w2, sigma_b2, q)
    if chi_c(act, sigma_w2, sigma_b2, c=1.0, q=q) <= 1 + _TOL:
        return 1.0

    def g(c: float) -> float:
        cov, var = _next_cov(act, sw, sb, qe, c)
        return cov / var - c

    g_lo = max(g(-1.0), 1e-300)  # >= 0 since |c'| <= 1; counts as the upper side even when -1 is fixed
    for k in range(1, 53):
        hi = 1.0 - 2.0**-k
        g_hi = g(hi)
        if g_hi < 0:
            return bracketed_root(g, -1.0, hi, g_lo, g_hi, 1e-15)
    return 1.0


def critical_sigma_w2(activation: str | Activation, sigma_b2: float = 0.0) -> float:
    """The edge of chaos: the ``sigma_w2`` at which ``chi1 = 1`` at the fixed point, for this ``sigma_b2``.

    ReLU: 2 for every ``sigma_b2``; leaky ReLU ``2/(1 + a^2)``; linear and tanh (at ``sigma_b2 = 0``,
    where ``q* = 0``): 1. Raises ``ValueError`` if ``chi1`` does not cross 1, or jumps over 1 where
    the stable fixed point disappears (GELU and SiLU at small ``sigma_b2``: ``q`` explodes before
    ``chi1`` reaches 1; the message gives the ``sigma_w2`` of the jump). Softplus gives 2, which it
    approaches only as ``q* -> inf`` (it is ReLU-like at large ``q``).
    """
    act = get_act(activation)
    sb = nonneg("sigma_b2", sigma_b2)

    def g(log_s: float) -> float:
        return chi1(act, math.exp(log_s), sb) - 1.0

    f0 = float(quiet(act, np.array(0.0)))
    guess = 1.0 / _mean_df2(act, 0.0 if (sb == 0 and f0 == 0) else 1.0)  # exact when q* = 0 or f is homogeneous
    t, gt = math.log(guess), g(math.log(guess))
    if abs(gt) <= 1e-14:
        return guess
    step = math.log(2.0) if gt < 0 else -math.log(2.0)
    for _ in range(90):
        t2 = t + step
        g2 = g(t2)
        if (g2 >= 0) != (gt >= 0):
            lo, hi, g_lo, g_hi = (t, t2, gt, g2) if step > 0 else (t2, t, g2, gt)
            return _checked_crossing(act, sb, math.exp(bracketed_root(g, lo, hi, g_lo, g_hi, 1e-14)))
        t, gt = t2, g2
    raise ValueError(f"chi1 of {act} does not reach 1 at sigma_b2={sb:g} for sigma_w2 within 2^±90 of {guess:g}")


def _checked_crossing(act: Activation, sb: float, s: float) -> float:
    """``s`` if ``chi1`` crosses 1 continuously there; raises where it jumps over 1 instead."""
    below, above = chi1(act, s * (1 - 1e-9), sb), chi1(act, s * (1 + 1e-9), sb)
    if abs(below - 1) <= 1e-3 and abs(above - 1) <= 1e-3:  # softplus reaches 1 only as q* -> inf: slowly
        return s
    q_below, q_above = fixed_point(act, s * (1 - 1e-9), sb), fixed_point(act, s * (1 + 1e-9), sb)
    raise ValueError(
        f"{act} has no edge of chaos at sigma_b2={sb:g}: chi1 jumps from {below:.4g} to {above:.4g} at "
        f"sigma_w2={s:.10g}, where the fixed point q* jumps from {q_below:.4g} to {q_above:.4g} (the q-map "
        "loses its stable fixed point: q explodes beyond, before the gradients turn chaotic)"
    )


def _depth_scale(chi: float) -> float:
    if chi >= 1 - _TOL:
        return math.inf
    return 0.0 if chi <= 0 else -1.0 / math.log(chi)


def xi_q(activation: str | Activation, sigma_w2: float, sigma_b2: float) -> float:
    """Depth scale of the approach of ``q`` to ``q*``: ``xi_q = -1/ln(chi_q)`` (Schoenholz et al. 2017).

    ``|q[l] - q*| ~ exp(-l / xi_q)``. ``inf`` at ``chi_q = 1`` (neutral or power-law approach, e.g.
    tanh at ``sigma_w2 = 1, sigma_b2 = 0``, ReLU at 2) and when ``q`` never settles (``q* = inf``).
    """
    return _depth_scale(chi_q(activation, sigma_w2, sigma_b2))


def xi_c(activation: str | Activation, sigma_w2: float, sigma_b2: float) -> float:
    """Depth scale of the correlation between two inputs: ``xi_c = -1/ln(chi_c(c*))`` (Schoenholz et al. 2017).

    ``|c[l] - c*| ~ exp(-l / xi_c)``; ``inf`` at the edge of chaos, and wherever the correlation map
    has slope 1 at ``c* = 1`` (ReLU without bias, for every ``sigma_w2``: its correlations approach 1
    as a power law).
    Networks train when their depth is a small multiple of ``xi_c``.
    """
    return _depth_scale(chi_c(activation, sigma_w2, sigma_b2))


