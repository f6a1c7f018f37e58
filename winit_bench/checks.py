"""The one rule for a parameter a user passes: its type, then its range, then one message naming it.

A number is a real scalar: a Python ``int`` or ``float`` or a NumPy integer or floating scalar,
never a bool (``True`` is not a slope of 1; ``torch.nn.init.calculate_gain`` refuses it too),
a string, ``None`` or a complex. A wrong type is a ``TypeError``, a wrong value (NaN, ±inf, out of range, an unknown
name) a ``ValueError``; both name the parameter, say what was given and what is allowed.

Every initializer declares each of its parameters with :class:`Real` or :class:`OneOf`
(``winit_bench.schemes.takes``), and :func:`winit_bench.initialize` applies them all.

>>> from winit_bench.checks import Real
>>> Real(low=0)("std", 0.5)
0.5
>>> Real(low=0)("std", True)
Traceback (most recent call last):
...
TypeError: std must be a real number (int or float), got bool True
>>> Real(low=0, high=1, high_open=True)("sparsity", 1.0)
Traceback (most recent call last):
...
ValueError: sparsity must be a number in [0, 1), got 1.0
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np


def real(name: str, value) -> float:
    """``value`` as a float when it is a real scalar (bools refused); ``TypeError`` naming ``name`` otherwise.

    An integer beyond float's range becomes ±inf, for the range check to refuse with a ValueError.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (int or float), got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def is_integer(value) -> bool:
    """Whether ``value`` is a Python or NumPy integer (bools are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class Real:
    """A real parameter: finite unless ``infinite`` (±inf allowed, NaN never), within ``low``..``high``.

    ``low_open``/``high_open`` exclude the bound itself; ``optional`` lets ``None`` through (the
    scheme then derives the value, e.g. He's gain from the activation).
    """

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    infinite: bool = False
    optional: bool = False

    def __call__(self, name: str, value) -> float | None:
        if value is None and self.optional:
            return None
        v = real(name, value)
        inside = (v > self.low if self.low_open else v >= self.low) and (v < self.high if self.high_open else v <= self.high)
        if not inside or not (self.infinite or math.isfinite(v)):  # NaN is never inside
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        return v

    def allowed(self) -> str:
        """What the check accepts, in words: ``'a finite number >= 0'``, ``'a number in [0, 1)'``."""
        if math.isfinite(self.low) and math.isfinite(self.high):
            text = f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        else:
            text = "a number (±inf allowed, not NaN)" if self.infinite else "a finite number"
            if math.isfinite(self.low):
                text += f" {'>' if self.low_open else '>='} {self.low:g}"
            if math.isfinite(self.high):
                text += f" {'<' if self.high_open else '<='} {self.high:g}"
        return text + (" or None" if self.optional else "")


FINITE = Real()
NON_NEGATIVE = Real(low=0)
OPTIONAL = Real(optional=True)  # a finite number, or None for "derive it"


@dataclass(frozen=True)
class OneOf:
    """A parameter naming one of ``options`` (exact spelling)."""

    options: tuple[str, ...]
    optional: bool = False  # None passes: the scheme then derives the value

    def __call__(self, name: str, value) -> str | None:
        if value is None and self.optional:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, one of {', '.join(self.options)}; got {type(value).__name__} {value!r}")
        if value not in self.options:
            raise ValueError(unknown_name_message(name, value, self.options))
        return value


def unknown_name_message(kind: str, name: object, valid) -> str:
    """One line: what was wrong, the closest valid name, and every valid name."""
    valid = list(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}"


# --------------------------------------------------------------------------- shapes, dtypes, declared parameters

Shape = tuple[int, ...]
DTYPES = ("float32", "float64")
_MAX_DIM = np.iinfo(np.intp).max  # NumPy cannot index a longer axis
_AXES = {"torch": ("(fan_out, fan_in)", "(out, in) or (out, in, *k), torch layout"),
         "keras": ("(fan_in, fan_out)", "(in, out) or (*k, in, out), keras layout")}


def check_shape(shape, *, ndims: tuple[int, ...] = (2,), layout: str = "torch") -> Shape:
    """``shape`` as a tuple of Python ints: ``len(shape)`` in ``ndims``, positive integers (bools and floats refused).

    The default is a matrix ``(fan_out, fan_in)``; :func:`winit_bench.fans.kernel` admits kernels
    ``(out, in, *k)`` (torch layout) or ``(*k, in, out)`` (keras layout) of 2 to 5 dimensions.
    """
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    matrix, kernel = _AXES.get(layout, _AXES["torch"])
    axes = matrix if ndims == (2,) else f"({kernel})"
    if isinstance(shape, str) or len(dims) not in ndims or not all(is_integer(d) for d in dims):
        what = "2-D" if ndims == (2,) else f"{min(ndims)}-D to {max(ndims)}-D"
        hint = "; a 1-D shape has no fans (torch and JAX refuse it too)" if len(dims) == 1 and min(ndims) > 1 else ""
        raise TypeError(f"shape must be {what} {axes} of positive integers, got {shape!r}{hint}")
    if not all(1 <= d <= _MAX_DIM for d in dims):
        raise ValueError(f"shape must have positive dimensions {axes} of at most {_MAX_DIM}, got {shape!r}")
    return tuple(int(d) for d in dims)


def check_dtype(dtype) -> np.dtype:
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dt


def check_params(scheme: Callable, params: dict) -> dict:
    """``params`` checked against ``scheme``'s declaration: unknown names are a TypeError, each value passes its check."""
    unknown = sorted(set(params) - set(scheme.checks))
    if unknown:
        raise TypeError(
            f"{scheme.__name__} got unknown parameter(s) {', '.join(unknown)}; it accepts: {', '.join(scheme.checks) or 'none'}"
        )
    return {k: scheme.checks[k](k, v) for k, v in params.items()}
