"""Shared fixtures: every engine test runs on each backend that is usable here; hypothesis profiles."""

import os

import pytest

import winit_bench as wb

try:
    from hypothesis import settings
except ImportError:  # the property tests (tests/test_properties*.py) skip themselves
    pass
else:
    # "ci" (default): the same examples on every run (derandomize), so a failure reproduces on any
    # machine and a statistical check cannot flake; no example database is written. "explore"
    # ($WINIT_BENCH_HYPOTHESIS=explore): fresh random examples, ten times as many, to hunt locally.
    settings.register_profile("ci", deadline=None, derandomize=True, database=None, max_examples=100, print_blob=True)
    settings.register_profile("explore", deadline=None, max_examples=1000, print_blob=True)
    settings.load_profile(os.environ.get("WINIT_BENCH_HYPOTHESIS", "ci"))


def _backend_params():
    status = wb.available_backends()
    params = []
    for name, reason in status.items():
        marks = [pytest.mark.gpu] if name == "cupy" else []
        if reason is not None:
            marks.append(pytest.mark.skip(reason=f"{name}: {reason}"))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_backend_params())
def backend_name(request):
    return request.param


@pytest.fixture
def use_blas(monkeypatch):
    """``use_blas(name)``: the engine's products from that CBLAS library (``$WINIT_BENCH_BLAS``) for this test."""
    from winit_bench.backends import cblas

    def switch(name: str) -> None:
        monkeypatch.setenv(cblas.BLAS_VAR, name)
        cblas.reset()

    yield switch
    cblas.reset()


@pytest.fixture(scope="session")
def host_kernels():
    """``{dtype: {kernel name: HostKernel}}``: every CuPy kernel of the backend, built once by the host C++ compiler
    (tests/cuda_check/host.py) for tests/test_cuda_kernels.py and tests/test_cupy_on_host.py."""
    from cuda_check import host

    from winit_bench.backends.cuda_kernels import KINDS, kernel_spec

    if host.compiler() is None:
        pytest.skip("no host C++ compiler (c++ or $CXX)")
    specs = [kernel_spec(kind, act) for act in wb.activation_names() for kind in KINDS]
    return {dtype: host.build(specs, dtype) for dtype in ("float32", "float64")}
