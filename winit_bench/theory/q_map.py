"""The q-map of the second moment of the pre-activations, its stable fixed point ``q*``, and the slopes ``chi1``, ``chi_q``.

Poole et al. 2016; Schoenholz et al. 2017, "Deep Information Propagation". Conventions in
:mod:`winit_bench.theory`.
"""

from __future__ import annotations

import math

import numpy as np

from numpy.typing import ArrayLike

from ..activations import Activation
from ..gaussian import gauss_expect, quiet
from ._checks import get_act, is_homogeneous, nonneg, per_layer
from ._roots import log_root

_BIG_F = 1e300  # f(+-inf) for the limit q -> inf of E[f^2]
_BIG_DF = 1e8  # f'(+-inf); f' of every activation has settled long before
_Q_SLOPE = 1e-16  # below this the q-map slope is taken at this q (error O(q))
_TOL = 1e-10  # |chi - 1| below this counts as critical
_NOISE = 1e-12  # |q' - q| / q below this is rounding, not a direction
_Q_RANGE = 1e150  # fixed points beyond [1/_Q_RANGE, _Q_RANGE] count as 0 or infinity


def _mean_f2(act: Activation, q: float) -> float:
    """``E[f(sqrt(q) z)^2]``; ``q = inf`` gives the limit (infinite for unbounded ``f``)."""
    if math.isinf(q):
        return float(np.mean(quiet(lambda u: act(u) ** 2, np.array([_BIG_F, -_BIG_F]))))
    return gauss_expect(lambda u: act(u) ** 2, q, act.kinks)


def _mean_df2(act: Activation, q: float) -> float:
    """``E[f'(sqrt(q) z)^2]``, with the one-sided limits at ``q = 0`` and ``q = inf``."""
    if math.isinf(q):
        return float(np.mean(quiet(act.derivative, np.array([_BIG_DF, -_BIG_DF])) ** 2))
    return gauss_expect(lambda u: act.derivative(u) ** 2, q, act.kinks)


def _slope_f2(act: Activation, q: float) -> float:
    """``d/dq E[f(sqrt(q) z)^2] = E[u f(u) f'(u)] / q``, ``u = sqrt(q) z`` (= ``E[f'^2 + f f'']``)."""
    if math.isinf(q):
        return _mean_df2(act, q)
    q = max(q, _Q_SLOPE)
    return gauss_expect(lambda u: u * act(u) * act.derivative(u), q, act.kinks) / q


# --------------------------------------------------------------------------- the q-map


def next_q(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """One hidden layer of the q-map: ``sigma_w2 * E[f(sqrt(q) z)^2] + sigma_b2``."""
    act = get_act(activation)
    sw, sb, q = nonneg("sigma_w2", sigma_w2), nonneg("sigma_b2", sigma_b2), nonneg("q", q, allow_inf=True)
    return sb if sw == 0 else sw * _mean_f2(act, q) + sb


def qmap(activation: str | Activation, sigma_w2: ArrayLike, sigma_b2: ArrayLike, q0: float, depth: int) -> np.ndarray:
    """Predicted ``q[l] = E[z[l]^2]`` for layers ``l = 1..depth`` (returned as ``out[l - 1]``).

    ``q0`` is the second moment per coordinate of the input, ``mean_j x_j^2``. The first layer sees
    the raw input: ``q[1] = sigma_w2[0] * q0 + sigma_b2[0]``; every later layer sees ``f`` of the
    previous pre-activation: ``q[l] = sigma_w2[l-1] * E[f(sqrt(q[l-1]) z)^2] + sigma_b2[l-1]``.
    ``sigma_w2`` and ``sigma_b2`` are numbers or per-layer sequences of length ``depth``
    (``sigma_w2[l-1] = n_{l-1} Var(W[l])``, e.g. from :func:`network_sigma_w2`). An exploding
    ``q`` may overflow to ``inf``.
    """
    act = get_act(activation)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
    sw, sb = per_layer("sigma_w2", sigma_w2, depth), per_layer("sigma_b2", sigma_b2, depth)
    out = np.empty(depth)
    q = nonneg("q0", q0)
    for l in range(depth):
        second = q if l == 0 else _mean_f2(act, q)
        with np.errstate(over="ignore"):
            q = float(sb[l] if sw[l] == 0 else sw[l] * second + sb[l])
        out[l] = q
    return out


def _attractor(h, q0: float) -> float:
    """Where the iteration ``q -> q + h(q)`` started at ``q0 > 0`` ends, for an increasing map.

    Scans by factors of 10 toward the first sign change of ``h`` (a downward crossing, hence stable),
    then solves there; no crossing within ``[1e-150, 1e150]`` means the iteration ends at 0 or inf.
    Going down, ``|h(q)| <= 1e-12 q`` (the map is the identity within rounding, so a fixed point
    cannot be resolved) counts as the slow, power-law approach to 0 of a critical map.
    """
    h0 = h(q0)
    if h0 == 0:
        return q0
    if h0 > 0:
        lo, h_lo = q0, h0
        while lo < _Q_RANGE:
            hi, h_hi = lo * 10, h(lo * 10)
            if h_hi == 0:
                return hi
            if not h_hi > 0:
                return log_root(h, lo, hi, h_lo, h_hi) if math.isfinite(h_hi) else math.inf
            lo, h_lo = hi, h_hi
        return math.inf
    hi, h_hi = q0, h0
    while hi > 1 / _Q_RANGE:
        lo, h_lo = hi / 10, h(hi / 10)
        if h_lo > _NOISE * lo:
            return log_root(h, lo, hi, h_lo, h_hi)
        if h_lo >= -_NOISE * lo:  # q' = q within rounding: a power-law decay to 0 (e.g. tanh at sigma_w2 = 1)
            return 0.0
        hi, h_hi = lo, h_lo
    return 0.0


def fixed_point(activation: str | Activation, sigma_w2: float, sigma_b2: float, *, q0: float = 1.0) -> float:
    """The stable fixed point ``q*`` of the q-map: where ``q[l]`` ends when iterated from ``q0``.

    * ``0.0`` when the map contracts to 0 (only possible with ``sigma_b2 = 0`` and ``f(0) = 0``:
      tanh with ``sigma_w2 <= 1``, ReLU with ``sigma_w2 < 2``);
    * ``math.inf`` when ``q`` grows without bound (ReLU with ``sigma_w2 > 2``, or ``= 2`` with
      ``sigma_b2 > 0``; any unbounded activation with a large enough ``sigma_w2``);
    * **neutral maps**: a positively homogeneous activation (linear, ReLU, leaky ReLU) with
      ``sigma_b2 = 0`` maps ``q -> k q`` with ``k = sigma_w2 E[f(z)^2]``. At ``k = 1`` (ReLU at
      ``sigma_w2 = 2``, linear at 1, leaky ReLU at ``2/(1 + a^2)``; within 1e-10) every ``q`` is a
      fixed point, marginally stable; the iteration stays where it starts, so the function returns
      ``q0``, the same answer as everywhere else ("where the iteration from q0 ends"). Quantities
      that need ``q*`` (``chi1``, the correlation map) do not depend on it in that case.

    For every other case the answer does not depend on ``q0 > 0`` (one attracting fixed point).
    """
    act = get_act(activation)
    sw, sb, q0 = nonneg("sigma_w2", sigma_w2), nonneg("sigma_b2", sigma_b2), nonneg("q0", q0)
    if sw == 0:
        return sb
    if is_homogeneous(act):
        k = sw * _mean_f2(act, 1.0)
        if sb == 0 and abs(k - 1) <= _TOL:
            return q0
        if sb == 0:
            return 0.0 if k < 1 else math.inf
        return sb / (1 - k) if k < 1 - _TOL else math.inf

    def h(q: float) -> float:
        return sw * _mean_f2(act, q) + sb - q

    if q0 == 0:
        if h(0.0) <= 0:
            return 0.0
        q0 = h(0.0)  # one step of the iteration
    return _attractor(h, q0)


def _resolve_q(act: Activation, sw: float, sb: float, q) -> float:
    return fixed_point(act, sw, sb) if q is None else nonneg("q", q, allow_inf=True)


def chi1(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """``chi1 = sigma_w2 * E[f'(sqrt(q) z)^2]`` at ``q = q*`` (or the ``q`` given).

    The factor by which the second moment of the back-propagated errors grows per (square) layer;
    ``chi1 = 1`` is the edge of chaos. At ``q* = 0`` and ``q* = inf`` the limits are used
    (``f'`` averaged over both sides of 0, or over ``+-inf``).
    """
    act = get_act(activation)
    sw, sb = nonneg("sigma_w2", sigma_w2), nonneg("sigma_b2", sigma_b2)
    return sw * _mean_df2(act, _resolve_q(act, sw, sb, q))


def chi_q(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """Slope of the q-map at ``q*`` (or ``q``): ``sigma_w2 * d/dq E[f(sqrt(q) z)^2]``.

    ``= chi1 + sigma_w2 E[f f''](sqrt(q*) z)`` (Schoenholz et al. 2017), computed without ``f''``
    as ``sigma_w2 E[u f(u) f'(u)]/q``. ``q`` approaches ``q*`` like ``chi_q^l``.
    """
    act = get_act(activation)
    sw, sb = nonneg("sigma_w2", sigma_w2), nonneg("sigma_b2", sigma_b2)
    return sw * _slope_f2(act, _resolve_q(act, sw, sb, q))


