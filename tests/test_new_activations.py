"""hard_tanh, erf and exact GELU against exact oracles, independent of the library's quadrature.

* hard_tanh: ``E[f'(u1) f'(u2)] = P(|u1| < 1, |u2| < 1)``, a bivariate-normal rectangle, in closed
  form through Owen's T (``P(X < h, Y < k) = Φ(h)/2 + Φ(k)/2 - T(h, a_h) - T(k, a_k) - 1[hk < 0]/2``,
  Owen 1956); ``E[f(u1) f(u2)]`` by SciPy's ``quad`` over ``z1`` of the inner expectation in closed
  form. Both at 1e-9 over q from 1e-6 to 1e6 and c up to ±(1 - 1e-6): the kinks at ±1 are lines
  that miss the origin, where the polar rule alone is off by ~5e-4.
* erf: Williams' (1997) arcsine kernel ``E[erf(u1) erf(u2)] = (2/π) arcsin(2qc/(1 + 2q))`` and
  ``E[erf'(u1) erf'(u2)] = (4/π)/sqrt((1 + 2q)^2 - (2qc)^2)`` (a Gaussian integral of
  ``exp(-u1^2 - u2^2)``), to 1e-12; the q-map, chi1, the c-map and chi_c from them.
* exact GELU ``z Φ(z)``: ``E[u Φ(u)] = q/sqrt(2π(1 + q))``; for ``Y ~ N(m, s^2)``, ``t = sqrt(1 + s^2)``:
  ``E[Y Φ(Y)] = m Φ(m/t) + s^2 φ(m/t)/t`` (Stein's lemma) and ``E[Φ(Y) + Y φ(Y)] = Φ(m/t) +
  m φ(m/t)/t^3``, so both kernels are one ``quad`` over ``z1``; one ``dblquad`` besides, to 1e-10.
* the backends (NumPy's fast path, Numba's loops) against the Activation's own ``f``/``f'``: float64
  to 3e-13 (Numba: libm's ``math.erf`` against :mod:`winit_bench.erf`), float32 to 4 ulp times the
  condition number ``1 + x^2`` (:func:`_assert_close`);
  hard_tanh's derivative is 0 at exactly ±1 in each, as torch's ``Hardtanh`` backward.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import theory as T
from winit_bench.backends.numpy_backend import NumpyBackend
from winit_bench.critical import critical_point
from winit_bench.erf import erf, erfc, normal_cdf
from winit_bench.gaussian import gauss_expect, gauss_expect2

special = pytest.importorskip("scipy.special")
integrate = pytest.importorskip("scipy.integrate")

HT, ERF, GELU = (wb.get_activation(n) for n in ("hard_tanh", "erf", "gelu_erf"))
QS = (1e-6, 1e-3, 0.1, 0.7, 2.0, 30.0, 1e3, 1e6)
CS = (-0.999999, -0.9, -0.3, 0.0, 0.5, 0.95, 0.9999, 0.999999)


# ---------------------------------------------------------------------------------------------- erf itself
def test_erf_erfc_and_phi_against_libm():
    x = np.concatenate([np.linspace(-26, 26, 5201), np.geomspace(1e-300, 1, 60), -np.geomspace(1e-300, 1, 60)])
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], rtol=0, atol=1e-15)
    tail = x[x >= 2]  # erfc itself, not 1 - erf: relative precision down to 1e-317
    np.testing.assert_allclose(erfc(tail), [math.erfc(v) for v in tail], rtol=2e-15)
    np.testing.assert_allclose(erfc(x), [math.erfc(v) for v in x], rtol=2e-13, atol=1e-300)
    mpmath = pytest.importorskip("mpmath")  # SciPy's Φ(z) rounds z/√2 first: off by ~z^2 eps in the far tail
    z = np.linspace(-37, -2 * math.sqrt(2), 201)
    np.testing.assert_allclose(normal_cdf(z), [float(mpmath.ncdf(v)) for v in z], rtol=3e-15)
    edge = np.array([np.nan, np.inf, -np.inf, -0.0])
    np.testing.assert_array_equal(erf(edge), [np.nan, 1, -1, 0])
    np.testing.assert_array_equal(normal_cdf(edge), [np.nan, 1, 0, 0.5])
    assert erf(np.float32([0.5])).dtype == np.float32


# ---------------------------------------------------------------------------------------------- hard_tanh
def _bvn(h: float, k: float, r: float) -> float:
    """``P(X < h, Y < k)`` for standard normals of correlation ``|r| < 1``, ``h, k != 0`` (Owen's T)."""
    sq = math.sqrt((1 - r) * (1 + r))
    a_h, a_k = (k - r * h) / (h * sq), (h - r * k) / (k * sq)
    return 0.5 * special.ndtr(h) + 0.5 * special.ndtr(k) - special.owens_t(h, a_h) - special.owens_t(k, a_k) - 0.5 * (h * k < 0)


def rectangle(q: float, c: float, k: float = 1.0) -> float:
    """``P(|u1| < k, |u2| < k)`` for ``u ~ N(0, q [[1, c], [c, 1]])``: hard_tanh's ``E[f'(u1) f'(u2)]`` at ``k = 1``."""
    a = k / math.sqrt(q)
    if c == 1:
        return float(special.erf(a / math.sqrt(2)))
    return _bvn(a, a, c) - _bvn(-a, a, c) - _bvn(a, -a, c) + _bvn(-a, -a, c)


def _clip_mean(m: float, s: float) -> float:
    """``E[clip(Y, -1, 1)]`` for ``Y ~ N(m, s^2)``: ``P(Y > 1) - P(Y < -1) + E[Y; |Y| < 1]``."""
    if s == 0:
        return min(1.0, max(-1.0, m))
    a, b = (-1 - m) / s, (1 - m) / s
    inside = m * (special.ndtr(b) - special.ndtr(a)) + s * (_pdf(a) - _pdf(b))
    return special.ndtr(-b) - special.ndtr(a) + inside


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _outer_quad(inner, q: float, c: float, f, kinks=()) -> float:
    """``E_z1[f(sqrt(q) z1) inner(sqrt(q) c z1, sqrt(q(1 - c^2)))]`` by ``quad``, split at the kinks."""
    s = math.sqrt(q)
    sd = s * math.sqrt(max(0.0, (1 - c) * (1 + c)))
    cuts = sorted({-14.0, 0.0, 14.0, *(k / s for k in kinks if abs(k / s) < 14), *(k / (s * c) for k in kinks if c and abs(k / (s * c)) < 14)})
    total = 0.0
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        total += integrate.quad(lambda z: _pdf(z) * f(s * z) * inner(s * c * z, sd), lo, hi, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
    return total


@pytest.mark.parametrize("q", QS)
def test_hard_tanh_derivative_kernel_is_the_rectangle_probability(q):
    d = HT.derivative
    for c in CS:
        assert gauss_expect2(d, d, q, c, HT.kinks) == pytest.approx(rectangle(q, c), abs=1e-9), c
    assert gauss_expect2(d, d, q, 1.0, HT.kinks) == pytest.approx(rectangle(q, 1.0), abs=1e-12)


def test_kinks_anywhere_split_both_rules():
    """A kink at 0.3, no activation scale: the 1-D rule (E[clip(z, -k, k)^2] in closed form) and the
    2-D rule (the rectangle) are exact only because ``kinks`` splits there."""
    k = 0.3
    box = lambda u: (np.abs(u) < k).astype(float)  # noqa: E731
    inside = special.erf(k / math.sqrt(2))
    expected = inside - 2 * k * _pdf(k) + k * k * (1 - inside)
    assert gauss_expect(lambda u: np.clip(u, -k, k) ** 2, 1.0, (-k, k)) == pytest.approx(expected, abs=1e-14)
    for q, c in ((0.05, 0.3), (1.0, -0.8), (2.0, 0.999)):
        assert gauss_expect2(box, box, q, c, (-k, k)) == pytest.approx(rectangle(q, c, k), abs=1e-10), (q, c)


@pytest.mark.parametrize("name", ("tanh", "relu", "selu", "gelu_erf"))
def test_the_iterated_rule_agrees_with_the_polar_one(name):
    """Asked to split at a kink the activation lacks, the iterated rule must still give the polar rule's answer."""
    act = wb.get_activation(name)
    for g in (act, act.derivative):
        for q, c in ((1e-4, 0.5), (0.8, -0.95), (3.0, 0.2), (1e4, 0.99999)):
            norm = gauss_expect2(g, g, q, 1.0)
            assert gauss_expect2(g, g, q, c, (2.5,)) == pytest.approx(gauss_expect2(g, g, q, c), abs=1e-11 * norm), (q, c)


@pytest.mark.parametrize("q", (1e-3, 0.3, 2.0, 50.0, 1e5))
def test_hard_tanh_kernel_against_scipy_quad(q):
    f = lambda u: min(1.0, max(-1.0, u))  # noqa: E731
    for c in (-0.99999, -0.4, 0.0, 0.6, 0.999):
        expected = _outer_quad(_clip_mean, q, c, f, kinks=(-1.0, 1.0))
        assert gauss_expect2(HT, HT, q, c, HT.kinks) == pytest.approx(expected, abs=1e-9), c


@pytest.mark.parametrize("sw, sb", [(1.0, 0.05), (2.0, 0.1), (4.0, 0.01), (1.5, 0.0), (9.0, 1.0)])
def test_hard_tanh_chi_c_at_the_fixed_points(sw, sb):
    """chi_c at (q*, c*) is sigma_w2 P(|u1| < 1, |u2| < 1): ordered (c* = 1) and chaotic points."""
    q, c = T.fixed_point(HT, sw, sb), T.c_star(HT, sw, sb)
    assert T.chi_c(HT, sw, sb) == pytest.approx(sw * rectangle(q, c), abs=1e-8)
    assert T.chi1(HT, sw, sb) == pytest.approx(sw * rectangle(q, 1.0), abs=1e-12)


def test_hard_tanh_critical_point():
    """chi1 = 1 and q* = sigma_w2 E[f^2] + sigma_b2 on the closed forms, ``a = 1/sqrt(q)``:
    ``E[f'^2] = P(|z| < a)``, ``E[f^2] = q (P(|z| < a) - 2 a φ(a)) + P(|z| > a)``."""
    p = critical_point("hard_tanh")
    a = 1 / math.sqrt(p.q_star)
    inside = special.erf(a / math.sqrt(2))
    assert p.sigma_w2 * inside == pytest.approx(1.0, abs=1e-10)
    assert p.sigma_w2 * (p.q_star * (inside - 2 * a * _pdf(a)) + 1 - inside) + p.sigma_b2 == pytest.approx(p.q_star, rel=1e-10)


# ---------------------------------------------------------------------------------------------- erf
def arcsine_kernel(q: float, c: float) -> float:
    return 2 / math.pi * math.asin(2 * q * c / (1 + 2 * q))


def erf_slope_kernel(q: float, c: float) -> float:
    return 4 / math.pi / math.sqrt((1 + 2 * q) ** 2 - (2 * q * c) ** 2)


@pytest.mark.parametrize("q", QS)
def test_erf_kernels_are_williams_arcsine(q):
    for c in (*CS, 1.0):
        assert gauss_expect2(ERF, ERF, q, c) == pytest.approx(arcsine_kernel(q, c), rel=1e-12, abs=1e-15), c
        d = ERF.derivative
        assert gauss_expect2(d, d, q, c) == pytest.approx(erf_slope_kernel(q, c), rel=1e-12), c


@pytest.mark.parametrize("sw, sb", [(1.0, 0.05), (3.0, 0.1), (0.5, 0.0), (2.0, 0.0)])
def test_erf_qmap_chi1_and_cmap_in_closed_form(sw, sb):
    for q in (0.01, 0.8, 5.0):
        q_next = sw * arcsine_kernel(q, 1.0) + sb
        assert T.next_q(ERF, sw, sb, q) == pytest.approx(q_next, rel=1e-12)
        assert T.chi1(ERF, sw, sb, q=q) == pytest.approx(sw * 4 / math.pi / math.sqrt(1 + 4 * q), rel=1e-12)
        for c in (-0.7, 0.2, 0.99):
            assert T.cmap(ERF, sw, sb, c, q=q) == pytest.approx((sw * arcsine_kernel(q, c) + sb) / q_next, rel=1e-12)
            assert T.chi_c(ERF, sw, sb, c=c, q=q) == pytest.approx(sw * q * erf_slope_kernel(q, c) / q_next, rel=1e-12)
    from scipy.optimize import brentq

    h = lambda q: sw * arcsine_kernel(q, 1.0) + sb - q  # noqa: E731
    q_star = brentq(h, 1e-12, 1e3, xtol=1e-15, rtol=1e-14) if h(1e-12) > 0 else 0.0
    assert T.fixed_point(ERF, sw, sb) == pytest.approx(q_star, rel=1e-9, abs=1e-12)


def test_erf_edge_of_chaos_without_bias_is_pi_over_4():
    """At sigma_b2 = 0, q* = 0 and chi1 = sigma_w2 erf'(0)^2 = sigma_w2 4/π."""
    assert T.critical_sigma_w2(ERF, 0.0) == pytest.approx(math.pi / 4, rel=1e-12)


# ---------------------------------------------------------------------------------------------- exact GELU
def _gelu_mean(m: float, s: float) -> float:
    t = math.sqrt(1 + s * s)
    return m * special.ndtr(m / t) + s * s * _pdf(m / t) / t


def _gelu_slope_mean(m: float, s: float) -> float:
    t = math.sqrt(1 + s * s)
    return special.ndtr(m / t) + m * _pdf(m / t) / t**3


def test_gelu_erf_first_moment():
    for q in (1e-4, 0.3, 1.0, 7.0, 1e4):
        assert gauss_expect(GELU, q) == pytest.approx(q / math.sqrt(2 * math.pi * (1 + q)), rel=1e-12)


@pytest.mark.parametrize("q", (1e-3, 0.5, 2.0, 40.0))
def test_gelu_erf_kernels_against_conditional_closed_forms(q):
    f = lambda u: u * special.ndtr(u)  # noqa: E731
    df = lambda u: special.ndtr(u) + u * _pdf(u)  # noqa: E731
    for c in (-0.95, -0.2, 0.0, 0.7, 0.999):
        assert gauss_expect2(GELU, GELU, q, c) == pytest.approx(_outer_quad(_gelu_mean, q, c, f), rel=1e-10, abs=1e-14), c
        d = GELU.derivative
        assert gauss_expect2(d, d, q, c) == pytest.approx(_outer_quad(_gelu_slope_mean, q, c, df), rel=1e-10), c


def test_gelu_erf_kernel_by_dblquad():
    q, c = 1.5, 0.4
    cov = q * np.array([[1, c], [c, 1]])
    inv, det = np.linalg.inv(cov), np.linalg.det(cov)

    def integrand(u2, u1):
        u = np.array([u1, u2])
        return u1 * special.ndtr(u1) * u2 * special.ndtr(u2) * math.exp(-0.5 * u @ inv @ u) / (2 * math.pi * math.sqrt(det))

    lim = 14 * math.sqrt(q)
    expected = integrate.dblquad(integrand, -lim, lim, -lim, lim, epsabs=1e-13, epsrel=1e-12)[0]
    assert gauss_expect2(GELU, GELU, q, c) == pytest.approx(expected, rel=1e-10)


def test_the_two_gelus_differ_by_the_tanh_approximation():
    z = np.linspace(-6, 6, 1201)
    gap = np.abs(GELU(z) - wb.get_activation("gelu")(z)).max()
    assert 1e-4 < gap < 1e-3  # |erf - tanh form| peaks at ~4.7e-4 (z ≈ ±2.2)


# ---------------------------------------------------------------------------------------------- backends
NEW = ("hard_tanh", "erf", "gelu_erf")
#: ±1 and 0 exactly (hard_tanh's kinks), a dense grid, and points far in both tails
POINTS = np.concatenate([[-1.0, 0.0, 1.0, -1e-300, 1e-300], np.linspace(-7, 7, 561), [-30.0, -12.0, 12.0, 30.0]])


def _backends():
    out = [NumpyBackend()]
    try:
        out.append(wb.get_backend("numba"))
    except Exception:  # numba not installed: the numpy backend is still checked
        pass
    return out


def _assert_close(got, ref, x, dtype: str, what: str, terms=0.0) -> None:
    """float64: within 3e-13 relative (:mod:`winit_bench.erf`'s bound where Φ is 1 - erf; libm's erf
    in Numba is within an ulp). float32: 4 ulp times ``1 + x^2``, the condition number of the
    ``exp(-x^2)`` inside erf' and GELU's Φ (the float32 ``x^2`` is off by an ulp), of ``|ref|`` plus
    the size of the ``terms`` that cancel (GELU's ``Φ(x) + x φ(x)`` crosses 0 at x = -0.75)."""
    tol = np.full(x.shape, 3e-13) if dtype == "float64" else 4 * np.finfo(np.float32).eps * (1 + x.astype(np.float64) ** 2)
    bad = ~(np.abs(got - ref) <= tol * (np.abs(ref) + terms) + np.finfo(dtype).tiny)
    assert not bad.any(), f"{what} ({dtype}) at x={x[bad][:4]}: {got[bad][:4]} vs {ref[bad][:4]}"


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backends_match_the_activation(name, dtype):
    act = wb.get_activation(name)
    x = POINTS.astype(dtype).reshape(1, -1)
    x64 = x.astype(np.float64)
    f_ref, d_ref = act.f(x64, np), act.derivative(x64)
    terms = special.ndtr(x64) + np.abs(x64) * np.exp(-0.5 * x64**2) if name == "gelu_erf" else 0.0
    for be in _backends():
        a = be.bias_act(x.copy(), np.zeros(x.shape[1], dtype), act, np.empty_like(x))
        assert a.dtype == np.dtype(dtype)
        _assert_close(a, f_ref, x, dtype, f"{be.name} forward")
        g = be.act_grad(np.ones_like(x), x.copy(), a, act, np.empty_like(x))
        _assert_close(g, d_ref, x, dtype, f"{be.name} derivative", terms=terms)


def test_hard_tanh_derivative_at_its_kinks_follows_torch():
    """0 at exactly ±1 (torch's Hardtanh passes the gradient only for -1 < x < 1), 1 at 0, in every backend."""
    x = np.array([[-1.0, -0.999, 0.0, 0.999, 1.0, 1.001]])
    expected = [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    np.testing.assert_array_equal(HT.derivative(x), [expected])
    for be in _backends():
        a = be.bias_act(x.copy(), np.zeros(6), HT, np.empty_like(x))
        np.testing.assert_array_equal(be.act_grad(np.ones_like(x), x.copy(), a, HT, np.empty_like(x)), [expected], err_msg=be.name)


@pytest.mark.parametrize("name", NEW)
def test_numba_derivative_against_finite_differences(name):
    pytest.importorskip("numba")
    be, act = wb.get_backend("numba"), wb.get_activation(name)
    z = np.concatenate([np.linspace(-4, -1.01, 150), np.linspace(-0.99, 0.99, 150), np.linspace(1.01, 4, 150)]).reshape(1, -1)
    h = 1e-5  # > 100 h from hard_tanh's kinks
    fwd = lambda v: be.bias_act(v.copy(), np.zeros(v.shape[1]), act, np.empty_like(v))  # noqa: E731
    fd = (fwd(z + h) - fwd(z - h)) / (2 * h)
    g = be.act_grad(np.ones_like(z), z.copy(), fwd(z), act, np.empty_like(z))
    np.testing.assert_allclose(g, fd, rtol=1e-8, atol=1e-9)


def test_torch_gain_table_refuses_them_with_one_message():
    """torch.nn.init.calculate_gain has no entry for these (it raises); so do we, pointing at the derived criteria."""
    for name in NEW:
        with pytest.raises(ValueError, match=f"activation for criterion='torch' '{name}'.*criterion='forward'"):
            wb.calculate_gain(name)
        assert wb.calculate_gain(name, criterion="backward") > 0
