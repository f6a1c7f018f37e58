"""The MLP engine on every usable backend: gradients against finite differences, training, bad input."""

import math
import tracemalloc

import numpy as np
import pytest

import winit_bench as wb

SIZES = [5, 7, 6, 3]


def _data(batch=6, output="linear", seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0]))
    Y = rng.integers(0, sizes[-1], batch) if output == "softmax" else rng.standard_normal((batch, sizes[-1]))
    return X, Y


def _loss(net, X, Y):
    return net.gradients(X, Y)[0]


@pytest.mark.parametrize("output", wb.engine.OUTPUTS)
@pytest.mark.parametrize("activation", wb.activation_names())
def test_gradients_match_finite_differences(backend_name, activation, output):
    """Central differences in float64 (h = 1e-6) against backprop: relative error below 1e-6."""
    X, Y = _data(output=output)
    net = wb.MLP(SIZES, activation, "xavier_normal", output=output, dtype="float64", backend=backend_name, bias_std=0.3, seed=3)
    _, grads = net.gradients(X, Y)
    params = net.weights()
    h = 1e-6
    for l, (w, b) in enumerate(params):
        for k, p in enumerate((w, b)):
            numeric = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + h
                net.set_weights(params)
                up = _loss(net, X, Y)
                p[idx] = old - h
                net.set_weights(params)
                down = _loss(net, X, Y)
                p[idx] = old
                numeric[idx] = (up - down) / (2 * h)
            net.set_weights(params)
            analytic = grads[l][k]
            err = np.abs(numeric - analytic).max() / max(np.abs(analytic).max(), 1e-8)
            assert err < 1e-6, (l, k, err)


def test_loss_definitions(backend_name):
    """MSE is the mean over every element; cross-entropy the mean over the batch (PyTorch's defaults)."""
    X, Y = _data()
    net = wb.MLP(SIZES, "tanh", dtype="float64", backend=backend_name)
    out = net.backend.to_host(net.forward(X))
    assert net.gradients(X, Y)[0] == pytest.approx(np.mean((out - Y) ** 2), rel=1e-12)
    X, labels = _data(output="softmax")
    net = wb.MLP(SIZES, "tanh", output="softmax", dtype="float64", backend=backend_name)
    p = net.backend.to_host(net.forward(X))
    assert np.allclose(p.sum(axis=1), 1)
    assert net.gradients(X, labels)[0] == pytest.approx(-np.mean(np.log(p[np.arange(len(labels)), labels])), rel=1e-12)
    onehot = np.eye(SIZES[-1], dtype=int)[labels]
    assert net.gradients(X, onehot)[0] == pytest.approx(net.gradients(X, labels)[0], rel=1e-15)


def test_train_step_is_sgd(backend_name):
    """One step moves every parameter by -lr times its gradient and returns the loss before the step."""
    X, Y = _data()
    net = wb.MLP(SIZES, "relu", "he_normal", dtype="float64", backend=backend_name, bias_std=0.1)
    before = net.weights()
    loss, grads = net.gradients(X, Y)
    assert net.train_step(X, Y, lr=0.1) == pytest.approx(loss, rel=1e-12)
    for (w0, b0), (w1, b1), (gw, gb) in zip(before, net.weights(), grads):
        np.testing.assert_allclose(w1, w0 - 0.1 * gw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b1, b0 - 0.1 * gb, rtol=1e-12, atol=1e-15)


def test_training_reduces_loss(backend_name):
    X, _ = _data(batch=64, sizes=[5, 32, 32, 3])
    Y = np.sin(X[:, :3])  # a smooth target the network can fit
    net = wb.MLP([5, 32, 32, 3], "tanh", dtype="float32", backend=backend_name)
    X = X.astype("float32")
    losses = [net.train_step(X, Y, 0.1) for _ in range(300)]
    assert losses[-1] < 0.5 * losses[0]


def test_float32_stays_float32(backend_name):
    X, Y = _data()
    net = wb.MLP(SIZES, "gelu", dtype="float32", backend=backend_name)
    assert net.forward(X.astype("float32")).dtype == np.float32
    assert all(w.dtype == np.float32 and b.dtype == np.float32 for w, b in net.weights())


def test_same_seed_same_weights_and_layers_independent(backend_name):
    a = wb.MLP([4, 8, 8, 2], "tanh", "he_normal", seed=7, backend=backend_name).weights()
    b = wb.MLP([4, 8, 8, 2], "tanh", "he_normal", seed=7, backend="numpy").weights()
    for (wa, ba), (wb_, bb) in zip(a, b):
        assert np.array_equal(wa, wb_) and np.array_equal(ba, bb)
    deeper = wb.MLP([4, 8, 8, 8, 2], "tanh", "he_normal", seed=7, backend=backend_name).weights()
    assert np.array_equal(deeper[0][0], a[0][0]) and np.array_equal(deeper[1][0], a[1][0])
    assert np.array_equal(a[1][0], wb.initialize("he_normal", (8, 8), seed=7, layer=1, dtype="float32"))


def test_set_weights_round_trip(backend_name):
    net = wb.MLP(SIZES, "tanh", dtype="float64", backend=backend_name)
    params = [(np.full_like(w, 0.1), np.full_like(b, -0.2)) for w, b in net.weights()]
    net.set_weights(params)
    got = net.weights()
    assert all(np.array_equal(w, 0.1 + 0 * w) and np.array_equal(b, -0.2 + 0 * b) for w, b in got)
    got[0][0][:] = 99  # weights() returns copies
    assert net.weights()[0][0][0, 0] == 0.1
    X, Y = _data()
    net.train_step(X, Y, 0.1)  # set_weights copied: training leaves the caller's arrays alone
    assert all((w == 0.1).all() and (b == -0.2).all() for w, b in params)


@pytest.mark.parametrize("activation", ["tanh", "gelu"])  # a = f(z) kept apart from z, and computed from z
def test_capture_visits_every_final_array_once_in_order(backend_name, activation):
    net = wb.MLP([5, 7, 6, 3], activation, "he_normal", bias_std=0.1, seed=2, dtype="float64", backend=backend_name)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((9, 5)), rng.standard_normal((9, 3))
    seen = []
    cap = net.capture(X, Y, reuse=True, visit=lambda kind, l, x: seen.append((kind, l, np.array(net.backend.to_host(x)))))
    order = [("input", 0), ("w", 0), ("z", 0), ("a", 0), ("w", 1), ("z", 1), ("a", 1), ("w", 2), ("z", 2)]
    order += [(kind, l) for l in (2, 1, 0) for kind in ("delta", "grad_w", "grad_b")]
    assert [(kind, l) for kind, l, _ in seen] == order
    final = {"input": [cap.x], "w": [w for w, _ in net.params()], "z": cap.z, "a": cap.a, "delta": cap.delta, "grad_w": cap.grad_w, "grad_b": cap.grad_b}
    for kind, l, x in seen:  # what the visitor saw is what the pass ends with: nothing changes after its visit
        assert np.array_equal(x, net.backend.to_host(final[kind][l])), (kind, l)
    # keep=False: the weight gradients pass through one scratch array, seen only by the visitor
    lean = []
    cap = net.capture(X, Y, reuse=True, keep=False, visit=lambda kind, l, x: lean.append((kind, l, np.array(net.backend.to_host(x)))))
    assert cap.grad_w == [] and [(k, l) for k, l, _ in lean] == order
    for (kind, l, x), (_, _, y) in zip(lean, seen):
        assert np.array_equal(x, y), (kind, l)


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda: wb.MLP([5]), ValueError, "at least two"),
        (lambda: wb.MLP([5, 0, 2]), ValueError, "positive"),
        (lambda: wb.MLP([5, 2], output="sigmoid"), ValueError, "linear, softmax"),
        (lambda: wb.MLP([5, 2], "tanhh"), ValueError, "did you mean 'tanh'"),
        (lambda: wb.MLP([5, 2], dtype="int8"), ValueError, "float32, float64"),
        (lambda: wb.MLP([5, 2], backend="bogus"), ValueError, "numpy, numba, cupy"),
    ],
)
def test_bad_construction(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_bad_input_is_a_clear_error(backend_name):
    net = wb.MLP(SIZES, "tanh", dtype="float64", backend=backend_name)
    X, Y = _data()
    cases = [
        (lambda: net.train_step(X[:, :4], Y, 0.1), ValueError, r"shape \(batch, 5\)"),
        (lambda: net.train_step(X.astype("float32"), Y, 0.1), TypeError, "dtype float32 but the network is float64"),
        (lambda: net.train_step(X, Y[:5], 0.1), ValueError, "different batch sizes"),
        (lambda: net.train_step(X, Y, 0.0), ValueError, "lr must be"),
        (lambda: net.train_step(X, Y, -1.0), ValueError, "lr must be"),
        (lambda: net.train_step(X, Y, math.nan), ValueError, "lr must be"),
        (lambda: net.train_step(np.where(X > 1, np.nan, X), Y, 0.1), ValueError, "X contains NaN or inf"),
        (lambda: net.train_step(np.where(X > 1, np.inf, X), Y, 0.1), ValueError, "X contains NaN or inf"),
        (lambda: net.train_step(X, np.where(Y > 1, np.nan, Y), 0.1), ValueError, "NaN or inf"),
        (lambda: net.forward(np.where(X > 1, np.nan, X)), ValueError, "X contains NaN or inf"),
    ]
    for call, exc, words in cases:
        with pytest.raises(exc, match=words):
            call()
    clf = wb.MLP(SIZES, "tanh", output="softmax", dtype="float64", backend=backend_name)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        clf.train_step(X, np.array([0, 1, 2, 3, 0, 1]), 0.1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        clf.train_step(X, np.array([0, 1, 2, -1, 0, 1]), 0.1)
    with pytest.raises(TypeError, match="integers"):
        clf.train_step(X, np.zeros(6), 0.1)
    assert net.steps == 0 and clf.steps == 0  # nothing changed


def test_divergence_is_a_distinct_condition(backend_name):
    """A loss that blows up raises Diverged carrying the step; the weights stay finite."""
    X, Y = _data(batch=32, sizes=[5, 64, 64, 3])
    net = wb.MLP([5, 64, 64, 3], "relu", "he_normal", dtype="float64", backend=backend_name)
    with pytest.raises(wb.Diverged) as info:
        for _ in range(100):
            net.train_step(X, Y * 1e3, lr=10.0)
    assert info.value.step == net.steps and info.value.step > 0
    assert all(np.isfinite(w).all() for w, _ in net.weights())


def test_numpy_train_step_allocates_no_layer_sized_arrays():
    """After the first step (buffers), a step allocates nothing near one layer's activations (ufunc buffers of 32 KiB aside)."""
    batch, width = 128, 512
    net = wb.MLP([width, width, width, width, 10], "tanh", dtype="float32", backend="numpy")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, width)).astype("float32")
    Y = rng.standard_normal((batch, 10))
    net.train_step(X, Y, 0.01)
    tracemalloc.start()
    for _ in range(3):
        net.train_step(X, Y, 0.01)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < batch * width * 4 / 4, peak
