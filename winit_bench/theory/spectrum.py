"""The spectrum of the input-output Jacobian of a wide random network: free-probability moments by depth.

Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through dynamical
isometry"; 2018, "The emergence of spectral universality in deep networks". Conventions of
:mod:`winit_bench.theory`; the Jacobian at depth ``l`` is that of :func:`winit_bench.jacobian.jacobian_spectrum`::

    J_l = d a[l] / d x = D_l W_l D_{l-1} W_{l-1} ... D_1 W_1,     D_l = diag f'(z[l]),  z[l] ~ N(0, q[l])

In the wide limit ``D_l^2`` and ``W_l^T W_l`` are asymptotically free, so the S-transform of the
spectrum of ``J_l J_l^T`` is the product of theirs::

    S_{J J^T}(z) = prod_l S_{D_l^2}(z) S_{W_l^T W_l}(z)
    S_{W^T W}(z) = 1 / (sigma_w2 (1 + z))   Gaussian (Marchenko-Pastur, square layers)
                 = 1 / sigma_w2             orthogonal
    moments of D_l^2:  mu_k = E[f'(sqrt(q[l]) u)^(2k)],  u ~ N(0, 1)

The S-transform of a law with moments ``m_k`` is ``S(z) = chi(z) (1 + z) / z`` with ``chi`` the
compositional inverse of ``psi(z) = sum_k m_k z^k``; :func:`free_product_moments` does the algebra on
truncated power series, so any moment ``m_k`` of ``J J^T`` comes out exactly (to rounding). Writing
``S_{W^T W}(z) = sigma_w2^-1 (1 + s1 z + ...)`` (``s1 = -1`` Gaussian, ``0`` orthogonal), the first two
moments are (Pennington et al. 2018, eqs. 15-16, here with a product over layers that may differ)::

    m1 = prod_l sigma_w2[l] mu1[l]
    sigma^2_{JJ^T} = m2 - m1^2 = m1^2 * sum_l (mu2[l] / mu1[l]^2 - 1 - s1)

At the edge of chaos (``chi1 = sigma_w2 mu1 = 1`` at ``q*``) ``m1 = 1`` at every depth, and the
variance grows like ``L (mu2/mu1^2 - 1)`` for orthogonal weights and ``L (mu2/mu1^2)`` for Gaussian
ones: for tanh ``mu2/mu1^2 - 1`` goes to 0 as ``q* -> 0`` (``sigma_b2 -> 0``), which is dynamical
isometry, while the Gaussian's extra ``L`` remains.

``q[l]``: with ``q0=None`` every layer is at the fixed point ``q*`` (a network whose input has
``q0 = q*`` in its first layer, as :mod:`winit_bench.critical`'s initializers arrange); with ``q0``
given, ``q[l]`` follows the q-map from the input (:func:`~winit_bench.theory.qmap`, per-layer
``sigma_w2``, ``sigma_b2`` allowed).

>>> import numpy as np
>>> m = jacobian_moments("linear", 1.0, 0.0, 3, weights="gaussian", order=3)   # Fuss-Catalan numbers
>>> np.round(m[-1], 10).tolist()
[1.0, 4.0, 22.0]
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import Activation
from ..gaussian import gauss_expect
from ._checks import get_act, per_layer
from .q_map import fixed_point, qmap

WEIGHTS = ("gaussian", "orthogonal")
#: the first-order coefficient of sigma_w2 * S_{W^T W}(z) = 1 + s1 z + ...
S1 = {"gaussian": -1.0, "orthogonal": 0.0}


# --------------------------------------------------------------------------- power series (index = power of z)


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.convolve(a, b)[: len(a)]


def _compose(c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``c(d(z))`` truncated, for ``d`` without constant term."""
    out, p = np.zeros_like(d), np.zeros_like(d)
    out[0], p[0] = c[0], 1.0
    for k in range(1, len(c)):
        p = _mul(p, d)
        out += c[k] * p
    return out


def _inverse(c: np.ndarray) -> np.ndarray:
    """The compositional inverse ``d`` of ``c`` (``c[0] = 0``, ``c[1] != 0``): ``c(d(z)) = z``, order by order."""
    d = np.zeros_like(c)
    d[1] = 1.0 / c[1]
    for n in range(2, len(c)):
        d[n] = -_compose(c, d)[n] / c[1]  # the z^n coefficient is c[1] d[n] + (lower orders)
    return d


def s_transform(moments) -> np.ndarray:
    """Coefficients ``s_0 .. s_{K-1}`` of the S-transform of a law with moments ``m_1 .. m_K`` (``m_1 > 0``)."""
    m = np.asarray(moments, dtype=float)
    if m.ndim != 1 or len(m) < 1 or not m[0] > 0:
        raise ValueError(f"moments must be a sequence m_1, m_2, ... with m_1 > 0, got {moments!r}")
    psi = np.concatenate([[0.0], m])
    chi_over_z = _inverse(psi)[1:]  # chi(z) / z, orders 0..K-1
    return chi_over_z + np.concatenate([[0.0], chi_over_z[:-1]])  # times (1 + z)


def moments_from_s(s) -> np.ndarray:
    """The moments ``m_1 .. m_K`` of the law whose S-transform has coefficients ``s_0 .. s_{K-1}``."""
    s = np.asarray(s, dtype=float)
    one_plus_z_inv = (-1.0) ** np.arange(len(s))  # 1/(1+z)
    chi = np.concatenate([[0.0], _mul(s, one_plus_z_inv)])  # chi(z) = z S(z) / (1 + z)
    return _inverse(chi)[1:]


def free_product_moments(*laws) -> np.ndarray:
    """Moments ``m_1 .. m_K`` of the free multiplicative convolution of laws given by their moments (equal ``K``).

    >>> free_product_moments([1, 2, 5], [1, 2, 5]).round(10).tolist()   # two Marchenko-Pastur laws
    [1.0, 3.0, 12.0]
    """
    s = s_transform(laws[0])
    for m in laws[1:]:
        s = _mul(s, s_transform(m))
    return moments_from_s(s)


def gram_moments(weights: str, sigma_w2: float, order: int) -> np.ndarray:
    """Moments of the spectrum of ``W^T W`` for a square layer: ``sigma_w2^k`` times Catalan(k) (Gaussian) or 1 (orthogonal)."""
    k = np.arange(1, order + 1)
    catalan = np.array([math.comb(2 * j, j) / (j + 1) for j in k]) if _weights(weights) == "gaussian" else np.ones(order)
    return catalan * float(sigma_w2) ** k


def slope_moments(activation: str | Activation, q: float, order: int) -> np.ndarray:
    """``mu_k = E[f'(sqrt(q) u)^(2k)]``, ``k = 1..order``: the moments of the spectrum of ``D^2``."""
    act = get_act(activation)
    return np.array([gauss_expect(lambda u, k=k: act.derivative(u) ** (2 * k), q, kinks=act.kinks) for k in range(1, order + 1)])


# --------------------------------------------------------------------------- the Jacobian of a network


def _weights(weights: str) -> str:
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    return weights


def layer_qs(activation, sigma_w2, sigma_b2, depth: int, q0: float | None = None) -> np.ndarray:
    """``q[l]`` of the pre-activations of layers ``1..depth``: the q-map from ``q0``, or ``q*`` everywhere (``q0=None``)."""
    act = get_act(activation)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    if q0 is not None:
        return qmap(act, sigma_w2, sigma_b2, q0, depth)
    if np.ndim(sigma_w2) or np.ndim(sigma_b2):
        raise ValueError("with q0=None (every layer at q*) sigma_w2 and sigma_b2 must be numbers; give q0 for per-layer values")
    return np.full(depth, fixed_point(act, sigma_w2, sigma_b2))


def jacobian_moments(activation, sigma_w2, sigma_b2, depth: int, *, weights: str = "gaussian", q0: float | None = None,
                     order: int = 4) -> np.ndarray:
    """Moments ``m_1 .. m_order`` of the spectrum of ``J_l J_l^T`` for ``l = 1..depth`` (row ``l - 1``), square layers.

    ``J_l = D_l W_l ... D_1 W_1`` (module docstring); ``sigma_w2``, ``sigma_b2`` numbers or one per
    layer (then ``q0`` is needed); ``weights`` ``"gaussian"`` or ``"orthogonal"``. One pass over the
    layers gives every depth. ``m_1`` is the mean of the squared singular values, ``m_2 - m_1^2``
    their variance.
    """
    act, w = get_act(activation), _weights(weights)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    qs = layer_qs(act, sigma_w2, sigma_b2, depth, q0)
    sw = per_layer("sigma_w2", sigma_w2, depth)
    out = np.empty((depth, order))
    s = np.zeros(order)
    s[0] = 1.0  # the identity's S-transform
    for l in range(depth):
        s = _mul(_mul(s, s_transform(slope_moments(act, qs[l], order))), s_transform(gram_moments(w, sw[l], order)))
        out[l] = moments_from_s(s)
    return out


def jacobian_mean_var(activation, sigma_w2, sigma_b2, depth: int, *, weights: str = "gaussian",
                      q0: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The closed forms ``m1`` and ``sigma^2_{JJ^T}`` of the module docstring, for ``l = 1..depth``."""
    act, w = get_act(activation), _weights(weights)
    qs = layer_qs(act, sigma_w2, sigma_b2, depth, q0)
    sw = per_layer("sigma_w2", sigma_w2, depth)
    mu = np.array([slope_moments(act, q, 2) for q in qs])
    m1 = np.cumprod(sw * mu[:, 0])
    return m1, m1 * m1 * np.cumsum(mu[:, 1] / mu[:, 0] ** 2 - 1.0 - S1[w])


__all__ = ["WEIGHTS", "S1", "free_product_moments", "jacobian_mean_var", "jacobian_moments", "layer_qs", "moments_from_s",
           "s_transform", "slope_moments", "gram_moments"]
