"""The engine's memory: the work arrays of one batch size, and the bytes a network needs.

An :class:`~winit_bench.engine.MLP` allocates its work arrays (:class:`Buffers`) once per batch size
and reuses them on every call. Before anything is allocated, the parameters and each batch size's
arrays are checked against the memory this process may still take
(:func:`winit_bench.memory.require_fits`), with :func:`estimate_bytes`'s count in the refusal.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .activations import get_activation
from .initializers import check_dtype
from .memory import require_fits


def estimate_bytes(sizes: Sequence[int], batch: int = 0, dtype: str = "float32", activation=None) -> int:
    """Bytes an :class:`~winit_bench.engine.MLP` of ``sizes`` holds: its parameters and their gradients, plus for ``batch > 0``
    the work arrays of one batch size (an upper bound: input, target, ``z``, ``a``, one δ per layer,
    scratch, and the temporaries of the activations without an in-place kernel).

    ``MLP`` refuses, before allocating, a network or a batch size that would not fit
    (:func:`winit_bench.memory.require_fits`). Parameters and gradients: ``2 Σ_l (n[l-1] + 1) n[l]``
    elements; a batch of ``B`` rows: ``B`` times ``n[0]`` (input) + ``n[L]`` (target; int64 labels for
    softmax) + ``Σ_l n[l]`` for each of ``z``, ``a`` (hidden layers only) and δ + ``8 max_l n[l]`` (scratch,
    and up to 5 temporaries of one layer: GELU's derivative in NumPy), + ``max_l n[l]`` times the
    ``activation``'s own ``work_bytes`` (the erf family's float64 temporaries).

    >>> estimate_bytes([784, 256, 10])              # 203 530 float32 parameters, and their gradients
    1628240
    >>> estimate_bytes([784, 256, 10], batch=128)
    3486800
    """
    sizes, dt = check_sizes(sizes), check_dtype(dtype)
    if not _is_int(batch) or batch < 0:
        raise ValueError(f"batch must be an integer >= 0, got {batch!r}")
    params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    work = 0 if activation is None else get_activation(activation).work_bytes
    return 2 * params * dt.itemsize + (batch_bytes(sizes, int(batch), dt, work) if batch else 0)


def batch_bytes(sizes: list[int], batch: int, dt: np.dtype, work_bytes: int = 0) -> int:
    """The bytes of one batch size's work arrays (:func:`estimate_bytes`'s count for ``batch > 0``)."""
    layers = sum(sizes[1:])
    target = max(sizes[-1] * dt.itemsize, 8)  # float rows or int64 labels
    per_row = (sizes[0] + 3 * layers - sizes[-1] + 8 * max(sizes[1:])) * dt.itemsize + target  # x, z, a, δ, scratch
    return batch * (per_row + max(sizes[1:]) * work_bytes)


def _is_int(n) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool)


def check_sizes(sizes) -> list[int]:
    """``sizes`` as Python ints: at least two, each a positive ``int`` or NumPy integer (no floats, no bools)."""
    try:
        items = None if isinstance(sizes, (str, bytes)) else list(sizes)
    except TypeError:
        items = None
    if items is None or not all(_is_int(n) for n in items):
        raise TypeError(f"sizes must be a sequence of positive integers (int or NumPy integers, not floats or bools), got {sizes!r}")
    sizes = [int(n) for n in items]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes needs at least two positive integers (input and output width), got {sizes}")
    return sizes


class Buffers:
    """Per-batch-size work arrays: the input ``x`` and target ``y`` (float rows, or int64 labels for
    softmax), z (a overwrites it in place when it can), a, δ ping-pong, scratch. ``keep=True`` (for
    :meth:`~winit_bench.engine.MLP.capture`): ``a`` apart from ``z`` and one δ per layer, no ping-pong."""

    def __init__(self, net, batch: int, keep: bool = False):
        """The arrays of ``batch`` rows for ``net`` (an :class:`~winit_bench.engine.MLP`: its backend, dtype, sizes, output, activation)."""
        be, dt, sizes = net.backend, net.dtype, net.sizes
        require_fits(batch_bytes(sizes, batch, dt, net.activation.work_bytes), f"the work arrays of a batch of {batch} rows for sizes {sizes} ({dt.name})")
        self.x = be.empty((batch, sizes[0]), dt)
        self.y = be.empty((batch, sizes[-1]), dt) if net.output == "linear" else be.empty(batch, np.int64)
        self.z = [be.empty((batch, n), dt) for n in sizes[1:]]
        in_place = net.activation.from_output and not keep
        self.a = [z if in_place else be.empty(z.shape, dt) for z in self.z[:-1]]
        self.a.append(self.z[-1])
        widest = batch * max(sizes[1:])
        flat = [be.empty(widest, dt) for _ in range(1 if keep else 3)]
        if keep:
            every_layer = [be.empty((batch, n), dt) for n in sizes[1:]]
            self.delta = [every_layer, every_layer]
        else:
            self.delta = [[f[: batch * n].reshape(batch, n) for n in sizes[1:]] for f in flat[1:]]
        self.tmp = [flat[0][: batch * n].reshape(batch, n) for n in sizes[1:]]
        self.grad_scratch = None  # capture(keep=False): every weight gradient in one array


def shared_scratch(backend, dtype, shapes) -> list:
    """Views of one array, one per shape: buffers that are never needed at the same time."""
    flat = backend.empty(max(math.prod(s) for s in shapes), dtype)
    return [flat[: math.prod(s)].reshape(s) for s in shapes]
