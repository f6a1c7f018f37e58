"""Student's t interval of a mean over a few seeds, without SciPy.

``mean ± t_{(1+c)/2, n-1} s / sqrt(n)`` with ``s`` the sample standard deviation (ddof 1): the
interval that covers the mean over all seeds with probability ``c`` when the per-seed values are
normal. The quantile inverts the t distribution's CDF, ``1/2 + ∫_0^x p(t) dt``, integrated by
Gauss-Legendre and bracketed by bisection.

>>> round(t_quantile(0.975, 2), 6)
4.302653
>>> [round(v, 4) for v in t_interval([0.90, 0.92, 0.94])]
[0.92, 0.8703, 0.9697]
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(128)


def _cdf(x: float, dof: int) -> float:
    """``P(T <= x)`` for ``x >= 0``: the density integrated on pieces of width at most 1."""
    c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(dof * math.pi)
    edges = np.linspace(0.0, x, max(2, math.ceil(x) + 1))
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = 0.5 * (hi - lo) * _NODES + 0.5 * (hi + lo)
        total += 0.5 * (hi - lo) * float(np.dot(_WEIGHTS, (1 + t * t / dof) ** (-(dof + 1) / 2)))
    return 0.5 + c * total


@lru_cache(maxsize=64)
def t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile (``0.5 < p < 1``) of Student's t with ``dof >= 1`` degrees of freedom."""
    if not 0.5 < p < 1 or dof < 1:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and dof >= 1, got p={p!r}, dof={dof!r}")
    lo, hi = 0.0, 1.0
    while _cdf(hi, dof) < p:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _cdf(mid, dof) < p else (lo, mid)
    return 0.5 * (lo + hi)


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the values; the bounds are NaN with fewer than two values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half


__all__ = ["t_interval", "t_quantile"]
