"""How good is the finite-width variance of ``ln(q̂[L]/q̂[1])``? Monte Carlo against ``theory.log_ratio_moments``.

Not a timing benchmark: a reproducible measurement (fixed seeds) of the error of the first-order
(Hanin & Rolnick) and of the second-order variance by width, depth, batch and activation, for
networks with Gaussian weights, no bias and square hidden layers ``(n, n, ..., n)``::

    python -m benchmarks.finite_width                          # the table of docs/theory.md
    python -m benchmarks.finite_width --widths 32,64 --batches 1 --activations relu --seeds 20000

Each network is simulated exactly in distribution without drawing its weight matrices: given the
activations ``a`` (``B x n``) of one layer, the next layer's units are i.i.d. ``N(0, (sigma_w2/n) G)``
with ``G = a a^T`` the batch's Gram matrix, so a layer costs ``B n`` normals instead of ``n^2``
(when ``B >= n`` the weights are drawn: that is cheaper). The ``B`` inputs have unit norm and
pairwise cosine ``c0``. One simulation of depth ``max(depths)`` gives every shallower depth
(its prefixes). A network with a dead layer (``q̂ = 0``, probability about ``2^-n`` per ReLU
layer) is left out, as the theory conditions on none (``theory.log_ratio_moments``).

Columns: ``var_mc`` and its standard error ``se_var`` (from the sample's fourth moment),
``var_1`` / ``var_2`` the first- / second-order theory, ``err_1`` / ``err_2`` their relative
errors ``var_k / var_mc - 1``, ``err_band`` that of the variance behind ``compare_to_theory``'s band
(``compare.forward_band``: ``var_2`` widened by ``compare.batch_spread_variance`` for a batch), and ``mean_mc``, ``mean_1``,
``mean_2`` likewise for the mean. ``--summary`` prints instead the mean of each error over the
depths, by activation, batch and width (the table of docs/theory.md).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import pandas as pd

from winit_bench import theory
from winit_bench.compare import forward_band
from winit_bench.activations import get_activation
from winit_bench.gaussian import expect

ACTIVATIONS = ("relu", "leaky_relu", "linear")
CHUNK = 4_000_000  # floats of one block of seeds x batch x width


def _gram_root(G: np.ndarray) -> np.ndarray:
    """``R`` with ``R R^T = G`` for a stack of positive semi-definite matrices (Cholesky; eigh if one is singular)."""
    try:
        return np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        lam, V = np.linalg.eigh(G)
        return V * np.sqrt(np.clip(lam, 0.0, None))[..., None, :]


def simulate_q(width: int, depth: int, batch: int, activation: str, c0: float, seeds: int, seed: int = 0) -> np.ndarray:
    """``q̂[l]``, ``l = 1..depth``, of ``seeds`` networks of widths ``(width,) * (depth + 1)``: shape ``(seeds, depth)``.

    ``sigma_w2 = 1/E[f(u)^2]`` on layers 2.., so that the mean-field ratio ``q[L]/q[1]`` is 1.
    """
    act = get_activation(activation)
    sw2 = 1.0 / expect(lambda u: act(u) ** 2)
    rng = np.random.default_rng([seed, width, depth, batch, round(c0 * 1e6)])
    G0 = np.full((batch, batch), c0) + (1 - c0) * np.eye(batch)
    R0 = _gram_root(G0)
    out = np.empty((seeds, depth))
    step = max(1, CHUNK // (batch * width))
    for s0 in range(0, seeds, step):
        S = min(step, seeds - s0)
        z = R0 @ rng.standard_normal((S, batch, width)) / math.sqrt(width)
        for l in range(depth):
            out[s0 : s0 + S, l] = np.mean(z * z, axis=(1, 2))
            if l + 1 == depth:
                break
            a = act(z)
            if batch < width:
                R = _gram_root(a @ a.transpose(0, 2, 1))
                z = R @ rng.standard_normal((S, batch, width)) * math.sqrt(sw2 / width)
            else:
                z = a @ rng.standard_normal((S, width, width)).transpose(0, 2, 1) * math.sqrt(sw2 / width)
    return out


def _var_se(x: np.ndarray) -> tuple[float, float]:
    """Sample variance and its standard error ``sqrt((m4 - v^2)/N)``."""
    d = x - x.mean()
    v = float(np.mean(d * d))
    return v * len(x) / (len(x) - 1), math.sqrt(max(float(np.mean(d**4)) - v * v, 0.0) / len(x))


def measure(width: int, depths, batch: int, activation: str, c0: float, seeds: int, seed: int = 0) -> list[dict]:
    """One row per depth: Monte-Carlo mean and variance of ``ln(q̂[L]/q̂[1])`` against the theory's."""
    depths = sorted(depths)
    q = simulate_q(width, depths[-1], batch, activation, c0, seeds, seed)
    alive = np.all(q > 0, axis=1)
    rows = []
    for L in depths:
        r = np.log(q[alive, L - 1] / q[alive, 0])
        var_mc, se = _var_se(r)
        sizes = (width,) * (L + 1)
        m1, v1 = theory.log_ratio_moments(sizes, batch, activation=activation, c0=c0, order=1)
        m2, v2 = theory.log_ratio_moments(sizes, batch, activation=activation, c0=c0, order=2)
        lo, hi, _ = forward_band(activation, list(sizes), batch, c0, np.ones(L), np.zeros(L), 0.0, 1.0)
        band = (0.5 * (hi[-1] - lo[-1]) * math.log(2)) ** 2  # compare_to_theory's band at one sigma, in ln units
        rows.append(dict(activation=activation, width=width, depth=L, batch=batch, c0=c0, seeds=int(alive.sum()),
                         var_mc=var_mc, se_var=se, var_1=v1, var_2=v2, err_1=v1 / var_mc - 1, err_2=v2 / var_mc - 1,
                         err_band=band / var_mc - 1,
                         mean_mc=float(r.mean()), se_mean=float(r.std() / math.sqrt(len(r))), mean_1=m1, mean_2=m2))
    return rows


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=_ints, default=[16, 32, 64, 128, 256])
    p.add_argument("--depths", type=_ints, default=[3, 6, 10, 20])
    p.add_argument("--batches", type=_ints, default=[1, 8, 32])
    p.add_argument("--activations", default=",".join(ACTIVATIONS))
    p.add_argument("--c0", type=float, default=0.0, help="cosine of distinct inputs (default 0)")
    p.add_argument("--seeds", type=int, default=20000, help="networks per configuration (default 20000)")
    p.add_argument("--csv", help="also write the table here")
    p.add_argument("--summary", action="store_true", help="print the errors averaged over the depths")
    a = p.parse_args(argv)
    rows = []
    for act in a.activations.split(","):
        for batch in a.batches:
            for width in a.widths:
                rows += measure(width, a.depths, batch, act, a.c0, a.seeds)
                print(pd.DataFrame(rows[-len(a.depths) :]).to_string(index=False, float_format="%.4g"), file=sys.stderr)
    df = pd.DataFrame(rows)
    if a.csv:
        df.to_csv(a.csv, index=False)
    print(summary(df).to_string(index=False) if a.summary else df.to_string(index=False, float_format="%.4g"))
    return 0


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Relative errors (%) averaged over the depths, by activation, c0, batch and width; ``se`` the typical one of ``var_mc``."""
    df = df.assign(se=df.se_var / df.var_mc, mean_err_1=df.mean_1 / df.mean_mc - 1, mean_err_2=df.mean_2 / df.mean_mc - 1)
    cols = ["err_1", "err_2", "err_band", "se", "mean_err_1", "mean_err_2"]
    out = df.groupby(["activation", "c0", "batch", "width"], as_index=False)[cols].mean()
    out[cols] = (100 * out[cols]).round(1)
    return out


if __name__ == "__main__":
    sys.exit(main())
