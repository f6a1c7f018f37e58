"""What an initializer draws: a law for the entries of a weight matrix, how to draw it, and its moments.

Each initializer of :mod:`winit_bench.initializers` returns one of these laws for its shape and
parameters; :func:`~winit_bench.initialize` draws from it, and the mean-field theory reads its
:meth:`moments` (``theory.initializer_sigma_w2``). The moments are those of the law as drawn (the
same float parameters), so the theory and the draws cannot disagree. A new kind of law writes its
draw and its moments here, side by side; a new initializer built on an existing law writes neither.

Draws are float64 on the host, rounded to ``dtype`` once. The random laws draw in pieces of 512 KiB
that consume the stream in order, so the result equals one draw of the whole size.

>>> Normal(std=0.5).moments((4, 3))
Moments(mean=0.0, var=0.25, not_iid=None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .truncated import truncated_sampler, truncnorm_mean, truncnorm_std

Shape = tuple[int, int]


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
    n = shape[0] * shape[1]
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


def _diagonal_second_moment(gain: float, shape: Shape) -> float:
    """``E[W^2]`` over the positions of ``gain`` times a matrix with ``min(shape)`` orthonormal rows or columns."""
    return gain * gain * min(shape) / (shape[0] * shape[1])


@dataclass(frozen=True)
class Identity:
    """``gain`` on the main diagonal, 0 elsewhere (rectangular: ``min(shape)`` ones)."""

    gain: float
    work_bytes = 0

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        w = np.zeros(shape, dtype)
        np.fill_diagonal(w, self.gain)
        return w

    def moments(self, shape: Shape) -> Moments:
        mean = self.gain * min(shape) / (shape[0] * shape[1])
        why = "deterministic weights (z = gain * a_prev), which the Gaussian mean-field q-map does not describe"
        return Moments(mean, _diagonal_second_moment(self.gain, shape) - mean * mean, None if self.gain == 0 else why)


@dataclass(frozen=True)
class Orthogonal:
    """``gain`` times a Haar-random matrix with orthonormal rows (``n_out <= n_in``) or columns.

    ``Q`` of the QR decomposition of a Gaussian matrix, with the signs of ``diag(R)`` folded in.
    Its squared Frobenius norm is ``gain^2 min(n_out, n_in)``; the entries are rotation invariant.
    """

    gain: float
    work_bytes = 16  # the float64 Gaussian matrix and its Q factor

    def draw(self, rng, shape: Shape, dtype) -> np.ndarray:
        rows, cols = shape
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
            return q
        out = np.empty(q.shape, dtype)
        np.multiply(q, self.gain, out=out, casting="same_kind")  # float64 product, one rounding
        return out

    def moments(self, shape: Shape) -> Moments:
        return Moments(0.0, _diagonal_second_moment(self.gain, shape))


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
        n_zero = math.ceil(self.sparsity * shape[0])
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
        kept = 1.0 - math.ceil(self.sparsity * shape[0]) / shape[0]
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
