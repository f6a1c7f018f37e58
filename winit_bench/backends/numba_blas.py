"""Matrix products for the Numba backend: the engine's CBLAS ``?gemm`` called from compiled code.

``np.matmul`` and a ctypes call both cost 2-5 µs of Python around each product; at width 64 that is
more than the product itself, and below ``cblas.FUSED_MIN`` weights it also forbids the fused SGD
update. Called from a jitted function the same ``gemm`` (MKL or NumPy's OpenBLAS, whichever
:mod:`~winit_bench.backends.cblas` chose) costs well under a microsecond more than its arithmetic,
for every size, and ``W -= δᵀ a`` is always one call with ``beta = 1``.

Products under :data:`SMALL` multiply-adds run on one thread (the library's thread-local setting,
set and restored around the call): waking the second thread costs more than it saves there
(measured at width 128, batch 32: 33 µs for a layer's three products on one thread, 44 on two;
from width 64, batch 256 up two threads win). OpenBLAS's ``openblas_set_num_threads_local`` sets
the global count in fact, which is harmless for calls from one thread at a time.

The library's addresses are arguments, not constants baked into the code, so :func:`gemm` caches
on disk like the other kernels. ``lib = (gemm address, int_like, thread setter address)``:
``int_like`` (``np.int32(0)`` or ``np.int64(0)``) gives the width of the library's integers (LP64
MKL, ILP64 OpenBLAS); the setter is ``int f(int)`` returning the previous setting, or 0 for none.
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from . import cblas

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: products with fewer multiply-adds than this run on one thread
SMALL = 1 << 20
_THREAD_SETTERS = ("MKL_Set_Num_Threads_Local", "openblas_set_num_threads_local")  # by value (MKL's lowercase names are its Fortran, by-pointer interface)


@intrinsic
def _call_gemm(typingctx, address, int_like, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)`` at ``address``."""
    arrays = (a, b, c)
    if not all(isinstance(x, types.Array) and x.dtype == c.dtype for x in arrays) or c.dtype not in (types.float32, types.float64):
        return None
    sig = types.void(address, int_like, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        address, _, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc = args
        enum, size, real = ir.IntType(32), ir.IntType(signature.args[1].bitwidth), context.get_value_type(signature.args[13].dtype)
        void_p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [enum, enum, enum, size, size, size, real, void_p, size, void_p, size, real, void_p, size])

        def integer(v, to):
            return builder.trunc(v, to) if v.type.width > to.width else builder.sext(v, to) if v.type.width < to.width else v

        def scalar(v, ty):
            return context.cast(builder, v, ty, signature.args[13].dtype)

        def data(v, ty):
            return builder.bitcast(context.make_array(ty)(context, builder, value=v).data, void_p)

        s = signature.args
        call = [ir.Constant(enum, _ROW_MAJOR), integer(ta, enum), integer(tb, enum), integer(m, size), integer(n, size), integer(k, size),
                scalar(alpha, s[7]), data(a, s[8]), integer(lda, size), data(b, s[10]), integer(ldb, size),
                scalar(beta, s[12]), data(c, s[13]), integer(ldc, size)]  # fmt: skip
        builder.call(builder.inttoptr(address, fnty.as_pointer()), call)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _call_int(typingctx, address, value):
    """``int f(int value)`` at ``address``."""
    sig = types.int32(address, value)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        fn = builder.inttoptr(args[0], ir.FunctionType(i32, [i32]).as_pointer())
        arg = builder.trunc(args[1], i32) if args[1].type.width > 32 else builder.sext(args[1], i32) if args[1].type.width < 32 else args[1]
        return builder.call(fn, [arg])

    return sig, codegen


@njit(cache=True)
def _layout(x):
    """``(trans, leading dimension)`` of a C-contiguous matrix or its transpose; ``(0, 0)`` for anything else."""
    item = x.itemsize
    if x.strides[1] == item and x.strides[0] >= x.shape[1] * item:
        return _NO_TRANS, x.strides[0] // item
    if x.strides[0] == item and x.strides[1] >= x.shape[0] * item:
        return _TRANS, x.strides[1] // item
    return 0, 0


@njit(cache=True)
def gemm(lib, a, b, c, alpha, beta):
    """``c = alpha a @ b + beta c`` through ``lib``; False (nothing done) when a layout does not fit."""
    address, int_like, set_threads = lib
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
        return False
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    tc, ldc = _layout(c)
    if ta == 0 or tb == 0 or tc != _NO_TRANS or m == 0 or n == 0:
        return False
    one_thread = set_threads != 0 and m * n * k < SMALL
    before = _call_int(set_threads, 1) if one_thread else 0
    _call_gemm(address, int_like, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    if one_thread:
        _call_int(set_threads, before)
    return True


def library_gemms() -> dict:
    """``{np.float32: lib, np.float64: lib}`` for :func:`gemm`, from the engine's CBLAS; empty when it has none."""
    found = {}
    for dt in (np.float32, np.float64):
        fn = cblas._gemm(dt)
        if fn is not None:
            int_like = np.int64(0) if fn.argtypes[3] is ctypes.c_int64 else np.int32(0)
            found[dt] = (ctypes.cast(fn, ctypes.c_void_p).value, int_like, _thread_setter())
    return found


def _thread_setter() -> int:
    """The address of the library's thread-local thread-count setter, 0 when it has none."""
    fn = cblas.symbol(cblas.handle(), _THREAD_SETTERS, [ctypes.c_int], ctypes.c_int)
    return ctypes.cast(fn, ctypes.c_void_p).value if fn is not None else 0
