"""The input contract the property suites check: a result, or ValueError/TypeError with one non-empty line."""

from __future__ import annotations

import warnings


def refused_properly(exc: BaseException) -> bool:
    msg = str(exc)
    return isinstance(exc, (ValueError, TypeError)) and bool(msg.strip()) and "\n" not in msg


def call(fn):
    """``(result, None)`` or ``(None, exception)``; any warning is an error (nothing slips by as a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return fn(), None
        except Exception as exc:  # noqa: BLE001 - the property judges which exceptions are allowed
            return None, exc
