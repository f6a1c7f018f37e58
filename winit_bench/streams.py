"""Every random stream of the project, named by purpose: one seed, disjoint streams, nothing shared.

A stream is ``numpy.random.SeedSequence(entropy, spawn_key=key)``. Weights and biases are children
of the run's seed (layer ``l``: keys ``(l,)`` and ``(l, 1)``; ``(l,)`` is what
``SeedSequence(seed).spawn(l + 1)[l]`` gives). The other purposes use keys no layer can reach
(two-element keys with a tag >= 2**16, or an offset entropy), so that no two purposes ever draw
the same numbers; ``tests/test_streams.py`` checks that. The rule: a purpose that is not a layer's
uses a two-element key whose second element is not 1, or an entropy offset (the study's inputs and
targets, which keep their historical seeds ``10_000 + seed`` and ``20_000 + seed``: disjoint for
seeds below 10 000).

>>> weights(0, layer=3).standard_normal() == weights(0, layer=3).standard_normal()
True
"""

from __future__ import annotations

import numpy as np

#: the study's Gaussian inputs and regression targets: plain seeds offset from the run's seed
VARIANCE_INPUT_OFFSET = 10_000
VARIANCE_TARGET_OFFSET = 20_000
#: keys of the purposes that are children of the run's seed: two elements, the second never 1 (biases' mark)
TRAIN_BATCHES_TAG = (0xB47C, 0xB47C)
SYMMETRY_TAG = (0x5E77, 0x5E77)
ERROR_TARGET_TAG = (0xD1A9, 0x7A29)
LSUV_BATCH_TAG = (0x15B7, 0x15B7)
ISOMETRY_INPUT_TAG = (0x7AC0, 0xB1A2)


def _rng(entropy: int, key: tuple = ()) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(entropy), spawn_key=tuple(int(k) for k in key)))


def weights(seed: int, layer: int) -> np.random.Generator:
    """Layer ``layer``'s weight draw: ``SeedSequence(seed).spawn(layer + 1)[layer]``."""
    return _rng(seed, (layer,))


def biases(seed: int, layer: int) -> np.random.Generator:
    """Layer ``layer``'s bias draw (``bias_std > 0``), independent of its weights."""
    return _rng(seed, (layer, 1))


def variance_input(seed: int) -> np.random.Generator:
    """The study's Gaussian input batch for a variance configuration of ``seed``."""
    return _rng(VARIANCE_INPUT_OFFSET + seed)


def variance_target(seed: int) -> np.random.Generator:
    """The study's Gaussian regression target when no weight-independent error target is available."""
    return _rng(VARIANCE_TARGET_OFFSET + seed)


def train_batches(seed: int) -> np.random.Generator:
    """The order of the mini-batches of a trainability configuration."""
    return _rng(seed, TRAIN_BATCHES_TAG)


def symmetry(seed: int) -> np.random.Generator:
    """The symmetry experiment's perturbations."""
    return _rng(seed, SYMMETRY_TAG)


def error_target(seed: int) -> np.random.Generator:
    """The weight-independent output error of :func:`winit_bench.diagnostics.default_target`."""
    return _rng(seed, ERROR_TARGET_TAG)


def lsuv_batch(seed: int) -> np.random.Generator:
    """The batch the study fits LSUV on (the data-dependent initializer), apart from the batch it measures."""
    return _rng(seed, LSUV_BATCH_TAG)


def isometry_input(seed: int) -> np.random.Generator:
    """The sample points at which the study's isometry kind takes the Jacobian's spectrum."""
    return _rng(seed, ISOMETRY_INPUT_TAG)


def identity(purpose: str, seed: int, layer: int = 0) -> tuple[int, tuple]:
    """The ``(entropy, spawn_key)`` of a purpose's stream, to compare streams without drawing."""
    table = {
        "weights": (seed, (layer,)), "biases": (seed, (layer, 1)),
        "variance_input": (VARIANCE_INPUT_OFFSET + seed, ()), "variance_target": (VARIANCE_TARGET_OFFSET + seed, ()),
        "train_batches": (seed, TRAIN_BATCHES_TAG), "symmetry": (seed, SYMMETRY_TAG), "error_target": (seed, ERROR_TARGET_TAG),
        "lsuv_batch": (seed, LSUV_BATCH_TAG), "isometry_input": (seed, ISOMETRY_INPUT_TAG),
    }
    return table[purpose]


PURPOSES = ("weights", "biases", "variance_input", "variance_target", "train_batches", "symmetry", "error_target", "lsuv_batch", "isometry_input")
