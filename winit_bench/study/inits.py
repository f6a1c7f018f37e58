"""How the study initialises a network: the registry's schemes with their own biases, and LSUV.

* A registry scheme (:func:`winit_bench.initialize`) draws layer ``l``'s weights from its stream and
  the biases its scheme declares (:func:`winit_bench.initializers.bias_variance`: zero, or
  ``N(0, sigma_b2)`` for the edge-of-chaos schemes) from the layer's bias stream, exactly as
  :class:`winit_bench.MLP` does.
* ``lsuv`` is data dependent (:func:`winit_bench.lsuv`, Mishkin & Matas 2015): an orthogonal start
  (the seed's ``orthogonal`` draw) rescaled layer by layer to unit pre-activation variance on a *fit*
  batch from its own stream (:func:`winit_bench.streams.lsuv_batch`), never the batch that is measured
  or trained on: Gaussian inputs for the variance kind, training rows of digits for the train kind.
* A combination the initializer does not define (Kumar's rule needs ``f'(0)``, which SELU lacks; an
  activation with no edge of chaos) is *left out* of the grid by design: :func:`left_out` says why.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import streams
from ..conv_schemes import KERNEL_ONLY
from ..initializers import bias_variance, initialize, initialize_bias, initializer_names

#: initializers that need data: the study fits them on a batch of their own
DATA_DEPENDENT = ("lsuv",)


def study_initializer_names() -> tuple[str, ...]:
    """Every initializer the study knows: the registry's (edge-of-chaos ones included, the convolution-only ones
    left out: the study's networks are MLPs) and :data:`DATA_DEPENDENT`."""
    return tuple(n for n in initializer_names(aliases=False) if n not in KERNEL_ONLY) + DATA_DEPENDENT


@lru_cache(maxsize=1024)
def left_out(init: str, act: str) -> str | None:
    """Why ``init`` is undefined for ``act`` (its ``ValueError``), or None when it is defined."""
    if init in DATA_DEPENDENT:
        return None
    try:
        initialize(init, (2, 2), activation=act)
        bias_variance(init, act)
    except ValueError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=1024)
def is_symmetric(init: str) -> bool:
    """True when every weight of a layer is equal (zeros, ones, constant): width-1 capacity (docs/theory.md)."""
    if init in DATA_DEPENDENT:
        return False
    w = initialize(init, (4, 4), seed=1, activation="linear")
    return bool(np.all(w == w.flat[0]))


#: the plots' families (at most 4 each: with the theory's dashed lines, at most 8 lines per panel)
FAMILIES = {
    "LeCun / Xavier": ("lecun_normal", "lecun_uniform", "xavier_normal", "xavier_uniform"),
    "He / Kumar": ("he_normal", "he_uniform", "kumar_normal"),
    "theory-derived": ("edge_of_chaos", "edge_of_chaos_orthogonal", "lsuv", "orthogonal"),
    "framework defaults": ("variance_scaling", "torch_linear_default"),
    "fixed scale": ("uniform", "normal", "truncated_normal", "sparse"),
    "deterministic": ("zeros", "ones", "constant", "identity"),
}


def families(names) -> list[tuple[str, list[str]]]:
    """``names`` grouped by :data:`FAMILIES` (in its order), the rest in groups of 4 named "other"."""
    out = [(fam, [n for n in members if n in names]) for fam, members in FAMILIES.items()]
    rest = [n for n in names if not any(n in m for m in FAMILIES.values())]
    out += [("other", rest[i : i + 4]) for i in range(0, len(rest), 4)]
    return [(fam, members) for fam, members in out if members]


@lru_cache(maxsize=1024)
def theory_applies(init: str, act: str) -> bool:
    """Whether the mean-field q-map describes ``init``'s weights: i.i.d. (or rotation invariant) with zero mean.

    False for the schemes :func:`winit_bench.theory.initializer_sigma_w2` refuses (zeros' ``sigma_w2 = 0``
    aside): ones, constant, identity, non-zero means.
    """
    from ..theory import initializer_sigma_w2

    if init in DATA_DEPENDENT:
        return True
    try:
        return initializer_sigma_w2(init, 4, 4, act) > 0
    except NotImplementedError:  # no closed form (the edge-of-chaos schemes): i.i.d. or orthogonal all the same
        return True
    except ValueError:
        return False


def bias_std(init: str, act: str) -> float:
    """The standard deviation of the biases ``init`` goes with (0 for LSUV, which keeps zero biases)."""
    return 0.0 if init in DATA_DEPENDENT else math.sqrt(bias_variance(init, act))


def draw(init: str, act: str, sizes: list[int], seed: int, dtype: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W, b), ...]`` of a registry scheme for a network of widths ``sizes``, as ``MLP`` draws them."""
    std = bias_std(init, act)
    return [(initialize(init, (n_out, n_in), seed=seed, layer=l, activation=act, dtype=dtype),
             initialize_bias(n_out, seed=seed, layer=l, std=std, dtype=dtype))
            for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]


def build(init: str, act: str, sizes: list[int], *, seed: int, dtype: str, backend, fit_rows=None, output: str = "linear"):
    """An ``MLP`` initialised by ``init``; for LSUV ``fit_rows(rng)`` gives the fit batch from the LSUV stream."""
    from ..engine import MLP

    if init not in DATA_DEPENDENT:
        return MLP(sizes, act, init, output=output, seed=seed, dtype=dtype, backend=backend)
    from ..lsuv import lsuv

    net = MLP(sizes, act, "zeros", output=output, seed=seed, dtype=dtype, backend=backend)  # lsuv draws its orthogonal start
    lsuv(net, fit_rows(streams.lsuv_batch(seed)))
    net.initializer = init
    return net


__all__ = ["DATA_DEPENDENT", "FAMILIES", "bias_std", "build", "draw", "families", "is_symmetric", "left_out", "study_initializer_names", "theory_applies"]
