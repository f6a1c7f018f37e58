"""theory.spectrum: free-probability moments of J J^T against exact oracles, the closed forms and random matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from winit_bench.critical import critical_point
from winit_bench.theory import spectrum as sp
from winit_bench.theory import qmap


def fuss_catalan(L: int, k: int) -> float:
    """The k-th moment of (W_L ... W_1)(W_L ... W_1)^T for square standard Gaussian W's (scaled 1/n): FC_{L+1}(k)."""
    return math.comb((L + 1) * k, k) / (L * k + 1)


@pytest.mark.parametrize("sigma_w2", [1.0, 0.7])
def test_linear_gaussian_products_have_fuss_catalan_moments(sigma_w2):
    m = sp.jacobian_moments("linear", sigma_w2, 0.0, 6, weights="gaussian", order=5)
    for L in range(1, 7):
        want = [fuss_catalan(L, k) * sigma_w2 ** (k * L) for k in range(1, 6)]
        np.testing.assert_allclose(m[L - 1], want, rtol=1e-12)
    assert m[3, 1] == pytest.approx(5 * sigma_w2**8)  # m2 = L + 1 at sigma_w2 = 1


def test_linear_orthogonal_products_have_every_moment_sigma_w2_to_the_depth():
    np.testing.assert_allclose(sp.jacobian_moments("linear", 1.0, 0.0, 8, weights="orthogonal", order=6), 1.0, rtol=1e-13)
    m = sp.jacobian_moments("linear", 1.3, 0.0, 4, weights="orthogonal", order=3)
    np.testing.assert_allclose(m, [[1.3 ** (k * L) for k in (1, 2, 3)] for L in range(1, 5)], rtol=1e-13)


def test_s_transform_of_marchenko_pastur_is_one_over_one_plus_z():
    catalan = [math.comb(2 * k, k) / (k + 1) for k in range(1, 7)]
    np.testing.assert_allclose(sp.s_transform(catalan), [(-1) ** j for j in range(6)], atol=1e-12)
    np.testing.assert_allclose(sp.moments_from_s(sp.s_transform(catalan)), catalan, rtol=1e-12)


@pytest.mark.parametrize("weights", sp.WEIGHTS)
@pytest.mark.parametrize("act, sigma_b2", [("tanh", 0.05), ("tanh", 1e-4), ("sigmoid", 0.05), ("relu", 0.0)])
def test_closed_form_mean_and_variance_equal_the_series(weights, act, sigma_b2):
    p = critical_point(act, sigma_b2)
    m = sp.jacobian_moments(act, p.sigma_w2, p.sigma_b2, 20, weights=weights, order=3)
    m1, var = sp.jacobian_mean_var(act, p.sigma_w2, p.sigma_b2, 20, weights=weights)
    np.testing.assert_allclose(m[:, 0], m1, rtol=1e-12)
    np.testing.assert_allclose(m[:, 1] - m[:, 0] ** 2, var, rtol=1e-10)
    np.testing.assert_allclose(m1, 1.0, rtol=1e-9)  # chi1 = 1 at the edge of chaos


def test_closed_form_with_per_layer_scales_and_the_q_map_from_the_input():
    p = critical_point("tanh")
    sw2 = [p.sigma_w2_input] + [p.sigma_w2] * 9
    m = sp.jacobian_moments("tanh", sw2, p.sigma_b2, 10, q0=3.0, order=2)
    m1, var = sp.jacobian_mean_var("tanh", sw2, p.sigma_b2, 10, q0=3.0)
    np.testing.assert_allclose(m[:, 0], m1, rtol=1e-12)
    np.testing.assert_allclose(m[:, 1] - m[:, 0] ** 2, var, rtol=1e-10)
    q = qmap("tanh", sw2, p.sigma_b2, 3.0, 10)  # the first layer at sigma_w2_input * 3 + sigma_b2, not q*
    mu1 = [sp.slope_moments("tanh", qi, 1)[0] for qi in q]
    np.testing.assert_allclose(m1, np.cumprod(np.array(sw2) * mu1), rtol=1e-12)
    assert abs(m1[0] - p.sigma_w2_input * sp.slope_moments("tanh", p.q_star, 1)[0]) > 0.01  # q0 matters


def test_orthogonal_spread_per_layer_is_the_slope_spread_and_gaussian_adds_one():
    """Pennington et al. 2018: sigma^2 / m1^2 = L (mu2/mu1^2 - 1 - s1), s1 = -1 (Gaussian) or 0 (orthogonal)."""
    p = critical_point("tanh")
    mu1, mu2 = sp.slope_moments("tanh", p.q_star, 2)
    L = np.arange(1, 33)
    for weights, extra in (("orthogonal", 0.0), ("gaussian", 1.0)):
        m1, var = sp.jacobian_mean_var("tanh", p.sigma_w2, p.sigma_b2, 32, weights=weights)
        np.testing.assert_allclose(var / m1**2, L * (mu2 / mu1**2 - 1 + extra), rtol=1e-10)


def test_slope_moments_by_direct_integration():
    integrate = pytest.importorskip("scipy.integrate")

    q = 0.57
    dens = lambda u: math.exp(-u * u / (2 * q)) / math.sqrt(2 * math.pi * q)  # noqa: E731
    for k, mu in enumerate(sp.slope_moments("tanh", q, 3), start=1):
        want = integrate.quad(lambda u: (1 - math.tanh(u) ** 2) ** (2 * k) * dens(u), -np.inf, np.inf, epsabs=1e-13)[0]
        assert mu == pytest.approx(want, rel=1e-10)


def test_free_product_matches_random_matrices():
    """Products of independent random matrices (free at large n) against the S-transform algebra."""
    rng = np.random.default_rng(7)
    n, reps = 500, 4
    d2 = lambda: (1 - np.tanh(rng.standard_normal(n) * 0.8) ** 2) ** 2  # noqa: E731  a D^2 spectrum, q = 0.64
    got = []
    for _ in range(reps):
        J = np.eye(n)
        for _ in range(3):
            W = rng.standard_normal((n, n)) / math.sqrt(n)
            J = np.sqrt(d2())[:, None] * (W @ J)
        ev = np.linalg.eigvalsh(J @ J.T)
        got.append([np.mean(ev**k) for k in (1, 2, 3)])
    mu = sp.slope_moments("tanh", 0.64, 3)
    want = sp.free_product_moments(*([mu, sp.gram_moments("gaussian", 1.0, 3)] * 3))
    got = np.array(got)
    se = got.std(axis=0, ddof=1) / math.sqrt(reps)  # the draw-to-draw error; the finite-n bias is O(1/n) below it
    assert np.all(np.abs(got.mean(axis=0) - want) <= 4 * se), (got.mean(axis=0), want, se)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sp.jacobian_moments("tanh", 1.5, 0.05, 4, weights="haar"), "weights must be one of gaussian, orthogonal"),
        (lambda: sp.jacobian_moments("tanh", 1.5, 0.05, 0), "depth must be an integer >= 1"),
        (lambda: sp.jacobian_moments("tanh", 1.5, 0.05, 3, order=0), "order must be an integer >= 1"),
        (lambda: sp.jacobian_moments("tanh", [1.5, 1.5], 0.05, 3, q0=1.0), "sigma_w2 must be a number or a sequence of length depth=3"),
        (lambda: sp.jacobian_moments("tanh", [1.5] * 3, 0.05, 3), "with q0=None"),
        (lambda: sp.s_transform([0.0, 1.0]), "m_1 > 0"),
    ],
)
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
