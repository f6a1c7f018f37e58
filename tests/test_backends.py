"""The backend registry: selection, clear errors, no silent fallback; the CLI's one-line failure."""

import os
import subprocess
import sys

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import backends


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(wb.UnknownBackend, match="valid: numpy, numba, cupy"):
        wb.get_backend("tensorflow")


def test_environment_variable_selects_and_is_validated(monkeypatch):
    monkeypatch.setenv("WINIT_BENCH_BACKEND", "numpy")
    assert wb.get_backend().name == "numpy"
    monkeypatch.setenv("WINIT_BENCH_BACKEND", "bogus")
    with pytest.raises(wb.UnknownBackend, match=r"'bogus' \(from \$WINIT_BENCH_BACKEND\); valid: numpy, numba, cupy"):
        wb.get_backend()
    monkeypatch.delenv("WINIT_BENCH_BACKEND")
    assert wb.get_backend().name == "numpy"


def test_use_backend_context_nests_and_restores(monkeypatch):
    monkeypatch.delenv("WINIT_BENCH_BACKEND", raising=False)
    with wb.use_backend("numpy") as be:
        assert wb.get_backend() is be
        assert wb.MLP([3, 2]).backend is be
    with pytest.raises(wb.UnknownBackend):
        with wb.use_backend("bogus"):
            pass
    assert backends._override == []


def test_available_backends_reports_every_backend_with_a_reason():
    status = wb.available_backends()
    assert set(status) == {"numpy", "numba", "cupy"}
    assert status["numpy"] is None
    for name, reason in status.items():
        assert reason is None or isinstance(reason, str) and reason


def test_cupy_module_imports_without_a_gpu_and_says_why():
    cupy = pytest.importorskip("cupy")
    from winit_bench.backends import cupy_backend  # importing must work with or without a device

    if cupy.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert cupy_backend.unavailable_reason().startswith("no CUDA device")
    with pytest.raises(wb.BackendUnavailable, match="backend 'cupy' is unavailable: no CUDA device"):
        wb.get_backend("cupy")
    assert wb.available_backends()["cupy"].startswith("no CUDA device")


def test_info_describes_the_backend():
    info = wb.get_backend("numpy").info()
    assert info["backend"] == "numpy" and info["numpy"] == np.__version__ and info["blas"]


def _cli(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "winit_bench.cli", *args], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.mark.parametrize("command", [["selftest"], ["run", "--profile", "quick", "--out", "{tmp}/run"]])
def test_cli_with_a_bogus_backend_prints_one_line_and_fails(command, tmp_path):  # backends, init, report need no engine: tests/test_cli.py
    res = _cli(*(c.format(tmp=tmp_path) for c in command), env={"WINIT_BENCH_BACKEND": "bogus"})
    assert not (tmp_path / "run").exists()
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "numpy, numba, cupy" in lines[0] and "Traceback" not in res.stderr


def test_cli_with_an_unusable_backend_says_why():
    reason = wb.available_backends()["cupy"]
    if reason is None:
        pytest.skip("cupy is usable here")
    res = _cli("selftest", "--backend", "cupy")
    assert res.returncode != 0 and res.stderr.strip().splitlines() == [f"winit-bench: error: backend 'cupy' is unavailable: {reason}"]


def test_cli_backends_table():
    res = _cli("backends")
    assert res.returncode == 0 and "numpy" in res.stdout and "usable" in res.stdout


@pytest.mark.parametrize("dtype, rtol", [("float32", 2e-6), ("float64", 1e-14)])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "lecun_tanh", "leaky_relu"])
def test_numpy_in_place_element_wise_work_equals_the_formulas(name, dtype, rtol):
    """The NumPy backend's in-place fast paths (``g *= f'``, ``z += b; f(z)``, bias sums) against
    the activation's own formulas in float64."""
    from winit_bench.activations import get_activation

    be, act = backends.get_backend("numpy"), get_activation(name)
    rng = np.random.default_rng(3)
    for batch in (1, 7, 256):
        z, g = (rng.standard_normal((batch, 33)).astype(dtype) for _ in range(2))
        b = rng.standard_normal(33).astype(dtype)
        z64, a64 = z.astype(np.float64) + b, act.f(z.astype(np.float64) + b, np)
        a = be.bias_act(z.copy(), b, act, np.empty_like(z)) if not act.from_output else be.bias_act(z, b, act, z)
        np.testing.assert_allclose(a, a64, rtol=rtol, atol=rtol)
        expected = g.astype(np.float64) * act.df(z64, a.astype(np.float64), np)
        assert be.act_grad(g, z64.astype(dtype), a, act, np.empty_like(g)) is g
        np.testing.assert_allclose(g, expected, rtol=4 * rtol, atol=4 * rtol * np.abs(expected).max())
        out = np.empty(33, dtype)
        assert be.sum_rows(g, out) is out
        np.testing.assert_allclose(out, g.astype(np.float64).sum(axis=0), rtol=0, atol=batch * rtol * np.abs(g).max())
