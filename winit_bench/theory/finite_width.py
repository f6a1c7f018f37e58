"""Finite width: the seed-to-seed spread of the measured q-map ratios (Hanin & Rolnick 2018), to second order in ``1/n``."""

from __future__ import annotations

import math

import numpy as np

from numpy.typing import ArrayLike

from ..activations import Activation
from ..gaussian import expect, gauss_expect, gauss_expect2
from ._checks import check_sizes, correlation, get_act, is_homogeneous
from .correlations import cmap
from .q_map import _mean_f2


def _fourth_moment_terms(act: Activation, c: float) -> tuple[float, float]:
    """``rho4(c) = E[f(u1)^2 f(u2)^2]/E[f^2]^2 - 1`` and ``gamma(c) = E[f(u1)^2 u2^2]/E[f^2] - 1`` at unit q."""
    m2 = _mean_f2(act, 1.0)
    f2 = lambda u: act(u) ** 2  # noqa: E731
    rho4 = gauss_expect2(f2, f2, 1.0, c) / (m2 * m2) - 1
    gamma = gauss_expect2(f2, lambda u: u * u, 1.0, c) / m2 - 1
    return rho4, gamma


def _unit_cumulants(act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """Central moments of one unit's ``(g, h) = (f(u)^2/E[f^2], u^2)``, ``u ~ N(0, 1)``: ``k2`` (2 x 2), ``k3`` (2 x 2 x 2).

    ``k2[0, 0]`` is ``kappa``, ``k3[0, 0, 0]`` the third central moment ``mu3`` of ``g``;
    ``h = u^2`` is the unit's contribution to ``q̂`` (``kappa = 2``, ``mu3 = 8``).
    """
    m2 = _mean_f2(act, 1.0)
    parts = (lambda u: act(u) ** 2 / m2 - 1, lambda u: u * u - 1)
    k2 = np.array([[expect(lambda u: p(u) * r(u)) for r in parts] for p in parts])
    k3 = np.array([[[expect(lambda u: p(u) * r(u) * s(u)) for s in parts] for r in parts] for p in parts])
    return k2, k3


def _batch_and_order(batch, order) -> int:
    """The batch size as an int, after checking it and the order of the expansion."""
    B = int(batch)
    if B < 1 or B != batch:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    return B


def _log_mean_moments(a, k2: np.ndarray, k3: np.ndarray | None, n: float) -> tuple[float, float]:
    """Mean and variance of ``sum_i a_i ln X̄_i``, ``X̄`` the mean of ``n`` i.i.d. vectors with mean 1.

    The delta method (a Taylor expansion of ``ln`` to fourth order, the moments of a mean of ``n``
    i.i.d. terms: ``E e_i e_j = k2_ij/n``, ``E e_i e_j e_k = k3_ijk/n^2``, fourth moments
    ``(k2 k2 + 2 perm.)/n^2 + O(n^-3)``)::

        mean = -1/(2n) sum a_i k2_ii + 1/n^2 sum a_i (k3_iii/3 - 3 k2_ii^2/4)
        var  = 1/n sum a_i a_j k2_ij + 1/n^2 sum a_i a_j (k2_ij^2/2 + 2 k2_ij k2_jj - k3_ijj)

    with an error ``O(n^-3)``; ``k3 = None`` stops at ``1/n``. One mean (``a = (1,)``):
    ``Var ln X̄ = kappa/n + (5 kappa^2/2 - mu3)/n^2``.
    """
    a = np.asarray(a, dtype=float)
    d = np.diag(k2)
    mean, var = -0.5 * float(a @ d) / n, float(a @ k2 @ a) / n
    if k3 is not None:
        mean += float(a @ (np.einsum("iii->i", k3) / 3 - 0.75 * d * d)) / n**2
        var += float(a @ (0.5 * k2 * k2 + 2 * k2 * d - np.einsum("ijj->ij", k3)) @ a) / n**2
    return mean, var


def unit_moments(activation: str | Activation, q: float = 1.0) -> tuple[tuple[float, float], tuple[float, float]]:
    """Forward and backward ``(kappa, mu3)`` of one unit, ``u ~ N(0, q)``: variance and third central moment of its share of a layer's factor.

    A layer multiplies the second moment of the signal by the mean of ``n`` such shares, each of mean 1:
    forward ``g = f(u)^2 / E[f^2]``; backward ``g = (f'(u) h)^2 / E[f'^2]``, ``h ~ N(0, 1)`` independent
    (``E h^4 = 3``, ``E h^6 = 15``). ReLU: ``(5, 44)`` both ways; linear: ``(2, 8)``. ``(0, 0)`` where
    the unit passes nothing (``E[f^2] = 0``).

    >>> [round(x, 12) for pair in unit_moments("relu") for x in pair]
    [5.0, 44.0, 5.0, 44.0]
    """
    act = get_act(activation)
    q = max(float(q), 0.0)

    def shares(fn, h4: float, h6: float) -> tuple[float, float]:
        m1, m2, m3 = (gauss_expect(lambda u: fn(u) ** (2 * k), q, kinks=act.kinks) for k in (1, 2, 3))
        if not m1 > 0:
            return 0.0, 0.0
        e2, e3 = h4 * m2 / (m1 * m1), h6 * m3 / (m1 * m1 * m1)  # E[g^2], E[g^3]
        return max(e2 - 1.0, 0.0), e3 - 3.0 * e2 + 2.0

    return shares(act, 1.0, 1.0), shares(act.derivative, 3.0, 15.0)


def log_mean_variance(kappa: float, mu3: float, n: float, *, order: int = 2) -> float:
    """``Var ln X̄`` for ``X̄`` the mean of ``n`` i.i.d. values of mean 1, variance ``kappa``, third central moment ``mu3``.

    ``kappa/n + (5 kappa^2/2 - mu3)/n^2`` (the delta method, error ``O(n^-3)``); ``order=1`` stops at
    ``kappa/n``, Hanin & Rolnick's first order. Never negative.

    >>> round(log_mean_variance(5.0, 44.0, 32), 6)  # one ReLU layer of width 32: 5/32 + 18.5/32^2
    0.174316
    """
    _batch_and_order(1, order)
    return max(_log_mean_moments((1.0,), np.array([[kappa]]), None if order == 1 else np.array([[[mu3]]]), float(n))[1], 0.0)


def log_ratio_moments(
    sizes: ArrayLike, batch: int = 1, *, activation: str | Activation = "relu", c0: float = 0.0, order: int = 2
) -> tuple[float, float]:
    """Mean and variance of ``ln(q̂[L]/q̂[1]) - ln(q[L]/q[1])`` across seeds, to second order in ``1/n``.

    ``q̂[l]`` is the empirical second moment of layer ``l``'s pre-activations over ``batch`` inputs
    and ``n_l`` units of one network; ``q[l]`` the mean-field prediction (which is exact in
    expectation here). Assumes Gaussian weights, no bias and a positively homogeneous activation
    (ReLU, leaky ReLU, linear), so the ratio does not depend on ``sigma_w2``; ``sizes = (n_0, ..., n_L)``.
    ``order=1`` stops at ``1/n`` (Hanin & Rolnick), ``order=2`` (default) adds the ``1/n^2`` terms.

    Per hidden layer the squared activation length is multiplied by ``F_l``, the mean of ``n_l``
    i.i.d. ``g = f(u)^2/E[f^2]``, ``u ~ N(0, 1)``: ``E g = 1``, ``Var g = kappa = E[f^4]/E[f^2]^2 - 1``,
    **5 for ReLU**, 2 for linear. Hanin & Rolnick (2018, "How to start training", NeurIPS; failure
    mode FM2) prove that the fluctuation of the activation length of a ReLU net initialised with
    variance ``2/fan_in`` is exponential in ``beta = sum_j 1/n_j``, with constants set by the weights'
    fourth moment; for Gaussian weights the constant is this 5 (``E[M^2]/E[M]^2 ≈ exp(5 beta)``, as in
    Hanin & Nica 2019): to first order ``Var[ln(q̂[L]/q̂[1])] ≈ 5 sum_{l<L} 1/n_l`` plus sampling terms.

    **One input** (or ``c0 = 1``): by homogeneity the scale of a layer factors out, so the ``F_l`` are
    exactly independent and the log-ratio is a sum of independent terms: layer 1's
    ``ln(F_1/Q_1)`` (``Q_1 = q̂[1]/q[1]``, the mean of ``u^2`` over the same units), the hidden
    ``ln F_l`` and the output's ``ln Q_L``. Each comes from :func:`_log_mean_moments` (the delta
    method to fourth order), e.g. ``Var ln F_l = kappa/n_l + (5 kappa^2/2 - mu3)/n_l^2`` with ``mu3``
    the third central moment of ``g`` (ReLU: 44, so ``+18.5/n^2``, +12 % at ``n = 32``). Error
    ``O(n^-3)``: for ReLU the exact law (a chi-square over a Binomial number of active units per
    layer) gives the relative error of the variance below; the tests enforce the ``~8x`` decrease of
    the error per doubling of the width and ``< 2 %`` at width 32 (``tests/test_finite_width.py``)::

        width                    16      32      64     128     256
        first order  (variance) -26 %   -12 %   -5.9 %  -2.9 %  -1.5 %
        second order (variance) -8.3 %  -1.8 %  -0.43 % -0.11 % -0.03 %

    That law, and this expansion, are conditional on no dead layer: with probability ``2^-n_l`` a
    ReLU layer has no active unit, every later ``q̂`` is 0 and the log-ratio ``-inf``.

    **A batch** enters twice. The sampling noise of ``q̂``: ``Var(z^2)/E[z^2]^2 = 2`` per unit, over
    ``n_l`` units and the batch. And the averaging over inputs: two inputs whose pre-activations
    correlate with ``c`` share part of each layer's fluctuation (``rho4(c)``, 0 at ``c = 0``,
    ``kappa`` at ``c = 1``); ``c0`` is the correlation (cosine similarity) of distinct inputs, and
    deeper layers' correlations follow the correlation map of ``f``. That is the first order. Its
    ``1/n^2`` terms are not derived here (the per-layer fluctuation then depends on the batch's
    fluctuating Gram matrix, which couples the layers): ``order=2`` scales the first-order mean and
    variance by the one-input ratio of second to first order, a rule measured by Monte Carlo
    (``benchmarks/finite_width.py``; docs/theory.md, "Finite width"). For ReLU and leaky ReLU,
    batches of 8 and 32 inputs with ``c0 = 0``, widths 16-256 and depths 3-20 it is within 4.2 % of
    the simulated variance from width 32 on, 8 % at width 16 (first order: 21 % low at width 16,
    10 % at 32, 6 % at 64); its mean is 6-17 % too small in size at width 16 and up to 9 % at 32,
    within the Monte-Carlo noise beyond. For linear
    networks a batch's variance is dominated by another ``1/n^2`` term, the spreading of the batch's
    Gram matrix from layer to layer, which this function leaves out (35-86 % low, even at width 256;
    ``compare.batch_spread_variance`` adds it to the band).

    Non-Gaussian weights add a term of order ``1/(n_l n_{l-1})`` (their fourth moment), not included.

    >>> mean, var = log_ratio_moments((32,) * 7)  # ReLU, one input, L = 6: (L-1) (5/32 + 18.5/32^2)
    >>> round(var, 4), round(log_ratio_moments((32,) * 7, order=1)[1], 4)
    (0.8716, 0.7813)
    """
    act = get_act(activation)
    if not is_homogeneous(act):
        raise ValueError(f"log_ratio_moments needs a positively homogeneous activation (relu, leaky_relu, linear), got {act}")
    n = np.array(check_sizes(sizes)[1:], dtype=float)
    B, c = _batch_and_order(batch, order), correlation(c0)
    if len(n) == 1:
        return 0.0, 0.0
    k2, k3 = _unit_cumulants(act)
    if B == 1 or c == 1.0:  # identical inputs are one input
        return _one_input(k2, k3 if order == 2 else None, n)
    mean, var = _batch_first_order(act, k2, n, B, c)
    if order == 2:  # not derived for a batch: the one-input ratio of second to first order, as measured (docstring)
        (m1, v1), (m2, v2) = _one_input(k2, None, n), _one_input(k2, k3, n)
        mean, var = mean * m2 / m1, var * v2 / v1
    return mean, var


def _one_input(k2: np.ndarray, k3: np.ndarray | None, n: np.ndarray) -> tuple[float, float]:
    """One input: independent factors, layer 1's ``ln(F_1/(q̂[1]/q[1]))``, the hidden ``ln F_l``, the output's ``ln q̂``."""
    terms = [_log_mean_moments((1.0, -1.0), k2, k3, n[0])]
    terms += [_log_mean_moments((1.0,), k2[:1, :1], None if k3 is None else k3[:1, :1, :1], m) for m in n[1:-1]]
    terms.append(_log_mean_moments((1.0,), k2[1:, 1:], None if k3 is None else k3[1:, 1:, 1:], n[-1]))
    return float(sum(t[0] for t in terms)), float(sum(t[1] for t in terms))


def _batch_first_order(act: Activation, k2: np.ndarray, n: np.ndarray, B: int, c: float) -> tuple[float, float]:
    """``B`` inputs of correlation ``c``: the one-input cumulants averaged over the ``B^2`` pairs, first order."""

    def avg(same: float, other: float) -> float:
        return same / B + (1 - 1 / B) * other

    corrs = [c]
    for _ in range(len(n) - 1):
        corrs.append(cmap(act, 1.0, 0.0, corrs[-1], q=1.0))
    rho, gamma = zip(*(_fourth_moment_terms(act, cl) for cl in corrs[:-1]))
    first = np.array([[avg(k2[0, 0], rho[0]), avg(k2[0, 1], gamma[0])], [avg(k2[0, 1], gamma[0]), avg(2.0, 2 * c * c)]])
    terms = [_log_mean_moments((1.0, -1.0), first, None, n[0])]
    terms += [_log_mean_moments((1.0,), np.array([[avg(k2[0, 0], r)]]), None, m) for r, m in zip(rho[1:], n[1:-1])]
    terms.append(_log_mean_moments((1.0,), np.array([[avg(2.0, 2 * corrs[-1] ** 2)]]), None, n[-1]))
    return float(sum(t[0] for t in terms)), float(sum(t[1] for t in terms))


def sampling_log_moments(n: int, batch: int = 1, c0: float = 0.0, *, order: int = 2) -> tuple[float, float]:
    """Mean and variance of ``ln(q̂/q)`` of one layer of ``n`` units over ``batch`` inputs of pairwise correlation ``c0``.

    Given the layer's input, its units are i.i.d.: ``q̂`` is the mean of ``n`` quadratic forms
    ``h = z^T z / B``, ``z ~ N(0, q G)``, ``G`` the inputs' Gram matrix (unit diagonal, ``c0`` off
    it), so ``Var h/E[h]^2 = 2 tr(G^2)/tr(G)^2`` and its third central moment is ``8 tr(G^3)/tr(G)^3``
    (eigenvalues ``1 + (B-1) c0`` once and ``1 - c0`` ``B - 1`` times). Exact to ``O(n^-3)`` at
    ``order=2`` (:func:`_log_mean_moments`); one input: ``Var = 2/n + 2/n^2``.

    >>> sampling_log_moments(32)[1] == 2 / 32 + 2 / 32**2
    True
    """
    B, c = _batch_and_order(batch, order), correlation(c0)
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be a positive integer (the layer's width), got {n!r}")
    if 1 + (B - 1) * c < 0:
        raise ValueError(f"c0 must be >= -1/(batch - 1) = {-1 / (B - 1):.4g} for {B} inputs "
                         f"(their Gram matrix is positive semi-definite), got {c0!r}")
    lam = np.array([1 + (B - 1) * c] + [1 - c] * (B - 1))
    k2 = np.array([[2 * np.sum(lam**2) / B**2]])
    k3 = np.array([[[8 * np.sum(lam**3) / B**3]]]) if order == 2 else None
    return _log_mean_moments((1.0,), k2, k3, float(n))


def finite_width_band(
    sizes: ArrayLike,
    batch: int = 1,
    n_std: float = 3.0,
    *,
    activation: str | Activation = "relu",
    c0: float = 0.0,
    order: int = 2,
) -> tuple[float, float]:
    """Band ``(lo, hi)``, in log2 units, for ``log2(q̂[L]/q̂[1]) - log2(q[L]/q[1])`` of one seed.

    Centre and width from :func:`log_ratio_moments` (mean ``± n_std`` standard deviations): a
    measured ratio outside the band is unlikely to be finite-width noise. The centre sits below 0:
    the mean of ``q̂`` is preserved, so its logarithm drifts down by half its variance.
    """
    if not n_std >= 0:
        raise ValueError(f"n_std must be >= 0, got {n_std!r}")
    mean, var = log_ratio_moments(sizes, batch, activation=activation, c0=c0, order=order)
    half = n_std * math.sqrt(var)
    return (mean - half) / math.log(2), (mean + half) / math.log(2)
