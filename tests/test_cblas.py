"""The fused SGD update ``W -= δᵀ a`` through NumPy's own CBLAS equals the two-step NumPy update."""

import numpy as np
import pytest

from winit_bench.backends import cblas


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("n_out, n_in, batch", [(256, 128, 32), (200, 300, 7)])
def test_subtract_product_matches_numpy(dtype, rtol, n_out, n_in, batch, monkeypatch):
    monkeypatch.setattr(cblas, "FUSED_MIN", 0)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    delta = rng.standard_normal((batch, n_out)).astype(dtype)
    a = rng.standard_normal((batch, n_in)).astype(dtype)
    expected = w.astype(np.float64) - delta.astype(np.float64).T @ a.astype(np.float64)
    if cblas._gemm(np.dtype(dtype).type) is None:
        pytest.skip("NumPy's BLAS exposes no CBLAS gemm here")
    assert cblas.subtract_product(w, delta, a)
    np.testing.assert_allclose(w, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


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
