"""The Numba backend against the NumPy reference: every fused kernel, every activation, both outputs.

Float64 must agree with NumPy to 1e-12 and float32 to 1e-5 (relative to the largest magnitude of
each array): the kernels compute the same formulas, with a vectorised tanh/expm1 that is within a
few ulp of NumPy's. Timing is not asserted here; ``benchmarks/`` measures it.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

import winit_bench as wb  # noqa: E402
from winit_bench.activations import get_activation  # noqa: E402
from winit_bench.backends.base import Backend  # noqa: E402

ACTIVATIONS = wb.activation_names()
SIZES = [6, 16, 12, 4]
TOL = {"float64": 1e-12, "float32": 1e-5}


@pytest.fixture(scope="module")
def nb():
    return wb.get_backend("numba")


@pytest.fixture(scope="module")
def generic():
    """The base class: the array-API versions every backend must reproduce."""
    return Backend()


def _close(got, want, rtol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    scale = max(float(np.max(np.abs(want))), 1e-30) if want.size else 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) / scale if want.size else 0.0
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"


def _data(output, dtype, batch=9, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    Y = rng.integers(0, SIZES[-1], batch) if output == "softmax" else rng.standard_normal((batch, SIZES[-1])).astype(dtype)
    return X, Y


def _pair(activation, output, dtype):
    kw = dict(output=output, dtype=dtype, seed=5, bias_std=0.2)
    return wb.MLP(SIZES, activation, backend="numpy", **kw), wb.MLP(SIZES, activation, backend="numba", **kw)


# ------------------------------------------------------------------------------------------------ the engine
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output", ["linear", "softmax"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_engine_matches_numpy(activation, output, dtype):
    """Forward, gradients and ten SGD steps: numba equals numpy to 1e-12 (float64) / 1e-5 (float32)."""
    tol = TOL[dtype]
    ref, net = _pair(activation, output, dtype)
    X, Y = _data(output, dtype)
    out = net.forward(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.dtype(dtype)
    _close(out, ref.forward(X), tol)

    loss_ref, grads_ref = ref.gradients(X, Y)
    loss, grads = net.gradients(X, Y)
    assert loss == pytest.approx(loss_ref, rel=tol)
    for (gw, gb), (rw, rb) in zip(grads, grads_ref):
        _close(gw, rw, tol)
        _close(gb, rb, tol)

    for _ in range(10):
        assert net.train_step(X, Y, 0.05) == pytest.approx(ref.train_step(X, Y, 0.05), rel=tol)
    for (w, b), (rw, rb) in zip(net.weights(), ref.weights()):
        _close(w, rw, tol)
        _close(b, rb, tol)


def test_initial_weights_are_bit_identical():
    for dtype in ("float32", "float64"):
        a = wb.MLP([7, 33, 20, 3], "relu", "he_normal", seed=11, dtype=dtype, bias_std=0.5, backend="numba").weights()
        b = wb.MLP([7, 33, 20, 3], "relu", "he_normal", seed=11, dtype=dtype, bias_std=0.5, backend="numpy").weights()
        for (wa, ba), (wb_, bb) in zip(a, b):
            assert wa.dtype == np.dtype(dtype) and np.array_equal(wa, wb_) and np.array_equal(ba, bb)


def test_parallel_kernels_match_serial(nb):
    """Opt-in prange kernels (arrays of at least ``parallel_min`` elements) compute the same bits."""
    from winit_bench.backends import numba_backend

    assert nb.parallel_min == numba_backend.PARALLEL_MIN
    serial, parallel = _pair("tanh", "linear", "float32")
    serial.backend = type(nb)(parallel_min=1 << 62)
    parallel.backend = type(nb)(parallel_min=1)
    parallel.backend.warmup(dtypes=("float32",))  # compile (or load) one dtype only: keeps the test short
    X, Y = _data("linear", "float32", batch=40)
    (loss, grads), (ploss, pgrads) = serial.gradients(X, Y), parallel.gradients(X, Y)  # operation by operation
    assert loss == ploss
    for (w, b), (pw, pb) in zip(grads, pgrads):
        assert np.array_equal(w, pw) and np.array_equal(b, pb)
    assert np.array_equal(serial.forward(X), parallel.forward(X))
    assert all(k.signatures for k in numba_backend._PARALLEL)


# ------------------------------------------------------------------------------------------------ each kernel
def _inputs(dtype, shape=(7, 13), seed=1):
    rng = np.random.default_rng(seed)
    z = (2.5 * rng.standard_normal(shape)).astype(dtype)
    z.flat[:4] = [0.0, -0.0, 1e-30, -40.0]  # zeros, a tiny value, deep saturation
    b = rng.standard_normal(shape[1]).astype(dtype)
    return z, b


def _kernel_tol(dtype):
    return 1e-13 if dtype == "float64" else 2e-6  # a few ulp: the vectorised tanh/expm1 are not NumPy's bits


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bias_act_and_act_grad_match_generic(nb, generic, activation, dtype):
    act = get_activation(activation, 0.2 if activation in ("leaky_relu", "elu") else None)
    tol = _kernel_tol(dtype)
    z0, b = _inputs(dtype)

    # separate output: z keeps z + b, out gets f(z + b)
    z, out = z0.copy(), np.empty_like(z0)
    zr, outr = z0.copy(), np.empty_like(z0)
    assert nb.bias_act(z, b, act, out) is out
    generic.bias_act(zr, b, act, outr)
    assert z.dtype == out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(z, zr)
    _close(out, outr, tol)

    # in place: z becomes f(z + b)
    zi = z0.copy()
    assert nb.bias_act(zi, b, act, zi) is zi
    _close(zi, outr, tol)

    # g *= f'(...) from a (from_output) or from z
    rng = np.random.default_rng(2)
    g, gr = (rng.standard_normal(z0.shape).astype(dtype) for _ in range(2))
    gr[...] = g
    zz = None if act.from_output else zr
    assert nb.act_grad(g, zz, outr, act, np.empty_like(g)) is g
    generic.act_grad(gr, zz, outr, act, np.empty_like(gr))
    assert g.dtype == np.dtype(dtype)
    _close(g, gr, tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nan_and_inf_pass_through_every_activation(nb, dtype):
    """A non-finite pre-activation must stay visible so the engine can report divergence."""
    for name in ACTIVATIONS:
        act = get_activation(name)
        z = np.array([[np.nan, 1.0, -1.0]], dtype)
        out = np.empty_like(z)
        nb.bias_act(z, np.zeros(3, dtype), act, out)
        assert np.isnan(out[0, 0]), name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_sum_rows_and_losses_match_generic(nb, generic, dtype):
    tol = _kernel_tol(dtype)
    rng = np.random.default_rng(3)
    for shape in [(5, 8), (8,)]:
        w, g = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
        wr = w.copy()
        for lr in (1.0, 0.3):
            assert nb.sgd(w, g, lr) is w
            generic.sgd(wr, g, lr)
            np.testing.assert_array_equal(w, wr)  # same roundings: exact
        assert w.dtype == np.dtype(dtype)

    x = rng.standard_normal((33, 6)).astype(dtype)
    out, outr = np.empty(6, dtype), np.empty(6, dtype)
    assert nb.sum_rows(x, out) is out
    generic.sum_rows(x, outr)
    _close(out, outr, tol)

    o, y = (rng.standard_normal((10, 4)).astype(dtype) for _ in range(2))
    d, dr = np.empty_like(o), np.empty_like(o)
    loss, lossr = nb.mse(o, y, d, 0.7), generic.mse(o, y, dr, 0.7)
    assert float(loss) == pytest.approx(float(lossr), rel=tol)
    assert d.dtype == np.dtype(dtype)
    _close(d, dr, tol)

    logits = (3 * rng.standard_normal((10, 5))).astype(dtype)
    logits[0] = [80, -80, 0, 1, 2]  # a near-certain row: log of a tiny probability, exp underflow
    labels = rng.integers(0, 5, 10)
    labels[0] = 1
    d, dr = np.empty_like(logits), np.empty_like(logits)
    loss, lossr = nb.softmax_xent(logits, labels, d, 0.5), generic.softmax_xent(logits, labels, dr, 0.5)
    assert np.isfinite(float(loss)) and float(loss) == pytest.approx(float(lossr), rel=tol)
    assert d.dtype == np.dtype(dtype)
    _close(d, dr, tol)


def test_unsupported_arguments_fall_back_to_the_generic_code(nb, generic):
    """Other dtypes, strided views and scalar biases take the generic path (compilation is frozen)."""
    act = get_activation("tanh")
    z16 = np.linspace(-2, 2, 12, dtype=np.float16).reshape(3, 4)
    out = np.empty_like(z16)
    nb.bias_act(z16.copy(), np.ones(4, np.float16), act, out)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, np.tanh(z16 + 1), rtol=1e-3)

    z, b = _inputs("float64", shape=(6, 10))
    view = z[:, ::2]  # not contiguous
    want = np.empty_like(view)
    generic.bias_act(view.copy(), b[::2], act, want)
    got = np.empty_like(view)
    nb.bias_act(view.copy(), b[::2], act, got)
    _close(got, want, 1e-13)

    zs = z.copy()
    nb.bias_act(zs, 0, act, zs)  # engine._apply passes a scalar bias of 0
    _close(zs, np.tanh(z), 1e-13)


def test_shape_mismatch_is_an_error_not_a_memory_fault(nb):
    act = get_activation("relu")
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shapes"):
        nb.bias_act(z, np.zeros(5), act, np.empty_like(z))
    with pytest.raises(ValueError, match="shapes"):
        nb.act_grad(z, None, np.zeros((3, 5)), act, z)
    with pytest.raises(ValueError, match="shapes"):
        nb.sgd(z, np.zeros((4, 3)), 1.0)


def test_info_and_threading(nb):
    info = nb.info()
    import numba

    assert info["backend"] == "numba" and info["numba"] == numba.__version__ and info["numpy"] == np.__version__
    assert info["threading_layer"] and info["numba_num_threads"] >= 1 and info["blas"]


@pytest.mark.parametrize("library", ["openblas", "mkl"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_gemm_equals_numpy_in_the_engines_layouts(library, dtype, use_blas):
    """The CBLAS call from compiled code (numba_blas) for a @ W.T, δ.T @ a, δ @ W and W -= δ.T @ a."""
    from winit_bench.backends import cblas, numba_blas

    if library == "mkl" and not cblas._mkl_paths():
        pytest.skip("the mkl extra is not installed")
    use_blas(library)
    lib = numba_blas.library_gemms()[np.dtype(dtype).type]
    rng = np.random.default_rng(5)
    a, w, d = (rng.standard_normal(s).astype(dtype) for s in ((9, 14), (11, 14), (9, 11)))
    ref = {k: v.astype(np.float64) for k, v in dict(a=a, w=w, d=d).items()}
    tol = TOL[dtype] * 10
    z = np.empty((9, 11), dtype)
    assert numba_blas.gemm(lib, a, w.T, z, 1.0, 0.0)
    np.testing.assert_allclose(z, ref["a"] @ ref["w"].T, rtol=tol, atol=tol)
    gw = np.empty((11, 14), dtype)
    assert numba_blas.gemm(lib, d.T, a, gw, 1.0, 0.0)
    np.testing.assert_allclose(gw, ref["d"].T @ ref["a"], rtol=tol, atol=tol)
    g = np.empty((9, 14), dtype)
    assert numba_blas.gemm(lib, d, w, g, 1.0, 0.0)
    np.testing.assert_allclose(g, ref["d"] @ ref["w"], rtol=tol, atol=tol)
    assert numba_blas.gemm(lib, d.T, a, w, -1.0, 1.0)  # the fused SGD update, in place
    np.testing.assert_allclose(w, ref["w"] - ref["d"].T @ ref["a"], rtol=tol, atol=tol)
    before = z.copy()  # shapes that do not chain: declined, the output left alone
    assert not numba_blas.gemm(lib, a, w, z, 1.0, 0.0)
    assert np.array_equal(z, before)
    # these small products ran on one thread; the library's own setting is back where it was
    if lib[2]:
        from threadpoolctl import threadpool_info

        api = "mkl" if library == "mkl" else "openblas"
        threads = [p["num_threads"] for p in threadpool_info() if p["internal_api"] == api]
        assert numba_blas.gemm(lib, a, w.T, z, 1.0, 0.0)
        assert [p["num_threads"] for p in threadpool_info() if p["internal_api"] == api] == threads


def test_numba_backend_products_fall_back_to_numpy(nb):
    """Layouts the compiled call was not built for (a strided view) still give the right product."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((20, 16)).astype("float32")
    w = rng.standard_normal((8, 16)).astype("float32")
    out = np.empty((10, 8), "float32")
    nb.matmul(a[::2, :], w.T, out)  # a non-contiguous row view: an 'A'-layout array
    np.testing.assert_allclose(out, a[::2] @ w.T, rtol=1e-5, atol=1e-5)
    out = np.empty((20, 4), "float32")
    nb.matmul(a, w[::2].T, out)
    np.testing.assert_allclose(out, a @ w[::2].T, rtol=1e-5, atol=1e-5)
    out = np.empty((20, 8), "float32")
    nb.matmul(a[:, ::2], w[:, :8].T, out)  # every other column: no leading dimension describes it
    np.testing.assert_allclose(out, a[:, ::2] @ w[:, :8].T, rtol=1e-5, atol=1e-5)
