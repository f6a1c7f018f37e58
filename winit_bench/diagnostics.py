"""Per-layer statistics of one forward/backward pass, as a tidy pandas DataFrame.

:func:`layer_stats` runs ``net.capture(X, Y)`` (one forward and one backward pass, no update) and
reduces every layer's pre-activations ``z``, activations ``a = f(z)``, error terms ``δ = dLoss/dz``
and gradients to a handful of numbers. The seed's quantities, per layer ``l = 1..depth``::

    z[l] = a[l-1] @ W[l].T + b[l]        a[l] = f(z[l])   (the output layer is linear: a = z)
    δ[l] = f'(z[l]) ⊙ (δ[l+1] @ W[l+1])  dW[l] = δ[l].T @ a[l-1]     db[l] = Σ_batch δ[l]

Both the variance and the second moment are reported: mean-field theory speaks of
``q = E[x^2]`` (mean over batch and units), while ReLU and sigmoid activations have non-zero means.

**Where the work runs.** Every reduction runs on the device through the backend's array namespace
``net.backend.xp``: means, second moments and variances, dead and saturated counts, the Gram
matrices and their eigenvalues (effective rank), and the distinct-unit count. The per-layer scalars
of all layers are stacked into one small ``(depth, k)`` array that crosses to the host once; only
the distinct-unit search reads a flag back per step (its loop length depends on the data).
Two statistics use bounded sub-samples of the batch: the effective rank uses the first
``rank_rows`` (default 32) rows of each activation matrix, so it is at most 32; the distinct-unit
count the first ``distinct_rows`` (default 32) rows.

**Without Y** the backward columns use a reproducible standard target, :func:`default_target`:
for ``output="linear"`` ``Y ~ N(0, 1)`` of shape ``(batch, n_out)``; for ``output="softmax"`` labels
uniform on ``0..n_out-1``; both drawn from ``numpy.random.SeedSequence(net.seed,
spawn_key=TARGET_SPAWN_KEY)``, a stream that no weight or bias of the net uses. The same net, seed
and batch size therefore always give the same backward statistics. (Such a target is independent of
the weights, but the output error ``out - Y`` is not: see :mod:`winit_bench.compare`.)

**Cost.** One ``net.capture(X, Y, reuse=True, visit=..., keep=False)``: no copies, the weight
gradients in one scratch array, and each array's statistics taken the moment the pass finishes it,
while it is still in cache. Means come from
row sums (a BLAS gemv), which also give the gradient's mean without reading it
(``Σ δᵀa = Σ_batch (Σ_units δ)(Σ_units a)``). The distinct-unit search of all layers of one width
runs as one batch after the pass, as do the eigensolves of the effective ranks. On a 50 x 512
network, batch 256, float32, 2 cores, the whole table costs about 1.3-1.4 ``train_step`` (asv
``bench_throughput.StatsCost``; docs/performance.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from . import streams

# A spawn key no layer uses: weights draw from (l,), biases from (l, 1).
TARGET_SPAWN_KEY = streams.ERROR_TARGET_TAG
RANK_ROWS = 32  # 64 rows cost 0.07 train_step more at width 512, mostly the eigensolver
DISTINCT_ROWS = 32
DISTINCT_TOL = 1e-4
SIGMOID_BAND = (0.01, 0.99)
_EIG_FLOOR = 1e-12  # eigenvalues below this fraction of the largest are rounding noise of a rank-deficient Gram
_CANCEL = 0.1  # below this var/q the variance is recomputed centred (q - mean^2 would keep too few digits)

COLUMNS = (
    "layer", "fan_in", "fan_out", "activation",
    "mean_z", "var_z", "q_z", "mean_a", "var_a", "q_a",
    "mean_delta", "var_delta", "q_delta", "var_grad_w", "q_grad_w", "var_grad_b", "q_grad_b",
    "sigma_w2", "sigma_b2", "dead_fraction", "saturated_fraction", "distinct_units", "effective_rank",
)  # fmt: skip
# the order of the per-layer device vector
_FIELDS = (
    "mean_z", "q_z", "var_z", "mean_a", "q_a", "var_a", "mean_delta", "q_delta", "var_delta",
    "q_grad_w", "var_grad_w", "q_grad_b", "var_grad_b", "sigma_w2", "sigma_b2",
    "dead_fraction", "saturated_fraction", "distinct_units", "effective_rank",
)  # fmt: skip


def default_target(net, batch: int) -> np.ndarray:
    """The standard random target used when ``Y`` is not given (host array, float64 or int64).

    ``output="linear"``: ``N(0, 1)`` of shape ``(batch, n_out)``. ``output="softmax"``: integer labels
    uniform on ``0..n_out-1``. Drawn from ``SeedSequence(net.seed, spawn_key=TARGET_SPAWN_KEY)``.
    """
    rng = streams.error_target(int(net.seed))
    n_out = net.sizes[-1]
    if net.output == "softmax":
        return rng.integers(0, n_out, size=batch, dtype=np.int64)
    return rng.standard_normal((batch, n_out))


def layer_stats(
    net,
    X,
    Y=None,
    *,
    rank_rows: int = RANK_ROWS,
    distinct_rows: int = DISTINCT_ROWS,
    distinct_tol: float = DISTINCT_TOL,
    structure: bool = True,
) -> pd.DataFrame:
    """One row per weight layer ``1..depth`` of statistics from one forward/backward pass on ``(X, Y)``.

    Columns (means over batch and units unless said otherwise):

    - ``layer`` (1-based), ``fan_in``, ``fan_out``, ``activation`` (``"linear"`` for the output layer);
    - ``mean_z, var_z, q_z``: mean, variance and second moment ``E[z^2]`` of the pre-activations;
    - ``mean_a, var_a, q_a``: the same for the activations (the output layer: ``a = z``);
    - ``mean_delta, var_delta, q_delta``: the error terms ``δ = dLoss/dz`` (loss: mean-squared error
      over all outputs for ``output="linear"``, mean cross-entropy for ``"softmax"``; δ carries the
      1/batch factor);
    - ``var_grad_w, q_grad_w, var_grad_b, q_grad_b``: over the entries of ``dLoss/dW`` and ``dLoss/db``;
    - ``sigma_w2 = fan_in * mean(W^2)``, ``sigma_b2 = mean(b^2)``: the realised weight and bias scales;
    - ``dead_fraction``: ReLU family only (relu, leaky_relu) — the fraction of units whose
      pre-activation is never positive on the batch (for leaky ReLU: never out of the small-slope
      part). NaN for other families and for the linear output layer;
    - ``saturated_fraction``: fraction of the ``batch x units`` entries that are saturated — tanh family
      ``|a| > activation.saturation`` (0.99 times the activation's scale), sigmoid ``a`` outside
      ``[0.01, 0.99]``. NaN for other families and for the output layer;
    - ``distinct_units``: how many functionally different units the layer has on the first
      ``distinct_rows`` rows of the batch (1 for a symmetric layer, e.g. constant initialisation).
      Two units are the same when their activations on those rows differ by at most
      ``distinct_tol * max|a|`` everywhere; units are taken in the order of their column sums and a
      unit counts as new unless it matches one before it (for tight groups — symmetric layers, exact
      duplicates — this is the number of groups). Units dead on those rows, or saturated to the same
      value within the tolerance, count as one;
    - ``effective_rank``: entropy effective rank of the activation matrix (first ``rank_rows`` rows
      x units, not centred; Roy & Vetterli 2007, "The effective rank: a measure of effective
      dimensionality"): ``exp(-Σ p_k ln p_k)`` with ``p_k = σ_k / Σ σ`` over the singular values σ,
      the square roots of the eigenvalues of the float64 Gram matrix of the smaller side (eigenvalues
      below 1e-12 of the largest count as 0). Between 1 and ``min(rank_rows, batch, units)``; 0 for
      an all-zero matrix.

    ``structure=False`` skips ``distinct_units`` and ``effective_rank`` (NaN), the only columns that
    need more than element-wise passes. ``Y=None`` uses :func:`default_target`. ``df.attrs`` holds the
    loss, the batch size, the backend name and whether the target was given.
    """
    shape = getattr(X, "shape", None)
    batch = int(shape[0]) if shape is not None and len(shape) >= 1 else 0
    given = Y is not None
    if not given:
        Y = default_target(net, batch)
    stats = _LayerStats(net, structure, rank_rows, distinct_rows, distinct_tol)
    cap = net.capture(X, Y, reuse=True, visit=stats.visit, keep=False)
    host = stats.table()
    depth = net.depth
    columns = {
        "layer": np.arange(1, depth + 1),
        "fan_in": np.array(net.sizes[:-1]),
        "fan_out": np.array(net.sizes[1:]),
        "activation": [net.activation.name] * (depth - 1) + ["linear"],
    }
    columns.update({name: host[:, k] for k, name in enumerate(_FIELDS)})
    df = pd.DataFrame(columns, columns=list(COLUMNS))
    df.attrs.update(loss=float(cap.loss), batch=batch, backend=net.backend.name, target="given" if given else "default_target")
    return df


class _LayerStats:
    """The reductions of :func:`layer_stats`, run by ``net.capture(visit=...)`` on each array while it is in cache.

    Means come from row sums (one BLAS gemv per matrix); the row sums of ``a[l-1]`` and ``δ[l]`` also
    give the mean of ``dW[l]``: ``Σ δᵀa = Σ_batch (Σ_units δ)(Σ_units a)``, and ``Σ db = Σ δ``.
    """

    def __init__(self, net, structure: bool, rank_rows: int, distinct_rows: int, distinct_tol: float):
        self.net, self.xp, self.act = net, net.backend.xp, net.activation
        self.structure, self.rank_rows, self.distinct_rows, self.distinct_tol = structure, rank_rows, distinct_rows, distinct_tol
        self.on_host = self.xp is np
        self.nan = self.xp.asarray(math.nan, dtype=self.xp.float64)
        self.ones = self.xp.ones(max(net.sizes), dtype=net.dtype)
        self.rows = [{"distinct_units": self.nan, "effective_rank": self.nan} for _ in range(net.depth)]
        self.sums_a: dict[int, Any] = {}  # row sums of a[l] (key -1: the input)
        self.sums_d: dict[int, Any] = {}
        self.samples: dict[int, list] = {}  # units -> [(layer, first rows of a)]: views, valid for this pass

    def visit(self, kind: str, l: int, x) -> None:
        xp, v, hidden = self.xp, self.rows[l], l < self.net.depth - 1
        if kind == "input":
            self.sums_a[-1] = self._row_sums(x)
        elif kind == "w":
            b = self.net.params()[l][1]
            v["sigma_w2"], v["sigma_b2"] = xp.vdot(x, x) * (x.shape[1] / x.size), xp.vdot(b, b) / b.size
        elif kind == "z":
            v.update(zip(("mean_z", "q_z", "var_z"), self._moments(x, self._row_sums(x).sum())))
            v["dead_fraction"] = _dead_fraction(xp, x, self.act) if hidden else self.nan
            if not hidden:  # the output layer is linear: a = z
                v.update(mean_a=v["mean_z"], q_a=v["q_z"], var_a=v["var_z"], saturated_fraction=self.nan)
        elif kind == "a":
            self.sums_a[l] = self._row_sums(x)
            v.update(zip(("mean_a", "q_a", "var_a"), self._moments(x, self.sums_a[l].sum())))
            v["saturated_fraction"] = _saturated_fraction(xp, x, self.act)
        elif kind == "delta":
            self.sums_d[l] = self._row_sums(x)
            v.update(zip(("mean_delta", "q_delta", "var_delta"), self._moments(x, self.sums_d[l].sum())))
        elif kind == "grad_w":
            v.update(zip(("q_grad_w", "var_grad_w"), self._moments(x, xp.vdot(self.sums_d[l], self.sums_a[l - 1]))[1:]))
        elif kind == "grad_b":
            v.update(zip(("q_grad_b", "var_grad_b"), self._moments(x, self.sums_d[l].sum())[1:]))
        if self.structure and (kind == "a" or (kind == "z" and not hidden)):
            gram = _gram(xp, x[: max(1, self.rank_rows)])  # one matrix: NumPy runs syrk, half a batched gemm
            self.samples.setdefault(x.shape[1], []).append((l, x[: max(1, self.distinct_rows)], gram))

    def table(self) -> np.ndarray:
        """The ``(depth, len(_FIELDS))`` float64 host table; one transfer from the device."""
        xp = self.xp
        if self.on_host:
            table = np.array([[float(v[name]) for name in _FIELDS] for v in self.rows])
        else:
            table = xp.stack([xp.stack([xp.asarray(v[name], dtype=xp.float64) for name in _FIELDS]) for v in self.rows])
        col = _FIELDS.index("distinct_units")
        for items in self.samples.values():  # the structure of all layers of one width at once
            idx = xp.asarray([l for l, _, _ in items])
            table[idx, col] = _distinct_units_xp(xp, xp.stack([x for _, x, _ in items]), self.distinct_tol)
        grams: dict[tuple, list] = {}
        for items in self.samples.values():
            for l, _, g in items:
                grams.setdefault(g.shape, []).append((l, g))
        for items in grams.values():
            table[xp.asarray([l for l, _ in items]), col + 1] = _effective_ranks_xp(xp, xp.stack([g for _, g in items]))
        return np.asarray(self.net.backend.to_host(table), dtype=np.float64)

    def _row_sums(self, x):
        return x @ self.ones[: x.shape[1]]  # a BLAS gemv

    def _moments(self, x, total) -> list:
        """Scalars ``(mean, q, var)`` of ``x`` whose entries sum to ``total``.

        ``var = q - mean^2`` loses digits when ``|mean| >> std`` (saturated sigmoids, symmetric layers);
        then the variance is recomputed centred. On the host the check is free and the centred pass
        rare; on a device (no host round trip per array) it is always centred.
        """
        xp, n, flat = self.xp, x.size, x.reshape(-1)
        q = xp.vdot(flat, flat) / n
        mean = total / n
        if self.on_host:
            var = q - mean * mean
            if var > _CANCEL * q:  # False for NaN too
                return [mean, q, var]
        c = flat - mean
        return [mean, q, xp.vdot(c, c) / n]


def _dead_fraction(xp, z, act):
    """ReLU family: the fraction of units whose pre-activation is never positive on the batch; NaN otherwise."""
    if act.family != "relu":
        return math.nan
    return 1.0 - xp.count_nonzero((z > 0).any(axis=0)) / z.shape[1]


def _saturated_fraction(xp, a, act):
    """The fraction of saturated entries: tanh family ``|a| > act.saturation``, sigmoid outside SIGMOID_BAND; NaN otherwise."""
    if act.family == "tanh":
        lo, hi = -act.saturation, act.saturation
    elif act.family == "sigmoid":
        lo, hi = SIGMOID_BAND
    else:
        return math.nan
    return (xp.count_nonzero(a < lo) + xp.count_nonzero(a > hi)) / a.size


def _gram(xp, a):
    """The float64 Gram matrices of the smaller side of each matrix of the stack ``a`` (..., rows, units)."""
    a64 = a.astype(xp.float64)
    at = xp.swapaxes(a64, -1, -2)
    return a64 @ at if a64.shape[-2] <= a64.shape[-1] else at @ a64


def _effective_ranks_xp(xp, grams):
    """Entropy effective rank of each Gram matrix in the stack ``(k, m, m)``, on the device."""
    finite = xp.isfinite(grams).all(axis=(1, 2))
    grams = xp.where(finite[:, None, None], grams, 0.0)
    lam = xp.linalg.eigvalsh(grams)
    top = lam[:, -1:]
    lam = xp.where(lam > top * _EIG_FLOOR, lam, 0.0)
    s = xp.sqrt(lam)
    total = s.sum(axis=1, keepdims=True)
    p = s / xp.where(total > 0, total, 1.0)
    plogp = xp.where(p > 0, p * xp.log(xp.where(p > 0, p, 1.0)), 0.0)
    erank = xp.where(total[:, 0] > 0, xp.exp(-plogp.sum(axis=1)), 0.0)
    return xp.where(finite, erank, math.nan)


def effective_rank(a) -> float:
    """Roy & Vetterli's entropy effective rank of a matrix ``a`` (host array): ``exp(-Σ p ln p)``, ``p = σ/Σσ``; 0 when ``a = 0``."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"effective_rank needs a 2-D matrix, got shape {a.shape}")
    return float(_effective_ranks_xp(np, _gram(np, a[None]))[0])


def _distinct_units_xp(xp, A, tol: float):
    """Distinct units of each matrix of the stack ``A`` (layers x rows x units), as documented in
    :func:`layer_stats`; a float64 array with one count per layer.

    Per layer, units are ordered by their column sums; a unit is new unless it matches (max-abs
    difference over the rows <= tol * max|a|) a unit before it in that order. Matching units have
    column sums within ``rows * tol * max|a|``, so only pairs inside that window are compared: pairs
    k apart in the order, for k = 1, 2, ... until no layer has one, every layer at once.
    """
    L, S, n = A.shape
    if n <= 1:
        return xp.full(L, float(n))
    top, bottom = A.max(axis=2), A.min(axis=2)  # per row, over the units
    scale = xp.maximum(top.max(axis=1), -bottom.min(axis=1))
    thr = tol * scale
    symmetric = (top - bottom).max(axis=1) <= thr  # every unit within thr of every other (or all zero)
    silent = ~A.any(axis=1)  # units zero on every row (dead ReLUs): one class, set aside
    skip = silent | (symmetric | ~xp.isfinite(scale))[:, None]
    signs = xp.ones((2, S), dtype=A.dtype)
    signs[1, 1::2] = -1
    sums = signs @ A  # (layers, 2, units): the column sums and the alternating column sums
    proj = xp.where(skip, xp.inf, sums[:, 0])
    order = xp.argsort(proj, axis=1)  # skipped units last, never near anything
    p = xp.take_along_axis(proj, order, axis=1)
    p2 = xp.take_along_axis(sums[:, 1], order, axis=1)  # near too for a match: a cheap second filter
    window = (S * thr * (1 + 1e-9) + 8 * xp.finfo(A.dtype).eps * S * scale)[:, None]
    repeat = xp.zeros((L, n), dtype=bool)
    rows = xp.arange(S)
    for k in range(1, n):  # the sums are sorted: once no pair k apart is near, none further apart is
        with np.errstate(invalid="ignore"):  # inf - inf among the skipped units
            near = p[:, k:] - p[:, :-k] <= window
        if not bool(near.any()):
            break
        l, i = xp.nonzero(near)
        j = i + k
        todo = ~repeat[l, j] & (xp.abs(p2[l, j] - p2[l, i]) <= window[l, 0])  # a unit already matched needs no second match
        l, i, j = l[todo, None], i[todo, None], j[todo, None]
        same = xp.abs(A[l, rows, order[l, j]] - A[l, rows, order[l, i]]).max(axis=1) <= thr[l[:, 0]]
        repeat[l[same, 0], j[same, 0]] = True
    live = n - silent.sum(axis=1)
    count = (live - repeat.sum(axis=1) + silent.any(axis=1)).astype(xp.float64)
    count = xp.where(symmetric, 1.0, count)
    return xp.where(xp.isfinite(scale), count, math.nan)


def distinct_units(a, tol: float = DISTINCT_TOL) -> int:
    """Distinct units of an activation matrix ``a`` (rows x units, host array), as in :func:`layer_stats`."""
    return int(_distinct_units_xp(np, np.asarray(a, dtype=np.float64)[None], tol)[0])


__all__ = ["layer_stats", "default_target", "effective_rank", "distinct_units", "COLUMNS", "TARGET_SPAWN_KEY"]
