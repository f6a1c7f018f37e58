"""Numbers the study reports, each held against a value computed another way (docs/mutation-checklist.md).

Where the biases come from, the saturated fraction of both tails, compare_to_theory's ``q_a_pred``
and the sparse initializer's σ_w² with a non-integer number of zeros per column: each check fails
under a realistic one-line change that the rest of the suite lets through.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import numpy_reference as ref
import winit_bench as wb
from winit_bench.diagnostics import TARGET_SPAWN_KEY
from winit_bench.theory import initializer_sigma_w2


@pytest.mark.parametrize("init", ["normal", "lecun_normal"])
def test_biases_are_their_own_stream_and_normal(init):
    """``b = bias + bias_std N(0, 1)`` from the stream ``SeedSequence(seed, spawn_key=(l, 1))``, independent
    of the layer's weights (``(l,)``): drawn from the weights' stream, ``b`` would copy their first draws."""
    seed, bias, bias_std, width, depth = 3, 0.3, 0.5, 256, 8
    net = wb.MLP([width] * (depth + 1), "tanh", init, seed=seed, dtype="float64", bias=bias, bias_std=bias_std)
    params = net.weights()
    for l, (_, b) in enumerate(params):
        u = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(l, 1))).standard_normal(width)
        np.testing.assert_allclose(b, bias + bias_std * u, rtol=1e-15, atol=1e-15)
    u = np.concatenate([(b - bias) / bias_std for _, b in params])
    first = np.concatenate([w.ravel()[:width] / w.std() for w, _ in params])  # the weights' first draws, standardised
    n = u.size
    assert abs(np.corrcoef(u, first)[0, 1]) < 4 / math.sqrt(n)
    assert abs(np.corrcoef(u[:-width], u[width:])[0, 1]) < 4 / math.sqrt(n)  # layer l against layer l+1
    assert abs(u.mean()) < 4 / math.sqrt(n)
    assert abs(u.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(np.mean(u**4) - 3) < 4 * math.sqrt(96 / n)
    other = wb.MLP([width] * (depth + 1), "tanh", "xavier_uniform", seed=seed, dtype="float64", bias=bias, bias_std=bias_std)
    for (_, b), (_, c) in zip(params, other.weights()):
        np.testing.assert_array_equal(b, c)  # the stream depends on seed and layer only


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_saturated_fraction_counts_both_tails(act):
    """normal(std=1) weights drive units into both tails: sigmoid ``a`` outside [0.01, 0.99], tanh ``|a| > 0.99``."""
    width, depth, batch = 64, 6, 48
    net = wb.MLP([width] * (depth + 1), act, "normal", seed=1, dtype="float64", std=1.0)
    X = np.random.default_rng(5).standard_normal((batch, width))
    stats = wb.layer_stats(net, X)
    f = ref.ACTIVATIONS[act][0]
    lo, hi = ref.SIGMOID_BAND if act == "sigmoid" else (-ref.TANH_SATURATION, ref.TANH_SATURATION)
    a, want, low = X, [], []
    for w, b in net.weights()[:-1]:
        a = f(a @ w.T + b)
        want.append(np.mean((a < lo) | (a > hi)))
        low.append(np.mean(a < lo))
    np.testing.assert_allclose(stats.saturated_fraction.to_numpy()[:-1], want, rtol=1e-12)
    assert math.isnan(stats.saturated_fraction.iloc[-1])  # the linear output layer
    assert min(low) > 0.1  # the low tail matters: a one-sided count is far off


def test_compare_to_theory_predictions_against_own_quadrature():
    """``q_z_pred`` (q-map, realised σ_w²), ``q_a_pred[l] = E[f(sqrt(q_z_pred[l]) u)^2]`` (the output: ``q_z_pred[L]``)
    and ``q_delta_pred`` (χ-recursion from the measured output δ), recomputed with this file's own quadrature."""
    width, depth, batch, act = 64, 6, 32, "sigmoid"
    net = wb.MLP([width] * (depth + 1), act, "lecun_normal", seed=2, dtype="float64")
    X = np.random.default_rng(9).standard_normal((batch, width))
    df = wb.compare_to_theory(net, X)
    W = [w for w, _ in net.weights()]
    sw2 = np.array([width * np.mean(w * w) for w in W])
    q_z_pred = ref.qmap(act, sw2, np.mean(X * X))
    f = ref.ACTIVATIONS[act][0]
    q_a_pred = [ref.expect(lambda x: f(x) ** 2, q) for q in q_z_pred[:-1]] + [q_z_pred[-1]]
    G = np.random.default_rng(np.random.SeedSequence(2, spawn_key=TARGET_SPAWN_KEY)).standard_normal((batch, width))
    zs, As = ref.forward(W, X, act)
    deltas, _, _ = ref.backward(W, X, zs, As, 2.0 * G / G.size, act)
    q_delta = np.array([np.mean(d * d) for d in deltas])
    np.testing.assert_allclose(df.sigma_w2, sw2, rtol=1e-12)
    np.testing.assert_allclose(df.q_z_pred, q_z_pred, rtol=1e-9)
    np.testing.assert_allclose(df.q_a_pred, q_a_pred, rtol=1e-9)
    assert abs(q_a_pred[0] / q_a_pred[1] - 1) > 1e-3  # the layers differ: an off-by-one shows
    np.testing.assert_allclose(df.q_a, [np.mean(a * a) for a in As], rtol=1e-9)
    np.testing.assert_allclose(df.q_delta, q_delta, rtol=1e-9)
    np.testing.assert_allclose(df.q_delta_pred, ref.chi_backward(act, sw2, q_z_pred, q_delta[-1]), rtol=1e-9)


def test_sparse_sigma_w2_counts_whole_zeros_per_column():
    """sparse puts ``ceil(s n_out)`` zeros in each column, so ``σ_w² = n_in std^2 (1 - ceil(s n_out)/n_out)``:
    n_out = 10, s = 0.25 gives 3 zeros (not 2.5) and, for n_in = 32, std = 1, ``32 x 0.7 = 22.4`` (not 24)."""
    assert initializer_sigma_w2("sparse", 10, 32, sparsity=0.25, std=1.0) == pytest.approx(22.4, rel=1e-12)
    n_in = 20_000
    W = wb.initialize("sparse", (10, n_in), seed=4, sparsity=0.25, std=1.0)
    assert ((W == 0).sum(axis=0) == 3).all()
    realised, want = n_in * np.mean(W * W), initializer_sigma_w2("sparse", 10, n_in, sparsity=0.25, std=1.0)
    sd = math.sqrt(2 * 7 * n_in) / 10  # n_in mean(W^2): 7 n_in squared N(0, 1) values over 10 n_in entries, times n_in
    assert abs(realised - want) < 5 * sd
    assert abs(realised - 0.75 * n_in) > 10 * sd
