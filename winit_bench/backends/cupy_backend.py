"""The CuPy backend: cuBLAS for the matrix products, one fused CUDA kernel per element-wise step.

``bias + activation`` and ``δ ⊙ f'`` each run as a single ``ElementwiseKernel`` built from
:func:`~winit_bench.backends.cuda_kernels.kernel_spec` (the C expressions of the same math as
:mod:`winit_bench.activations`, compiled and checked on the CPU by the test suite); losses and
reductions stay on the device. TF32 tensor-core math for float32 products is off unless ``CUPY_TF32=1`` was
set before CuPy was imported; :meth:`CupyBackend.info` records which.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUPY_TF32", "0")  # must precede the import: CuPy reads it once

import cupy  # noqa: E402
import numpy as np  # noqa: E402

from .base import Backend, BackendUnavailable  # noqa: E402
from .cuda_kernels import kernel_spec  # noqa: E402


class CupyBackend(Backend):
    name = "cupy"
    xp = cupy

    def __init__(self):
        self._kernels: dict[tuple, cupy.ElementwiseKernel] = {}

    def _kernel(self, kind: str, act_name: str) -> cupy.ElementwiseKernel:
        key = (kind, act_name)
        if key not in self._kernels:
            spec = kernel_spec(kind, act_name)
            self._kernels[key] = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name)
        return self._kernels[key]

    def to_host(self, x) -> np.ndarray:
        return cupy.asnumpy(x)

    def synchronize(self) -> None:
        cupy.cuda.get_current_stream().synchronize()

    def free_memory(self) -> None:
        """Return every cached block of CuPy's memory pools to the driver."""
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()

    def bias_act(self, z, b, act, out):
        p = z.dtype.type(act.param or 0)
        b = cupy.asarray(b, dtype=z.dtype)
        if out is z:
            self._kernel("inplace", act.name)(b, p, z)
        else:
            self._kernel("split", act.name)(b, p, z, out)
        return out

    def act_grad(self, g, z, a, act, tmp):
        if act.name != "linear":
            self._kernel("grad", act.name)(a if z is None else z, a, g.dtype.type(act.param or 0), g)
        return g

    def info(self) -> dict:
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        return {
            "backend": self.name,
            "cupy": cupy.__version__,
            "numpy": np.__version__,
            "device": name.decode() if isinstance(name, bytes) else name,
            "compute_capability": dev.compute_capability,
            "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
            "tf32": os.environ.get("CUPY_TF32", "0") == "1",
        }


def unavailable_reason() -> str | None:
    """Why CuPy cannot run here (no device, driver older than the runtime), or None."""
    try:
        if not cupy.cuda.is_available():
            return "no CUDA device (cupy.cuda.is_available() is False)"
        driver, runtime = cupy.cuda.runtime.driverGetVersion(), cupy.cuda.runtime.runtimeGetVersion()
    except Exception as exc:  # any CUDA error while probing the device is a reason, not a crash
        return f"CUDA error while probing the device: {exc}"
    if driver < runtime:
        return f"CUDA driver too old: driver supports CUDA {driver}, CuPy needs {runtime}"
    return None


def load() -> CupyBackend:
    reason = unavailable_reason()
    if reason:
        raise BackendUnavailable(f"backend 'cupy' is unavailable: {reason}")
    return CupyBackend()
