"""Run the study's configurations on a Dask cluster (the optional ``distributed`` extra).

``winit-bench run --workers N`` starts a local cluster of N single-threaded worker processes on
loopback; ``--scheduler tcp://host:8786`` uses a cluster started elsewhere (``dask scheduler`` and
``dask worker`` / ``dask cuda worker``, see ``docs/distributed.md``). The Python API is the same:
``study.run_study(spec, run_dir, workers=N)`` or ``scheduler=...``.

Each task is :func:`winit_bench.study.run_one` on the configurations that share one weight draw: it returns the configuration's
log record, with its failure recorded inside (a configuration that raises is data, not a retry).
The driver writes records to ``configs.jsonl`` as futures complete, so ``--resume`` works across
in-process and cluster runs alike. A worker that dies mid-task (killed, out of memory) loses
nothing: the scheduler reruns its tasks on another worker; a configuration that keeps killing its
workers is recorded as failed (``KilledWorker``) after Dask's ``allowed-failures``. A scheduler
that goes away is not a failure of the configurations: :class:`ClusterLost` is raised within
``LOST_AFTER`` seconds, nothing more is recorded, and ``--resume`` runs the rest.

The local cluster binds only to 127.0.0.1, with no dashboard; its scheduler's HTTP server (which
Dask always starts) listens on a free loopback port and serves no routes.

Each worker picks its backend from the run's ``backend`` or, when the run names none, from its own
``$WINIT_BENCH_BACKEND``, and reports it in every record (``backend`` and ``worker`` fields).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import sys
import time
import uuid
from typing import Callable, Iterator

from ..extras import require
from .executors import ClusterLost, weight_groups
from .kinds.variance import WeightCache

#: test hook: a path; the first task that creates this file (O_EXCL) kills its worker (os._exit) mid-run
CRASH_MARKER_ENV = "WINIT_BENCH_WORKER_CRASH_MARKER"
#: test hook: seconds each task waits before it starts, so that a test can act while a run is under way
DELAY_ENV = "WINIT_BENCH_WORKER_DELAY"
#: seconds to wait for a scheduler to answer
CONNECT_TIMEOUT = 5
#: seconds without a connection to the scheduler after which the cluster counts as lost
LOST_AFTER = 20
#: what a scheduler address looks like: [protocol://]host:port
ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss|inproc)://)?[^\s/:]+(?::\d+)?$")
#: environment of the workers a local cluster starts: one BLAS thread each, so N workers fit N cores
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "NUMBA_NUM_THREADS")

_LIMITER = {}


def _limit_threads(n: int | None) -> None:
    """Once per worker process: limit BLAS/OpenMP threads to ``n`` (threadpoolctl), as the in-process run does."""
    if n is None or _LIMITER.get("n") == n:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the worker's environment (OPENBLAS_NUM_THREADS) has to do
        _LIMITER["n"] = n
        return
    _LIMITER["limiter"] = threadpool_limits(limits=n)
    _LIMITER["n"] = n


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except Exception:  # not inside a worker (e.g. a test calls the task directly)
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"


def _maybe_crash() -> None:
    marker = os.environ.get(CRASH_MARKER_ENV)
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(1)  # as if killed: no cleanup, no result


def run_task(cfgs, threads: int | None) -> list[dict]:
    """The task a worker runs: configurations that share one weight draw -> their records (never raises
    for the configurations' own errors). The draw is freed when the task ends."""
    from .record import run_one

    _limit_threads(threads)
    _maybe_crash()
    time.sleep(float(os.environ.get(DELAY_ENV) or 0))
    cache, worker = WeightCache(), _worker_name()
    return [run_one(cfg, cache, worker=worker) for cfg in cfgs]


def _quiet_logs(prefix: str) -> dict:
    """Set every logger under ``prefix`` to CRITICAL; their previous levels."""
    names = [prefix] + [n for n in logging.root.manager.loggerDict if n.startswith(prefix + ".")]
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    return old


def _failed_record(cfg, exc: BaseException) -> dict:
    return dict(key=cfg.key, kind=cfg.kind, params=cfg.params, status="failed", error=f"{type(exc).__name__}: {exc}",
                rows=[], backend=cfg.params.get("backend"), worker=None, elapsed_s=float("nan"))


class DaskExecutor:
    """Map configurations over a Dask cluster: a local one (``workers=N``) or an existing one (``scheduler``)."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *, threads: int | None = 1,
                 connect_timeout: float = CONNECT_TIMEOUT, retries: int = 2, env: dict | None = None):
        dist = require("distributed")
        if (workers is None) == (scheduler is None):
            raise ValueError("give either workers (a local Dask cluster) or scheduler (an existing one)")
        self.threads, self.retries, self.cluster = threads, retries, None
        if scheduler is not None:
            address = str(scheduler).strip()
            if not ADDRESS.match(address):
                raise ValueError(f"{address!r} is not a Dask scheduler address; expected tcp://HOST:PORT")
            try:
                self.client = dist.Client(address, timeout=connect_timeout, set_as_default=False)
            except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise OSError(f"cannot reach Dask scheduler at {address}: {msg}") from None
            self.address = address
            if not self.client.scheduler_info().get("workers"):
                print(f"winit-bench: warning: the Dask scheduler at {address} has no workers yet; waiting for some", file=sys.stderr)
        else:
            try:
                n = int(workers)
            except (TypeError, ValueError):
                raise ValueError(f"workers must be a positive integer, got {workers!r}") from None
            if n < 1 or n != workers:
                raise ValueError(f"workers must be a positive integer, got {workers!r}")
            blas = str(threads or 1)
            worker_env = {**{k: blas for k in BLAS_ENV}, **(env or {})}
            if os.environ.get(CRASH_MARKER_ENV):
                worker_env.setdefault(CRASH_MARKER_ENV, os.environ[CRASH_MARKER_ENV])
            import dask

            # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive mmap
            # threshold: every large array is then a fresh mmap, and a configuration runs ~12 % slower
            spawn = {k: v for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).items() if k != "MALLOC_TRIM_THRESHOLD_"}
            try:
                with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn}):
                    with dask.config.set({"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
                        self.cluster = dist.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                                         dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                                         env=worker_env, silence_logs=logging.ERROR)
            except Exception as exc:  # no free port, a worker that cannot start (e.g. a broken environment)
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise OSError(f"cannot start a local Dask cluster of {n} workers: {msg}") from None
            self.client = dist.Client(self.cluster, set_as_default=False)
            self.address = self.cluster.scheduler_address
        self._run_id = uuid.uuid4().hex[:8]
        # the client logs its reconnection attempts with tracebacks; a lost cluster is reported as ClusterLost instead
        self._log_levels = _quiet_logs("distributed")

    # ------------------------------------------------------------------ the executor protocol

    def map(self, configs, *, exclusive: bool = False, started: Callable | None = None) -> Iterator[dict]:
        """Records of ``configs`` in the order they finish; ``exclusive``: one at a time (timings)."""
        if not configs:
            return
        if exclusive:
            for cfg in configs:
                if started is not None:
                    started(cfg)
                yield from self._gather([cfg])
            return
        yield from self._gather(configs)

    def _gather(self, configs) -> Iterator[dict]:
        finished: queue.Queue = queue.Queue()
        futures = {}
        for group in weight_groups(list(configs)):  # one task per weight draw, as the in-process cache shares it
            key = f"winit-bench-{group[0].kind}-{self._run_id}-{uuid.uuid4().hex[:8]}"
            fut = self.client.submit(run_task, group, self.threads, key=key, pure=False, retries=self.retries)
            futures[fut] = group
            fut.add_done_callback(finished.put)
        try:
            while futures:
                fut = self._next_done(finished)
                if fut in futures:
                    yield from self._records(fut, futures.pop(fut))
        finally:
            if futures and self.client.status == "running":  # interrupted: cancel what has not run
                self.client.cancel(list(futures))

    def _next_done(self, finished: queue.Queue):
        """The next future that finished; ClusterLost once the client has had no scheduler for LOST_AFTER s."""
        lost_since = None
        while True:
            try:
                return finished.get(timeout=1.0)
            except queue.Empty:
                pass
            if self.client.status == "running":
                lost_since = None
                continue
            lost_since = lost_since or time.monotonic()
            if self.client.status in ("closed", "closing", "failed") or time.monotonic() - lost_since > LOST_AFTER:
                raise ClusterLost(f"lost the Dask scheduler at {self.address}")

    def _records(self, fut, group) -> list[dict]:
        """A finished future's records; a task that raised (KilledWorker: the configuration kills its workers) is recorded as failed."""
        if fut.status == "finished":
            recs = fut.result()
        elif fut.status == "error":
            recs = [_failed_record(cfg, fut.exception()) for cfg in group]
        else:  # cancelled or lost with the scheduler: nothing is known about these configurations
            raise ClusterLost(f"lost the Dask scheduler at {self.address} (its tasks were {fut.status})")
        fut.release()
        return recs

    def describe(self) -> dict:
        try:
            n = len(self.client.scheduler_info().get("workers", {}))
        except Exception:
            n = None
        out = dict(executor="dask", scheduler=self.address, workers=n)
        try:
            out["worker_backends"] = self.worker_backends()
        except Exception:  # a worker coming or going: the records say which backend ran anyway
            pass
        return out

    def worker_backends(self) -> dict:
        """Each worker's default backend ($WINIT_BENCH_BACKEND or numpy), by address."""

        def which():
            from ..backends import get_backend

            try:
                return get_backend(None).name
            except Exception as exc:
                return f"unusable: {exc}"

        return self.client.run(which)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None
            for name, level in self._log_levels.items():
                logging.getLogger(name).setLevel(level)
