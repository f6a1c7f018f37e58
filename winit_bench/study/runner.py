"""Running a study: every pending configuration through an executor, each record logged as it arrives.

A configuration that diverges or raises is a recorded failure and the run goes on; an interruption
(a kill, Ctrl-C, a lost cluster) records nothing more, and ``--resume`` runs exactly what is missing.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from .executors import InProcess
from .kinds import BY_NAME, KINDS, grid
from .spec import Spec
from .store import RunFolder, RunFolderError, elapsed_seconds, now

#: set to N to make the run exit abruptly (as if killed) after N configurations were logged; for tests
CRASH_ENV = "WINIT_BENCH_CRASH_AFTER"


def make_executor(workers: int | None = None, scheduler: str | None = None, *, threads: int | None = 1):
    """InProcess without ``workers``/``scheduler``; else a Dask executor (the ``distributed`` extra)."""
    if workers is not None and scheduler is not None:
        raise ValueError("give either workers (a local Dask cluster) or scheduler (an existing one), not both")
    if workers is None and scheduler is None:
        return InProcess()
    from .dask import DaskExecutor  # the distributed extra, imported only here

    return DaskExecutor(workers=workers, scheduler=scheduler, threads=threads)


def check_extras(spec: Spec) -> None:
    """Fail before any work when an optional dependency the study needs is missing."""
    from ..extras import require

    require("matplotlib")
    for kind in KINDS:
        for module in kind.needs(spec):
            require(module)


def run_study(spec: Spec | None, run_dir: Path, *, resume: bool = False, progress: bool = True, report: bool = True,
              workers: int | None = None, scheduler: str | None = None) -> Path:
    """Run (or resume) the study into ``run_dir``; return the folder. Tables and the report are written at the end.

    ``workers=N`` runs the configurations on a local Dask cluster of N single-threaded worker
    processes, ``scheduler="tcp://host:8786"`` on an existing Dask cluster; neither: in-process.
    The results, the log and ``--resume`` are the same either way. ``run_dir`` must be new, empty
    or (``resume``) a run; one process at a time may write it.
    """
    folder = RunFolder.open(run_dir) if resume else RunFolder.create(run_dir)
    try:
        with folder:
            if resume:
                meta, spec = folder.read_meta()
                folder.repair_log()
            else:
                meta = dict(spec=spec.to_json(), created=now(), sessions=[], host=platform.node(), python=platform.python_version())
            check_extras(spec)
            executor = make_executor(workers, scheduler, threads=spec.threads)
            try:
                _run(spec, folder, meta, executor, progress=progress)
            finally:
                executor.close()
            from .tables import write_tables

            tables = write_tables(folder.path)
            if report:
                from .report import build_report

                build_report(folder.path, tables=tables)
    except BaseException:
        folder.discard()  # a failed start leaves no folder behind; a started run stays, to resume
        raise
    return folder.path


def _announce(spec: Spec, where: dict, n: int, done: int, run_dir: Path) -> None:
    where = f", {where['executor']}" + (f" ({where['workers']} workers)" if "workers" in where else "")
    backend = spec.backend or "each worker's backend"
    resumed = f", resuming with {done} done" if done else ""
    print(f"winit-bench run: {n} configurations ({spec.profile} profile, {backend}, {spec.dtype}{where}{resumed}) -> {run_dir}", file=sys.stderr)


def _backend_info(spec: Spec, where: dict) -> dict:
    """The run's backend as loaded here, or, for a cluster run, as its workers report it (the driver loads none)."""
    if where["executor"] != "in-process":
        return {"backend": str(spec.backend or "each worker's"), **{f"worker {k}": v for k, v in where.get("worker_backends", {}).items()}}
    from ..backends import get_backend

    return {k: str(v) for k, v in get_backend(spec.backend).info().items()}


def _run(spec: Spec, folder: RunFolder, meta: dict, executor, *, progress: bool) -> None:
    """Run the pending configurations through ``executor``, appending each record to the log as it arrives."""
    from ..progress import Progress

    where = executor.describe()
    meta["backend_info"] = _backend_info(spec, where)  # loads the BLAS before the thread limit is set
    limiter = _blas_threads(spec.threads)
    session = dict(started=now(), started_unix=time.time(), wall_s=None, ran=0, skipped=0, **where)
    meta["sessions"].append(session)
    meta["finished"] = None
    folder.write_meta(meta)
    configs = grid(spec)
    done = folder.read_log(strict=False)
    todo = [c for c in configs if c.key not in done]
    session["skipped"] = len(configs) - len(todo)
    if progress:
        _announce(spec, where, len(configs), len(configs) - len(todo), folder.path)
    crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
    bar = Progress(len(configs), initial=len(configs) - len(todo), enabled=progress)
    append, t0, index = folder.appender(), time.perf_counter(), len(meta["sessions"]) - 1
    try:
        for kind in sorted(KINDS, key=lambda k: k.exclusive):  # timing kinds last, alone
            batch = [c for c in todo if c.kind == kind.name]
            for rec in executor.map(batch, exclusive=kind.exclusive, started=lambda cfg: bar.update(0, BY_NAME[cfg.kind].label(cfg.params))):
                append({**rec, "session": index})
                session["ran"] += 1
                bar.update(1, BY_NAME[rec["kind"]].label(rec["params"]))
                if crash_after and session["ran"] >= crash_after:
                    os._exit(137)  # simulate a kill: no cleanup, no tables
    finally:
        append.close()
        if limiter is not None:
            limiter.restore_original_limits()
        bar.close()
        session["wall_s"] = time.perf_counter() - t0
        folder.write_meta(meta)
    meta["finished"] = now()
    meta["elapsed_s"] = elapsed_seconds(meta, folder.read_log(strict=False).values())
    folder.write_meta(meta)


def _blas_threads(n: int | None):
    """Limit BLAS/OpenMP threads to ``n`` for the run (threadpoolctl); None leaves them alone."""
    if n is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("winit-bench: warning: threadpoolctl is not installed; --threads is ignored (set OPENBLAS_NUM_THREADS instead)", file=sys.stderr)
        return None
    return threadpool_limits(limits=n)


__all__ = ["CRASH_ENV", "RunFolderError", "check_extras", "make_executor", "run_study"]
