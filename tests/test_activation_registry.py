"""One registry of activations drives every backend: ``winit_bench.activations.activation_names()``.

Each activation must have a forward and a derivative kernel in each backend (numba's fast path
and the CuPy kernels included), and no backend may keep a kernel for a name the library no longer
has. Adding an activation fails here, naming the backend, until every backend has it.
"""

from __future__ import annotations

import numpy as np
import pytest

import winit_bench as wb
from winit_bench.backends import cuda_kernels
from winit_bench.backends.numpy_backend import NumpyBackend

NAMES = wb.activation_names()


def _points(dtype="float64"):
    return np.linspace(-3, 3, 13, dtype=dtype).reshape(1, -1)


def test_numpy_backend_has_every_activation():
    """The reference: the activation's own ``f``/``df``, through the fast paths where they exist."""
    from winit_bench.backends import numpy_backend

    assert set(numpy_backend._FORWARD) <= set(NAMES) and set(numpy_backend._GRAD) <= set(NAMES)
    be, x = NumpyBackend(), _points()
    for name in NAMES:
        act = wb.get_activation(name)
        a = be.bias_act(x.copy(), np.zeros(x.shape[1]), act, np.empty_like(x))
        np.testing.assert_allclose(a, act.f(x, np), rtol=1e-14, err_msg=name)
        g = be.act_grad(np.ones_like(x), x, a, act, np.empty_like(x))
        np.testing.assert_allclose(g, act.derivative(x, np), rtol=1e-14, err_msg=name)


def test_cupy_kernels_exist_for_every_activation_and_no_other():
    assert set(cuda_kernels.FORWARD) == set(NAMES), "cuda_kernels.FORWARD"
    assert set(cuda_kernels.DERIVATIVE) == set(NAMES), "cuda_kernels.DERIVATIVE"
    for name in NAMES:
        for kind in cuda_kernels.KINDS:
            assert name in cuda_kernels.kernel_spec(kind, name).name


def test_a_missing_cupy_kernel_names_the_file_to_fix():
    with pytest.raises(NotImplementedError, match=r"no grad kernel for activation 'mish'.*cuda_kernels\.py"):
        cuda_kernels.kernel_spec("grad", "mish")
    with pytest.raises(ValueError, match="unknown kernel kind 'backward'; valid: inplace, split, grad"):
        cuda_kernels.kernel_spec("backward", "tanh")


def test_numba_fast_path_has_every_activation():
    """``CODES``, ``_f_<name>``/``_d_<name>`` (:mod:`numba_activations`), and the compiled loops dispatch
    each code to them (a code the loops miss would silently compute the identity, or leave ``g`` unscaled)."""
    pytest.importorskip("numba")
    from winit_bench.backends import numba_activations, numba_kernels
    from winit_bench.backends import numba_backend as nbb

    wb.get_backend("numba")  # compiled (or loaded from the cache) for float32 and float64
    assert set(numba_kernels.CODES) == set(NAMES)
    assert len(set(numba_kernels.CODES.values())) == len(NAMES)
    x = _points()
    for name in NAMES:
        assert callable(getattr(numba_activations, f"_f_{name}", None)), name
        assert callable(getattr(numba_activations, f"_d_{name}", None)), name
        act, code = wb.get_activation(name), numba_kernels.CODES[name]
        param, b = float(act.param or 0), np.zeros(x.shape[1])
        z, a = x.copy(), np.empty_like(x)
        nbb._bias_act(z, b, a, code, param)
        np.testing.assert_allclose(a, act.f(x, np), rtol=1e-12, atol=1e-15, err_msg=f"numba forward {name}")
        z = x.copy()
        nbb._bias_act_inplace(z, b, code, param)
        np.testing.assert_allclose(z, act.f(x, np), rtol=1e-12, atol=1e-15, err_msg=f"numba in-place forward {name}")
        g = np.ones_like(x)
        nbb._act_grad(g, a if act.from_output else x, code, param)
        np.testing.assert_allclose(g, act.derivative(x, np), rtol=1e-12, atol=1e-15, err_msg=f"numba derivative {name}")
