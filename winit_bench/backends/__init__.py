"""A lazy registry of backends: ``numpy`` (the reference), ``numba`` and ``cupy``.

A backend's module is imported the first time it is asked for, so ``import winit_bench`` never
imports numba or cupy. Selection: ``get_backend(name)``, else the innermost ``use_backend``,
else ``$WINIT_BENCH_BACKEND``, else ``numpy``. An unknown name raises :class:`UnknownBackend`
listing the valid ones; a known backend that cannot run here raises :class:`BackendUnavailable`
saying why. There is never a silent fallback.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from typing import Iterator

from .base import Backend, BackendUnavailable

ENV_VAR = "WINIT_BENCH_BACKEND"
DEFAULT = "numpy"
_MODULES = {
    "numpy": "winit_bench.backends.numpy_backend",
    "numba": "winit_bench.backends.numba_backend",
    "cupy": "winit_bench.backends.cupy_backend",
}
_loaded: dict[str, Backend] = {}
_override: list[str] = []


class UnknownBackend(ValueError):
    """A backend name the registry does not know."""


def backend_names() -> tuple[str, ...]:
    return tuple(_MODULES)


def _resolve(name: str | None) -> str:
    if name is None:
        name = _override[-1] if _override else os.environ.get(ENV_VAR) or DEFAULT
    if isinstance(name, Backend):
        return name.name
    key = str(name).strip().lower()
    if key not in _MODULES:
        source = f" (from ${ENV_VAR})" if name == os.environ.get(ENV_VAR) and not _override else ""
        raise UnknownBackend(f"unknown backend {name!r}{source}; valid: {', '.join(_MODULES)}")
    return key


def resolve_name(name: str | Backend | None = None) -> str:
    """The canonical name ``name`` (None: ``$WINIT_BENCH_BACKEND`` or numpy) stands for, without loading it; UnknownBackend if none."""
    return _resolve(name)


def get_backend(name: str | Backend | None = None) -> Backend:
    """The backend called ``name`` (None: ``use_backend``'s, then ``$WINIT_BENCH_BACKEND``, then numpy)."""
    if isinstance(name, Backend):
        return name
    key = _resolve(name)
    if key not in _loaded:
        try:
            module = importlib.import_module(_MODULES[key])
        except ImportError as exc:  # a backend module imports its library at the top
            if (exc.name or "").startswith("winit_bench"):
                raise
            hint = {"numba": "pip install 'winit_bench[numba]'", "cupy": "pip install 'winit_bench[cuda13]' (or [cuda12])"}
            raise BackendUnavailable(f"backend {key!r} is unavailable: {exc.name or exc} is not installed; {hint.get(key, '')}") from None
        _loaded[key] = module.load()
    return _loaded[key]


def available_backends() -> dict[str, str | None]:
    """``{name: None}`` for each usable backend, else ``{name: reason}``."""
    status: dict[str, str | None] = {}
    for key in _MODULES:
        try:
            get_backend(key)
            status[key] = None
        except BackendUnavailable as exc:
            status[key] = str(exc).split(": ", 1)[-1]
    return status


@contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Make ``name`` the default backend inside the ``with`` block."""
    backend = get_backend(name)
    _override.append(backend.name)
    try:
        yield backend
    finally:
        _override.pop()


__all__ = [
    "Backend",
    "BackendUnavailable",
    "UnknownBackend",
    "available_backends",
    "backend_names",
    "get_backend",
    "use_backend",
]
