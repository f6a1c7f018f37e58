"""What an initializer draws: a law for the entries of a weight matrix, how to draw it, and its moments.

Each initializer of :mod:`winit_bench.initializers` returns one of these laws for its shape and
parameters; :func:`~winit_bench.initialize` draws from it, and the mean-field theory reads its
:meth:`moments` (``theory.initializer_sigma_w2``). The moments are those of the law as drawn (the
same float parameters), so the theory and the draws cannot disagree. A new kind of law writes its
draw and its moments here, side by side; a new initializer built on an existing law writes neither.

A shape is a matrix ``(fan_out, fan_in)`` or a convolution kernel of 3 to 5 dimensions
(:mod:`winit_bench.fans`); the i.i.d. laws fill any shape, the structured ones say in their
docstring how they use its axes. Draws are float64 on the host, rounded to ``dtype`` once. The random laws draw in pieces of 512 KiB
that consume the stream in order, so the result equals one draw of the whole size.

>>> Normal(std=0.5).moments((4, 3))
Moments(mean=0.0, var=0.25, not_iid=None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .fans import Kernel
from .truncated import truncated_sampler, truncnorm_mean, truncnorm_std

Shape = tuple[int, ...]


class Moments(NamedTuple):
    """Mean and variance of one entry (at a random position, for the structured laws).

    ``not_iid`` says why the entries are not i.i.d. (nor rotation invariant) when they are not, in
    words; ``None`` otherwise. A non-zero mean is a property of its own, not repeated here.
    """

    mean: float
    var: float
    not_iid: str | None = None


_CHUNK = 1 << 16  # float64 draws in pieces of 512 KiB: every pass over them stays in cache


def _drawn(shape: Shape, dtype, fill, scale: float, shift: float = 0.0) -> np.ndarray:
    """``shift + scale * x`` where ``fill(x)`` draws ``x`` in float64 piece by piece; rounded to ``dtype`` once."""
    n = math.prod(shape)
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


@dataclass(frozen=True)
class Normal:
    """``N(mean, std^2)`` entries."""

    std: float
    mean: float = 0.0
    work_bytes = 0  # bytes per weight held beside the result while drawing

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        return _drawn(shape, dtype, lambda x: rng.standard_normal(out=x), self.std, self.mean)

    def moments(self, shape: Shape) -> Moments:
        return Moments(self.mean, self.std * self.std)


@dataclass(frozen=True)
class Uniform:
    """``U(low, high)`` entries: mean ``(low + high)/2``, variance ``(high - low)^2/12``."""

    low: float
    high: float
    work_bytes = 0

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        return _drawn(shape, dtype, lambda x: rng.random(out=x), self.high - self.low, self.low)

    def moments(self, shape: Shape) -> Moments:
        width = self.high - self.low
        return Moments(0.5 * (self.low + self.high), width * width / 12)


@dataclass(frozen=True)
class TruncatedNormal:
    """A normal truncated to ``[mean + a σ, mean + b σ]``, its parent ``σ = std / truncnorm_std(a, b)``: the std is ``std``.

    Sampled by rejection (:func:`winit_bench.truncated.truncated_sampler`), never clamped. The
    mean is ``mean + σ truncnorm_mean(a, b)``: ``mean`` itself only for bounds symmetric about 0.
    """

    std: float
    mean: float = 0.0
    a: float = -2.0
    b: float = 2.0
    work_bytes = 0

    def __post_init__(self):
        truncnorm_std(self.a, self.b)  # refuses bounds out of order or holding no mass

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        parent = self.std / truncnorm_std(self.a, self.b)
        return _drawn(shape, dtype, truncated_sampler(rng, self.a, self.b), parent, self.mean)

    def moments(self, shape: Shape) -> Moments:
        parent = self.std / truncnorm_std(self.a, self.b)
        return Moments(self.mean + parent * truncnorm_mean(self.a, self.b), self.std * self.std)


@dataclass(frozen=True)
class Constant:
    """Every entry ``value``: symmetric, so gradient descent never tells the units apart (width-1 capacity)."""

    value: float
    work_bytes = 0

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        return np.full(shape, self.value, dtype)

    def moments(self, shape: Shape) -> Moments:
        why = None if self.value == 0 else f"every weight is {self.value:g} (symmetric; width-1 capacity)"
        return Moments(self.value, 0.0, why)


def _matrix(law, shape: Shape) -> Shape:
    """``shape`` when it is a matrix's; a law defined on matrices only refuses a kernel's."""
    if len(shape) != 2:
        raise ValueError(f"{type(law).__name__} is a law of matrices, got the shape {tuple(shape)}")
    return shape


def _diagonal_second_moment(gain: float, shape: Shape) -> float:
    """``E[W^2]`` over the positions of ``gain`` times a matrix with ``min(shape)`` orthonormal rows or columns."""
    return gain * gain * min(shape) / (shape[0] * shape[1])


@dataclass(frozen=True)
class Identity:
    """``gain`` on the main diagonal, 0 elsewhere (rectangular: ``min(shape)`` ones)."""

    gain: float
    work_bytes = 0

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        w = np.zeros(_matrix(self, shape), dtype)
        np.fill_diagonal(w, self.gain)
        return w

    def moments(self, shape: Shape) -> Moments:
        mean = self.gain * min(_matrix(self, shape)) / (shape[0] * shape[1])
        why = "deterministic weights (z = gain * a_prev), which the Gaussian mean-field q-map does not describe"
        return Moments(mean, _diagonal_second_moment(self.gain, shape) - mean * mean, None if self.gain == 0 else why)


@dataclass(frozen=True)
class Orthogonal:
    """``gain`` times a Haar-random matrix with orthonormal rows or columns, whichever are fewer.

    ``Q`` of the QR decomposition of a Gaussian matrix, with the signs of ``diag(R)`` folded in.
    A kernel is drawn as the matrix its ``layout``'s framework flattens it to
    (:attr:`winit_bench.fans.Kernel.matrix`: torch ``(out, in K)``, Keras ``(K in, out)``), then
    reshaped. The squared Frobenius norm is ``gain^2 min(rows, cols)``; the entries are rotation invariant.
    """

    gain: float
    layout: str = "torch"
    work_bytes = 16  # the float64 Gaussian matrix and its Q factor

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        rows, cols = Kernel(shape, self.layout).matrix
        flat = rng.standard_normal((rows, cols))
        if rows < cols:
            flat = flat.T
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        q = np.ascontiguousarray(q)
        if np.dtype(dtype) == q.dtype:
            q *= self.gain
            return q.reshape(shape)
        out = np.empty(q.shape, dtype)
        np.multiply(q, self.gain, out=out, casting="same_kind")  # float64 product, one rounding
        return out.reshape(shape)

    def moments(self, shape: Shape) -> Moments:
        return Moments(0.0, _diagonal_second_moment(self.gain, Kernel(shape, self.layout).matrix))


@dataclass(frozen=True)
class DeltaOrthogonal:
    """A kernel zero but at its spatial centre ``(k_i - 1)//2``, where it is ``gain`` times a Haar orthogonal
    ``(out, in)`` matrix (``(in, out)`` in keras layout) with orthonormal columns (``out >= in``) — Xiao et al. 2018.

    As ``jax.nn.initializers.delta_orthogonal``. As a convolution it maps ``x`` to ``gain M x`` at
    every position: for ``out >= in`` it preserves norms up to ``gain``.
    """

    gain: float
    layout: str = "torch"
    work_bytes = 16  # at most: the centre's Gaussian matrix and Q factor hold 16 bytes per weight of the centre

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        k = Kernel(shape, self.layout)
        w = np.zeros(shape, dtype)
        centre = k.at_spatial(tuple((n - 1) // 2 for n in k.spatial))
        w[centre] = Orthogonal(self.gain).draw(rng, w[centre].shape, dtype)
        return w

    def moments(self, shape: Shape) -> Moments:
        k = Kernel(shape, self.layout)
        var = self.gain * self.gain * min(k.in_channels, k.out_channels) / k.size
        return Moments(0.0, var, None if self.gain == 0 else "only the spatial centre of the kernel is non-zero (a delta kernel)")


@dataclass(frozen=True)
class Dirac:
    """``gain`` at ``[g n + d, d, *centre]`` for ``d < min(n, in)``, ``n = out/groups`` output channels per group,
    0 elsewhere, the centre ``k_i // 2``: a convolution that passes its input through (times ``gain``).

    As ``torch.nn.init.dirac_(w, groups)`` (which has no gain); keras layout puts the same entries
    at ``[*centre, d, g n + d]``.
    """

    gain: float
    groups: int = 1
    layout: str = "torch"
    work_bytes = 0

    def _ones(self, k: Kernel) -> int:
        return self.groups * min(k.out_channels // self.groups, k.in_channels)

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        k = Kernel(shape, self.layout)
        w = np.zeros(shape, dtype)
        centre = tuple(n // 2 for n in k.spatial)
        per_group = k.out_channels // self.groups
        d = np.arange(min(per_group, k.in_channels))
        outs = (np.arange(self.groups)[:, None] * per_group + d).ravel()
        ins = np.tile(d, self.groups)
        w[(outs, ins) + centre if self.layout == "torch" else centre + (ins, outs)] = self.gain
        return w

    def moments(self, shape: Shape) -> Moments:
        k = Kernel(shape, self.layout)
        share = self._ones(k) / k.size
        mean = self.gain * share
        why = "deterministic weights (a convolution passing its input through), which the Gaussian mean-field q-map does not describe"
        return Moments(mean, self.gain * self.gain * share - mean * mean, None if self.gain == 0 else why)


@dataclass(frozen=True)
class Sparse:
    """In each column exactly ``ceil(sparsity n_out)`` zeros at a uniform random set of rows, ``N(0, std^2)`` elsewhere.

    Rows picked by Floyd's algorithm for the zeros or for the non-zeros, whichever are fewer; in the
    second case only the non-zeros are drawn. Cost linear in the size.
    """

    sparsity: float
    std: float
    work_bytes = 1  # the mask of the picked positions

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        n_zero = math.ceil(self.sparsity * _matrix(self, shape)[0])
        if 2 * n_zero <= shape[0]:  # fewer zeros: draw every weight, then zero the picked ones
            keep = ~_picked_rows(rng, shape, n_zero)
            w = Normal(self.std).draw(rng, shape, dtype)
            w *= keep  # branch-free: w[~keep] = 0 mispredicts on a random mask and takes 8x longer
            w += 0.0  # -0.0 (a negative weight times 0) -> +0.0
            return w
        keep = _picked_rows(rng, shape, shape[0] - n_zero)
        w = np.zeros(shape, dtype)
        w[keep] = Normal(self.std).draw(rng, (shape[1] * (shape[0] - n_zero), 1), dtype).ravel()
        return w

    def moments(self, shape: Shape) -> Moments:
        kept = 1.0 - math.ceil(self.sparsity * _matrix(self, shape)[0]) / shape[0]
        return Moments(0.0, kept * (self.std * self.std))


def _picked_rows(rng, shape: Shape, k: int) -> np.ndarray:
    """A boolean matrix of ``shape`` with ``k`` True rows in each column, a uniform ``k``-subset per column.

    Floyd's algorithm (Bentley & Floyd 1987, "A sample of brilliance"), all columns at once: for
    ``j = n_rows - k, ..., n_rows - 1`` pick ``t`` uniform in ``0..j``, or ``j`` when ``t`` is taken.
    ``k`` steps of ``O(n_cols)``.
    """
    n_rows, n_cols = shape
    taken = np.zeros(n_rows * n_cols, bool)
    cols = np.arange(n_cols)
    at = np.empty(n_cols, np.int64)  # flat positions row * n_cols + col
    for j in range(n_rows - k, n_rows):
        np.multiply(rng.integers(0, j + 1, n_cols), n_cols, out=at)
        at += cols
        np.copyto(at, cols + j * n_cols, where=taken[at])
        taken[at] = True
    return taken.reshape(shape)
