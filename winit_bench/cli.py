"""``winit-bench``: the command line. Each command parses its options and calls the library.

A user's mistake (unknown name, bad number, unusable backend, missing extra) prints one line
``winit-bench: error: ...`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import backends
from .extras import MissingExtra


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line."""


_USER_ERRORS = (UserError, ValueError, TypeError, backends.BackendUnavailable, MissingExtra, OSError)


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


def _cmd_init(args) -> None:
    from .init_report import initializer_report

    print(initializer_report(args.name, tuple(args.shape), activation=args.activation, seed=args.seed, dtype=args.dtype))


def _cmd_selftest(args) -> None:
    import time

    import pandas as pd

    from .agreement import TOLERANCE, compare_backends, failures

    name = backends.get_backend(args.backend).name
    start = time.perf_counter()
    table = compare_backends(name)
    bad = failures(table)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1e}"))
    print(f"\n{name}: {len(table) - len(bad)}/{len(table)} cases agree with numpy (tolerance {TOLERANCE}) in {time.perf_counter() - start:.1f} s")
    if len(bad):
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="winit-bench", description="Weight-initialization benchmarks: variance propagation, trainability, engine speed.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("backends", help="which backends are usable here, with versions or the reason why not").set_defaults(func=_cmd_backends)

    p = sub.add_parser("init", help="realised statistics of one initializer against its target")
    p.add_argument("name")
    p.add_argument("--shape", nargs=2, type=int, metavar=("FAN_OUT", "FAN_IN"), required=True)
    p.add_argument("--activation", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float64")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("selftest", help="check a backend against the numpy reference (forward, gradients, training)")
    p.add_argument("--backend", default=None, help="numpy, numba or cupy (default: $WINIT_BENCH_BACKEND)")
    p.set_defaults(func=_cmd_selftest)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        backends.get_backend(getattr(args, "backend", None))  # an unusable choice fails here, before any work
        args.func(args)
    except KeyboardInterrupt:
        print("winit-bench: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as exc:
        print(f"winit-bench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
