"""Mean-field theory against closed forms, independent quadrature and Monte Carlo.

Every expected value here comes from the theory itself (closed forms, the defining equations
evaluated with a different quadrature, or sampling), never from the implementation under test.
"""

import functools
import math

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import theory as T
from winit_bench.activations import activation_names, get_activation

# --------------------------------------------------------------------------- independent references


def hermite_expect(g, q, n=200):
    """E[g(sqrt(q) z)] by plain Gauss-Hermite (fine for smooth g such as tanh)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return float(np.dot(w, g(math.sqrt(q) * x)) / math.sqrt(2 * math.pi))


@functools.lru_cache(maxsize=None)
def split_legendre(lo, hi, n=200):
    """Gauss-Legendre on [lo, 0] and [0, hi]: exact enough for integrands smooth except at 0."""
    t, w = np.polynomial.legendre.leggauss(n)
    xs = [0.5 * lo * (1 - t), 0.5 * hi * (1 + t)]
    ws = [-0.5 * lo * w, 0.5 * hi * w]
    return np.concatenate(xs), np.concatenate(ws)


def kinked_legendre(lo, hi, q, kinks, n=200):
    """:func:`split_legendre`, also split where ``sqrt(q) x`` is one of ``kinks`` (hard_tanh's ±1)."""
    if not kinks:
        return split_legendre(lo, hi, n)
    s = math.sqrt(q)
    cuts = sorted({lo, 0.0, hi, *(k / s for k in kinks if lo < k / s < hi)})
    t, w = np.polynomial.legendre.leggauss(n)
    pieces = [(0.5 * (b - a) * t + 0.5 * (b + a), 0.5 * (b - a) * w) for a, b in zip(cuts[:-1], cuts[1:])]
    return np.concatenate([x for x, _ in pieces]), np.concatenate([v for _, v in pieces])


def legendre_expect(g, q, kinks=()):
    """E[g(sqrt(q) z)] with the line split at 0 (g may have a kink there) and at the ``kinks`` of g's argument."""
    x, w = kinked_legendre(-15.0, 15.0, q, kinks, n=400)
    return float(np.dot(w * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), g(math.sqrt(q) * x)))


def conditional_expect2(f, q, c):
    """E[f(u1) f(u2)] by conditioning on z1: u2 = sqrt(q) v with v | z1 ~ N(c z1, 1 - c^2).

    The inner integral over v has its kinks at v = 0 (and at ``f.kinks / sqrt(q)``) for every z1, so
    both integrals are split there.
    """
    s = math.sqrt(1 - c * c)
    x, w = kinked_legendre(-11.0, 11.0, q, f.kinks)
    z1, v = x[:, None], x[None, :]
    kernel = np.exp(-0.5 * ((v - c * z1) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    inner = (kernel * f(math.sqrt(q) * v)) @ w
    outer = w * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return float(np.dot(outer, f(math.sqrt(q) * x) * inner))


def arccos_relu(q, c):
    """E[relu(u1) relu(u2)] = q/(2π) (sqrt(1 - c^2) + (π - arccos c) c) (Cho & Saul 2009)."""
    return q / (2 * math.pi) * (math.sqrt(max(0.0, 1 - c * c)) + (math.pi - math.acos(c)) * c)


ALL = activation_names()
RNG_SEED = 20240611

# --------------------------------------------------------------------------- q-map


def test_relu_qmap_halves_with_unit_sigma_w2_and_is_preserved_with_two():
    q0 = 1.7
    q = T.qmap("relu", 1.0, 0.0, q0, 8)
    assert q[0] == pytest.approx(q0, rel=1e-15)  # the input is not passed through relu
    np.testing.assert_allclose(q[1:] / q[:-1], 0.5, rtol=1e-12)
    q = T.qmap("relu", 2.0, 0.0, q0, 8)
    np.testing.assert_allclose(q, 2 * q0, rtol=1e-12)


def test_linear_qmap_preserves_and_adds_bias():
    np.testing.assert_allclose(T.qmap("linear", 1.0, 0.0, 0.8, 6), 0.8, rtol=1e-13)
    np.testing.assert_allclose(T.qmap("linear", 1.0, 0.1, 0.8, 6), 0.8 + 0.1 * np.arange(1, 7), rtol=1e-13)


def test_qmap_per_layer_sigma_w2_of_a_non_square_he_network():
    sizes = (300, 100, 400, 50, 10)
    sw = T.network_sigma_w2("he_normal", sizes, "relu", mode="fan_out")
    np.testing.assert_allclose(sw, [2 * n_in / n_out for n_out, n_in in zip(sizes[1:], sizes[:-1])], rtol=1e-15)
    q = T.qmap("relu", sw, 0.05, 1.0, 4)
    expected, prev = [], 1.0
    for l, s in enumerate(sw):
        prev = s * (prev if l == 0 else prev / 2) + 0.05
        expected.append(prev)
    np.testing.assert_allclose(q, expected, rtol=1e-12)


def test_qmap_edge_cases():
    assert T.qmap("tanh", 1.0, 0.0, 1.0, 0).shape == (0,)
    assert np.all(np.isinf(T.qmap("relu", 1e200, 0.0, 1.0, 4)[-2:]))
    with pytest.raises(ValueError, match="length depth"):
        T.qmap("tanh", [1.0, 2.0], 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="sigma_w2"):
        T.qmap("tanh", -1.0, 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="depth"):
        T.qmap("tanh", 1.0, 0.0, 1.0, -1)


@pytest.mark.parametrize("name", ALL)
def test_one_layer_expectation_against_independent_quadrature(name):
    f = get_activation(name)
    for q in (0.05, 0.7, 3.0):
        ref = legendre_expect(lambda u: f(u) ** 2, q, f.kinks)
        assert T.next_q(name, 1.3, 0.2, q) == pytest.approx(1.3 * ref + 0.2, rel=1e-10)


@pytest.mark.parametrize(
    ("name", "param", "sigma_w2", "sigma_b2"),
    [("gelu", None, 1.8, 0.2), ("leaky_relu", 0.2, 1.6, 0.1), ("selu", None, 1.1, 0.1)],
)
def test_qmap_against_monte_carlo(name, param, sigma_w2, sigma_b2):
    """Each layer's prediction q[l] = sigma_w2 E[f(sqrt(q[l-1]) z)^2] + sigma_b2, sampled with 2e6 normals."""
    act = get_activation(name, param)
    q = T.qmap(act, sigma_w2, sigma_b2, 1.5, 6)
    assert q[0] == pytest.approx(sigma_w2 * 1.5 + sigma_b2, rel=1e-14)
    z = np.random.default_rng(RNG_SEED).standard_normal(2_000_000)
    for prev, pred in zip(q[:-1], q[1:]):
        f2 = act(math.sqrt(prev) * z) ** 2
        tol = 5 * sigma_w2 * f2.std() / math.sqrt(z.size)
        assert abs(sigma_w2 * f2.mean() + sigma_b2 - pred) < tol


# --------------------------------------------------------------------------- fixed point, chi1, chi_q


@pytest.mark.parametrize(("sigma_w2", "sigma_b2"), [(0.5, 0.1), (1.5, 0.05), (2.0, 0.0), (4.0, 0.3), (1.2, 1.0)])
def test_tanh_fixed_point_solves_its_equation(sigma_w2, sigma_b2):
    q = T.fixed_point("tanh", sigma_w2, sigma_b2)
    assert 0 < q < math.inf
    assert q == pytest.approx(sigma_w2 * hermite_expect(lambda u: np.tanh(u) ** 2, q) + sigma_b2, abs=1e-8, rel=1e-8)
    # stable: the q-map's slope there, by a central difference of the independent quadrature, is < 1
    h = 1e-5 * q
    tanh2 = lambda u: np.tanh(u) ** 2  # noqa: E731
    slope = sigma_w2 * (hermite_expect(tanh2, q + h) - hermite_expect(tanh2, q - h)) / (2 * h)
    assert slope < 1
    assert T.chi_q("tanh", sigma_w2, sigma_b2) == pytest.approx(slope, rel=1e-6)


def test_fixed_point_at_zero_infinity_and_in_the_neutral_case():
    for sw in (0.3, 0.9, 1.0):
        assert T.fixed_point("tanh", sw, 0.0) == 0.0
    assert T.fixed_point("relu", 1.5, 0.0) == 0.0
    assert T.fixed_point("relu", 2.5, 0.0) == math.inf
    assert T.fixed_point("relu", 2.0, 0.1) == math.inf  # q grows by sigma_b2 per layer
    assert T.fixed_point("relu", 1.5, 0.2) == pytest.approx(0.2 / (1 - 0.75), rel=1e-12)
    # every q is fixed: the documented choice is the starting q0
    assert T.fixed_point("relu", 2.0, 0.0) == 1.0
    assert T.fixed_point("relu", 2.0, 0.0, q0=3.5) == 3.5
    assert T.fixed_point("linear", 1.0, 0.0, q0=0.2) == 0.2


def test_selu_is_self_normalising():
    """Klambauer et al. 2017 chose lambda, alpha so that E[selu(z)^2] = 1: q* = 1 with LeCun init, no bias."""
    assert T.fixed_point("selu", 1.0, 0.0) == pytest.approx(1.0, abs=1e-9)
    assert T.next_q("selu", 1.0, 0.0, 1.0) == pytest.approx(1.0, abs=1e-12)


def test_chi1_relu_family_closed_forms():
    assert T.chi1("relu", 2.0, 0.0) == pytest.approx(1.0, abs=1e-10)
    for sw, sb in [(1.0, 0.0), (1.5, 0.3), (3.0, 0.1)]:
        assert T.chi1("relu", sw, sb) == pytest.approx(sw / 2, rel=1e-12)
        assert T.chi1(get_activation("leaky_relu", 0.3), sw, sb) == pytest.approx(sw * (1 + 0.09) / 2, rel=1e-12)
    assert T.chi1("linear", 0.7, 0.2) == pytest.approx(0.7, rel=1e-14)


def test_chi1_tanh_at_large_q_matches_its_asymptotics():
    """E[sech^4(sqrt(q) z)] -> (4/3)/sqrt(2 π q) as q -> inf (∫ sech^4 = 4/3), relative correction O(1/q)."""
    q = 1e6
    assert T.chi1("tanh", 1.0, 0.0, q=q) == pytest.approx(4 / 3 / math.sqrt(2 * math.pi * q), rel=1e-6)


def test_chi_q_and_xi_q_describe_the_approach_to_the_fixed_point():
    sw, sb = 2.0, 0.3
    q_star, cq = T.fixed_point("tanh", sw, sb), T.chi_q("tanh", sw, sb)
    q = T.qmap("tanh", [1.0] + [sw] * 11, sb, 1.02 * q_star, 12)  # layer 1 (linear, sigma_w2=1) starts near q*
    dev = np.abs(q - q_star)
    assert dev[9] / dev[8] == pytest.approx(cq, rel=2e-3)
    assert T.xi_q("tanh", sw, sb) == pytest.approx(-1 / math.log(cq), rel=1e-12)
    assert T.xi_q("linear", 0.5, 1.0) == pytest.approx(1 / math.log(2), rel=1e-12)  # q' = q/2 + 1
    assert T.xi_q("relu", 2.0, 0.0) == math.inf


# --------------------------------------------------------------------------- critical line


@pytest.mark.parametrize("sigma_b2", [0.01, 0.05, 0.3, 1.0])
def test_tanh_critical_line_has_chi1_one(sigma_b2):
    sw = T.critical_sigma_w2("tanh", sigma_b2)
    q = T.fixed_point("tanh", sw, sigma_b2)
    assert q == pytest.approx(sw * hermite_expect(lambda u: np.tanh(u) ** 2, q) + sigma_b2, rel=1e-9)
    assert sw * hermite_expect(lambda u: np.cosh(u) ** -4, q) == pytest.approx(1.0, abs=1e-6)
    assert T.xi_c("tanh", sw, sigma_b2) == math.inf


def test_critical_sigma_w2_closed_forms():
    assert T.critical_sigma_w2("tanh", 0.0) == 1.0
    assert T.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, rel=1e-12)
    assert T.critical_sigma_w2("relu", 0.4) == pytest.approx(2.0, rel=1e-12)
    assert T.critical_sigma_w2(get_activation("leaky_relu", 0.2), 0.0) == pytest.approx(2 / 1.04, rel=1e-12)
    assert T.critical_sigma_w2("linear", 0.0) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="no edge of chaos"):
        T.critical_sigma_w2("gelu", 0.1)  # q explodes (saddle-node) before chi1 reaches 1


def test_tanh_critical_line_increases_with_bias():
    values = [T.critical_sigma_w2("tanh", sb) for sb in (0.0, 0.01, 0.1, 0.5)]
    assert values == sorted(values) and values[0] == 1.0


# --------------------------------------------------------------------------- correlation map


@pytest.mark.parametrize("c", [-1.0, -0.9, -0.3, 0.0, 0.2, 0.7, 0.99, 1.0])
def test_relu_cmap_matches_the_arccos_kernel(c):
    sw, sb = 1.5, 0.2
    q = sb / (1 - sw / 2)  # q* of relu
    expected = (sw * arccos_relu(q, c) + sb) / q
    assert T.cmap("relu", sw, sb, c) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize("c", [-0.8, 0.0, 0.6])
def test_leaky_relu_cmap_closed_form(c):
    """lrelu(u) = relu(u) - a relu(-u): E = (1 + a^2) K(c) - 2a K(-c), K the arccos kernel."""
    a, q = 0.3, 1.3
    e = (1 + a * a) * arccos_relu(q, c) - 2 * a * arccos_relu(q, -c)
    expected = e / ((1 + a * a) * q / 2)
    assert T.cmap(get_activation("leaky_relu", a), 1.0, 0.0, c, q=q) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("name", ALL)
def test_cmap_against_conditional_quadrature(name):
    f = get_activation(name)
    sw, sb, q = 1.3, 0.1, 0.9
    var = sw * legendre_expect(lambda u: f(u) ** 2, q, f.kinks) + sb
    for c in (-0.6, 0.0, 0.5, 0.85):
        expected = (sw * conditional_expect2(f, q, c) + sb) / var
        assert T.cmap(name, sw, sb, c, q=q) == pytest.approx(expected, abs=1e-6)


def test_cmap_gelu_against_monte_carlo():
    sw, sb = 1.6, 0.3
    q = T.fixed_point("gelu", sw, sb)
    f = get_activation("gelu")
    rng = np.random.default_rng(RNG_SEED)
    z1, z2 = rng.standard_normal((2, 2_000_000))
    c = 0.4
    prod = f(math.sqrt(q) * z1) * f(math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2))
    estimate = (sw * prod.mean() + sb) / q
    tol = 5 * sw * prod.std() / math.sqrt(z1.size) / q
    assert abs(T.cmap("gelu", sw, sb, c) - estimate) < tol


@pytest.mark.parametrize("name", ALL)
def test_cmap_of_identical_inputs_is_one(name):
    for sw, sb in [(0.8, 0.1), (0.6, 0.5), (3.0, 0.2)]:
        if math.isinf(T.fixed_point(name, sw, sb)) and name not in ("linear", "relu", "leaky_relu"):
            continue  # unbounded activation with q -> inf: no finite operating point
        assert T.cmap(name, sw, sb, 1.0) == pytest.approx(1.0, abs=1e-14)


def test_ordered_phase_has_stable_c_star_one():
    sw, sb = 0.8, 0.2  # tanh, chi1 < 1
    assert T.chi1("tanh", sw, sb) < 1
    assert T.c_star("tanh", sw, sb) == 1.0
    assert T.chi_c("tanh", sw, sb, c=1.0) == pytest.approx(T.chi1("tanh", sw, sb), rel=1e-10)
    q, c = T.fixed_point("tanh", sw, sb), 0.0
    for _ in range(60):
        c = T.cmap("tanh", sw, sb, c, q=q)
    assert c == pytest.approx(1.0, abs=1e-6)
    assert T.xi_c("tanh", sw, sb) == pytest.approx(-1 / math.log(T.chi1("tanh", sw, sb)), rel=1e-9)


def test_chaotic_phase_has_stable_c_star_below_one():
    sw, sb = 4.0, 0.1
    assert T.chi1("tanh", sw, sb) > 1
    cs = T.c_star("tanh", sw, sb)
    assert 0 < cs < 1
    assert T.cmap("tanh", sw, sb, cs) == pytest.approx(cs, abs=1e-12)
    slope = T.chi_c("tanh", sw, sb)
    assert 0 < slope < 1
    q = T.fixed_point("tanh", sw, sb)
    c = 0.5
    for _ in range(150):
        c = T.cmap("tanh", sw, sb, c, q=q)
    assert c == pytest.approx(cs, abs=1e-8)
    assert T.xi_c("tanh", sw, sb) == pytest.approx(-1 / math.log(slope), rel=1e-12)


def test_relu_correlations_approach_one_as_a_power_law():
    assert T.c_star("relu", 1.0, 0.0) == 1.0
    assert T.xi_c("relu", 2.0, 0.0) == math.inf
    assert T.xi_c("relu", 1.0, 0.0) == math.inf  # slope of the arccos map at c = 1 is 1


def test_correlation_map_argument_checks():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        T.cmap("tanh", 1.0, 0.1, 1.5)
    with pytest.raises(ValueError, match="infinite"):
        T.cmap("gelu", 3.0, 0.0, 0.5)


# --------------------------------------------------------------------------- initializers -> sigma_w2

N_OUT, N_IN = 1024, 512
FORMULAS = [
    ("lecun_normal", {}, None, 1.0),
    ("lecun_uniform", {}, None, 1.0),
    ("xavier_normal", {}, None, 2 * N_IN / (N_IN + N_OUT)),
    ("glorot_uniform", {"gain": 5 / 3}, None, (5 / 3) ** 2 * 2 * N_IN / (N_IN + N_OUT)),
    ("he_normal", {}, "relu", 2.0),
    ("kaiming_uniform", {"mode": "fan_out"}, "relu", 2.0 * N_IN / N_OUT),
    ("he_normal", {}, wb.get_activation("leaky_relu", 0.5), 2 / 1.25),
    ("kumar_normal", {}, "sigmoid", 12.8),
    ("kumar_normal", {}, "tanh", 1.0),
    ("variance_scaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}, None, 2.0 * N_IN / ((N_IN + N_OUT) / 2)),
    ("variance_scaling", {"scale": 1.0, "mode": "fan_out"}, None, N_IN / N_OUT),
    ("uniform", {"a": -0.1, "b": 0.1}, None, N_IN * 0.2**2 / 12),
    ("normal", {"std": 0.03}, None, N_IN * 0.03**2),
    ("truncated_normal", {"std": 0.03}, None, N_IN * 0.03**2),
    ("torch_linear_default", {}, None, 1 / 3),
    ("orthogonal", {"gain": 1.5}, None, 1.5**2 * N_IN / N_OUT),  # columns orthonormal
    ("sparse", {"sparsity": 0.25, "std": 0.05}, None, N_IN * 0.05**2 * 0.75),
    ("zeros", {}, None, 0.0),
]


@pytest.mark.parametrize(("name", "params", "activation", "expected"), FORMULAS)
def test_initializer_sigma_w2_formula_and_realisation(name, params, activation, expected):
    assert T.initializer_sigma_w2(name, N_OUT, N_IN, activation, **params) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    w = wb.initialize(name, (N_OUT, N_IN), seed=3, activation=activation, **params)
    realised = N_IN * float(np.mean(w * w))
    rel_sd = math.sqrt(2.5 / w.size)  # Var(W^2)/E[W^2]^2 <= 2.5 for all these distributions
    assert realised == pytest.approx(expected, rel=6 * rel_sd, abs=1e-15)


def test_orthogonal_with_orthonormal_rows_preserves_the_second_moment():
    assert T.initializer_sigma_w2("orthogonal", 256, 768) == pytest.approx(1.0, rel=1e-15)
    w = wb.initialize("orthogonal", (256, 768), seed=1)
    assert 768 * np.mean(w * w) == pytest.approx(1.0, rel=1e-12)


def test_schemes_that_break_the_iid_zero_mean_assumption_raise():
    for name, params in [("ones", {}), ("constant", {"value": 0.2}), ("identity", {}), ("uniform", {"a": 0.0, "b": 1.0}),
                         ("normal", {"mean": 0.1}), ("truncated_normal", {"a": -1.0, "b": 3.0})]:  # fmt: skip
        with pytest.raises(ValueError, match="assumption"):
            T.initializer_sigma_w2(name, 64, 32, **params)
    assert T.initializer_sigma_w2("ones", 64, 32, strict=False) == 32.0
    assert T.initializer_sigma_w2("constant", 64, 32, strict=False) == pytest.approx(1 / 32)  # default 1/n_in
    assert T.initializer_sigma_w2("identity", 64, 32, strict=False, gain=2.0) == pytest.approx(4.0 * 32 / 64)
    assert T.initializer_sigma_w2("constant", 64, 32, value=0.0) == 0.0
    w = wb.initialize("truncated_normal", (N_OUT, N_IN), seed=2, a=-1.0, b=3.0, std=0.05)
    assert T.initializer_sigma_w2("truncated_normal", N_OUT, N_IN, strict=False, a=-1.0, b=3.0, std=0.05) == pytest.approx(
        N_IN * float(np.mean(w * w)), rel=0.02
    )


def test_initializer_sigma_w2_argument_errors():
    with pytest.raises(TypeError, match="unknown parameter"):
        T.initializer_sigma_w2("he_normal", 8, 8, "relu", slop=0.1)
    with pytest.raises(ValueError, match="unknown initializer"):
        T.initializer_sigma_w2("hee_normal", 8, 8)
    with pytest.raises(ValueError, match="activation"):
        T.initializer_sigma_w2("kumar_normal", 8, 8)


def test_sigma_w2_of_huge_parameters_is_inf_or_zero_never_an_overflow_error():
    """He's ``g^2 = 2/(1 + a^2)``: ``2e-200`` at slope ``1e100``, below float64 at ``1e200`` (0); a variance
    beyond float64 is ``inf``, as ``initialize`` would draw weights beyond it."""
    assert T.initializer_sigma_w2("he_normal", 8, 8, slope=1e100) == pytest.approx(2e-200, rel=1e-12)
    assert T.initializer_sigma_w2("he_uniform", 8, 8, slope=1e200) == 0.0
    assert T.initializer_sigma_w2("he_normal", 8, 8, gain=1e200) == math.inf
    assert T.initializer_sigma_w2("normal", 8, 8, std=1e200) == math.inf
    assert T.initializer_sigma_w2("uniform", 8, 8, a=-1e200, b=1e200) == math.inf


@pytest.mark.parametrize(("name", "params"), [("normal", {"std": True}), ("normal", {"std": -1.0}), ("he_normal", {"mode": "fan_sum"}),
                                              ("sparse", {"sparsity": 1.0}), ("uniform", {"a": 1.0, "b": 1.0}),
                                              ("truncated_normal", {"a": 50.0, "b": 60.0}), ("he_normal", {"gain": math.nan}),
                                              ("kumar_normal", {})])  # fmt: skip
def test_sigma_w2_refuses_what_initialize_refuses_word_for_word(name, params):
    with pytest.raises((TypeError, ValueError)) as want:
        wb.initialize(name, (8, 8), **params)
    with pytest.raises(type(want.value)) as got:
        T.initializer_sigma_w2(name, 8, 8, strict=False, **params)
    assert str(got.value) == str(want.value)


def test_a_new_initializer_is_its_law_alone(monkeypatch):
    """A scheme that returns a law is all a new initializer writes: ``initialize`` draws it, the theory knows
    its ``sigma_w2`` (here ``g^2``) and checks its parameters, with no table to update."""
    from winit_bench import initializers
    from winit_bench.checks import NON_NEGATIVE
    from winit_bench.distributions import Normal

    @initializers._takes(gain=NON_NEGATIVE)
    def scaled_lecun(shape, *, activation=None, gain=1.0):
        return Normal(gain / math.sqrt(shape[1]))

    monkeypatch.setattr(initializers, "_SCHEMES", {**initializers._SCHEMES, **initializers._register(scaled_lecun)})
    assert T.initializer_sigma_w2("scaled_lecun", 300, 200, gain=3.0) == pytest.approx(9.0, rel=1e-14)
    np.testing.assert_allclose(T.network_sigma_w2("scaled_lecun", [50, 200, 300], gain=0.5), 0.25, rtol=1e-14)
    w = wb.initialize("scaled_lecun", (300, 200), seed=1, gain=3.0)
    assert 200 * float(np.mean(w * w)) == pytest.approx(9.0, rel=6 * math.sqrt(2 / w.size))
    with pytest.raises(TypeError, match="gain"):
        T.initializer_sigma_w2("scaled_lecun", 300, 200, gain=True)


def test_closed_form_variances():
    assert T.closed_form_variance("lecun", 30, 20) == pytest.approx(1 / 20)
    assert T.closed_form_variance("xavier_uniform", 30, 20) == pytest.approx(2 / 50)
    assert T.closed_form_variance("glorot", 30, 20) == pytest.approx(2 / 50)
    assert T.closed_form_variance("he", 30, 20) == pytest.approx(2 / 20)
    assert T.closed_form_variance("kaiming_normal", 30, 20, wb.get_activation("leaky_relu", 0.5)) == pytest.approx(2 / 1.25 / 20)
    assert T.closed_form_variance("kumar", 30, 20, "sigmoid") == pytest.approx(12.8 / 20)
    for name in ("lecun_normal", "xavier_normal", "he_normal"):
        assert T.closed_form_variance(name, 30, 20, "relu") * 20 == pytest.approx(T.initializer_sigma_w2(name, 30, 20, "relu"))
    with pytest.raises(ValueError, match="no closed form"):
        T.closed_form_variance("orthogonal", 30, 20)


def test_network_qmap_of_xavier_relu_halves():
    q = T.network_qmap("xavier_normal", (64, 64, 64, 64), "relu", q0=1.0)
    np.testing.assert_allclose(q, [1.0, 0.5, 0.25], rtol=1e-12)


# --------------------------------------------------------------------------- finite width


def test_log_ratio_variance_for_one_input_is_the_hanin_rolnick_sum():
    sizes = (10, 50, 40, 30, 20)
    mean, var = T.log_ratio_moments(sizes, batch=1, order=1)  # second order: tests/test_finite_width.py
    n1, nL, hidden = 50, 20, (50, 40, 30)
    # chain 5 sum 1/n_l over layers 1..L-1, measurement 2/n_L + 2/n_1, covariance of layer 1 with q̂[1]: 2 * 2/n_1
    assert var == pytest.approx(5 * sum(1 / n for n in hidden) + 2 / nL + 2 / n1 - 4 / n1, rel=1e-12)
    assert mean == pytest.approx(-0.5 * (5 * sum(1 / n for n in hidden) + 2 / nL - 2 / n1), rel=1e-12)
    assert T.log_ratio_moments((10, 50), batch=4) == (0.0, 0.0)
    # fully correlated inputs: the batch does not help
    assert T.log_ratio_moments(sizes, batch=16, c0=1.0, order=1)[1] == pytest.approx(var, rel=1e-10)
    assert T.log_ratio_moments(sizes, batch=16, c0=0.0, order=1)[1] < var
    assert T.log_ratio_moments(sizes, batch=16, c0=1.0) == pytest.approx(T.log_ratio_moments(sizes), rel=1e-10)


def test_finite_width_band_covers_relu_networks():
    sizes, batch, seeds = (64, 32, 32, 32, 32, 32, 32), 4, 600
    rng = np.random.default_rng(RNG_SEED)
    ratios = []
    for _ in range(seeds):
        a = rng.standard_normal((batch, sizes[0]))
        qs = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            z = a @ (rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)).T
            qs.append(np.mean(z * z))
            a = np.maximum(z, 0)
        ratios.append(math.log2(qs[-1] / qs[0]))  # He init: the mean-field ratio is 1
    ratios = np.array(ratios)
    mean, var = T.log_ratio_moments(sizes, batch)
    sd2 = math.sqrt(var) / math.log(2)
    assert ratios.std() == pytest.approx(sd2, rel=0.2)
    assert ratios.mean() == pytest.approx(mean / math.log(2), abs=4 * ratios.std() / math.sqrt(seeds))
    lo, hi = T.finite_width_band(sizes, batch, n_std=3.0)
    assert hi - lo == pytest.approx(6 * sd2)
    assert np.mean((ratios >= lo) & (ratios <= hi)) >= 0.98


def test_finite_width_band_needs_a_homogeneous_activation():
    with pytest.raises(ValueError, match="homogeneous"):
        T.finite_width_band((8, 8, 8), 4, activation="tanh")
    with pytest.raises(ValueError, match="batch"):
        T.finite_width_band((8, 8, 8), 0)
    with pytest.raises(ValueError, match="order must be 1 or 2, got 3"):
        T.finite_width_band((8, 8, 8), 4, order=3)
