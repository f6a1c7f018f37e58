"""The engine checks X and Y on every call, through the public API: arrays reused in place, values
that are not allowed, sizes that are not positive integers, networks and batches that cannot fit."""

import tracemalloc

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import memory
from winit_bench.engine import estimate_bytes

SIZES = [6, 16, 16, 3]
BATCH = 40


def _dataset(output, rows=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, SIZES[0])).astype("float32")
    Y = rng.integers(0, SIZES[-1], rows) if output == "softmax" else rng.standard_normal((rows, SIZES[-1]))  # float64 targets
    return X, Y


def _net(backend_name, output="linear", **kw):
    return wb.MLP(SIZES, "tanh", output=output, seed=1, bias_std=0.1, backend=backend_name, **kw)


def _same_params(a, b):
    return all(np.array_equal(p, q) for pa, pb in zip(a.weights(), b.weights()) for p, q in zip(pa, pb))


def _close(got, want):
    """float32 to rounding (a BLAS may round differently for arrays at other addresses)."""
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- arrays reused in place
@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_batches_written_in_place_train_like_fresh_arrays(backend_name, output):
    """``xb[:] = X[idx]; yb[:] = Y[idx]; train_step(xb, yb)``: the same losses and weights as fresh arrays.
    The linear target is float64 in a float32 network, so it must be converted again at every step."""
    X, Y = _dataset(output)
    fresh, reused = _net(backend_name, output), _net(backend_name, output)
    xb, yb = np.empty((BATCH, X.shape[1]), X.dtype), np.empty((BATCH,) + Y.shape[1:], Y.dtype)
    rng = np.random.default_rng(5)
    for _ in range(10):
        idx = rng.choice(len(X), BATCH, replace=False)
        xb[:], yb[:] = X[idx], Y[idx]
        _close(reused.train_step(xb, yb, 0.1), fresh.train_step(X[idx], Y[idx], 0.1))
    for (w, b), (fw, fb) in zip(reused.weights(), fresh.weights()):
        _close(w, fw)
        _close(b, fb)


def test_gradients_and_forward_see_arrays_changed_in_place(backend_name):
    X, Y = _dataset("linear")
    net = _net(backend_name)
    xb, yb = X[:BATCH].copy(), Y[:BATCH].copy()
    net.gradients(xb, yb)
    xb[:], yb[:] = X[BATCH : 2 * BATCH], Y[BATCH : 2 * BATCH]
    loss, grads = net.gradients(xb, yb)
    ref_loss, ref_grads = net.gradients(X[BATCH : 2 * BATCH], Y[BATCH : 2 * BATCH])
    _close(loss, ref_loss)
    for gl, rl in zip(grads, ref_grads):
        _close(gl[0], rl[0])
        _close(gl[1], rl[1])
    net.forward(xb)
    xb[:] = X[:BATCH]
    _close(net.backend.to_host(net.forward(xb)), net.backend.to_host(net.forward(X[:BATCH])))


def test_capture_reuse_sees_arrays_changed_in_place(backend_name):
    """``capture(reuse=True)`` (the path of ``layer_stats``) reads the new values of the same arrays."""
    X, Y = _dataset("linear")
    net = _net(backend_name)
    xb, yb = X[:BATCH].copy(), Y[:BATCH].copy()
    first = net.capture(xb, yb, reuse=True).loss
    xb *= 3.0
    yb += 1.0
    again = net.capture(xb, yb, reuse=True).loss
    assert abs(again - first) > 0.1 * first
    _close(again, net.capture(X[:BATCH] * np.float32(3.0), Y[:BATCH] + 1.0).loss)


# --------------------------------------------------------------------------- values written in place
def test_label_out_of_range_written_in_place_is_refused(backend_name):
    X, Y = _dataset("softmax")
    net = _net(backend_name, "softmax")
    xb, yb = X[:BATCH].copy(), Y[:BATCH].copy()
    net.train_step(xb, yb, 0.1)
    before = net.weights()
    for bad in (7, 3, -1):
        yb[4] = bad
        with pytest.raises(ValueError, match=r"^Y: labels must lie in \[0, 2\]"):
            net.train_step(xb, yb, 0.1)
        with pytest.raises(ValueError, match=r"^Y: labels must lie in \[0, 2\]"):
            net.gradients(xb, yb)
    assert net.steps == 1 and _same_params(net, _copy_of(net, before))


def _copy_of(net, params):
    twin = _net(net.backend.name, net.output)
    twin.set_weights(params)
    return twin


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "Y"])
def test_non_finite_written_in_place_is_an_input_error_not_divergence(backend_name, where, bad):
    X, Y = _dataset("linear")
    net = _net(backend_name)
    xb, yb = X[:BATCH].copy(), Y[:BATCH].copy()
    net.train_step(xb, yb, 0.1)
    before = net.weights()
    (xb if where == "X" else yb)[3, 1] = bad
    for call in (lambda: net.train_step(xb, yb, 0.1), lambda: net.gradients(xb, yb)):
        with pytest.raises(ValueError, match=f"^{where} contains NaN or inf"):
            call()
    if where == "X":
        with pytest.raises(ValueError, match="^X contains NaN or inf"):
            net.forward(xb)
    assert net.steps == 1 and _same_params(net, _copy_of(net, before))


def test_target_beyond_the_network_dtype_is_an_input_error(backend_name):
    """A finite float64 target too large for float32 becomes inf in the network's dtype: Y's fault, not divergence."""
    X, Y = _dataset("linear")
    net = _net(backend_name)
    Y = Y[:BATCH].copy()
    Y[0, 0] = 1e300
    with pytest.raises(ValueError, match="^Y contains NaN or inf.*float32"):
        net.train_step(X[:BATCH], Y, 0.1)
    assert net.steps == 0


@pytest.mark.parametrize(
    "output, y, exc, words",
    [
        ("linear", np.zeros((BATCH, 3), complex), TypeError, "Y must hold real numbers"),
        ("linear", np.zeros((BATCH, 3), bool), TypeError, "Y must hold real numbers"),
        ("linear", np.zeros((BATCH, 4)), ValueError, r"Y must have shape \(40, 3\)"),
        ("softmax", np.zeros(BATCH), TypeError, r"Y: softmax labels must be integers of shape \(40,\)"),
        ("softmax", np.zeros((BATCH, 2, 2), int), TypeError, r"Y: softmax labels must be integers of shape \(40,\)"),
        ("softmax", np.full((BATCH, 3), 0.5), ValueError, r"one-hot Y must have shape \(40, 3\)"),
    ],
)
def test_bad_target_dtype_or_shape(backend_name, output, y, exc, words):
    net = _net(backend_name, output)
    X, _ = _dataset(output)
    with pytest.raises(exc, match=words):
        net.train_step(X[:BATCH], y, 0.1)
    assert net.steps == 0


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("sizes", [[4, 2.5, 2], [4, 2.0, 2], [4, True, 2], [4, np.float64(3), 2], [4, "3", 2], [4, None, 2], 5, "abc"])
def test_sizes_must_be_integers(sizes):
    with pytest.raises(TypeError, match="^sizes must be"):
        wb.MLP(sizes)


def test_sizes_must_be_positive():
    with pytest.raises(ValueError, match="^sizes needs at least two positive integers"):
        wb.MLP([4, -3, 2])


def test_numpy_integer_sizes_are_fine():
    net = wb.MLP([np.int64(4), np.int32(3), np.uint8(2)])
    assert net.sizes == [4, 3, 2] and all(type(n) is int for n in net.sizes)


# --------------------------------------------------------------------------- memory
def test_estimate_counts_parameters_gradients_and_batch_buffers():
    sizes = [7, 5, 3]
    params = 5 * (7 + 1) + 3 * (5 + 1)
    assert estimate_bytes(sizes, dtype="float64") == 2 * 8 * params  # weights and biases, and their gradients
    assert estimate_bytes(sizes, dtype="float32") == 2 * 4 * params
    assert estimate_bytes(sizes, 10, "float32") > estimate_bytes(sizes, 0, "float32")
    with pytest.raises(TypeError, match="^sizes must be"):
        estimate_bytes([7, 2.5, 3])
    with pytest.raises(ValueError, match="^batch must be"):
        estimate_bytes(sizes, -1)


@pytest.mark.parametrize("output", wb.engine.OUTPUTS)
@pytest.mark.parametrize("activation", wb.activation_names())
def test_estimate_covers_what_a_batch_allocates(backend_name, activation, output):
    """What the first train_step, capture and forward of a batch size allocate at their peak
    (tracemalloc) lies between 1/3 of the batch part of the estimate and that part (with room for small objects)."""
    sizes, batch = [64, 128, 96, 10], 50
    if backend_name == "cupy":
        pytest.skip("tracemalloc sees host memory only")
    net = wb.MLP(sizes, activation, output=output, backend=backend_name)
    X = np.ones((batch, 64), "float32")
    Y = np.zeros((batch, 10), "float32") if output == "linear" else np.zeros(batch, int)
    part = estimate_bytes(sizes, batch, "float32", activation) - estimate_bytes(sizes, 0, "float32")
    for run in (lambda: net.train_step(X, Y, 0.01), lambda: net.capture(X, Y, reuse=True), lambda: net.forward(X[1:])):
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # the erf family's work_bytes are NumPy's float64 temporaries (erf.py): numba and CuPy run kernels instead,
        # for which the estimate is an upper bound only
        low = part / 3 if backend_name == "numpy" or not wb.get_activation(activation).work_bytes else 0
        assert low < peak <= part + 32 * 1024, (peak, part)  # 32 KiB: ufunc buffers, small objects


@pytest.fixture
def budget(monkeypatch):
    """``budget(n)``: pretend this process may allocate only ``n`` more bytes."""

    def set_budget(n):
        monkeypatch.setattr(memory, "available_bytes", lambda: n)

    return set_budget


def test_a_network_that_does_not_fit_is_refused_before_allocating(budget):
    budget(1 << 20)
    sizes = [64, 1024, 64]  # 133 k parameters: 1 MiB with their gradients
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"^the parameters and gradients of MLP\(sizes=\[64, 1024, 64\], float32\) need 1\.0 MiB, more than the 1\.0 MiB"):
        wb.MLP(sizes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 1024
    budget(2 << 20)
    assert wb.MLP(sizes).sizes == sizes


def test_a_billion_units_are_refused_without_allocating(budget):
    budget(8 << 30)
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"need 52\.2 GiB, more than the 8\.0 GiB"):
        wb.MLP([4, 10**9, 2])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 1024


def test_sizes_no_machine_holds_are_refused():
    with pytest.raises(ValueError, match=r"^the parameters and gradients of MLP\(sizes=\[4, 1000000000000, 2\], float64\) need [\d.]+ TiB"):
        wb.MLP([4, 10**12, 2], dtype="float64")


def test_a_batch_that_does_not_fit_is_refused_before_allocating(backend_name, budget):
    net = wb.MLP([4, 8, 2], backend=backend_name)
    budget(1 << 20)
    rows = 100_000  # a broadcast view: no memory of its own
    X, Y = np.broadcast_to(np.zeros((1, 4), "float32"), (rows, 4)), np.broadcast_to(np.zeros((1, 2), "float32"), (rows, 2))
    for call in (lambda: net.forward(X), lambda: net.train_step(X, Y, 0.1), lambda: net.capture(X, Y)):
        tracemalloc.start()
        with pytest.raises(ValueError, match=r"^the work arrays of a batch of 100000 rows for sizes \[4, 8, 2\] \(float32\) need [\d.]+ MiB"):
            call()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 64 * 1024
    assert net.steps == 0


def test_a_billion_rows_are_refused(backend_name):
    net = wb.MLP([4, 8, 2], backend=backend_name)
    X = np.broadcast_to(np.zeros((1, 4), "float32"), (10**12, 4))
    with pytest.raises(ValueError, match=r"^the work arrays of a batch of 1000000000000 rows .* need [\d.]+ TiB"):
        net.forward(X)
