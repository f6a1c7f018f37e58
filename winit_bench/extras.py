"""Optional dependencies: import one, or say in one line which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA_OF = {
    "numba": "numba",
    "matplotlib": "plot",
    "sklearn": "data",
    "asv": "bench",
    "dask": "distributed",
    "distributed": "distributed",
    "pyarrow": "parquet",
    "torch": "peers",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming ``pip install 'winit_bench[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRA_OF.get(top, "all")
        raise MissingExtra(f"{top} is not installed; install it with: pip install 'winit_bench[{extra}]'") from None
