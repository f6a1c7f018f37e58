"""How much memory this process may still take, and a refusal before an allocation that cannot fit.

The budget is the smaller of the kernel's ``MemAvailable`` (``/proc/meminfo``) and what the
cgroup v2 limit leaves (``memory.max - memory.current``); where neither can be read, the physical
memory (``os.sysconf``). A request is refused before anything is allocated, with the estimate in
the message, so a user's ``MLP([4, 10**9, 2])`` fails at once instead of swapping the machine.

>>> from winit_bench.memory import require_fits
>>> require_fits(8 * 1024, "a small array")          # fits: returns None
>>> require_fits(1 << 62, "weights of shape (2**31, 2**31)")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: weights of shape (2**31, 2**31) need 4194304.0 TiB, more than the ... available here
"""

from __future__ import annotations

import os
from pathlib import Path


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_bytes() -> int:
    """Bytes this process can still allocate: min(MemAvailable, cgroup limit - usage), else physical memory."""
    candidates = [_meminfo_available()]
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        candidates.append(max(limit - used, 0))
    known = [c for c in candidates if c is not None]
    if known:
        return min(known)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary units, one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def require_fits(nbytes: float, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` and the estimate when ``nbytes`` exceed :func:`available_bytes`."""
    have = available_bytes()
    if nbytes > have:
        raise ValueError(f"{what} need {format_bytes(nbytes)}, more than the {format_bytes(have)} available here")
