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
the distinct-unit count reads a few scalars back per layer (its loop length depends on the data).
Two statistics use bounded sub-samples of the batch: the effective rank uses the first
``rank_rows`` (default 64) rows of each activation matrix, so it is at most 64; the distinct-unit
count the first ``distinct_rows`` (default 32) rows.

**Without Y** the backward columns use a reproducible standard target, :func:`default_target`:
for ``output="linear"`` ``Y ~ N(0, 1)`` of shape ``(batch, n_out)``; for ``output="softmax"`` labels
uniform on ``0..n_out-1``; both drawn from ``numpy.random.SeedSequence(net.seed,
spawn_key=TARGET_SPAWN_KEY)``, a stream that no weight or bias of the net uses. The same net, seed
and batch size therefore always give the same backward statistics. (Such a target is independent of
the weights, but the output error ``out - Y`` is not: see :mod:`winit_bench.compare`.)

**Cost.** ``net.capture`` allocates fresh buffers and copies every ``z, a, δ`` and gradient; when the
engine offers ``capture(X, Y, reuse=True)`` (views of cached per-batch buffers, no copies)
:func:`layer_stats` uses it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# A spawn key no layer uses: weights draw from (l,), biases from (l, 1).
TARGET_SPAWN_KEY = (0xD1A9, 0x7A29)
RANK_ROWS = 64
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
    rng = np.random.default_rng(np.random.SeedSequence(int(net.seed), spawn_key=TARGET_SPAWN_KEY))
    n_out = net.sizes[-1]
    if net.output == "softmax":
        return rng.integers(0, n_out, size=batch, dtype=np.int64)
    return rng.standard_normal((batch, n_out))


def _capture(net, X, Y):
    """``net.capture(X, Y)`` as views of cached buffers: no copies."""
    return net.capture(X, Y, reuse=True)


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
    cap = _capture(net, X, Y)
    be = net.backend
    xp = be.xp
    act = net.activation
    depth = net.depth
    f64 = xp.float64
    nan = xp.asarray(math.nan, dtype=f64)

    widest = max(max(z.size for z in cap.z), max(g.size for g in cap.grad_w))
    scratch = xp.empty(widest, dtype=cap.z[0].dtype)
    ones = xp.ones(widest, dtype=cap.z[0].dtype)
    on_host = xp is np

    def moments(x):
        """Device scalars ``(mean, q, var)``.

        ``var = q - mean^2`` loses digits when ``|mean| >> std`` (saturated sigmoids, symmetric layers);
        then the variance is recomputed centred. On the host the check is free and the centred pass
        rare; on a device (no host round trip per array) it is always centred.
        """
        n = x.size
        flat = x.reshape(-1)
        q = xp.vdot(flat, flat) / n
        mean = xp.vdot(flat, ones[:n]) / n  # a BLAS dot: faster than a pairwise sum, x is still in cache
        if on_host:
            var = q - mean * mean
            if not var > _CANCEL * q:  # also catches NaN
                c = scratch[:n]
                xp.subtract(flat, mean, out=c)
                var = xp.vdot(c, c) / n
            return [mean, q, var]
        c = scratch[:n]
        xp.subtract(flat, mean, out=c)
        return [mean, q, xp.vdot(c, c) / n]

    rows = []
    grams: dict[tuple, list] = {}
    for l in range(depth):
        z, a, d = cap.z[l], cap.a[l], cap.delta[l]
        gw, gb = cap.grad_w[l], cap.grad_b[l]
        w, b = _layer_params(net, l)
        hidden = l < depth - 1
        vals = moments(z)
        vals += moments(a) if hidden else vals[:]
        vals += moments(d)
        vals += moments(gw)[1:]
        vals += moments(gb)[1:]
        wf, bf = w.reshape(-1), b.reshape(-1)
        vals += [xp.vdot(wf, wf) * (w.shape[1] / wf.size), xp.vdot(bf, bf) / bf.size]
        if hidden and act.family == "relu":
            vals.append(1.0 - xp.count_nonzero(xp.any(z > 0, axis=0)) / z.shape[1])
        else:
            vals.append(nan)
        if hidden and act.family == "tanh":
            mag = scratch[: a.size].reshape(a.shape)
            xp.abs(a, out=mag)
            vals.append(xp.count_nonzero(mag > act.saturation) / a.size)
        elif hidden and act.family == "sigmoid":
            lo, hi = SIGMOID_BAND
            vals.append((xp.count_nonzero(a < lo) + xp.count_nonzero(a > hi)) / a.size)
        else:
            vals.append(nan)
        if structure:
            vals.append(_distinct_units_xp(xp, a[: max(1, min(distinct_rows, a.shape[0]))], distinct_tol))  # host syncs
            g = _gram(xp, a[: max(1, min(rank_rows, a.shape[0]))])
            grams.setdefault(g.shape, []).append((l, g))
            vals.append(nan)  # effective rank: filled below, one batched eigensolve per Gram size
        else:
            vals += [nan, nan]
        rows.append(np.array([float(v) for v in vals]) if on_host else xp.stack([xp.asarray(v, dtype=f64) for v in vals]))

    table = np.stack(rows) if on_host else xp.stack(rows)
    for items in grams.values():
        idx = xp.asarray([l for l, _ in items])
        table[idx, len(_FIELDS) - 1] = _effective_ranks_xp(xp, xp.stack([g for _, g in items]))
    host = np.asarray(be.to_host(table), dtype=np.float64)

    records = []
    for l in range(depth):
        rec = {"layer": l + 1, "fan_in": net.sizes[l], "fan_out": net.sizes[l + 1], "activation": act.name if l < depth - 1 else "linear"}
        rec.update({name: float(v) for name, v in zip(_FIELDS, host[l])})
        records.append(rec)
    df = pd.DataFrame(records, columns=list(COLUMNS))
    df.attrs.update(loss=float(cap.loss), batch=batch, backend=be.name, target="given" if given else "default_target")
    return df


def _layer_params(net, l: int):
    """Layer ``l``'s ``(W, b)`` as backend arrays, without copying them to the host."""
    return net.params()[l]


def _gram(xp, a):
    """The float64 Gram matrix of the smaller side of ``a`` (rows x units), on the device."""
    a64 = a.astype(xp.float64)
    return a64 @ a64.T if a64.shape[0] <= a64.shape[1] else a64.T @ a64


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
    return float(_effective_ranks_xp(np, _gram(np, a)[None])[0])


def _distinct_units_xp(xp, a, tol: float) -> float:
    """Distinct units of ``a`` (rows x units) as documented in :func:`layer_stats` (a few host syncs).

    Units are ordered by their column sums; a unit is new unless it matches (max-abs difference over
    the rows <= tol * max|a|) a unit before it in that order. Matching units have column sums within
    ``rows * tol * max|a|``, so only those windows are compared: a handful of vectorised passes.
    """
    S, n = a.shape
    if n <= 1:
        return float(n)
    A = a.astype(xp.float64)
    scale = float(xp.max(xp.abs(A)))
    if not math.isfinite(scale):
        return math.nan
    thr = tol * scale
    if float(xp.max(xp.abs(A - A[:, :1]))) <= thr:  # symmetric (or all-zero) layer
        return 1.0
    zero = ~xp.any(A != 0, axis=0)  # units silent on every row (dead ReLUs): one class, set aside
    n_zero = int(xp.count_nonzero(zero))
    if n_zero:
        A = A[:, ~zero]
        n -= n_zero
    proj = A.sum(axis=0)
    order = xp.argsort(proj)
    A, proj = A[:, order], proj[order]
    window = S * thr * (1 + 1e-9) + 8 * np.finfo(np.float64).eps * S * scale
    repeat = xp.zeros(n, dtype=bool)
    for k in range(1, n):  # pairs k apart in the order; sums are sorted, so once none is near, none further is
        near = xp.nonzero(proj[k:] - proj[:-k] <= window)[0]
        if near.size == 0:
            break
        near = near[~repeat[near + k]]  # a unit already matched needs no second match
        same = xp.max(xp.abs(A[:, near + k] - A[:, near]), axis=0) <= thr
        repeat[near[same] + k] = True
    return float(n - int(xp.count_nonzero(repeat)) + (1 if n_zero else 0))


def distinct_units(a, tol: float = DISTINCT_TOL) -> int:
    """Distinct units of an activation matrix ``a`` (rows x units, host array), as in :func:`layer_stats`."""
    return int(_distinct_units_xp(np, np.asarray(a, dtype=np.float64), tol))


__all__ = ["layer_stats", "default_target", "effective_rank", "distinct_units", "COLUMNS", "TARGET_SPAWN_KEY"]
