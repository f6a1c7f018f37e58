"""``winit-bench`` (also ``python -m winit_bench``): the command line. Each command parses its
options and calls the library.

A user's mistake prints one line ``winit-bench: error: ...`` and exits with status 2, without a
traceback. It is recognised in one of two ways, never by a bare ``ValueError``:

* what the user typed is checked before any work starts, inside ``with user_input():`` (building
  the study's grid, drawing ``init``'s weights), where a ``ValueError`` or ``TypeError`` can only
  be the input's fault;
* the exception's type says the trouble lies outside the code: :class:`UserError`, an unknown or
  unusable backend, a missing extra, an asv folder with nothing to load, a damaged or busy run
  folder, ``OSError`` (files,
  folders, the network, a child process).

Anything else is a bug in winit-bench: its traceback is printed, then a line asking for a report,
and the status is 1. Only ``selftest`` and ``run`` load an engine; the other commands work whatever
``$WINIT_BENCH_BACKEND`` says.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from contextlib import contextmanager

from . import backends
from .activations import activation_names
from .extras import MissingExtra
from .initializers import initialize, initializer_names
from .results import UnreadableResults
from .study.store import RunFolderError

DTYPE = "float32"  # the engine's (MLP) and the study's dtype; the library's initialize() alone defaults to float64


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line."""


_USER_ERRORS = (UserError, backends.UnknownBackend, backends.BackendUnavailable, MissingExtra, UnreadableResults, RunFolderError, OSError)


@contextmanager
def user_input():
    """Checks of what the user typed: a ``ValueError`` or ``TypeError`` raised inside is a :class:`UserError`."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from exc


def _cmd_backends(args) -> None:
    status = backends.available_backends()
    print(f"{'backend':8s}  {'status':9s}  details")
    for name, reason in status.items():
        if reason is None:
            info = backends.get_backend(name).info()
            details = ", ".join(f"{k}={v}" for k, v in info.items() if k != "backend")
            print(f"{name:8s}  {'usable':9s}  {details}")
        else:
            print(f"{name:8s}  {'unusable':9s}  {reason}")
    print(_default_backend())


def _default_backend() -> str:
    """Which backend ``run`` and ``selftest`` use without ``--backend``, and whether they can."""
    var, value = f"${backends.ENV_VAR}", os.environ.get(backends.ENV_VAR)
    if not value:
        return f"default: {backends.DEFAULT} ({var} is not set)"
    try:
        name = backends.get_backend(None).name
    except backends.UnknownBackend:
        return f"default: none: {var}={value!r} is invalid (valid: {', '.join(backends.backend_names())}); run and selftest need --backend"
    except backends.BackendUnavailable:
        return f"default: {value} (from {var}), unusable here; run and selftest need --backend"
    return f"default: {name} (from {var})"


def _cmd_init(args) -> None:
    from .init_report import require_report_fits, weights_report

    with user_input():
        require_report_fits(args.name, tuple(args.shape), args.dtype, args.layout)
        w = initialize(args.name, tuple(args.shape), seed=args.seed, activation=args.activation, dtype=args.dtype, layout=args.layout)
    print(weights_report(args.name, w, activation=args.activation, seed=args.seed, layout=args.layout))


def _cmd_selftest(args) -> None:
    import time

    import pandas as pd

    from .agreement import TOLERANCE, compare_backends, failures

    from . import perf

    backend = backends.get_backend(args.backend)
    name = backend.name
    start = time.perf_counter()
    table = compare_backends(name)
    bad = failures(table)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1e}"))
    gpu = name == "cupy"
    case = perf.GPU_CASE if gpu else perf.Case(4, 1024, 256)
    speed = perf.measure(case, [name], naive=False, rounds=5, torch=perf.cuda_torch_step(case) if gpu else None)
    torch_ratio = speed.get(f"{name}_vs_torch", float("nan"))
    print(f"\n{'backend':8s} {'agree':>9s} {'case (depth x width x batch)':>30s} {'step ms':>9s} {'GEMM floor ms':>14s} {'floor GFLOP/s':>14s} {'step/floor':>11s} {'step/torch':>11s}")
    print(f"{name:8s} {len(table) - len(bad):>4d}/{len(table):<4d} {f'{case.depth} x {case.width} x {case.batch}':>30s} "
          f"{speed[f'engine_{name}_ms']:9.3f} {speed['gemm_floor_ms']:14.3f} {speed['gemm_gflops']:14.1f} {speed[f'{name}_vs_gemm']:11.2f} {torch_ratio:11.2f}")
    info = backend.info()
    if gpu:  # the GPU target: step/floor <= 1.25 (0.8x the cuBLAS floor), step/torch <= 1.0 (torch: PyTorch eager on CUDA)
        print(f"recorded in {perf.record(speed, info)}")
    print(f"({info}; tolerance {TOLERANCE}; {time.perf_counter() - start:.1f} s)")
    if len(bad):
        raise SystemExit(1)


def _names(text: str) -> list[str]:
    return [t for t in (x.strip() for x in text.split(",")) if t]


def _ints(text: str) -> list[int]:
    out = []
    for t in _names(text):
        try:
            out.append(int(t))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {t!r}") from None
    return out


def _cmd_perf(args) -> None:
    import datetime
    import os

    from pathlib import Path

    from . import perf
    from .backends import cblas
    from .files import atomic_write_text, writable_folder

    if args.rounds < 1:
        raise UserError(f"--rounds must be a positive integer, got {args.rounds}")
    names = _names(args.backends)
    if not names:
        raise UserError("--backends must name at least one backend")
    for name in names:
        backends.get_backend(name)  # unusable -> one line, before any timing
    out = Path(args.out or os.path.join("results", f"perf-{datetime.datetime.now():%Y%m%d-%H%M%S}.csv"))
    writable_folder(out.parent)  # an unwritable place -> one line, before any timing
    grid = perf.TARGET_GRID[:3] if args.quick else perf.TARGET_GRID
    table = perf.perf_table(names, grid, rounds=5 if args.quick else args.rounds, progress=lambda c: print(f"  measured depth {c.depth} width {c.width} batch {c.batch}", file=sys.stderr))
    mem = {name: perf.memory(backend=name) for name in names}
    with pd_options():
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print()
    for name, m in mem.items():
        print(f"memory (depth 10, width 1024, batch 256, {name}): added {m['added_bytes'] / 2**20:.1f} MiB, "
              f"algorithm needs {m['minimum_bytes'] / 2**20:.1f} MiB, ratio {m['ratio']:.2f}")
    print(f"engine products: {cblas.library()} (${cblas.BLAS_VAR}={cblas.choice()}); torch, naive NumPy: their own BLAS")
    if "torch_ms" in table and (table.torch_ms > perf.TORCH_SLOW * table.gemm_floor_ms)[table.width >= 1024].any():
        print(f"warning: PyTorch took over {perf.TORCH_SLOW}x this machine's GEMM floor at width 1024 (about 1.2x when "
              "it runs normally): a busy machine or fewer threads than the engine; measure again before comparing")
    print(f"targets: {perf.TARGETS}")
    atomic_write_text(out, table.assign(**{f"memory_ratio_{name}": m["ratio"] for name, m in mem.items()}).to_csv(index=False))
    print(f"table written to {out}")


def pd_options():
    import pandas as pd

    return pd.option_context("display.width", 250, "display.max_columns", 50)


RUNS = "results/runs"


def _cmd_run(args) -> None:
    from pathlib import Path

    from . import study

    cluster = dict(workers=args.workers, scheduler=args.scheduler)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be a positive integer, got {args.workers}")
    # on a cluster the driver loads no backend: the workers do, from the run's choice or their own $WINIT_BENCH_BACKEND
    distributed = args.workers is not None or args.scheduler is not None
    name = backends.resolve_name(args.backend) if distributed else backends.get_backend(args.backend).name
    if distributed and args.backend is None:
        name = None
    inits = None if args.initializers in (None, "all") else _names(args.initializers)
    acts = None if args.activations is None else _names(args.activations)
    grid = dict(dtype=args.dtype, initializers=inits, activations=acts, depths=args.depths, widths=args.widths, seeds=args.seeds, threads=args.threads)
    run_dir = Path(args.out) if args.out else None
    try:
        if args.resume:
            run_dir = Path(args.resume) if args.resume != "latest" else run_dir or study.latest_run(Path(RUNS))
            _, spec = study.RunFolder.open(run_dir).read_meta()
            with user_input():
                conflicts = study.resume_conflicts(spec, **grid, backend=args.backend and name, profile=args.profile)
            if conflicts:
                raise UserError(f"{run_dir} was started with another grid: {'; '.join(conflicts)}; resume without these options or start a new run")
            out = study.run_study(None, run_dir, resume=True, progress=not args.no_progress, **cluster)
        else:
            with user_input():
                spec = study.make_spec(args.profile or "default", backend=name, **grid)
            study.check_extras(spec)
            run_dir = run_dir or study.new_run_dir(Path(RUNS))
            out = study.run_study(spec, run_dir, progress=not args.no_progress, **cluster)
    except study.ClusterLost as exc:
        print(f"winit-bench: error: {exc}; what finished is recorded, nothing else is. Resume with: winit-bench run --resume {run_dir}", file=sys.stderr)
        raise SystemExit(3) from None
    tables = study.load_tables(out)
    print(f"{out / 'report.md'}  ({len(tables['failures'])} failed configurations, {tables['meta']['elapsed_s']:.1f} s)")


def _cmd_report(args) -> None:
    from pathlib import Path

    from . import asv_report, study

    written = []
    for path in args.paths:
        path = Path(path)
        if not path.exists():
            raise OSError(f"no such file or folder: {str(path)!r}")
        if study.is_run_dir(path):
            with study.RunFolder.open(path):  # one writer: not while a run is writing it
                tables = study.write_tables(path)
                written.append(study.report.build_report(path, Path(args.out) if args.out else None, tables=tables))
        else:
            out = Path(args.out) if args.out else asv_report.default_asv_out()
            written.append(asv_report.build_asv_report(path, out))
    for w in written:
        print(w)


def _address(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the Dask scheduler address is empty; expected tcp://HOST:PORT")
    return text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("winit_bench")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="winit-bench", description="Weight-initialization benchmarks: variance propagation, trainability, engine speed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    dtype_help = f"float32 or float64 (default {DTYPE}, as the engine and the study compute)"

    sub.add_parser("backends", help="which backends are usable here, with versions or the reason why not, and the default").set_defaults(func=_cmd_backends)

    p = sub.add_parser("init", help="realised statistics of one initializer against its target")
    p.add_argument("name", help=f"the initializer: {', '.join(initializer_names(aliases=False))}")
    p.add_argument("--shape", nargs="+", type=int, metavar="DIM", required=True,
                   help="the weight's shape: FAN_OUT FAN_IN, or a convolution kernel OUT IN K... (2 to 5 numbers; with --layout keras: "
                        "FAN_IN FAN_OUT or K... IN OUT)")  # fmt: skip
    p.add_argument("--layout", default="torch", help="torch (default: (out, in, *k), fan_in = in * prod(k)) or keras ((*k, in, out))")
    p.add_argument("--activation", default=None, help=f"the activation the scheme adapts to, if it does (kumar_normal; he_* take a leaky ReLU's slope): {', '.join(activation_names())}")
    p.add_argument("--seed", type=int, default=0, help="the seed of the draw (default 0)")
    p.add_argument("--dtype", default=DTYPE, help=dtype_help)
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("selftest", help="check a backend against the numpy reference (forward, gradients, training)")
    p.add_argument("--backend", default=None, help="numpy, numba or cupy (default: $WINIT_BENCH_BACKEND)")
    p.set_defaults(func=_cmd_selftest)

    p = sub.add_parser("perf", help="engine vs its GEMM floor vs PyTorch eager: the ratio table of the performance targets")
    p.add_argument("--backends", default="numpy,numba", help="comma-separated backends to time (default numpy,numba)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds per case; the median is reported")
    p.add_argument("--quick", action="store_true", help="three cases, five rounds")
    p.add_argument("--out", default=None, help="CSV file for the table (default results/perf-<timestamp>.csv)")
    p.set_defaults(func=_cmd_perf)

    p = sub.add_parser("run", help="the study: variance vs depth against theory, trainability on digits, throughput; writes tables, plots and report.md")
    p.add_argument("--backend", default=None, help="numpy, numba or cupy (default: $WINIT_BENCH_BACKEND or numpy)")
    p.add_argument("--profile", default=None, choices=("quick", "default", "full"), help="grid size: quick (< 1 min), default (< 5 min), full (default: default)")
    p.add_argument("--initializers", default=None, help="comma-separated names, or 'all' (default: every registered initializer)")
    p.add_argument("--activations", default=None, help="comma-separated names (default: linear,relu,leaky_relu,tanh,sigmoid,selu,gelu)")
    p.add_argument("--depths", type=_ints, default=None, help="comma-separated depths; one network of the largest depth gives every depth")
    p.add_argument("--widths", type=_ints, default=None, help="comma-separated widths (default 256,1024)")
    p.add_argument("--seeds", type=_ints, default=None, help="comma-separated seeds (fewer are used at width >= 1024)")
    p.add_argument("--dtype", default=None, help=f"float32 or float64 (default {DTYPE}, or the run's own with --resume)")
    p.add_argument("--out", default=None, help="the run folder to create: a new or empty folder (default: results/runs/run-<timestamp>)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run without redoing finished configurations (default: the latest under results/runs/)")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads for the run (default 1: fastest on a busy machine; 0 leaves the library's setting)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run the configurations on a local Dask cluster of N single-threaded worker processes (needs the distributed extra)")
    where.add_argument("--scheduler", type=_address, default=None, metavar="tcp://HOST:PORT",
                       help="run the configurations on an existing Dask cluster (see docs/distributed.md)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="rebuild plots and report.md from a run folder, or summarise an asv results folder")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a winit-bench run folder and/or an asv results folder")
    p.add_argument("--out", default=None, help="where to write (default: the run folder; for asv results results/asv-report-<timestamp>)")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("winit-bench: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as exc:
        print(f"winit-bench: error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print("winit-bench: internal error: this is a bug in winit-bench, not in your input; please report it with the traceback above",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
