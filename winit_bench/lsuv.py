"""LSUV, layer-sequential unit-variance initialisation: a data-dependent initializer.

Mishkin & Matas 2015, "All you need is a good init" (arXiv:1511.06422), Algorithm 1:

1. pre-initialise every weight matrix with an orthonormal one (Saxe et al. 2013);
2. for each layer in order, with the earlier layers already fixed: forward the batch to the layer's
   pre-activation ``z = a_prev @ W.T + b``, measure ``v = Var(z)`` over batch and units, and while
   ``|v - 1| >= tol`` and fewer than ``max_iter`` rescalings were made, set ``W <- W / sqrt(v)``.

With zero biases one rescaling lands exactly on 1 (``Var(z)`` is quadratic in the scale of ``W``);
non-zero biases can need more. The biases are kept as they are in the net. The returned list holds
the number of rescalings per layer (0 when the orthogonal start is already within ``tol``).
"""

from __future__ import annotations

import math

import numpy as np

from .initializers import initialize


def lsuv(net, X, *, tol: float = 0.1, max_iter: int = 10, seed: int | None = None) -> list[int]:
    """Initialise ``net`` by LSUV on the batch ``X``; returns the rescalings made per layer (input to output).

    The orthogonal start of layer ``l`` is ``initialize("orthogonal", (n[l], n[l-1]), seed=seed, layer=l)``
    with ``seed`` defaulting to ``net.seed``. Every weight layer, the linear output layer included, is
    brought to ``Var(z) = 1`` within ``tol`` on ``X``. The forward passes run on the net's backend.

    Raises ``ValueError`` when a layer's pre-activation has zero or non-finite variance on ``X`` (a dead
    layer, a constant input: no rescaling can help) and ``RuntimeError`` when ``max_iter`` rescalings do
    not reach the tolerance (e.g. biases whose own variance exceeds 1). Both name the layer (1-based)
    and its last variance. On any failure the net keeps its original weights.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    seed = net.seed if seed is None else seed
    be, xp, act, dtype = net.backend, net.backend.xp, net.activation, net.dtype
    Xh = X if hasattr(X, "shape") else np.asarray(X)
    if len(Xh.shape) != 2 or Xh.shape[1] != net.sizes[0] or Xh.shape[0] < 2:
        raise ValueError(f"X must have shape (batch, {net.sizes[0]}) with batch >= 2, got {tuple(Xh.shape)}")
    a = be.asarray(Xh, dtype=dtype)
    original = net.weights()
    new_params = []
    iterations = []
    depth = net.depth
    for l, (_, b_host) in enumerate(original):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        w = be.asarray(initialize("orthogonal", (n_out, n_in), seed=seed, layer=l, dtype=dtype.name))
        b = be.asarray(b_host)
        done = 0
        while True:
            z = a @ w.T + b
            var = float(xp.var(z, dtype=xp.float64))
            if not math.isfinite(var) or var <= 0.0:
                raise ValueError(
                    f"LSUV cannot scale layer {l + 1} of {depth}: the variance of its pre-activation on X is {var!r} "
                    "(a dead or constant layer: rescaling W cannot change that); the net keeps its original weights"
                )
            if abs(var - 1.0) < tol:
                break
            if done == max_iter:
                raise RuntimeError(
                    f"LSUV did not converge at layer {l + 1} of {depth}: Var(z) = {var:.6g} after {max_iter} rescalings "
                    f"(tol {tol}); the net keeps its original weights"
                )
            w = w * (1.0 / math.sqrt(var))
            done += 1
        iterations.append(done)
        new_params.append((be.to_host(w), b_host))
        a = z if l == depth - 1 else act.f(z, xp)
    net.set_weights(new_params)
    return iterations


__all__ = ["lsuv"]
