"""Gaussian expectations ``E[g(z)]``, ``z ~ N(0, 1)``, by quadrature accurate to ~1e-13.

Plain Gauss–Hermite converges slowly for integrands with a kink (ReLU family) or a jump
(their derivatives). Splitting the real line at 0 and integrating each half with Gauss–Legendre
on ``[0, 14]`` (the Gaussian weight below 1e-42 beyond) is exact to double precision for every
activation of the library, smooth or not, whose only non-smooth point is 0.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_CUTOFF = 14.0


@lru_cache(maxsize=8)
def half_line_rule(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x >= 0`` and weights ``w`` with ``sum(w g(x)) ≈ ∫_0^∞ g(x) φ(x) dx``."""
    t, w = np.polynomial.legendre.leggauss(n)
    x = 0.5 * _CUTOFF * (t + 1)
    w = 0.5 * _CUTOFF * w * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@lru_cache(maxsize=8)
def normal_rule(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights over the whole line, split at 0: ``E[g(z)] ≈ sum(w g(x))``."""
    x, w = half_line_rule(n)
    nodes, weights = np.concatenate([-x[::-1], x]), np.concatenate([w[::-1], w])
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def expect(g, scale: float = 1.0, n: int = 256) -> float:
    """``E[g(scale * z)]`` for ``z ~ N(0, 1)``; ``g`` maps a float64 array to an array."""
    x, w = normal_rule(n)
    return float(np.dot(w, g(scale * x)))


def normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def normal_cdf(x: float) -> float:
    """Φ(x), through erfc so that both tails keep their relative precision."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_mass(a: float, b: float) -> float:
    """``Φ(b) - Φ(a)`` without cancellation in either tail."""
    if a >= 0:
        return 0.5 * (math.erfc(a / math.sqrt(2.0)) - math.erfc(b / math.sqrt(2.0)))
    if b <= 0:
        return 0.5 * (math.erfc(-b / math.sqrt(2.0)) - math.erfc(-a / math.sqrt(2.0)))
    return 1.0 - normal_cdf(a) - normal_cdf(-b)
