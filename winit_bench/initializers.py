"""Every weight initializer, one small function each, with its formula and its paper.

A weight matrix has shape ``(fan_out, fan_in)``: row ``i`` holds the weights into unit ``i``
(PyTorch's layout). Randomness comes from one integer seed: layer ``l`` draws from the child
stream ``SeedSequence(seed, spawn_key=(l,))`` (the same as ``SeedSequence(seed).spawn(l + 1)[l]``),
always in float64 on the host, then cast once. The same ``(name, shape, seed, layer, params)``
therefore gives the identical array on every call, machine and backend, and adding a layer
changes no other layer.

Each scheme has the signature ``scheme(shape, rng, dtype, *, activation, **params)`` and returns
an array of ``dtype``; call them through :func:`initialize`.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np

from . import streams
from .activations import Activation, get_activation, unknown_name_message
from .gaussian import expect, normal_mass, normal_pdf

Shape = tuple[int, int]
DTYPES = ("float32", "float64")
FAN_MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

# --------------------------------------------------------------------------- checks and helpers


def _positive(name: str, value: float, *, allow_zero: bool = True) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return v


def _finite(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def _fan(shape: Shape, mode: str) -> float:
    fan_out, fan_in = shape
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2
    raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(FAN_MODES)}")


def _scaled(x: np.ndarray, scale: float, shift: float, dtype) -> np.ndarray:
    """``shift + scale * x`` computed in float64 and rounded to ``dtype`` once (fused when there is no shift)."""
    if shift or np.dtype(dtype) == x.dtype:
        x *= scale
        if shift:
            x += shift
        return x.astype(dtype, copy=False)
    out = np.empty(x.shape, dtype)
    np.multiply(x, scale, out=out, casting="same_kind")  # float64 product, one rounding
    return out


_CHUNK = 1 << 16  # float64 draws in pieces of 512 KiB: every pass over them stays in cache


def _drawn(shape, dtype, fill, scale: float, shift: float = 0.0) -> np.ndarray:
    """``shift + scale * x`` where ``fill(x)`` draws ``x`` in float64 piece by piece; rounded to ``dtype`` once.

    The pieces consume the stream in order, so the result equals one draw of the whole size.
    """
    n = shape[0] * shape[1]
    out = np.empty(n, dtype)
    buf = np.empty(min(n, _CHUNK))
    for start in range(0, n, _CHUNK):
        x = buf[: min(_CHUNK, n - start)]
        fill(x)
        x *= scale
        if shift:
            x += shift
        out[start : start + x.size] = x
    return out.reshape(shape)


def _normal(rng, shape, std, dtype, mean=0.0):
    return _drawn(shape, dtype, lambda x: rng.standard_normal(out=x), std, mean)


def _uniform(rng, shape, low, high, dtype):
    return _scaled(rng.random(shape), high - low, low, dtype)


def _activation(activation) -> Activation | None:
    return None if activation is None else get_activation(activation)


# --------------------------------------------------------------------------- truncated normal


def truncnorm_std(a: float, b: float) -> float:
    """Standard deviation of ``N(0, 1)`` truncated to ``[a, b]``.

    ``Var = 1 + (a φ(a) - b φ(b))/Z - ((φ(a) - φ(b))/Z)^2`` with ``Z = Φ(b) - Φ(a)``;
    ``truncnorm_std(-2, 2) = 0.87962566103423978``.
    """
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or a >= b:
        raise ValueError(f"truncation bounds need a < b, got a={a!r}, b={b!r}")
    z = normal_mass(a, b)
    if z <= 0:
        raise ValueError(f"the bounds [{a}, {b}] hold no probability mass in float64; move them closer to 0")
    pa, pb = normal_pdf(a), normal_pdf(b)
    apa = 0.0 if math.isinf(a) else a * pa
    bpb = 0.0 if math.isinf(b) else b * pb
    mean = (pa - pb) / z
    var = 1.0 + (apa - bpb) / z - mean * mean
    if var < 0.05:  # narrow or far-tail interval: the closed form cancels; integrate centred moments instead
        var = _truncated_variance_by_quadrature(a, b)
    return math.sqrt(var)


def _truncated_variance_by_quadrature(a: float, b: float) -> float:
    lo = a if math.isfinite(a) else b - 80.0  # the mass beyond 80 σ past the finite bound is nil
    hi = b if math.isfinite(b) else a + 80.0
    t, w = np.polynomial.legendre.leggauss(256)
    x = 0.5 * (hi - lo) * t + 0.5 * (hi + lo)
    nearest = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
    w = w * np.exp(0.5 * (nearest * nearest - x * x))
    w /= w.sum()
    mean = float(np.dot(w, x))
    return float(np.dot(w, (x - mean) ** 2))


def _truncated_sampler(rng, a: float, b: float):
    """``fill(x)``: ``x[:]`` drawn from ``N(0, 1)`` conditioned on ``[a, b]``, by rejection from the cheapest of three proposals.

    Normal proposal when ``[a, b]`` holds enough mass; uniform on ``[a, b]`` for narrow intervals;
    Robert's (1995) translated exponential for far tails. Each rejected position is redrawn until
    accepted (an exact sample); values are never clamped.
    """
    if not a < b:
        raise ValueError(f"truncation bounds need a < b, got a={a}, b={b}")
    if b <= 0:  # mirror a left tail onto the right
        right = _truncated_sampler(rng, -b, -a)

        def fill_mirrored(x):
            right(x)
            np.negative(x, out=x)

        return fill_mirrored
    mass = normal_mass(a, b)
    nearest = 0.0 if a <= 0 <= b else a
    uniform_rate = mass / ((b - a) * normal_pdf(nearest)) if math.isfinite(b - a) else 0.0
    if mass >= 0.3 or (mass >= uniform_rate and a <= 0):
        propose = rng.standard_normal
        reject = lambda x: (x < a) | (x > b)  # noqa: E731
    elif uniform_rate >= 0.3:
        propose = lambda m: a + (b - a) * rng.random(m)  # noqa: E731
        reject = lambda x: rng.random(x.size) > np.exp(0.5 * (nearest * nearest - x * x))  # noqa: E731
    else:  # right tail, a > 0
        lam = 0.5 * (a + math.sqrt(a * a + 4))
        propose = lambda m: a + rng.exponential(1 / lam, m)  # noqa: E731
        reject = lambda x: (x > b) | (rng.random(x.size) > np.exp(-0.5 * (x - lam) ** 2))  # noqa: E731

    def fill(x):
        if propose == rng.standard_normal:
            rng.standard_normal(out=x)
        else:
            x[...] = propose(x.size)
        redo = np.flatnonzero(reject(x))
        while redo.size:
            y = propose(redo.size)
            x[redo] = y
            redo = redo[reject(y)]

    return fill


# --------------------------------------------------------------------------- the schemes


def zeros(shape, rng, dtype, *, activation=None):
    """``W = 0``. Every unit of a layer computes the same value forever: the network has width 1."""
    return np.zeros(shape, dtype)


def ones(shape, rng, dtype, *, activation=None):
    """``W = 1``. Symmetric, like :func:`zeros`: gradient descent never breaks the tie between units."""
    return np.ones(shape, dtype)


def constant(shape, rng, dtype, *, activation=None, value=None):
    """``W = value`` (default ``1/n_in``: each unit averages its inputs). Symmetric: width-1 capacity."""
    v = 1.0 / shape[1] if value is None else _finite("value", value)
    return np.full(shape, v, dtype)


def uniform(shape, rng, dtype, *, activation=None, a=-0.05, b=0.05):
    """``W ~ U(a, b)``; ``Var = (b - a)^2/12``. Defaults as Keras ``RandomUniform``."""
    a, b = _finite("a", a), _finite("b", b)
    if a >= b:
        raise ValueError(f"uniform needs a < b, got a={a}, b={b}")
    return _uniform(rng, shape, a, b, dtype)


def normal(shape, rng, dtype, *, activation=None, mean=0.0, std=0.05):
    """``W ~ N(mean, std^2)``. Defaults as Keras ``RandomNormal``."""
    return _normal(rng, shape, _positive("std", std), dtype, _finite("mean", mean))


def truncated_normal(shape, rng, dtype, *, activation=None, mean=0.0, std=0.05, a=-2.0, b=2.0):
    """Normal truncated to ``[mean + a σ, mean + b σ]``, parent ``σ = std / truncnorm_std(a, b)``.

    The standard deviation of the values produced is exactly ``std`` for any bounds (Keras and JAX
    apply this correction for ±2σ; PyTorch's ``trunc_normal_`` does not). Sampled by rejection,
    never clamped, so no value lies outside the bounds.
    """
    std, mean = _positive("std", std), _finite("mean", mean)
    parent = std / truncnorm_std(a, b)
    return _drawn(shape, dtype, _truncated_sampler(rng, float(a), float(b)), parent, mean)


def lecun_normal(shape, rng, dtype, *, activation=None):
    """``W ~ N(0, 1/n_in)`` — LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp"."""
    return _normal(rng, shape, math.sqrt(1.0 / shape[1]), dtype)


def lecun_uniform(shape, rng, dtype, *, activation=None):
    """``W ~ U(-√(3/n_in), √(3/n_in))``, ``Var = 1/n_in`` — LeCun et al. 1998."""
    bound = math.sqrt(3.0 / shape[1])
    return _uniform(rng, shape, -bound, bound, dtype)


def xavier_normal(shape, rng, dtype, *, activation=None, gain=1.0):
    """``W ~ N(0, g^2 · 2/(n_in + n_out))`` — Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks"."""
    g = _positive("gain", gain)
    return _normal(rng, shape, g * math.sqrt(2.0 / (shape[0] + shape[1])), dtype)


def xavier_uniform(shape, rng, dtype, *, activation=None, gain=1.0):
    """``W ~ U(-b, b)``, ``b = g √(6/(n_in + n_out))`` — Glorot & Bengio 2010."""
    bound = _positive("gain", gain) * math.sqrt(6.0 / (shape[0] + shape[1]))
    return _uniform(rng, shape, -bound, bound, dtype)


def _he_std(shape, activation, mode, slope, gain):
    if gain is None:
        act = _activation(activation)
        if slope is None:
            slope = act.param if act is not None and act.name == "leaky_relu" else 0.0
        gain = math.sqrt(2.0 / (1.0 + _finite("slope", slope) ** 2))
    return _positive("gain", gain) / math.sqrt(_fan(shape, mode))


def he_normal(shape, rng, dtype, *, activation=None, mode="fan_in", slope=None, gain=None):
    """``W ~ N(0, g^2/fan)``, ``g^2 = 2/(1 + a^2)`` for leaky slope ``a`` (ReLU: 2) — He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers".

    ``fan`` is ``n_in`` (forward pass, default) or ``n_out`` (backward pass); the slope defaults to
    the activation's when it is a leaky ReLU.
    """
    return _normal(rng, shape, _he_std(shape, activation, mode, slope, gain), dtype)


def he_uniform(shape, rng, dtype, *, activation=None, mode="fan_in", slope=None, gain=None):
    """``W ~ U(-√3 s, √3 s)`` with He's ``s = g/√fan`` — He et al. 2015."""
    bound = math.sqrt(3.0) * _he_std(shape, activation, mode, slope, gain)
    return _uniform(rng, shape, -bound, bound, dtype)


def kumar_variance_factor(activation) -> float:
    """``1/(f'(0)^2 (1 + f(0)^2))``, Kumar's ``n_in Var(W)``; 2 for the ReLU family.

    Sigmoid: ``1/((1/16)(5/4)) = 12.8``; tanh: 1. Raises for activations with ``f'(0) = 0`` or no
    derivative at 0.
    """
    act = get_activation(activation)
    if act.family == "relu":
        return 2.0 / (1.0 + (act.param or 0.0) ** 2)
    at = np.array([-1e-300, 0.0, 1e-300])
    d_left, _, d_right = act.derivative(at)
    if not math.isclose(d_left, d_right, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(f"kumar_normal needs an activation differentiable at 0; {act} is not (f'(0-)={d_left:g}, f'(0+)={d_right:g})")
    f0, d0 = float(act(np.array(0.0))), float(d_right)
    if d0 == 0:
        raise ValueError(f"kumar_normal is undefined for {act}: its derivative at 0 is 0")
    return 1.0 / (d0 * d0 * (1.0 + f0 * f0))


def kumar_normal(shape, rng, dtype, *, activation=None):
    """``W ~ N(0, 1/(n_in f'(0)^2 (1 + f(0)^2)))`` for any ``f`` differentiable at 0; ReLU family ``2/n_in`` — Kumar 2017, arXiv:1704.08863.

    Sigmoid gives ``12.8/n_in`` (std ≈ 3.6/√n_in), tanh ``1/n_in``.
    """
    if activation is None:
        raise ValueError("kumar_normal needs activation=..., e.g. initialize('kumar_normal', shape, activation='sigmoid')")
    return _normal(rng, shape, math.sqrt(kumar_variance_factor(activation) / shape[1]), dtype)


def orthogonal(shape, rng, dtype, *, activation=None, gain=1.0):
    """``W = g Q``, ``Q`` from the QR decomposition of a Gaussian matrix with the signs of ``diag(R)`` folded in (Haar measure) — Saxe, McClelland & Ganguli 2013.

    Rows are orthonormal when ``n_out <= n_in``, columns otherwise.
    """
    g = _positive("gain", gain)
    rows, cols = shape
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _scaled(np.ascontiguousarray(q), g, 0.0, dtype)


def identity(shape, rng, dtype, *, activation=None, gain=1.0):
    """``W = g I`` (rectangular: ones on the main diagonal) — as ``torch.nn.init.eye_``; Le, Jaitly & Hinton 2015 for ReLU RNNs."""
    return (_finite("gain", gain) * np.eye(*shape)).astype(dtype)


def sparse(shape, rng, dtype, *, activation=None, sparsity=0.1, std=0.01):
    """In each column exactly ``ceil(sparsity · n_out)`` zeros at random rows, the rest ``N(0, std^2)`` — Martens 2010, "Deep learning via Hessian-free optimization"."""
    s = float(sparsity)
    if not (0 <= s < 1):
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity!r}")
    w = _normal(rng, shape, _positive("std", std), dtype)
    n_zero = math.ceil(s * shape[0])
    if n_zero:
        rows = _distinct_rows_per_column(rng, shape, n_zero)
        w.ravel()[(rows.astype(np.int64) * shape[1] + np.arange(shape[1])[:, None]).ravel()] = 0
    return w


def _distinct_rows_per_column(rng, shape: Shape, k: int) -> np.ndarray:
    """``(n_cols, k)`` row indices, distinct within each column: uniform draws, duplicates redrawn (a uniform k-subset).

    Rows are sorted per column to find duplicates; 16-bit indices sort by radix.
    """
    n_rows, n_cols = shape
    dt = np.int16 if n_rows <= np.iinfo(np.int16).max else np.int64
    rows = rng.integers(0, n_rows, (n_cols, k), dtype=dt)
    rows.sort(axis=1, kind="stable")
    dup = np.zeros(rows.shape, bool)
    while True:
        np.equal(rows[:, 1:], rows[:, :-1], out=dup[:, 1:])
        m = np.count_nonzero(dup)
        if not m:
            return rows
        rows[dup] = rng.integers(0, n_rows, m, dtype=dt)
        rows.sort(axis=1, kind="stable")


def variance_scaling(shape, rng, dtype, *, activation=None, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    """``Var = scale/fan`` with ``fan`` = n_in, n_out or their mean; normal, truncated normal (±2σ, std corrected) or uniform (bound ``√(3 scale/fan)``) — Keras and JAX ``VarianceScaling``."""
    std = math.sqrt(_positive("scale", scale, allow_zero=False) / _fan(shape, mode))
    if distribution == "untruncated_normal":
        distribution = "normal"
    if distribution == "normal":
        return _normal(rng, shape, std, dtype)
    if distribution == "truncated_normal":
        return truncated_normal(shape, rng, dtype, std=std)
    if distribution == "uniform":
        return _uniform(rng, shape, -math.sqrt(3) * std, math.sqrt(3) * std, dtype)
    raise ValueError(f"unknown distribution {distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")


def torch_linear_default(shape, rng, dtype, *, activation=None):
    """``W ~ U(-1/√n_in, 1/√n_in)``, ``Var = 1/(3 n_in)``: what ``torch.nn.Linear`` does (kaiming_uniform with a = √5)."""
    bound = 1.0 / math.sqrt(shape[1])
    return _uniform(rng, shape, -bound, bound, dtype)


# --------------------------------------------------------------------------- registry and entry points

_SCHEMES: dict[str, Callable] = {
    f.__name__: f
    for f in (
        zeros, ones, constant, uniform, normal, truncated_normal, lecun_normal, lecun_uniform,
        xavier_normal, xavier_uniform, he_normal, he_uniform, kumar_normal, orthogonal, identity,
        sparse, variance_scaling, torch_linear_default,
    )
}  # fmt: skip
ALIASES = {
    "glorot_normal": "xavier_normal",
    "glorot_uniform": "xavier_uniform",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "eye": "identity",
}


#: σ_b² rules of the schemes whose biases are not zero: name -> ``rule(activation, **params)`` (see :func:`bias_variance`)
_BIAS_VARIANCE: dict[str, Callable] = {}


def register_scheme(name: str, scheme: Callable, *, bias_variance: Callable | None = None) -> None:
    """Add ``scheme`` to the registry under ``name`` (modules above this one add theirs: :mod:`winit_bench.critical`).

    ``bias_variance(activation, **params) -> sigma_b2`` declares the variance of the biases the scheme
    goes with (default: zero biases); :class:`winit_bench.MLP` draws them (:func:`initialize_bias`).
    A scheme that declares a ``layer`` keyword receives the layer index from :func:`initialize`.
    """
    key = name.lower()
    if key in ALIASES or (key in _SCHEMES and _SCHEMES[key] is not scheme):
        raise ValueError(f"an initializer named {name!r} is already registered")
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


def check_shape(shape) -> Shape:
    try:
        dims = tuple(int(d) for d in shape)
        ok = len(dims) == 2 and all(int(d) == d for d in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shape must be 2-D (fan_out, fan_in) of positive integers, got {shape!r}")
    if min(dims) <= 0:
        raise ValueError(f"shape must have positive dimensions (fan_out, fan_in), got {shape!r}")
    return dims


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dt


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
    """
    scheme = get_scheme(name)
    shape = check_shape(shape)
    dt = check_dtype(dtype)
    signature = inspect.signature(scheme).parameters
    accepted = [p for p in signature if p not in ("shape", "rng", "dtype", "activation", "layer")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"{scheme.__name__} got unknown parameter(s) {', '.join(unknown)}; it accepts: {', '.join(accepted) or 'none'}"
        )
    if activation is not None:
        activation = get_activation(activation)
    rng = layer_rng(seed, layer)
    if "layer" in signature:
        params["layer"] = int(layer)
    return scheme(shape, rng, dt, activation=activation, **params)


# --------------------------------------------------------------------------- gains

_TORCH_GAINS = {
    "linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
    "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0,
    "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75,
}  # fmt: skip
GAIN_CRITERIA = ("torch", "forward", "centered", "backward", "kumar")


def calculate_gain(activation: str | Activation, param: float | None = None, *, criterion: str = "torch") -> float:
    """The gain ``g`` an initializer multiplies its standard deviation by for ``activation``.

    ``criterion="torch"`` reproduces ``torch.nn.init.calculate_gain`` exactly (linear 1, sigmoid 1,
    tanh 5/3, relu √2, leaky_relu √(2/(1 + s^2)) with s = 0.01 by default, selu 3/4). The others
    are derived for any activation from Gaussian expectations, ``z ~ N(0, 1)``:
    ``"forward"`` ``1/√E[f(z)^2]``, ``"centered"`` ``1/√Var f(z)``, ``"backward"`` ``1/√E[f'(z)^2]``,
    ``"kumar"`` ``1/(|f'(0)| √(1 + f(0)^2))``.
    """
    if criterion not in GAIN_CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; valid: {', '.join(GAIN_CRITERIA)}")
    if criterion == "torch":
        name = activation.name if isinstance(activation, Activation) else str(activation).lower()
        if name == "leaky_relu":
            slope = 0.01 if param is None else _finite("param", param)
            return math.sqrt(2.0 / (1 + slope**2))
        if name not in _TORCH_GAINS:
            valid = list(_TORCH_GAINS) + ["leaky_relu"]
            raise ValueError(
                unknown_name_message("activation for criterion='torch'", name, valid)
                + "; use criterion='forward', 'centered', 'backward' or 'kumar' for any other activation"
            )
        return _TORCH_GAINS[name]
    act = get_activation(activation, param)
    if criterion == "kumar":
        return math.sqrt(kumar_variance_factor(act))
    if criterion == "backward":
        return 1.0 / math.sqrt(expect(lambda z: act.derivative(z) ** 2))
    second = expect(lambda z: act(z) ** 2)
    if criterion == "centered":
        second -= expect(lambda z: act(z)) ** 2
    return 1.0 / math.sqrt(second)
