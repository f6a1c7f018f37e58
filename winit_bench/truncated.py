"""The normal distribution truncated to ``[a, b]``: its mean and standard deviation in closed form, and an exact sampler.

Both serve :func:`winit_bench.initializers.truncated_normal`, whose realised std is the requested
one because the parent is scaled by ``1 / truncnorm_std(a, b)``.
"""

from __future__ import annotations

import math

import numpy as np

from .gaussian import interval_variance, normal_mass, normal_pdf


def truncnorm_std(a: float, b: float) -> float:
    """Standard deviation of ``N(0, 1)`` truncated to ``[a, b]``.

    ``Var = 1 + (a φ(a) - b φ(b))/Z - ((φ(a) - φ(b))/Z)^2`` with ``Z = Φ(b) - Φ(a)``;
    ``truncnorm_std(-2, 2) = 0.87962566103423978``.
    """
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or a >= b:
        raise ValueError(f"truncation bounds need a < b, got a={a!r}, b={b!r}")
    z = normal_mass(a, b)
    if z <= 0:
        raise ValueError(f"the bounds [{a}, {b}] hold no probability mass in float64; move them closer to 0")
    pa, pb = normal_pdf(a), normal_pdf(b)
    apa = 0.0 if math.isinf(a) else a * pa
    bpb = 0.0 if math.isinf(b) else b * pb
    mean = truncnorm_mean(a, b)
    var = 1.0 + (apa - bpb) / z - mean * mean
    if var < 0.05:  # narrow or far-tail interval: the closed form cancels; integrate centred moments instead
        lo = a if math.isfinite(a) else b - 80.0  # the mass beyond 80 σ past the finite bound is nil
        var = interval_variance(lo, b if math.isfinite(b) else a + 80.0)
    return math.sqrt(var)


def truncnorm_mean(a: float, b: float) -> float:
    """Mean of ``N(0, 1)`` truncated to ``[a, b]``: ``(φ(a) - φ(b)) / (Φ(b) - Φ(a))`` (bounds as :func:`truncnorm_std` checks them)."""
    return (normal_pdf(a) - normal_pdf(b)) / normal_mass(a, b)


def truncated_sampler(rng, a: float, b: float):
    """``fill(x)``: ``x[:]`` drawn from ``N(0, 1)`` conditioned on ``[a, b]``, by rejection from the cheapest of three proposals.

    Normal proposal when ``[a, b]`` holds enough mass; uniform on ``[a, b]`` for narrow intervals;
    Robert's (1995) translated exponential for far tails. Each rejected position is redrawn until
    accepted (an exact sample); values are never clamped.
    """
    if not a < b:
        raise ValueError(f"truncation bounds need a < b, got a={a}, b={b}")
    if b <= 0:  # mirror a left tail onto the right
        right = truncated_sampler(rng, -b, -a)

        def fill_mirrored(x):
            right(x)
            np.negative(x, out=x)

        return fill_mirrored
    mass = normal_mass(a, b)
    nearest = 0.0 if a <= 0 <= b else a
    uniform_rate = mass / ((b - a) * normal_pdf(nearest)) if math.isfinite(b - a) else 0.0
    if mass >= 0.3 or (mass >= uniform_rate and a <= 0):
        propose = rng.standard_normal
        reject = lambda x: (x < a) | (x > b)  # noqa: E731
    elif uniform_rate >= 0.3:
        propose = lambda m: a + (b - a) * rng.random(m)  # noqa: E731
        reject = lambda x: rng.random(x.size) > np.exp(0.5 * (nearest * nearest - x * x))  # noqa: E731
    else:  # right tail, a > 0
        lam = 0.5 * (a + math.sqrt(a * a + 4))
        propose = lambda m: a + rng.exponential(1 / lam, m)  # noqa: E731
        reject = lambda x: (x > b) | (rng.random(x.size) > np.exp(-0.5 * (x - lam) ** 2))  # noqa: E731

    def fill(x):
        if propose == rng.standard_normal:
            rng.standard_normal(out=x)
        else:
            x[...] = propose(x.size)
        redo = np.flatnonzero(reject(x))
        while redo.size:
            y = propose(redo.size)
            x[redo] = y
            redo = redo[reject(y)]

    return fill
