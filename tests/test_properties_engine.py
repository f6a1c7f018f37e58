"""Property-based tests (hypothesis) of MLP construction and of ``forward``/``train_step`` inputs.

The contract, for every input: a result that meets it, or a ``ValueError``/``TypeError`` with a
non-empty one-line message. A network is built only from sizes that are positive integers; its
weights have the right shapes and dtype and are finite. ``forward`` returns finite outputs of shape
``(batch, n_out)`` in the network's dtype, equal to an independent float64 recomputation from
``net.weights()``; ``train_step`` returns the loss of the batch it was given (recomputed the same
way), also when the caller rewrites the same X and Y arrays in place between steps.

Examples are derandomized (profile "ci" in conftest.py). The NumPy backend only: it keeps the
suite within its time budget (numba compiles per shape), and the input checks are the engine's,
not the backend's.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import winit_bench as wb  # noqa: E402
from contract import call, refused_properly  # noqa: E402

BACKEND = "numpy"


def examples(factor: float):
    return settings(max_examples=int(factor * settings().max_examples), suppress_health_check=[HealthCheck.too_slow])




def is_size(s) -> bool:
    return isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) and s >= 1


def reference_forward(net: wb.MLP, X: np.ndarray) -> np.ndarray:
    """The network's output recomputed in float64 from ``net.weights()``: z = a W^T + b, a = f(z)."""
    a = np.asarray(X, dtype=net.dtype).astype(np.float64)
    params = net.weights()
    for l, (w, b) in enumerate(params):
        z = a @ w.astype(np.float64).T + b.astype(np.float64)
        a = z if l == len(params) - 1 else np.asarray(net.activation(z, np), dtype=np.float64)
    if net.output == "softmax":
        e = np.exp(a - a.max(axis=1, keepdims=True))
        a = e / e.sum(axis=1, keepdims=True)
    return a


def reference_loss(net: wb.MLP, X, Y) -> float:
    out = reference_forward(net, X)
    if net.output == "softmax":
        labels = np.asarray(Y)
        labels = labels.argmax(axis=1) if labels.ndim == 2 else labels
        return float(-np.log(out[np.arange(len(labels)), labels.astype(np.int64)]).mean())
    y = np.asarray(Y, dtype=net.dtype).astype(np.float64).reshape(out.shape)
    return float(np.mean((out - y) ** 2))


def tolerance(dtype) -> float:
    return 2e-3 if np.dtype(dtype) == np.float32 else 1e-9


# --------------------------------------------------------------------------- construction

def mostly(valid, odd):
    """``valid`` nine times in ten, ``odd`` otherwise (``st.one_of`` would draw each about equally)."""
    return st.integers(0, 9).flatmap(lambda i: odd if i == 0 else valid)


# sizes no machine can hold (10^13 and up) are refused before anything is allocated; sizes between
# 10^8 and 10^12 are never drawn: on a large machine they would really be allocated
odd_size = st.one_of(st.integers(-2, 0), st.integers(10**13, 10**30),
                     st.sampled_from([2.0, 2.5, 1e9, math.inf, math.nan, True, np.True_, None, "3", np.float64(4.0)]))  # fmt: skip
wild_size = mostly(st.one_of(st.integers(1, 12), st.sampled_from([np.int64(3), np.uint8(2)])), odd_size)
wild_sizes = mostly(st.lists(wild_size, min_size=2, max_size=5),
                    st.one_of(st.lists(wild_size, max_size=1), st.sampled_from([5, "4,3", None, np.array([3, 4]), np.array([3.0, 4.5])])))  # fmt: skip
activation_names = st.sampled_from(["relu", "tanh", "sigmoid", "linear", "leaky_relu", "selu", "gelu", "elu"])


@examples(3)
@given(sizes=wild_sizes,
       activation=mostly(activation_names, st.sampled_from(["tanhh", None, 3, True])),
       initializer=mostly(st.sampled_from(wb.initializer_names()), st.sampled_from(["xavier", None, 1])),
       dtype=mostly(st.sampled_from(["float32", "float64", np.float32]), st.sampled_from(["float16", "int32", None, True])),
       output=mostly(st.sampled_from(["linear", "softmax"]), st.just("logits")))  # fmt: skip
def test_mlp_is_built_from_positive_integer_sizes_or_refused(sizes, activation, initializer, dtype, output):
    net, exc = call(lambda: wb.MLP(sizes, activation, initializer, dtype=dtype, output=output, backend=BACKEND))
    if exc is not None:
        assert refused_properly(exc), f"{type(exc).__name__}: {exc}"
        return
    given_sizes = list(sizes)
    assert all(is_size(s) for s in given_sizes), f"built from sizes {given_sizes!r}"
    assert net.sizes == [int(s) for s in given_sizes] and net.dtype == np.dtype(dtype)
    for l, (w, b) in enumerate(net.weights()):
        assert w.shape == (net.sizes[l + 1], net.sizes[l]) and b.shape == (net.sizes[l + 1],)
        assert w.dtype == net.dtype and np.isfinite(w).all() and np.isfinite(b).all()
    out = net.forward(np.zeros((2, net.sizes[0]), net.dtype))
    assert out.shape == (2, net.sizes[-1]) and np.isfinite(out).all()


# --------------------------------------------------------------------------- forward


@st.composite
def nets(draw, outputs=("linear", "softmax"), dtypes=("float32", "float64")):
    depth = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 8), min_size=depth + 1, max_size=depth + 1))
    output = draw(st.sampled_from(outputs))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    return wb.MLP(sizes, draw(st.sampled_from(["tanh", "relu"])), "xavier_normal", output=output, seed=draw(st.integers(0, 99)),
                  dtype=draw(st.sampled_from(dtypes)), bias_std=0.5, backend=BACKEND)  # fmt: skip


finite_values = st.floats(-10, 10, width=32)
any_values = st.one_of(finite_values, finite_values, finite_values, st.sampled_from([math.nan, math.inf, -math.inf]))


@st.composite
def arrays_for(draw, shape, integer_values=False):
    """An array meant to have ``shape``, sometimes of another shape, dtype, memory layout or kind."""
    kind = draw(st.sampled_from(["array"] * 6 + ["wrong_shape", "list", "none", "string", "fortran", "strided"]))
    if kind == "none":
        return None
    if kind == "string":
        return "X"
    if kind == "wrong_shape":
        shape = draw(st.sampled_from([shape[:1], (shape[0], shape[1] + 1) if len(shape) > 1 else (shape[0], 2),
                                      (0,) + tuple(shape[1:]), tuple(shape) + (1,)]))  # fmt: skip
    if integer_values:
        dtype, elements = draw(st.sampled_from([np.int64, np.int32, np.uint8, np.float64])), st.integers(-1, 9)
        if dtype == np.uint8:
            elements = st.integers(0, 9)
    else:
        dtype = draw(st.sampled_from([np.float32, np.float64, np.float32, np.float64, np.int64, np.float16, np.bool_]))
        elements = {np.int64: st.integers(-10, 10), np.bool_: st.booleans()}.get(dtype, any_values)
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    if kind == "list":
        return a.tolist()
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided" and a.ndim == 2:
        return np.repeat(a, 2, axis=1)[:, ::2]
    return a


def check_forward(net, X, out):
    assert out.shape == (len(X), net.sizes[-1]) and out.dtype == net.dtype and np.isfinite(out).all()
    np.testing.assert_allclose(out, reference_forward(net, X), rtol=tolerance(net.dtype), atol=tolerance(net.dtype))


@examples(3)
@given(net=nets(), batch=st.integers(1, 6), data=st.data())
def test_forward_returns_the_networks_output_or_refuses(net, batch, data):
    X = data.draw(arrays_for((batch, net.sizes[0])), "X")
    out, exc = call(lambda: net.forward(X))
    if exc is not None:
        assert refused_properly(exc), f"{type(exc).__name__}: {exc}"
        return
    X = np.asarray(X)
    assert np.isfinite(X).all(), "non-finite X accepted"
    check_forward(net, X, np.asarray(wb.get_backend(BACKEND).to_host(out)))


# --------------------------------------------------------------------------- train_step


def targets_for(net, batch):
    if net.output == "softmax":
        return arrays_for((batch,), integer_values=True)
    return arrays_for((batch, net.sizes[-1]))


def valid_labels(net, Y) -> bool:
    y = np.asarray(Y)
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and y.size > 0 and 0 <= y.min() and y.max() < net.sizes[-1]


wild_lr = st.one_of(st.floats(1e-4, 0.1), st.sampled_from([0.0, -0.1, math.nan, math.inf, True, "0.1", None, np.float32(0.05)]))


@examples(3)
@given(net=nets(), batch=st.integers(1, 6), lr=wild_lr, data=st.data())
def test_train_step_returns_the_batch_loss_or_refuses(net, batch, lr, data):
    X = data.draw(arrays_for((batch, net.sizes[0])), "X")
    Y = data.draw(targets_for(net, batch), "Y")
    before = net.weights()
    loss, exc = call(lambda: net.train_step(X, Y, lr))
    if exc is not None:
        assert refused_properly(exc), f"{type(exc).__name__}: {exc}"
        for (w0, b0), (w1, b1) in zip(before, net.weights()):  # a refused step changes nothing
            np.testing.assert_array_equal(w0, w1)
            np.testing.assert_array_equal(b0, b1)
        return
    assert not isinstance(lr, (bool, str)) and lr is not None and math.isfinite(lr) and lr > 0, f"lr={lr!r} accepted"
    X, Y = np.asarray(X), np.asarray(Y)
    assert np.isfinite(X).all() and np.isfinite(Y.astype(np.float64)).all(), "non-finite input accepted"
    if net.output == "softmax":
        assert valid_labels(net, Y), f"labels {Y!r} accepted for {net.sizes[-1]} classes"
    assert isinstance(loss, float) and math.isfinite(loss)
    net_before = wb.MLP(net.sizes, net.activation, "xavier_normal", output=net.output, dtype=net.dtype, backend=BACKEND)
    net_before.set_weights(before)
    assert loss == pytest.approx(reference_loss(net_before, X, Y), rel=tolerance(net.dtype), abs=tolerance(net.dtype))
    assert all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in net.weights())


@st.composite
def batches(draw, net, batch, steps):
    """``steps`` valid (X, Y) batches, each unlike the one before (step ``k`` shifts values by ``k``,
    labels by ``k`` classes); Y as float64 for a linear output (converted into a float32 net)."""
    out = []
    for k in range(steps):
        X = draw(hnp.arrays(net.dtype, (batch, net.sizes[0]), elements=finite_values)) + k
        if net.output == "softmax":
            Y = (draw(hnp.arrays(np.int64, (batch,), elements=st.integers(0, net.sizes[-1] - 1))) + k) % net.sizes[-1]
        else:
            Y = draw(hnp.arrays(np.float64, (batch, net.sizes[-1]), elements=finite_values)) + k
        out.append((X, Y))
    return out


def twin(net):
    other = wb.MLP(net.sizes, net.activation, "xavier_normal", output=net.output, dtype=net.dtype, backend=BACKEND)
    other.set_weights(net.weights())
    return other


KINDS = [("linear", "float32"), ("linear", "float64"), ("softmax", "float32"), ("softmax", "float64")]


@pytest.mark.parametrize("output,dtype", KINDS)
@examples(0.25)
@given(data=st.data())
def test_train_step_reads_arrays_rewritten_in_place(output, dtype, data):
    """The loop ``xb[:] = ...; yb[:] = ...; net.train_step(xb, yb, lr)`` trains on the new values:
    each loss equals that of a twin network given fresh arrays of the same values."""
    net = data.draw(nets((output,), (dtype,)), "net")
    steps = data.draw(batches(net, data.draw(st.integers(1, 6), "batch"), 4), "batches")
    fresh = twin(net)
    xb, yb = steps[0][0].copy(), steps[0][1].copy()
    rel = 1e-5 if net.dtype == np.float32 else 1e-12
    for k, (X, Y) in enumerate(steps):
        xb[...], yb[...] = X, Y
        loss = net.train_step(xb, yb, 0.01)
        assert loss == pytest.approx(fresh.train_step(X.copy(), Y.copy(), 0.01), rel=rel, abs=rel), f"step {k} trained on stale data"


@pytest.mark.parametrize("where,bad", [("X", math.nan), ("X", -math.inf), ("Y", math.nan), ("Y", math.inf)])
@pytest.mark.parametrize("output,dtype", KINDS)
@examples(0.1)
@given(data=st.data())
def test_bad_values_written_in_place_are_refused(output, dtype, where, bad, data):
    """NaN/inf written into X or Y (for softmax: a label one past the last class) after a good step
    with the same arrays: a ValueError naming the array, not ``Diverged`` and not a silent step."""
    net = data.draw(nets((output,), (dtype,)), "net")
    (X, Y), = data.draw(batches(net, data.draw(st.integers(1, 6), "batch"), 1), "batch")
    net.train_step(X, Y, 0.01)
    if where == "Y" and output == "softmax":
        bad = net.sizes[-1]
    (X if where == "X" else Y)[0, ...] = bad
    with pytest.raises(ValueError) as info:
        net.train_step(X, Y, 0.01)
    msg = str(info.value)
    assert where in msg or (where == "Y" and "label" in msg), msg
