"""Activation functions with their derivatives, written once against an array namespace ``xp``.

Each activation is an :class:`Activation` whose ``f(x, xp)`` and ``df(z, a, xp)`` work on NumPy
and CuPy arrays alike. ``df`` receives the pre-activation ``z`` and the output ``a = f(z)``; when
``from_output`` is True the derivative is a function of ``a`` alone (``z`` may then be ``None``),
which lets the engine overwrite ``z`` with ``a`` in place and halve the memory stashed for backprop.

``family`` tells diagnostics and theory what to look for: ``"relu"`` (dead units; a kink at 0),
``"tanh"`` (saturates at ±1 times its scale: tanh, lecun_tanh, hard_tanh, erf), ``"sigmoid"``
(saturates at 0 and 1) or ``"smooth"``. ``kinks`` lists the points away from 0 where ``f`` or ``f'``
is not smooth (hard_tanh's ±1; one at 0 is ``kink_at_zero``); the Gaussian quadratures
(:mod:`winit_bench.gaussian`) split their pieces there.

Two GELUs: ``"gelu"`` is the tanh approximation (PyTorch ``GELU(approximate='tanh')``), kept under
that name since the study's tables depend on it; ``"gelu_erf"`` (alias ``"gelu_exact"``) is the exact
``z Φ(z)``, PyTorch's default ``nn.GELU()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .checks import NON_NEGATIVE, Real, unknown_name_message
from .erf import erf as _erf
from .erf import normal_cdf

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LECUN_TANH_SCALE = 1.7159
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)  # erf'(0)
ERF_WORK_BYTES = 11 * 8  # erf.py's float64 temporaries at their peak: about 11 per element (measured with tracemalloc)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # the standard normal density at 0
#: the largest float32 below 1: hard_tanh outputs beyond it in absolute value are exactly ±1 in float32
HARD_TANH_SATURATION = 1.0 - 2.0**-24


@dataclass(frozen=True)
class Activation:
    """One activation: ``f(x, xp)``, its derivative ``df(z, a, xp)`` and what the rest of the library needs to know."""

    name: str
    f: Callable[[Any, Any], Any]
    df: Callable[[Any, Any, Any], Any]
    from_output: bool
    family: str = "smooth"
    param: float | None = None
    saturation: float = math.inf  # |a| beyond which a tanh-like unit counts as saturated
    kink_at_zero: bool = False
    #: points where f or f' is not smooth besides 0 (hard_tanh: ±1), where quadratures must split
    kinks: tuple[float, ...] = ()
    #: bytes per element that f and df allocate at their peak beyond the engine's generic scratch (5 arrays of
    #: the dtype, :func:`winit_bench.engine.estimate_bytes`): the erf family computes in float64 through erf.py
    work_bytes: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    def __call__(self, x, xp=np):
        return self.f(x, xp)

    def derivative(self, z, xp=np):
        """f'(z), computing the output itself when the derivative needs it."""
        return self.df(z, self.f(z, xp), xp)

    def __str__(self) -> str:
        return self.name if self.param is None else f"{self.name}({self.param:g})"


def _one(a, xp):
    return xp.ones_like(a)


def linear() -> Activation:
    """Identity ``f(z) = z``; ``f'(z) = 1``."""
    return Activation("linear", lambda x, xp: x, lambda z, a, xp: _one(a, xp), True)


def relu() -> Activation:
    """``f(z) = max(z, 0)``; ``f'(z) = 1[z > 0]`` (Nair & Hinton 2010)."""
    return Activation(
        "relu",
        lambda x, xp: xp.maximum(x, 0),
        lambda z, a, xp: (a > 0).astype(a.dtype),
        True,
        family="relu",
        kink_at_zero=True,
    )


def leaky_relu(slope: float = 0.01) -> Activation:
    """``f(z) = z`` for ``z > 0`` else ``slope * z``; derivative 1 or ``slope`` (Maas et al. 2013)."""
    s = NON_NEGATIVE("leaky_relu slope", slope)
    return Activation(
        "leaky_relu",
        lambda x, xp: xp.where(x > 0, x, x * s),
        lambda z, a, xp: xp.where(a > 0, 1.0, s).astype(a.dtype),
        True,
        family="relu",
        param=s,
        kink_at_zero=s != 1.0,
    )


def tanh() -> Activation:
    """``f(z) = tanh(z)``; ``f'(z) = 1 - f(z)^2``."""
    return Activation(
        "tanh", lambda x, xp: xp.tanh(x), lambda z, a, xp: 1 - a * a, True, family="tanh", saturation=0.99
    )


def lecun_tanh() -> Activation:
    """LeCun's scaled tanh ``f(z) = 1.7159 tanh(2z/3)`` (LeCun et al. 1998, "Efficient BackProp")."""
    A, k = LECUN_TANH_SCALE, 2.0 / 3.0
    return Activation(
        "lecun_tanh",
        lambda x, xp: A * xp.tanh(k * x),
        lambda z, a, xp: (A * k) * (1 - (a / A) ** 2),
        True,
        family="tanh",
        saturation=0.99 * A,
    )


def hard_tanh() -> Activation:
    """``f(z) = clip(z, -1, 1)``; ``f'(z) = 1[|z| < 1]`` (0 at exactly ±1, as torch's ``Hardtanh``).

    Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through
    dynamical isometry". Kinks at ±1; saturated where ``|a| = 1`` (its gradient is 0 there).
    """
    return Activation(
        "hard_tanh",
        lambda x, xp: xp.clip(x, -1, 1),
        lambda z, a, xp: (xp.abs(a) < 1).astype(a.dtype),
        True,
        family="tanh",
        saturation=HARD_TANH_SATURATION,
        kinks=(-1.0, 1.0),
    )


def erf() -> Activation:
    """``f(z) = erf(z)``, unscaled as ``torch.special.erf``; ``f'(z) = (2/√π) e^{-z^2}``.

    Its mean-field kernel is Williams' (1997) arcsine kernel:
    ``E[erf(u1) erf(u2)] = (2/π) arcsin(2 q c / (1 + 2 q))``. Saturates at ±1 like tanh (at 0.99: ``|z| > 1.82``).
    """

    def df(z, a, xp):
        return TWO_OVER_SQRT_PI * xp.exp(-z * z)

    return Activation("erf", lambda x, xp: _erf(x, xp), df, False, family="tanh", saturation=0.99, work_bytes=ERF_WORK_BYTES)


def gelu_erf() -> Activation:
    """Exact GELU ``f(z) = z Φ(z)``, ``Φ`` the standard normal cdf; ``f'(z) = Φ(z) + z φ(z)``.

    Hendrycks & Gimpel 2016; PyTorch's default ``nn.GELU()`` (``approximate='none'``). For the
    tanh approximation see :func:`gelu`. ``E[u Φ(u)] = q/√(2π(1 + q))`` for ``u ~ N(0, q)``.
    """

    def df(z, a, xp):
        return normal_cdf(z, xp) + INV_SQRT_2PI * z * xp.exp(-0.5 * z * z)

    return Activation("gelu_erf", lambda x, xp: x * normal_cdf(x, xp), df, False, work_bytes=ERF_WORK_BYTES)


def sigmoid() -> Activation:
    """Logistic ``f(z) = 1/(1 + e^{-z})``; ``f'(z) = f(z)(1 - f(z))``."""

    def f(x, xp):
        return 0.5 * (xp.tanh(0.5 * x) + 1)  # overflow-free form

    return Activation("sigmoid", f, lambda z, a, xp: a * (1 - a), True, family="sigmoid")


def selu() -> Activation:
    """Scaled ELU ``λ z`` for ``z > 0`` else ``λ α (e^z - 1)`` (Klambauer et al. 2017)."""
    lam, alpha = SELU_SCALE, SELU_ALPHA

    def f(x, xp):
        return lam * xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))

    return Activation(
        "selu", f, lambda z, a, xp: xp.where(a > 0, lam, a + lam * alpha).astype(a.dtype), True, kink_at_zero=True
    )


def elu(alpha: float = 1.0) -> Activation:
    """ELU ``z`` for ``z > 0`` else ``α (e^z - 1)`` (Clevert et al. 2015); ``f'(z) = f(z) + α`` for ``z <= 0``."""
    al = Real(low=0, low_open=True)("elu alpha", alpha)

    def f(x, xp):
        return xp.where(x > 0, x, al * xp.expm1(xp.minimum(x, 0)))

    return Activation(
        "elu", f, lambda z, a, xp: xp.where(a > 0, 1.0, a + al).astype(a.dtype), True, param=al, kink_at_zero=al != 1.0
    )


def gelu() -> Activation:
    """GELU, tanh form ``0.5 z (1 + tanh(√(2/π)(z + 0.044715 z^3)))`` (Hendrycks & Gimpel 2016; PyTorch
    ``approximate='tanh'``). The exact ``z Φ(z)`` is :func:`gelu_erf`."""
    c, k = GELU_C, GELU_K

    def f(x, xp):
        return 0.5 * x * (1 + xp.tanh(c * (x + k * x * x * x)))

    def df(z, a, xp):
        t = xp.tanh(c * (z + k * z * z * z))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * k * z * z)

    return Activation("gelu", f, df, False)


def silu() -> Activation:
    """SiLU / swish ``f(z) = z σ(z)`` (Elfwing et al. 2018); ``f'(z) = σ(z)(1 + z(1 - σ(z)))``."""

    def sig(x, xp):
        return 0.5 * (xp.tanh(0.5 * x) + 1)

    def df(z, a, xp):
        s = sig(z, xp)
        return s * (1 + z * (1 - s))

    return Activation("silu", lambda x, xp: x * sig(x, xp), df, False)


def softplus() -> Activation:
    """``f(z) = log(1 + e^z)`` (Dugas et al. 2001); ``f'(z) = σ(z) = 1 - e^{-f(z)}``."""

    def f(x, xp):
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    return Activation("softplus", f, lambda z, a, xp: -xp.expm1(-a), True)


_FACTORIES: dict[str, Callable[..., Activation]] = {
    "linear": linear,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "selu": selu,
    "elu": elu,
    "gelu": gelu,
    "silu": silu,
    "softplus": softplus,
    "lecun_tanh": lecun_tanh,
    "hard_tanh": hard_tanh,
    "erf": erf,
    "gelu_erf": gelu_erf,
}
_ALIASES = {"identity": "linear", "swish": "silu", "logistic": "sigmoid", "hardtanh": "hard_tanh", "gelu_exact": "gelu_erf"}
_PARAMETRIC = {"leaky_relu", "elu"}


def activation_names() -> tuple[str, ...]:
    """Names of every activation the library knows."""
    return tuple(_FACTORIES)


def get_activation(activation: str | Activation, param: float | None = None) -> Activation:
    """Look an activation up by name (``param``: leaky ReLU slope or ELU alpha), or pass one through."""
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name or an Activation, got {type(activation).__name__}")
    name = _ALIASES.get(activation.lower(), activation.lower())
    if name not in _FACTORIES:
        raise ValueError(unknown_name_message("activation", activation, _FACTORIES))
    if param is not None:
        if name not in _PARAMETRIC:
            raise ValueError(f"activation {name!r} takes no parameter; only {', '.join(sorted(_PARAMETRIC))} do")
        return _FACTORIES[name](param)
    return _FACTORIES[name]()
