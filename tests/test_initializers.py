"""Tests of the initializer library: targets, truncation, gains, seeding and input checking.

Every statistical expectation here is recomputed in the test from the closed forms of
the papers' formulas (or from an independent numerical integration), never copied from
the library's own output. Tolerances follow from the sample size (see :func:`mean_tol` and
:func:`std_rel_tol`), so a wrong factor (``n_out`` for ``n_in``, a missing gain, an uncorrected
truncation) fails while sampling noise does not.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pytest

import winit_bench as wb
from winit_bench.initializers import weight_moments


@pytest.fixture(scope="module", autouse=True)
def _single_threaded_blas():
    """One BLAS thread: the matrices here are small, and a multi-threaded OpenBLAS spinning on a busy
    CI box turns a 256x256 QR from milliseconds into seconds. Only speed depends on it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield

# --------------------------------------------------------------------------- tolerance helpers

#: Number of standard errors a sample statistic may deviate from its target. With fixed seeds the
#: tests are deterministic; 5 standard errors make a false alarm (p ~ 6e-7 per check) a
#: non-issue if a scheme changes its draw order, while any systematic error in the scale of
#: order 1/sqrt(N) * 5 (a few percent at these sizes) is caught.
Z = 5.0

NORMAL_KURTOSIS = 3.0
UNIFORM_KURTOSIS = 1.8


def mean_tol(sigma: float, n: int, z: float = Z) -> float:
    """Tolerance on a sample mean of ``n`` i.i.d. values of standard deviation ``sigma``.

    The sample mean has standard error ``sigma / sqrt(n)``; we allow ``z`` of them.
    """
    return z * sigma / math.sqrt(n)


def std_rel_tol(n: int, kurtosis: float = NORMAL_KURTOSIS, z: float = Z) -> float:
    """Tolerance on the *relative* error ``s/sigma - 1`` of a sample standard deviation.

    For ``n`` i.i.d. values with (non-excess) kurtosis ``k = E[(x-mu)^4]/sigma^4`` the sample
    variance has ``Var(s^2) ~= sigma^4 (k - 1)/n``; by the delta method ``s = sqrt(s^2)`` has
    relative standard error ``sqrt((k - 1)/(4 n))``. We allow ``z`` of them. Kurtosis is 3 for a
    normal, 1.8 for a uniform, and computed numerically for a truncated normal.
    """
    return z * math.sqrt((kurtosis - 1.0) / (4.0 * n))


# --------------------------------------------------------------------------- independent truncated-normal moments


def _simpson_weights(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * (h / 3.0)


@functools.lru_cache(maxsize=None)
def truncated_moments(a: float, b: float, n: int = 200_001) -> dict:
    """Mean, std, kurtosis and boundary densities of ``N(0, 1)`` truncated to ``[a, b]``.

    Computed by composite Simpson integration of the (shifted, unnormalised) Gaussian density on a
    fine grid: independent of the library's closed form and quadrature. Infinite bounds are cut
    40 sigma past the finite one (the neglected mass is below exp(-800) relative).
    """
    lo = a if math.isfinite(a) else (b if math.isfinite(b) else 0.0) - 40.0
    hi = b if math.isfinite(b) else (a if math.isfinite(a) else 0.0) + 40.0
    x = np.linspace(lo, hi, n)
    c = 0.0 if lo <= 0.0 <= hi else min(lo * lo, hi * hi)  # shift so the density peaks at 1
    p = np.exp(-0.5 * (x * x - c))
    w = _simpson_weights(n, x[1] - x[0]) * p
    mass = w.sum()
    w = w / mass
    mean = float(w @ x)
    var = float(w @ (x - mean) ** 2)
    kurt = float(w @ (x - mean) ** 4) / var**2
    # density of the truncated distribution at each finite bound (per unit of x)
    dens_a = math.exp(-0.5 * (lo * lo - c)) / mass if math.isfinite(a) else 0.0
    dens_b = math.exp(-0.5 * (hi * hi - c)) / mass if math.isfinite(b) else 0.0
    return {"mean": mean, "std": math.sqrt(var), "kurtosis": kurt, "dens_a": dens_a, "dens_b": dens_b}


# --------------------------------------------------------------------------- targets from the closed forms

SHAPES = {"square": (256, 256), "wide": (64, 512), "tall": (512, 64), "fan_in_1": (300, 1)}


@dataclass(frozen=True)
class Target:
    """What a scheme should produce: mean, std and the shape of the distribution.

    kind: "normal", "uniform" (support mean +- sqrt(3) std) or "truncated" (a normal cut at
    ``trunc = (a, b)`` in units of the parent std, whose realised std is ``std``).
    """

    mean: float
    std: float
    kind: str
    trunc: tuple[float, float] = (-2.0, 2.0)


def _u(std, mean=0.0):
    return Target(mean, std, "uniform")


def _fan(shape, mode):
    o, i = shape
    return {"fan_in": i, "fan_out": o, "fan_avg": (i + o) / 2.0}[mode]


def _variance_scaling_target(scale, mode, dist):
    def target(shape):
        std = math.sqrt(scale / _fan(shape, mode))
        kind = {"normal": "normal", "uniform": "uniform", "truncated_normal": "truncated"}[dist]
        return Target(0.0, std, kind)

    return target


LN2 = math.log(2.0)
LECUN_TANH_D0 = 1.7159 * 2.0 / 3.0

# (id, name, kwargs, target(shape)); targets follow the papers' formulas with (o, i) = (n_out, n_in)
STAT_CASES = [
    ("uniform(-0.3,0.7)", "uniform", {"a": -0.3, "b": 0.7}, lambda s: _u(1.0 / math.sqrt(12.0), 0.2)),
    ("uniform-default", "uniform", {}, lambda s: _u(0.1 / math.sqrt(12.0))),  # Keras U(-0.05, 0.05)
    ("normal(0.25,0.3)", "normal", {"mean": 0.25, "std": 0.3}, lambda s: Target(0.25, 0.3, "normal")),
    ("normal-default", "normal", {}, lambda s: Target(0.0, 0.05, "normal")),  # Keras N(0, 0.05^2)
    ("truncated_normal(-0.1,0.2)", "truncated_normal", {"mean": -0.1, "std": 0.2},
     lambda s: Target(-0.1, 0.2, "truncated")),
    ("truncated_normal-default", "truncated_normal", {}, lambda s: Target(0.0, 0.05, "truncated")),
    ("lecun_normal", "lecun_normal", {}, lambda s: Target(0.0, math.sqrt(1.0 / s[1]), "normal")),
    ("lecun_uniform", "lecun_uniform", {}, lambda s: _u(math.sqrt(1.0 / s[1]))),
    ("xavier_normal", "xavier_normal", {}, lambda s: Target(0.0, math.sqrt(2.0 / (s[0] + s[1])), "normal")),
    ("xavier_normal-gain2", "xavier_normal", {"gain": 2.0},
     lambda s: Target(0.0, 2.0 * math.sqrt(2.0 / (s[0] + s[1])), "normal")),
    ("xavier_uniform", "xavier_uniform", {}, lambda s: _u(math.sqrt(6.0 / (s[0] + s[1])) / math.sqrt(3.0))),
    ("xavier_uniform-gain0.5", "xavier_uniform", {"gain": 0.5},
     lambda s: _u(0.5 * math.sqrt(6.0 / (s[0] + s[1])) / math.sqrt(3.0))),
    ("he_normal", "he_normal", {}, lambda s: Target(0.0, math.sqrt(2.0 / s[1]), "normal")),
    ("he_normal-fan_out", "he_normal", {"mode": "fan_out"}, lambda s: Target(0.0, math.sqrt(2.0 / s[0]), "normal")),
    ("he_normal-leaky_relu", "he_normal", {"activation": "leaky_relu"},
     lambda s: Target(0.0, math.sqrt(2.0 / (1 + 0.01**2) / s[1]), "normal")),
    ("he_normal-slope0.2", "he_normal", {"slope": 0.2},
     lambda s: Target(0.0, math.sqrt(2.0 / (1 + 0.2**2) / s[1]), "normal")),
    ("he_normal-gain1.5", "he_normal", {"gain": 1.5}, lambda s: Target(0.0, 1.5 / math.sqrt(s[1]), "normal")),
    ("he_uniform", "he_uniform", {}, lambda s: _u(math.sqrt(2.0 / s[1]))),
    ("he_uniform-fan_out", "he_uniform", {"mode": "fan_out"}, lambda s: _u(math.sqrt(2.0 / s[0]))),
    ("he_uniform-slope0.2", "he_uniform", {"slope": 0.2}, lambda s: _u(math.sqrt(2.0 / (1 + 0.2**2) / s[1]))),
    # Kumar: Var = 1/(n_in f'(0)^2 (1 + f(0)^2)); ReLU family 2/(1+a^2)/n_in
    ("kumar-tanh", "kumar_normal", {"activation": "tanh"}, lambda s: Target(0.0, math.sqrt(1.0 / s[1]), "normal")),
    ("kumar-sigmoid", "kumar_normal", {"activation": "sigmoid"},
     lambda s: Target(0.0, math.sqrt(12.8 / s[1]), "normal")),
    ("kumar-relu", "kumar_normal", {"activation": "relu"}, lambda s: Target(0.0, math.sqrt(2.0 / s[1]), "normal")),
    ("kumar-gelu", "kumar_normal", {"activation": "gelu"}, lambda s: Target(0.0, math.sqrt(4.0 / s[1]), "normal")),
    ("kumar-silu", "kumar_normal", {"activation": "silu"}, lambda s: Target(0.0, math.sqrt(4.0 / s[1]), "normal")),
    ("kumar-softplus", "kumar_normal", {"activation": "softplus"},
     lambda s: Target(0.0, math.sqrt(1.0 / (s[1] * 0.25 * (1 + LN2**2))), "normal")),
    ("kumar-lecun_tanh", "kumar_normal", {"activation": "lecun_tanh"},
     lambda s: Target(0.0, math.sqrt(1.0 / (s[1] * LECUN_TANH_D0**2)), "normal")),
    ("kumar-linear", "kumar_normal", {"activation": "linear"}, lambda s: Target(0.0, math.sqrt(1.0 / s[1]), "normal")),
    ("torch_linear_default", "torch_linear_default", {}, lambda s: _u(1.0 / math.sqrt(3.0 * s[1]))),
    ("variance_scaling-default", "variance_scaling", {}, _variance_scaling_target(1.0, "fan_in", "truncated_normal")),
] + [
    (f"variance_scaling-{mode}-{dist}", "variance_scaling", {"scale": 2.0, "mode": mode, "distribution": dist},
     _variance_scaling_target(2.0, mode, dist))
    for mode in ("fan_in", "fan_out", "fan_avg")
    for dist in ("normal", "truncated_normal", "uniform")
]  # fmt: skip

EXACT_NAMES = {"zeros", "ones", "constant", "identity"}
SPECIAL_NAMES = {"orthogonal", "sparse"}  # tested by their own structural tests below
CRITICAL_NAMES = {"edge_of_chaos", "edge_of_chaos_orthogonal"}  # tests/test_critical.py: chi1 = 1 in a wide network
KERNEL_NAMES = {"dirac", "delta_orthogonal"}  # convolution kernels only; tests/test_conv_kernels.py: torch's dirac_, isometry


def check_sample(w: np.ndarray, t: Target, label: str = "") -> None:
    """Assert that ``w`` is a plausible sample of ``t``: mean, std and the shape of the law."""
    x = np.asarray(w, dtype=np.float64).ravel()
    n = x.size
    if t.kind == "normal":
        kurt, realised_mean = NORMAL_KURTOSIS, t.mean
    elif t.kind == "uniform":
        kurt, realised_mean = UNIFORM_KURTOSIS, t.mean
    else:
        m = truncated_moments(*t.trunc)
        parent = t.std / m["std"]
        kurt, realised_mean = m["kurtosis"], t.mean + parent * m["mean"]
    mean, std = x.mean(), x.std()
    assert abs(mean - realised_mean) < mean_tol(t.std, n), f"{label}: mean {mean} vs {realised_mean}"
    rel = std / t.std - 1.0
    assert abs(rel) < std_rel_tol(n, kurt), f"{label}: std {std} vs target {t.std} (rel err {rel:.3g})"
    dev = np.abs(x - t.mean)
    if t.kind == "uniform":
        half = math.sqrt(3.0) * t.std  # U(-a, a) has variance a^2/3
        assert dev.max() <= half * (1 + 1e-12), f"{label}: values beyond the uniform bound {half}"
        # both ends reached: P(no value in the last 15/n of the range) ~ e^-15
        gap = 2 * half * 15.0 / n
        assert x.min() < t.mean - half + gap and x.max() > t.mean + half - gap, f"{label}: support too narrow"
    elif t.kind == "normal":
        if n >= 200:  # not bounded like a uniform of the same std: P(all |z| < sqrt(3)) < 3e-8
            assert dev.max() > math.sqrt(3.0) * t.std, f"{label}: looks bounded, not normal"
        if n >= 10_000:  # sample kurtosis of a normal has standard error sqrt(24/n)
            k = float(np.mean((x - mean) ** 4) / std**4)
            assert abs(k - 3.0) < Z * math.sqrt(24.0 / n), f"{label}: kurtosis {k}, not normal"
    else:
        a, b = t.trunc
        m = truncated_moments(a, b)
        parent = t.std / m["std"]
        assert x.min() >= t.mean + a * parent - 1e-12 and x.max() <= t.mean + b * parent + 1e-12, f"{label}: outside"


def test_every_registered_initializer_is_covered():
    covered = {c[1] for c in STAT_CASES} | EXACT_NAMES | SPECIAL_NAMES | CRITICAL_NAMES | KERNEL_NAMES
    names = set(wb.initializer_names(aliases=False))
    assert names - covered == set(), f"initializers without a target test: {sorted(names - covered)}"
    assert covered - names == set()


@pytest.mark.parametrize("shape_id", list(SHAPES))
@pytest.mark.parametrize("case", STAT_CASES, ids=[c[0] for c in STAT_CASES])
def test_statistics_match_closed_form(case, shape_id):
    cid, name, kwargs, target = case
    shape = SHAPES[shape_id]
    w = wb.initialize(name, shape, seed=11, layer=2, **kwargs)
    assert w.shape == shape and w.dtype == np.float64
    check_sample(w, target(shape), f"{cid} {shape}")


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exact_schemes(shape, dtype):
    o, i = shape
    dt = np.dtype(dtype)
    cases = {
        ("zeros", ()): np.zeros(shape),
        ("ones", ()): np.ones(shape),
        ("constant", (("value", 0.37),)): np.full(shape, 0.37),
        ("constant", (("value", -2.5),)): np.full(shape, -2.5),
        ("constant", ()): np.full(shape, 1.0 / i),  # default: each unit averages its inputs
        ("identity", ()): np.eye(o, i),
        ("identity", (("gain", 0.5),)): 0.5 * np.eye(o, i),
        ("eye", (("gain", 3.0),)): 3.0 * np.eye(o, i),
    }
    for (name, kw), expected in cases.items():
        w = wb.initialize(name, shape, seed=5, dtype=dtype, **dict(kw))
        assert w.dtype == dt and w.shape == shape
        np.testing.assert_array_equal(w, expected.astype(dt), err_msg=f"{name} {kw}")


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, gain):
    o, i = shape
    w = wb.initialize("orthogonal", shape, seed=3, gain=gain)
    assert w.shape == shape and w.dtype == np.float64
    gram = w @ w.T if o <= i else w.T @ w  # orthonormal rows (wide/square) or columns (tall)
    err = np.abs(gram - gain**2 * np.eye(min(o, i))).max()
    assert err < 1e-12 * gain**2, f"orthogonality error {err}"
    # sum of squares of min(o, i) orthonormal vectors scaled by g is exactly g^2 min(o, i)
    np.testing.assert_allclose(np.mean(w**2), gain**2 / max(o, i), rtol=1e-12)
    # entries of a Haar matrix have mean 0 and variance 1/max(o, i)
    assert abs(w.mean()) < mean_tol(gain / math.sqrt(max(o, i)), w.size)
    w32 = wb.initialize("orthogonal", shape, seed=3, gain=gain, dtype="float32").astype(np.float64)
    gram32 = w32 @ w32.T if o <= i else w32.T @ w32
    assert np.abs(gram32 - gain**2 * np.eye(min(o, i))).max() < 1e-5 * gain**2


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8)])
def test_orthogonal_signs_are_haar(shape):
    """With the signs of diag(R) folded into Q the law is Haar: every entry is symmetric about 0.

    A bare LAPACK QR returns Q[0, 0] < 0 for every draw; the folded version is positive half the time.
    """
    n_seeds = 400
    first = np.array([wb.initialize("orthogonal", shape, seed=s)[0, 0] for s in range(n_seeds)])
    frac = np.mean(first > 0)
    assert abs(frac - 0.5) < Z * 0.5 / math.sqrt(n_seeds), f"P(W[0,0] > 0) = {frac}"


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("sparsity,std", [(0.1, 0.01), (0.5, 0.3), (0.9, 2.0), (0.0, 0.2)])
def test_sparse(shape, sparsity, std):
    o, i = shape
    w = wb.initialize("sparse", shape, seed=9, sparsity=sparsity, std=std)
    assert w.shape == shape
    n_zero = math.ceil(sparsity * o)
    np.testing.assert_array_equal((w == 0).sum(axis=0), np.full(i, n_zero))
    nz = w[w != 0]
    check_sample(nz, Target(0.0, std, "normal"), f"sparse nonzeros {shape}")
    if n_zero and i >= 64 and n_zero < o:  # zeros sit at random rows, not the same rows in every column
        rows_with_zeros = np.count_nonzero((w == 0).any(axis=1))
        assert rows_with_zeros > n_zero


def test_sparse_default_parameters():
    """Martens' defaults as in torch.nn.init.sparse_: std 0.01; sparsity documented as 0.1."""
    w = wb.initialize("sparse", (200, 100), seed=0)
    np.testing.assert_array_equal((w == 0).sum(axis=0), np.full(100, math.ceil(0.1 * 200)))
    check_sample(w[w != 0], Target(0.0, 0.01, "normal"), "sparse default")


def test_aliases_give_identical_arrays():
    for alias, name in [("glorot_normal", "xavier_normal"), ("glorot_uniform", "xavier_uniform"),
                        ("kaiming_normal", "he_normal"), ("kaiming_uniform", "he_uniform"), ("eye", "identity")]:  # fmt: skip
        assert alias in wb.initializer_names()
        assert alias not in wb.initializer_names(aliases=False)
        np.testing.assert_array_equal(wb.initialize(alias, (40, 30), seed=4), wb.initialize(name, (40, 30), seed=4))
    # names are case-insensitive
    np.testing.assert_array_equal(wb.initialize("He_Normal", (4, 3), seed=1), wb.initialize("he_normal", (4, 3), seed=1))


# --------------------------------------------------------------------------- truncated normal

BOUNDS = [(-2.0, 2.0), (-1.0, 3.0), (0.0, 1.0), (-0.5, 0.5), (2.0, math.inf), (-math.inf, -3.0),
          (3.0, 3.5), (5.0, 6.0), (-6.0, -5.0), (-math.inf, math.inf)]  # fmt: skip


@pytest.mark.parametrize("a,b", BOUNDS)
@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (0.5, 0.3)])
def test_truncated_normal_realised_std_and_support(a, b, mean, std):
    shape = (256, 256)
    w = wb.initialize("truncated_normal", shape, seed=21, mean=mean, std=std, a=a, b=b)
    x = w.ravel()
    n = x.size
    m = truncated_moments(a, b)
    parent = std / m["std"]
    # the std of what is produced is the target, whatever the bounds
    assert abs(x.std() / std - 1) < std_rel_tol(n, m["kurtosis"]), f"std {x.std()} vs {std}"
    assert abs(x.mean() - (mean + parent * m["mean"])) < mean_tol(std, n)
    # no value outside [mean + a parent, mean + b parent] (parent from the library's truncnorm_std,
    # itself checked against independent integration below)
    lib_parent = std / wb.truncnorm_std(a, b)
    np.testing.assert_allclose(lib_parent, parent, rtol=1e-9)
    lo, hi = mean + a * lib_parent, mean + b * lib_parent
    finite = [abs(v) for v in (a, b) if math.isfinite(v)]
    slack = 1e-12 * (1.0 + abs(mean) + lib_parent * max(finite, default=0.0))  # rounding of mean + x * parent
    assert x.min() >= lo - slack and x.max() <= hi + slack
    # never clamped: no pile-up on a bound, and each finite bound is approached as its density says
    for bound, dens in ((lo, m["dens_a"]), (hi, m["dens_b"])):
        if math.isfinite(bound):
            assert np.count_nonzero(x == bound) <= 1, "values pile up on a bound: clamped?"
            # P(no value within delta of the bound) ~ exp(-n * density * delta / parent) = e^-30
            delta = 30.0 * parent / (n * dens)
            assert np.min(np.abs(x - bound)) < delta, f"bound {bound} never approached"


def test_truncnorm_std_reference_value():
    assert abs(wb.truncnorm_std(-2, 2) - 0.87962566103423978) < 1e-15
    # half-normal: Var = 1 - 2/pi; untruncated: 1
    assert abs(wb.truncnorm_std(0, math.inf) - math.sqrt(1 - 2 / math.pi)) < 1e-15
    assert abs(wb.truncnorm_std(-math.inf, 0) - math.sqrt(1 - 2 / math.pi)) < 1e-15
    assert abs(wb.truncnorm_std(-math.inf, math.inf) - 1.0) < 1e-15


ALL_BOUNDS = BOUNDS + [(0.0, math.inf), (-1.0, 1.0), (-0.01, 0.01), (1.0, 1.001), (30.0, 30.5),
                       (-10.0, 0.5), (-3.0, -2.999), (8.0, math.inf)]  # fmt: skip


@pytest.mark.parametrize("a,b", ALL_BOUNDS)
def test_truncnorm_std_against_numerical_integration(a, b):
    expected = truncated_moments(a, b)["std"]
    got = wb.truncnorm_std(a, b)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    np.testing.assert_allclose(wb.truncnorm_std(-b, -a), got, rtol=1e-12)  # mirror symmetry
    assert 0 < got <= 1


def test_truncnorm_std_narrow_interval_is_uniform_like():
    for c in (-1.0, 0.0, 2.5):
        h = 1e-4
        np.testing.assert_allclose(wb.truncnorm_std(c, c + h), h / math.sqrt(12.0), rtol=1e-5)


# scipy's truncnorm loses accuracy far in the tails and on very narrow intervals (rel. error ~1e-6
# at width 1e-3, where the Simpson reference above and the library agree to 1e-10): compare elsewhere
SCIPY_BOUNDS = [(a, b) for a, b in ALL_BOUNDS if b - a > 0.1 and max((abs(v) for v in (a, b) if math.isfinite(v)), default=0) < 10]


@pytest.mark.parametrize("a,b", SCIPY_BOUNDS)
def test_truncnorm_std_against_scipy(a, b):
    stats = pytest.importorskip("scipy.stats")
    np.testing.assert_allclose(wb.truncnorm_std(a, b), stats.truncnorm.std(a, b), rtol=1e-9)


# --------------------------------------------------------------------------- gains


TORCH_TABLE = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}


@pytest.mark.parametrize("act,expected", list(TORCH_TABLE.items()))
def test_torch_gain_table(act, expected):
    assert wb.calculate_gain(act) == expected
    assert wb.calculate_gain(act, criterion="torch") == expected


def test_torch_gain_leaky_relu():
    assert wb.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    for s in (0.0, 0.2, 1.0, 3.0):
        assert wb.calculate_gain("leaky_relu", s) == math.sqrt(2.0 / (1 + s**2))
    # an Activation object works too, with its name
    assert wb.calculate_gain(wb.get_activation("tanh")) == 5.0 / 3.0


@pytest.mark.parametrize(
    "act,param",
    [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
     ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0.0), ("leaky_relu", 2.0)],
)  # fmt: skip
def test_torch_gain_against_torch(act, param):
    torch = pytest.importorskip("torch")
    assert wb.calculate_gain(act, param) == pytest.approx(torch.nn.init.calculate_gain(act, param), rel=1e-15)


def _simpson_expectation(g, lim: float = 20.0, n: int = 200_001) -> float:
    """E[g(z)], z ~ N(0, 1), by Simpson's rule on [-lim, lim]: independent of the library's quadrature."""
    x = np.linspace(-lim, lim, n)
    w = _simpson_weights(n, x[1] - x[0]) * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return float(w @ g(x))


def test_derived_gains_closed_forms():
    tol = 1e-8
    gain = wb.calculate_gain
    assert gain("relu", criterion="forward") == pytest.approx(math.sqrt(2.0), abs=tol)
    assert gain("relu", criterion="backward") == pytest.approx(math.sqrt(2.0), abs=tol)
    # Var relu(z) = 1/2 - 1/(2 pi)
    assert gain("relu", criterion="centered") == pytest.approx(1 / math.sqrt(0.5 - 0.5 / math.pi), abs=tol)
    for s in (0.01, 0.2, 0.5):
        assert gain("leaky_relu", s, criterion="forward") == pytest.approx(math.sqrt(2 / (1 + s * s)), abs=tol)
        assert gain("leaky_relu", s, criterion="backward") == pytest.approx(math.sqrt(2 / (1 + s * s)), abs=tol)
    for crit in ("forward", "centered", "backward", "kumar"):
        assert gain("linear", criterion=crit) == pytest.approx(1.0, abs=tol)
    # SELU's constants make E[selu(z)^2] = 1 (and E[selu(z)] = 0)
    assert gain("selu", criterion="forward") == pytest.approx(1.0, abs=1e-6)
    assert gain("selu", criterion="centered") == pytest.approx(1.0, abs=1e-6)
    # Kumar: 1/(|f'(0)| sqrt(1 + f(0)^2))
    assert gain("tanh", criterion="kumar") == pytest.approx(1.0, abs=tol)
    assert gain("sigmoid", criterion="kumar") ** 2 == pytest.approx(12.8, abs=tol)
    assert gain("gelu", criterion="kumar") == pytest.approx(2.0, abs=tol)
    assert gain("relu", criterion="kumar") == pytest.approx(math.sqrt(2.0), abs=tol)


def test_derived_gains_against_independent_integration():
    gain = wb.calculate_gain
    th = np.tanh
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(gain("tanh", criterion="forward"), 1 / math.sqrt(_simpson_expectation(lambda x: th(x) ** 2)), rtol=1e-10)
    np.testing.assert_allclose(gain("tanh", criterion="backward"),
                               1 / math.sqrt(_simpson_expectation(lambda x: (1 - th(x) ** 2) ** 2)), rtol=1e-10)
    np.testing.assert_allclose(gain("sigmoid", criterion="forward"),
                               1 / math.sqrt(_simpson_expectation(lambda x: sig(x) ** 2)), rtol=1e-10)
    var_sig = _simpson_expectation(lambda x: sig(x) ** 2) - _simpson_expectation(sig) ** 2
    np.testing.assert_allclose(gain("sigmoid", criterion="centered"), 1 / math.sqrt(var_sig), rtol=1e-9)  # fmt: skip


# --------------------------------------------------------------------------- declared moments (what the theory reads)

DETERMINISTIC = {"zeros", "ones", "constant", "identity", "dirac"}  # moments over the positions: exact
MOMENT_CASES = [(name, {}) for name in wb.initializer_names(aliases=False)] + [
    ("uniform", {"a": -0.3, "b": 0.7}), ("normal", {"mean": 0.25, "std": 0.3}),
    ("truncated_normal", {"mean": -0.1, "std": 0.2, "a": -1.0, "b": 3.0}), ("truncated_normal", {"a": 2.0, "b": math.inf}),
    ("constant", {"value": -2.5}), ("identity", {"gain": 2.0}), ("sparse", {"sparsity": 0.7, "std": 0.1}),
    ("he_uniform", {"mode": "fan_avg", "slope": 0.3}), ("xavier_normal", {"gain": 0.5}), ("orthogonal", {"gain": 1.5}),
    ("variance_scaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}),
]  # fmt: skip


@pytest.mark.parametrize("name,kw", MOMENT_CASES, ids=[f"{n}{kw}" for n, kw in MOMENT_CASES])
def test_declared_moments_are_those_of_the_draws(name, kw):
    """Every registered scheme (a new one too) declares the mean and variance of what it draws.

    Random laws: the sample mean within ``Z`` standard errors, the sample variance within ``Z``
    standard errors of a variance (``sqrt((k - 1)/n)`` relative, ``k`` the sample kurtosis). The
    shape is not square, so ``n_in`` for ``n_out`` (a factor 1.5) is caught; so is any factor of 2.
    """
    needs = {"kumar_normal": "sigmoid", "edge_of_chaos": "tanh", "edge_of_chaos_orthogonal": "tanh"}
    shape, act = (256, 384), needs.get(name)  # sigmoid: Kumar's 12.8, not 1 or 2
    if name in KERNEL_NAMES:
        shape = (384, 256, 3)  # out >= in, as delta_orthogonal needs
    m = weight_moments(name, shape, act, **kw)
    x = wb.initialize(name, shape, seed=5, activation=act, **kw).ravel()
    if name in DETERMINISTIC:
        np.testing.assert_allclose([x.mean(), x.var()], [m.mean, m.var], rtol=1e-12, atol=1e-300)
        return
    n, var = x.size, x.var()
    kurt = float(np.mean((x - x.mean()) ** 4)) / var**2
    assert abs(x.mean() - m.mean) < mean_tol(math.sqrt(m.var), n), f"mean {x.mean()} vs declared {m.mean}"
    assert abs(var / m.var - 1) < Z * math.sqrt((kurt - 1) / n), f"variance {var} vs declared {m.var}"


# --------------------------------------------------------------------------- seeding, layers, dtypes

RANDOM_CASES = [
    (c[1], {k: v for k, v in c[2].items()}) for c in STAT_CASES if c[0] in {
        "uniform(-0.3,0.7)", "normal(0.25,0.3)", "truncated_normal(-0.1,0.2)", "lecun_normal", "lecun_uniform",
        "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "kumar-tanh", "torch_linear_default",
        "variance_scaling-fan_avg-uniform", "variance_scaling-fan_in-truncated_normal"}
] + [("orthogonal", {}), ("sparse", {"sparsity": 0.3, "std": 0.1}), ("truncated_normal", {"a": 2.0, "b": math.inf})]  # fmt: skip
RANDOM_IDS = [f"{n}{kw}" for n, kw in RANDOM_CASES]


@pytest.mark.parametrize("name,kw", RANDOM_CASES, ids=RANDOM_IDS)
def test_reproducible_and_seed_dependent(name, kw):
    shape = (48, 32)
    a = wb.initialize(name, shape, seed=7, layer=3, **kw)
    b = wb.initialize(name, shape, seed=np.int64(7), layer=np.int64(3), **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, wb.initialize(name, shape, seed=8, layer=3, **kw))
    assert not np.array_equal(a, wb.initialize(name, shape, seed=7, layer=2, **kw))


@pytest.mark.parametrize("name,kw", RANDOM_CASES, ids=RANDOM_IDS)
def test_float32_is_cast_of_float64(name, kw):
    """Draw in float64 on the host, cast once: float32 weights are the float64 ones rounded."""
    shape = (64, 48)
    w64 = wb.initialize(name, shape, seed=2, layer=1, **kw)
    w32 = wb.initialize(name, shape, seed=2, layer=1, dtype="float32", **kw)
    assert w32.dtype == np.float32 and w64.dtype == np.float64
    n_diff = np.count_nonzero(w32 != w64.astype(np.float32))
    assert n_diff == 0, f"{n_diff} of {w32.size} float32 values differ from the float64 draw cast to float32"


@pytest.mark.parametrize("name", sorted(wb.initializer_names()))
@pytest.mark.parametrize("dtype", ["float32", np.float32, np.dtype("float32"), "float64", np.float64])
def test_dtype_respected(name, dtype):
    kw = {"activation": "tanh"} if name in {"kumar_normal"} | CRITICAL_NAMES else {}
    shape = (5, 4, 3) if name in KERNEL_NAMES else (5, 4)
    w = wb.initialize(name, shape, dtype=dtype, **kw)
    assert w.dtype == np.dtype(dtype) and w.shape == shape
    assert wb.initialize(name, shape, **kw).dtype == np.float64  # default


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**40])
@pytest.mark.parametrize("layer", [0, 1, 5])
def test_child_stream_is_seedsequence_spawn(seed, layer):
    shape = (30, 20)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(layer + 1)[layer])
    z = rng.standard_normal(shape)
    np.testing.assert_array_equal(wb.initialize("normal", shape, seed=seed, layer=layer, mean=0.0, std=1.0), z)
    # a scaled normal scheme is the same stream times its std
    np.testing.assert_allclose(wb.initialize("he_normal", shape, seed=seed, layer=layer), math.sqrt(2.0 / 20) * z,
                               rtol=1e-15, atol=0)  # fmt: skip


def test_layers_are_independent_streams():
    a0 = wb.initialize("he_normal", (64, 64), seed=3, layer=0)
    a1 = wb.initialize("he_normal", (64, 64), seed=3, layer=1)
    assert not np.array_equal(a0, a1)
    # essentially uncorrelated
    assert abs(np.corrcoef(a0.ravel(), a1.ravel())[0, 1]) < Z / math.sqrt(a0.size)
    # layer 1 does not depend on what was drawn before, nor on the shape of layer 0
    first = wb.initialize("xavier_uniform", (30, 20), seed=3, layer=1)
    for other in [(20, 7), (20, 13), (1, 1), (500, 400)]:
        wb.initialize("he_normal", other, seed=3, layer=0)
        np.testing.assert_array_equal(wb.initialize("xavier_uniform", (30, 20), seed=3, layer=1), first)

    def net(sizes):
        return [wb.initialize("he_normal", (sizes[k + 1], sizes[k]), seed=42, layer=k) for k in range(len(sizes) - 1)]

    # changing the input width (layer 0's shape) or appending a layer leaves the other layers alone
    n1, n2, n3 = net([7, 20, 30]), net([13, 20, 30]), net([7, 20, 30, 10])
    np.testing.assert_array_equal(n1[1], n2[1])
    np.testing.assert_array_equal(n1[0], n3[0])
    np.testing.assert_array_equal(n1[1], n3[1])


def test_global_numpy_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()
    w1 = wb.initialize("he_normal", (10, 10), seed=1)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    np.random.seed(999)
    np.testing.assert_array_equal(wb.initialize("he_normal", (10, 10), seed=1), w1)


# --------------------------------------------------------------------------- bad input

CUBE = wb.Activation("cube", lambda x, xp: x**3, lambda z, a, xp: 3 * z * z, False)


def _raises(fn, *substrings, exc=(ValueError, TypeError)):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for s in substrings:
        assert s in msg, f"{s!r} not in error message {msg!r}"
    return msg


def test_unknown_initializer_lists_names_and_suggests():
    msg = _raises(lambda: wb.initialize("he_normall", (3, 3)), "he_normall", "did you mean", "'he_normal'")
    for name in wb.initializer_names(aliases=False):
        assert name in msg
    _raises(lambda: wb.initialize("xavier_unifrom", (3, 3)), "'xavier_uniform'")
    _raises(lambda: wb.initialize(3, (3, 3)), "string", exc=TypeError)


def test_unknown_activation_lists_names_and_suggests():
    msg = _raises(lambda: wb.initialize("kumar_normal", (3, 3), activation="tanhh"), "tanhh", "did you mean", "'tanh'")
    for name in wb.activation_names():
        assert name in msg
    _raises(lambda: wb.initialize("he_normal", (3, 3), activation=3.0), "activation", exc=TypeError)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4, 5, 6, 7), (), 5, "ab", (3, 2.5), (3, None)])
def test_shape_not_2d_to_5d(shape):
    _raises(lambda: wb.initialize("he_normal", shape), "2-D to 5-D", "shape")


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (-1, 4), (4, -2)])
def test_shape_non_positive(shape):
    _raises(lambda: wb.initialize("he_normal", shape), "positive", str(shape[0]))


@pytest.mark.parametrize("name", ["he_normal", "he_uniform", "variance_scaling"])
def test_unknown_mode(name):
    _raises(lambda: wb.initialize(name, (3, 3), mode="fan_sum"), "fan_sum", "fan_in", "fan_out", "fan_avg")


def test_unknown_distribution():
    _raises(lambda: wb.initialize("variance_scaling", (3, 3), distribution="gamma"),
            "gamma", "normal", "truncated_normal", "uniform")  # fmt: skip


@pytest.mark.parametrize("sparsity", [1.0, 1.5, -0.1, float("nan")])
def test_sparsity_out_of_range(sparsity):
    _raises(lambda: wb.initialize("sparse", (10, 3), sparsity=sparsity), "sparsity", "[0, 1)")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("name,param", [("normal", "std"), ("truncated_normal", "std"), ("sparse", "std"),
                                        ("xavier_normal", "gain"), ("xavier_uniform", "gain"), ("he_normal", "gain"),
                                        ("he_uniform", "gain"), ("orthogonal", "gain")])  # fmt: skip
def test_negative_or_non_finite_std_or_gain(name, param, bad):
    _raises(lambda: wb.initialize(name, (6, 4), **{param: bad}), param)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_identity_gain_non_finite(bad):
    _raises(lambda: wb.initialize("identity", (4, 4), gain=bad), "gain")


@pytest.mark.parametrize("a,b", [(1.0, 1.0), (1.0, 0.0), (2.0, -2.0), (float("nan"), 1.0)])
def test_bounds_not_ordered(a, b):
    _raises(lambda: wb.initialize("uniform", (3, 3), a=a, b=b), "a")
    if not math.isnan(a):
        _raises(lambda: wb.initialize("uniform", (3, 3), a=a, b=b), "a < b")
    _raises(lambda: wb.initialize("truncated_normal", (3, 3), a=a, b=b), "NaN" if math.isnan(a) else "a < b")
    _raises(lambda: wb.truncnorm_std(a, b), "a < b")


def test_truncation_without_mass():
    _raises(lambda: wb.truncnorm_std(40.0, 50.0), "mass")
    _raises(lambda: wb.initialize("truncated_normal", (3, 3), a=40.0, b=50.0), "mass")


def test_kumar_needs_nonzero_derivative_at_zero():
    # the derivative of x^3 vanishes at 0: Kumar's variance 1/(n f'(0)^2 ...) is undefined
    _raises(lambda: wb.initialize("kumar_normal", (4, 4), activation=CUBE), "derivative", "0")
    _raises(lambda: wb.calculate_gain(CUBE, criterion="kumar"), "derivative")
    # and not differentiable at 0 (SELU has a corner there)
    _raises(lambda: wb.initialize("kumar_normal", (4, 4), activation="selu"), "differentiable")


def test_kumar_needs_activation():
    _raises(lambda: wb.initialize("kumar_normal", (4, 4)), "activation")


def test_custom_activation_accepted_by_kumar():
    """Kumar's rule for a custom activation: f(z) = 2 z + 1 has f'(0) = 2, f(0) = 1 -> Var = 1/(8 n_in)."""
    affine = wb.Activation("affine", lambda x, xp: 2 * x + 1, lambda z, a, xp: 2 + 0 * a, True)
    w = wb.initialize("kumar_normal", (256, 256), seed=1, activation=affine)
    check_sample(w, Target(0.0, math.sqrt(1.0 / (8 * 256)), "normal"), "kumar affine")


@pytest.mark.parametrize("name,param", [("he_normal", "stdd"), ("zeros", "value"), ("xavier_normal", "mode"),
                                        ("orthogonal", "std")])  # fmt: skip
def test_unknown_parameter(name, param):
    msg = _raises(lambda: wb.initialize(name, (4, 4), **{param: 1}), param)
    assert "accept" in msg or "valid" in msg or "allowed" in msg, msg
    if name == "he_normal":
        assert "mode" in msg and "gain" in msg


@pytest.mark.parametrize("dtype", ["int32", "float16", "foo", np.complex128, "float128" if hasattr(np, "float128") else "i8"])
def test_bad_dtype(dtype):
    _raises(lambda: wb.initialize("he_normal", (4, 4), dtype=dtype), "float32", "float64")


@pytest.mark.parametrize("kw", [{"seed": -1}, {"seed": 1.5}, {"seed": "0"}, {"layer": -1}, {"layer": 0.5}])
def test_bad_seed_or_layer(kw):
    _raises(lambda: wb.initialize("he_normal", (4, 4), **kw), next(iter(kw)))


def test_bad_gain_requests():
    _raises(lambda: wb.calculate_gain("tanhh"), "'tanh'", "valid")
    _raises(lambda: wb.calculate_gain("gelu"), "gelu", "criterion")  # not in torch's table: points to the others
    _raises(lambda: wb.calculate_gain("tanh", criterion="fwd"), "fwd", "forward", "backward", "kumar")
    _raises(lambda: wb.calculate_gain("leaky_relu", float("nan")), "param")
    _raises(lambda: wb.calculate_gain("tanhh", criterion="forward"), "'tanh'")
