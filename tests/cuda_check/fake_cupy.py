"""A NumPy-backed stand-in for the few CuPy names the CuPy backend uses, to run the real
:class:`~winit_bench.backends.cupy_backend.CupyBackend` on the CPU.

Arrays are NumPy arrays; ``ElementwiseKernel`` compiles the kernel's own source (the one NVRTC
compiles) with the host C++ compiler (:mod:`.host`); the array functions of ``xp`` are NumPy's;
the device, stream and memory pools are recorders. :func:`cupy_backend_module` imports
``winit_bench.backends.cupy_backend`` against it and puts every module back afterwards.

What this runs for real: the backend's Python (which kernel for which call, its arguments and
their order, the scalar parameter's type, ``out is z``, the skipped linear gradient), the kernels'
arithmetic with the host's libm, and the losses and reductions of the base class through ``xp``.
What it cannot: a launch on a device, CuPy's broadcasting and argument checks, cuBLAS, the
memory pools, streams, CUDA's libm, and speed.
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager

import numpy as np

from winit_bench.backends.cuda_kernels import KernelSpec, param_names

from . import host

# NumPy functions the backend, its base class and the engine reach through ``xp``
XP_NAMES = (
    "arange", "asarray", "copyto", "empty", "exp", "finfo", "float32", "float64", "isfinite", "log", "matmul",
    "maximum", "ndarray", "ones", "stack", "subtract", "sum", "vdot", "zeros",
)  # fmt: skip
MODULE = "winit_bench.backends.cupy_backend"


class Recorder:
    """Counts the calls of each method asked of it (``calls["free_all_blocks"]``)."""

    def __init__(self, **values):
        self.calls: dict[str, int] = {}
        self.__dict__.update(values)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1

        return record


def make(prebuilt=None) -> types.ModuleType:
    """A fresh stand-in module called ``cupy``; ``cupy.kernels`` holds every kernel used, by (name, dtype).

    ``prebuilt``: ``{dtype: {name: HostKernel}}`` from :func:`.host.build`, used for a kernel whose
    spec is exactly the one the backend asks for (one compiler run for many kernels)."""
    cp = types.ModuleType("cupy")
    cp.__version__ = "0+numpy-stand-in"
    for name in XP_NAMES:
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = lambda x: np.array(x, copy=True)
    cp.kernels = {}
    cp.ElementwiseKernel = lambda *args: _Kernel(cp.kernels, prebuilt or {}, *args)
    cp.memory_pool, cp.pinned_pool, cp.stream = Recorder(), Recorder(), Recorder()
    cp.get_default_memory_pool = lambda: cp.memory_pool
    cp.get_default_pinned_memory_pool = lambda: cp.pinned_pool
    props = {"name": b"host CPU (stand-in)", "totalGlobalMem": 8 * 2**30}
    cp.cuda = types.SimpleNamespace(
        is_available=lambda: True,
        get_current_stream=lambda: cp.stream,
        Device=lambda: types.SimpleNamespace(id=0, compute_capability="90"),
        runtime=types.SimpleNamespace(getDeviceProperties=lambda i: props, driverGetVersion=lambda: 13000, runtimeGetVersion=lambda: 12090),
    )

    def missing(name):
        raise AttributeError(f"the cupy stand-in has no {name!r}: the backend now uses it; add it to tests/cuda_check/fake_cupy.py")

    cp.__getattr__ = missing
    return cp


class _Kernel:
    """``cupy.ElementwiseKernel``: compiled for a dtype on its first call with arrays of it."""

    def __init__(self, registry, prebuilt, in_params, out_params, operation, name):
        self._registry, self._prebuilt, self._args = registry, prebuilt, (in_params, out_params, operation, name)

    def __call__(self, *args):
        in_params, out_params, operation, name = self._args
        dtype = next(a.dtype for a in args if isinstance(a, np.ndarray)).name
        names = param_names(KernelSpec(name, in_params, out_params, operation, ()))
        scalars = tuple(n for n, a in zip(names, args) if not isinstance(a, np.ndarray))
        key = (name, dtype)
        if key not in self._registry:
            spec = KernelSpec(name, in_params, out_params, operation, scalars)
            ready = self._prebuilt.get(dtype, {}).get(name)
            self._registry[key] = ready if ready is not None and ready.spec == spec else host.build([spec], dtype)[name]
        kernel = self._registry[key]
        if kernel.spec.scalars != scalars:
            raise TypeError(f"{name}: scalars {scalars} now, {kernel.spec.scalars} before")
        return kernel(*args)


@contextmanager
def cupy_backend_module(cupy: types.ModuleType):
    """``winit_bench.backends.cupy_backend`` imported against ``cupy``; the modules before it are restored after."""
    import winit_bench.backends as package

    saved = {name: sys.modules.get(name) for name in ("cupy", MODULE)}
    saved_attr = package.__dict__.get("cupy_backend")
    sys.modules["cupy"] = cupy
    sys.modules.pop(MODULE, None)
    try:
        yield importlib.import_module(MODULE)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if saved_attr is None:
            package.__dict__.pop("cupy_backend", None)
        else:
            package.cupy_backend = saved_attr
