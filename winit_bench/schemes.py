"""The classic initializers, one small function each, with its formula and its paper.

Each scheme has the signature ``scheme(shape, *, activation, **params)``: ``shape`` is a
:class:`~winit_bench.fans.Kernel` (a matrix or a convolution kernel in its layout), from which the
scheme reads its fans, never an axis. It returns the law of its weights
(:mod:`winit_bench.distributions`), and declares each keyword parameter with :func:`takes`. The
registry and the entry points (:func:`winit_bench.initialize`) are in
:mod:`winit_bench.initializers`; the convolution-only schemes in :mod:`winit_bench.conv_schemes`.
"""

from __future__ import annotations

import math
from typing import Callable

from .activations import Activation, get_activation
from .checks import FINITE, NON_NEGATIVE, OPTIONAL, OneOf, Real
from .distributions import Constant, Identity, Normal, Orthogonal, Sparse, TruncatedNormal, Uniform
from .fans import FAN_MODES, Kernel
from .gains import TORCH_NONLINEARITIES, he_gain, kumar_variance_factor

DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

# --------------------------------------------------------------------------- parameter declarations and helpers

MODE = OneOf(FAN_MODES)


def takes(**checks) -> Callable:
    """Declare a scheme's keyword parameters and the check each passes through in :func:`winit_bench.initialize`."""

    def declare(scheme):
        scheme.checks = checks
        return scheme

    return declare


def matrix_only(name: str, shape: Kernel, why: str) -> None:
    """Refuse a convolution kernel for the scheme ``name``, defined on matrices only (``why``: its reference, what to use instead)."""
    if shape.ndim != 2:
        raise ValueError(f"{name} draws 2-D weights only, got shape {shape.dims}: {why}")


def as_activation(activation) -> Activation | None:
    """``activation`` as an :class:`~winit_bench.activations.Activation`, or ``None``."""
    return None if activation is None else get_activation(activation)


# --------------------------------------------------------------------------- the schemes


def zeros(shape, *, activation=None):
    """``W = 0``. Every unit of a layer computes the same value forever: the network has width 1."""
    return Constant(0.0)


def ones(shape, *, activation=None):
    """``W = 1``. Symmetric, like :func:`zeros`: gradient descent never breaks the tie between units."""
    return Constant(1.0)


@takes(value=OPTIONAL)
def constant(shape, *, activation=None, value=None):
    """``W = value`` (default ``1/fan_in``: each unit averages its inputs). Symmetric: width-1 capacity."""
    return Constant(1.0 / shape.fan_in if value is None else value)


@takes(a=FINITE, b=FINITE)
def uniform(shape, *, activation=None, a=-0.05, b=0.05):
    """``W ~ U(a, b)``; ``Var = (b - a)^2/12``. Defaults as Keras ``RandomUniform``."""
    if a >= b:
        raise ValueError(f"uniform needs a < b, got a={a}, b={b}")
    return Uniform(a, b)


@takes(mean=FINITE, std=NON_NEGATIVE)
def normal(shape, *, activation=None, mean=0.0, std=0.05):
    """``W ~ N(mean, std^2)``. Defaults as Keras ``RandomNormal``."""
    return Normal(std, mean)


@takes(mean=FINITE, std=NON_NEGATIVE, a=Real(infinite=True), b=Real(infinite=True))
def truncated_normal(shape, *, activation=None, mean=0.0, std=0.05, a=-2.0, b=2.0):
    """Normal truncated to ``[mean + a σ, mean + b σ]``, parent ``σ = std / truncnorm_std(a, b)``.

    The standard deviation of the values produced is exactly ``std`` for any bounds (Keras and JAX
    apply this correction for ±2σ; PyTorch's ``trunc_normal_`` does not). Sampled by rejection,
    never clamped, so no value lies outside the bounds.
    """
    return TruncatedNormal(std, mean, a, b)


def lecun_normal(shape, *, activation=None):
    """``W ~ N(0, 1/fan_in)`` — LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp"."""
    return Normal(math.sqrt(1.0 / shape.fan_in))


def lecun_uniform(shape, *, activation=None):
    """``W ~ U(-√(3/fan_in), √(3/fan_in))``, ``Var = 1/fan_in`` — LeCun et al. 1998."""
    bound = math.sqrt(3.0 / shape.fan_in)
    return Uniform(-bound, bound)


@takes(gain=NON_NEGATIVE)
def xavier_normal(shape, *, activation=None, gain=1.0):
    """``W ~ N(0, g^2 · 2/(fan_in + fan_out))`` — Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks".

    Glorot's compromise is ``fan_avg`` by definition, so there is no ``mode``; for another fan use
    ``variance_scaling(scale=g^2, mode=...)`` (e.g. ``mode="fan_geo_avg"``).
    """
    return Normal(gain * math.sqrt(2.0 / (shape.fan_out + shape.fan_in)))


@takes(gain=NON_NEGATIVE)
def xavier_uniform(shape, *, activation=None, gain=1.0):
    """``W ~ U(-b, b)``, ``b = g √(6/(fan_in + fan_out))`` — Glorot & Bengio 2010."""
    bound = gain * math.sqrt(6.0 / (shape.fan_out + shape.fan_in))
    return Uniform(-bound, bound)


def _he_std(shape: Kernel, activation, mode, slope, gain, nonlinearity) -> float:
    return he_gain(as_activation(activation), slope=slope, gain=gain, nonlinearity=nonlinearity) / math.sqrt(shape.fan(mode))


_HE = takes(mode=MODE, slope=OPTIONAL, gain=Real(low=0, optional=True), nonlinearity=OneOf(TORCH_NONLINEARITIES, optional=True))


@_HE
def he_normal(shape, *, activation=None, mode="fan_in", slope=None, gain=None, nonlinearity=None):
    """``W ~ N(0, g^2/fan)``, ``g^2 = 2/(1 + a^2)`` for leaky slope ``a`` (ReLU: 2) — He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers".

    ``fan`` is ``fan_in`` (forward pass, default), ``fan_out`` (backward pass), ``fan_avg`` or
    ``fan_geo_avg`` (:mod:`winit_bench.fans`). The gain comes from one of (:func:`winit_bench.gains.he_gain`):

    - ``gain=g``;
    - ``nonlinearity=`` a name of torch's table, exactly as ``torch.nn.init.kaiming_normal_(w, a=slope,
      mode=mode, nonlinearity=...)``: ``"tanh"`` gives 5/3, ``"leaky_relu"`` √(2/(1 + a^2)) with ``a = slope`` or 0;
    - He's rule, ``a = slope``, else the slope of ``activation`` when it is a leaky ReLU, else 0.
      ``activation`` is the network's: He's rule reads only a leaky ReLU's slope from it, so for
      ``activation="tanh"`` the gain stays √2 (He's rule in a tanh network, as the study measures it).

    >>> from winit_bench import initialize
    >>> w = initialize("he_normal", (64, 32, 3, 3), nonlinearity="tanh")  # a conv kernel, fan_in = 32 * 9
    >>> round(float(w.std()) * 288 ** 0.5, 1)
    1.7
    """
    return Normal(_he_std(shape, activation, mode, slope, gain, nonlinearity))


@_HE
def he_uniform(shape, *, activation=None, mode="fan_in", slope=None, gain=None, nonlinearity=None):
    """``W ~ U(-√3 s, √3 s)`` with He's ``s = g/√fan``, ``g`` as :func:`he_normal`'s — He et al. 2015 (``kaiming_uniform_``)."""
    bound = math.sqrt(3.0) * _he_std(shape, activation, mode, slope, gain, nonlinearity)
    return Uniform(-bound, bound)


def kumar_normal(shape, *, activation=None):
    """``W ~ N(0, 1/(fan_in f'(0)^2 (1 + f(0)^2)))`` for any ``f`` differentiable at 0; ReLU family ``2/n_in`` — Kumar 2017, arXiv:1704.08863.

    Sigmoid gives ``12.8/n_in`` (std ≈ 3.6/√n_in), tanh ``1/n_in``.
    """
    if activation is None:
        raise ValueError("kumar_normal needs activation=... (its variance depends on f(0) and f'(0)), e.g. activation='sigmoid'")
    return Normal(math.sqrt(kumar_variance_factor(activation) / shape.fan_in))


@takes(gain=NON_NEGATIVE)
def orthogonal(shape, *, activation=None, gain=1.0):
    """``W = g Q``, ``Q`` from the QR decomposition of a Gaussian matrix with the signs of ``diag(R)`` folded in (Haar measure) — Saxe, McClelland & Ganguli 2013.

    Rows are orthonormal when ``n_out <= n_in``, columns otherwise. A convolution kernel is drawn
    on its flattening, as torch's ``orthogonal_`` (``(out, in prod(k))``) and Keras' ``Orthogonal``
    (``(prod(k) in, out)``) flatten it (:attr:`winit_bench.fans.Kernel.matrix`).
    """
    return Orthogonal(gain, shape.layout)


@takes(gain=FINITE)
def identity(shape, *, activation=None, gain=1.0):
    """``W = g I`` (rectangular: ones on the main diagonal) — as ``torch.nn.init.eye_``; Le, Jaitly & Hinton 2015 for ReLU RNNs.

    Matrices only (either layout: the diagonal is the same); for a convolution kernel, ``dirac``.
    """
    matrix_only("identity", shape, "for a convolution kernel use 'dirac' (torch.nn.init.dirac_)")
    return Identity(gain)


@takes(sparsity=Real(low=0, high=1, high_open=True), std=NON_NEGATIVE)
def sparse(shape, *, activation=None, sparsity=0.1, std=0.01):
    """In each column exactly ``ceil(sparsity · n_out)`` zeros at random rows, the rest ``N(0, std^2)`` — Martens 2010, "Deep learning via Hessian-free optimization".

    As ``torch.nn.init.sparse_``: each column's zero rows are a uniform random subset of that
    size, independent across columns. Cost linear in the size: the rows are picked by Floyd's
    algorithm for the zeros or for the non-zeros, whichever are fewer; in the second case only
    the non-zeros are drawn.

    Changes to draws: this sampler replaced one quadratic in ``n_out`` (issue 15); the same seed
    gives other weights of the same distribution (docs/initializers.md).

    >>> from winit_bench import initialize
    >>> w = initialize("sparse", (8, 3), sparsity=0.25, std=0.1)
    >>> (w == 0).sum(axis=0).tolist()
    [2, 2, 2]
    """
    matrix_only("sparse", shape, "as torch.nn.init.sparse_")
    if shape.layout != "torch":
        raise ValueError("sparse takes layout='torch' only, (fan_out, fan_in) with zeros per column as torch.nn.init.sparse_; "
                         "Keras has no sparse initializer")  # fmt: skip
    return Sparse(sparsity, std)


@takes(scale=Real(low=0, low_open=True), mode=MODE, distribution=OneOf(DISTRIBUTIONS + ("untruncated_normal",)))
def variance_scaling(shape, *, activation=None, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    """``Var = scale/fan`` with ``fan`` = fan_in, fan_out, their mean (``fan_avg``) or their geometric mean (``fan_geo_avg``, JAX's);
    normal, truncated normal (±2σ, std corrected) or uniform (bound ``√(3 scale/fan)``) — Keras and JAX ``VarianceScaling``."""
    std = math.sqrt(scale / shape.fan(mode))
    if distribution == "truncated_normal":
        return TruncatedNormal(std)
    if distribution == "uniform":
        return Uniform(-math.sqrt(3) * std, math.sqrt(3) * std)
    return Normal(std)  # "normal", or Keras' "untruncated_normal"


def torch_linear_default(shape, *, activation=None):
    """``W ~ U(-1/√fan_in, 1/√fan_in)``, ``Var = 1/(3 fan_in)``: what ``torch.nn.Linear`` and ``ConvNd`` do (kaiming_uniform with a = √5)."""
    bound = 1.0 / math.sqrt(shape.fan_in)
    return Uniform(-bound, bound)
