"""Scale-out: a sweep of ~1 s configurations in-process against a local Dask cluster of N workers.

``track_speedup`` is the in-process wall time over the cluster's, end to end (cluster start, worker
imports and shut-down included); ``track_sweep_speedup`` the same for the sweep alone (the session's
``wall_s`` in ``run.json``: from the first submit to the last record). Each is measured
``dask_repeats`` times (the profile's; asv keeps the median and the spread), on ``dask_configs``
configurations: 16 in the default profile, ~16 s of work in-process, enough for the 1-2 s a local
cluster takes to start to matter little. The quick profile does not run it.

What 2 cores can show: a 2-worker cluster can at best halve the sweep, and only when both cores are
free. On the project's shared 2-core machine, 16 configurations read 1.55x end to end and 1.82x the
sweep alone while the other tenants were idle (a plain 2-process pool: 1.96x), and 1.07x / 1.31x at
load average 2: with another process on one of the two cores neither Dask nor a plain pool gets
more (docs/benchmarks.md). Run as a script it measures that ceiling too (the
same work on plain processes) and prints the load average next to the numbers; on a shared
machine compare against it::

    python -m benchmarks.bench_distributed [n_configs] [workers]
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

from .common import PROFILE, P, Benchmark, backend_independent, prepared, sampled, skip

# ~1 s per configuration on one idle core: the weight draw and one forward/backward pass of a
# 96-layer width-640 network; one configuration per seed, so no two share a weight draw
WIDTH, DEPTH = 640, 96
INITS = ("he_normal",)
ACTS = ("relu",)


def sweep_spec(n_configs: int):
    from winit_bench import study

    seeds = list(range(max(1, -(-n_configs // (len(INITS) * len(ACTS))))))
    spec = study.make_spec("quick", initializers=list(INITS), activations=list(ACTS), depths=[DEPTH], widths=[WIDTH], seeds=seeds, threads=1)
    return dataclasses.replace(spec, train_initializers=(), throughput=())  # variance configurations only


def _one_thread():
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run_group(group):
    from winit_bench import study

    return [study.run_one(cfg) for cfg in group]


def pool_speedup(spec, workers: int) -> float:
    """What this machine allows right now: the same configurations on ``workers`` plain processes
    (concurrent.futures, no Dask), their wall time against one process; the ceiling for Dask's speed-up."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from winit_bench import study

    groups = study.weight_groups(study.grid(spec))
    walls = {}
    for n in (1, workers):
        with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=_one_thread) as pool:
            list(pool.map(_run_group, groups[:n]))  # warm: imports
            t = time.perf_counter()
            list(pool.map(_run_group, groups))
            walls[n] = time.perf_counter() - t
    return walls[1] / walls[workers]


def measure(n_configs: int = 24, workers: int = 2, ceiling: bool = True) -> dict:
    """Wall times of the same sweep in-process and on ``workers`` local Dask workers; the speed-ups."""
    from winit_bench import study

    spec = sweep_spec(n_configs)
    n = len(study.grid(spec))  # n_configs one per seed
    root = tempfile.mkdtemp(prefix="winit-dask-bench-")
    try:
        load0 = os.getloadavg()
        t = time.perf_counter()
        a = study.run_study(spec, os.path.join(root, "inproc"), progress=False, report=False)
        t_in = time.perf_counter() - t
        t = time.perf_counter()
        b = study.run_study(spec, os.path.join(root, "dask"), progress=False, report=False, workers=workers)
        t_dask = time.perf_counter() - t
        load1 = os.getloadavg()
        pool = pool_speedup(spec, workers) if ceiling else float("nan")
        load2 = os.getloadavg()
        sweep_in = json.loads((a / study.SPEC_NAME).read_text())["sessions"][0]["wall_s"]
        sweep_dask = json.loads((b / study.SPEC_NAME).read_text())["sessions"][0]["wall_s"]
        same = all(
            open(a / "tables" / f"{k}.csv").read() == open(b / "tables" / f"{k}.csv").read()
            for k in ("variance", "variance_by_depth", "stability")
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return dict(configs=n, workers=workers, inprocess_s=t_in, dask_s=t_dask, speedup=t_in / t_dask,
                sweep_inprocess_s=sweep_in, sweep_dask_s=sweep_dask, sweep_speedup=sweep_in / sweep_dask,
                per_config_s=sweep_in / n, identical_tables=same, pool_speedup=pool, loadavg_before=load0, loadavg_after=load1, loadavg_end=load2,
                cores=os.cpu_count())


@backend_independent
class DistributedSweep(Benchmark):
    """asv: the speed-ups of ``workers=2`` over in-process on ``dask_configs`` configurations of ~1 s,
    measured ``dask_repeats`` times (asv keeps their median and spread). The study runs on numpy
    whatever the environment: backend-independent. The quick profile does not run it (a sweep long
    enough to mean anything takes a minute)."""

    timeout = 1800

    def setup_cache(self):
        # asv counts any exception here as a failure, not a skip: the reason goes to setup instead
        if not self.at_home():
            return {"skip": "not this environment"}  # setup says why
        if not P("dask_configs"):
            return {"skip": f"the {PROFILE} profile does not run the scale-out sweep (dask_configs = 0)"}
        try:
            import distributed  # noqa: F401
        except ImportError:
            return {"skip": "the distributed extra is not installed: pip install 'winit_bench[distributed]'"}
        # no plain-pool ceiling here: its spawned children cannot import a module asv loaded by path
        return {"runs": [measure(P("dask_configs"), 2, ceiling=False) for _ in range(P("dask_repeats"))]}

    @prepared
    def setup(self, result):
        if "skip" in result:
            skip(result["skip"])

    def track_speedup(self, result):
        return sampled(run["speedup"] for run in result["runs"])

    track_speedup.unit = "x"

    def track_sweep_speedup(self, result):
        return sampled(run["sweep_speedup"] for run in result["runs"])

    track_sweep_speedup.unit = "x"


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    w = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    r = measure(n, w)
    print(json.dumps(r, indent=1))
    print(f"{r['configs']} configurations of ~{r['per_config_s']:.2f} s: in-process {r['inprocess_s']:.1f} s, "
          f"{r['workers']} Dask workers {r['dask_s']:.1f} s -> {r['speedup']:.2f}x end to end, {r['sweep_speedup']:.2f}x the sweep alone "
          f"(plain {r['workers']}-process pool on this machine now: {r['pool_speedup']:.2f}x); "
          f"load average {r['loadavg_before'][0]:.2f} before / {r['loadavg_after'][0]:.2f} after on {r['cores']} cores")
