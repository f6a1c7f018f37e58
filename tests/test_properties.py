"""Property-based tests (hypothesis) of ``initialize`` and ``calculate_gain``.

The contract, for every input: either a result that meets it (finite weights of the requested
shape and dtype, with the formula's statistics; a finite gain equal to an independent integration),
or a ``ValueError``/``TypeError`` with a non-empty one-line message. Anything else (an
OverflowError, a ZeroDivisionError, a RuntimeWarning, NaN weights) fails.

Examples are derandomized (profile "ci" in conftest.py): each run checks the same few hundred
inputs. ``WINIT_BENCH_HYPOTHESIS=explore`` draws fresh ones.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import winit_bench as wb  # noqa: E402
from contract import call, refused_properly  # noqa: E402
from winit_bench.initializers import get_scheme  # noqa: E402

Z = 6.0  # standard errors allowed to a sample statistic: a false alarm has probability ~2e-9
NAMES = wb.initializer_names()


def examples(factor: float):
    """``factor`` times the active profile's number of examples."""
    return settings(max_examples=int(factor * settings().max_examples), suppress_health_check=[HealthCheck.too_slow])


def is_number(v) -> bool:
    """A real scalar that is not a bool: what a numeric parameter may be."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))




# --------------------------------------------------------------------------- strategies: anything a user might pass



def mostly(valid, odd):
    """``valid`` nine times in ten, ``odd`` otherwise: most examples then get past the first check.

    (``st.one_of`` draws its branches about equally often, whatever is repeated in it.)
    """
    return st.integers(0, 9).flatmap(lambda i: odd if i == 0 else valid)


junk = st.sampled_from([None, True, False, np.True_, "0.1", "fan_in", b"1", [0.5], (1, 2), {"a": 1}, 1j, object()])
numbers_any = st.one_of(
    st.floats(-10, 10),
    st.floats(-10, 10),
    st.floats(),  # NaN, ±inf, subnormals, ±1.8e308
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(1e30, 1e308).flatmap(lambda v: st.sampled_from([v, -v])),  # overflows float32, or float64 in b - a
    st.integers(-5, 5),
    st.integers(-(10**400), 10**400),
    st.sampled_from([np.float32(0.5), np.float64(-2.0), np.int64(3), np.float32(np.inf)]),
)
wild = mostly(numbers_any, junk)
wild_size = st.one_of(st.integers(-3, 0), st.integers(10**11, 10**40),
                      st.sampled_from([2.0, 2.5, math.inf, math.nan, True, np.True_, None, "3", np.int64(4), np.uint8(3)]))  # fmt: skip
good_shape = st.tuples(st.integers(1, 12), st.integers(1, 12))
wild_shape = mostly(good_shape, st.one_of(st.tuples(wild_size, st.integers(1, 12)), st.tuples(st.integers(1, 12), wild_size),
                                          st.sampled_from([(3,), (2, 3, 4), (), 5, "ab", None])))  # fmt: skip
wild_dtype = mostly(st.sampled_from(["float32", "float64", np.float32, np.dtype("float64")]),
                    st.sampled_from(["float16", "int32", None, bool, "x", True]))  # fmt: skip
activations = st.sampled_from([None, "relu", "tanh", "sigmoid", "linear", "selu", "gelu", "leaky_relu", "elu", "softplus"])
wild_activation = mostly(activations, st.sampled_from(["tanhh", 3, True, "", "RELU"]))
wild_name = mostly(st.sampled_from(NAMES), st.sampled_from(["he_normall", "", 3, None, "HE_NORMAL"]))
wild_seed = mostly(st.integers(0, 2**64), st.sampled_from([-1, 1.5, True, "0", None, 2**64 + 0.5]))


NEEDS_ACTIVATION = {"kumar_normal": "tanh", "edge_of_chaos": "tanh", "edge_of_chaos_orthogonal": "tanh"}


def keyword_params(name: str) -> list[str]:
    skip = {"shape", "rng", "dtype", "activation", "layer"}  # layer: the position initialize passes, not a parameter
    return [p for p in inspect.signature(get_scheme(name)).parameters if p not in skip]


@st.composite
def wild_params(draw, name):
    """A subset of the scheme's own parameters (and sometimes a foreign one) with anything as values."""
    own = keyword_params(name) if isinstance(name, str) and name.lower() in NAMES else []
    keys = draw(st.lists(mostly(st.sampled_from(own), st.sampled_from(["std", "gain", "bogus"])) if own else
                         st.sampled_from(["std", "bogus"]), max_size=3, unique=True))  # fmt: skip
    named = {"mode": mostly(st.sampled_from(["fan_in", "fan_out", "fan_avg"]), st.sampled_from(["fan_sum", 3, None])),
             "distribution": mostly(st.sampled_from(["normal", "truncated_normal", "uniform", "untruncated_normal"]),
                                    st.sampled_from(["gamma", 1, None])),
             "nonlinearity": mostly(st.sampled_from([None, "tanh", "relu", "leaky_relu", "selu"]), st.sampled_from(["tanhh", 1, True]))}  # fmt: skip
    return {k: draw(named.get(k, wild)) for k in keys}


# --------------------------------------------------------------------------- initialize: the contract on any input


@examples(4)
@given(name=wild_name, shape=wild_shape, dtype=wild_dtype, activation=wild_activation, seed=wild_seed, data=st.data())
def test_initialize_returns_finite_weights_or_refuses(name, shape, dtype, activation, seed, data):
    params = data.draw(wild_params(name), "params")
    w, exc = call(lambda: wb.initialize(name, shape, seed=seed, activation=activation, dtype=dtype, **params))
    event("refused" if exc is not None else "drawn")  # --hypothesis-show-statistics shows the split
    if exc is not None:
        assert refused_properly(exc), f"{type(exc).__name__}: {exc}"
        return
    # accepted: then every argument had an allowed type ...
    assert all(is_int(d) for d in shape) and is_int(seed), f"shape {shape!r} or seed {seed!r} accepted"
    for k, v in params.items():
        assert isinstance(v, str) if k in ("mode", "distribution") else (v is None or isinstance(v, str) if k == "nonlinearity" else v is None or is_number(v)), f"{k}={v!r} accepted"
    # ... and the weights meet the contract
    assert isinstance(w, np.ndarray) and w.shape == tuple(int(d) for d in shape)
    assert w.dtype == np.dtype(dtype) and np.isfinite(w).all()


@examples(2)
@given(name=st.sampled_from(NAMES), shape=st.tuples(st.one_of(st.integers(1, 12), wild_size), st.one_of(st.integers(1, 12), wild_size)),
       dtype=st.sampled_from(["float32", "float64"]))  # fmt: skip
def test_any_shape_is_drawn_or_refused(name, shape, dtype):
    """Sizes are positive integers; one no memory holds is refused, with the estimate, before allocating."""
    w, exc = call(lambda: wb.initialize(name, shape, dtype=dtype, activation=NEEDS_ACTIVATION.get(name)))
    if exc is not None:
        assert refused_properly(exc) and "shape" in str(exc), f"{type(exc).__name__}: {exc}"
        return
    assert all(is_int(d) and d >= 1 for d in shape), f"shape {shape!r} accepted"
    assert w.shape == tuple(int(d) for d in shape) and w.dtype == np.dtype(dtype) and np.isfinite(w).all()


NUMERIC_PARAMS = [(n, p) for n in wb.initializer_names(aliases=False) for p in keyword_params(n) if p not in ("mode", "distribution", "nonlinearity")]
magnitudes = st.one_of(st.floats(allow_nan=False), st.floats(1e30, 1e308), st.floats(-10, 10)).flatmap(lambda v: st.sampled_from([v, -v]))


@examples(2)
@given(case=st.sampled_from(NUMERIC_PARAMS), value=magnitudes, dtype=st.sampled_from(["float32", "float64"]))
def test_a_parameter_of_any_magnitude_gives_finite_weights_or_is_named(case, value, dtype):
    """Huge stds, gains, bounds, means and scales overflow the dtype: refused, naming the parameter."""
    name, param = case
    shape = (8, 6, 3) if name in ("dirac", "delta_orthogonal") else (8, 6)  # kernel-only schemes
    w, exc = call(lambda: wb.initialize(name, shape, dtype=dtype, activation=NEEDS_ACTIVATION.get(name), **{param: value}))
    event("refused" if exc is not None else "drawn")
    if exc is not None:
        assert refused_properly(exc) and param in str(exc), f"{type(exc).__name__}: {exc}"
        return
    assert w.shape == shape and w.dtype == np.dtype(dtype) and np.isfinite(w).all()


# --------------------------------------------------------------------------- initialize: statistics on valid input


def moments(name: str, shape, act, p: dict):
    """``(mean, variance, kurtosis)`` of one weight from the formula, for the i.i.d. random schemes."""
    n_out, n_in = shape
    fan = {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2, "fan_geo_avg": math.sqrt(n_in * n_out)}
    if name == "uniform":
        a, b = p.get("a", -0.05), p.get("b", 0.05)
        return (a + b) / 2, (b - a) ** 2 / 12, 1.8
    if name == "normal":
        return p.get("mean", 0.0), p.get("std", 0.05) ** 2, 3.0
    if name in ("xavier_normal", "xavier_uniform"):
        return 0.0, p.get("gain", 1.0) ** 2 * 2 / (n_in + n_out), 3.0 if name.endswith("normal") else 1.8
    if name in ("he_normal", "he_uniform"):
        gain, slope, nl = p.get("gain"), p.get("slope"), p.get("nonlinearity")
        if nl is not None:  # torch's table, leaky_relu with a = slope or 0
            gain = {"tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75, "linear": 1.0, "leaky_relu": math.sqrt(2 / (1 + (slope or 0.0) ** 2))}[nl]
        if slope is None:
            slope = act.param if act is not None and act.name == "leaky_relu" else 0.0
        gain2 = 2 / (1 + slope * slope) if gain is None else gain * gain
        return 0.0, gain2 / fan[p.get("mode", "fan_in")], 3.0 if name.endswith("normal") else 1.8
    if name in ("lecun_normal", "lecun_uniform"):
        return 0.0, 1 / n_in, 3.0 if name.endswith("normal") else 1.8
    if name == "torch_linear_default":
        return 0.0, 1 / (3 * n_in), 1.8
    if name == "kumar_normal":  # 1/(f'(0)^2 (1 + f(0)^2))
        return 0.0, {"tanh": 1.0, "sigmoid": 12.8, "relu": 2.0, "linear": 1.0}[act.name] / n_in, 3.0
    if name == "variance_scaling":
        dist = p.get("distribution", "truncated_normal")
        return 0.0, p.get("scale", 1.0) / fan[p.get("mode", "fan_in")], 1.8 if dist == "uniform" else 3.0
    raise KeyError(name)


positive = st.floats(1e-3, 1e3)
modes = st.sampled_from(["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
he_gain_source = st.one_of(st.just({}), st.fixed_dictionaries({"gain": positive}), st.fixed_dictionaries({"slope": st.floats(-10, 10)}),
                           st.fixed_dictionaries({"nonlinearity": st.sampled_from(["tanh", "relu", "selu", "linear"])}),
                           st.fixed_dictionaries({"nonlinearity": st.just("leaky_relu")}, optional={"slope": st.floats(-10, 10)}))  # fmt: skip
VALID = {
    "uniform": st.fixed_dictionaries({}, optional={"a": st.floats(-1e3, -1e-3), "b": st.floats(1e-3, 1e3)}),
    "normal": st.fixed_dictionaries({}, optional={"mean": st.floats(-1e3, 1e3), "std": positive}),
    "xavier_normal": st.fixed_dictionaries({}, optional={"gain": positive}),
    "xavier_uniform": st.fixed_dictionaries({}, optional={"gain": positive}),
    "he_normal": st.fixed_dictionaries({}, optional={"mode": modes}).flatmap(lambda m: he_gain_source.map(lambda g: {**m, **g})),
    "he_uniform": st.fixed_dictionaries({}, optional={"mode": modes}).flatmap(lambda m: he_gain_source.map(lambda g: {**m, **g})),
    "lecun_normal": st.just({}),
    "lecun_uniform": st.just({}),
    "torch_linear_default": st.just({}),
    "kumar_normal": st.just({}),
    "variance_scaling": st.fixed_dictionaries({}, optional={
        "scale": positive, "mode": modes, "distribution": st.sampled_from(["normal", "uniform", "untruncated_normal", "truncated_normal"])}),
}  # fmt: skip
sizes = st.integers(48, 160)


@examples(3)
@given(name=st.sampled_from(sorted(VALID)), shape=st.tuples(sizes, sizes), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2**32), data=st.data())  # fmt: skip
def test_valid_parameters_give_the_formulas_mean_and_variance(name, shape, dtype, seed, data):
    p = data.draw(VALID[name], "params")
    act = None
    if name == "kumar_normal":
        act = wb.get_activation(data.draw(st.sampled_from(["tanh", "sigmoid", "relu", "linear"]), "activation"))
    elif name.startswith("he_"):
        act = data.draw(st.sampled_from([None, wb.get_activation("relu"), wb.get_activation("leaky_relu", 0.2)]), "activation")
    w, exc = call(lambda: wb.initialize(name, shape, seed=seed, activation=act, dtype=dtype, **p))
    assert exc is None, f"valid input refused: {type(exc).__name__}: {exc}"
    assert w.shape == shape and w.dtype == np.dtype(dtype) and np.isfinite(w).all()
    mean, var, kurt = moments(name, shape, act, p)
    x, n = w.astype(np.float64).ravel(), w.size
    # the sample mean has standard error sigma/sqrt(n); the sample variance sigma^2 sqrt((k - 1)/n)
    assert abs(x.mean() - mean) <= Z * math.sqrt(var / n) + 1e-6 * abs(mean), f"mean {x.mean()} vs {mean}"
    assert abs(x.var() - var) <= Z * var * math.sqrt((kurt - 1) / n) + 1e-6 * (var + mean * mean), f"variance {x.var()} vs {var}"


@examples(1)
@given(shape=st.tuples(sizes, sizes), mean=st.floats(-10, 10), std=positive, a=st.one_of(st.floats(-4, 2.5), st.just(-math.inf)),
       width=st.one_of(st.floats(0.2, 8), st.just(math.inf)), seed=st.integers(0, 2**32))  # fmt: skip
def test_truncated_normal_has_the_requested_std_and_stays_in_its_bounds(shape, mean, std, a, width, seed):
    b = a + width if math.isfinite(a) else width - 4  # (-inf, inf) when both are infinite
    w, exc = call(lambda: wb.initialize("truncated_normal", shape, seed=seed, mean=mean, std=std, a=a, b=b))
    assert exc is None, f"valid input refused: {type(exc).__name__}: {exc}"
    parent = std / wb.truncnorm_std(a, b)
    lo, hi = mean + a * parent, mean + b * parent
    slack = 1e-9 * (abs(mean) + parent * max(abs(v) for v in (a, b) if math.isfinite(v) or v == a))
    assert w.min() >= lo - slack and w.max() <= hi + slack
    # a truncated normal's kurtosis lies below an exponential's (9): the far-tail limit
    assert abs(w.var() - std**2) <= Z * std**2 * math.sqrt(8 / w.size), f"variance {w.var()} vs {std**2}"


@examples(1)
@given(shape=st.tuples(st.integers(1, 80), st.integers(1, 80)), sparsity=st.floats(0, 1, exclude_max=True), std=positive,
       seed=st.integers(0, 2**32))  # fmt: skip
def test_sparse_has_exactly_its_zeros_per_column(shape, sparsity, std, seed):
    w = wb.initialize("sparse", shape, seed=seed, sparsity=sparsity, std=std)
    zeros = (w == 0).sum(axis=0)
    np.testing.assert_array_equal(zeros, math.ceil(sparsity * shape[0]))
    nonzero = w[w != 0]
    if nonzero.size >= 200:
        assert abs(nonzero.var() - std**2) <= Z * std**2 * math.sqrt(2 / nonzero.size)


@examples(1)
@given(name=st.sampled_from(["zeros", "ones", "constant", "identity", "orthogonal"]), shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
       value=st.floats(-1e3, 1e3), dtype=st.sampled_from(["float32", "float64"]))  # fmt: skip
def test_deterministic_schemes_are_exact(name, shape, value, dtype):
    o, i = shape
    kw = {"constant": {"value": value}, "identity": {"gain": value}, "orthogonal": {"gain": abs(value)}}.get(name, {})
    w = wb.initialize(name, shape, dtype=dtype, **kw)
    assert w.shape == shape and w.dtype == np.dtype(dtype)
    if name == "orthogonal":
        g = abs(value)
        w64 = w.astype(np.float64)
        gram = w64 @ w64.T if o <= i else w64.T @ w64
        tol = (1e-4 if dtype == "float32" else 1e-10) * g * g + np.finfo(dtype).tiny  # a tiny gain underflows to 0
        assert np.abs(gram - g * g * np.eye(min(o, i))).max() <= tol
        return
    expected = {"zeros": np.zeros(shape), "ones": np.ones(shape), "constant": np.full(shape, value),
                "identity": value * np.eye(o, i)}[name]  # fmt: skip
    np.testing.assert_array_equal(w, expected.astype(dtype))


# --------------------------------------------------------------------------- calculate_gain

CRITERIA = ["torch", "forward", "centered", "backward", "kumar"]


@examples(3)
@given(act=mostly(st.sampled_from(["leaky_relu"] * 3 + ["elu"] * 2 + ["relu", "tanh", "sigmoid", "linear", "selu", "gelu", "conv2d"]),
                  st.sampled_from(["tanhh", 3, True, "", None, "RELU", "identity"])),
       param=st.one_of(st.none(), numbers_any, junk), criterion=mostly(st.sampled_from(CRITERIA), st.sampled_from([None, "Torch", 1])))  # fmt: skip
def test_calculate_gain_is_finite_or_refuses(act, param, criterion):
    g, exc = call(lambda: wb.calculate_gain(act, param, criterion=criterion))
    event("refused" if exc is not None else "computed")
    if exc is not None:
        assert refused_properly(exc), f"{type(exc).__name__}: {exc}"
        return
    assert param is None or is_number(param), f"param={param!r} accepted"
    assert isinstance(g, float) and math.isfinite(g) and g >= 0


@examples(1)
@given(slope=st.one_of(st.floats(-1e3, 1e3), st.integers(-1000, 1000)))
def test_torch_leaky_relu_gain_is_the_formula(slope):
    assert wb.calculate_gain("leaky_relu", slope) == math.sqrt(2.0 / (1 + slope * slope))


def gaussian_expectation(g) -> float:
    """E[g(z)], z ~ N(0, 1), by the midpoint rule on [-12, 12] (an independent quadrature; 0 is a cell
    edge, so a kink or jump there costs no accuracy)."""
    h = 1e-4
    z = np.arange(-12 + h / 2, 12, h)
    return float(np.sum(g(z) * np.exp(-0.5 * z * z)) * h / math.sqrt(2 * math.pi))


@examples(0.5)
@given(act=st.sampled_from(["relu", "tanh", "sigmoid", "linear", "selu", "gelu", "softplus", "silu"]),
       criterion=st.sampled_from(["forward", "centered", "backward"]))  # fmt: skip
def test_derived_gains_normalise_the_moment(act, criterion):
    """forward: g^2 E[f(z)^2] = 1; centered: g^2 Var f(z) = 1; backward: g^2 E[f'(z)^2] = 1."""
    f = wb.get_activation(act)
    g = wb.calculate_gain(act, criterion=criterion)
    if criterion == "backward":
        moment = gaussian_expectation(lambda z: f.derivative(z) ** 2)
    else:
        moment = gaussian_expectation(lambda z: f(z) ** 2)
        if criterion == "centered":
            moment -= gaussian_expectation(lambda z: f(z)) ** 2
    assert g * g * moment == pytest.approx(1.0, rel=1e-6)
