"""The engine's products through a CBLAS gemm (NumPy's OpenBLAS, or MKL) equal NumPy's own."""

import os

import numpy as np
import pytest

import winit_bench as wb
from winit_bench.backends import cblas
from winit_bench.backends.base import BackendUnavailable

LIBRARIES = ["openblas"] + (["mkl"] if cblas._mkl_paths() else [])


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("n_out, n_in, batch", [(256, 128, 32), (200, 300, 7)])
def test_subtract_product_matches_numpy(library, dtype, rtol, n_out, n_in, batch, use_blas, monkeypatch):
    use_blas(library)
    monkeypatch.setattr(cblas, "FUSED_MIN", 0)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    delta = rng.standard_normal((batch, n_out)).astype(dtype)
    a = rng.standard_normal((batch, n_in)).astype(dtype)
    expected = w.astype(np.float64) - delta.astype(np.float64).T @ a.astype(np.float64)
    if cblas._gemm(np.dtype(dtype).type) is None:
        pytest.skip(f"{library} exposes no CBLAS gemm here")
    assert cblas.subtract_product(w, delta, a)
    np.testing.assert_allclose(w, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.skipif("mkl" not in LIBRARIES, reason="the mkl extra is not installed")
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_matmul_through_mkl_matches_numpy_for_every_layout(dtype, rtol, use_blas, monkeypatch):
    use_blas("mkl")
    monkeypatch.setattr(cblas, "MATMUL_MIN", 0)
    rng = np.random.default_rng(1)
    m, k, n = 33, 70, 51
    for ta in (False, True):
        for tb in (False, True):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            a, b = (a.T if ta else a), (b.T if tb else b)  # the engine's transposed views
            out = np.empty((m, n), dtype)
            assert cblas.matmul(a, b, out)
            expected = a.astype(np.float64) @ b.astype(np.float64)
            np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * np.abs(expected).max(), err_msg=f"{ta=} {tb=}")
    assert not cblas.matmul(a[::2], b, np.empty((17, n), dtype))  # a strided view: NumPy's turn


@pytest.mark.parametrize("library", LIBRARIES)
def test_small_weights_are_updated_in_one_call_when_the_product_would_be_one(library, use_blas):
    """Under FUSED_MIN weights the fused update waits for a product big enough for MKL's route
    (then the product alone would be the same ctypes call); OpenBLAS's products go through NumPy."""
    use_blas(library)
    w = np.zeros((128, 128), np.float32)  # 16384 weights < FUSED_MIN
    big, small = (np.ones((b, 128), np.float32) for b in (cblas.MATMUL_MIN // 128**2, cblas.MATMUL_MIN // 128**2 - 1))
    assert cblas.subtract_product(w, small, small) is False and not w.any()
    assert cblas.subtract_product(w, big, big) is (library == "mkl")
    assert (w == (-len(big) if library == "mkl" else 0)).all()


def test_openblas_leaves_matmul_to_numpy(use_blas):
    use_blas("openblas")
    a = np.ones((512, 512), np.float32)
    assert not cblas.matmul(a, a, np.empty_like(a))


@pytest.mark.skipif("mkl" not in LIBRARIES, reason="the mkl extra is not installed")
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_training_is_the_same_on_either_library(backend, use_blas):
    if backend not in wb.available_backends() or wb.available_backends()[backend] is not None:
        pytest.skip(f"{backend} backend unusable here")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((128, 256)).astype("float32")
    Y = rng.standard_normal((128, 256)).astype("float32")
    weights = {}
    for library in ("openblas", "mkl"):
        use_blas(library)
        net = wb.MLP([256] * 4, "tanh", "xavier_normal", seed=3, backend=backend)  # products of 8M multiply-adds
        assert net.backend.info()["engine_blas"] == library
        for _ in range(3):
            net.train_step(X, Y, 0.05)
        weights[library] = net.weights()
    for (w1, b1), (w2, b2) in zip(weights["openblas"], weights["mkl"]):
        np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b1, b2, rtol=1e-4, atol=1e-6)


def test_a_bad_blas_choice_is_a_clear_error(use_blas, monkeypatch):
    use_blas("bogus")
    with pytest.raises(BackendUnavailable, match="valid: auto, mkl, openblas, numpy"):
        cblas.library()
    use_blas("mkl")
    monkeypatch.setattr(cblas, "_mkl_paths", lambda: [])  # as on a machine without the extra
    with pytest.raises(BackendUnavailable, match=r"pip install 'winit-bench\[mkl\]'"):
        cblas.library()


def test_declines_what_it_cannot_do(monkeypatch):
    monkeypatch.setattr(cblas, "FUSED_MIN", 0)
    w = np.ones((4, 6), np.float32)
    delta, a = np.ones((3, 4), np.float32), np.ones((3, 6), np.float32)
    assert not cblas.subtract_product(w, delta.astype(np.float64), a)  # mixed dtypes
    assert not cblas.subtract_product(np.asfortranarray(w), delta, a)  # not C-contiguous
    assert not cblas.subtract_product(w, np.ones((6, 4), np.float32).T, a)  # a transposed view
    assert np.all(w == 1)
    with pytest.raises(ValueError, match="do not chain"):
        cblas.subtract_product(w, np.ones((3, 5), np.float32), a)


@pytest.mark.parametrize("library", ["openblas", "mkl"])
def test_threads_reads_the_current_limit(library, use_blas):
    """``threads()`` follows threadpoolctl's limits on the library serving the engine (the numba step sizes its blocks by it)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    use_blas(library)
    if cblas.library() != library or cblas.handle() is None:
        pytest.skip(f"{library} is not installed here")
    for n in sorted({1, min(2, os.cpu_count() or 1)}):
        with threadpoolctl.threadpool_limits(n, user_api="blas"):
            assert cblas.threads() == n
