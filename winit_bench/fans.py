"""Weight shapes, their two layouts, and their fans: the one place that says which axis is what.

A weight is a dense matrix or a convolution kernel of 1 to 3 spatial dimensions, laid out as

- ``layout="torch"`` (the default): ``(out, in)`` or ``(out, in, *k)``, as ``torch.nn.Linear`` and
  ``torch.nn.ConvNd`` hold it;
- ``layout="keras"``: ``(in, out)`` or ``(*k, in, out)``, as Keras (and JAX/Flax) hold it.

The receptive field is ``K = prod(k)`` (1 for a matrix), and the fans are ``fan_in = in K``,
``fan_out = out K``: ``torch.nn.init._calculate_fan_in_and_fan_out`` and Keras' ``compute_fans``
give these same numbers, each for its own layout. A mode picks one fan (:func:`Kernel.fan`):
``fan_in``, ``fan_out``, ``fan_avg = (fan_in + fan_out)/2`` or ``fan_geo_avg = √(fan_in fan_out)``
(JAX's ``variance_scaling``).

A shape of 1 dimension is refused: torch and JAX refuse its fans, and Keras' convention for it
(``fan_in = fan_out = n``, for initializers applied to vectors) describes no layer; biases are
drawn by :func:`winit_bench.initializers.initialize_bias`. Nor are shapes of more than 5
dimensions (no framework's convolution has 4 spatial dimensions).

>>> k = Kernel((64, 3, 3, 3))
>>> k.fan_in, k.fan_out, k.fan("fan_geo_avg")
(27, 576, 124.70765814495917)
>>> Kernel((3, 3, 3, 64), "keras").fan_in
27
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import OneOf, check_shape

LAYOUTS = ("torch", "keras")
FAN_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
KERNEL_NDIMS = (2, 3, 4, 5)


@dataclass(frozen=True)
class Kernel:
    """A weight's shape ``dims`` in ``layout``: its channels, receptive field and fans.

    This is what a scheme receives as ``shape`` and reads its fans from; :func:`kernel` builds it
    from a user's arguments, checking them. Indexed or unpacked it is ``(fan_out, fan_in)``, the
    matrix a scheme written for ``(fan_out, fan_in)`` expects, so such a scheme reads the right fans.
    """

    dims: tuple[int, ...]
    layout: str = "torch"

    @property
    def ndim(self) -> int:
        return len(self.dims)

    @property
    def spatial(self) -> tuple[int, ...]:
        """The kernel's spatial sizes ``k`` (empty for a matrix)."""
        return self.dims[2:] if self.layout == "torch" else self.dims[:-2]

    @property
    def out_channels(self) -> int:
        return self.dims[0] if self.layout == "torch" else self.dims[-1]

    @property
    def in_channels(self) -> int:
        return self.dims[1] if self.layout == "torch" else self.dims[-2]

    @property
    def receptive_field(self) -> int:
        return math.prod(self.spatial)

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.receptive_field

    @property
    def fan_out(self) -> int:
        return self.out_channels * self.receptive_field

    @property
    def size(self) -> int:
        return math.prod(self.dims)

    def __getitem__(self, i: int) -> int:
        """``(fan_out, fan_in)[i]``: a scheme written for matrices, reading ``shape[0]`` and ``shape[1]``, gets the fans."""
        return (self.fan_out, self.fan_in)[i]

    def __iter__(self):
        return iter((self.fan_out, self.fan_in))

    def fan(self, mode: str) -> float:
        """The fan a ``mode`` names (one of :data:`FAN_MODES`)."""
        fan_in, fan_out = self.fan_in, self.fan_out
        if mode == "fan_geo_avg":
            return math.sqrt(fan_in) * math.sqrt(fan_out)  # no overflow of the product for huge fans
        return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]

    @property
    def matrix(self) -> tuple[int, int]:
        """The 2-D matrix the framework of this layout flattens the kernel to (orthogonal draws on it).

        torch (``orthogonal_``): ``(out, in K)``, its rows the output channels; Keras
        (``Orthogonal``): ``(K in, out)``, its columns the output channels. The kernel is this
        matrix reshaped in C order. A matrix is its own flattening.
        """
        if self.layout == "torch":
            return self.dims[0], self.size // self.dims[0]
        return self.size // self.dims[-1], self.dims[-1]

    def at_spatial(self, index: tuple[int, ...]) -> tuple:
        """The full index of the ``(out, in)`` (torch) or ``(in, out)`` (keras) matrix at spatial position ``index``."""
        everything = (slice(None), slice(None))
        return everything + tuple(index) if self.layout == "torch" else tuple(index) + everything


def kernel(shape, layout: str = "torch", ndims: tuple[int, ...] = KERNEL_NDIMS) -> Kernel:
    """``shape`` and ``layout`` checked (:func:`winit_bench.checks.check_shape`, one line naming the problem) as a :class:`Kernel`."""
    OneOf(LAYOUTS)("layout", layout)
    return Kernel(check_shape(shape, ndims=ndims, layout=layout), layout)


def fans(shape, layout: str = "torch") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` in ``layout``, as torch and Keras compute them.

    >>> fans((64, 3, 5, 5)), fans((5, 5, 3, 64), "keras"), fans((10, 20))
    ((75, 1600), (75, 1600), (20, 10))
    """
    k = kernel(shape, layout)
    return k.fan_in, k.fan_out
