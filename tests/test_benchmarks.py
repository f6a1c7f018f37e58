"""The asv suite's machinery: where a benchmark runs, its thread counts, its statistics, the spread tool,
and ``asv compare`` on two small result sets."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH_FILES = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
BACKEND_INDEPENDENT = {"bench_init", "bench_stability", "bench_training", "bench_distributed"}


@pytest.fixture()
def suite(monkeypatch):
    """The suite's modules, with thread pinning recorded instead of done (this process stays as it is)."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    common = importlib.import_module("benchmarks.common")
    pins = []
    monkeypatch.setattr(common, "pin_threads", pins.append)
    common.pins = pins
    return common


def _classes(module):
    from benchmarks.common import Benchmark

    return [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, Benchmark) and c.__module__ == module.__name__]


def _methods(cls):
    return [n for n in dir(cls) if n.startswith(("time_", "track_", "peakmem_"))]


# ------------------------------------------------------------------------------------- thread counts
def test_thread_counts_come_from_the_profile_or_the_variable(monkeypatch):
    from benchmarks.threads import THREADS_VAR, thread_counts

    monkeypatch.delenv(THREADS_VAR, raising=False)
    assert thread_counts([3, 1, 3]) == [3, 1] and thread_counts([0]) == [os.cpu_count()]
    monkeypatch.setenv(THREADS_VAR, " 1,2,2")
    assert thread_counts([4]) == [1, 2]
    monkeypatch.setenv(THREADS_VAR, "all")
    assert thread_counts([1]) == [os.cpu_count()]
    monkeypatch.setenv(THREADS_VAR, "two")
    with pytest.raises(ValueError, match=r"\$WINIT_BENCH_THREADS: 'two' is not a thread count"):
        thread_counts([1])


_PIN_CHILD = """
import json, sys
import winit_bench as wb
n, backend = int(sys.argv[1]), sys.argv[2]
if backend == "numba":
    wb.get_backend("numba")  # as in the numba environment: numba and the engine's BLAS loaded before
if backend == "numba-cold":  # numba imported, its threading layer not started; MKL and its OpenMP loaded
    import numba
    from winit_bench.backends import cblas
    cblas.load(), cblas.threads()
from benchmarks.threads import pin_threads, pinned
from threadpoolctl import threadpool_info
from winit_bench.backends import cblas
pin_threads(n)
engine_blas = cblas.threads()  # MKL loads its OpenMP runtime now
numba = sys.modules.get("numba")
print(json.dumps({"pinned": pinned(), "numba": numba.get_num_threads() if numba else n, "engine_blas": engine_blas,
                  "engine": cblas.library(), "pools": [[p["internal_api"], p["num_threads"], p["filepath"]] for p in threadpool_info()]}))
"""


@pytest.mark.parametrize("n, backend", [(1, "numpy"), (1, "numba"), (2, "numba"), (1, "numba-cold")])
def test_pin_threads_reaches_every_pool(n, backend):
    """BLAS (every OpenBLAS, MKL), OpenMP and numba all run ``n`` threads, whether loaded before the
    pinning (numba environment) or after (numpy: the engine's BLAS); beside MKL, NumPy's OpenBLAS keeps one."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", NUMBA_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", _PIN_CHILD, str(n), backend], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["pinned"] == n and got["numba"] == n and got["engine_blas"] == n
    for api, threads, path in got["pools"]:
        expected = 1 if (api == "openblas" and "numpy.libs" in path and got["engine"] == "mkl") else n
        assert threads == expected, (api, path, got["pools"])


# ------------------------------------------------------------------------------- where a benchmark runs
def test_every_benchmark_file_is_in_the_readme_and_the_docs():
    readme = (ROOT / "README.md").read_text()
    docs = (ROOT / "docs" / "benchmarks.md").read_text()
    for name in BENCH_FILES:
        assert f"`{name}.py`" in readme, name
        assert f"{name}" in docs, name


def test_backend_independent_benchmarks_say_so_and_the_others_take_threads(suite):
    """Every method of a backend-independent class carries home_backend (asv puts it in benchmarks.json);
    every class timing something takes ``threads`` as its last parameter, so asv records it."""
    for name in BENCH_FILES:
        module = importlib.import_module(f"benchmarks.{name}")
        for cls in [c for c in _classes(module) if _methods(c)]:
            homes = {getattr(getattr(cls, m), "home_backend", None) for m in _methods(cls)}
            assert homes == ({"numpy"} if name in BACKEND_INDEPENDENT else {None}), (cls, homes)
            if any(m.startswith("time_") for m in _methods(cls)):
                assert cls.param_names[-1] == "threads" and list(cls.params[-1]) == suite.THREADS, cls


@pytest.mark.parametrize("backend, skipped", [("numpy", False), ("numba", True), ("cupy", True)])
def test_backend_independent_setup_skips_outside_numpy(suite, monkeypatch, backend, skipped):
    from benchmarks import bench_init

    monkeypatch.setenv(suite.BACKEND_VAR, backend)
    bench = bench_init.StandardNormal()
    if skipped:
        with pytest.raises(NotImplementedError, match="backend-independent: measured once, in the numpy environment"):
            bench.setup(64, "float32", 1)
        assert suite.pins == [] and not hasattr(bench, "rng")  # nothing built, nothing pinned
    else:
        bench.setup(64, "float32", 1)
        assert suite.pins == [1] and bench.rng is not None


def test_setup_pins_the_threads_parameter_and_builds_once_per_process(suite, monkeypatch):
    from benchmarks import bench_init, bench_training

    monkeypatch.setenv(suite.BACKEND_VAR, "numpy")
    bench = bench_init.Orthogonal()
    calls = []
    monkeypatch.setattr(bench_init, "_draw", lambda name, n: calls.append(n))
    bench.setup(32, 3)
    bench.setup(32, 3)  # asv_runner's setup before every sample: nothing rebuilt
    assert suite.pins == [3] and calls == [16]
    bench.setup(64, 2)
    assert suite.pins == [3, 2] and calls == [16, 16] and bench.a.shape == (64, 64)
    with pytest.raises(NotImplementedError, match="stop here"):  # no threads parameter: the profile's first count
        bench_training.Training().setup({("he_normal", "relu", 3): "stop here"}, "he_normal", "relu", 3)
    assert suite.pins[-1] == suite.THREADS[0]


def test_setup_after_setup_cache_reads_its_own_parameters(suite, monkeypatch):
    monkeypatch.setenv(suite.BACKEND_VAR, "numpy")

    class Cached(suite.Benchmark):
        params, param_names = (["a"], [3]), ["x", "threads"]

        @suite.prepared
        def setup(self, cache, x, threads):
            self.got = (cache, x, threads)

    bench = Cached()
    bench.setup({"made": "once"}, "a", 3)  # asv passes setup_cache's result first
    assert suite.pins == [3] and bench.got == ({"made": "once"}, "a", 3)


def test_numba_with_several_threads_in_a_forked_process_skips_and_says_how(suite, monkeypatch):
    from benchmarks import bench_throughput

    monkeypatch.setenv(suite.BACKEND_VAR, "numba")
    monkeypatch.setattr(suite, "_forked", [True])
    with pytest.raises(NotImplementedError, match="--launch-method spawn"):
        bench_throughput.Throughput().setup(2, 16, 8, "float32", 2)
    assert suite.pins == []


def test_an_unusable_backend_skips_with_the_reason(suite, monkeypatch):
    from benchmarks import bench_throughput

    monkeypatch.setenv(suite.BACKEND_VAR, "nosuch")
    suite._backend_or_reason.cache_clear()
    try:
        with pytest.raises(NotImplementedError, match="backend 'nosuch' is unusable here"):
            bench_throughput.Throughput().setup(2, 16, 8, "float32", 1)
    finally:
        suite._backend_or_reason.cache_clear()


def test_distributed_sweep_skips_without_measuring(suite, monkeypatch):
    from benchmarks import bench_distributed as bd

    monkeypatch.setattr(bd, "measure", lambda *a, **k: pytest.fail("measured"))
    monkeypatch.setenv(suite.BACKEND_VAR, "numba")
    cache = bd.DistributedSweep().setup_cache()
    with pytest.raises(NotImplementedError, match="backend-independent: measured once, in the numpy environment"):
        bd.DistributedSweep().setup(cache)
    monkeypatch.setenv(suite.BACKEND_VAR, "numpy")
    monkeypatch.setattr(bd, "P", lambda key: 0)  # a profile without the sweep (quick)
    cache = bd.DistributedSweep().setup_cache()
    with pytest.raises(NotImplementedError, match="dask_configs = 0"):
        bd.DistributedSweep().setup(cache)


def test_distributed_tracks_carry_the_repeats(suite, monkeypatch):
    from benchmarks import bench_distributed as bd

    runs = {"runs": [{"speedup": s, "sweep_speedup": 2 * s} for s in (1.5, 1.2, 1.8)]}
    bench = bd.DistributedSweep()
    assert bench.track_speedup(runs) == {"samples": [1.5, 1.2, 1.8], "number": 1}
    assert bench.track_sweep_speedup(runs)["samples"] == [3.0, 2.4, 3.6]


def test_stability_passes_are_made_once_and_a_failing_combination_skips_alone(suite, monkeypatch):
    from benchmarks import bench_stability as bs

    monkeypatch.setenv(suite.BACKEND_VAR, "numba")
    assert bs.Stability().setup_cache() == {}  # not its environment: nothing computed
    monkeypatch.setenv(suite.BACKEND_VAR, "numpy")
    monkeypatch.setattr(bs.Stability, "params", (["he_normal"], ["relu", "tanh"], [2], [8]))
    made = []

    def stats(self, init, act, depth, width):
        made.append(act)
        return suite.skip("tanh is out") if act == "tanh" else pd.DataFrame({"q_z": [1.0, 4.0]})

    monkeypatch.setattr(bs.Stability, "_stats", stats)
    cache = bs.Stability().setup_cache()
    assert made == ["relu", "tanh"] and set(cache) == {("he_normal", "relu", 2, 8), ("he_normal", "tanh", 2, 8)}
    bench = bs.Stability()
    bench.setup(cache, "he_normal", "relu", 2, 8)
    assert bench.track_log2_q_ratio(cache, "he_normal", "relu", 2, 8) == 2.0
    with pytest.raises(NotImplementedError, match="tanh is out"):
        bs.Stability().setup(cache, "he_normal", "tanh", 2, 8)


# ------------------------------------------------------------------------------------ statistics
def test_timed_rounds_are_per_call_and_interleaved(suite):
    clock, order = [0.0], []

    def work(name, seconds):
        def fn():
            clock[0] += seconds
            order.append(name)

        return fn

    t = suite.timed_rounds({"a": work("a", 0.002), "b": work("b", 0.005)}, rounds=3, min_time=0.01, timer=lambda: clock[0])
    assert t["a"] == pytest.approx([0.002] * 3) and t["b"] == pytest.approx([0.005] * 3)
    timed = order[4:]  # after a warm-up and a calibration call each: 5 a's then 2 b's per round
    assert timed == (["a"] * 5 + ["b"] * 2) * 3


def test_rates_and_ratios_carry_their_rounds(suite, monkeypatch):
    from benchmarks import bench_init

    monkeypatch.setenv(suite.BACKEND_VAR, "numpy")
    monkeypatch.setattr(bench_init, "P", lambda key: {"ratio_repeat": 4}[key])
    out = bench_init.Initialize().track_ratio_to_standard_normal("he_normal", 64, 1)
    assert out["number"] == 1 and len(out["samples"]) == 4
    assert all(0.2 < r < 50 for r in out["samples"])  # he_normal is a scaled standard normal draw


def test_the_suite_reads_this_checkouts_profiles_not_the_installed_ones(suite, monkeypatch):
    from winit_bench.study import profiles

    monkeypatch.setitem(profiles.PROFILES["quick"]["bench"], "threads", [7])  # an installed commit's other grid
    assert suite.suite_profiles()["quick"]["bench"]["threads"] == [1]


def test_the_profiles_set_asv_knobs_and_threads(suite):
    from winit_bench.study.profiles import PROFILES

    assert suite.PROFILES == PROFILES  # this checkout's file, read the way asv's processes read it
    for name, profile in PROFILES.items():
        bench = profile["bench"]
        assert set(bench["asv"]) == set(suite.ASV_KNOBS), name
        assert bench["asv"]["number"] == 1 and len(bench["asv"]["repeat"]) == 3 and bench["threads"], name
    for knob in suite.ASV_KNOBS:
        assert getattr(suite.Benchmark, knob) == PROFILES[suite.PROFILE]["bench"]["asv"][knob]


# ------------------------------------------------------------------------------------ the spread tool
def _run(values: dict, status="ok"):
    rows = [{"benchmark": b, "type": "time", "unit": "seconds", "size": s, "value": v, "status": status, "backend": "numpy"}
            for (b, s), v in values.items()]  # fmt: skip
    return pd.DataFrame(rows)


def test_spread_is_max_over_min_of_the_run_medians(suite):
    from benchmarks.spread import render, spread_table

    runs = [_run({("t.time_a", 1): 1.0, ("t.time_a", 2): 2.0, ("t.time_b", 1): 3.0}),
            _run({("t.time_a", 1): 1.25, ("t.time_a", 2): 1.9}),
            _run({("t.time_a", 1): 1.1, ("t.time_a", 2): 2.0})]  # fmt: skip
    table = spread_table(runs)
    assert list(table.params) == ["size=1", "size=2"]  # time_b is not in every run
    assert table.spread.tolist() == pytest.approx([0.25, 2.0 / 1.9 - 1])
    assert list(table.run2) == [1.25, 1.9]
    text = render(table, limit=0.10)
    assert "25.0 % *" in text and "5.3 %" in text and "5.3 % *" not in text
    skipped = spread_table([runs[0], _run({("t.time_a", 1): np.nan}, status="skipped")])
    assert skipped.empty


def test_the_probe_reports_the_fastest_and_slowest_window(suite):
    from benchmarks.spread import probe

    fast, slow = probe(seconds=0.3, window=0.1)
    assert 0 < fast <= slow < 0.1


# ------------------------------------------------------------------------------------ asv end to end
def _asv():
    return shutil.which("asv", path=os.path.dirname(sys.executable)) or shutil.which("asv")


@pytest.mark.skipif(_asv() is None, reason="asv is not installed (pip install 'winit_bench[bench]')")
def test_asv_run_two_commits_and_compare(tmp_path):
    """Two tiny runs (numpy and an unusable cupy environment) as two commits, then ``asv compare``."""
    git = subprocess.run(["git", "rev-parse", "HEAD", "HEAD~1"], cwd=ROOT, capture_output=True, text=True)
    if git.returncode != 0:
        pytest.skip("not a git checkout with two commits")
    new, old = git.stdout.split()
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))  # fmt: skip
    conf["matrix"]["env"]["WINIT_BENCH_BACKEND"] = ["numpy", "cupy"]
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    (tmp_path / "home").mkdir()
    env = dict(os.environ, HOME=str(tmp_path / "home"), WINIT_BENCH_PROFILE="quick", ASV_PYTHONPATH=str(ROOT),
               WINIT_BENCH_THREADS="1", CUDA_VISIBLE_DEVICES="")  # fmt: skip

    def asv(*args):
        proc = subprocess.run([_asv(), "--config", str(tmp_path / "asv.conf.json"), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)  # fmt: skip
        assert proc.returncode == 0, f"asv {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    asv("machine", "--yes", "--machine", "ci")
    bench = r"StandardNormal|Initialize\.track_ratio|Throughput\.time_forward"
    for commit in (old, new):
        asv("run", "--python=same", "--set-commit-hash", commit, "--machine", "ci", "--bench", bench)
    from winit_bench.results import load_asv_results

    df = load_asv_results(tmp_path / "results")
    ok = df[df.status == "ok"]
    assert set(ok.backend) == {"any", "numpy"} and len(ok) == 2 * (2 + 3 + 1)
    assert (ok.threads == 1).all()
    ratio = ok[ok.benchmark.str.endswith("track_ratio_to_standard_normal")]
    assert (ratio.q25 <= ratio.value).all() and (ratio.value <= ratio.q75).all() and ratio.ci_lo.notna().all()
    cupy = df[df.env_name.str.endswith("cupy")]
    assert (cupy.status == "skipped").all() and set(cupy.backend) == {"cupy"}
    out = asv("compare", old, new, "--machine", "ci", "--split")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines() if "BACKENDnumpy]" in line]
    assert len(rows) == 6, out  # every case measured in both commits, in the numpy environment
    ratios = {row[-1].split("(")[0]: float(row[-2].lstrip("~")) for row in rows}  # Change, Before, After, Ratio, Benchmark
    assert set(ratios) == {f"bench_init.{n}" for n in ("StandardNormal.time_standard_normal", "Initialize.track_ratio_to_standard_normal")} | {
        "bench_throughput.Throughput.time_forward"}
    assert all(0.1 < r < 10 for r in ratios.values()), out
