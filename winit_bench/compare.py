"""Measured second moments against mean-field theory, layer by layer, forward and backward.

For ``z[l] = a[l-1] @ W[l].T + b[l]`` with i.i.d. zero-mean weights, ``sigma_w2[l] = n[l-1] Var(W[l])``
and ``sigma_b2[l]`` the biases' mean square, the second moments ``q = E[x^2]`` (over batch and units)
follow (docs/theory.md, "Variance propagation")::

    forward   q_z[1] = sigma_w2[1] q0 + sigma_b2[1],             q0 = mean(X^2)  (the input is not activated)
              q_z[l] = sigma_w2[l] E[f(sqrt(q_z[l-1]) u)^2] + sigma_b2[l],   u ~ N(0, 1),  l = 2..L
    backward  q_delta[L] = measured (the anchor: it depends on the loss and the target, not on theory)
              q_delta[l] = q_delta[l+1] * n[l+1] Var(W[l+1]) * E[f'(sqrt(q_z[l]) u)^2]
                         = q_delta[l+1] * sigma_w2[l+1] * (n[l+1] / n[l]) * E[f'(sqrt(q_z[l]) u)^2]

The backward recursion uses the *predicted* ``q_z`` and the gradient-independence assumption of
mean-field theory (the ``W`` of the backward pass treated as independent of the forward one, and
the output error independent of the weights). A target drawn independently of the net does not give
that: the mean-squared-error gradient ``δ[L] ∝ out - Y`` contains the output itself, built from the
very weights δ travels back through, and that part grows beyond the prediction even at infinite
width. So without ``Y`` the comparison uses :func:`independent_error_target`, for which
``δ[L]`` is a Gaussian independent of every weight.

**Which sigma_w2.** ``sigma_w2="realised"`` (default) uses ``n_in * mean(W^2)`` of the net's current
weights; ``"initializer"`` uses the initializer's formula (``theory.network_sigma_w2``). The default
is realised because it applies to any weights — after ``set_weights``, LSUV or training, for
initializers theory has no closed form for — and it removes the (tiny, ``~sqrt(2/(n_in n_out))``)
sampling error of the weights, so what is tested is the propagation itself. For a fresh net the two
agree to that sampling error; ``"initializer"`` is the honest a-priori prediction. The biases are
always the realised ones (``mean(b^2)``: the net records no bias variance).

**Finite-width band.** The measured ``log2(q / q_pred)`` fluctuates from seed to seed. The band is
``±BAND_SIGMAS`` standard deviations of that log-ratio, from ``theory.finite_width_band`` when theory
provides one (positively homogeneous activations without biases; second order in ``1/n``, whose
measured error by width is in docs/theory.md, "Finite width"; widened by
:func:`batch_spread_variance`, which theory's single input correlation misses), else from
:func:`log_variance` here: per layer, a mean of ``n`` squared Gaussians has
relative variance ``2/n``, and the log of a mean of ``n`` values ``f(z)^2`` has variance
``kappa/n + (5 kappa^2/2 - mu3)/n^2`` (``theory.unit_moments``, ``theory.log_mean_variance``;
``kappa = 5`` for ReLU gives Hanin & Rolnick's ``exp(5 Σ 1/n_l)`` growth). These add up along the
layers, each earlier contribution carried through the q-map's log-slope. The batch is treated as a
single input (its averaging is ignored), so the band is conservative. The backward band is always
this glue's (theory gives none): per layer a mean of ``n`` values ``(f'(z) g)^2`` with ``g``
Gaussian, whose log has the same second-order variance with that share's ``kappa`` and ``mu3``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import gaussian, theory
from .activations import Activation, get_activation
from .diagnostics import default_target, layer_stats

BAND_SIGMAS = 3.0
SIGMA_W2_MODES = ("realised", "initializer")


# --------------------------------------------------------------------------- Gaussian glue (theory has no per-layer backward map)

_HOMOGENEOUS = ("linear", "relu", "leaky_relu")


def _e(g, q: float) -> float:
    """``E[g(sqrt(q) u)]``, ``u ~ N(0, 1)`` (a negative ``q`` from rounding counts as 0)."""
    return gaussian.gauss_expect(g, max(float(q), 0.0))


def _second_moment(act: Activation, q: float) -> float:
    """``E[f(sqrt(q) u)^2]``."""
    return _e(lambda x: act(x) ** 2, q)


def _slope_moment(act: Activation, q: float) -> float:
    """``E[f'(sqrt(q) u)^2]``."""
    return _e(lambda x: act.derivative(x) ** 2, q)


def _log_slope(act: Activation, q: float) -> float:
    """``d ln E[f(sqrt(q) u)^2] / d ln q`` by a central difference in ``ln q``."""
    if not q > 0:
        return 0.0
    h = 1e-4
    up, down = _second_moment(act, q * math.exp(h)), _second_moment(act, q * math.exp(-h))
    return (math.log(up) - math.log(down)) / (2 * h) if up > 0 and down > 0 else 0.0


def predict_forward(activation, sigma_w2, sigma_b2, q0: float) -> np.ndarray:
    """Predicted ``q_z`` of layers ``1..L``: :func:`winit_bench.theory.qmap` with per-layer ``sigma_w2``, ``sigma_b2``."""
    sw2 = np.asarray(sigma_w2, dtype=float)
    return theory.qmap(activation, sw2, np.asarray(sigma_b2, dtype=float), q0, len(sw2))


def predict_backward(activation, sigma_w2, sizes, q_z_pred, q_delta_out: float) -> np.ndarray:
    """Predicted ``q_delta`` of layers ``1..L`` anchored at the output's ``q_delta_out`` (module docstring).

    ``q_delta[l] = q_delta[l+1] * sigma_w2[l+1] * (n[l+1]/n[l]) * E[f'(sqrt(q_z[l]) u)^2]``; for square
    layers at the fixed point the factor is theory's ``chi1``.
    """
    act = get_activation(activation)
    L = len(sigma_w2)
    out = np.empty(L)
    out[-1] = q_delta_out
    for l in range(L - 2, -1, -1):  # 0-based layer l; its successor l+1 has weights (n[l+2], n[l+1])
        n_next, n_here = sizes[l + 2], sizes[l + 1]
        out[l] = out[l + 1] * sigma_w2[l + 1] * (n_next / n_here) * _slope_moment(act, q_z_pred[l])
    return out


def log_variance(activation, sizes, q_z_pred) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer variance of ``ln(q_z/q_z_pred)`` and ``ln(q_delta/q_delta_pred)`` for one input (module docstring)."""
    act = get_activation(activation)
    L = len(q_z_pred)
    widths = sizes[1:]
    v_fwd = np.empty(L)
    carried = 0.0  # variance of ln of the conditional variance of z[l] given the layer before
    for l in range(L):
        if l > 0:
            q_prev = q_z_pred[l - 1]
            forward, _ = theory.unit_moments(act, q_prev)
            carried = _log_slope(act, q_prev) ** 2 * carried + theory.log_mean_variance(*forward, widths[l - 1])
        v_fwd[l] = carried + 2.0 / widths[l]
    v_bwd = np.zeros(L)
    for l in range(L - 2, -1, -1):
        _, backward = theory.unit_moments(act, q_z_pred[l])
        v_bwd[l] = v_bwd[l + 1] + theory.log_mean_variance(*backward, widths[l])
    return v_fwd, v_bwd


def input_correlation(net, X) -> float:
    """Root-mean-square cosine similarity of distinct inputs of the batch (theory's ``c0``), on the device."""
    xp = net.backend.xp
    Xd = net.backend.asarray(X).astype(xp.float64)
    B = Xd.shape[0]
    if B < 2:
        return 0.0
    norms = xp.sqrt(xp.sum(Xd * Xd, axis=1))
    norms = xp.where(norms > 0, norms, 1.0)
    U = Xd / norms[:, None]
    G = U @ U.T
    off = float(xp.sum(G * G)) - float(xp.sum(xp.diagonal(G) ** 2))
    return min(1.0, math.sqrt(max(off, 0.0) / (B * (B - 1))))


def batch_spread_variance(sizes) -> np.ndarray:
    """Per layer ``l``, ``Σ_{k=2..l} (2/n_k) Σ_{j<k} 1/n_j``: the ln-variance a batch adds as its Gram spreads.

    A layer's ``q̂`` is a mean of ``n_k`` quadratic forms ``w_i^T G w_i`` of the batch Gram ``G`` of its
    input, with relative variance ``2 tr(G^2)/(n_k tr(G)^2)``. Each random layer widens the Gram's
    spectrum: ``tr(G^2)/tr(G)^2`` grows by ``1/n_j`` per layer ``j`` (free multiplicative convolution
    with a Marchenko-Pastur law). A single input correlation ``c0`` carried through the correlation
    map (theory's :func:`~winit_bench.theory.log_ratio_moments`) misses this growth; it matters when the
    batch makes everything else small (linear nets, ``B ~ n``), and is added to theory's variance.
    """
    widths = np.asarray(sizes[1:], dtype=float)
    L = len(widths)
    out = np.zeros(L)
    for l in range(1, L):
        out[l] = out[l - 1] + 2.0 / widths[l] * float(np.sum(1.0 / widths[:l]))
    return out


def forward_band(activation, sizes, batch: int, c0: float, q_z_pred, sigma_b2, r_first: float, sigmas: float):
    """``(lo, hi, source)`` of the band for ``log2(q_z/q_z_pred)`` per layer.

    ``"theory"``: positively homogeneous activations without biases. Layer 1's ratio is sampling noise
    of ``n_1`` units times the batch (:func:`~winit_bench.theory.sampling_log_moments`, variance
    ``(2/B + 2 c0^2 (1 - 1/B))/n_1`` to first order); for ``l >= 2`` theory's
    :func:`~winit_bench.theory.finite_width_band` bounds ``log2(q̂[l]/q̂[1]) - log2(q[l]/q[1])``, so the
    band of ``log2(q̂[l]/q[l])`` is that band shifted by the measured layer-1 ratio ``r_first``, widened
    (in quadrature) by :func:`batch_spread_variance` for a batch of two or more.
    ``"glue"``: every other case, from :func:`log_variance` (single-input, so conservative), centred on 0.
    """
    act = get_activation(activation)
    L = len(q_z_pred)
    if act.name in _HOMOGENEOUS and not np.any(np.asarray(sigma_b2) > 0):
        lo, hi = np.empty(L), np.empty(L)
        mean, var = theory.sampling_log_moments(sizes[1], batch, c0)
        lo[0], hi[0] = (mean - sigmas * math.sqrt(var)) / math.log(2), (mean + sigmas * math.sqrt(var)) / math.log(2)
        spread = batch_spread_variance(sizes) if batch > 1 else np.zeros(L)  # one input's 1 x 1 Gram does not spread
        for l in range(1, L):
            b_lo, b_hi = theory.finite_width_band(sizes[: l + 2], batch, sigmas, activation=act, c0=c0)
            centre, half = 0.5 * (b_lo + b_hi), 0.5 * (b_hi - b_lo)
            half = math.hypot(half, sigmas * math.sqrt(spread[l]) / math.log(2))
            lo[l], hi[l] = centre - half + r_first, centre + half + r_first
        return lo, hi, "theory"
    v_fwd, _ = log_variance(act, sizes, q_z_pred)
    half = sigmas * np.sqrt(v_fwd) / math.log(2)
    return -half, half, "glue"


# --------------------------------------------------------------------------- sigma_w2 from the initializer


def initializer_sigma_w2(net, init_params: dict | None = None) -> np.ndarray:
    """Per-layer ``sigma_w2`` of ``net``'s initializer formula (:func:`winit_bench.theory.network_sigma_w2`).

    The net does not record the initializer's parameters: pass them as ``init_params`` (e.g.
    ``{"std": 0.05}`` for ``normal``), else ``net.init_params`` is used when present, else the defaults.
    Raises ``ValueError`` for schemes the q-map does not describe (constant, ones, identity, ...).
    """
    params = dict(getattr(net, "init_params", None) or {}) if init_params is None else dict(init_params)
    return np.asarray(theory.network_sigma_w2(net.initializer, net.sizes, net.activation, **params), dtype=float)


# --------------------------------------------------------------------------- the comparison


def compare_to_theory(
    net,
    X,
    Y=None,
    *,
    sigma_w2: str = "realised",
    init_params: dict | None = None,
    sigmas: float = BAND_SIGMAS,
) -> pd.DataFrame:
    """Per layer, measured and predicted second moments of ``z`` (forward) and ``δ`` (backward).

    Columns: ``layer, fan_in, fan_out, sigma_w2, sigma_b2``; ``q_z, q_z_pred, log2_ratio_z,
    band_z_lo, band_z_hi, within_band_z``; ``q_a, q_a_pred`` (the output layer's ``a = z``);
    ``q_delta, q_delta_pred, log2_ratio_delta, band_delta_lo, band_delta_hi, within_band_delta``.
    ``log2_ratio = log2(measured / predicted)``; the bands are in the same log2 units, ``sigmas``
    standard deviations of the finite-width fluctuation wide (``df.attrs["band_source"]`` says whether
    the forward band is theory's or this module's glue; the backward band is always the glue's).
    The output layer's ``δ`` is the anchor of the backward prediction (ratio 0, band 0).

    ``sigma_w2="realised"`` (default) or ``"initializer"`` (with ``init_params`` for the scheme's
    parameters): see the module docstring. ``Y=None`` uses :func:`independent_error_target`, an output
    error independent of the weights, as the backward theory assumes. With a given ``Y`` the error
    ``δ[L] ∝ out - Y`` contains the output, which is built from the very weights δ travels back
    through; that part grows beyond the prediction even at infinite width (linear net, LeCun,
    ``Y ~ N(0, 1)`` independent of the net: the k-th layer below the output gains a factor
    ``(k+2)/(k+1)`` over its successor instead of 1).
    """
    if sigma_w2 not in SIGMA_W2_MODES:
        raise ValueError(f"sigma_w2 must be one of {', '.join(SIGMA_W2_MODES)}, got {sigma_w2!r}")
    act = net.activation
    if Y is None:
        Y = independent_error_target(net, X)
    stats = layer_stats(net, X, Y, structure=False)
    sizes = list(net.sizes)
    batch = int(X.shape[0])
    xp = net.backend.xp
    Xd = net.backend.asarray(X).reshape(-1)
    q0 = float(xp.vdot(Xd, Xd)) / Xd.size
    sw2 = stats["sigma_w2"].to_numpy(float) if sigma_w2 == "realised" else initializer_sigma_w2(net, init_params)
    sb2 = stats["sigma_b2"].to_numpy(float)
    q_z_pred = predict_forward(act, sw2, sb2, q0)
    q_z = stats["q_z"].to_numpy(float)
    q_delta = stats["q_delta"].to_numpy(float)
    q_delta_pred = predict_backward(act, sw2, sizes, q_z_pred, q_delta[-1])
    q_a_pred = np.array([_second_moment(act, q) for q in q_z_pred[:-1]] + [q_z_pred[-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        r_z = np.log2(q_z / q_z_pred)
        r_d = np.log2(q_delta / q_delta_pred)
    c0 = input_correlation(net, X)
    z_lo, z_hi, source = forward_band(act, sizes, batch, c0, q_z_pred, sb2, float(r_z[0]), sigmas)
    _, v_bwd = log_variance(act, sizes, q_z_pred)
    d_half = sigmas * np.sqrt(v_bwd) / math.log(2)
    df = pd.DataFrame(
        {
            "layer": stats["layer"],
            "fan_in": stats["fan_in"],
            "fan_out": stats["fan_out"],
            "sigma_w2": sw2,
            "sigma_b2": sb2,
            "q_z": q_z,
            "q_z_pred": q_z_pred,
            "log2_ratio_z": r_z,
            "band_z_lo": z_lo,
            "band_z_hi": z_hi,
            "within_band_z": (r_z >= z_lo) & (r_z <= z_hi),
            "q_a": stats["q_a"].to_numpy(float),
            "q_a_pred": q_a_pred,
            "q_delta": q_delta,
            "q_delta_pred": q_delta_pred,
            "log2_ratio_delta": r_d,
            "band_delta_lo": -d_half,
            "band_delta_hi": d_half,
            "within_band_delta": np.abs(r_d) <= d_half,
        }
    )
    df.attrs.update(stats.attrs, q0=q0, c0=c0, sigma_w2_mode=sigma_w2, band_sigmas=sigmas, band_source=source)
    return df


def independent_error_target(net, X):
    """A target whose output error does not depend on the weights (what the backward theory assumes).

    ``output="linear"``: ``Y = net.forward(X) - G`` with ``G = default_target(net, batch)``, so the
    mean-squared-error gradient at the output is ``δ[L] = 2 G / (batch n_out)``, a Gaussian independent
    of every weight. ``output="softmax"``: the default uniformly random labels (``δ[L] = (p - onehot)/B``
    depends on the logits only through ``p``, weakly when the logits are small: an approximation).
    """
    G = default_target(net, X.shape[0])
    if net.output == "softmax":
        return G
    out = np.asarray(net.backend.to_host(net.forward(X)), dtype=np.float64)
    return (out - G).astype(net.dtype)


__all__ = ["compare_to_theory", "independent_error_target", "initializer_sigma_w2", "forward_band", "input_correlation", "batch_spread_variance", "predict_forward", "predict_backward", "log_variance", "BAND_SIGMAS"]
