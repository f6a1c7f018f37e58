"""What one initializer actually produced, next to what its formula promises (``winit-bench init``)."""

from __future__ import annotations

import math

import numpy as np

from .fans import kernel
from .initializers import check_dtype, get_scheme, initialize, weight_moments
from .memory import require_fits


def initializer_report(name: str, shape: tuple[int, ...], *, activation=None, seed: int = 0, dtype: str = "float64", layout: str = "torch",
                       **params) -> str:  # fmt: skip
    """A short table: realised mean, std, root mean square, extremes and zeros against the target.

    >>> print(initializer_report("he_normal", (256, 512), activation="relu").splitlines()[0])
    he_normal 256x512 (float64, seed 0, activation relu)
    """
    require_report_fits(name, shape, dtype, layout)
    w = initialize(name, shape, seed=seed, activation=activation, dtype=dtype, layout=layout, **params)
    return weights_report(name, w, activation=activation, seed=seed, layout=layout, **params)


def require_report_fits(name: str, shape: tuple[int, ...], dtype: str, layout: str = "torch") -> None:
    """Refuse, before drawing, weights whose report would not fit in memory (ValueError with the estimate)."""
    scheme, k, dt = get_scheme(name), kernel(shape, layout), check_dtype(dtype)
    n, m = k.size, min(k.matrix)
    # the weights, their float64 copy and two float64 temporaries; the Gram matrix and three of its size
    need = n * (dt.itemsize + 24) + 32 * m * m
    require_fits(need, f"{scheme.__name__} weights of shape {k.dims} in {dt.name} and their report")


def weights_report(name: str, w: np.ndarray, *, activation=None, seed: int = 0, layout: str = "torch", **params) -> str:
    """:func:`initializer_report`'s table for weights ``w`` already drawn by ``initialize(name, ..., layout=layout)``.

    The target is the law's ``E[W^2]`` (:func:`winit_bench.initializers.weight_moments`); the
    orthogonality is that of the matrix the layout flattens a kernel to (:attr:`winit_bench.fans.Kernel.matrix`).
    """
    k = kernel(w.shape, layout)
    dtype, out, fan_in = w.dtype.name, k.out_channels, k.fan_in
    mean, var, _ = weight_moments(name, k.dims, activation, layout=layout, **params)
    target_rms = math.sqrt(var + mean * mean)
    flat = w.astype(np.float64).reshape(k.matrix)
    w64 = flat if layout == "torch" else flat.T  # (out, fan_in): row o holds the weights into output channel o
    rms = float(np.sqrt(np.mean(w64 * w64)))
    where = ", keras layout" if layout == "keras" else ""
    lines = [
        f"{name} {'x'.join(map(str, k.dims))} ({dtype}, seed {seed}{', activation ' + str(activation) if activation else ''}{where})",
        f"  mean            {w64.mean(): .6g}",
        f"  std             {w64.std(): .6g}",
        f"  rms             {rms: .6g}   target {target_rms:.6g}   ratio {rms / target_rms if target_rms else math.nan:.4f}",
        f"  n_in * E[W^2]   {fan_in * rms * rms: .6g}   target {fan_in * target_rms**2:.6g}",
        f"  min / max       {w64.min(): .6g} / {w64.max(): .6g}",
        f"  exact zeros     {np.count_nonzero(w64 == 0) / w64.size:.4%}",
    ]
    if min(w64.shape) > 1 and rms > 0:
        gram = w64 @ w64.T if out <= fan_in else w64.T @ w64
        scale = np.trace(gram) / gram.shape[0]
        lines.append(f"  orthogonality   {np.abs(gram / scale - np.eye(gram.shape[0])).max():.3g}   (max |G/g^2 - I|; 0 for orthogonal)")
    return "\n".join(lines)
