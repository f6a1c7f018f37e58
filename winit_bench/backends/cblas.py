"""``W -= δᵀ a`` as one GEMM (``beta = 1``) through the OpenBLAS NumPy itself links.

``np.matmul`` cannot accumulate into its output, so an SGD step would write ``dW`` and then pass
over ``W`` again; at width 1024 that second pass costs about a tenth of the step. The CBLAS
``?gemm`` of NumPy's own OpenBLAS (same library, same thread pool) does both at once. When that
library or symbol cannot be found, or an array is not C-contiguous, callers fall back to two steps.
"""

from __future__ import annotations

import ctypes
import glob
import os
from functools import lru_cache

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = {  # (name, 64-bit integers) in the order they are tried
    np.float32: [("scipy_cblas_sgemm64_", True), ("cblas_sgemm64_", True), ("scipy_cblas_sgemm", False), ("cblas_sgemm", False)],
    np.float64: [("scipy_cblas_dgemm64_", True), ("cblas_dgemm64_", True), ("scipy_cblas_dgemm", False), ("cblas_dgemm", False)],
}


def _numpy_blas_paths() -> list[str]:
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))) + sorted(glob.glob(os.path.join(libs, "libopenblas*.so*")))


@lru_cache(maxsize=None)
def _gemm(dtype: type):
    """The CBLAS gemm for ``dtype`` with its argument types set, or None."""
    if os.environ.get("WINIT_BENCH_NO_FUSED_GEMM"):
        return None
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, ilp64 in _SYMBOLS[dtype]:
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            i, real = (ctypes.c_int64 if ilp64 else ctypes.c_int), (ctypes.c_float if dtype is np.float32 else ctypes.c_double)
            e, p = ctypes.c_int, ctypes.c_void_p
            fn.argtypes = [e, e, e, i, i, i, real, p, i, p, i, real, p, i]
            fn.restype = None
            return fn
    return None


#: below this many weights the ctypes call (~5 µs) costs more than the pass over ``W`` it saves
FUSED_MIN = 1 << 15


def subtract_product(w: np.ndarray, delta: np.ndarray, a_prev: np.ndarray) -> bool:
    """``w -= delta.T @ a_prev`` in one gemm; False (nothing done) when it cannot run here or would not pay."""
    dt = w.dtype.type
    if w.size < FUSED_MIN or dt not in _SYMBOLS or not (delta.dtype == a_prev.dtype == w.dtype):
        return False
    if not (w.flags.c_contiguous and delta.flags.c_contiguous and a_prev.flags.c_contiguous and w.flags.writeable):
        return False
    gemm = _gemm(dt)
    if gemm is None:
        return False
    n_out, n_in = w.shape
    batch = delta.shape[0]
    if delta.shape != (batch, n_out) or a_prev.shape != (batch, n_in):
        raise ValueError(f"shapes do not chain: W{w.shape}, delta{delta.shape}, a_prev{a_prev.shape}")
    gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, n_out, n_in, batch, -1.0, delta.ctypes.data, n_out,
         a_prev.ctypes.data, n_in, 1.0, w.ctypes.data, n_in)  # fmt: skip
    return True
