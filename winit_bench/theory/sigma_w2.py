"""``sigma_w2 = n_in E[W^2]`` of each initializer, read from the law the initializer draws from.

The moments are declared once, beside each scheme (:func:`winit_bench.initializers.weight_moments`);
this module only decides whether they meet the q-map's assumption and scales them by ``n_in``.
"""

from __future__ import annotations

import math

import numpy as np

from numpy.typing import ArrayLike

from ..activations import Activation
from ..initializers import check_shape, get_scheme, weight_moments
from ._checks import check_sizes
from .q_map import qmap

_NOT_IID = "the i.i.d. zero-mean assumption of the q-map does not hold"
_CLASSIC = {"lecun": "lecun_normal", "xavier": "xavier_normal", "glorot": "xavier_normal",
            "he": "he_normal", "kaiming": "he_normal", "kumar": "kumar_normal"}  # fmt: skip


def initializer_sigma_w2(
    name: str,
    fan_out: int,
    fan_in: int,
    activation: str | Activation | None = None,
    *,
    strict: bool = True,
    layer: int = 0,
    **params,
) -> float:
    """``sigma_w2 = n_in * E[W^2]`` of the initializer ``name`` for a ``(fan_out, fan_in)`` matrix.

    Exact for the distribution each scheme samples (parameters, defaults and checks as in
    :func:`winit_bench.initialize`): LeCun 1; Xavier ``g^2 * 2 n_in/(n_in + n_out)``; He
    ``g^2 n_in/fan`` (``g^2 = 2/(1 + a^2)``); Kumar ``1/(f'(0)^2 (1 + f(0)^2))`` (sigmoid 12.8);
    ``variance_scaling`` ``scale * n_in/fan``; uniform ``n_in (b - a)^2/12``; normal and
    truncated normal ``n_in std^2``; ``torch_linear_default`` 1/3; orthogonal
    ``g^2 min(1, n_in/n_out)`` (orthonormal rows when ``n_out <= n_in``, columns otherwise);
    sparse ``n_in std^2 (1 - ceil(sparsity n_out)/n_out)``; zeros and ``constant(0)`` 0.

    With ``strict=True`` (default) schemes that break the q-map's assumption (zero-mean weights,
    independent or rotation invariant) raise ``ValueError``: ones, constant(c != 0), identity, and
    uniform/normal/truncated normal with a non-zero mean. ``strict=False`` returns
    ``n_in * E[W^2]`` (mean^2 included; for identity the average over positions,
    ``g^2 min(n_in, n_out)/n_out``) for every scheme. A variance beyond float64 is ``inf``.

    >>> initializer_sigma_w2("kumar_normal", 256, 512, "sigmoid")  # doctest: +ELLIPSIS
    12.8...
    """
    n_out, n_in = check_shape((fan_out, fan_in))
    mean, var, why = weight_moments(name, (n_out, n_in), activation, layer=layer, **params)
    if why is None and abs(mean) > 1e-12 * math.sqrt(var + mean * mean):
        why = f"weights with mean {mean:g} are not zero-mean"
    if strict and why is not None:
        raise ValueError(
            f"{get_scheme(name).__name__}: {why}; {_NOT_IID} (pass strict=False for n_in * E[W^2] = {n_in * (var + mean * mean):g})"
        )
    return n_in * (var + mean * mean)


def network_sigma_w2(name: str, sizes: ArrayLike, activation: str | Activation | None = None, **params) -> np.ndarray:
    """``sigma_w2`` of each layer ``l = 1..L`` of an MLP with widths ``sizes = (n_0, ..., n_L)`` (a scheme whose
    law depends on the layer, as the edge-of-chaos ones do at layer 0, gets each layer's index)."""
    n = check_sizes(sizes)
    return np.array([initializer_sigma_w2(name, n[l], n[l - 1], activation, layer=l - 1, **params) for l in range(1, len(n))])


def network_qmap(
    name: str, sizes: ArrayLike, activation: str | Activation, *, sigma_b2: float = 0.0, q0: float = 1.0, **params
) -> np.ndarray:
    """Predicted ``q[1..L]`` of an MLP of widths ``sizes`` initialised with ``name`` (see :func:`qmap`)."""
    sw = network_sigma_w2(name, sizes, activation, **params)
    return qmap(activation, sw, sigma_b2, q0, len(sw))


def closed_form_variance(name: str, fan_out: int, fan_in: int, activation: str | Activation | None = None) -> float:
    """``Var(W)`` of the classic rules: ``lecun`` 1/n_in; ``xavier``/``glorot`` 2/(n_in + n_out);
    ``he``/``kaiming`` ``2/((1 + a^2) n_in)`` (``a`` the leaky-ReLU slope of ``activation``, else 0);
    ``kumar`` ``1/(n_in f'(0)^2 (1 + f(0)^2))`` (needs ``activation``). A ``_normal``/``_uniform``
    suffix is accepted: both distributions share the variance, that of the ``_normal`` scheme.

    >>> closed_form_variance("xavier", 30, 20)  # doctest: +ELLIPSIS
    0.04...
    """
    key = str(name).lower().removesuffix("_normal").removesuffix("_uniform")
    if key not in _CLASSIC:
        raise ValueError(f"no closed form named {name!r}; valid: lecun, xavier (glorot), he (kaiming), kumar")
    return weight_moments(_CLASSIC[key], check_shape((fan_out, fan_in)), activation).var
