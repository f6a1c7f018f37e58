"""Every weight initializer, one small function each, with its formula and its paper.

A weight matrix has shape ``(fan_out, fan_in)``: row ``i`` holds the weights into unit ``i``
(PyTorch's layout). Randomness comes from one integer seed: layer ``l`` draws from the child
stream ``SeedSequence(seed, spawn_key=(l,))`` (the same as ``SeedSequence(seed).spawn(l + 1)[l]``),
always in float64 on the host, then cast once. The same ``(name, shape, seed, layer, params)``
therefore gives the identical array on every call, machine and backend, and adding a layer
changes no other layer.

Each scheme has the signature ``scheme(shape, *, activation, **params)`` and returns the law of
its weights for that shape (:mod:`winit_bench.distributions`: normal, uniform, truncated normal,
constant, identity, orthogonal, sparse), which knows both how to draw them and their moments. So
an initializer is written once: :func:`initialize` draws from its law, and the mean-field theory
reads the same law's moments (:func:`weight_moments`). :func:`initialize` checks every parameter
against the scheme's declaration (:func:`_takes`, rules in :mod:`winit_bench.checks`), refuses a
shape whose weights would not fit in memory, and refuses weights that overflow ``dtype``.
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Callable

import numpy as np

from . import streams
from .activations import Activation, get_activation
from .checks import DTYPES, Shape, FINITE, NON_NEGATIVE, OPTIONAL, OneOf, Real, check_dtype, check_params, check_shape, unknown_name_message
from .gains import kumar_variance_factor
from .memory import require_fits
from .distributions import Constant, Identity, Moments, Normal, Orthogonal, Sparse, TruncatedNormal, Uniform

FAN_MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

# --------------------------------------------------------------------------- parameter declarations and helpers

MODE = OneOf(FAN_MODES)


def _takes(**checks) -> Callable:
    """Declare a scheme's keyword parameters and the check each passes through in :func:`initialize`."""

    def declare(scheme):
        scheme.checks = checks
        return scheme

    return declare


def _fan(shape: Shape, mode: str) -> float:
    fan_out, fan_in = shape
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def _activation(activation) -> Activation | None:
    return None if activation is None else get_activation(activation)


# --------------------------------------------------------------------------- the schemes


def zeros(shape, *, activation=None):
    """``W = 0``. Every unit of a layer computes the same value forever: the network has width 1."""
    return Constant(0.0)


def ones(shape, *, activation=None):
    """``W = 1``. Symmetric, like :func:`zeros`: gradient descent never breaks the tie between units."""
    return Constant(1.0)


@_takes(value=OPTIONAL)
def constant(shape, *, activation=None, value=None):
    """``W = value`` (default ``1/n_in``: each unit averages its inputs). Symmetric: width-1 capacity."""
    return Constant(1.0 / shape[1] if value is None else value)


@_takes(a=FINITE, b=FINITE)
def uniform(shape, *, activation=None, a=-0.05, b=0.05):
    """``W ~ U(a, b)``; ``Var = (b - a)^2/12``. Defaults as Keras ``RandomUniform``."""
    if a >= b:
        raise ValueError(f"uniform needs a < b, got a={a}, b={b}")
    return Uniform(a, b)


@_takes(mean=FINITE, std=NON_NEGATIVE)
def normal(shape, *, activation=None, mean=0.0, std=0.05):
    """``W ~ N(mean, std^2)``. Defaults as Keras ``RandomNormal``."""
    return Normal(std, mean)


@_takes(mean=FINITE, std=NON_NEGATIVE, a=Real(infinite=True), b=Real(infinite=True))
def truncated_normal(shape, *, activation=None, mean=0.0, std=0.05, a=-2.0, b=2.0):
    """Normal truncated to ``[mean + a σ, mean + b σ]``, parent ``σ = std / truncnorm_std(a, b)``.

    The standard deviation of the values produced is exactly ``std`` for any bounds (Keras and JAX
    apply this correction for ±2σ; PyTorch's ``trunc_normal_`` does not). Sampled by rejection,
    never clamped, so no value lies outside the bounds.
    """
    return TruncatedNormal(std, mean, a, b)


def lecun_normal(shape, *, activation=None):
    """``W ~ N(0, 1/n_in)`` — LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp"."""
    return Normal(math.sqrt(1.0 / shape[1]))


def lecun_uniform(shape, *, activation=None):
    """``W ~ U(-√(3/n_in), √(3/n_in))``, ``Var = 1/n_in`` — LeCun et al. 1998."""
    bound = math.sqrt(3.0 / shape[1])
    return Uniform(-bound, bound)


@_takes(gain=NON_NEGATIVE)
def xavier_normal(shape, *, activation=None, gain=1.0):
    """``W ~ N(0, g^2 · 2/(n_in + n_out))`` — Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks"."""
    return Normal(gain * math.sqrt(2.0 / (shape[0] + shape[1])))


@_takes(gain=NON_NEGATIVE)
def xavier_uniform(shape, *, activation=None, gain=1.0):
    """``W ~ U(-b, b)``, ``b = g √(6/(n_in + n_out))`` — Glorot & Bengio 2010."""
    bound = gain * math.sqrt(6.0 / (shape[0] + shape[1]))
    return Uniform(-bound, bound)


def _he_std(shape, activation, mode, slope, gain):
    if gain is None:
        act = _activation(activation)
        if slope is None:
            slope = act.param if act is not None and act.name == "leaky_relu" else 0.0
        gain = math.sqrt(2.0 / (1.0 + slope * slope))  # slope * slope, not slope ** 2: inf for a huge slope, no OverflowError
    return gain / math.sqrt(_fan(shape, mode))


_HE = _takes(mode=MODE, slope=OPTIONAL, gain=Real(low=0, optional=True))


@_HE
def he_normal(shape, *, activation=None, mode="fan_in", slope=None, gain=None):
    """``W ~ N(0, g^2/fan)``, ``g^2 = 2/(1 + a^2)`` for leaky slope ``a`` (ReLU: 2) — He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers".

    ``fan`` is ``n_in`` (forward pass, default) or ``n_out`` (backward pass); the slope defaults to
    the activation's when it is a leaky ReLU.
    """
    return Normal(_he_std(shape, activation, mode, slope, gain))


@_HE
def he_uniform(shape, *, activation=None, mode="fan_in", slope=None, gain=None):
    """``W ~ U(-√3 s, √3 s)`` with He's ``s = g/√fan`` — He et al. 2015."""
    bound = math.sqrt(3.0) * _he_std(shape, activation, mode, slope, gain)
    return Uniform(-bound, bound)


def kumar_normal(shape, *, activation=None):
    """``W ~ N(0, 1/(n_in f'(0)^2 (1 + f(0)^2)))`` for any ``f`` differentiable at 0; ReLU family ``2/n_in`` — Kumar 2017, arXiv:1704.08863.

    Sigmoid gives ``12.8/n_in`` (std ≈ 3.6/√n_in), tanh ``1/n_in``.
    """
    if activation is None:
        raise ValueError("kumar_normal needs activation=... (its variance depends on f(0) and f'(0)), e.g. activation='sigmoid'")
    return Normal(math.sqrt(kumar_variance_factor(activation) / shape[1]))


@_takes(gain=NON_NEGATIVE)
def orthogonal(shape, *, activation=None, gain=1.0):
    """``W = g Q``, ``Q`` from the QR decomposition of a Gaussian matrix with the signs of ``diag(R)`` folded in (Haar measure) — Saxe, McClelland & Ganguli 2013.

    Rows are orthonormal when ``n_out <= n_in``, columns otherwise.
    """
    return Orthogonal(gain)


@_takes(gain=FINITE)
def identity(shape, *, activation=None, gain=1.0):
    """``W = g I`` (rectangular: ones on the main diagonal) — as ``torch.nn.init.eye_``; Le, Jaitly & Hinton 2015 for ReLU RNNs."""
    return Identity(gain)


@_takes(sparsity=Real(low=0, high=1, high_open=True), std=NON_NEGATIVE)
def sparse(shape, *, activation=None, sparsity=0.1, std=0.01):
    """In each column exactly ``ceil(sparsity · n_out)`` zeros at random rows, the rest ``N(0, std^2)`` — Martens 2010, "Deep learning via Hessian-free optimization".

    As ``torch.nn.init.sparse_``: each column's zero rows are a uniform random subset of that
    size, independent across columns. Cost linear in the size: the rows are picked by Floyd's
    algorithm for the zeros or for the non-zeros, whichever are fewer; in the second case only
    the non-zeros are drawn.

    Changes to draws: this sampler replaced one quadratic in ``n_out`` (issue 15); the same seed
    gives other weights of the same distribution (docs/initializers.md).

    >>> w = initialize("sparse", (8, 3), sparsity=0.25, std=0.1)
    >>> (w == 0).sum(axis=0).tolist()
    [2, 2, 2]
    """
    return Sparse(sparsity, std)


@_takes(scale=Real(low=0, low_open=True), mode=MODE, distribution=OneOf(DISTRIBUTIONS + ("untruncated_normal",)))
def variance_scaling(shape, *, activation=None, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    """``Var = scale/fan`` with ``fan`` = n_in, n_out or their mean; normal, truncated normal (±2σ, std corrected) or uniform (bound ``√(3 scale/fan)``) — Keras and JAX ``VarianceScaling``."""
    std = math.sqrt(scale / _fan(shape, mode))
    if distribution == "truncated_normal":
        return TruncatedNormal(std)
    if distribution == "uniform":
        return Uniform(-math.sqrt(3) * std, math.sqrt(3) * std)
    return Normal(std)  # "normal", or Keras' "untruncated_normal"


def torch_linear_default(shape, *, activation=None):
    """``W ~ U(-1/√n_in, 1/√n_in)``, ``Var = 1/(3 n_in)``: what ``torch.nn.Linear`` does (kaiming_uniform with a = √5)."""
    bound = 1.0 / math.sqrt(shape[1])
    return Uniform(-bound, bound)


# --------------------------------------------------------------------------- registry and entry points

def _register(*schemes) -> dict[str, Callable]:
    """``{name: scheme}``; every keyword parameter of a scheme must be declared with :func:`_takes`."""
    for f in schemes:
        f.checks = getattr(f, "checks", {})
        declared = [p for p in inspect.signature(f).parameters if p not in ("shape", "activation", "layer")]
        if sorted(declared) != sorted(f.checks):
            raise TypeError(f"{f.__name__}: parameters {declared} but checks declared for {sorted(f.checks)}")
    return {f.__name__: f for f in schemes}


_SCHEMES = _register(
    zeros, ones, constant, uniform, normal, truncated_normal, lecun_normal, lecun_uniform,
    xavier_normal, xavier_uniform, he_normal, he_uniform, kumar_normal, orthogonal, identity,
    sparse, variance_scaling, torch_linear_default,
)  # fmt: skip
ALIASES = {
    "glorot_normal": "xavier_normal",
    "glorot_uniform": "xavier_uniform",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "eye": "identity",
}


#: σ_b² rules of the schemes whose biases are not zero: name -> ``rule(activation, **params)`` (see :func:`bias_variance`)
_BIAS_VARIANCE: dict[str, Callable] = {}


def register_scheme(name: str, scheme: Callable, *, checks: dict | None = None, bias_variance: Callable | None = None) -> None:
    """Add ``scheme`` to the registry under ``name`` (modules above this one add theirs: :mod:`winit_bench.critical`).

    ``checks`` declare its keyword parameters as :func:`_takes` does for the schemes here;
    ``bias_variance(activation, **params) -> sigma_b2`` declares the variance of the biases the scheme
    goes with (default: zero biases); :class:`winit_bench.MLP` draws them (:func:`initialize_bias`).
    A scheme that declares a ``layer`` keyword receives the layer index from :func:`initialize`.
    """
    key = name.lower()
    if key in ALIASES or (key in _SCHEMES and _SCHEMES[key] is not scheme):
        raise ValueError(f"an initializer named {name!r} is already registered")
    scheme.checks = dict(checks or {})
    _register(scheme)  # every keyword parameter declared
    _SCHEMES[key] = scheme
    if bias_variance is not None:
        _BIAS_VARIANCE[key] = bias_variance


def bias_variance(name: str, activation: str | Activation | None = None, **params) -> float:
    """``sigma_b2``, the variance of the biases the initializer ``name`` goes with: 0 unless it declares one.

    >>> bias_variance("he_normal", "relu")
    0.0
    """
    get_scheme(name)  # the name checked, aliases resolved
    rule = _BIAS_VARIANCE.get(ALIASES.get(name.lower(), name.lower()))
    return 0.0 if rule is None else float(rule(_activation(activation), **params))


def initialize_bias(n_out: int, *, seed: int = 0, layer: int = 0, mean: float = 0.0, std: float = 0.0, dtype: str = "float64") -> np.ndarray:
    """Layer ``layer``'s biases ``b = mean + std * N(0, 1)``, drawn from the bias stream
    ``SeedSequence(seed, spawn_key=(layer, 1))`` (:func:`winit_bench.streams.biases`), independent of every weight.

    >>> initialize_bias(3, std=0.0)
    array([0., 0., 0.])
    """
    b = np.full(int(n_out), float(mean), dtype=np.float64)
    if std:
        layer_rng(seed, layer)  # the same checks of seed and layer as the weights
        b += float(std) * streams.biases(int(seed), int(layer)).standard_normal(int(n_out))
    return b.astype(check_dtype(dtype))


def initializer_names(*, aliases: bool = True) -> tuple[str, ...]:
    """Every registered initializer name (with the glorot_*/kaiming_* aliases unless ``aliases=False``)."""
    return tuple(_SCHEMES) + (tuple(ALIASES) if aliases else ())


def get_scheme(name: str) -> Callable:
    """The scheme function registered under ``name`` (aliases resolved)."""
    if not isinstance(name, str):
        raise TypeError(f"initializer name must be a string, got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in _SCHEMES:
        raise ValueError(unknown_name_message("initializer", name, initializer_names()))
    return _SCHEMES[key]


def layer_rng(seed: int, layer: int) -> np.random.Generator:
    """The child stream of ``seed`` for ``layer``: ``SeedSequence(seed).spawn(layer + 1)[layer]``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or layer < 0:
        raise ValueError(f"layer must be an integer >= 0, got {layer!r}")
    return streams.weights(int(seed), int(layer))


def initialize(
    name: str,
    shape: tuple[int, int],
    *,
    seed: int = 0,
    layer: int = 0,
    activation: str | Activation | None = None,
    dtype: str = "float64",
    **params,
) -> np.ndarray:
    """Draw a ``(fan_out, fan_in)`` weight matrix with the initializer ``name``.

    ``activation`` informs the schemes that depend on it (kumar_normal; he_* take a leaky ReLU's
    slope from it); ``params`` are the scheme's own (see each scheme's docstring).

    Every argument is checked before anything is drawn (a ``TypeError`` or ``ValueError`` naming
    it), a shape whose weights would not fit in the memory available is refused with the
    estimate, and the weights returned are always finite: parameters that overflow ``dtype``
    (``std=1e39`` in float32) are a ``ValueError`` naming them.

    >>> w = initialize("he_normal", (256, 512), seed=1, dtype="float32")
    >>> w.shape, w.dtype.name, round(float(w.std()) * 512**0.5, 1)  # std = sqrt(2 / n_in)
    ((256, 512), 'float32', 1.4)
    """
    scheme = get_scheme(name)
    shape, dt = check_shape(shape), check_dtype(dtype)
    kw = check_params(scheme, params)
    if activation is not None:
        activation = get_activation(activation)
    rng = layer_rng(seed, layer)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, with its cause
        law = scheme(shape, activation=activation, **_at_layer(scheme, layer), **kw)
        need = shape[0] * shape[1] * (dt.itemsize + law.work_bytes)
        require_fits(need, f"{scheme.__name__} weights of shape {shape} in {dt.name}")
        w = law.draw(rng, shape, dt)
    if not np.isfinite(w).all():
        raise _non_finite(scheme, dt, params, activation)
    return w


def weight_moments(name: str, shape: tuple[int, int], activation: str | Activation | None = None, *, layer: int = 0, **params) -> Moments:
    """Mean and variance of one weight drawn by ``initialize(name, shape, activation=..., **params)``.

    The moments of the law the scheme draws from, computed from the same float parameters as the
    draw, so the theory and the draws cannot disagree; the arguments are checked as
    :func:`initialize` checks them. ``not_iid`` says why the weights are not i.i.d. when they are
    not (a constant, the identity). For the structured laws (identity, orthogonal, sparse) they are
    the moments of the weight at a uniformly random position. This is what the mean-field theory
    reads (:func:`winit_bench.theory.initializer_sigma_w2`).

    >>> m = weight_moments("he_normal", (256, 512), activation="relu")
    >>> m.mean, round(512 * m.var, 12)  # Var = 2 / n_in
    (0.0, 2.0)
    """
    scheme = get_scheme(name)
    shape = check_shape(shape)
    kw = check_params(scheme, params)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing variance is inf
        return scheme(shape, activation=_activation(activation), **_at_layer(scheme, layer), **kw).moments(shape)


def _at_layer(scheme: Callable, layer: int) -> dict:
    """``{"layer": layer}`` for a scheme whose law depends on the layer's position (edge of chaos), else nothing."""
    return {"layer": int(layer)} if "layer" in inspect.signature(scheme).parameters else {}


def _non_finite(scheme: Callable, dt: np.dtype, params: dict, activation) -> Exception:
    causes = [f"{k}={v!r}" for k, v in params.items() if isinstance(v, numbers.Real)]
    causes += [f"activation={activation}"] if activation is not None else []
    if not causes:  # the defaults are finite for every shape: this is a bug, not the user's input
        return RuntimeError(f"internal error: {scheme.__name__} drew non-finite weights from its defaults; please report it")
    return ValueError(
        f"{scheme.__name__} with {', '.join(causes)} gives non-finite {dt.name} weights "
        f"(largest finite magnitude {np.finfo(dt).max:.3g}); choose smaller values"
    )
