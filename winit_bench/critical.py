"""Initializers derived from mean-field theory: weights and biases at the edge of chaos.

On the critical line ``chi1 = sigma_w2 E[f'(sqrt(q*) u)^2] = 1`` the back-propagated error keeps
its size from layer to layer and the correlation depth scale ``xi_c`` is infinite (Schoenholz,
Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation"); :mod:`winit_bench.theory`
finds the line (:func:`~winit_bench.theory.critical_sigma_w2`). Two initializers sit on it:

* ``edge_of_chaos``: ``W ~ N(0, sigma_w2 / n_in)`` and biases ``b ~ N(0, sigma_b2)``;
* ``edge_of_chaos_orthogonal``: orthogonal ``W`` scaled to the same ``sigma_w2`` (Pennington,
  Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through dynamical isometry"),
  the same biases.

**sigma_b2.** Given as a parameter, or by default: 0 for the positively homogeneous activations
(linear, ReLU, leaky ReLU: any bias makes ``q`` grow without bound at their critical ``sigma_w2``);
otherwise the first of :data:`SIGMA_B2_LADDER` (0.05, Schoenholz et al.'s value for tanh, then
0.1, 0.2, 0.5, 1) at which a critical point exists (GELU has none below about 0.16: 0.2).

**The first layer.** Layer 0 sees the raw input, not ``f`` of anything, so at the critical
``sigma_w2`` its pre-activations would start at ``sigma_w2 q0 + sigma_b2``, away from the fixed
point ``q*`` (a transient of one or two bits for sigmoid and GELU). Where the q-map has one
attracting fixed point ``0 < q* < inf``, layer 0 gets ``sigma_w2[0] = (q* - sigma_b2) / q0``
instead, so that ``q[1] = q*`` for inputs of second moment ``q0`` (default 1: standardised inputs);
every other layer has the critical ``sigma_w2``. Neutral maps (linear and ReLU without bias) and
``q* = 0`` (tanh with ``sigma_b2 = 0``) keep the critical ``sigma_w2`` at layer 0 too.

Where no critical point exists (GELU with ``sigma_b2 = 0.1``; ReLU with a bias; softplus, whose
``chi1`` reaches 1 only as ``q* -> inf``) both raise ``ValueError`` with one line that says so.
Importing :mod:`winit_bench` registers both names in the initializer registry, with their biases;
each returns the law of its weights, so the theory reads their moments as it reads every other's.

>>> import winit_bench as wb
>>> p = critical_point("tanh")
>>> round(p.sigma_b2, 2), round(p.sigma_w2, 3), round(p.q_star, 3)
(0.05, 1.761, 0.57)
>>> net = wb.MLP([32, 64, 64, 10], "tanh", "edge_of_chaos", seed=0)   # biases drawn from N(0, 0.05)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from . import theory
from .activations import Activation, get_activation
from .checks import Real
from .distributions import Normal, Orthogonal
from .initializers import register_scheme

#: the initializers this module registers
NAMES = ("edge_of_chaos", "edge_of_chaos_orthogonal")
#: the default sigma_b2 of activations that are not positively homogeneous: the first with a critical point
SIGMA_B2_LADDER = (0.05, 0.1, 0.2, 0.5, 1.0)
_HOMOGENEOUS = ("linear", "relu", "leaky_relu")
_Q_FINITE = 1e8  # a fixed point beyond this is "at infinity" (softplus: chi1 -> 1 only as q* -> inf)


@dataclass(frozen=True)
class CriticalPoint:
    """A point of the critical line and what it implies; ``xi_q``, ``xi_c`` are depth scales (inf: none)."""

    activation: str
    sigma_b2: float
    sigma_w2: float
    #: the first layer's sigma_w2 (see the module docstring); equal to sigma_w2 unless q* is attracting
    sigma_w2_input: float
    q_star: float
    chi1: float
    xi_q: float
    xi_c: float


def critical_point(activation: str | Activation, sigma_b2: float | None = None, q0: float = 1.0) -> CriticalPoint:
    """The edge-of-chaos point of ``activation`` at ``sigma_b2`` (default: the module docstring's rule).

    Raises ``ValueError`` (one line) where there is none.
    """
    act = get_activation(activation)
    if sigma_b2 is not None:
        sigma_b2 = float(sigma_b2)
        if not (math.isfinite(sigma_b2) and sigma_b2 >= 0):
            raise ValueError(f"sigma_b2 must be a finite number >= 0, got {sigma_b2!r}")
    q0 = float(q0)
    if not (math.isfinite(q0) and q0 > 0):
        raise ValueError(f"q0 must be a finite number > 0, got {q0!r}")
    return _cached(act.name, act.param, sigma_b2, q0)


@lru_cache(maxsize=256)
def _cached(name: str, param, sigma_b2: float | None, q0: float) -> CriticalPoint:
    act = get_activation(name, param)
    if sigma_b2 is not None:
        return _point(act, sigma_b2, q0)
    if act.name in _HOMOGENEOUS:
        return _point(act, 0.0, q0)
    for sb2 in SIGMA_B2_LADDER:
        try:
            return _point(act, sb2, q0)
        except ValueError as exc:
            last = exc
    raise ValueError(f"no default sigma_b2 ({', '.join(map(str, SIGMA_B2_LADDER))}) gives an edge of chaos; at {SIGMA_B2_LADDER[-1]}: {last}")


def _point(act: Activation, sb2: float, q0: float) -> CriticalPoint:
    homogeneous = act.name in _HOMOGENEOUS
    if homogeneous and sb2 > 0:
        raise ValueError(f"{act} has no edge of chaos at sigma_b2={sb2:g}: at its critical sigma_w2 the second moment grows "
                         "without bound (no fixed point q*); use sigma_b2=0")
    sw2 = theory.critical_sigma_w2(act, sb2)
    q = theory.fixed_point(act, sw2, sb2, q0=q0)
    if not homogeneous and not q < _Q_FINITE:
        raise ValueError(f"{act} has no edge of chaos at a finite fixed point for sigma_b2={sb2:g}: chi1 reaches 1 only as q* -> inf")
    attracting = not homogeneous and q > 0
    return CriticalPoint(act.name, sb2, sw2, (q - sb2) / q0 if attracting else sw2, q, theory.chi1(act, sw2, sb2, q=q),
                         theory.xi_q(act, sw2, sb2), theory.xi_c(act, sw2, sb2) if q > 0 else math.inf)


def _layer_sigma_w2(name: str, activation, sigma_b2, q0, layer: int) -> float:
    if activation is None:
        raise ValueError(f"{name} needs activation=..., e.g. initialize('{name}', shape, activation='tanh')")
    try:
        p = critical_point(activation, sigma_b2, q0)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return p.sigma_w2_input if layer == 0 else p.sigma_w2


def edge_of_chaos(shape, *, activation=None, sigma_b2=None, q0=1.0, layer=0):
    """``W ~ N(0, sigma_w2 / n_in)`` with ``sigma_w2`` on the critical line ``chi1 = 1`` at ``sigma_b2``
    (layer 0: ``(q* - sigma_b2)/q0``); biases ``N(0, sigma_b2)`` — Schoenholz et al. 2017 (module docstring)."""
    sw2 = _layer_sigma_w2("edge_of_chaos", activation, sigma_b2, q0, layer)
    return Normal(math.sqrt(sw2 / shape.fan_in))


def edge_of_chaos_orthogonal(shape, *, activation=None, sigma_b2=None, q0=1.0, layer=0):
    """Orthogonal ``W`` with ``n_in E[W^2]`` equal to :func:`edge_of_chaos`'s ``sigma_w2`` (gain
    ``sqrt(sigma_w2 max(1, n_out/n_in))``; a kernel's flattening is ``out x fan_in``); biases ``N(0, sigma_b2)``
    — Pennington, Schoenholz & Ganguli 2017."""
    sw2 = _layer_sigma_w2("edge_of_chaos_orthogonal", activation, sigma_b2, q0, layer)
    return Orthogonal(math.sqrt(sw2 * max(1.0, shape.out_channels / shape.fan_in)), shape.layout)


def _bias_variance(activation, sigma_b2=None, q0=1.0) -> float:
    if activation is None:
        raise ValueError("the edge-of-chaos biases need activation=...")
    return critical_point(activation, sigma_b2, q0).sigma_b2


#: the parameters both schemes take (``layer`` is the position, given by :func:`winit_bench.initialize`)
CHECKS = dict(sigma_b2=Real(low=0, optional=True), q0=Real(low=0, low_open=True))


for _scheme in (edge_of_chaos, edge_of_chaos_orthogonal):
    register_scheme(_scheme.__name__, _scheme, checks=CHECKS, bias_variance=_bias_variance)

__all__ = ["CriticalPoint", "NAMES", "SIGMA_B2_LADDER", "critical_point", "edge_of_chaos", "edge_of_chaos_orthogonal"]
