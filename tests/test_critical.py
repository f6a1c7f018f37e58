"""The edge-of-chaos initializers: chi1 = 1 measured in a wide network, their biases, their first layer, their refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import streams, theory
from winit_bench.compare import independent_error_target
from winit_bench.critical import critical_point

ACTS = ("tanh", "sigmoid", "selu", "gelu", "relu")


def measured_chi1(act: str, init: str, seed: int = 0, width: int = 1024, depth: int = 24, batch: int = 32) -> tuple[float, float]:
    """``(chi1, its standard error)`` from the back-propagated error's ratio per layer, ``q_delta[l]/q_delta[l+1]``.

    The geometric mean over the layers; its standard error from the layers' scatter (finite width:
    each layer's ratio fluctuates by about sqrt(kappa / width)).
    """
    net = wb.MLP([width] * (depth + 1), act, init, seed=seed, dtype="float32")
    X = np.random.default_rng(100 + seed).standard_normal((batch, width)).astype("float32")
    qd = wb.layer_stats(net, X, independent_error_target(net, X), structure=False).q_delta.to_numpy(np.float64)
    log_ratio = np.log(qd[:-1] / qd[1:])
    return math.exp(log_ratio.mean()), log_ratio.std(ddof=1) / math.sqrt(len(log_ratio))


@pytest.mark.parametrize("init", ["edge_of_chaos", "edge_of_chaos_orthogonal"])
@pytest.mark.parametrize("act", ACTS)
def test_chi1_is_one_in_a_width_1024_network(act, init):
    """Off the critical line by 10 % in sigma_w2 moves chi1 by 4-8 %; without the biases, tanh's chi1 is 1.07."""
    chi, se = measured_chi1(act, init)
    # 5 standard errors of the geometric mean, and 1 % for the O(1/width) bias of a mean of logs
    assert abs(math.log(chi)) <= 5 * se + 0.01, f"{init}/{act}: measured chi1 {chi:.4f} ± {se:.4f}"


def test_the_first_layer_starts_at_the_fixed_point_and_the_rest_stay_there():
    """Standardised inputs (q0 = 1): q_z[1] = q* by the first layer's scale, and q* = sigma_w2 E[f^2] + sigma_b2 after it."""
    for act in ("tanh", "sigmoid", "gelu"):
        p = critical_point(act)
        net = wb.MLP([1024] * 9, act, "edge_of_chaos", seed=3, dtype="float64")
        X = np.random.default_rng(7).standard_normal((64, 1024))
        qz = wb.layer_stats(net, X, structure=False).q_z.to_numpy()
        # finite width: a few % at 1024 (attracted back to q* every layer); without the first layer's scale,
        # q_z[1] = sigma_w2 + sigma_b2 is 2 to 3 times q* for these three
        np.testing.assert_allclose(qz, p.q_star, rtol=0.15, err_msg=act)
        assert theory.next_q(act, p.sigma_w2, p.sigma_b2, p.q_star) == pytest.approx(p.q_star, rel=1e-9)
        assert theory.chi1(act, p.sigma_w2, p.sigma_b2) == pytest.approx(1.0, abs=1e-9)


def test_sigma_w2_per_layer_and_the_registry():
    assert {"edge_of_chaos", "edge_of_chaos_orthogonal"} <= set(wb.initializer_names())
    p = critical_point("tanh")
    assert (p.sigma_b2, round(p.sigma_w2, 4), round(p.q_star, 4)) == (0.05, 1.761, 0.57)
    for layer, want in ((0, p.sigma_w2_input), (1, p.sigma_w2), (5, p.sigma_w2)):
        w = wb.initialize("edge_of_chaos", (512, 256), activation="tanh", layer=layer, seed=2)
        assert 256 * np.mean(w**2) == pytest.approx(want, rel=5 * math.sqrt(2 / w.size))
        q = wb.initialize("edge_of_chaos_orthogonal", (512, 256), activation="tanh", layer=layer, seed=2)
        assert 256 * np.mean(q**2) == pytest.approx(want, rel=1e-12)  # orthonormal columns, scaled: exact
        np.testing.assert_allclose(q.T @ q, want * 512 / 256 * np.eye(256), atol=1e-12)
    assert critical_point("relu") == critical_point("relu", 0.0) and critical_point("relu").sigma_w2 == pytest.approx(2.0)
    assert critical_point("gelu").sigma_b2 == 0.2  # none at 0.05 or 0.1: the first of the ladder with one


def test_the_theory_knows_their_sigma_w2_per_layer_and_the_command_reports_it(capsys):
    from winit_bench import cli

    sizes = [64, 128, 128, 10]
    for init in ("edge_of_chaos", "edge_of_chaos_orthogonal"):
        net = wb.MLP(sizes, "sigmoid", init, seed=1, dtype="float64")
        want = theory.network_sigma_w2(init, sizes, "sigmoid")
        assert want[0] == pytest.approx(critical_point("sigmoid").sigma_w2_input) and want[1] == pytest.approx(critical_point("sigmoid").sigma_w2)
        got = [w.shape[1] * np.mean(w**2) for w, _ in net.weights()]
        np.testing.assert_allclose(got, want, rtol=1e-12 if init.endswith("orthogonal") else 0.15)
    assert cli.main(["init", "edge_of_chaos", "--shape", "256", "256", "--activation", "tanh"]) == 0
    out = capsys.readouterr().out
    assert f"target {critical_point('tanh').sigma_w2_input:.6g}" in out  # layer 0: the first layer's scale


def test_biases_are_drawn_from_n_0_sigma_b2_on_the_bias_stream():
    seed, act = 4, "selu"
    sb = math.sqrt(critical_point(act).sigma_b2)
    for init in ("edge_of_chaos", "edge_of_chaos_orthogonal"):
        net = wb.MLP([16, 32, 32, 8], act, init, seed=seed, dtype="float64")
        for l, (_, b) in enumerate(net.weights()):
            np.testing.assert_array_equal(b, sb * streams.biases(seed, l).standard_normal(len(b)))
    assert wb.initializers.bias_variance("edge_of_chaos", act) == critical_point(act).sigma_b2
    assert wb.initializers.bias_variance("he_normal", act) == 0.0
    # an explicit bias_std wins; other initializers keep zero biases by default
    assert all((b == 0).all() for _, b in wb.MLP([8, 8, 8], act, "edge_of_chaos", bias_std=0.0).weights())
    assert all((b == 0).all() for _, b in wb.MLP([8, 8, 8], act, "lecun_normal").weights())
    net = wb.MLP([8, 8], "tanh", "edge_of_chaos", sigma_b2=0.3, seed=1, dtype="float64")
    np.testing.assert_array_equal(net.weights()[0][1], math.sqrt(0.3) * streams.biases(1, 0).standard_normal(8))


@pytest.mark.parametrize("act, kw, words", [
    ("gelu", {"sigma_b2": 0.1}, "gelu has no edge of chaos at sigma_b2=0.1"),
    ("relu", {"sigma_b2": 0.1}, "relu has no edge of chaos at sigma_b2=0.1: at its critical sigma_w2 the second moment grows"),
    ("softplus", {}, "no default sigma_b2"),
    ("tanh", {"sigma_b2": -1.0}, "sigma_b2 must be a finite number >= 0"),
    ("tanh", {"q0": 0.0}, "q0 must be a finite number > 0"),
    (None, {}, "edge_of_chaos needs activation="),
])
def test_no_critical_point_is_one_clear_line(act, kw, words):
    for name in ("edge_of_chaos", "edge_of_chaos_orthogonal"):
        with pytest.raises(ValueError) as exc:
            wb.initialize(name, (4, 4), activation=act, **kw)
        message = str(exc.value)
        assert words.replace("edge_of_chaos", name) in message and "\n" not in message, message
        # a parameter out of its range is refused by the declared check, which names the parameter; the rest name the scheme
        assert message.startswith(tuple(kw) if words.startswith(tuple(kw)) else name), message
