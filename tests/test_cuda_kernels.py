"""The CuPy backend's CUDA kernels without a GPU: every source compiled by NVRTC, and each kernel's
arithmetic, built by the host C++ compiler, against the NumPy backend.

The sources are :func:`winit_bench.backends.cuda_kernels.kernel_source` of the very specs the
backend hands to ``cupy.ElementwiseKernel``. NVRTC proves they are valid CUDA for the target
architectures, warning-free, and that a float32 kernel does no float64 arithmetic. The host build
proves the expressions compute the activations and their derivatives, including at ±0, denormals,
huge inputs, ±inf and NaN. Neither proves CUDA's libm or a launch: that is ``tests/test_gpu.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_check import host, nvrtc

import winit_bench as wb
from winit_bench.backends import cuda_kernels
from winit_bench.backends.cuda_kernels import KINDS, all_kernels, kernel_spec
from winit_bench.backends.numpy_backend import NumpyBackend

NAMES = wb.activation_names()
ARCHS = ("compute_80", "compute_90")
# CuPy's generated code declares a reference for every array argument, used or not (the gradient
# of tanh never reads z): NVRTC's "declared but never referenced" (177) is the kernel form's
OPTIONS = ("--diag-suppress=177",)
# |kernel - numpy| <= TOL * (|numpy| + |x|): relative, except where the formula cancels
# (1 + tanh -> 0 in sigmoid, silu and gelu for large negative x; 1 - q^2 at saturation), where the
# result is tiny next to its terms and two correct libms may differ by an ulp of a term (<= |x|)
TOL = {"float32": 1e-6, "float64": 4 * np.finfo(np.float64).eps}


def _nvrtc_params():
    libs = nvrtc.find()
    if not libs:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no NVRTC installed: {nvrtc.WHEEL_HINT}"))]
    return [pytest.param(lib, id=str(lib)) for lib in libs]


def nvrtc_problems(lib, arch: str, kernels) -> list[str]:
    """Every error, warning, missing entry point and float64 instruction in a float32 kernel."""
    problems = []
    for kind, act, dtype, source in kernels:
        name = kernel_spec(kind, act).name
        try:
            ptx, log = nvrtc.compile_ptx(lib, source, name, (*OPTIONS, f"--gpu-architecture={arch}"))
        except nvrtc.CompileError as exc:
            problems.append(f"{name} ({dtype}) does not compile: {exc}")
            continue
        if log.strip():
            problems.append(f"{name} ({dtype}) compiles with a warning: {log.strip()}")
        if f".entry {name}(" not in ptx:
            problems.append(f"{name} ({dtype}): no entry point {name} in the PTX")
        if dtype == "float32" and ".f64" in ptx:
            problems.append(f"{name} (float32) computes in float64 (a constant without (T)?)")
    return problems


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("lib", _nvrtc_params())
def test_every_kernel_compiles_with_nvrtc(lib, arch):
    kernels = all_kernels()
    assert len(kernels) == len(NAMES) * len(KINDS) * 2
    problems = nvrtc_problems(lib, arch, kernels)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lib", _nvrtc_params())
def test_nvrtc_check_catches_broken_kernels(lib, monkeypatch):
    """The check fails on a typo, on a type error and on a float32 kernel promoted to float64."""
    monkeypatch.setitem(cuda_kernels.FORWARD, "tanh", "tanhh(x)")
    monkeypatch.setitem(cuda_kernels.FORWARD, "relu", "(x < (T)0 ? (T)0 : x.y)")
    monkeypatch.setitem(cuda_kernels.DERIVATIVE, "sigmoid", "(a * (1.0 - a))")
    problems = nvrtc_problems(lib, "compute_90", all_kernels(["tanh", "relu", "sigmoid"], ["float32"]))
    assert any("wb_fwd_tanh (float32) does not compile" in p and "tanhh" in p for p in problems), problems
    assert any("wb_fwd_ip_relu (float32) does not compile" in p for p in problems), problems
    assert any("wb_grad_sigmoid (float32) computes in float64" in p for p in problems), problems
    assert not any("sigmoid" in p and "fwd" in p for p in problems), problems


# ---------------------------------------------------------------------------------------------- host
@pytest.fixture(scope="module")
def kernels(host_kernels):
    """``{dtype: {kernel name: HostKernel}}`` for every kernel, built by the host compiler (conftest.py)."""
    return host_kernels


def grid(dtype: str) -> np.ndarray:
    """±0, denormals, the smallest normals, 1e-8 .. 1e30 and the largest finite, ±inf, NaN, exactly ±1 (hard_tanh's kinks) and a dense [-8, 8]."""
    fi = np.finfo(dtype)
    pos = [fi.smallest_subnormal, 3 * fi.smallest_subnormal, fi.tiny / 2, fi.tiny, 4 * fi.tiny, 1e-8, 1e-4]
    pos = np.concatenate([pos, np.geomspace(1e-3, 1e3, 120), [1e4, 1e10, 1e30, fi.max, np.inf]]).astype(dtype)
    return np.concatenate([[0.0, -0.0, np.nan, 1.0, -1.0], pos, -pos, np.linspace(-8, 8, 321)]).astype(dtype)


def assert_close(got, ref, x, x_weight: float, dtype: str, what: str) -> None:
    """``|got - ref| <= TOL * (|ref| + x_weight |x|)`` in float64, NaN where ``ref`` is NaN."""
    got, ref, x = (np.ravel(v).astype(np.float64) for v in (got, ref, x))
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (got == ref) | (np.isnan(got) & np.isnan(ref)) | (np.abs(got - ref) <= TOL[dtype] * (np.abs(ref) + x_weight * np.abs(x)))
    if not ok.all():
        bad = np.flatnonzero(~ok)[:5]
        rows = ", ".join(f"x={x[i]!r}: kernel {got[i]!r}, numpy {ref[i]!r}" for i in bad)
        raise AssertionError(f"{what} ({dtype}) differs from the NumPy backend at {(~ok).sum()} points: {rows}")


def _param(act, dtype):
    return np.dtype(dtype).type(act.param or 0)


def check_forward(kernels, name: str, dtype: str) -> None:
    """``split`` and ``inplace`` against the NumPy backend's ``bias_act`` on the grid, with a bias of -0
    (z + b == z, signs of zero kept) and with a bias broadcast over rows."""
    act, ks, x = wb.get_activation(name), kernels[dtype], grid(dtype)
    rng = np.random.default_rng(0)
    for b in (np.full(x.size, -0.0, dtype), rng.standard_normal(x.size).astype(dtype)):
        rows = np.stack([x, x[::-1], np.roll(x, 7)])
        with np.errstate(all="ignore"):
            z_ref = rows.copy()
            a_ref = NumpyBackend().bias_act(z_ref, b, act, np.empty_like(rows))
            z, a = rows.copy(), np.empty_like(rows)
            ks[kernel_spec("split", name).name](b, _param(act, dtype), z, a)
            z_ip = rows.copy()
            ks[kernel_spec("inplace", name).name](b, _param(act, dtype), z_ip)
        assert np.array_equal(z, z_ref, equal_nan=True), f"{name} ({dtype}): z + b differs"
        assert_close(a, a_ref, z_ref, 1, dtype, f"{name} forward")
        assert np.array_equal(z_ip, a, equal_nan=True), f"{name} ({dtype}): the in-place kernel differs from the split one"


def check_derivative(kernels, name: str, dtype: str) -> None:
    """``grad`` (``g *= f'``) against the NumPy backend's ``act_grad``, from ``z`` on the grid and
    ``a = f(z)``; ``g`` is ±1, ±2, 0.5 (exact products, so only ``f'`` can differ)."""
    act, ks, z = wb.get_activation(name), kernels[dtype], grid(dtype).reshape(1, -1)
    with np.errstate(all="ignore"):
        a = act.f(z, np)
        g_ref = np.resize(np.array([1, -2, 0.5, -1, 2], dtype), z.shape)
        g = g_ref.copy()
        NumpyBackend().act_grad(g_ref, z, a, act, np.empty_like(g))
        ks[kernel_spec("grad", name).name](z, a, _param(act, dtype), g)
    assert_close(g, g_ref, z, 2, dtype, f"{name} derivative")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_forward_kernels_match_numpy(kernels, name, dtype):
    check_forward(kernels, name, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_derivative_kernels_match_numpy(kernels, name, dtype):
    check_derivative(kernels, name, dtype)


@pytest.mark.parametrize(
    "table, name, expr",
    [
        ("DERIVATIVE", "sigmoid", "(a * ((T)1.0001 - a))"),  # a constant off by 1e-4
        ("DERIVATIVE", "softplus", "(-expm1(a))"),  # a sign
        ("FORWARD", "relu", "(x > (T)0 ? x : (T)0)"),  # NaN swallowed
        ("FORWARD", "elu", "(x > (T)0 ? x : p * expm1(x) + (T)1e-30)"),  # wrong only at tiny and denormal x
    ],
)
def test_host_check_catches_a_wrong_expression(kernels, monkeypatch, table, name, expr):
    monkeypatch.setitem(getattr(cuda_kernels, table), name, expr)
    check = check_derivative if table == "DERIVATIVE" else check_forward
    broken = {"float64": host.build([kernel_spec(k, name) for k in KINDS], "float64")}
    with pytest.raises(AssertionError, match="differs"):
        check(broken, name, "float64")
