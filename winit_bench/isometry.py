"""Dynamical isometry measured: the spectrum of the input-output Jacobian against free probability, depth by depth.

For each depth ``l`` of the hidden layers, the squared singular values ``s^2`` of ``J_l = d a[l]/d x``
(:func:`winit_bench.jacobian.jacobian_spectra`) at the samples of ``X``, pooled, give the measured
``mean_s2`` and ``var_s2``; :func:`winit_bench.theory.spectrum.jacobian_moments` gives their
wide-network values ``m1`` and ``m2 - m1^2`` for the network's realised per-layer ``sigma_w2``
(``n_in mean(W^2)``) and ``sigma_b2`` (``mean(b^2)``), the q-map from the input's ``q0 = mean(X^2)``
(so a first layer scaled to reach ``q*``, as the edge-of-chaos initializers do, is followed
exactly), and Gaussian or orthogonal weights (inferred from the weights: :func:`weight_kind`).
The scale-free ``spread = var_s2 / mean_s2^2`` is the quantity of the dynamical-isometry claim: it
grows like ``l (mu2/mu1^2 - 1 - s1)`` (``s1 = -1`` Gaussian, ``0`` orthogonal).

**Finite-width band.** At width ``n`` the measured moments fluctuate from draw to draw and the spread
has a small positive bias. Measured by Monte Carlo (tanh at the edge of chaos, ``sigma_b2 = 0.05``,
Gaussian and orthogonal weights, widths 256, 512 and 1024, depths 1-64, 2 samples per network, 4-16
networks; docs/theory.md, "Dynamical isometry", has the table), the variances of the natural-log
ratios stay below::

    Var ln(mean_s2 / m1)        <= MEAN_A l/n + MEAN_B (l/n)^2
    Var ln(spread / spread_th)  <= SPREAD_A l/n + SPREAD_B (l/n)^2,    0 <= bias <= SPREAD_BIAS l/n

The ``l/n`` term is each layer's own sampling noise (a mean of ``n`` slopes ``f'(z)^2`` has relative
variance ``(mu2/mu1^2 - 1)/n``, independent from layer to layer and from sample to sample); the
``(l/n)^2`` term comes from the weights, shared by every sample (a layer's noise grows with the spread
of the product beneath it, itself ``~ l``). The band is ``sigmas`` (default 3) standard deviations
around 0, the spread's widened upwards by the bias; the coefficients cover the largest values measured
over that grid (Gaussian weights; orthogonal ones fluctuate less) with the ``l/n`` term doubled, so that
one sample (which doubles it) is covered too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import Real
from .jacobian import check_depths, jacobian_spectra
from .theory.spectrum import WEIGHTS, jacobian_moments

BAND_SIGMAS = 3.0
#: the finite-width standard deviations and bias of the log ratios (module docstring)
MEAN_A, MEAN_B = 0.5, 8.0
SPREAD_A, SPREAD_B = 0.5, 2.0
SPREAD_BIAS = 1.5
_ORTHOGONAL_RTOL = 1e-3  # W W^T = c I to this relative accuracy: orthogonal (i.i.d. rows are off by ~1/sqrt(n))


def weight_kind(net, depth: int | None = None) -> str:
    """``"orthogonal"`` when every weight matrix of the first ``depth`` layers is a multiple of an orthogonal one, else ``"gaussian"``.

    Any i.i.d. zero-mean law with finite variance has the Gaussian's (Marchenko-Pastur) spectrum in the
    wide limit, so ``"gaussian"`` stands for all of them.
    """
    xp = net.backend.xp
    for w, _ in net.params()[: depth or net.depth]:
        w = w.astype(xp.float64)
        g = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        c = float(xp.mean(xp.diagonal(g)))
        if not c > 0 or float(xp.max(xp.abs(g - c * xp.eye(g.shape[0])))) > _ORTHOGONAL_RTOL * c:
            return "gaussian"
    return "orthogonal"


def band(depth, width: int, sigmas: float = BAND_SIGMAS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(mean_lo, mean_hi, spread_lo, spread_hi)``: the finite-width band of ``ln(measured / theory)`` (module docstring)."""
    x = np.asarray(depth, dtype=float) / width
    half_mean = sigmas * np.sqrt(MEAN_A * x + MEAN_B * x * x)
    half_spread = sigmas * np.sqrt(SPREAD_A * x + SPREAD_B * x * x)
    return -half_mean, half_mean, -half_spread, SPREAD_BIAS * x + half_spread


def _hidden_depths(net, depths) -> list[int]:
    """The depths to compare (default: every hidden layer), once the layers up to the deepest are known to be square."""
    L, sizes = net.depth, list(net.sizes)
    if L < 2:
        raise ValueError(f"the theory describes hidden layers: the network needs depth >= 2, got sizes {sizes}")
    depths = check_depths(range(1, L) if depths is None else depths, L - 1)
    if len(set(sizes[: depths[-1] + 1])) != 1:
        raise ValueError(f"the theory needs square layers: sizes[0..{depths[-1]}] must be equal, got sizes {sizes}")
    return depths


def isometry_to_theory(net, X, *, depths=None, weights: str | None = None, sigmas: float = BAND_SIGMAS) -> pd.DataFrame:
    """Per depth of the hidden layers, the measured moments of ``s^2`` with the free-probability prediction and its band.

    Columns: ``depth``; measured ``mean_s2, var_s2, spread`` (``var/mean^2``), ``max_s2, min_s2, q05_s2,
    q95_s2`` (pooled quantiles), ``condition`` (median over samples of ``s_max / s_min``); predicted
    ``theory_mean_s2, theory_var_s2, theory_spread``; ``log_ratio_mean, log_ratio_spread`` (natural log,
    measured over predicted) with their bands ``band_mean_lo/hi, band_spread_lo/hi`` and
    ``within_band``. ``depths``: of hidden layers, default ``1..L-1``; ``weights``: ``"gaussian"`` or
    ``"orthogonal"`` (default: :func:`weight_kind`). ``df.attrs`` holds ``weights``, ``q0`` and ``sigmas``.

    >>> import numpy as np, winit_bench as wb
    >>> from winit_bench.isometry import isometry_to_theory
    >>> net = wb.MLP([64] * 10, "tanh", "edge_of_chaos_orthogonal", seed=0, dtype="float64")
    >>> df = isometry_to_theory(net, np.random.default_rng(0).standard_normal((2, 64)), depths=[1, 8])
    >>> df.attrs["weights"], bool(df.within_band.all())
    ('orthogonal', True)
    """
    sigmas = Real(low=0, low_open=True)("sigmas", sigmas)
    if weights is not None and weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)} or None (read from the weights), got {weights!r}")
    depths = _hidden_depths(net, depths)
    deepest = depths[-1]
    spectra = jacobian_spectra(net, X, depths)
    weights = weight_kind(net, deepest) if weights is None else weights
    xp = net.backend.xp
    params = net.params()[:deepest]
    sw2 = [w.shape[1] * float(xp.mean(w.astype(xp.float64) ** 2)) for w, _ in params]
    sb2 = [float(xp.mean(b.astype(xp.float64) ** 2)) for _, b in params]
    x = net.backend.asarray(X, dtype=np.float64)
    q0 = float(xp.mean(x * x))
    m = jacobian_moments(net.activation, sw2, sb2, deepest, weights=weights, q0=q0, order=2)[np.array(depths) - 1]
    rows = []
    for d, s in spectra.items():
        s2 = s * s
        rows.append(dict(depth=d, mean_s2=s2.mean(), var_s2=s2.var(), spread=s2.var() / s2.mean() ** 2, max_s2=s2.max(), min_s2=s2.min(),
                         q05_s2=np.quantile(s2, 0.05), q95_s2=np.quantile(s2, 0.95), condition=float(np.median(s[:, 0] / s[:, -1]))))
    df = pd.DataFrame(rows)
    df["theory_mean_s2"], df["theory_var_s2"] = m[:, 0], m[:, 1] - m[:, 0] ** 2
    df["theory_spread"] = df.theory_var_s2 / df.theory_mean_s2 ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        df["log_ratio_mean"] = np.log(df.mean_s2 / df.theory_mean_s2)
        df["log_ratio_spread"] = np.log(df.spread / df.theory_spread)
    lo, hi, s_lo, s_hi = band(df.depth.to_numpy(), net.sizes[0], sigmas)
    df["band_mean_lo"], df["band_mean_hi"], df["band_spread_lo"], df["band_spread_hi"] = lo, hi, s_lo, s_hi
    df["within_band"] = df.log_ratio_mean.between(lo, hi) & df.log_ratio_spread.between(s_lo, s_hi)
    df.attrs.update(weights=weights, q0=q0, sigmas=sigmas)
    return df


__all__ = ["BAND_SIGMAS", "band", "isometry_to_theory", "weight_kind"]
