"""Tests of the activations: values against their textbook definitions, derivatives against finite
differences, the ``from_output`` shortcut, dtypes, parameters and lookup errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import winit_bench as wb

# Textbook definitions, written independently of winit_bench (SELU constants from Klambauer et al. 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_LAMBDA = 1.0507009873554804934193349852946


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "selu": lambda x: _SELU_LAMBDA * np.where(x > 0, x, _SELU_ALPHA * (np.exp(x) - 1)),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x * _sigmoid(x),
    "softplus": lambda x: np.log(1 + np.exp(x)),
    "lecun_tanh": lambda x: 1.7159 * np.tanh(2 * x / 3),
    "hard_tanh": lambda x: np.where(x > 1, 1.0, np.where(x < -1, -1.0, x)),
    "erf": np.vectorize(math.erf),
    "gelu_erf": lambda x: x * 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2)),  # erfc: Φ keeps its left tail
}

# (id, name, param): every registered activation with its default, plus non-default parameters
ACTIVATIONS = [(n, n, None) for n in wb.activation_names()] + [
    ("leaky_relu(0.2)", "leaky_relu", 0.2),
    ("leaky_relu(0)", "leaky_relu", 0.0),
    ("elu(0.5)", "elu", 0.5),
    ("elu(2)", "elu", 2.0),
]
IDS = [a[0] for a in ACTIVATIONS]

H = 1e-3  # finite-difference step; grid points stay > 10 H away from the kink at 0
GRID = np.concatenate([np.linspace(-5.0, -0.01, 400), np.linspace(0.01, 5.0, 400), [-0.3333, 0.7071, 2.2]])


def _fd(f, z, h=H):
    """Central difference with one Richardson step: error O(h^4) + O(eps/h) ~ 1e-12 here."""

    def d(step):
        return (f(z + step) - f(z - step)) / (2 * step)

    return (4 * d(h / 2) - d(h)) / 3


def test_every_activation_has_a_reference():
    assert set(wb.activation_names()) == set(REFERENCE), "add a textbook definition for new activations"


@pytest.mark.parametrize("name", list(REFERENCE))
def test_values_match_definition(name):
    act = wb.get_activation(name)
    x = np.linspace(-8, 8, 1601)
    np.testing.assert_allclose(act(x), REFERENCE[name](x), rtol=1e-12, atol=1e-15)
    assert act.name == name


@pytest.mark.parametrize("name,param", [(a[1], a[2]) for a in ACTIVATIONS], ids=IDS)
def test_derivative_matches_finite_differences(name, param):
    act = wb.get_activation(name, param)
    z = GRID.copy()
    f = lambda x: act.f(x, np)  # noqa: E731
    fd = _fd(f, z)
    a = act.f(z, np)
    for label, df in (("df(z, a)", act.df(z, a, np)), ("derivative(z)", act.derivative(z))):
        assert df.shape == z.shape
        # relative error < 1e-7; the absolute floor only matters where f' vanishes (relu's left half,
        # the minima of gelu and silu), where the finite difference itself is ~1e-12
        err = np.abs(df - fd)
        bad = err > 1e-7 * np.abs(fd) + 1e-10
        assert not bad.any(), f"{name}({param}) {label}: at z={z[bad][:5]}, df={df[bad][:5]}, fd={fd[bad][:5]}"


@pytest.mark.parametrize("name,param", [(a[1], a[2]) for a in ACTIVATIONS], ids=IDS)
def test_from_output_needs_no_z(name, param):
    act = wb.get_activation(name, param)
    z = np.linspace(-4, 4, 801)
    a = act(z)
    if act.from_output:
        np.testing.assert_array_equal(act.df(None, a, np), act.df(z, a, np))
    else:
        # a derivative that needs z must actually use it: the output alone does not determine f'
        # (GELU and SiLU are not monotonic, so two inputs share an output with different slopes;
        # erf's slope from its output would need the inverse erf)
        assert name in ("gelu", "silu", "gelu_erf", "erf"), f"{name} should be able to use from_output"


@pytest.mark.parametrize("name,param", [(a[1], a[2]) for a in ACTIVATIONS], ids=IDS)
def test_float32_stays_float32(name, param):
    act = wb.get_activation(name, param)
    z64 = np.linspace(-4, 4, 257)
    z32 = z64.astype(np.float32)
    a32 = act(z32)
    assert a32.dtype == np.float32
    d32 = act.df(z32, a32, np)
    assert d32.dtype == np.float32
    assert act.derivative(z32).dtype == np.float32
    if act.from_output:
        assert act.df(None, a32, np).dtype == np.float32
    np.testing.assert_allclose(a32, act(z32.astype(np.float64)), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(d32, act.derivative(z32.astype(np.float64)), rtol=2e-6, atol=2e-6)


def test_leaky_relu_param():
    default = wb.get_activation("leaky_relu")
    assert default.param == 0.01
    assert default(np.array(-2.0)) == pytest.approx(-0.02, rel=1e-15)
    act = wb.get_activation("leaky_relu", 0.2)
    assert act.param == 0.2 and str(act) == "leaky_relu(0.2)"
    np.testing.assert_allclose(act(np.array([-3.0, -0.5, 0.5, 3.0])), [-0.6, -0.1, 0.5, 3.0], rtol=1e-15)
    np.testing.assert_array_equal(act.derivative(np.array([-3.0, -0.5, 0.5, 3.0])), [0.2, 0.2, 1.0, 1.0])
    assert act.family == default.family == "relu"


def test_elu_param():
    assert wb.get_activation("elu").param == 1.0
    act = wb.get_activation("elu", 2.0)
    assert act.param == 2.0
    z = np.array([-20.0, -1.0, -0.1, 0.5])
    np.testing.assert_allclose(act(z), [2 * (math.exp(-20) - 1), 2 * (math.exp(-1) - 1), 2 * math.expm1(-0.1), 0.5],
                               rtol=1e-14)  # fmt: skip
    # from the output, f' = a + alpha: exact up to ~eps * alpha in absolute terms, also deep in the tail
    np.testing.assert_allclose(act.derivative(z), [2 * math.exp(-20), 2 * math.exp(-1), 2 * math.exp(-0.1), 1.0],
                               rtol=1e-12, atol=1e-15)  # fmt: skip
    assert act(np.array(-1e3)) == pytest.approx(-2.0)  # saturates at -alpha


@pytest.mark.parametrize("name,param", [("leaky_relu", -0.1), ("leaky_relu", float("nan")), ("leaky_relu", float("inf")),
                                        ("elu", 0.0), ("elu", -1.0), ("elu", float("nan"))])  # fmt: skip
def test_bad_params(name, param):
    with pytest.raises(ValueError, match=name.split("_")[0]):
        wb.get_activation(name, param)


@pytest.mark.parametrize("name", ["tanh", "relu", "sigmoid", "gelu"])
def test_param_for_non_parametric_activation(name):
    with pytest.raises(ValueError) as info:
        wb.get_activation(name, 0.1)
    msg = str(info.value)
    assert name in msg and "leaky_relu" in msg and "elu" in msg


def test_selu_self_normalises():
    """The point of SELU's constants: z ~ N(0, 1) -> E[selu(z)] = 0, E[selu(z)^2] = 1 (Simpson, 1e-8)."""
    act = wb.get_activation("selu")
    x = np.linspace(-20, 20, 400_001)
    w = np.ones_like(x)
    w[1:-1:2], w[2:-1:2] = 4, 2
    w *= (x[1] - x[0]) / 3 * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    assert abs(w @ act(x)) < 1e-6
    assert abs(w @ act(x) ** 2 - 1) < 1e-6


def test_families():
    fam = {n: wb.get_activation(n).family for n in wb.activation_names()}
    assert fam["relu"] == fam["leaky_relu"] == "relu"
    assert fam["tanh"] == fam["lecun_tanh"] == fam["hard_tanh"] == fam["erf"] == "tanh"
    assert fam["gelu_erf"] == fam["gelu"] == "smooth"
    assert fam["sigmoid"] == "sigmoid"


def test_aliases_and_case():
    for alias, name in [("identity", "linear"), ("swish", "silu"), ("logistic", "sigmoid"), ("TANH", "tanh"),
                        ("hardtanh", "hard_tanh"), ("gelu_exact", "gelu_erf")]:
        act = wb.get_activation(alias)
        assert act.name == name
        x = np.linspace(-3, 3, 13)
        np.testing.assert_array_equal(act(x), wb.get_activation(name)(x))


def test_activation_object_passes_through():
    cube = wb.Activation("cube", lambda x, xp: x**3, lambda z, a, xp: 3 * z * z, False)
    assert wb.get_activation(cube) is cube
    np.testing.assert_allclose(cube.derivative(np.array([2.0])), [12.0])


def test_unknown_activation():
    with pytest.raises(ValueError) as info:
        wb.get_activation("sigmoud")
    msg = str(info.value)
    assert "sigmoud" in msg and "did you mean 'sigmoid'" in msg
    for name in wb.activation_names():
        assert name in msg
    with pytest.raises(ValueError, match="relu"):
        wb.get_activation("rleu")
    with pytest.raises(TypeError, match="activation"):
        wb.get_activation(3)
