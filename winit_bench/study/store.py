"""The run folder: ``run.json`` (the spec and the sessions), ``configs.jsonl`` (one line per finished
configuration), ``tables/``, ``plots/`` and ``report.md``; one writer at a time, nothing lost.

- ``--out`` must name a new folder, an empty one, or a run (to resume or report); anything else is
  refused before a byte is written, so a user's own files are never overwritten.
- A process holds the folder's lock (``.lock``, :mod:`filelock`: an OS lock the kernel releases when
  the holder dies, so a killed run leaves no stale lock) for as long as it writes; a second one is
  refused with the holder's pid, host and start time (``.lock.holder``).
- Every file but the log is written atomically (:mod:`winit_bench.files`); the log is appended one
  fsynced line at a time, so a kill tears at most its last line, which a resume drops.
- Whatever is wrong with a folder's files is a :class:`RunFolderError` naming the file and the fault.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from ..files import TEMP_PREFIX, atomic_write_text, remove_temporaries, writable_folder
from .spec import Spec

LOG_NAME = "configs.jsonl"
SPEC_NAME = "run.json"
LOCK_NAME = ".lock"
HOLDER_NAME = ".lock.holder"
STATUSES = ("ok", "failed", "diverged")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked: corrupt, busy, or not a run; the message names the file."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_run_dir(path: Path) -> bool:
    return (Path(path) / SPEC_NAME).is_file()


def new_run_dir(root: Path) -> Path:
    """A free ``run-<timestamp>`` name under ``root``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(100):
        d = Path(root) / (f"run-{stamp}" + (f"-{i}" if i else ""))
        if not d.exists():
            return d
    raise OSError(f"cannot find a free run folder name under {root}")


def latest_run(root: Path) -> Path:
    runs = sorted(p for p in Path(root).glob("run-*") if is_run_dir(p))
    if not runs:
        raise RunFolderError(f"no run to resume under {str(root)!r}")
    return runs[-1]


def _check_record(rec, where: str) -> dict:
    from .kinds import BY_NAME

    if not isinstance(rec, dict):
        raise RunFolderError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    for name, kind in (("key", str), ("kind", str), ("status", str), ("params", dict), ("rows", list)):
        if not isinstance(rec.get(name), kind):
            raise RunFolderError(f"{where}: '{name}' must be a {kind.__name__}, got {rec.get(name)!r:.60}")
    if rec["kind"] not in BY_NAME or rec["status"] not in STATUSES:
        raise RunFolderError(f"{where}: unknown kind {rec['kind']!r} or status {rec['status']!r}")
    if not all(isinstance(r, dict) for r in rec["rows"]):
        raise RunFolderError(f"{where}: 'rows' must be a list of objects")
    return rec


class RunFolder:
    """One run folder. ``create`` a new run or ``open`` an existing one, then hold ``lock()`` while writing."""

    def __init__(self, path: Path, created: bool = False):
        self.path, self.created, self._lock = Path(path), created, None

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: Path) -> "RunFolder":
        """A folder for a new run: ``path`` must not exist, be empty, or hold nothing but a run's lock."""
        path = Path(path)
        if is_run_dir(path) or (path / LOG_NAME).exists():
            raise RunFolderError(f"{str(path)!r} already holds a run; resume it with --resume {path}")
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{str(path)!r} is a file, not a folder; name a new or empty folder")
        if path.is_dir() and any(p.name not in (LOCK_NAME, HOLDER_NAME) for p in path.iterdir()):
            raise RunFolderError(f"{str(path)!r} is not empty and not a winit-bench run; name a new or empty folder")
        existed = path.is_dir()
        writable_folder(path)
        return cls(path, created=not existed)

    @classmethod
    def open(cls, path: Path) -> "RunFolder":
        """An existing run (to resume or report)."""
        path = Path(path)
        if not is_run_dir(path):
            raise RunFolderError(f"{str(path)!r} is not a winit-bench run folder (no {SPEC_NAME})")
        return cls(path)

    # ------------------------------------------------------------------ one writer
    def lock(self) -> "RunFolder":
        """Take the folder's lock or raise :class:`RunFolderError` naming its holder."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path / LOCK_NAME), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            try:
                holder = (self.path / HOLDER_NAME).read_text().strip() or "another process"
            except OSError:
                holder = "another process"
            raise RunFolderError(f"{str(self.path)!r} is in use by {holder}; wait for it to finish or stop it") from None
        self._lock = lock
        atomic_write_text(self.path / HOLDER_NAME, f"pid {os.getpid()} on {platform.node()} since {now()}")
        return self

    def unlock(self) -> None:
        if self._lock is not None:
            (self.path / HOLDER_NAME).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "RunFolder":
        return self.lock() if self._lock is None else self

    def __exit__(self, *exc) -> None:
        self.unlock()

    def discard(self) -> None:
        """Remove a folder this process created and nothing was recorded in (a failed start)."""
        self.unlock()
        if self.created and not (self.path / LOG_NAME).exists():
            shutil.rmtree(self.path, ignore_errors=True)

    # ------------------------------------------------------------------ run.json
    def read_meta(self) -> tuple[dict, Spec]:
        """``run.json`` and its spec, checked: a RunFolderError names what is wrong."""
        where = self.path / SPEC_NAME
        try:
            meta = json.loads(where.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{where}: cannot be read as JSON ({exc})") from None
        if not isinstance(meta, dict) or "spec" not in meta:
            raise RunFolderError(f"{where}: expected an object with a 'spec'")
        if not isinstance(meta.setdefault("sessions", []), list) or not all(isinstance(s, dict) for s in meta["sessions"]):
            raise RunFolderError(f"{where}: 'sessions' must be a list of objects")
        try:
            spec = Spec.from_json(meta["spec"])
        except (TypeError, ValueError) as exc:
            raise RunFolderError(f"{where}: {exc}") from None
        return meta, spec

    def write_meta(self, meta: dict) -> None:
        atomic_write_text(self.path / SPEC_NAME, json.dumps(meta, indent=1))

    # ------------------------------------------------------------------ configs.jsonl
    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    def read_log(self, *, strict: bool = True) -> dict[str, dict]:
        """Finished configurations by key. ``strict``: a missing log or a torn last line is an error
        (``report``); else both are a run that stopped early (``--resume``). A damaged line is always an error."""
        if not self.log_path.exists():
            if strict:
                raise RunFolderError(f"{self.log_path}: missing; the run's results are in this file, so the tables were left as they were")
            return {}
        data = self.log_path.read_bytes()
        if data and not data.endswith(b"\n"):
            if strict:
                raise RunFolderError(f"{self.log_path}: the last line is torn (a killed write); resume the run to repair it")
            data = data[: data.rfind(b"\n") + 1]
        done = {}
        for i, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunFolderError(f"{self.log_path}, line {i}: not JSON ({exc.msg})") from None
            done[_check_record(rec, f"{self.log_path}, line {i}")["key"]] = rec
        return done

    def repair_log(self) -> None:
        """Drop a torn last line (a kill mid-write) and the temporary files of killed writes."""
        remove_temporaries(self.path)
        if self.log_path.exists():
            data = self.log_path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.log_path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
                    os.fsync(f.fileno())

    def appender(self):
        """A function appending one record as one fsynced line; ``.close()`` it when done."""
        f = open(self.log_path, "a", encoding="utf-8")

        def append(rec: dict) -> None:
            f.write(json.dumps({**rec, "finished_unix": time.time()}, allow_nan=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

        append.close = f.close
        return append


def elapsed_seconds(meta: dict, records) -> float:
    """Wall time summed over sessions; a killed session (no ``wall_s``) counts up to its last record."""
    total = 0.0
    for i, s in enumerate(meta.get("sessions", [])):
        if isinstance(s.get("wall_s"), (int, float)):
            total += s["wall_s"]
            continue
        ends = [r.get("finished_unix") for r in records if r.get("session") == i and isinstance(r.get("finished_unix"), (int, float))]
        if ends and isinstance(s.get("started_unix"), (int, float)):
            total += max(ends) - s["started_unix"]
    return total


__all__ = ["RunFolder", "RunFolderError", "LOG_NAME", "SPEC_NAME", "TEMP_PREFIX", "elapsed_seconds", "is_run_dir", "latest_run", "new_run_dir", "now"]
