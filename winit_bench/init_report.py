"""What one initializer actually produced, next to what its formula promises (``winit-bench init``)."""

from __future__ import annotations

import math

import numpy as np

from .initializers import check_dtype, check_shape, get_scheme, initialize
from .memory import require_fits


def initializer_report(name: str, shape: tuple[int, int], *, activation=None, seed: int = 0, dtype: str = "float64", **params) -> str:
    """A short table: realised mean, std, root mean square, extremes and zeros against the target.

    >>> print(initializer_report("he_normal", (256, 512), activation="relu").splitlines()[0])
    he_normal 256x512 (float64, seed 0, activation relu)
    """
    require_report_fits(name, shape, dtype)
    w = initialize(name, shape, seed=seed, activation=activation, dtype=dtype, **params)
    return weights_report(name, w, activation=activation, seed=seed, **params)


def require_report_fits(name: str, shape: tuple[int, int], dtype: str) -> None:
    """Refuse, before drawing, weights whose report would not fit in memory (ValueError with the estimate)."""
    scheme, (fan_out, fan_in), dt = get_scheme(name), check_shape(shape), check_dtype(dtype)
    n, m = fan_out * fan_in, min(fan_out, fan_in)
    # the weights, their float64 copy and two float64 temporaries; the Gram matrix and three of its size
    need = n * (dt.itemsize + 24) + 32 * m * m
    require_fits(need, f"{scheme.__name__} weights of shape {(fan_out, fan_in)} in {dt.name} and their report")


def weights_report(name: str, w: np.ndarray, *, activation=None, seed: int = 0, **params) -> str:
    """:func:`initializer_report`'s table for weights ``w`` already drawn by ``initialize(name, ...)``."""
    from .theory import initializer_sigma_w2

    shape = w.shape
    dtype = w.dtype.name
    fan_out, fan_in = shape
    target_rms = math.sqrt(initializer_sigma_w2(name, fan_out, fan_in, activation=activation, strict=False, **params) / fan_in)
    w64 = w.astype(np.float64)
    rms = float(np.sqrt(np.mean(w64 * w64)))
    lines = [
        f"{name} {fan_out}x{fan_in} ({dtype}, seed {seed}{', activation ' + str(activation) if activation else ''})",
        f"  mean            {w64.mean(): .6g}",
        f"  std             {w64.std(): .6g}",
        f"  rms             {rms: .6g}   target {target_rms:.6g}   ratio {rms / target_rms if target_rms else math.nan:.4f}",
        f"  n_in * E[W^2]   {fan_in * rms * rms: .6g}   target {fan_in * target_rms**2:.6g}",
        f"  min / max       {w64.min(): .6g} / {w64.max(): .6g}",
        f"  exact zeros     {np.count_nonzero(w64 == 0) / w64.size:.4%}",
    ]
    if min(shape) > 1 and rms > 0:
        gram = w64 @ w64.T if fan_out <= fan_in else w64.T @ w64
        scale = np.trace(gram) / gram.shape[0]
        lines.append(f"  orthogonality   {np.abs(gram / scale - np.eye(gram.shape[0])).max():.3g}   (max |G/g^2 - I|; 0 for orthogonal)")
    return "\n".join(lines)
