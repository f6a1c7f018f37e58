"""jacobian_spectrum: the singular values of d a[l]/d x, held against finite differences, autograd and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import winit_bench as wb
from winit_bench.jacobian import jacobian_spectra, jacobian_spectrum

SIZES = [5, 7, 6, 4]


def small_net(act="tanh", backend="numpy"):
    return wb.MLP(SIZES, act, "xavier_normal", seed=3, dtype="float64", bias_std=0.3, backend=backend)


def inputs(batch=3, n=SIZES[0], seed=0):
    return np.random.default_rng(seed).standard_normal((batch, n))


def numeric_jacobian(g, x, h=1e-6):
    """Central differences of ``g`` (R^n -> R^m) at ``x``: shape (m, n)."""
    cols = [(g(x + h * e) - g(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    return np.stack(cols, axis=1)


def hidden_map(net, l: int):
    """x -> a[l] (hidden l < L) or z[L], from the first l layers run as a network of their own (its readout gives z[l])."""
    sub = wb.MLP.from_weights(net.weights()[:l], net.activation, dtype="float64")
    post = (lambda z: z) if l == net.depth else (lambda z: net.activation(z))
    return lambda x: post(np.asarray(sub.forward(x[None, :]))[0])


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
def test_every_depth_matches_finite_differences(act):
    net, X = small_net(act), inputs()
    spectra = jacobian_spectra(net, X)
    assert sorted(spectra) == [1, 2, 3]
    for l, s in spectra.items():
        assert s.shape == (3, min(SIZES[l], SIZES[0]))
        for i, x in enumerate(X):
            want = np.linalg.svd(numeric_jacobian(hidden_map(net, l), x), compute_uv=False)
            np.testing.assert_allclose(s[i], want, rtol=1e-7, atol=1e-8)


def test_the_output_jacobian_is_the_default_and_has_no_activation_slope():
    net, X = small_net(), inputs()
    x = X[0]
    fd = numeric_jacobian(lambda v: np.asarray(net.forward(v[None, :]))[0], x)
    np.testing.assert_allclose(jacobian_spectrum(net, X)[0], np.linalg.svd(fd, compute_uv=False), rtol=1e-7, atol=1e-8)


def test_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    net, X = small_net("tanh"), inputs(batch=2)
    params = [(torch.tensor(w), torch.tensor(b)) for w, b in net.weights()]

    def forward(x, depth):
        a = x
        for l, (w, b) in enumerate(params[:depth], start=1):
            a = w @ a + b
            if l < net.depth:
                a = torch.tanh(a)
        return a

    spectra = jacobian_spectra(net, X)
    for l in spectra:
        for i, x in enumerate(X):
            J = torch.autograd.functional.jacobian(lambda v: forward(v, l), torch.tensor(x)).numpy()
            np.testing.assert_allclose(spectra[l][i], np.linalg.svd(J, compute_uv=False), rtol=1e-12, atol=1e-13)


def test_depth_one_is_the_singular_values_of_D_W():
    net, X = small_net("sigmoid"), inputs()
    (w, b), act = net.weights()[0], net.activation
    for i, x in enumerate(X):
        z = w @ x + b
        want = np.linalg.svd(act.derivative(z)[:, None] * w, compute_uv=False)
        np.testing.assert_allclose(jacobian_spectrum(net, X, depth=1)[i], want, rtol=1e-13)


def test_a_one_layer_network_gives_the_singular_values_of_W():
    net = wb.MLP([6, 4], "tanh", "xavier_normal", seed=1, dtype="float64")
    s = jacobian_spectrum(net, inputs(2, 6))
    np.testing.assert_allclose(s, np.tile(np.linalg.svd(net.weights()[0][0], compute_uv=False), (2, 1)), rtol=1e-13)


@pytest.mark.parametrize("gain", [1.0, 1.3])
def test_linear_orthogonal_network_has_every_singular_value_gain_to_the_depth(gain):
    net = wb.MLP([16] * 6, "linear", "orthogonal", seed=2, dtype="float64", gain=gain)
    for l, s in jacobian_spectra(net, inputs(2, 16)).items():
        np.testing.assert_allclose(s, gain**l, rtol=1e-12)


def test_numba_backend_gives_the_numpy_values():
    pytest.importorskip("numba")
    net = small_net("tanh")
    twin = wb.MLP.from_weights(net.weights(), "tanh", dtype="float64", backend="numba")
    X = inputs()
    a, b = jacobian_spectra(net, X), jacobian_spectra(twin, X)
    for l in a:
        np.testing.assert_allclose(a[l], b[l], rtol=1e-12, atol=1e-14)


def test_float32_network_is_differentiated_in_float64():
    net = small_net()
    net32 = wb.MLP.from_weights(net.weights(), "tanh", dtype="float32")
    X = inputs()
    np.testing.assert_allclose(jacobian_spectrum(net32, X.astype("float32")), jacobian_spectrum(net, X), rtol=1e-5)


@pytest.mark.parametrize(
    "X, depths, error, match",
    [
        (np.ones((2, 4)), None, ValueError, r"X must have shape \(batch, 5\)"),
        (np.ones(5), None, ValueError, r"X must have shape"),
        (np.array([[1, 2, 3, 4, np.nan]]), None, ValueError, "X contains NaN or inf"),
        ([[1.0] * 5], None, TypeError, "X must be an array"),
        (np.ones((1, 5)), [0], ValueError, r"depths must be integers in 1..3"),
        (np.ones((1, 5)), [4], ValueError, r"depths must be integers in 1..3"),
        (np.ones((1, 5)), [1.5], ValueError, r"depths must be integers in 1..3"),
        (np.ones((1, 5)), [], ValueError, r"depths must be integers"),
    ],
)
def test_bad_inputs_are_refused_with_one_line(X, depths, error, match):
    with pytest.raises(error, match=match):
        jacobian_spectra(small_net(), X, depths)


def test_depth_must_be_an_integer():
    with pytest.raises(TypeError, match="depth must be an integer in 1..3"):
        jacobian_spectrum(small_net(), inputs(), depth=2.0)


def test_sizes_that_do_not_fit_are_refused(monkeypatch):
    net = small_net()
    monkeypatch.setattr("winit_bench.memory.available_bytes", lambda: 1000)
    with pytest.raises(ValueError, match=r"the Jacobians of 3 samples at widths up to 7 .* need"):
        jacobian_spectra(net, inputs())


@pytest.mark.parametrize("module", ["winit_bench.jacobian", "winit_bench.isometry", "winit_bench.theory.spectrum"])
def test_the_docstring_examples_run(module):
    import doctest
    import importlib

    failed, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failed == 0
