"""The library's one Gaussian quadrature against closed forms, over the range of scales the theory meets.

Every expected value is a closed form of a Gaussian integral, never the module's own output. The
integrands are chosen to stress each part of the rule: a kink at 0 (ReLU), a jump at 0 (its
derivative, and ``sign`` in two dimensions, whose kinks are lines through the origin at angles set
by the correlation), and a spike of width ``1/s`` that only the pieces at the activation's scale
resolve when ``s`` is large.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from winit_bench import gaussian as G
from winit_bench import theory

QS = [1e-8, 1e-3, 0.3, 1.0, 40.0, 1e4, 1e7]


@pytest.mark.parametrize("q", QS)
def test_one_dimensional_expectations_are_exact_to_rounding(q):
    s = math.sqrt(q)
    cases = [
        (lambda u: u * u, q),  # E[u^2] = q
        (lambda u: np.maximum(u, 0.0) ** 2, q / 2),  # ReLU: a kink at 0
        (lambda u: np.maximum(u, 0.0), math.sqrt(q / (2 * math.pi))),
        (lambda u: np.exp(-0.5 * u * u), 1 / math.sqrt(1 + q)),  # width 1/s in z: the activation-scale pieces
    ]
    if q <= 1:  # oscillating integrands at a large scale are no activation's: outside the rule's design
        cases.append((lambda u: np.cos(u), math.exp(-q / 2)))
    for g, exact in cases:
        assert G.gauss_expect(g, q) == pytest.approx(exact, rel=1e-13, abs=1e-300)
        assert G.expect(g, s) == pytest.approx(exact, rel=1e-13)
        assert G.expect(g, -s) == pytest.approx(exact, rel=1e-13)  # z and -z have one law


def test_a_jump_at_zero_is_averaged_in_the_limit_of_zero_variance():
    step = lambda u: (u > 0).astype(float)  # noqa: E731  (ReLU's derivative)
    assert G.gauss_expect(step, 0.0) == 0.5 and G.expect(step, 0.0) == 0.5
    assert G.gauss_expect(step, 1e-12) == pytest.approx(0.5, abs=1e-15)  # half the mass on each side at every q
    assert G.gauss_expect(lambda u: np.exp(u), 0.0) == 1.0  # a smooth g: its value at 0


@pytest.mark.parametrize("q", [1e-3, 1.0, 1e4])
@pytest.mark.parametrize("c", [-1.0, -0.9, -0.3, 0.0, 0.5, 0.99, 1.0])
def test_two_dimensional_expectations_of_correlated_pairs(q, c):
    relu = lambda u: np.maximum(u, 0.0)  # noqa: E731
    spike = lambda u: np.exp(-0.5 * u * u)  # noqa: E731
    # E[sign(u1) sign(u2)] = (2/pi) arcsin(c) (Sheppard): jumps on two lines through the origin
    assert G.gauss_expect2(np.sign, np.sign, q, c) == pytest.approx(2 / math.pi * math.asin(c), abs=2e-15)
    # E[relu(u1) relu(u2)] = q/(2 pi) (sqrt(1 - c^2) + (pi - arccos c) c) (Cho & Saul 2009)
    arccos = q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
    assert G.gauss_expect2(relu, relu, q, c) == pytest.approx(arccos, rel=1e-13, abs=1e-16 * q)
    # E[exp(-(u1^2 + u2^2)/2)] = 1/sqrt(det(I + Sigma)), Sigma = q [[1, c], [c, 1]]
    assert G.gauss_expect2(spike, spike, q, c) == pytest.approx(1 / math.sqrt((1 + q) ** 2 - (q * c) ** 2), rel=1e-13)
    assert G.gauss_expect2(lambda u: u, lambda u: u, q, c) == pytest.approx(q * c, rel=1e-13, abs=1e-16 * q)


@pytest.mark.parametrize("lo,hi", [(-0.01, 0.02), (1.0, 1.001), (30.0, 30.5), (-3.0, -2.999), (2.0, 2.3), (45.0, 45.5), (-60.0, -59.9)])
def test_interval_variance_of_a_narrow_or_far_interval(lo, hi):
    """Where the closed form of the truncated normal cancels, out to tails whose density underflows: against Simpson's rule."""
    x = np.linspace(lo, hi, 200_001)
    w = np.ones_like(x)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w *= np.exp(-0.5 * (x * x - min(lo * lo, hi * hi)))
    mean = float(w @ x / w.sum())
    assert G.interval_variance(lo, hi) == pytest.approx(float(w @ (x - mean) ** 2 / w.sum()), rel=1e-10)


def test_theory_exports_the_same_quadrature():
    assert theory.gauss_expect is G.gauss_expect and theory.gauss_expect2 is G.gauss_expect2
