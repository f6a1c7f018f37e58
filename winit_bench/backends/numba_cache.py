"""Numba's disk cache of this package's kernels, dropped whole when any of their source files changes.

Numba keys a cached function on its own source file only ("cache invalidation fails to recognize
changes in functions defined in a different file", numba's notes on caching). The training step in
:mod:`.numba_step` compiles in the row loops of :mod:`.numba_kernels` and :mod:`.numba_reductions`,
the activations of :mod:`.numba_activations`, the vector math of :mod:`.numba_math` and the ``gemm``
of :mod:`.numba_blas`: edit only those, and the step would keep running the old code from the cache. So the caches of all these modules go together,
keyed on a digest of all their sources.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from numba import njit

#: the modules whose compiled code is cached and calls into one another's
MODULES = ("numba_math", "numba_activations", "numba_kernels", "numba_reductions", "numba_blas", "numba_step", "numba_backend")
STAMP = "winit_bench-numba-sources.sha256"


def drop_stale(cache_dir: str | os.PathLike, sources: list[Path]) -> bool:
    """Delete the cache files of ``sources``' modules in ``cache_dir`` unless its stamp matches their
    digest, then stamp it; True when something was dropped (or there was no stamp yet)."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    cache_dir = Path(cache_dir)
    stamp = cache_dir / STAMP
    with contextlib.suppress(OSError):
        if stamp.read_text() == digest:
            return False
    for source in sources:
        for pattern in (f"{source.stem}.*.nbi", f"{source.stem}.*.nbc"):
            for path in cache_dir.glob(pattern):
                with contextlib.suppress(OSError):  # another process got there first
                    path.unlink()
    with contextlib.suppress(OSError):  # a cache numba cannot write either: nothing to keep fresh
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = stamp.with_name(f"{STAMP}.{os.getpid()}")
        partial.write_text(digest)
        os.replace(partial, stamp)
    return True


@njit(cache=True)
def _here():
    """Never called: its cache locator is the one numba chose for every module of this directory."""
    return 0


def keep_fresh() -> None:
    """Drop the package's stale kernels from numba's cache directory for this package."""
    here = Path(__file__).parent
    cache_dir = getattr(getattr(_here, "_cache", None), "_cache_path", None)  # numba's internals: absent, nothing to do
    if cache_dir is not None:
        drop_stale(cache_dir, [here / f"{m}.py" for m in MODULES])


keep_fresh()  # on import, before any cached kernel of these modules is loaded (numba_kernels imports this)
