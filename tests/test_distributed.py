"""The study on a Dask cluster: same numbers as in-process, a killed worker loses nothing, an unreachable
scheduler is one line, --resume works across cluster runs. One LocalCluster of 2 worker processes on
loopback serves the module (about 30 s in all on 2 busy cores)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
import subprocess
import sys

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from winit_bench import study  # noqa: E402
from winit_bench.study.dask import CRASH_MARKER_ENV, DaskExecutor  # noqa: E402

TINY = dict(initializers=["he_normal", "ones"], activations=["relu", "tanh"], depths=[2, 3], widths=[8], seeds=[0, 1], threads=1)
CLI_TINY = ["--profile", "quick", "--initializers", "he_normal,ones", "--activations", "relu,tanh", "--depths", "2,3",
            "--widths", "8", "--seeds", "0,1", "--threads", "1", "--no-progress"]
# throughput is a timing: not comparable between runs
DETERMINISTIC = ("variance", "variance_by_depth", "train", "stability", "recommendations", "failures")
ENV = {**os.environ, "MPLBACKEND": "Agg", "WINIT_BENCH_BACKEND": "numpy"}


def _spec(**kw):
    return study.make_spec("quick", **{**TINY, **kw})


def _assert_same_tables(a, b, drop=()):
    for name in DETERMINISTIC:
        x = pd.read_csv(a / "tables" / f"{name}.csv").drop(columns=list(drop), errors="ignore")
        y = pd.read_csv(b / "tables" / f"{name}.csv").drop(columns=list(drop), errors="ignore")
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash") / "crashed"
    path.write_text("disarmed")  # the crash hook fires only while this file is absent
    return path


@pytest.fixture(scope="module")
def cluster(marker):
    env = {CRASH_MARKER_ENV: str(marker), "WINIT_BENCH_BACKEND": "numpy", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, env=env, silence_logs=50) as c:
        yield c


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The in-process run every cluster run must reproduce."""
    return study.run_study(_spec(), tmp_path_factory.mktemp("ref") / "run", progress=False, report=False)


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / study.LOG_NAME).read_text().splitlines()]


def test_cluster_run_equals_in_process_run(cluster, reference, tmp_path):
    out = study.run_study(_spec(), tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False, report=False)
    _assert_same_tables(reference, out)
    recs = _log(out)
    assert len(recs) == len(study.grid(_spec()))
    addresses = set(cluster.scheduler_info["workers"])
    assert all(r["backend"] == "numpy" and r["worker"] in addresses for r in recs)
    assert all(r["worker"] == "local" for r in _log(reference))
    meta = json.loads((out / study.SPEC_NAME).read_text())
    assert meta["sessions"][0]["executor"] == "dask" and meta["sessions"][0]["workers"] == 2


def test_killed_worker_loses_nothing(cluster, reference, marker, tmp_path):
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    marker.unlink()  # arm: the first task to start kills its worker (os._exit) and leaves its pid in the marker
    out = study.run_study(_spec(), tmp_path / "killed", scheduler=cluster.scheduler_address, progress=False, report=False)
    assert marker.exists() and marker.read_text() != "disarmed", "no worker was killed"
    assert int(marker.read_text()) in pids
    recs = _log(out)
    assert sorted(r["key"] for r in recs) == sorted(c.key for c in study.grid(_spec()))  # all done, once each
    assert not any("KilledWorker" in (r["error"] or "") for r in recs)
    _assert_same_tables(reference, out)


def test_resume_across_cluster_runs(cluster, reference, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "winit_bench.cli", "run"]
    # first session on the existing cluster, no --backend: each worker's $WINIT_BENCH_BACKEND; the driver dies after 4
    proc = subprocess.run([*cmd, *CLI_TINY, "--scheduler", cluster.scheduler_address, "--out", str(run)],
                          env={**ENV, study.CRASH_ENV: "4"}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 137, proc.stderr
    before = (run / study.LOG_NAME).read_text().splitlines()
    assert len(before) == 4
    # second session: a local cluster of its own (--workers 2)
    proc = subprocess.run([*cmd, "--resume", str(run), "--workers", "2", "--no-progress"], env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    after = (run / study.LOG_NAME).read_text().splitlines()
    assert after[:4] == before
    keys = [json.loads(line)["key"] for line in after]
    assert len(keys) == len(set(keys)) == len(study.grid(study.load_tables(run)["spec"]))
    meta = json.loads((run / study.SPEC_NAME).read_text())
    assert meta["spec"]["backend"] is None and len(meta["sessions"]) == 2 and meta["sessions"][1]["skipped"] == 4
    assert all(json.loads(line)["backend"] == "numpy" for line in after)
    # the same numbers; only the failures' keys differ (backend=None: the workers chose)
    _assert_same_tables(reference, run, drop=("key",))
    assert (run / "report.md").exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    proc = subprocess.run([sys.executable, "-m", "winit_bench.cli", "run", *CLI_TINY, "--scheduler", address, "--out", str(tmp_path / "x")],
                          env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"winit-bench: error: cannot reach Dask scheduler at {address}")


def test_bad_cluster_options_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        study.make_executor(workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="positive"):
        DaskExecutor(workers=0)
    assert isinstance(study.make_executor(), study.InProcess)


def test_missing_extra_is_one_line(tmp_path, monkeypatch, capsys):
    from winit_bench import cli

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    rc = cli.main(["run", *CLI_TINY, "--workers", "2", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "pip install 'winit_bench[distributed]'" in err


def _wait_for(predicate, timeout: float, what: str):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_losing_the_scheduler_records_nothing_and_resume_finishes(reference, tmp_path):
    """A real `dask scheduler` + `dask worker` on loopback; the scheduler is killed mid-run."""
    import signal
    import time

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**ENV, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "WINIT_BENCH_WORKER_DELAY": "0.3"}
    sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    run = tmp_path / "run"
    try:
        driver = subprocess.Popen([sys.executable, "-m", "winit_bench.cli", "run", *CLI_TINY, "--scheduler", address, "--out", str(run)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        log = run / study.LOG_NAME
        _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 3, 90, "three finished configurations")
        os.killpg(sched.pid, signal.SIGKILL)
        t0 = time.monotonic()
        out, err = driver.communicate(timeout=120)
        stopped_after = time.monotonic() - t0
    finally:
        for p in (sched, worker):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    lines = err.strip().splitlines()
    assert driver.returncode == 3, err
    assert "lost the Dask scheduler" in lines[-1] and f"--resume {run}" in lines[-1] and "Traceback" not in err, err
    assert stopped_after < 60
    recs = _log(run)
    assert 3 <= len(recs) < len(study.grid(_spec()))
    assert all(r["status"] != "failed" for r in recs), [r["error"] for r in recs if r["status"] == "failed"]
    proc = subprocess.run([sys.executable, "-m", "winit_bench.cli", "run", "--resume", str(run), "--no-progress"], env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    keys = [r["key"] for r in _log(run)]
    assert keys[: len(recs)] == [r["key"] for r in recs] and len(keys) == len(set(keys)) == len(study.grid(_spec()))
    _assert_same_tables(reference, run, drop=("key",))


def test_the_local_cluster_serves_no_dashboard():
    executor = DaskExecutor(workers=1)
    try:
        scheduler = executor.cluster.scheduler  # Dask always runs an HTTP server; it must serve nothing, on loopback
        host, port = scheduler.http_server.address, scheduler.http_server.port
        assert host == "127.0.0.1" and port != 8787
        import urllib.error
        import urllib.request

        for route in ("/status", "/info/main/workers.html", "/health"):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=5)
            assert info.value.code == 404
    finally:
        executor.close()


def test_the_driver_of_a_cluster_run_loads_no_backend(cluster, reference, tmp_path):
    """The driver's own $WINIT_BENCH_BACKEND names a backend it cannot load (no CUDA here); the workers run numpy."""
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "winit_bench", "run", *CLI_TINY, "--scheduler", cluster.scheduler_address, "--out", str(run)],
                          env={**ENV, "WINIT_BENCH_BACKEND": "cupy"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert all(r["backend"] == "numpy" for r in _log(run))
    _assert_same_tables(reference, run, drop=("key",))
