"""The initializer registry and its entry points: :func:`initialize` draws, :func:`weight_moments` gives the moments.

A weight matrix has shape ``(fan_out, fan_in)``: row ``i`` holds the weights into unit ``i``
(PyTorch's layout). A convolution kernel is ``(out, in, *k)``; with ``layout="keras"`` the matrix
is ``(in, out)`` and the kernel ``(*k, in, out)``. The fans are computed in one place,
:mod:`winit_bench.fans` (``fan_in = in prod(k)``, as torch and Keras), and a scheme reads them
from the :class:`~winit_bench.fans.Kernel` it receives as ``shape``.

Randomness comes from one integer seed: layer ``l`` draws from the child stream
``SeedSequence(seed, spawn_key=(l,))`` (the same as ``SeedSequence(seed).spawn(l + 1)[l]``),
always in float64 on the host, then cast once. The same ``(name, shape, seed, layer, params)``
therefore gives the identical array on every call, machine and backend, and adding a layer
changes no other layer.

The schemes, one small function each with its formula and paper, live in
:mod:`winit_bench.schemes` (the classic ones) and :mod:`winit_bench.conv_schemes` (dirac,
delta_orthogonal). Each has the signature ``scheme(shape, *, activation, **params)`` and returns
the law of its weights for that shape (:mod:`winit_bench.distributions`), which knows both how to
draw them and their moments. So an initializer is written once: :func:`initialize` draws from its
law, and the mean-field theory reads the same law's moments (:func:`weight_moments`).
:func:`initialize` checks every parameter against the scheme's declaration
(:func:`~winit_bench.schemes.takes`, rules in :mod:`winit_bench.checks`), refuses a shape whose
weights would not fit in memory, and refuses weights that overflow ``dtype``.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Callable

import numpy as np

from . import streams
from .activations import Activation, get_activation
from .checks import DTYPES, check_dtype, check_params, check_shape, unknown_name_message  # DTYPES, check_shape: re-exported
from .conv_schemes import delta_orthogonal, dirac
from .distributions import Moments
from .fans import kernel
from .memory import require_fits
from .schemes import (
    as_activation, constant, he_normal, he_uniform, identity, kumar_normal, lecun_normal, lecun_uniform, normal, ones, orthogonal,
    sparse, takes, torch_linear_default, truncated_normal, uniform, variance_scaling, xavier_normal, xavier_uniform, zeros,
)  # fmt: skip

_takes = takes  # the declaration's older name, which schemes registered from outside may use

# --------------------------------------------------------------------------- registry and entry points

def _register(*schemes) -> dict[str, Callable]:
    """``{name: scheme}``; every keyword parameter of a scheme must be declared with :func:`takes`."""
    for f in schemes:
        f.checks = getattr(f, "checks", {})
        declared = [p for p in inspect.signature(f).parameters if p not in ("shape", "activation", "layer")]
        if sorted(declared) != sorted(f.checks):
            raise TypeError(f"{f.__name__}: parameters {declared} but checks declared for {sorted(f.checks)}")
    return {f.__name__: f for f in schemes}


_SCHEMES = _register(
    zeros, ones, constant, uniform, normal, truncated_normal, lecun_normal, lecun_uniform,
    xavier_normal, xavier_uniform, he_normal, he_uniform, kumar_normal, orthogonal, identity,
    sparse, variance_scaling, torch_linear_default, dirac, delta_orthogonal,
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

    ``checks`` declare its keyword parameters as :func:`takes` does for the schemes here;
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
    return 0.0 if rule is None else float(rule(as_activation(activation), **params))


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
    shape: tuple[int, ...],
    *,
    seed: int = 0,
    layer: int = 0,
    activation: str | Activation | None = None,
    dtype: str = "float64",
    layout: str = "torch",
    **params,
) -> np.ndarray:
    """Draw a ``(fan_out, fan_in)`` weight matrix, or a convolution kernel, with the initializer ``name``.

    ``shape`` has 2 to 5 dimensions in ``layout``: ``"torch"`` ``(out, in, *k)`` or ``"keras"``
    ``(*k, in, out)``, with ``fan_in = in prod(k)``, ``fan_out = out prod(k)`` (:mod:`winit_bench.fans`).
    ``activation`` informs the schemes that depend on it (kumar_normal; he_* take a leaky ReLU's
    slope from it); ``params`` are the scheme's own (see each scheme's docstring).

    Every argument is checked before anything is drawn (a ``TypeError`` or ``ValueError`` naming
    it), a shape whose weights would not fit in the memory available is refused with the
    estimate, and the weights returned are always finite: parameters that overflow ``dtype``
    (``std=1e39`` in float32) are a ``ValueError`` naming them.

    >>> w = initialize("he_normal", (256, 512), seed=1, dtype="float32")
    >>> w.shape, w.dtype.name, round(float(w.std()) * 512**0.5, 1)  # std = sqrt(2 / n_in)
    ((256, 512), 'float32', 1.4)
    >>> initialize("he_normal", (3, 3, 16, 64), layout="keras").shape  # a Keras Conv2D kernel, fan_in = 144
    (3, 3, 16, 64)
    """
    scheme = get_scheme(name)
    shape, dt = kernel(shape, layout), check_dtype(dtype)
    kw = check_params(scheme, params)
    if activation is not None:
        activation = get_activation(activation)
    rng = layer_rng(seed, layer)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, with its cause
        law = scheme(shape, activation=activation, **_at_layer(scheme, layer), **kw)
        need = shape.size * (dt.itemsize + law.work_bytes)
        require_fits(need, f"{scheme.__name__} weights of shape {shape.dims} in {dt.name}")
        w = law.draw(rng, shape.dims, dt)
    if not np.isfinite(w).all():
        raise _non_finite(scheme, dt, params, activation)
    return w


def weight_moments(
    name: str, shape: tuple[int, ...], activation: str | Activation | None = None, *, layer: int = 0, layout: str = "torch", **params
) -> Moments:
    """Mean and variance of one weight drawn by ``initialize(name, shape, activation=..., layout=..., **params)``.

    The moments of the law the scheme draws from, computed from the same float parameters as the
    draw, so the theory and the draws cannot disagree; the arguments are checked as
    :func:`initialize` checks them. ``not_iid`` says why the weights are not i.i.d. when they are
    not (a constant, the identity). For the structured laws (identity, orthogonal, sparse, the
    convolution kernels' dirac and delta_orthogonal) they are the moments of the weight at a
    uniformly random position of ``shape``. This is what the mean-field theory
    reads (:func:`winit_bench.theory.initializer_sigma_w2`).

    >>> m = weight_moments("he_normal", (256, 512), activation="relu")
    >>> m.mean, round(512 * m.var, 12)  # Var = 2 / n_in
    (0.0, 2.0)
    """
    scheme = get_scheme(name)
    shape = kernel(shape, layout)
    kw = check_params(scheme, params)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing variance is inf
        return scheme(shape, activation=as_activation(activation), **_at_layer(scheme, layer), **kw).moments(shape.dims)


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
