"""CuPy against the NumPy reference on a real CUDA device (skipped without one)."""

import numpy as np
import pytest

import winit_bench as wb

cupy = pytest.importorskip("cupy")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cupy.cuda.is_available(), reason="no CUDA device")]


def test_cupy_agrees_with_numpy_everywhere():
    """Forward, gradients, ten SGD steps and initial weights for every activation, both outputs, both dtypes."""
    from winit_bench.agreement import compare_backends, failures

    table = compare_backends("cupy")
    assert failures(table).empty, failures(table).to_string()


def test_tf32_is_off_and_recorded():
    info = wb.get_backend("cupy").info()
    assert info["tf32"] is False and info["device"]


def test_memory_pool_is_freed_between_cases():
    be = wb.get_backend("cupy")
    net = wb.MLP([256, 1024, 1024, 10], "relu", "he_normal", backend="cupy")
    X = np.random.default_rng(0).standard_normal((512, 256)).astype("float32")
    net.train_step(X, np.zeros((512, 10)), 0.01)
    del net
    be.free_memory()
    assert cupy.get_default_memory_pool().total_bytes() == cupy.get_default_memory_pool().used_bytes()
