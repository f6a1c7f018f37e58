"""Shared fixtures: every engine test runs on each backend that is usable here."""

import pytest

import winit_bench as wb


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
