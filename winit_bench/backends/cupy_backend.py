"""The CuPy backend: cuBLAS for the matrix products, one fused CUDA kernel per element-wise step.

``bias + activation`` and ``δ ⊙ f'`` each run as a single ``ElementwiseKernel`` generated from
the C expressions below (the same math as :mod:`winit_bench.activations`); losses and reductions
stay on the device. TF32 tensor-core math for float32 products is off unless ``CUPY_TF32=1`` was
set before CuPy was imported; :meth:`CupyBackend.info` records which.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUPY_TF32", "0")  # must precede the import: CuPy reads it once

import cupy  # noqa: E402
import numpy as np  # noqa: E402

from ..activations import GELU_C, GELU_K, LECUN_TANH_SCALE, SELU_ALPHA, SELU_SCALE  # noqa: E402
from .base import Backend, BackendUnavailable  # noqa: E402

# f(x), and f'(z) given a = f(z) (an expression, or statements that set ``d``);
# ``p`` is the activation's parameter (leaky slope, ELU alpha).
_SIG = "((T)0.5 * (tanh((T)0.5 * {x}) + (T)1))"
_FORWARD = {
    "linear": "x",
    "relu": "(x > (T)0 ? x : (T)0)",
    "leaky_relu": "(x > (T)0 ? x : x * p)",
    "tanh": "tanh(x)",
    "sigmoid": _SIG.format(x="x"),
    "selu": f"(x > (T)0 ? (T){SELU_SCALE!r} * x : (T){SELU_SCALE * SELU_ALPHA!r} * expm1(x))",
    "elu": "(x > (T)0 ? x : p * expm1(x))",
    "gelu": f"((T)0.5 * x * ((T)1 + tanh((T){GELU_C!r} * (x + (T){GELU_K!r} * x * x * x))))",
    "silu": f"(x * {_SIG.format(x='x')})",
    "softplus": "(max(x, (T)0) + log1p(exp(-fabs(x))))",
    "lecun_tanh": f"((T){LECUN_TANH_SCALE!r} * tanh((T)(2.0 / 3.0) * x))",
}
_DERIVATIVE = {
    "linear": "(T)1",
    "relu": "(a > (T)0 ? (T)1 : (T)0)",
    "leaky_relu": "(a > (T)0 ? (T)1 : p)",
    "tanh": "((T)1 - a * a)",
    "sigmoid": "(a * ((T)1 - a))",
    "selu": f"(a > (T)0 ? (T){SELU_SCALE!r} : a + (T){SELU_SCALE * SELU_ALPHA!r})",
    "elu": "(a > (T)0 ? (T)1 : a + p)",
    "gelu": (
        f"T t = tanh((T){GELU_C!r} * (z + (T){GELU_K!r} * z * z * z)); T d = (T)0.5 * ((T)1 + t)"
        f" + (T)0.5 * z * ((T)1 - t * t) * (T){GELU_C!r} * ((T)1 + (T){3 * GELU_K!r} * z * z);"
    ),
    "silu": f"T s = {_SIG.format(x='z')}; T d = s * ((T)1 + z * ((T)1 - s));",
    "softplus": "(-expm1(-a))",
    "lecun_tanh": f"((T){LECUN_TANH_SCALE * 2 / 3!r} * ((T)1 - (a / (T){LECUN_TANH_SCALE!r}) * (a / (T){LECUN_TANH_SCALE!r})))",
}


class CupyBackend(Backend):
    name = "cupy"
    xp = cupy

    def __init__(self):
        self._kernels: dict[tuple, cupy.ElementwiseKernel] = {}

    def _kernel(self, kind: str, act_name: str) -> cupy.ElementwiseKernel:
        key = (kind, act_name)
        if key not in self._kernels:
            if kind == "inplace":  # z <- f(z + b)
                k = cupy.ElementwiseKernel("T b, T p", "T z", f"T x = z + b; z = {_FORWARD[act_name]};", f"wb_fwd_ip_{act_name}")
            elif kind == "split":  # z <- z + b, a <- f(z)
                k = cupy.ElementwiseKernel("T b, T p", "T z, T a", f"T x = z + b; z = x; a = {_FORWARD[act_name]};", f"wb_fwd_{act_name}")
            else:  # g <- g * f'(z)
                d = _DERIVATIVE[act_name]
                body = d if d.endswith(";") else f"T d = {d};"
                k = cupy.ElementwiseKernel("T z, T a, T p", "T g", f"{body} g = g * d;", f"wb_grad_{act_name}")
            self._kernels[key] = k
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
