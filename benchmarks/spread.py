"""How stable are the numbers? Run a set of benchmarks N times back to back and compare the medians.

Each run is one ``asv run --python=same`` of this checkout (``ASV_PYTHONPATH`` points at it) into
a results folder of its own; the table has one row per benchmark x parameters x backend: the
median of each run and the spread, max / min - 1 of those medians (``*`` beyond ``--limit``)::

    python -m benchmarks.spread                                   # quick profile, time_ benchmarks, numpy + numba, 3 runs
    python -m benchmarks.spread -b bench_init --runs 5 --backends numpy
    python -m benchmarks.spread --profile default --markdown spread.md

It also prints each run's wall time and the load average before and after it (``os.getloadavg``),
and first a probe of the CPU's own steadiness (:func:`probe`): on a shared machine, read the spread
next to both. ``--runs 1 -b .`` times a whole profile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["benchmark", "params", "backend", "unit"]


def run_config(conf: dict, out: Path, backends: list[str], run: int) -> dict:
    """``asv.conf.json`` for run ``run``: absolute paths, its own results folder, ``backends`` only."""
    conf = json.loads(json.dumps(conf))
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(out / f"run-{run}"),
                html_dir=str(out / "html"), env_dir=str(out / "env"))  # fmt: skip
    conf["matrix"]["env"]["WINIT_BENCH_BACKEND"] = list(backends)
    return conf


def _params_text(row: pd.Series, names: list[str]) -> str:
    return ", ".join(f"{n}={row[n]}" for n in names if n in row.index and pd.notna(row[n]))


def spread_table(runs: list[pd.DataFrame], kinds=("time",)) -> pd.DataFrame:
    """One row per benchmark x parameters x backend measured (status ok) in every run: the median
    of each run (``run1``...) and ``spread`` = max / min - 1 over the runs (NaN unless all are > 0).

    ``runs`` are frames of :func:`winit_bench.results.load_asv_results`; ``kinds`` the benchmark
    types kept (asv's ``time``, ``track``, ...).
    """
    from winit_bench.results import BASE_COLUMNS, TAIL_COLUMNS

    tables = []
    for i, df in enumerate(runs, 1):
        df = df[(df.status == "ok") & df.type.isin(kinds)].copy()
        names = [c for c in df.columns if c not in BASE_COLUMNS + TAIL_COLUMNS]
        df["params"] = df.apply(lambda r: _params_text(r, names), axis=1) if len(df) else ""
        tables.append(df.set_index(KEYS)["value"].rename(f"run{i}"))
    table = pd.concat(tables, axis=1, join="inner")
    values = table.to_numpy(dtype=float)
    positive = (values > 0).all(axis=1)
    table["spread"] = np.where(positive, values.max(axis=1) / np.where(positive, values.min(axis=1), 1.0) - 1, np.nan)
    return table.reset_index().sort_values(KEYS, ignore_index=True)


def _value(x: float, unit: str) -> str:
    if unit != "seconds":
        return f"{x:.4g}"
    for name, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {name}"
    return f"{x * 1e9:.3g} ns"


def render(table: pd.DataFrame, limit: float, markdown: bool = False) -> str:
    """The table as text (or a markdown table): times in s/ms/us, the spread in %, ``*`` beyond ``limit``."""
    runs = [c for c in table.columns if c.startswith("run")]
    rows = []
    for _, r in table.iterrows():
        spread = "n/a" if np.isnan(r.spread) else f"{100 * r.spread:.1f} %" + (" *" if r.spread > limit else "")
        rows.append([r.benchmark, r.params, r.backend, *(_value(r[c], r.unit) for c in runs), spread])
    head = ["benchmark", "parameters", "backend", *runs, "spread"]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(f"`{c}`" if j == 0 else str(c) for j, c in enumerate(row)) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *rows])


def probe(seconds: float = 6.0, window: float = 0.5) -> tuple[float, float]:
    """How steady is this machine's CPU? A fixed piece of single-threaded work (a 64 x 64 QR) timed
    for ``seconds``: the fastest and slowest median of its ``window``-second windows. On a shared
    virtual machine the two can differ by 2x from one moment to the next whatever the load average
    says; no benchmark can then be steadier than that."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((64, 64))
    medians = []
    with threadpool_limits(1):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            times, stop = [], time.perf_counter() + window
            while time.perf_counter() < stop:
                t = time.perf_counter()
                np.linalg.qr(a)
                times.append(time.perf_counter() - t)
            medians.append(float(np.median(times)))
    return min(medians), max(medians)


def run_asv(config: Path, bench: list[str], env: dict, extra: list[str]) -> float:
    """One ``asv run --python=same`` of HEAD (``extra``: more of asv's options); its wall time in seconds."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    cmd = [sys.executable, "-m", "asv", "--config", str(config), "run", "--python=same", "--set-commit-hash", head]
    cmd += [a for b in bench for a in ("--bench", b)] + extra
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=config.parent, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"spread: asv run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.spread", description=__doc__.split("\n\n")[0])
    ap.add_argument("-b", "--bench", action="append", help="asv --bench regular expression (repeatable; default: time_)")
    ap.add_argument("--runs", type=int, default=3, help="back-to-back runs (default 3)")
    ap.add_argument("--backends", nargs="+", default=["numpy", "numba"], help="WINIT_BENCH_BACKEND values (default numpy numba)")
    ap.add_argument("--profile", default=os.environ.get("WINIT_BENCH_PROFILE", "quick"), help="WINIT_BENCH_PROFILE (default quick)")
    ap.add_argument("--kinds", nargs="+", default=["time"], help="benchmark types in the table (default: time)")
    ap.add_argument("--limit", type=float, default=0.10, help="spread marked with * beyond this (default 0.10)")
    ap.add_argument("--machine", help="asv machine name (default: the one in ~/.asv-machine.json)")
    ap.add_argument("--cpu-affinity", help="asv run --cpu-affinity: the CPUs the benchmarks run on (e.g. 1)")
    ap.add_argument("--out", type=Path, help="keep the runs' results here (default: a temporary folder)")
    ap.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error(f"--runs must be at least 1, got {args.runs}")
    from winit_bench.results import load_asv_results

    out = args.out or Path(__import__("tempfile").mkdtemp(prefix="winit-spread-"))
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, WINIT_BENCH_PROFILE=args.profile)
    env.setdefault("ASV_PYTHONPATH", str(ROOT))  # this checkout's winit_bench, not whichever is installed
    if not (Path(env.get("HOME", "~")).expanduser() / ".asv-machine.json").exists():
        subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"] + (["--machine", args.machine] if args.machine else []),
                       env=env, capture_output=True, check=True)  # fmt: skip
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    frames = []
    fast, slow = probe()
    print(f"CPU probe (64 x 64 QR, one thread, 0.5 s windows): {1e6 * fast:.0f}-{1e6 * slow:.0f} us, "
          f"{100 * (slow / fast - 1):.0f} % apart", flush=True)
    for i in range(1, args.runs + 1):
        config = out / f"asv-{i}.json"
        config.write_text(json.dumps(run_config(conf, out, args.backends, i), indent=1))
        load0 = os.getloadavg()
        extra = (["--machine", args.machine] if args.machine else []) + (["--cpu-affinity", args.cpu_affinity] if args.cpu_affinity else [])
        wall = run_asv(config, args.bench or ["time_"], env, extra)
        load1 = os.getloadavg()
        print(f"run {i}: {wall:.0f} s wall, load average {load0[0]:.2f} before, {load1[0]:.2f} after ({os.cpu_count()} cores)", flush=True)
        frames.append(load_asv_results(out / f"run-{i}"))
    table = spread_table(frames, tuple(args.kinds))
    print(render(table, args.limit))
    print(f"{(table.spread > args.limit).sum()} of {len(table)} rows beyond {100 * args.limit:.0f} %; profile {args.profile}, "
          f"CPUs {args.cpu_affinity or 'any'}, {time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip
    if args.markdown:
        args.markdown.write_text(render(table, args.limit, markdown=True) + "\n")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
