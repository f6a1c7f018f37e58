"""Files that are whole or absent: write to a temporary name in the same folder, fsync, ``os.replace``.

A reader never sees half a file, a kill leaves at most a ``.tmp-*`` file behind (which
:func:`remove_temporaries` clears), and the result gets the permissions of any new file
(``0o666`` less the umask), not the ``0o600`` of :func:`tempfile.mkstemp`.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_text(d / "a.txt", "hello")
>>> (d / "a.txt").read_text()
'hello'
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

TEMP_PREFIX = ".tmp-"
_UMASK_LOCK = threading.Lock()


def _file_mode() -> int:
    with _UMASK_LOCK:  # the umask can only be read by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_save(path: Path, save: Callable[[str], None]) -> None:
    """Let ``save(tmp_path)`` write a file (bytes, a DataFrame, a figure), then move it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_save(path, save)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the ``.tmp-*`` files that killed writes left in ``folder`` and its subfolders; return them."""
    gone = []
    for p in Path(folder).rglob(f"{TEMP_PREFIX}*"):
        if p.is_file():
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def writable_folder(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and check that files can be created in it; ``OSError`` naming it if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"cannot write into folder {str(path)!r}: {exc.strerror or exc}") from None
    return path
