"""The singular values of the input-output Jacobian of an :class:`~winit_bench.engine.MLP`, per sample and depth.

With the engine's ``z[l] = W[l] a[l-1] + b[l]``, ``a[l] = f(z[l])``, ``a[0] = x``, the Jacobian at depth ``l`` is::

    J_l(x) = d a[l] / d x = D_l W_l D_{l-1} W_{l-1} ... D_1 W_1,      D_l = diag f'(z[l](x))

for the hidden layers ``l = 1 .. L-1`` (Pennington, Schoenholz & Ganguli 2017's ``J``, whose spectrum
:mod:`winit_bench.theory.spectrum` predicts), and at ``l = L`` the Jacobian of the output layer before
any softmax, ``J_L = W_L J_{L-1}`` (the readout is linear: no ``D``). One pass builds ``J_l`` for every
``l`` (``depth x batch`` products ``(n_l, n_{l-1}) @ (n_{l-1}, n_0)`` on the network's backend, in
float64); only the depths asked for pay a singular value decomposition (batched, on the host: the same LAPACK
on every backend, one ``(batch, n_l, n_0)`` transfer per depth from a GPU).
"""

from __future__ import annotations

import numpy as np

from .checks import is_integer
from .memory import require_fits


def _check_inputs(net, X):
    """``X`` as a float64 array of the backend, after the engine's checks (shape ``(batch, n_0)``, finite values)."""
    shape, dtype = getattr(X, "shape", None), getattr(X, "dtype", None)
    n0 = net.sizes[0]
    if shape is None or dtype is None:
        raise TypeError(f"X must be an array of shape (batch, {n0}), got {type(X).__name__}")
    if len(shape) != 2 or shape[1] != n0 or shape[0] < 1:
        raise ValueError(f"X must have shape (batch, {n0}) with batch >= 1, got {tuple(shape)}")
    if np.dtype(dtype).kind not in "iuf":
        raise TypeError(f"X must hold real numbers, got dtype {dtype}")
    x = net.backend.asarray(X, dtype=np.float64)
    if not net.backend.is_finite(x):
        raise ValueError("X contains NaN or inf")
    return x


def check_depths(depths, L: int) -> list[int]:
    """``depths`` (an integer or integers in ``1..L``) as a sorted list without repeats; ValueError otherwise."""
    one = is_integer(depths)
    values = [depths] if one else list(depths)
    if not values or not all(is_integer(d) and 1 <= d <= L for d in values):
        raise ValueError(f"depths must be integers in 1..{L} (the network's depth), got {depths!r}")
    return sorted(set(int(d) for d in values))


def jacobian_spectra(net, X, depths=None) -> dict[int, np.ndarray]:
    """``{l: s}`` with ``s[i]`` the singular values (descending) of ``J_l`` at sample ``X[i]``, for each ``l`` in ``depths``.

    ``depths``: integers in ``1..net.depth`` (default: all). ``s`` has shape ``(batch, min(n_l, n_0))``,
    float64, on the host. The products run on the network's backend; a batch whose Jacobians would not
    fit in memory is refused before anything is allocated.

    >>> import numpy as np, winit_bench as wb
    >>> net = wb.MLP([8, 8, 8, 8], "linear", "orthogonal", seed=0, dtype="float64", gain=2.0)
    >>> s = wb.jacobian_spectra(net, np.ones((3, 8)), depths=[1, 3])
    >>> sorted(s), s[3].shape, bool(np.allclose(s[3], 8.0))    # gain^3 at depth 3
    ([1, 3], (3, 8), True)
    """
    L = net.depth
    wanted = check_depths(range(1, L + 1) if depths is None else depths, L)
    x = _check_inputs(net, X)
    be, xp, act = net.backend, net.backend.xp, net.activation
    batch, n0, widest = x.shape[0], net.sizes[0], max(net.sizes[1 : wanted[-1] + 1])
    require_fits(8 * (3 * batch * widest * n0 + widest * widest),
                 f"the Jacobians of {batch} samples at widths up to {widest} (float64, input width {n0})")
    out, a, J = {}, x, None
    for l, (w, b) in enumerate(net.params()[: wanted[-1]], start=1):
        w = w.astype(xp.float64)
        z = a @ w.T + b.astype(xp.float64)
        J = xp.broadcast_to(w, (batch, *w.shape)) if J is None else xp.matmul(w, J)
        if l < L:  # a hidden layer: a[l] = f(z[l]) and J_l = D_l W_l J_{l-1}
            a = act.f(z, xp)
            J = act.df(z, a, xp)[:, :, None] * J
        if l in wanted:
            out[l] = np.linalg.svd(np.asarray(be.to_host(J), dtype=np.float64), compute_uv=False)
    return out


def jacobian_spectrum(net, X, depth: int | None = None) -> np.ndarray:
    """Singular values of the input-output Jacobian ``J_depth`` at each sample: shape ``(batch, min(n_depth, n_0))``.

    ``depth`` defaults to the network's output (``net.depth``: the Jacobian of the output before any
    softmax); ``depth = net.depth - 1`` is the last hidden layer's ``d a / d x``, Pennington et al.'s
    ``J`` (module docstring). Every depth in one pass: :func:`jacobian_spectra`.

    >>> import numpy as np, winit_bench as wb
    >>> net = wb.MLP([16, 16, 16, 16], "tanh", "edge_of_chaos_orthogonal", seed=0, dtype="float64")
    >>> s = wb.jacobian_spectrum(net, np.random.default_rng(0).standard_normal((4, 16)), depth=2)
    >>> s.shape, bool(0 < s.min() <= s.max() < 3)
    ((4, 16), True)
    """
    depth = net.depth if depth is None else depth
    if not is_integer(depth):
        raise TypeError(f"depth must be an integer in 1..{net.depth}, got {depth!r}")
    return jacobian_spectra(net, X, [depth])[int(depth)]


__all__ = ["check_depths", "jacobian_spectra", "jacobian_spectrum"]
