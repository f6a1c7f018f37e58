"""The real ``CupyBackend`` on the CPU, against a NumPy-backed stand-in for CuPy (``cuda_check.fake_cupy``).

Its kernels are the backend's own sources built by the host C++ compiler; everything else it asks
of ``cupy`` is NumPy or a recorder. This runs the backend's Python, its kernels' arithmetic and the
losses and reductions it does through ``xp``, in whole training steps checked against the NumPy
backend by the same ``compare_backends`` the GPU test uses. It does not run a CUDA launch, cuBLAS,
CuPy's memory pools or CUDA's libm: ``tests/test_gpu.py`` does, on a device.
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_check import fake_cupy

import winit_bench as wb
from winit_bench.agreement import compare_backends, failures
from winit_bench.backends.cuda_kernels import KINDS, kernel_spec

NAMES = wb.activation_names()


@pytest.fixture(scope="module")
def prebuilt(host_kernels):
    return host_kernels


@pytest.fixture
def stand_in(prebuilt):
    """``(cupy_backend module, stand-in cupy)``; every module is put back afterwards."""
    cp = fake_cupy.make(prebuilt)
    with fake_cupy.cupy_backend_module(cp) as module:
        yield module, cp


def test_training_steps_match_numpy(stand_in):
    """Forward, gradients, ten SGD steps, every activation x output x dtype: the GPU test's comparison."""
    module, cp = stand_in
    table = compare_backends(module.CupyBackend())
    assert failures(table).empty, failures(table).to_string()
    assert len(table) == len(NAMES) * 2 * 2
    specs = {kernel_spec(kind, act) for act in NAMES for kind in KINDS}
    assert all(k.spec in specs for k in cp.kernels.values())  # what ran is what NVRTC compiles
    used = {name for name, _ in cp.kernels}
    for act in NAMES:  # the fused kernels did the element-wise work, not a generic fallback
        assert {f"wb_fwd_{act}", f"wb_fwd_ip_{act}"} & used, act
        assert (f"wb_grad_{act}" in used) == (act != "linear"), act
    assert cp.memory_pool.calls["free_all_blocks"] == cp.pinned_pool.calls["free_all_blocks"] == len(table)


def test_bias_act_and_act_grad_pick_the_kernel_and_its_arguments(stand_in):
    module, cp = stand_in
    be, rng = module.CupyBackend(), np.random.default_rng(1)
    z0, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    leaky = wb.get_activation("leaky_relu", 0.2)
    z = z0.copy()
    assert be.bias_act(z, b, leaky, z) is z  # out is z: the in-place kernel
    np.testing.assert_array_equal(z, np.where(z0 + b > 0, z0 + b, (z0 + b) * 0.2))
    z, out = z0.copy(), np.empty_like(z0)
    assert be.bias_act(z, b.astype(np.float32), wb.get_activation("gelu"), out) is out  # b is cast to z's dtype
    np.testing.assert_array_equal(z, z0 + b.astype(np.float32))
    np.testing.assert_allclose(out, wb.get_activation("gelu").f(z, np), rtol=1e-13)
    assert {k for k in cp.kernels} == {("wb_fwd_ip_leaky_relu", "float64"), ("wb_fwd_gelu", "float64")}

    g0, a = rng.standard_normal((4, 3)), np.tanh(z0)
    g = g0.copy()
    assert be.act_grad(g, None, a, wb.get_activation("tanh"), None) is g  # z None: a stands in for it
    np.testing.assert_allclose(g, g0 * (1 - a * a), rtol=1e-14)
    g = g0.copy()
    be.act_grad(g, z0, a, wb.get_activation("linear"), None)
    np.testing.assert_array_equal(g, g0)
    assert ("wb_grad_linear", "float64") not in cp.kernels


def test_services_use_the_device_pools_and_stream(stand_in):
    module, cp = stand_in
    be = module.CupyBackend()
    x = np.arange(6.0).reshape(2, 3)
    host_copy = be.to_host(x)
    assert isinstance(host_copy, np.ndarray) and host_copy is not x and np.array_equal(host_copy, x)
    be.synchronize()
    be.free_memory()
    assert cp.stream.calls == {"synchronize": 1}
    assert cp.memory_pool.calls == cp.pinned_pool.calls == {"free_all_blocks": 1}
    info = be.info()
    assert info["device"] == "host CPU (stand-in)" and info["memory_gib"] == 8.0 and info["tf32"] is False
    assert info["cuda_driver"] == 13000 and info["cuda_runtime"] == 12090 and info["compute_capability"] == "90"


def test_unavailable_reasons(stand_in, monkeypatch):
    module, cp = stand_in
    assert module.unavailable_reason() is None and isinstance(module.load(), module.CupyBackend)
    monkeypatch.setattr(cp.cuda.runtime, "driverGetVersion", lambda: 12020)
    assert module.unavailable_reason() == "CUDA driver too old: driver supports CUDA 12020, CuPy needs 12090"

    def broken():
        raise RuntimeError("cudaErrorInsufficientDriver")

    monkeypatch.setattr(cp.cuda.runtime, "runtimeGetVersion", broken)
    assert module.unavailable_reason() == "CUDA error while probing the device: cudaErrorInsufficientDriver"
    monkeypatch.setattr(cp.cuda, "is_available", lambda: False)
    with pytest.raises(wb.BackendUnavailable, match="backend 'cupy' is unavailable: no CUDA device"):
        module.load()


def test_the_real_modules_are_restored(prebuilt):
    import sys

    before = (sys.modules.get("cupy"), sys.modules.get(fake_cupy.MODULE))
    with fake_cupy.cupy_backend_module(fake_cupy.make(prebuilt)) as module:
        assert module.cupy.__version__ == "0+numpy-stand-in"
    assert (sys.modules.get("cupy"), sys.modules.get(fake_cupy.MODULE)) == before
