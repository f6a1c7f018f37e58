"""Mean-field theory of signal propagation in wide random MLPs, for any activation of the library.

Conventions
-----------
* A layer computes ``z[l] = W[l] a[l-1] + b[l]``, ``a[l] = f(z[l])``, ``a[0] = x`` (the input is
  not passed through ``f``). ``W[l]`` has shape ``(n_out, n_in)`` with zero-mean entries;
  ``sigma_w2 = n_in * Var(W)`` and ``sigma_b2 = Var(b)``.
* ``q`` is the **second moment** ``E[z^2]`` of the pre-activations over the units of a layer (not
  the variance: ReLU and sigmoid outputs have non-zero means, and ``q`` is what propagates).
  ``q0`` is the second moment per coordinate of the network input, ``mean_j x_j^2``.
* The q-map (Poole et al. 2016; Schoenholz et al. 2017, "Deep Information Propagation"):
  ``q[1] = sigma_w2 * q0 + sigma_b2`` and, for ``l >= 2``,
  ``q[l] = sigma_w2 * E[f(sqrt(q[l-1]) z)^2] + sigma_b2`` with ``z ~ N(0, 1)``.
* The correlation ``c`` of the pre-activations of two inputs with equal ``q`` follows
  ``c' = (sigma_w2 E[f(u1) f(u2)] + sigma_b2) / q'`` with ``u1 = sqrt(q) z1``,
  ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` and ``q' = sigma_w2 E[f(u1)^2] + sigma_b2``,
  which is ``q*`` at the fixed point.
* ``chi1 = sigma_w2 E[f'(sqrt(q*) z)^2]`` is the per-layer factor of the back-propagated error
  terms (square layers), ``chi_q`` the slope of the q-map and ``chi_c`` the slope of the
  correlation map at their fixed points; the depth scales are ``xi = -1/ln(chi)``, infinite at
  criticality (``chi = 1``).

Gaussian expectations use composite Gauss-Legendre rules whose pieces break at 0 (the kink of the
ReLU family), at the Gaussian's own scale and at the activation's scale ``|u| ~ 1, 4, 16, ...``,
so they stay at double precision over the range of ``q`` met in practice (checked against adaptive
quadrature from 1e-8 to 1e7, errors below 1e-14 relative). The two-dimensional expectations of
the correlation map are integrated in polar coordinates with the angle split at the kink lines
``u1 = 0`` and ``u2 = 0`` (lines through the origin), where every integrand is smooth.

Limits: ``q = 0`` means the limit ``q -> 0+`` (one-sided averages at a kink), ``q = inf`` the
limit ``q -> inf``. Positively homogeneous activations (linear, ReLU, leaky ReLU) with
``sigma_b2 = 0`` have a q-map ``q' = k q``: see :func:`fixed_point` for the neutral case ``k = 1``.
"""

from __future__ import annotations

import math

import numpy as np

from numpy.typing import ArrayLike

from .activations import Activation, get_activation
from .gaussian import normal_mass, normal_pdf
from .initializers import check_shape, get_scheme, kumar_variance_factor, truncnorm_std

__all__ = [
    "qmap",
    "next_q",
    "fixed_point",
    "chi1",
    "chi_q",
    "cmap",
    "c_star",
    "chi_c",
    "critical_sigma_w2",
    "xi_q",
    "xi_c",
    "gauss_expect",
    "gauss_expect2",
    "initializer_sigma_w2",
    "register_moments",
    "network_sigma_w2",
    "network_qmap",
    "closed_form_variance",
    "log_ratio_moments",
    "finite_width_band",
]

_R = 14.0  # Gaussian / Rayleigh weight below 1e-42 beyond
_GAUSS_BREAKS = (1.0, 2.0, 4.0, 8.0)
_ACT_SCALES = (1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)
_NODES = 32
_TINY = 1e-300  # one-sided limits at 0
_BIG_F = 1e300  # f(+-inf) for the limit q -> inf of E[f^2]
_BIG_DF = 1e8  # f'(+-inf); f' of every activation has settled long before
_Q_SMALL = 1e-30  # the limit q -> 0+ of the correlation map
_Q_SLOPE = 1e-16  # below this the q-map slope is taken at this q (error O(q))
_TOL = 1e-10  # |chi - 1| below this counts as critical
_NOISE = 1e-12  # |q' - q| / q below this is rounding, not a direction
_Q_RANGE = 1e150  # fixed points beyond [1/_Q_RANGE, _Q_RANGE] count as 0 or infinity

# --------------------------------------------------------------------------- quadrature

_LEGENDRE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _LEGENDRE:
        _LEGENDRE[n] = np.polynomial.legendre.leggauss(n)
    return _LEGENDRE[n]


def _composite(points, n: int = _NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on each piece between consecutive sorted ``points``."""
    t, w = _legendre(n)
    p = np.asarray(points, dtype=float)
    a, b = p[:-1, None], p[1:, None]
    return (0.5 * (b - a) * t + 0.5 * (b + a)).ravel(), (0.5 * (b - a) * w).ravel()


def _radial_breaks(s: float) -> list[float]:
    """Break points on ``[0, R]`` at the Gaussian's scale and where ``s * x`` is 1, 4, 16, ..."""
    pts = {0.0, _R, *_GAUSS_BREAKS}
    if s > 0:
        pts.update(t / s for t in _ACT_SCALES if t / s < _R)
    return sorted(pts)


def _half_line(s: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` in ``[0, R]`` and weights for ``∫_0^∞ g(x) φ(x) dx``."""
    x, w = _composite(_radial_breaks(s))
    return x, w * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _radial(s: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``r`` and weights for ``∫_0^∞ g(r) r e^{-r^2/2} dr`` (the radial part of a 2-D Gaussian)."""
    r, w = _composite(_radial_breaks(s))
    return r, w * r * np.exp(-0.5 * r * r)


def _angular(beta: float, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``θ`` in ``[0, 2π)`` and weights ``dθ/2π``, split where ``cos θ = 0`` or ``cos(θ - β) = 0``."""
    two_pi = 2 * math.pi
    kinks = [(k + math.pi / 2) % two_pi for k in (0.0, math.pi, beta, beta + math.pi)]
    pts = set(kinks) | {k * math.pi / 4 for k in range(9)}
    if s > 0:  # resolve f(s r cos θ) near a kink line, where it varies on the angular scale 1/(s r)
        for k in kinks:
            pts.update((k + sign * t / s) % two_pi for t in _ACT_SCALES if t / s < 0.3 for sign in (-1, 1))
    p = np.array(sorted(pts))
    p = p[np.concatenate([[True], np.diff(p) > 1e-13])]
    theta, w = _composite(p)
    return theta, w / two_pi


def _apply(g, x) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(g(x), dtype=float)


def gauss_expect(g, q: float) -> float:
    """``E[g(sqrt(q) z)]``, ``z ~ N(0, 1)``, for ``g`` smooth except at 0; ``q = 0`` is the limit ``q -> 0+``.

    ``g`` maps a float64 array to an array. The limit at ``q = 0`` averages the one-sided values
    ``g(0+)`` and ``g(0-)`` (half the mass lies on each side), which is what a jump (the derivative
    of a ReLU) needs.
    """
    q = float(q)
    if q == 0:
        return float(np.mean(_apply(g, np.array([_TINY, -_TINY]))))
    s = math.sqrt(q)
    x, w = _half_line(s)
    return float(np.dot(w, _apply(g, s * x)) + np.dot(w, _apply(g, -s * x)))


def gauss_expect2(g1, g2, q: float, c: float) -> float:
    """``E[g1(u1) g2(u2)]`` for ``u1 = sqrt(q) z1``, ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)``.

    Polar coordinates ``(z1, z2) = r (cos θ, sin θ)`` make ``u1 = sqrt(q) r cos θ`` and
    ``u2 = sqrt(q) r cos(θ - β)``, ``cos β = c``: the kinks of ``g1`` and ``g2`` at 0 are four
    angles, where the angular rule is split; the radial rule is split like :func:`gauss_expect`'s.
    """
    q, c = float(q), float(c)
    s = math.sqrt(q)
    beta = math.acos(min(1.0, max(-1.0, c)))
    r, wr = _radial(s)
    theta, wt = _angular(beta, s)
    u1 = s * np.outer(np.cos(theta), r)
    u2 = s * np.outer(np.cos(theta - beta), r)
    return float(wt @ (_apply(g1, u1) * _apply(g2, u2)) @ wr)


# --------------------------------------------------------------------------- argument checks


def _act(activation: str | Activation) -> Activation:
    return get_activation(activation)


def _nonneg(name: str, value, *, allow_inf: bool = False) -> float:
    v = float(value)
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        kind = "a number >= 0 (inf allowed)" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return v


def _corr(c) -> float:
    v = float(c)
    if not -1.0 <= v <= 1.0:
        raise ValueError(f"a correlation must lie in [-1, 1], got {c!r}")
    return v


def _is_homogeneous(act: Activation) -> bool:
    """``f(t u) = t f(u)`` for ``t > 0`` (linear, ReLU, leaky ReLU): the q-map is then linear in q."""
    u = np.array([-2.5, -0.7, -0.01, 0.03, 0.9, 3.1])
    fu = _apply(act, u)
    return float(_apply(act, np.array(0.0))) == 0.0 and all(
        np.allclose(_apply(act, t * u), t * fu, rtol=1e-13, atol=0) for t in (0.37, 5.0)
    )


# --------------------------------------------------------------------------- one-dimensional moments


def _mean_f2(act: Activation, q: float) -> float:
    """``E[f(sqrt(q) z)^2]``; ``q = inf`` gives the limit (infinite for unbounded ``f``)."""
    if math.isinf(q):
        return float(np.mean(_apply(lambda u: act(u) ** 2, np.array([_BIG_F, -_BIG_F]))))
    return gauss_expect(lambda u: act(u) ** 2, q)


def _mean_df2(act: Activation, q: float) -> float:
    """``E[f'(sqrt(q) z)^2]``, with the one-sided limits at ``q = 0`` and ``q = inf``."""
    if math.isinf(q):
        return float(np.mean(_apply(act.derivative, np.array([_BIG_DF, -_BIG_DF])) ** 2))
    return gauss_expect(lambda u: act.derivative(u) ** 2, q)


def _slope_f2(act: Activation, q: float) -> float:
    """``d/dq E[f(sqrt(q) z)^2] = E[u f(u) f'(u)] / q``, ``u = sqrt(q) z`` (= ``E[f'^2 + f f'']``)."""
    if math.isinf(q):
        return _mean_df2(act, q)
    q = max(q, _Q_SLOPE)
    return gauss_expect(lambda u: u * act(u) * act.derivative(u), q) / q


# --------------------------------------------------------------------------- the q-map


def next_q(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """One hidden layer of the q-map: ``sigma_w2 * E[f(sqrt(q) z)^2] + sigma_b2``."""
    act = _act(activation)
    sw, sb, q = _nonneg("sigma_w2", sigma_w2), _nonneg("sigma_b2", sigma_b2), _nonneg("q", q, allow_inf=True)
    return sb if sw == 0 else sw * _mean_f2(act, q) + sb


def _per_layer(name: str, value, depth: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(depth, float(arr))
    if arr.shape != (depth,):
        raise ValueError(f"{name} must be a number or a sequence of length depth={depth}, got shape {arr.shape}")
    for v in arr:
        _nonneg(name, v)
    return arr


def qmap(activation: str | Activation, sigma_w2: ArrayLike, sigma_b2: ArrayLike, q0: float, depth: int) -> np.ndarray:
    """Predicted ``q[l] = E[z[l]^2]`` for layers ``l = 1..depth`` (returned as ``out[l - 1]``).

    ``q0`` is the second moment per coordinate of the input, ``mean_j x_j^2``. The first layer sees
    the raw input: ``q[1] = sigma_w2[0] * q0 + sigma_b2[0]``; every later layer sees ``f`` of the
    previous pre-activation: ``q[l] = sigma_w2[l-1] * E[f(sqrt(q[l-1]) z)^2] + sigma_b2[l-1]``.
    ``sigma_w2`` and ``sigma_b2`` are numbers or per-layer sequences of length ``depth``
    (``sigma_w2[l-1] = n_{l-1} Var(W[l])``, e.g. from :func:`network_sigma_w2`). An exploding
    ``q`` may overflow to ``inf``.
    """
    act = _act(activation)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
    sw, sb = _per_layer("sigma_w2", sigma_w2, depth), _per_layer("sigma_b2", sigma_b2, depth)
    out = np.empty(depth)
    q = _nonneg("q0", q0)
    for l in range(depth):
        second = q if l == 0 else _mean_f2(act, q)
        with np.errstate(over="ignore"):
            q = float(sb[l] if sw[l] == 0 else sw[l] * second + sb[l])
        out[l] = q
    return out


def _bracketed_root(fn, a: float, b: float, fa: float, fb: float, xtol: float) -> float:
    """A root of ``fn`` in ``[a, b]`` where ``fa`` and ``fb`` have opposite signs.

    Illinois false position (superlinear), with a bisection step whenever an interval fails to halve.
    """
    side, bisect = 0, False
    for _ in range(300):
        width = b - a
        if width <= xtol:
            break
        c = 0.5 * (a + b) if bisect else b - fb * (b - a) / (fb - fa)
        if not a < c < b:
            c = 0.5 * (a + b)
        fc = fn(c)
        if fc == 0:
            return c
        if (fc > 0) == (fa > 0):
            a, fa = c, fc
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa *= 0.5
            side = 1
        bisect = (b - a) > 0.5 * width and not bisect
    return 0.5 * (a + b)


def _log_root(h, lo: float, hi: float, h_lo: float, h_hi: float) -> float:
    t = _bracketed_root(lambda t: h(math.exp(t)), math.log(lo), math.log(hi), h_lo, h_hi, 1e-14)
    return math.exp(t)


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
                return _log_root(h, lo, hi, h_lo, h_hi) if math.isfinite(h_hi) else math.inf
            lo, h_lo = hi, h_hi
        return math.inf
    hi, h_hi = q0, h0
    while hi > 1 / _Q_RANGE:
        lo, h_lo = hi / 10, h(hi / 10)
        if h_lo > _NOISE * lo:
            return _log_root(h, lo, hi, h_lo, h_hi)
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
    act = _act(activation)
    sw, sb, q0 = _nonneg("sigma_w2", sigma_w2), _nonneg("sigma_b2", sigma_b2), _nonneg("q0", q0)
    if sw == 0:
        return sb
    if _is_homogeneous(act):
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
    return fixed_point(act, sw, sb) if q is None else _nonneg("q", q, allow_inf=True)


def chi1(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """``chi1 = sigma_w2 * E[f'(sqrt(q) z)^2]`` at ``q = q*`` (or the ``q`` given).

    The factor by which the second moment of the back-propagated errors grows per (square) layer;
    ``chi1 = 1`` is the edge of chaos. At ``q* = 0`` and ``q* = inf`` the limits are used
    (``f'`` averaged over both sides of 0, or over ``+-inf``).
    """
    act = _act(activation)
    sw, sb = _nonneg("sigma_w2", sigma_w2), _nonneg("sigma_b2", sigma_b2)
    return sw * _mean_df2(act, _resolve_q(act, sw, sb, q))


def chi_q(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """Slope of the q-map at ``q*`` (or ``q``): ``sigma_w2 * d/dq E[f(sqrt(q) z)^2]``.

    ``= chi1 + sigma_w2 E[f f''](sqrt(q*) z)`` (Schoenholz et al. 2017), computed without ``f''``
    as ``sigma_w2 E[u f(u) f'(u)]/q``. ``q`` approaches ``q*`` like ``chi_q^l``.
    """
    act = _act(activation)
    sw, sb = _nonneg("sigma_w2", sigma_w2), _nonneg("sigma_b2", sigma_b2)
    return sw * _slope_f2(act, _resolve_q(act, sw, sb, q))


# --------------------------------------------------------------------------- the correlation map


def _corr_setup(act: Activation, sigma_w2, sigma_b2, q) -> tuple[float, float, float]:
    """``(sigma_w2, q, sigma_b2)`` at which to evaluate the correlation map, limits resolved.

    ``q = 0`` (reached only with ``sigma_b2 = 0``, ``f(0) = 0``) is the limit ``q -> 0+``; ``q = inf``
    is allowed for positively homogeneous activations, whose map then is the bias-free one at any q.
    """
    sw, sb = _nonneg("sigma_w2", sigma_w2), _nonneg("sigma_b2", sigma_b2)
    q = _resolve_q(act, sw, sb, q)
    if math.isinf(q):
        if not _is_homogeneous(act):
            raise ValueError(
                f"q* is infinite for {act} at sigma_w2={sw:g}, sigma_b2={sb:g}: the correlation map has no "
                "finite operating point; pass a finite q="
            )
        return sw, 1.0, 0.0
    return sw, max(q, _Q_SMALL), sb


def _next_cov(act: Activation, sw: float, sb: float, q: float, c: float) -> tuple[float, float]:
    """``(sigma_w2 E[f(u1) f(u2)] + sigma_b2, sigma_w2 E[f(u1)^2] + sigma_b2)``."""
    cov = sw * gauss_expect2(act, act, q, c) + sb
    var = sw * gauss_expect2(act, act, q, 1.0) + sb  # the same rule as cov: cmap(1) is exactly 1
    if var <= 0:
        raise ValueError(f"the next layer's pre-activations are identically 0 for {act} at sigma_w2={sw:g}, sigma_b2={sb:g}")
    return cov, var


def cmap(activation: str | Activation, sigma_w2: float, sigma_b2: float, c: float, q: float | None = None) -> float:
    """The correlation map ``c -> c'`` at ``q*`` (or ``q``).

    ``c' = (sigma_w2 E[f(u1) f(u2)] + sigma_b2) / q'`` with ``u1 = sqrt(q) z1``,
    ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` and ``q' = sigma_w2 E[f(u1)^2] + sigma_b2``
    (``= q*`` at the fixed point), so ``cmap(1) = 1`` for every ``q``.
    """
    act = _act(activation)
    sw, q, sb = _corr_setup(act, sigma_w2, sigma_b2, q)
    cov, var = _next_cov(act, sw, sb, q, _corr(c))
    return min(1.0, max(-1.0, cov / var))


def chi_c(
    activation: str | Activation, sigma_w2: float, sigma_b2: float, c: float | None = None, q: float | None = None
) -> float:
    """Slope of the correlation map at ``c`` (default ``c*``): ``sigma_w2 q E[f'(u1) f'(u2)] / q'``.

    At the fixed point ``q' = q = q*`` this is Schoenholz et al.'s ``sigma_w2 E[f'(u1) f'(u2)]``;
    at ``c = 1`` it equals ``chi1`` whenever ``0 < q* < inf``.
    """
    act = _act(activation)
    sw, qe, sb = _corr_setup(act, sigma_w2, sigma_b2, q)
    c = c_star(act, sigma_w2, sigma_b2, q=q) if c is None else _corr(c)
    d = act.derivative
    var = sw * _mean_f2(act, qe) + sb
    return sw * qe * gauss_expect2(d, d, qe, c) / var


def c_star(activation: str | Activation, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """The stable fixed point of the correlation map on ``[-1, 1]``.

    ``1.0`` when ``c = 1`` is stable (ordered phase and its boundary: slope at 1 ``<= 1``);
    otherwise (chaotic phase) the fixed point below 1 where the map crosses the diagonal from above.
    """
    act = _act(activation)
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
            return _bracketed_root(g, -1.0, hi, g_lo, g_hi, 1e-15)
    return 1.0


def critical_sigma_w2(activation: str | Activation, sigma_b2: float = 0.0) -> float:
    """The edge of chaos: the ``sigma_w2`` at which ``chi1 = 1`` at the fixed point, for this ``sigma_b2``.

    ReLU: 2 for every ``sigma_b2``; leaky ReLU ``2/(1 + a^2)``; linear and tanh (at ``sigma_b2 = 0``,
    where ``q* = 0``): 1. Raises ``ValueError`` if ``chi1`` does not cross 1, or jumps over 1 where
    the stable fixed point disappears (GELU and SiLU at small ``sigma_b2``: ``q`` explodes before
    ``chi1`` reaches 1; the message gives the ``sigma_w2`` of the jump). Softplus gives 2, which it
    approaches only as ``q* -> inf`` (it is ReLU-like at large ``q``).
    """
    act = _act(activation)
    sb = _nonneg("sigma_b2", sigma_b2)

    def g(log_s: float) -> float:
        return chi1(act, math.exp(log_s), sb) - 1.0

    f0 = float(_apply(act, np.array(0.0)))
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
            return _checked_crossing(act, sb, math.exp(_bracketed_root(g, lo, hi, g_lo, g_hi, 1e-14)))
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


# --------------------------------------------------------------------------- initializers -> sigma_w2


def _scheme_params(scheme, params: dict) -> dict:
    """The scheme's keyword defaults updated with ``params``; unknown names raise like :func:`initialize`."""
    defaults = dict(scheme.__kwdefaults__ or {})
    defaults.pop("activation", None)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(
            f"{scheme.__name__} got unknown parameter(s) {', '.join(unknown)}; it accepts: {', '.join(defaults) or 'none'}"
        )
    return {**defaults, **params}


def _fan(n_out: int, n_in: int, mode: str) -> float:
    fans = {"fan_in": n_in, "fan_out": n_out, "fan_avg": 0.5 * (n_in + n_out)}
    if mode not in fans:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(fans)}")
    return fans[mode]


def _he_gain2(act: Activation | None, slope, gain) -> float:
    if gain is not None:
        return float(gain) ** 2
    if slope is None:
        slope = act.param if act is not None and act.name == "leaky_relu" else 0.0
    return 2.0 / (1.0 + float(slope) ** 2)


def _truncated_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and variance of what ``truncated_normal(mean, std, a, b)`` produces (std is exact by design)."""
    z = normal_mass(a, b)
    pa = 0.0 if math.isinf(a) else normal_pdf(a)
    pb = 0.0 if math.isinf(b) else normal_pdf(b)
    return mean + std / truncnorm_std(a, b) * (pa - pb) / z, std * std


_NOT_IID = "the i.i.d. zero-mean assumption of the q-map does not hold"


def _moments_uniform(n_out, n_in, act, p):
    a, b = float(p["a"]), float(p["b"])
    return 0.5 * (a + b), (b - a) ** 2 / 12, None


def _moments_normal(n_out, n_in, act, p):
    return float(p["mean"]), float(p["std"]) ** 2, None


def _moments_truncated(n_out, n_in, act, p):
    m, v = _truncated_moments(float(p["mean"]), float(p["std"]), float(p["a"]), float(p["b"]))
    return m, v, None


def _moments_constant(n_out, n_in, act, p):
    v = 1.0 / n_in if p["value"] is None else float(p["value"])
    return v, 0.0, None if v == 0 else f"constant({v:g}): every weight is equal (symmetric; width-1 capacity)"


def _moments_identity(n_out, n_in, act, p):
    g2 = float(p["gain"]) ** 2
    why = "identity is deterministic (z = gain * a_prev); the Gaussian mean-field q-map does not describe it"
    return 0.0, g2 * min(n_in, n_out) / (n_out * n_in), None if g2 == 0 else why


def _moments_orthogonal(n_out, n_in, act, p):
    # Frobenius norm^2 = g^2 min(n_out, n_in): rows orthonormal (n_out <= n_in) or columns
    return 0.0, float(p["gain"]) ** 2 * min(n_out, n_in) / (n_out * n_in), None


def _moments_sparse(n_out, n_in, act, p):
    keep = 1.0 - math.ceil(float(p["sparsity"]) * n_out) / n_out
    return 0.0, keep * float(p["std"]) ** 2, None


def _moments_he(n_out, n_in, act, p):
    return 0.0, _he_gain2(act, p["slope"], p["gain"]) / _fan(n_out, n_in, p["mode"]), None


def _moments_kumar(n_out, n_in, act, p):
    if act is None:
        raise ValueError("kumar_normal needs activation=...")
    return 0.0, kumar_variance_factor(act) / n_in, None


def _moments_variance_scaling(n_out, n_in, act, p):
    return 0.0, float(p["scale"]) / _fan(n_out, n_in, p["mode"]), None


_MOMENTS = {
    "zeros": lambda n_out, n_in, act, p: (0.0, 0.0, None),
    "ones": lambda n_out, n_in, act, p: (1.0, 0.0, "ones: every weight is 1 (symmetric; width-1 capacity)"),
    "constant": _moments_constant,
    "uniform": _moments_uniform,
    "normal": _moments_normal,
    "truncated_normal": _moments_truncated,
    "lecun_normal": lambda n_out, n_in, act, p: (0.0, 1.0 / n_in, None),
    "lecun_uniform": lambda n_out, n_in, act, p: (0.0, 1.0 / n_in, None),
    "xavier_normal": lambda n_out, n_in, act, p: (0.0, float(p["gain"]) ** 2 * 2.0 / (n_in + n_out), None),
    "xavier_uniform": lambda n_out, n_in, act, p: (0.0, float(p["gain"]) ** 2 * 2.0 / (n_in + n_out), None),
    "he_normal": _moments_he,
    "he_uniform": _moments_he,
    "kumar_normal": _moments_kumar,
    "orthogonal": _moments_orthogonal,
    "identity": _moments_identity,
    "sparse": _moments_sparse,
    "variance_scaling": _moments_variance_scaling,
    "torch_linear_default": lambda n_out, n_in, act, p: (0.0, 1.0 / (3.0 * n_in), None),
}


def register_moments(name: str, moments) -> None:
    """Give the scheme registered as ``name`` its weight moments: ``moments(n_out, n_in, act, p) -> (mean, var, why)``,
    ``p`` the scheme's keyword defaults updated with the caller's (``layer`` among them for a scheme that takes
    one), ``why`` None or the reason the q-map does not describe it (see :func:`initializer_sigma_w2`)."""
    _MOMENTS[get_scheme(name).__name__] = moments


def initializer_sigma_w2(
    name: str,
    fan_out: int,
    fan_in: int,
    activation: str | Activation | None = None,
    *,
    strict: bool = True,
    **params,
) -> float:
    """``sigma_w2 = n_in * E[W^2]`` of the initializer ``name`` for a ``(fan_out, fan_in)`` matrix.

    Exact for the distribution each scheme samples (parameters and defaults as in
    :func:`winit_bench.initialize`): LeCun 1; Xavier ``g^2 * 2 n_in/(n_in + n_out)``; He
    ``g^2 n_in/fan`` (``g^2 = 2/(1 + a^2)``); Kumar ``1/(f'(0)^2 (1 + f(0)^2))`` (sigmoid 12.8);
    ``variance_scaling`` ``scale * n_in/fan``; uniform ``n_in (b - a)^2/12``; normal and
    truncated normal ``n_in std^2``; ``torch_linear_default`` 1/3; orthogonal
    ``g^2 min(1, n_in/n_out)`` (orthonormal rows when ``n_out <= n_in``, columns otherwise);
    sparse ``n_in std^2 (1 - ceil(sparsity n_out)/n_out)``; zeros and ``constant(0)`` 0.

    With ``strict=True`` (default) schemes that break the q-map's assumption (zero-mean weights,
    independent or rotation invariant) raise ``ValueError``: ones, constant(c != 0), identity, and
    uniform/normal/truncated normal with a non-zero mean. ``strict=False`` returns
    ``n_in * E[W^2]`` (mean^2 included; for identity the average over positions,
    ``g^2 min(n_in, n_out)/n_out``) for every scheme.
    """
    scheme = get_scheme(name)
    n_out, n_in = check_shape((fan_out, fan_in))
    act = None if activation is None else _act(activation)
    p = _scheme_params(scheme, params)
    if scheme.__name__ not in _MOMENTS:
        raise NotImplementedError(f"no closed form of n_in * E[W^2] for initializer {scheme.__name__!r}")
    mean, var, why = _MOMENTS[scheme.__name__](n_out, n_in, act, p)
    if why is None and abs(mean) > 1e-12 * math.sqrt(var + mean * mean):
        why = f"{scheme.__name__} with mean {mean:g}: weights are not zero-mean"
    if strict and why is not None:
        raise ValueError(f"{why}; {_NOT_IID} (pass strict=False for n_in * E[W^2] = {n_in * (var + mean * mean):g})")
    return n_in * (var + mean * mean)


def _check_sizes(sizes: ArrayLike) -> list[int]:
    try:
        out = [int(n) for n in sizes]
        ok = len(out) >= 2 and all(n == m and n >= 1 for n, m in zip(out, sizes))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"sizes must list at least two positive integer widths (n_0, n_1, ..., n_L), got {sizes!r}")
    return out


def network_sigma_w2(name: str, sizes: ArrayLike, activation: str | Activation | None = None, **params) -> np.ndarray:
    """``sigma_w2`` of each layer ``l = 1..L`` of an MLP with widths ``sizes = (n_0, ..., n_L)`` (a scheme that
    takes a ``layer`` gets each layer's index, as :func:`winit_bench.initialize` passes it)."""
    n = _check_sizes(sizes)
    layered = "layer" in (get_scheme(name).__kwdefaults__ or {})
    return np.array([initializer_sigma_w2(name, n[l], n[l - 1], activation, **params, **({"layer": l - 1} if layered else {}))
                     for l in range(1, len(n))])


def network_qmap(
    name: str, sizes: ArrayLike, activation: str | Activation, *, sigma_b2: float = 0.0, q0: float = 1.0, **params
) -> np.ndarray:
    """Predicted ``q[1..L]`` of an MLP of widths ``sizes`` initialised with ``name`` (see :func:`qmap`)."""
    sw = network_sigma_w2(name, sizes, activation, **params)
    return qmap(activation, sw, sigma_b2, q0, len(sw))


def closed_form_variance(name: str, fan_out: int, fan_in: int, activation: str | Activation | None = None) -> float:
    """``Var(W)`` of the classic rules: ``lecun`` 1/n_in; ``xavier``/``glorot`` 2/(n_in + n_out);
    ``he``/``kaiming`` ``2/((1 + a^2) n_in)`` (``a`` the leaky-ReLU slope of ``activation``, else 0);
    ``kumar`` ``1/(n_in f'(0)^2 (1 + f(0)^2))`` (needs ``activation``). A ``_normal``/``_uniform``
    suffix is accepted: both distributions share the variance."""
    n_out, n_in = check_shape((fan_out, fan_in))
    key = str(name).lower().removesuffix("_normal").removesuffix("_uniform")
    act = None if activation is None else _act(activation)
    if key == "lecun":
        return 1.0 / n_in
    if key in ("xavier", "glorot"):
        return 2.0 / (n_in + n_out)
    if key in ("he", "kaiming"):
        return _he_gain2(act, None, None) / n_in
    if key == "kumar":
        if act is None:
            raise ValueError("the Kumar closed form needs activation=...")
        return kumar_variance_factor(act) / n_in
    raise ValueError(f"no closed form named {name!r}; valid: lecun, xavier (glorot), he (kaiming), kumar")


# --------------------------------------------------------------------------- finite width (Hanin & Rolnick 2018)


def _fourth_moment_terms(act: Activation, c: float) -> tuple[float, float]:
    """``rho4(c) = E[f(u1)^2 f(u2)^2]/E[f^2]^2 - 1`` and ``gamma(c) = E[f(u1)^2 u2^2]/E[f^2] - 1`` at unit q."""
    m2 = _mean_f2(act, 1.0)
    f2 = lambda u: act(u) ** 2  # noqa: E731
    rho4 = gauss_expect2(f2, f2, 1.0, c) / (m2 * m2) - 1
    gamma = gauss_expect2(f2, lambda u: u * u, 1.0, c) / m2 - 1
    return rho4, gamma


def log_ratio_moments(
    sizes: ArrayLike, batch: int = 1, *, activation: str | Activation = "relu", c0: float = 0.0
) -> tuple[float, float]:
    """Mean and variance of ``ln(q̂[L]/q̂[1]) - ln(q[L]/q[1])`` across seeds, to first order in ``1/n``.

    ``q̂[l]`` is the empirical second moment of layer ``l``'s pre-activations over ``batch`` inputs
    and ``n_l`` units of one network; ``q[l]`` the mean-field prediction (which is exact in
    expectation here). Assumes Gaussian weights, no bias and a positively homogeneous activation
    (ReLU, leaky ReLU, linear), so the ratio does not depend on ``sigma_w2``; ``sizes = (n_0, ..., n_L)``.

    Per hidden layer the squared activation length is multiplied by ``F_l = 1 + eps_l`` with
    ``Var(eps_l) = kappa / n_l``, ``kappa = E[f^4]/E[f^2]^2 - 1``: **5 for ReLU** (``(3/2)/(1/4) - 1``;
    exactly ``E[F_l^2] = 1 + 5/n_l`` for Gaussian weights), 2 for linear. Hanin & Rolnick (2018,
    "How to start training", NeurIPS; failure mode FM2) prove that the fluctuation of the activation
    length of a ReLU net initialised with variance ``2/fan_in`` is exponential in
    ``beta = sum_j 1/n_j`` (the sum of reciprocal hidden widths), with constants set by the
    weights' fourth moment; for Gaussian weights the constant is this 5 (``E[M^2]/E[M]^2 ≈ exp(5 beta)``,
    as in Hanin & Nica 2019). Hence, for one input, ``Var[ln(q̂[L]/q̂[1])] ≈ 5 sum_{l<L} 1/n_l`` plus
    the sampling terms below. Non-Gaussian weights change ``kappa`` only at order ``1/(n_l n_{l-1})``.

    The batch enters twice. The sampling noise of ``q̂``: ``Var(z^2)/E[z^2]^2 = 2`` per unit,
    over ``n_l`` units and the batch. And the averaging over inputs: two inputs whose
    pre-activations correlate with ``c`` share part of each layer's fluctuation
    (``rho4(c)``, 0 at ``c = 0``, ``kappa`` at ``c = 1``). ``c0`` is the correlation (cosine
    similarity) of distinct inputs: 0 for independent random inputs, 1 for the worst case (then the
    batch does not help); deeper layers' correlations follow the correlation map of ``f``.

    Monte-Carlo checks (ReLU, widths 32-64, depth 3-20, batch 1-32) agree within ~10%; when
    ``sum 1/n_l`` approaches 1 the variance is underestimated (by ~30% at 0.6): the distribution of
    ``ln q̂`` then grows a heavy left tail (nearly dead layers), beyond a first-order expansion.
    """
    act = _act(activation)
    if not _is_homogeneous(act):
        raise ValueError(f"log_ratio_moments needs a positively homogeneous activation (relu, leaky_relu, linear), got {act}")
    n = np.array(_check_sizes(sizes)[1:], dtype=float)
    B = int(batch)
    if B < 1 or B != batch:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    c = _corr(c0)
    if len(n) == 1:
        return 0.0, 0.0

    def avg(same: float, other: float) -> float:  # mean over the B^2 pairs of inputs
        return same / B + (1 - 1 / B) * other

    rho_1, gamma_1 = _fourth_moment_terms(act, 1.0)
    corrs = [c]
    for _ in range(len(n) - 1):
        corrs.append(cmap(act, 1.0, 0.0, corrs[-1], q=1.0))
    v_layers = sum(avg(rho_1, _fourth_moment_terms(act, corrs[l])[0]) / n[l] for l in range(len(n) - 1))
    v_first = avg(2.0, 2 * corrs[0] ** 2) / n[0]
    v_last = avg(2.0, 2 * corrs[-1] ** 2) / n[-1]
    cov_first = avg(gamma_1, _fourth_moment_terms(act, corrs[0])[1]) / n[0]
    mean = -0.5 * (v_layers + v_last - v_first)
    return float(mean), float(v_layers + v_last + v_first - 2 * cov_first)


def finite_width_band(
    sizes: ArrayLike,
    batch: int = 1,
    n_std: float = 3.0,
    *,
    activation: str | Activation = "relu",
    c0: float = 0.0,
) -> tuple[float, float]:
    """Band ``(lo, hi)``, in log2 units, for ``log2(q̂[L]/q̂[1]) - log2(q[L]/q[1])`` of one seed.

    Centre and width from :func:`log_ratio_moments` (mean ``± n_std`` standard deviations): a
    measured ratio outside the band is unlikely to be finite-width noise. The centre sits below 0:
    the mean of ``q̂`` is preserved, so its logarithm drifts down by half its variance.
    """
    if not n_std >= 0:
        raise ValueError(f"n_std must be >= 0, got {n_std!r}")
    mean, var = log_ratio_moments(sizes, batch, activation=activation, c0=c0)
    half = n_std * math.sqrt(var)
    return (mean - half) / math.log(2), (mean + half) / math.log(2)
