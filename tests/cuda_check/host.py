"""The CUDA kernels of :mod:`winit_bench.backends.cuda_kernels` built by the host C++ compiler and
called through ctypes, so that their arithmetic can be checked on the CPU.

The source is the very text NVRTC compiles; a short prelude turns it into host C++: ``__global__``
means nothing, the grid is one block of one thread (the grid-stride loop then visits every
element in order), and ``max`` on floats is ``fmax`` as in CUDA's device math. The elementary
functions (``tanh``, ``expm1``, ...) are the host C library's, not CUDA's: this checks the
expressions, not libdevice. No ``-ffast-math``; ``-ffp-contract=off`` (NVRTC contracts ``a*b+c``
into FMAs by default, the host build does not).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache

import numpy as np

from winit_bench.backends.cuda_kernels import CTYPES, KernelSpec, array_params, kernel_source, param_names

PRELUDE = """\
#include <cmath>
using namespace std;
#define __global__
struct wb_dim3 { unsigned int x; };
static const wb_dim3 threadIdx = {0}, blockIdx = {0}, blockDim = {1}, gridDim = {1};
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
"""
# CuPy declares a reference for every array argument, used or not (the gradient of tanh never
# reads z): an unused variable is the form of an ElementwiseKernel, not a defect of the kernel
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c++17", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-Wno-unused-variable", "-Wno-unused-parameter")


def compiler() -> str | None:
    """The host C++ compiler (``$CXX``, else ``c++``), or None."""
    return shutil.which(os.environ.get("CXX", "c++"))


class HostKernel:
    """One kernel, called like :class:`cupy.ElementwiseKernel` with arrays that broadcast over rows."""

    def __init__(self, lib: ctypes.CDLL, spec: KernelSpec, dtype: str):
        self.spec, self.dtype = spec, np.dtype(dtype)
        self._fn = getattr(lib, spec.name)
        self._fn.restype = None
        self._ctype = ctypes.c_float if dtype == "float32" else ctypes.c_double
        self.calls = 0

    def __call__(self, *args):
        names = param_names(self.spec)
        if len(args) != len(names):
            raise TypeError(f"{self.spec.name} takes {len(names)} arguments ({', '.join(names)}), got {len(args)}")
        values = dict(zip(names, args))
        arrays = [values[n] for n in array_params(self.spec)]
        out = arrays[-1]
        for name, arr in zip(array_params(self.spec), arrays):
            if not (isinstance(arr, np.ndarray) and arr.dtype == self.dtype and arr.flags.c_contiguous):
                raise TypeError(f"{self.spec.name}: {name} must be a C-contiguous {self.dtype} array, got {arr!r:.80}")
            if arr.ndim > out.ndim or out.shape[out.ndim - arr.ndim :] != arr.shape:
                raise ValueError(f"{self.spec.name}: {name} of shape {arr.shape} does not broadcast over rows of {out.shape}")
        call = [values[n].ctypes.data_as(ctypes.c_void_p) if n not in self.spec.scalars else self._ctype(values[n]) for n in names]
        call += [ctypes.c_longlong(a.size) for a in arrays] + [ctypes.c_longlong(out.size)]
        self._fn(*call)
        self.calls += 1
        return out


@lru_cache(maxsize=None)
def _build(source: str) -> str:
    """Compile ``source`` into a shared library (cached by content for this process); its path."""
    digest = hashlib.sha256((source + " ".join(FLAGS)).encode()).hexdigest()[:16]
    folder = tempfile.mkdtemp(prefix="wb-cuda-host-")
    src, lib = os.path.join(folder, f"k{digest}.cpp"), os.path.join(folder, f"k{digest}.so")
    with open(src, "w") as fh:
        fh.write(source)
    proc = subprocess.run([compiler(), *FLAGS, src, "-o", lib], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the host compiler rejected the kernels:\n{proc.stderr}")
    return lib


def build(specs, dtype: str) -> dict[str, HostKernel]:
    """Host versions of ``specs`` (kernels of one dtype) in one shared library: ``{name: HostKernel}``."""
    if dtype not in CTYPES:
        raise ValueError(f"dtype must be one of {', '.join(CTYPES)}, got {dtype!r}")
    specs = list(specs)
    lib = ctypes.CDLL(_build(PRELUDE + "\n".join(kernel_source(s, dtype) for s in specs)))
    return {s.name: HostKernel(lib, s, dtype) for s in specs}
