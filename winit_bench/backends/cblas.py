"""The engine's matrix products through a CBLAS ``?gemm`` called directly: NumPy's OpenBLAS, or MKL.

Two things ``np.matmul`` cannot do:

- **accumulate**: an SGD step would write ``dW`` and then pass over ``W`` again (at width 1024 a
  tenth of the step); ``gemm`` with ``beta = 1`` does ``W -= δᵀ a`` at once (:func:`subtract_product`);
- **use another BLAS**: on this class of machine MKL's ``sgemm`` is 1.3-1.5x faster than OpenBLAS's
  at width 256 (and MKL is what PyTorch links). :func:`matmul` sends the products big enough to pay
  for a ctypes call there. The numba backend calls the same ``gemm`` from compiled code
  (:mod:`.numba_blas`), for every size.

Which library (``$WINIT_BENCH_BLAS``): ``auto`` (the default) takes MKL when the ``mkl`` extra is
installed (``libmkl_rt`` next to this Python), else NumPy's own OpenBLAS; ``mkl`` insists on MKL;
``openblas`` (or ``numpy``) keeps NumPy's. ``WINIT_BENCH_NO_FUSED_GEMM=1`` turns all of it off.
When the library or symbol cannot be found, or an array's layout does not fit, callers fall back to
NumPy. MKL runs its threads from Intel OpenMP; threadpoolctl sees and limits them like OpenBLAS's.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from functools import lru_cache

import numpy as np

from .base import BackendUnavailable

BLAS_VAR = "WINIT_BENCH_BLAS"
CHOICES = ("auto", "mkl", "openblas", "numpy")
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = {  # (name, 64-bit integers) in the order they are tried
    np.float32: [("scipy_cblas_sgemm64_", True), ("cblas_sgemm64_", True), ("scipy_cblas_sgemm", False), ("cblas_sgemm", False)],
    np.float64: [("scipy_cblas_dgemm64_", True), ("cblas_dgemm64_", True), ("scipy_cblas_dgemm", False), ("cblas_dgemm", False)],
}

#: below this many weights the ctypes call (~5 µs) costs more than the pass over ``W`` it saves,
#: unless the product is big enough for MKL (:data:`MATMUL_MIN`), where it is that call either way
FUSED_MIN = 1 << 15
#: below this many multiply-adds NumPy's OpenBLAS (called with less overhead) is as fast as MKL
#: (measured: MKL wins from width 128 x batch 256 and width 256 x batch 32 up)
MATMUL_MIN = 1 << 21


def _numpy_blas_paths() -> list[str]:
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))) + sorted(glob.glob(os.path.join(libs, "libopenblas*.so*")))


def _mkl_paths() -> list[str]:
    return sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))


def choice() -> str:
    """``$WINIT_BENCH_BLAS`` checked: one of :data:`CHOICES`."""
    value = (os.environ.get(BLAS_VAR) or "auto").strip().lower()
    if value not in CHOICES:
        raise BackendUnavailable(f"${BLAS_VAR}={value!r} is not a BLAS choice; valid: {', '.join(CHOICES)}")
    return value


@lru_cache(maxsize=None)
def library() -> str:
    """Which library serves :func:`matmul` and :func:`subtract_product`: ``"mkl"``, ``"openblas"`` or ``"none"``."""
    if os.environ.get("WINIT_BENCH_NO_FUSED_GEMM"):
        return "none"
    want = choice()
    if want in ("auto", "mkl") and _mkl_paths():
        return "mkl"
    if want == "mkl":
        raise BackendUnavailable(f"${BLAS_VAR}=mkl but MKL is not installed here; pip install 'winit-bench[mkl]' or unset {BLAS_VAR}")
    return "openblas"


@lru_cache(maxsize=None)
def handle():
    """The library of :func:`library`, loaded (a ``ctypes.CDLL``), or None."""
    paths = {"mkl": _mkl_paths, "openblas": _numpy_blas_paths}.get(library(), list)()
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if any(getattr(lib, name, None) is not None for name, _ in _SYMBOLS[np.float32]):
            return lib
    return None


@lru_cache(maxsize=None)
def _gemm(dtype: type):
    """The CBLAS gemm for ``dtype`` of :func:`library`, with its argument types set, or None."""
    lib = handle()
    for name, ilp64 in _SYMBOLS[dtype] if lib is not None else ():
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        i, real = (ctypes.c_int64 if ilp64 else ctypes.c_int), (ctypes.c_float if dtype is np.float32 else ctypes.c_double)
        e, p = ctypes.c_int, ctypes.c_void_p
        fn.argtypes = [e, e, e, i, i, i, real, p, i, p, i, real, p, i]
        fn.restype = None
        return fn
    return None


_THREAD_GETTERS = ("MKL_Get_Max_Threads", "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads")


def symbol(lib, names, argtypes, restype):
    """The first of ``names`` that ``lib`` (a ``ctypes.CDLL`` or None) exports, with its types set; None if none."""
    for name in names if lib is not None else ():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.argtypes, fn.restype = argtypes, restype
            return fn
    return None


@lru_cache(maxsize=None)
def _thread_getter():
    return symbol(handle(), _THREAD_GETTERS, [], ctypes.c_int)


def threads() -> int:
    """How many threads the library of :func:`library` may use now (threadpoolctl's limits included); 0 if unknown."""
    getter = _thread_getter()
    return int(getter()) if getter is not None else 0


def reset() -> None:
    """Forget the library chosen (after a change of ``$WINIT_BENCH_BLAS``); the next call chooses again."""
    for cached in (library, handle, _gemm, _thread_getter):
        cached.cache_clear()


def load() -> None:
    """Load the library now, so that thread limits set afterwards (threadpoolctl) reach it too.

    With MKL serving the engine, NumPy's OpenBLAS (still doing NumPy's own small products, dots and
    reductions) gets one thread: its idle threads spin for a while after every call, on the cores
    MKL's threads need (measured: a width-256 step 1.7x slower, 1024 2x, when the two alternate).
    """
    if _gemm(np.float32) is not None and library() == "mkl":
        _set_openblas_threads(1)


def _set_openblas_threads(n: int) -> None:
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = symbol(lib, ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads"), [ctypes.c_int], None)
        if setter is not None:
            setter(n)
            return


def _operand(x: np.ndarray):
    """``(base, trans)`` with ``x = base`` or ``base.T`` for a C-contiguous ``base``; None for other layouts."""
    if x.flags.c_contiguous:
        return x, _NO_TRANS
    if x.flags.f_contiguous:
        return x.T, _TRANS
    return None


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """``out[...] = a @ b`` through MKL when it serves the engine and the product is big enough; False otherwise."""
    if library() != "mkl" or a.ndim != 2 or b.ndim != 2:
        return False
    (m, k), n = a.shape, b.shape[1]
    dt = out.dtype.type
    if m * n * k < MATMUL_MIN or dt not in _SYMBOLS or not (a.dtype == b.dtype == out.dtype) or not out.flags.c_contiguous:
        return False
    pa, pb, gemm = _operand(a), _operand(b), _gemm(dt)
    if pa is None or pb is None or gemm is None or b.shape[0] != k or out.shape != (m, n):
        return False
    (A, ta), (B, tb) = pa, pb
    gemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, A.ctypes.data, A.shape[1], B.ctypes.data, B.shape[1], 0.0, out.ctypes.data, n)
    return True


def subtract_product(w: np.ndarray, delta: np.ndarray, a_prev: np.ndarray) -> bool:
    """``w -= delta.T @ a_prev`` in one gemm; False (nothing done) when it cannot run here or would not pay."""
    dt = w.dtype.type
    batch = delta.shape[0]
    mkl_product = library() == "mkl" and w.size * batch >= MATMUL_MIN  # the product alone would be this same call
    if (w.size < FUSED_MIN and not mkl_product) or dt not in _SYMBOLS or not (delta.dtype == a_prev.dtype == w.dtype):
        return False
    if not (w.flags.c_contiguous and delta.flags.c_contiguous and a_prev.flags.c_contiguous and w.flags.writeable):
        return False
    gemm = _gemm(dt)
    if gemm is None:
        return False
    n_out, n_in = w.shape
    if delta.shape != (batch, n_out) or a_prev.shape != (batch, n_in):
        raise ValueError(f"shapes do not chain: W{w.shape}, delta{delta.shape}, a_prev{a_prev.shape}")
    gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, n_out, n_in, batch, -1.0, delta.ctypes.data, n_out,
         a_prev.ctypes.data, n_in, 1.0, w.ctypes.data, n_in)  # fmt: skip
    return True


def info() -> dict:
    """What serves the engine's products, for a backend's ``info()``."""
    which = library()
    return {"engine_blas": which, "fused_sgd_gemm": which != "none" and _gemm(np.float32) is not None}
