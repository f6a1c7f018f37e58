"""Diagnostics against the theory of variance propagation: layer_stats, compare_to_theory, symmetry, LSUV.

Every tolerance is derived from the statistics of the quantity tested (sample sizes, the
finite-width fluctuations of Hanin & Rolnick 2018), never tuned to an implementation's output.
The tests use fixed seeds, so they are deterministic; the tolerances are 4-5 standard deviations
wide, so a correct implementation passes for essentially any seed.
"""

import math

import numpy as np
import pytest

import winit_bench as wb
from winit_bench.compare import compare_to_theory, predict_forward
from winit_bench.diagnostics import COLUMNS, default_target, distinct_units, effective_rank, layer_stats
from winit_bench.lsuv import lsuv
from winit_bench.symmetry import is_symmetric, symmetry_experiment, width_one_equivalent


def gaussian(batch, width, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal((batch, width)).astype(dtype)


# --------------------------------------------------------------------------- layer_stats: shape and basics


def test_layer_stats_table_and_reproducible_default_target():
    net = wb.MLP([8, 16, 16, 3], "tanh", "xavier_normal", seed=4)
    X = gaussian(32, 8)
    df = layer_stats(net, X)
    assert list(df.columns) == list(COLUMNS)
    assert df["layer"].tolist() == [1, 2, 3]
    assert df["fan_in"].tolist() == [8, 16, 16] and df["fan_out"].tolist() == [16, 16, 3]
    assert df["activation"].tolist() == ["tanh", "tanh", "linear"]
    assert df.attrs["target"] == "default_target" and df.attrs["batch"] == 32
    # the default target is a fixed stream of the net's seed: the same numbers every time
    again = layer_stats(net, X)
    num = df.select_dtypes("number").columns
    np.testing.assert_array_equal(df[num].to_numpy(), again[num].to_numpy())
    # ... and it is what passing default_target explicitly gives
    given = layer_stats(net, X, default_target(net, 32).astype("float32"))
    np.testing.assert_allclose(given[num].to_numpy(), df[num].to_numpy(), rtol=1e-6)
    # the output layer is linear: a = z, no dead or saturated units
    last = df.iloc[-1]
    assert last["q_a"] == last["q_z"] and math.isnan(last["dead_fraction"]) and math.isnan(last["saturated_fraction"])
    # variance, second moment and mean agree: q = var + mean^2
    for x in ("z", "a", "delta"):
        np.testing.assert_allclose(df[f"q_{x}"], df[f"var_{x}"] + df[f"mean_{x}"] ** 2, rtol=1e-4)


def test_layer_stats_matches_a_direct_host_computation():
    net = wb.MLP([10, 24, 24, 4], "relu", "he_normal", seed=2, dtype="float64", bias_std=0.2)
    X = gaussian(40, 10, dtype="float64")
    Y = gaussian(40, 4, seed=5, dtype="float64")
    df = layer_stats(net, X, Y)
    cap = net.capture(X, Y)
    for l in range(net.depth):
        z, a, d, gw = (np.asarray(v[l]) for v in (cap.z, cap.a, cap.delta, cap.grad_w))
        row = df.iloc[l]
        assert row["var_z"] == pytest.approx(z.var(), rel=1e-10)
        assert row["q_a"] == pytest.approx((a**2).mean(), rel=1e-10)
        assert row["q_delta"] == pytest.approx((d**2).mean(), rel=1e-10)
        assert row["var_grad_w"] == pytest.approx(gw.var(), rel=1e-10)
        if l < net.depth - 1:
            assert row["dead_fraction"] == pytest.approx(np.mean(~(z > 0).any(axis=0)))
    w0 = net.weights()[0][0]
    assert df.iloc[0]["sigma_w2"] == pytest.approx(10 * (w0**2).mean(), rel=1e-10)


def test_saturation_and_sigmoid_variance():
    X = gaussian(64, 32)
    big = wb.MLP([32, 64, 64, 2], "tanh", "normal", std=1.0, seed=1)  # sigma_w2 = 32: tanh pinned at +-1
    df = layer_stats(big, X)
    assert df.iloc[1]["saturated_fraction"] > 0.5
    small = wb.MLP([32, 64, 64, 2], "tanh", "lecun_normal", seed=1)
    assert layer_stats(small, X).iloc[1]["saturated_fraction"] < 0.05
    # sigmoid: a small variance around a mean of ~1 is computed centred, not as q - mean^2
    sat = wb.MLP([32, 64, 64, 2], "sigmoid", "constant", value=0.2, seed=1, dtype="float64")
    row = layer_stats(sat, X.astype("float64")).iloc[1]
    cap = sat.capture(X.astype("float64"), default_target(sat, 64))
    assert row["var_a"] == pytest.approx(np.asarray(cap.a[1]).var(), rel=1e-6)
    assert row["saturated_fraction"] == pytest.approx(np.mean(np.asarray(cap.a[1]) > 0.99))


def test_effective_rank_and_distinct_units_helpers():
    assert effective_rank(np.eye(7)) == pytest.approx(7)
    assert effective_rank(np.outer(np.arange(1, 6), np.ones(9))) == pytest.approx(1)
    assert effective_rank(np.zeros((4, 6))) == 0
    s = np.array([3.0, 1.0])  # exp(H(p)) with p = (3/4, 1/4)
    assert effective_rank(np.diag(s)) == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    rng = np.random.default_rng(0)
    A = rng.standard_normal((32, 50))
    idx = rng.integers(0, 50, 200)
    dup = A[:, idx] + 1e-9 * rng.standard_normal((32, 200))  # copies within float noise are the same unit
    assert distinct_units(A) == 50
    assert distinct_units(dup) == len(np.unique(idx))
    assert distinct_units(np.zeros((8, 5))) == 1


# --------------------------------------------------------------------------- propagation at initialisation


def test_linear_lecun_keeps_the_second_moment():
    """Linear net, Var(W) = 1/n: E[q_z[l]] = q0 exactly. Layer k's q is a mean over n_k units of
    quadratic forms w^T G w of the batch Gram G of its input: relative variance 2 tr(G^2)/(n_k tr(G)^2).
    For Gaussian inputs tr(G^2)/tr(G)^2 = 1/B + 1/n0 (Marchenko-Pastur), and every random layer j
    adds 1/n_j to it; the ln-variances of the layers add up."""
    n, depth, B = 256, 10, 256
    net = wb.MLP([n] * (depth + 1), "linear", "lecun_normal", seed=11)
    X = gaussian(B, n, seed=12)
    q0 = float((X.astype(np.float64) ** 2).mean())
    q = layer_stats(net, X, structure=False)["q_z"].to_numpy()
    var = 0.0
    for l in range(1, depth + 1):
        var += 2 / n * (1 / B + 1 / n + (l - 1) / n)
        assert abs(math.log(q[l - 1] / q0)) <= 5 * math.sqrt(var), (l, q[l - 1] / q0, math.sqrt(var))


def test_relu_he_keeps_the_second_moment_in_expectation():
    """ReLU, Var(W) = 2/n_in: E[q_z[L]] = E[q_z[1]] (a martingale), but one seed's ln(q_z[L]/q_z[1])
    fluctuates with variance ~ 5 sum 1/n_l (Hanin & Rolnick 2018) and drifts down by half of it.
    Per seed the log-ratio stays within 5 sd; the mean over seeds within 4 sd/sqrt(seeds) of -var/2."""
    n, depth, B, seeds = 128, 10, 32, 12
    var = 5 * (depth - 1) / n
    X = gaussian(B, n, seed=3)
    logs = []
    for s in range(seeds):
        q = layer_stats(wb.MLP([n] * (depth + 1), "relu", "he_normal", seed=100 + s), X, structure=False)["q_z"]
        logs.append(math.log(q.iloc[-1] / q.iloc[0]))
    logs = np.array(logs)
    assert np.all(np.abs(logs) <= 5 * math.sqrt(var)), logs
    assert abs(logs.mean() + var / 2) <= 4 * math.sqrt(var / seeds), (logs.mean(), var)


def test_relu_xavier_halves_the_second_moment_every_layer():
    """Square layers: Xavier gives sigma_w2 = 1 and E[relu(z)^2] = q/2, so q_z halves per layer.
    One layer's ln-ratio fluctuates with variance <= (kappa + 2)/n = 7/n (ReLU's kappa = 5, the
    unit sampling 2; one input, the batch only helps); averaged over 4 seeds."""
    n, depth, seeds = 512, 8, 4
    X = gaussian(128, n, seed=22)
    per_layer = []
    for s in range(seeds):
        q = layer_stats(wb.MLP([n] * (depth + 1), "relu", "xavier_normal", seed=21 + s), X, structure=False)["q_z"].to_numpy()
        per_layer.append(np.log2(q[1:] / q[:-1]))
    mean = np.mean(per_layer, axis=0)
    sd = math.sqrt(7 / n / seeds) / math.log(2)
    np.testing.assert_allclose(mean, -1.0, atol=5 * sd)
    assert abs(mean.sum() + (depth - 1)) <= 5 * sd * math.sqrt(depth - 1)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_zero_init_gives_zero_activations_and_gradients(activation):
    """W = 0, b = 0: every hidden z and a is exactly 0 (tanh(0) = relu(0) = 0), so every weight
    gradient is exactly 0 and only the output bias receives a gradient."""
    net = wb.MLP([6, 12, 12, 3], activation, "zeros", seed=0)
    X, Y = gaussian(16, 6), gaussian(16, 3, seed=1)
    df = layer_stats(net, X, Y)
    hidden = df.iloc[:-1]
    for col in ("q_z", "q_a", "q_delta", "q_grad_w", "q_grad_b", "var_z", "var_a"):
        assert (hidden[col] == 0).all(), col
    assert df.iloc[-1]["q_grad_w"] == 0 and df.iloc[-1]["q_grad_b"] > 0
    assert (hidden["distinct_units"] == 1).all() and (hidden["effective_rank"] == 0).all()
    if activation == "relu":
        assert (hidden["dead_fraction"] == 1).all()
    _, grads = net.gradients(X, Y)
    for l, (gw, gb) in enumerate(grads):
        assert not gw.any()
        assert gb.any() == (l == net.depth - 1)


# --------------------------------------------------------------------------- symmetry


@pytest.mark.parametrize("activation,output", [("tanh", "linear"), ("relu", "linear"), ("sigmoid", "softmax")])
def test_constant_init_stays_width_one_through_training(activation, output):
    df = symmetry_experiment([5, 16, 16, 16, 3], activation, value=0.1, bias=0.05, steps=4, lr=0.1, output=output)
    assert len(df) == 5 and df["step"].tolist() == list(range(5))
    assert (df["distinct_units_max"] == 1).all()
    assert df["symmetric"].all() and df["equivalent"].all()
    assert (df["rel_diff"] <= 1e-9).all()
    np.testing.assert_allclose(df["loss"], df["loss_b"], rtol=1e-9)
    assert df["loss"].iloc[-1] < df["loss"].iloc[0]  # it trains, as a width-1 network


def test_random_init_is_not_equivalent_to_width_one():
    df = symmetry_experiment([5, 16, 16, 16, 3], "tanh", initializer="xavier_normal", steps=3, lr=0.1)
    assert (df["distinct_units_min"] == 16).all()
    assert not df["symmetric"].any() and not df["equivalent"].any()
    assert (df["rel_diff"] > 1e-2).all()


def test_width_one_equivalent_and_is_symmetric():
    X = gaussian(20, 4, dtype="float64")
    a = wb.MLP([4, 8, 8, 2], "tanh", "constant", value=0.3, bias=-0.2, dtype="float64")
    b = width_one_equivalent(a)
    assert b.sizes == [4, 1, 1, 2]
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-12, atol=1e-14)
    (w1, _), (w2, _), _ = b.weights()
    np.testing.assert_allclose(w1, 0.3)  # the first layer keeps A's weights on the real inputs
    assert w2[0, 0] == pytest.approx(8 * 0.3)  # n[l-1] * w[l]
    assert is_symmetric(a) and is_symmetric(a, X)
    np.testing.assert_allclose(layer_stats(a, X)["effective_rank"].iloc[:-1], 1.0, rtol=1e-9)
    r = wb.MLP([4, 8, 8, 2], "tanh", "xavier_normal", dtype="float64")
    assert not is_symmetric(r)
    assert np.abs(width_one_equivalent(r).predict(X) - r.predict(X)).max() > 1e-2


# --------------------------------------------------------------------------- LSUV


@pytest.mark.parametrize("activation,kw", [("tanh", {}), ("relu", {}), ("relu", {"bias": 0.3}), ("sigmoid", {"bias_std": 0.3})])
def test_lsuv_reaches_unit_variance_in_every_layer(activation, kw):
    net = wb.MLP([32, 64, 64, 64, 64, 8], activation, "xavier_normal", seed=5, **kw)
    X = 3 * gaussian(128, 32, seed=6)
    iters = lsuv(net, X, tol=0.1)
    assert len(iters) == net.depth and all(0 <= i <= 10 for i in iters)
    var = layer_stats(net, X, structure=False)["var_z"].to_numpy()
    assert np.all(np.abs(var - 1) < 0.1), var
    # the start was orthogonal: with zero biases one rescaling per layer lands on 1 exactly
    if not kw:
        assert iters == [1] * net.depth
        w = net.weights()[1][0]
        gram = w @ w.T / (w @ w.T)[0, 0]
        np.testing.assert_allclose(gram, np.eye(64), atol=1e-5)


def test_lsuv_raises_clearly_and_leaves_the_net_unchanged():
    X = gaussian(64, 16)
    dead = wb.MLP([16, 32, 32, 4], "relu", "he_normal", bias=-100.0)  # layer 1 never fires: layer 2 is constant
    before = dead.weights()
    with pytest.raises(ValueError, match=r"layer 2 .*variance .* 0\.0"):
        lsuv(dead, X)
    assert all(np.array_equal(w, v) and np.array_equal(b, c) for (w, b), (v, c) in zip(before, dead.weights()))
    noisy = wb.MLP([16, 32, 32, 4], "relu", "he_normal", bias_std=2.0)  # Var(b) = 4 > 1 whatever W is
    before = noisy.weights()
    with pytest.raises(RuntimeError, match=r"did not converge at layer 1 .*after 10 rescalings"):
        lsuv(noisy, X)
    assert all(np.array_equal(w, v) for (w, _), (v, _) in zip(before, noisy.weights()))
    with pytest.raises(ValueError, match="tol"):
        lsuv(noisy, X, tol=0)


# --------------------------------------------------------------------------- against mean-field theory

THEORY_CASES = [("linear", "lecun_normal"), ("relu", "he_normal"), ("tanh", "xavier_normal"), ("sigmoid", "kumar_normal")]


@pytest.mark.parametrize("activation,initializer", THEORY_CASES)
def test_compare_to_theory_within_the_finite_width_band(activation, initializer):
    n, depth = 512, 10
    net = wb.MLP([n] * (depth + 1), activation, initializer, seed=7)
    X = gaussian(256, n, seed=8)
    df = compare_to_theory(net, X)
    assert df["within_band_z"].all(), df[["layer", "log2_ratio_z", "band_z_lo", "band_z_hi"]]
    assert df["within_band_delta"].all(), df[["layer", "log2_ratio_delta", "band_delta_hi"]]
    assert df["log2_ratio_delta"].iloc[-1] == 0  # the anchor
    # the band is informative: a theory off by a factor 3/2 in sigma_w2 per layer falls outside it
    wrong = predict_forward(activation, 1.5 * df["sigma_w2"].to_numpy(), df["sigma_b2"].to_numpy(), df.attrs["q0"])
    off = np.log2(df["q_z"].to_numpy() / wrong)
    assert not ((off >= df["band_z_lo"]) & (off <= df["band_z_hi"])).all()
    # the initializer's formula predicts as well as the realised weights on a fresh net
    if activation == "relu":
        by_formula = compare_to_theory(net, X, sigma_w2="initializer")
        np.testing.assert_allclose(by_formula["sigma_w2"], 2.0)
        assert by_formula["within_band_z"].all() and by_formula["within_band_delta"].all()


def test_compare_to_theory_non_square_softmax_and_biases():
    """Tapering widths (the backward factor n[l+1]/n[l] matters), a softmax output and random biases."""
    X = gaussian(128, 256, seed=3)
    for activation, kw in (("relu", {}), ("tanh", {"bias_std": 0.3})):
        net = wb.MLP([256, 512, 256, 128, 10], activation, "he_normal", output="softmax", seed=4, **kw)
        df = compare_to_theory(net, X)
        assert df["within_band_z"].all() and df["within_band_delta"].all(), (activation, df)
        assert df.attrs["band_source"] == ("theory" if not kw else "glue")
    with pytest.raises(ValueError, match="symmetric"):
        compare_to_theory(wb.MLP([256, 16, 4], "tanh", "constant"), X, sigma_w2="initializer")


def test_compare_with_a_given_target_shows_the_output_correlation():
    """With Y ~ N(0,1) independent of the net, δ[L] ∝ out - Y contains the output, which the backward pass
    sends back through the weights that made it: in a linear LeCun net, the k-th layer below the output
    exceeds its successor by (k+2)/(k+1) instead of 1 (the module docstring)."""
    n, depth = 512, 6
    net = wb.MLP([n] * (depth + 1), "linear", "lecun_normal", seed=1)
    X = gaussian(256, n, seed=2)
    Y = default_target(net, 256).astype("float32")
    df = compare_to_theory(net, X, Y)
    steps = np.diff(df["log2_ratio_delta"].to_numpy())[::-1]  # layer L-1 vs L, L-2 vs L-1, ...
    expected = -np.log2([(k + 2) / (k + 1) for k in range(1, depth)])
    np.testing.assert_allclose(steps, expected, atol=0.08)


def test_structure_columns_match_the_helpers_for_every_width():
    """Layers of several widths (batched per width inside layer_stats) against the one-matrix helpers."""
    from winit_bench.diagnostics import DISTINCT_ROWS, RANK_ROWS

    X = gaussian(48, 10, dtype="float64")
    for activation, init in (("relu", "he_normal"), ("tanh", "constant"), ("tanh", "orthogonal")):
        net = wb.MLP([10, 24, 40, 24, 40, 4], activation, init, seed=6, dtype="float64")
        df = layer_stats(net, X)
        cap = net.capture(X, default_target(net, 48))
        for l in range(net.depth):
            a = np.asarray(cap.a[l])
            assert df.iloc[l]["distinct_units"] == distinct_units(a[:DISTINCT_ROWS]), (activation, init, l)
            assert df.iloc[l]["effective_rank"] == pytest.approx(effective_rank(a[:RANK_ROWS]), rel=1e-9), (activation, init, l)
            assert df.iloc[l]["mean_delta"] == pytest.approx(np.asarray(cap.delta[l]).mean(), rel=1e-9, abs=1e-15)
            assert df.iloc[l]["var_grad_b"] == pytest.approx(np.asarray(cap.grad_b[l]).var(), rel=1e-9)


def _distinct_by_definition(A, tol):
    """The documented count, unit by unit: ordered by column sum, a unit is new unless it matches one before it."""
    scale = np.abs(A).max()
    if not np.isfinite(scale):
        return math.nan
    thr = tol * scale
    if (A.max(axis=1) - A.min(axis=1)).max() <= thr:
        return 1
    silent = ~A.any(axis=0)
    live = np.nonzero(~silent)[0]
    order = live[np.argsort(A[:, live].sum(axis=0))]
    new = sum(all(np.abs(A[:, u] - A[:, v]).max() > thr for v in order[:k]) for k, u in enumerate(order))
    return new + int(silent.any())


def test_distinct_units_of_a_stack_follows_its_definition():
    from winit_bench.diagnostics import DISTINCT_TOL, _distinct_units_xp

    rng = np.random.default_rng(1)
    S, n = 12, 90
    base = rng.standard_normal((S, 6))
    perms = np.stack([rng.permutation(base[:, 0]) for _ in range(8)], axis=1)  # their sums interleave
    stack = [
        rng.standard_normal((S, n)),  # all distinct
        base[:, rng.integers(0, 6, n)] + 3e-5 * rng.standard_normal((S, n)),  # 6 tight groups
        base[:, rng.integers(0, 6, n)] + 3e-4 * rng.standard_normal((S, n)),  # groups looser than the tolerance
        np.maximum(rng.standard_normal((S, n)) - 1.5, 0),  # sparse ReLU units, many silent
        np.sign(rng.standard_normal((S, n))) * (1 - 1e-6 * rng.random((S, n))),  # saturated at +-1
        np.full((S, n), 0.3) + 2e-4 * rng.random((S, n)),  # nearly symmetric, not within the tolerance
        np.zeros((S, n)),
        perms[:, rng.integers(0, 8, n)] + 3e-5 * rng.standard_normal((S, n)),  # 8 groups, one column sum
        rng.standard_normal((S, n)),  # made non-finite below
    ]
    stack[-1][3, 5] = np.nan
    got = _distinct_units_xp(np, np.stack(stack), DISTINCT_TOL)
    want = [_distinct_by_definition(A, DISTINCT_TOL) for A in stack]
    np.testing.assert_array_equal(got, np.array(want, dtype=float))
    assert want[0] == n and want[1] == 6 and want[6] == 1 and want[7] == 8 and math.isnan(want[-1])


# --------------------------------------------------------------------------- backends


def test_layer_stats_numba_equals_numpy():
    pytest.importorskip("numba")
    reason = wb.available_backends()["numba"]
    if reason is not None:
        pytest.skip(f"numba backend unusable: {reason}")
    X = gaussian(64, 24)
    for activation in ("tanh", "relu", "sigmoid", "gelu"):
        ref = layer_stats(wb.MLP([24, 48, 48, 5], activation, "he_normal", bias_std=0.1, seed=3, backend="numpy"), X)
        got = layer_stats(wb.MLP([24, 48, 48, 5], activation, "he_normal", bias_std=0.1, seed=3, backend="numba"), X)
        assert got.attrs["backend"] == "numba"
        num = ref.select_dtypes("number").columns
        np.testing.assert_allclose(got[num].to_numpy(), ref[num].to_numpy(), rtol=1e-4, atol=1e-12, err_msg=activation)


class _ProxyNumpy:
    """NumPy under another name: makes layer_stats take its device code path (``xp is not numpy``)."""

    def __getattr__(self, name):
        return getattr(np, name)


def test_device_code_path_matches_the_host_path():
    from winit_bench.backends.numpy_backend import NumpyBackend

    class ProxyBackend(NumpyBackend):
        name = "numpy-proxy"
        xp = _ProxyNumpy()

    X = gaussian(64, 24)
    for activation in ("tanh", "relu", "sigmoid"):
        kw = dict(bias_std=0.1, seed=3)
        ref = layer_stats(wb.MLP([24, 48, 48, 5], activation, "he_normal", backend="numpy", **kw), X)
        got = layer_stats(wb.MLP([24, 48, 48, 5], activation, "he_normal", backend=ProxyBackend(), **kw), X)
        num = ref.select_dtypes("number").columns
        np.testing.assert_allclose(got[num].to_numpy(), ref[num].to_numpy(), rtol=1e-5, atol=1e-12, err_msg=activation)


def test_backward_prediction_is_chi1_per_layer_at_the_fixed_point():
    """Square layers at q = q*: the predicted δ second moment grows by theory's chi1 per layer."""
    from winit_bench import theory
    from winit_bench.compare import predict_backward

    for activation, sw2, sb2 in (("tanh", 1.5, 0.05), ("relu", 2.0, 0.0), ("sigmoid", 4.0, 0.1)):
        q_star = theory.fixed_point(activation, sw2, sb2)
        q_star = q_star if 0 < q_star < math.inf else 1.0  # ReLU at 2 is neutral: any q
        L = 6
        pred = predict_backward(activation, [sw2] * L, [50] * (L + 1), [q_star] * L, 1.0)
        np.testing.assert_allclose(pred[:-1] / pred[1:], theory.chi1(activation, sw2, sb2, q=q_star), rtol=1e-10)
