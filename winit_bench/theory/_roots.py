"""Root finding for the theory's fixed points and critical lines: bracketed, superlinear, never leaving the bracket."""

from __future__ import annotations

import math


def bracketed_root(fn, a: float, b: float, fa: float, fb: float, xtol: float) -> float:
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


def log_root(h, lo: float, hi: float, h_lo: float, h_hi: float) -> float:
    t = bracketed_root(lambda t: h(math.exp(t)), math.log(lo), math.log(hi), h_lo, h_hi, 1e-14)
    return math.exp(t)

