"""The initializers of convolution kernels only: a kernel that passes its input through, and its orthogonal kind.

Both are defined on kernels of 3 to 5 dimensions (1 to 3 spatial ones), in either layout
(:mod:`winit_bench.fans`); a matrix is refused with the scheme to use instead.

- :func:`dirac`: torch's ``dirac_``, the identity of a convolution.
- :func:`delta_orthogonal`: Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington 2018, "Dynamical
  Isometry and a Mean Field Theory of CNNs", as ``jax.nn.initializers.delta_orthogonal``.
"""

from __future__ import annotations

from .checks import FINITE, NON_NEGATIVE, Real
from .distributions import DeltaOrthogonal, Dirac
from .fans import Kernel
from .schemes import takes

#: the schemes defined on convolution kernels only: no MLP (nor the study) can use them
KERNEL_ONLY = ("dirac", "delta_orthogonal")


def _kernel_only(name: str, shape: Kernel, instead: str) -> None:
    if shape.ndim == 2:
        raise ValueError(f"{name} initializes convolution kernels of 3 to 5 dimensions, got the matrix shape {shape.dims}; "
                         f"for a matrix use {instead}")  # fmt: skip


@takes(gain=FINITE, groups=Real(low=1))
def dirac(shape, *, activation=None, gain=1.0, groups=1):
    """``W[g n + d, d, *c] = gain`` for ``d < min(n, in)`` in each of the ``groups``, ``n = out/groups``; 0 elsewhere.

    The centre is ``c_i = k_i // 2``. A convolution with this kernel copies its first ``min(n,
    in)`` input channels of each group to its outputs (times ``gain``): the identity of a
    convolution, as ``torch.nn.init.dirac_(w, groups)`` (which has no gain). In keras layout the
    same entries sit at ``[*c, d, g n + d]``. ``out`` must be divisible by ``groups``.

    >>> from winit_bench import initialize
    >>> w = initialize("dirac", (2, 2, 3))
    >>> w[:, :, 1].tolist(), float(abs(w[:, :, [0, 2]]).sum())
    ([[1.0, 0.0], [0.0, 1.0]], 0.0)
    """
    _kernel_only("dirac", shape, "'identity' (torch.nn.init.eye_)")
    if groups != int(groups) or shape.out_channels % int(groups):
        raise ValueError(f"groups must be a whole number dividing the {shape.out_channels} output channels, got {groups!r}")
    return Dirac(gain, int(groups), shape.layout)


@takes(gain=NON_NEGATIVE)
def delta_orthogonal(shape, *, activation=None, gain=1.0):
    """Zero but at the spatial centre ``c_i = (k_i - 1)//2``, where ``W[:, :, *c] = gain Q``, ``Q`` a Haar orthogonal
    ``(out, in)`` matrix with orthonormal columns — Xiao et al. 2018 (keras layout: ``W[*c] = gain Q^T``, ``(in, out)``).

    As a convolution it computes ``gain Q x`` at every position, which preserves the norm of any
    input up to ``gain``: dynamical isometry at initialization for deep CNNs (the paper's
    delta-orthogonal kernel, with ``gain^2 = sigma_w^2``). As JAX, it needs ``out >= in``
    (orthonormal columns; JAX's ``fan_in <= fan_out``) and centres an even size at its lower middle.

    >>> import numpy as np; from winit_bench import initialize
    >>> w = initialize("delta_orthogonal", (4, 4, 3, 3), seed=1)
    >>> m = w[:, :, 1, 1]
    >>> bool(abs(m @ m.T - np.eye(4)).max() < 1e-12), float(abs(w).sum() - abs(m).sum())
    (True, 0.0)
    """
    _kernel_only("delta_orthogonal", shape, "'orthogonal'")
    if shape.out_channels < shape.in_channels:
        raise ValueError(f"delta_orthogonal needs out channels >= in channels (an orthogonal (out, in) centre with orthonormal "
                         f"columns), got out={shape.out_channels}, in={shape.in_channels} for shape {shape.dims} ({shape.layout} layout)")
    return DeltaOrthogonal(gain, shape.layout)
