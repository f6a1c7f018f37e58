"""Convolution kernels (issue 20, items 1-2): fans and layouts, the flattened orthogonal, dirac, delta_orthogonal,
fan_geo_avg and He's ``nonlinearity=``, against torch.nn.init (when installed), Keras' and JAX's formulas and exact oracles.

Statistical checks: two-sample Kolmogorov-Smirnov tests at significance ``ALPHA`` each (the asymptotic
critical value ``sqrt(-ln(ALPHA/2)/2) sqrt((n + m)/(n m))``), and sample moments within ``Z`` standard
errors (the variance's standard error is ``sigma^2 sqrt((kurtosis - 1)/n)``). The draws are seeded, so a
check passes or fails deterministically; ALPHA is small enough for the ~100 KS checks here to pass
together with probability > 0.99 when the laws agree.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

import winit_bench as wb
from winit_bench.fans import Kernel, fans
from winit_bench.distributions import Identity, Sparse
from winit_bench.initializers import weight_moments

ALPHA = 1e-4
Z = 5.0
GOLDEN = Path(__file__).parent / "data" / "init_2d_golden.json"

TORCH_SHAPES = [(8, 4, 3), (16, 8, 3, 3), (6, 5, 3, 2, 4), (32, 3, 5, 5), (4, 16, 1, 1), (10, 12, 2, 2, 2)]


def keras_shape(torch_shape):
    """The same kernel in Keras' layout: ``(out, in, *k) -> (*k, in, out)``."""
    out, cin, *k = torch_shape
    return (*k, cin, out)


def keras_compute_fans(shape):
    """Keras' ``compute_fans`` (keras/src/initializers/random_initializers.py), transcribed."""
    shape = tuple(shape)
    if len(shape) < 1:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape[0], shape[1]
    else:
        receptive_field_size = 1
        for dim in shape[:-2]:
            receptive_field_size *= dim
        fan_in = shape[-2] * receptive_field_size
        fan_out = shape[-1] * receptive_field_size
    return int(fan_in), int(fan_out)


def jax_compute_fans(shape, in_axis=-2, out_axis=-1):
    """JAX's ``jax.nn.initializers._compute_fans`` with its default axes, transcribed."""
    receptive_field_size = math.prod(shape) / shape[in_axis] / shape[out_axis]
    return shape[in_axis] * receptive_field_size, shape[out_axis] * receptive_field_size


def ks_statistic(x, y) -> float:
    """The two-sample Kolmogorov-Smirnov statistic ``sup |F_x - F_y|``."""
    x, y = np.sort(np.ravel(x)), np.sort(np.ravel(y))
    grid = np.concatenate([x, y])
    return float(np.max(np.abs(np.searchsorted(x, grid, side="right") / x.size - np.searchsorted(y, grid, side="right") / y.size)))


def assert_same_law(x, y, what=""):
    n, m = np.size(x), np.size(y)
    critical = math.sqrt(-math.log(ALPHA / 2) / 2) * math.sqrt((n + m) / (n * m))
    d = ks_statistic(x, y)
    assert d <= critical, f"{what}: KS statistic {d:.4f} > {critical:.4f} (alpha {ALPHA}, n={n}, m={m})"


def assert_moments(w, mean, var, kurtosis, what=""):
    x = np.asarray(w, np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= Z * math.sqrt(var / n) + 1e-12, f"{what}: mean {x.mean()} vs {mean}"
    assert abs(x.var() - var) <= Z * var * math.sqrt((kurtosis - 1) / n), f"{what}: variance {x.var()} vs {var}"


# --------------------------------------------------------------------------- fans and layouts


@pytest.mark.parametrize("shape", TORCH_SHAPES + [(7, 5), (1, 1, 1)], ids=str)
def test_fans_are_torchs_and_keras(shape):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fans(shape) == expected
    assert fans(keras_shape(shape), "keras") == keras_compute_fans(keras_shape(shape)) == expected


@pytest.mark.parametrize("shape", [(3, 5, 2), (7, 2, 3, 3), (1, 2, 3, 4, 5), (9, 4)], ids=str)
def test_fans_against_keras_and_jax_formulas(shape):
    """Without torch: keras layout against Keras' and JAX's formulas, torch layout against the permuted kernel."""
    k = Kernel(shape, "keras")
    assert (k.fan_in, k.fan_out) == keras_compute_fans(shape) == jax_compute_fans(shape)
    torch_layout = (shape[-1], shape[-2], *shape[:-2])
    assert fans(torch_layout) == fans(shape, "keras")
    assert Kernel(torch_layout).receptive_field == math.prod(shape[:-2])


def test_a_2d_keras_shape_is_the_transpose():
    """Keras holds a Dense kernel as (in, out): the same fans as torch's (out, in) transposed."""
    assert fans((30, 20), "keras") == (30, 20) and fans((20, 30)) == (30, 20)
    var = weight_moments("xavier_normal", (30, 20), layout="keras").var
    assert var == weight_moments("xavier_normal", (20, 30)).var
    assert weight_moments("lecun_normal", (30, 20), layout="keras").var == pytest.approx(1 / 30, rel=1e-15)


def _variance(name, fan_in, fan_out, **p):
    """The formula of each i.i.d. scheme's variance in terms of the fans."""
    gain2 = p.get("gain", 1.0) ** 2
    return {"lecun_normal": 1 / fan_in, "lecun_uniform": 1 / fan_in, "xavier_normal": 2 * gain2 / (fan_in + fan_out),
            "xavier_uniform": 2 * gain2 / (fan_in + fan_out), "he_normal": 2 / fan_in, "he_uniform": 2 / fan_in,
            "torch_linear_default": 1 / (3 * fan_in), "kumar_normal": 1 / fan_in}[name]  # fmt: skip


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("name", ["lecun_normal", "lecun_uniform", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform",
                                  "torch_linear_default", "kumar_normal"])  # fmt: skip
def test_every_fan_scheme_reads_the_receptive_field(name, layout):
    """Var from the kernel's fans (in and out times prod(k)), and the draws have it (a mutation that forgets prod(k) fails)."""
    shape = (24, 6, 3, 5) if layout == "torch" else (3, 5, 6, 24)
    fan_in, fan_out = 6 * 15, 24 * 15
    act = "tanh" if name == "kumar_normal" else None
    var = _variance(name, fan_in, fan_out)
    assert weight_moments(name, shape, act, layout=layout).var == pytest.approx(var, rel=1e-14)
    w = wb.initialize(name, shape, activation=act, layout=layout, seed=3)
    assert w.shape == shape
    assert_moments(w, 0.0, var, 1.8 if name.endswith("uniform") or name == "torch_linear_default" else 3.0, name)


@pytest.mark.parametrize("layout", ["torch", "keras"])
def test_constant_default_and_variance_scaling_read_the_fans(layout):
    shape = (5, 4, 3) if layout == "torch" else (3, 4, 5)
    assert wb.initialize("constant", shape, layout=layout)[0, 0, 0] == 1 / 12
    for mode, fan in [("fan_in", 12), ("fan_out", 15), ("fan_avg", 13.5), ("fan_geo_avg", math.sqrt(12 * 15))]:
        assert weight_moments("variance_scaling", shape, layout=layout, scale=2.0, mode=mode).var == pytest.approx(2 / fan, rel=1e-14)


# --------------------------------------------------------------------------- fan_geo_avg


@pytest.mark.parametrize("shape", [(3, 3, 16, 64), (5, 7), (2, 4, 3, 1)], ids=str)
@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
def test_fan_geo_avg_is_jaxs(shape, distribution):
    """JAX's variance_scaling, mode="fan_geo_avg": Var = scale / sqrt(fan_in fan_out), JAX's fans (keras layout)."""
    fan_in, fan_out = jax_compute_fans(shape)
    var = 1.5 / (fan_in * fan_out) ** 0.5
    m = weight_moments("variance_scaling", shape, layout="keras", scale=1.5, mode="fan_geo_avg", distribution=distribution)
    assert m.var == pytest.approx(var, rel=1e-14)
    w = wb.initialize("variance_scaling", (64,) + shape[1:], layout="keras", scale=1.5, mode="fan_geo_avg", distribution=distribution)
    fi, fo = jax_compute_fans((64,) + shape[1:])
    assert_moments(w, 0.0, 1.5 / (fi * fo) ** 0.5, {"normal": 3.0, "uniform": 1.8}.get(distribution, 2.5), distribution)


def test_he_takes_fan_geo_avg_and_xavier_has_no_mode():
    assert weight_moments("he_normal", (64, 3, 3, 3), mode="fan_geo_avg").var == pytest.approx(2 / math.sqrt(27 * 576), rel=1e-14)
    with pytest.raises(TypeError, match="xavier_normal got unknown parameter.*mode"):
        wb.initialize("xavier_normal", (4, 4), mode="fan_geo_avg")


# --------------------------------------------------------------------------- He's nonlinearity= against torch


def test_nonlinearity_gains_are_torchs_table():
    torch = pytest.importorskip("torch")
    from winit_bench.gains import TORCH_NONLINEARITIES

    for nl in TORCH_NONLINEARITIES:
        a = 0 if nl == "leaky_relu" else None  # kaiming_normal_'s default a=0
        if nl == "identity":  # our table's alias of "linear" (gain 1); torch's calculate_gain refuses the name
            continue
        gain = torch.nn.init.calculate_gain(nl, a)
        assert weight_moments("he_normal", (16, 8, 3), nonlinearity=nl).var == pytest.approx(gain**2 / 24, rel=1e-14), nl
    gain = torch.nn.init.calculate_gain("leaky_relu", 0.3)
    assert weight_moments("he_uniform", (16, 8, 3), nonlinearity="leaky_relu", slope=0.3).var == pytest.approx(gain**2 / 24, rel=1e-14)


def test_nonlinearity_gains_without_torch():
    """torch's table, written out: tanh 5/3, relu √2, selu 3/4, sigmoid and linear 1, leaky_relu √(2/(1 + a²)) with a = 0."""
    for nl, g in [("tanh", 5 / 3), ("relu", math.sqrt(2)), ("selu", 0.75), ("sigmoid", 1.0), ("linear", 1.0), ("conv2d", 1.0),
                  ("leaky_relu", math.sqrt(2))]:  # fmt: skip
        assert weight_moments("he_normal", (10, 20), nonlinearity=nl).var == pytest.approx(g * g / 20, rel=1e-14), nl
    assert weight_moments("he_normal", (10, 20), nonlinearity="leaky_relu", slope=0.5).var == pytest.approx(2 / 1.25 / 20, rel=1e-14)


def test_activation_keeps_hes_rule_and_nonlinearity_ignores_it():
    """activation= is the network's: He's rule reads only a leaky ReLU's slope from it (tanh keeps √2);
    nonlinearity= is torch's table and does not look at activation."""
    assert weight_moments("he_normal", (10, 20), "tanh").var == pytest.approx(2 / 20, rel=1e-15)
    assert weight_moments("he_normal", (10, 20), wb.get_activation("leaky_relu", 0.5)).var == pytest.approx(2 / 1.25 / 20, rel=1e-15)
    assert weight_moments("he_normal", (10, 20), "relu", nonlinearity="tanh").var == pytest.approx(25 / 9 / 20, rel=1e-14)


@pytest.mark.parametrize("params", [dict(gain=1.0, slope=0.2), dict(gain=1.0, nonlinearity="relu"), dict(slope=0.1, nonlinearity="tanh"),
                                    dict(gain=2.0, slope=0.1, nonlinearity="leaky_relu")], ids=str)  # fmt: skip
def test_conflicting_gain_sources_are_one_error(params):
    for name in ("he_normal", "he_uniform"):
        with pytest.raises(ValueError) as exc:
            wb.initialize(name, (4, 4), **params)
        msg = str(exc.value)
        assert "\n" not in msg and "conflict" in msg and all(f"{k}=" in msg for k in params)


def test_unknown_nonlinearity_names_the_parameter():
    with pytest.raises(ValueError, match="unknown nonlinearity 'tanhh'.*did you mean 'tanh'"):
        wb.initialize("he_normal", (4, 4), nonlinearity="tanhh")
    with pytest.raises(TypeError, match="nonlinearity must be a string"):
        wb.initialize("he_normal", (4, 4), nonlinearity=1.0)


@pytest.mark.parametrize("shape", [(32, 16, 3, 3), (24, 10, 5), (8, 6, 3, 3, 3)], ids=str)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nl", ["relu", "tanh", "leaky_relu", "selu", "linear"])
@pytest.mark.parametrize("uniform", [False, True], ids=["kaiming_normal_", "kaiming_uniform_"])
def test_he_against_torch_kaiming(shape, mode, nl, uniform):
    torch = pytest.importorskip("torch")
    torch.manual_seed(sum(shape) + len(nl))
    t = torch.empty(shape, dtype=torch.float64)
    (torch.nn.init.kaiming_uniform_ if uniform else torch.nn.init.kaiming_normal_)(t, mode=mode, nonlinearity=nl)
    name = "he_uniform" if uniform else "he_normal"
    w = wb.initialize(name, shape, mode=mode, nonlinearity=nl, seed=5)
    assert_same_law(w, t.numpy(), f"{name} {nl} {mode}")
    gain = torch.nn.init.calculate_gain(nl, 0 if nl == "leaky_relu" else None)
    fan = torch.nn.init._calculate_correct_fan(t, mode)
    assert weight_moments(name, shape, mode=mode, nonlinearity=nl).var == pytest.approx(gain**2 / fan, rel=1e-14)
    if uniform:  # the support: ±√3 gain/√fan, as torch's bound
        assert np.abs(w).max() <= math.sqrt(3) * gain / math.sqrt(fan) and np.abs(w).max() > 0.99 * math.sqrt(3) * gain / math.sqrt(fan)


@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
@pytest.mark.parametrize("uniform", [False, True], ids=["xavier_normal_", "xavier_uniform_"])
def test_xavier_against_torch(shape, uniform):
    torch = pytest.importorskip("torch")
    torch.manual_seed(len(shape))
    t = torch.empty(shape, dtype=torch.float64)
    (torch.nn.init.xavier_uniform_ if uniform else torch.nn.init.xavier_normal_)(t, gain=1.3)
    name = "xavier_uniform" if uniform else "xavier_normal"
    w = wb.initialize(name, shape, gain=1.3, seed=2)
    assert_same_law(w, t.numpy(), name)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
    assert weight_moments(name, shape, gain=1.3).var == pytest.approx(1.69 * 2 / (fan_in + fan_out), rel=1e-14)


@pytest.mark.parametrize("shape", [(64, 16, 3, 3), (32, 8, 5)], ids=str)
def test_truncated_normal_against_torch(shape):
    """torch's trunc_normal_(std=s, a=-2s, b=2s) draws a parent N(0, s²) cut at ±2s; ours takes the std of the result."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    t = torch.nn.init.trunc_normal_(torch.empty(shape, dtype=torch.float64), std=0.3, a=-0.6, b=0.6)
    w = wb.initialize("truncated_normal", shape, std=0.3 * wb.truncnorm_std(-2.0, 2.0), a=-2.0, b=2.0)
    assert_same_law(w, t.numpy(), "truncated_normal")


# --------------------------------------------------------------------------- orthogonal on the flattened kernel


def _flat(w, layout):
    """The kernel as the matrix its framework orthogonalises: torch (out, in K), Keras (K in, out)."""
    return w.reshape(w.shape[0], -1) if layout == "torch" else w.reshape(-1, w.shape[-1])


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("shape", [(8, 4, 3, 3), (64, 3, 3, 3), (6, 2, 3), (5, 3, 2, 2, 2), (40, 3, 2, 2), (12, 9)], ids=str)
def test_orthogonal_is_orthogonal_on_the_flattened_kernel(shape, layout):
    if layout == "keras":
        shape = keras_shape(shape) if len(shape) > 2 else shape[::-1]
    w = wb.initialize("orthogonal", shape, gain=1.7, layout=layout, seed=4)
    m = _flat(w, layout)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m  # the smaller side is orthonormal
    np.testing.assert_allclose(gram, 1.7**2 * np.eye(min(m.shape)), atol=1e-12)
    rows, cols = Kernel(shape, layout).matrix
    assert weight_moments("orthogonal", shape, layout=layout, gain=1.7).var == pytest.approx(1.7**2 * min(rows, cols) / w.size, rel=1e-14)
    assert float((w * w).mean()) == pytest.approx(1.7**2 * min(rows, cols) / w.size, rel=1e-12)


@pytest.mark.parametrize("shape", [(16, 4, 3, 3), (8, 8, 5), (200, 3, 3, 3)], ids=str)
def test_orthogonal_against_torch(shape):
    """torch.nn.init.orthogonal_ on the same shape: the same law of the entries (KS), and both orthonormal when flattened."""
    torch = pytest.importorskip("torch")
    draws_t, draws_w = [], []
    for seed in range(40):
        torch.manual_seed(seed)
        t = torch.nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=0.8).numpy()
        w = wb.initialize("orthogonal", shape, gain=0.8, seed=seed)
        for x in (t, w):
            m = _flat(x, "torch")
            small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
            np.testing.assert_allclose(small, 0.64 * np.eye(min(m.shape)), atol=1e-12)
        draws_t.append(t.ravel())
        draws_w.append(w.ravel())
    t, w = np.concatenate(draws_t), np.concatenate(draws_w)
    assert_same_law(w, t, f"orthogonal {shape}")
    assert float(np.mean(w * w)) == pytest.approx(float(np.mean(t * t)), rel=1e-10)  # both exactly g² min(r, c)/size


def test_keras_orthogonal_flattens_k_in_by_out():
    """Keras' Orthogonal: the (K in, out) matrix has orthonormal columns when K in >= out; the torch flattening of
    the same array is not orthogonal (a layout mix-up fails here)."""
    w = wb.initialize("orthogonal", (3, 3, 4, 16), layout="keras", seed=1)
    m = w.reshape(36, 16)
    np.testing.assert_allclose(m.T @ m, np.eye(16), atol=1e-12)
    rows = w.reshape(3, -1)
    assert np.abs(rows @ rows.T - np.diag(np.diag(rows @ rows.T))).max() > 0.05


# --------------------------------------------------------------------------- dirac


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 4, 3, 3), 1), ((4, 6, 2, 4), 1), ((8, 2, 3, 3, 3), 2),
                                          ((6, 3, 4, 5), 3), ((6, 2, 5), 2), ((3, 5, 2, 2, 2), 1)], ids=str)  # fmt: skip
def test_dirac_is_torchs(shape, groups):
    torch = pytest.importorskip("torch")
    t = torch.nn.init.dirac_(torch.empty(shape, dtype=torch.float64), groups=groups).numpy()
    np.testing.assert_array_equal(wb.initialize("dirac", shape, groups=groups), t)
    np.testing.assert_array_equal(wb.initialize("dirac", keras_shape(shape), groups=groups, layout="keras"),
                                  np.moveaxis(t, (0, 1), (-1, -2)))  # fmt: skip


def test_dirac_without_torch():
    """The identity of a convolution: ones at [g n + d, d, centre k//2], gain times; moments exact."""
    w = wb.initialize("dirac", (4, 2, 4, 3), gain=-2.0, groups=2)
    expected = np.zeros((4, 2, 4, 3))
    for g in range(2):
        for d in range(2):
            expected[2 * g + d, d, 2, 1] = -2.0
    np.testing.assert_array_equal(w, expected)
    m = weight_moments("dirac", (4, 2, 4, 3), gain=-2.0, groups=2)
    assert m.mean == pytest.approx(w.mean(), rel=1e-14) and m.var == pytest.approx(w.var(), rel=1e-12) and m.not_iid


def test_dirac_passes_its_input_through():
    x = np.random.default_rng(0).standard_normal((3, 7, 6))
    w = wb.initialize("dirac", (3, 3, 3, 3))
    np.testing.assert_allclose(circular_conv(x, w), x, atol=1e-15)


# --------------------------------------------------------------------------- delta_orthogonal


def circular_conv(x, w):
    """``y[o, p] = sum_{i, a} w[o, i, a] x[i, p + a - c]`` (cross-correlation, circular padding, centre c = k//2
    per axis): a torch-layout kernel applied by direct loops over the kernel's offsets."""
    out, cin, *k = w.shape
    y = np.zeros((out,) + x.shape[1:])
    for a in np.ndindex(*k):
        shift = tuple(-(ai - ki // 2) for ai, ki in zip(a, k))
        moved = np.roll(x, shift, axis=tuple(range(1, x.ndim)))
        y += np.tensordot(w[(slice(None), slice(None)) + a], moved, axes=(1, 0))
    return y


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("shape", [(8, 8, 3, 3), (6, 4, 5), (5, 5, 3, 3, 3), (4, 2, 2, 4), (16, 16, 1, 1)], ids=str)
def test_delta_orthogonal_centre_orthogonal_rest_zero(shape, layout):
    gain = 1.4
    s = shape if layout == "torch" else keras_shape(shape)
    w = wb.initialize("delta_orthogonal", s, gain=gain, layout=layout, seed=2)
    if layout == "keras":
        w = np.moveaxis(w, (-1, -2), (0, 1))  # back to (out, in, *k)
    out, cin, *k = shape
    centre = tuple((n - 1) // 2 for n in k)  # JAX's, the lower middle for an even size
    m = w[(slice(None), slice(None)) + centre]
    np.testing.assert_allclose(m.T @ m, gain**2 * np.eye(cin), atol=1e-12)  # orthonormal columns (out >= in)
    rest = w.copy()
    rest[(slice(None), slice(None)) + centre] = 0
    assert not rest.any()
    mom = weight_moments("delta_orthogonal", s, gain=gain, layout=layout)
    assert mom.mean == 0.0 and mom.var == pytest.approx(gain**2 * cin / w.size, rel=1e-14) and mom.not_iid
    assert float((w * w).mean()) == pytest.approx(mom.var, rel=1e-12)


@pytest.mark.parametrize("shape", [(6, 6, 3, 3), (8, 5, 3), (4, 4, 3, 3, 3)], ids=str)
def test_delta_orthogonal_convolution_preserves_norms(shape):
    """As a circular convolution it maps x to gain M x at every position: ||y|| = gain ||x|| (out >= in);
    a He kernel of the same shape does not (the oracle can fail)."""
    rng = np.random.default_rng(1)
    out, cin, *k = shape
    w = wb.initialize("delta_orthogonal", shape, gain=0.9, seed=8)
    for _ in range(5):
        x = rng.standard_normal((cin,) + (7,) * len(k))
        assert np.linalg.norm(circular_conv(x, w)) == pytest.approx(0.9 * np.linalg.norm(x), rel=1e-12)
    he = wb.initialize("he_normal", shape, seed=8)
    x = rng.standard_normal((cin,) + (7,) * len(k))
    assert abs(np.linalg.norm(circular_conv(x, he)) / np.linalg.norm(x) - 1) > 1e-3


def test_delta_orthogonal_centre_is_haar():
    """One entry of the centre over seeds: a column of a Haar orthogonal matrix is a uniform unit vector, so the
    entry has the law of ``g_1/||g||``, ``g ~ N(0, I_6)`` (KS); kurtosis ``3n/(n + 2)``."""
    vals = np.array([wb.initialize("delta_orthogonal", (6, 6, 3), seed=s)[2, 3, 1] for s in range(3000)])
    g = np.random.default_rng(0).standard_normal((3000, 6))
    assert_same_law(vals, g[:, 0] / np.linalg.norm(g, axis=1), "centre entry")
    assert_moments(vals, 0.0, 1 / 6, 3 * 6 / 8, "centre entry")


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2, 2, 2), (), (4, 0, 3), (3, True, 3), (3, 3, 2.0), (3, -1, 2, 2)], ids=str)
def test_bad_shapes_are_one_line(shape, layout):
    with pytest.raises((TypeError, ValueError)) as exc:
        wb.initialize("he_normal", shape, layout=layout)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("shape must") and ("2-D to 5-D" in msg or "positive" in msg), msg
    assert f"{layout} layout" in msg


def test_one_d_says_why():
    with pytest.raises(TypeError, match="1-D shape has no fans"):
        wb.initialize("lecun_normal", (8,))


@pytest.mark.parametrize("name,shape,words", [
    ("identity", (4, 4, 3), "dirac"), ("sparse", (4, 4, 3), "2-D"), ("dirac", (4, 4), "identity"),
    ("delta_orthogonal", (4, 4), "orthogonal"), ("delta_orthogonal", (2, 4, 3, 3), "out channels >= in"),
])  # fmt: skip
def test_schemes_refuse_shapes_they_do_not_define(name, shape, words):
    with pytest.raises(ValueError, match=words):
        wb.initialize(name, shape)


def test_layout_and_group_refusals():
    with pytest.raises(ValueError, match="unknown layout 'tf'.*torch, keras"):
        wb.initialize("he_normal", (4, 4), layout="tf")
    with pytest.raises(TypeError, match="layout must be a string"):
        wb.initialize("he_normal", (4, 4), layout=None)
    with pytest.raises(ValueError, match="sparse takes layout='torch' only"):
        wb.initialize("sparse", (4, 4), layout="keras")
    with pytest.raises(ValueError, match="groups must be a whole number dividing the 6 output channels"):
        wb.initialize("dirac", (6, 2, 3), groups=4)
    with pytest.raises(ValueError, match="delta_orthogonal needs out channels >= in"):
        wb.initialize("delta_orthogonal", (3, 3, 8, 4), layout="keras")


def test_the_memory_estimate_counts_every_dimension(monkeypatch):
    from winit_bench import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    assert wb.initialize("orthogonal", (64, 64, 3, 3)).shape == (64, 64, 3, 3)  # 36864 weights * (8 + 16) bytes = 864 KiB fit
    expected = memory.format_bytes(128 * 64 * 9 * 24)  # twice as many do not
    with pytest.raises(ValueError, match=rf"orthogonal weights of shape \(128, 64, 3, 3\) in float64 need {expected}"):
        wb.initialize("orthogonal", (128, 64, 3, 3))


# --------------------------------------------------------------------------- 2-D draws unchanged


def test_2d_draws_are_bit_identical_to_before_the_kernel_change():
    """Every scheme's 2-D draws and moments, as hashed on main before N-D shapes (tests/data/make_init_2d_golden.py).

    The QR-based schemes (orthogonal) are compared by value to 1e-12: LAPACK builds may differ in the last bit."""
    cases = json.loads(GOLDEN.read_text())
    for c in cases:
        args = dict(seed=c["seed"], layer=c["layer"], activation=c["activation"], dtype=c["dtype"], **c["params"])
        w = wb.initialize(c["name"], tuple(c["shape"]), **args)
        m = weight_moments(c["name"], tuple(c["shape"]), c["activation"], layer=c["layer"], **c["params"])
        assert list(m) == c["moments"], c
        if "sha256" in c:
            assert hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()[:16] == c["sha256"], c
        else:
            if c["values"] is not None:
                np.testing.assert_allclose(w.astype(np.float64).ravel(), c["values"], rtol=0, atol=1e-12)
            assert float(np.linalg.norm(w.astype(np.float64))) == pytest.approx(c["norm"], rel=1e-12)


# --------------------------------------------------------------------------- the command line


def test_cli_init_draws_a_kernel(capsys):
    from winit_bench import cli

    assert cli.main(["init", "he_normal", "--shape", "64", "3", "3", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("he_normal 64x3x3x3 (float32") and "target 2" in out  # fan_in * E[W^2] = 2
    assert cli.main(["init", "orthogonal", "--shape", "3", "3", "3", "64", "--layout", "keras"]) == 0
    out = capsys.readouterr().out
    assert "keras layout" in out and "ratio 1.0000" in out
    orthogonality = next(line for line in out.splitlines() if "orthogonality" in line).split()[1]
    assert float(orthogonality) < 1e-6  # the (prod(k) in, out) flattening's columns, as Keras made them
    assert cli.main(["init", "he_normal", "--shape", "64"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1-D shape has no fans" in err


def test_a_scheme_written_for_matrices_reads_the_fans(monkeypatch):
    """A registered scheme that reads ``shape[1]`` as n_in (as schemes did before kernels) gets fan_in in any layout."""
    from winit_bench import initializers
    from winit_bench.distributions import Normal

    def old_lecun(shape, *, activation=None):
        fan_out, fan_in = shape
        assert shape[1] == fan_in
        return Normal(1 / math.sqrt(shape[1]))

    monkeypatch.setattr(initializers, "_SCHEMES", {**initializers._SCHEMES, **initializers._register(old_lecun)})
    assert weight_moments("old_lecun", (8, 4, 3, 3)).var == pytest.approx(1 / 36, rel=1e-15)
    assert weight_moments("old_lecun", (3, 3, 4, 8), layout="keras").var == pytest.approx(1 / 36, rel=1e-15)
    assert weight_moments("old_lecun", (20, 10), layout="keras").var == pytest.approx(1 / 20, rel=1e-15)


def test_kernel_only_schemes_are_listed_and_left_out_of_the_study():
    """KERNEL_ONLY is exactly the registered schemes that refuse a matrix; the study (MLPs) does not list them."""
    from winit_bench.conv_schemes import KERNEL_ONLY
    from winit_bench.study.inits import study_initializer_names

    refuse = set()
    for name in wb.initializer_names(aliases=False):
        try:
            wb.initialize(name, (3, 3), activation="tanh")
        except ValueError as exc:
            if "convolution kernels" in str(exc):
                refuse.add(name)
    assert refuse == set(KERNEL_ONLY)
    assert not refuse & set(study_initializer_names())


@pytest.mark.parametrize("law", [Identity(1.0), Sparse(0.5, 1.0)], ids=lambda law: type(law).__name__)
def test_matrix_laws_refuse_kernel_shapes(law):
    """The laws defined on matrices refuse a kernel's shape for their moments and draws, rather than read two axes of it."""
    for call in (lambda: law.moments((4, 4, 3)), lambda: law.draw(np.random.default_rng(0), (4, 4, 3), np.float64)):
        with pytest.raises(ValueError, match=r"is a law of matrices, got the shape \(4, 4, 3\)"):
            call()
    assert law.moments((4, 4)).var > 0


@pytest.mark.parametrize("shape", [(8, 4, 3), (3, 3, 4, 8)], ids=str)
def test_every_law_gives_the_moments_of_its_kernel_draws(shape):
    """Moments on kernels: every scheme that draws kernels, its declared mean and variance against its draws
    over seeds (exact for the deterministic laws)."""
    layout = "torch" if shape[0] == 8 else "keras"
    for name in wb.initializer_names(aliases=False):
        act = "tanh" if name in ("kumar_normal", "edge_of_chaos", "edge_of_chaos_orthogonal") else None
        try:
            m = weight_moments(name, shape, act, layout=layout)
        except ValueError:
            assert name in ("identity", "sparse"), name
            continue
        x = np.concatenate([wb.initialize(name, shape, activation=act, layout=layout, seed=s).ravel() for s in range(200)])
        second = m.var + m.mean**2
        assert float(np.mean(x * x)) == pytest.approx(second, rel=0.05, abs=1e-300), name  # 19200 draws: 1 % standard error
        assert abs(float(x.mean()) - m.mean) <= 5 * math.sqrt(m.var / x.size) + 1e-12 * abs(m.mean), name
