"""The comparison harness of `winit-bench perf`: what it measures and how it forms its ratios (never timings)."""

import math
import os

import numpy as np
import pytest

from winit_bench import perf
from winit_bench.backends import cblas


def test_race_interleaves_and_reports_each_candidate_per_call():
    calls = {"a": 0, "b": 0}

    def count(name):
        def fn():
            calls[name] += 1

        return fn

    t = perf.race({"a": count("a"), "b": count("b")}, rounds=3, min_time=0.001)
    assert set(t) == {"a", "b"} and all(v > 0 and math.isfinite(v) for v in t.values())
    assert calls["a"] >= 3 and calls["b"] >= 3  # a warm-up, a calibration and every round ran each


def test_a_candidate_timed_elsewhere_reports_its_own_seconds():
    asked = []

    def remote():
        raise AssertionError("a candidate with timed() is never called directly")

    remote.timed = lambda n: asked.append(n) or 2e-3 * n
    t = perf.race({"remote": remote}, rounds=4, min_time=0.05)
    assert t["remote"] == pytest.approx(2e-3, rel=1e-12)
    assert asked[:4] == [1, 1, 2, 4] and len(asked) == 9  # warm-up, doubling to min_time / 5, four rounds
    assert set(asked[5:]) == {25}  # 4 calls took 8 ms, so 50 ms are 25 calls


def test_ratios_are_the_measured_times_divided():
    torch = lambda: None
    torch.timed = lambda n: 2e-3 * n
    row = perf.measure(perf.Case(3, 16, 8), ["numpy"], torch=torch, rounds=2)
    assert row["numpy_vs_gemm"] == pytest.approx(row["engine_numpy_ms"] / row["gemm_floor_ms"], rel=1e-12)
    assert row["torch_ms"] == pytest.approx(2.0, rel=1e-12)
    assert row["numpy_vs_torch"] == pytest.approx(row["engine_numpy_ms"] / 2.0, rel=1e-12)
    assert row["naive_vs_gemm"] == pytest.approx(row["naive_numpy_ms"] / row["gemm_floor_ms"], rel=1e-12)
    assert row["gemm_gflops"] == pytest.approx(perf.Case(3, 16, 8).flops / (row["gemm_floor_ms"] * 1e-3) / 1e9)


def test_case_flops_count_three_products_per_layer():
    case = perf.Case(depth=4, width=32, batch=8)
    assert case.sizes == [32] * 5
    assert case.flops == 2 * 3 * 8 * 4 * 32 * 32


@pytest.mark.parametrize("library", ["openblas", "mkl"])
def test_pytorch_gets_the_thread_count_of_the_blas_serving_the_engine(library, use_blas):
    """With MKL serving the engine NumPy's OpenBLAS runs on one thread; PyTorch must not be given that."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    real = threadpoolctl.threadpool_info
    if library == "mkl" and not cblas._mkl_paths():
        pytest.skip("the mkl extra is not installed")
    use_blas(library)
    cblas.load()
    info = threadpoolctl.threadpool_info()
    engine = os.path.realpath(cblas.handle()._name)
    wanted = [p["num_threads"] for p in info if os.path.realpath(p["filepath"]) == engine]
    if library == "mkl":
        numpy_openblas = [os.path.realpath(path) for path in cblas._numpy_blas_paths()]
        assert [p["num_threads"] for p in info if os.path.realpath(p["filepath"]) in numpy_openblas] == [1]
    for order in (info, info[::-1]):  # the order threadpoolctl lists the libraries in varies between processes
        threadpoolctl.threadpool_info = lambda order=order: order
        try:
            assert [perf.threads()] == wanted
        finally:
            threadpoolctl.threadpool_info = real


def test_memory_probe_reports_the_books_minimum():
    row = perf.memory_probe(depth=2, width=64, batch=16, dtype="float32", backend="numpy", steps=1)
    weights_and_biases = 2 * (64 * 64 + 64)
    needed = 4 * (2 * weights_and_biases + 16 * (64 + 64) + 2 * 16 * 64)  # params + grads, activations, X and Y
    assert row["minimum_bytes"] == needed and row["added_bytes"] >= 0


def test_perf_table_has_one_row_per_case():
    grid = [perf.Case(2, 16, 8), perf.Case(2, 32, 8)]
    table = perf.perf_table(["numpy"], grid, rounds=2)
    assert list(zip(table.depth, table.width, table.batch)) == [(2, 16, 8), (2, 32, 8)]
    assert np.isfinite(table.numpy_vs_gemm).all()


def _peers_module(monkeypatch):
    import importlib
    import pathlib
    import sys

    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[1]))
    monkeypatch.delitem(sys.modules, "benchmarks.bench_peers", raising=False)
    module = importlib.import_module("benchmarks.bench_peers")
    monkeypatch.setattr(sys.modules["benchmarks.common"], "pin_threads", lambda n: None)  # leave this process's threads alone
    return module


def test_peers_benchmark_is_skipped_without_torch(monkeypatch):
    import sys

    peers = _peers_module(monkeypatch)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    for cls in (peers.EngineVsTorch, peers.TorchStep):
        with pytest.raises(NotImplementedError, match=r"peers"):
            cls().setup("10x8x4", 1)


def test_peers_benchmark_ratio_is_engine_over_torch(monkeypatch):
    pytest.importorskip("torch")
    peers = _peers_module(monkeypatch)
    bench = peers.EngineVsTorch()
    bench.setup("3x16x8", 1)
    monkeypatch.setattr(perf, "race", lambda cands, rounds: {"engine": {"engine": 0.125}, "torch": {"torch": 0.5}}[next(iter(cands))])
    out = bench.track_ratio_to_torch("3x16x8", 1)
    assert out["samples"] and set(out["samples"]) == {0.25}  # engine 0.125 s over PyTorch 0.5 s, each round


def test_pytorch_process_times_steps_and_reports_its_end_in_one_line():
    pytest.importorskip("torch")
    case = perf.Case(2, 8, 4)
    with perf.TorchProcess(1) as peer:
        step = peer.step(case)
        assert perf.race({"torch": step}, rounds=2, min_time=0.01)["torch"] > 0
        peer._proc.kill()
        peer._proc.wait()
        with pytest.raises(ChildProcessError, match=r"^the PyTorch process stopped: [^\n]*$"):
            step.timed(3)


def test_gpu_numbers_are_recorded_with_the_device_name(tmp_path):
    import pandas as pd

    path = perf.record({"engine_cupy_ms": 1.5, "cupy_vs_gemm": 1.1}, {"backend": "cupy", "device": "NVIDIA H200 (SXM)"}, str(tmp_path))
    assert os.path.basename(path).startswith("perf-nvidia-h200-sxm-") and path.endswith(".csv")
    row = pd.read_csv(path).iloc[0]
    assert row["engine_cupy_ms"] == 1.5 and row["info_device"] == "NVIDIA H200 (SXM)"
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(path)]  # nothing half-written beside it


def test_cuda_torch_step_is_none_without_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    assert perf.cuda_torch_step(perf.Case(2, 8, 4)) is None


def test_pytorch_process_that_cannot_start_says_why_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no PyTorch in this test')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    with pytest.raises(ChildProcessError, match=r"^the PyTorch process stopped: ImportError: no PyTorch in this test$"):
        perf.TorchProcess(1)


def test_perf_command_with_a_broken_pytorch_fails_in_one_line_and_writes_nothing(tmp_path):
    import subprocess
    import sys

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('a broken PyTorch build')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "table.csv"
    run = subprocess.run([sys.executable, "-m", "winit_bench.cli", "perf", "--quick", "--backends", "numpy", "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 2 and not out.exists()
    assert run.stderr.strip() == "winit-bench: error: the PyTorch process stopped: ImportError: a broken PyTorch build"


@pytest.mark.parametrize("args, message", [
    (["--rounds", "0"], "winit-bench: error: --rounds must be a positive integer, got 0"),
    (["--out", "{blocker}/sub/table.csv"], "winit-bench: error: cannot write into folder '{blocker}/sub': Not a directory"),
])  # fmt: skip
def test_perf_command_rejects_bad_arguments_before_timing_anything(args, message, tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = [a.format(blocker=blocker) for a in args]
    run = subprocess.run([sys.executable, "-m", "winit_bench.cli", "perf", "--backends", "numpy", *args],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert run.returncode == 2 and run.stderr.strip() == message.format(blocker=blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # no results folder, no table
