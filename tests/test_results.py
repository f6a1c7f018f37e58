"""load_asv_results on hand-made asv result files, and one small real `asv run`."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from winit_bench.results import load_asv_results, parse_param

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b",
           "stats_q_25", "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]  # fmt: skip
NAN = float("nan")


def _write(path: Path, results: dict, *, commit="abcdef12", env="existing-py-WINIT_BENCH_BACKENDnumba", env_vars=None):
    path.mkdir(parents=True, exist_ok=True)
    data = {
        "commit_hash": commit + "0" * 32,
        "env_name": env,
        "date": 1_700_000_000_000,
        "params": {"machine": path.name, "python": "3.11"},
        "python": "3.11",
        "requirements": {},
        "env_vars": {"WINIT_BENCH_BACKEND": "numba"} if env_vars is None else env_vars,
        "result_columns": COLUMNS,
        "results": results,
        "durations": {},
        "version": 2,
    }
    file = path / f"{commit}-{env}.json"
    file.write_text(json.dumps(data))  # json writes NaN as NaN, as asv does
    return file


@pytest.fixture()
def results_dir(tmp_path):
    root = tmp_path / "results"
    bench = {
        "bench_init.Initialize.time_initialize": {
            "name": "bench_init.Initialize.time_initialize", "type": "time", "unit": "seconds",
            "param_names": ["initializer", "size"], "params": [["'he_normal'", "'zeros'"], ["64", "256"]],
        },
        "bench_training.Training.track_accuracy": {
            "name": "bench_training.Training.track_accuracy", "type": "track", "unit": "accuracy",
            "param_names": ["initializer", "activation", "depth"], "params": [["'he_normal'"], ["'tanh'", "'relu'"], ["3"]],
        },
        "version": 2,
    }  # fmt: skip
    root.mkdir()
    (root / "benchmarks.json").write_text(json.dumps(bench))
    machine = root / "box"
    _write(
        machine,
        {
            # 4 combinations, last parameter fastest: (he,64) (he,256) (zeros,64) (zeros,256)
            "bench_init.Initialize.time_initialize": [
                [0.001, 0.004, None, NAN],
                [["'he_normal'", "'zeros'"], ["64", "256"]],
                "v1", 1_700_000_000_000, 1.5,
                [0.0009, 0.0038, None, None], [0.0011, 0.0042, None, None],
                [0.00095, 0.0039, None, None], [0.00105, 0.0041, None, None],
            ],
            # trailing nulls dropped: only result and params
            "bench_training.Training.track_accuracy": [[0.9, 0.95], [["'he_normal'"], ["'tanh'", "'relu'"], ["3"]]],
            # a benchmark without parameters, not described in benchmarks.json
            "bench_other.peakmem_thing": [[1234.0], []],
            # a null result: every combination failed
            "bench_other.track_failed": [None, [["1", "2"]]],
        },
    )
    _write(machine, {"bench_other.peakmem_thing": [[99.0], []]}, commit="12345678", env="existing-py", env_vars={})
    return root


def test_parse_param():
    assert parse_param("'he_normal'") == "he_normal"
    assert parse_param("64") == 64 and isinstance(parse_param("64"), int)
    assert parse_param("None") is None
    assert parse_param("<function f>") == "<function f>"
    assert parse_param(3) == 3


def test_rows_values_and_params(results_dir):
    df = load_asv_results(results_dir)
    init = df[df.benchmark == "bench_init.Initialize.time_initialize"].reset_index(drop=True)
    assert len(init) == 4
    assert list(init.initializer) == ["he_normal", "he_normal", "zeros", "zeros"]
    assert list(init["size"]) == [64, 256, 64, 256] and init["size"].dtype == "Int64"
    assert list(init.status) == ["ok", "ok", "failed", "skipped"]
    assert init.value[0] == 0.001 and init.value[1] == 0.004 and math.isnan(init.value[2]) and math.isnan(init.value[3])
    assert init.ci_lo[0] == 0.0009 and init.ci_hi[1] == 0.0042 and init.q25[0] == 0.00095 and init.q75[1] == 0.0041
    assert (init.type == "time").all() and (init.unit == "seconds").all()
    assert (init.backend == "numba").all() and (init.machine == "box").all()
    assert init.commit[0].startswith("abcdef12") and init.python[0] == "3.11"
    assert init.date[0] == pd.Timestamp(1_700_000_000_000, unit="ms", tz="UTC")
    for col in ["benchmark", "type", "unit", "value", "ci_lo", "ci_hi", "q25", "q75", "status",
                "machine", "commit", "date", "env_name", "backend", "python"]:  # fmt: skip
        assert col in df.columns


def test_trailing_nulls_several_params_and_unparameterised(results_dir):
    df = load_asv_results(results_dir)
    acc = df[df.benchmark.str.endswith("track_accuracy")].reset_index(drop=True)
    assert list(acc.activation) == ["tanh", "relu"] and list(acc.depth) == [3, 3]
    assert list(acc.value) == [0.9, 0.95] and acc.ci_lo.isna().all() and (acc.unit == "accuracy").all()
    assert acc.initializer.isna().sum() == 0 and (acc.status == "ok").all()
    peak = df[df.benchmark == "bench_other.peakmem_thing"].sort_values("value")
    assert list(peak.value) == [99.0, 1234.0]
    assert list(peak.type) == ["peakmemory", "peakmemory"]  # guessed from the name
    assert list(peak.backend) == ["numpy", "numba"]  # no WINIT_BENCH_BACKEND in env_vars: numpy
    assert peak.initializer.isna().all()
    failed = df[df.benchmark == "bench_other.track_failed"]
    assert list(failed.status) == ["failed", "failed"] and list(failed.param1) == [1, 2]


def test_corrupt_file_warns_and_others_load(results_dir):
    bad = results_dir / "box" / "deadbeef-existing-py.json"
    bad.write_text('{"commit_hash": "deadbeef", "results": {"x": [[1.0')  # truncated
    with pytest.warns(UserWarning, match="deadbeef-existing-py.json"):
        df = load_asv_results(results_dir)
    assert len(df) == 4 + 2 + 2 + 2
    assert not df.commit.str.startswith("deadbeef").any()


def test_a_folder_of_unreadable_files_is_an_error_naming_it(results_dir, recwarn):
    for file in (results_dir / "box").glob("*.json"):
        file.write_text('{"results": {"x": [[1.0')  # truncated
    with pytest.raises(ValueError, match=f"none of the 2 asv result files under '{results_dir}' can be read"):
        load_asv_results(results_dir)
    assert not recwarn.list  # the error says it all: no warning per file before it


@pytest.mark.parametrize(
    "result, reason",
    [("fast", "non-numeric result (str): 'fast'"), ({"t": 1.0}, "non-numeric result (dict): {'t': 1.0}"),
     (True, "non-numeric result (bool): True"), ([0.5], "non-numeric result (list): [0.5]")],
)  # fmt: skip
def test_a_result_that_is_not_a_number_fails_with_the_reason(tmp_path, result, reason):
    _write(tmp_path / "box", {"bench.track_x": [[1.5, result, None], [["1", "2", "3"]], None, None, None, [True, 0.1, 0.2]]})
    df = load_asv_results(tmp_path)
    assert list(df.status) == ["ok", "failed", "failed"]
    assert df.reason[0] is None and df.reason[1] == reason and "null" in df.reason[2]
    assert df.value[0] == 1.5 and df.value[1:].isna().all()
    assert math.isnan(df.ci_lo[0]) and df.ci_lo[1] == 0.1  # a boolean statistic is not 1.0 either


def test_parameters_load_as_integers_categoricals_booleans(tmp_path):
    names = {"bench.time_a": ["initializer", "size"], "bench.time_b": ["fused"], "bench.time_c": ["lr"], "bench.time_d": ["mixed"]}
    (tmp_path / "benchmarks.json").write_text(json.dumps({k: {"param_names": v} for k, v in names.items()}))
    _write(tmp_path / "box", {
        "bench.time_a": [[1.0, 2.0, 3.0, 4.0], [["'relu'", "'tanh'"], ["64", "256"]]],
        "bench.time_b": [[5.0, 6.0], [["True", "False"]]],
        "bench.time_c": [[7.0, 8.0], [["0.5", "2"]]],
        "bench.time_d": [[9.0, 10.0], [["1", "'x'"]]],
    })  # fmt: skip
    df = load_asv_results(tmp_path)
    assert df.initializer.dtype == "category" and set(df.initializer.cat.categories) == {"relu", "tanh"}
    assert df["size"].dtype == "Int64" and df["fused"].dtype == "boolean" and df["lr"].dtype == "float64"
    assert df["mixed"].dtype == "object" and set(df["mixed"].dropna()) == {1, "x"}
    assert list(df["fused"].dropna()) == [True, False] and list(df["lr"].dropna()) == [0.5, 2.0]
    ok = df[df.initializer.notna()]
    table = ok.pivot_table(index="initializer", columns="size", values="value", observed=True)
    assert table.loc["tanh", 256] == 4.0 and table.shape == (2, 2)


def test_missing_or_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no asv results directory"):
        load_asv_results(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no asv result files"):
        load_asv_results(tmp_path / "empty")


def _asv():
    exe = shutil.which("asv", path=os.path.dirname(sys.executable)) or shutil.which("asv")
    return exe


@pytest.mark.skipif(_asv() is None, reason="asv is not installed (pip install 'winit_bench[bench]')")
def test_asv_check_and_tiny_run(tmp_path):
    asv = _asv()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(
        repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"),
    )  # fmt: skip
    conf["matrix"]["env"]["WINIT_BENCH_BACKEND"] = ["numpy"]
    conf_path = tmp_path / "asv.conf.json"
    conf_path.write_text(json.dumps(conf))
    env = dict(os.environ, HOME=str(tmp_path / "home"), WINIT_BENCH_PROFILE="quick", WINIT_BENCH_BACKEND="numpy")
    env.pop("PYTHONPATH", None)
    (tmp_path / "home").mkdir()

    def run(*args, timeout=40):
        proc = subprocess.run([asv, "--config", str(conf_path), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        assert proc.returncode == 0, f"asv {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    run("machine", "--yes", "--machine", "ci")
    out = run("check", "--python=same")
    assert "No problems found" in out or "Error" not in out
    run("run", "--python=same", "--quick", "--set-commit-hash", head.stdout.strip(), "--machine", "ci",
        "--bench", r"bench_init\.StandardNormal\.time_standard_normal")  # fmt: skip
    df = load_asv_results(tmp_path / "results")
    assert set(df.benchmark) == {"bench_init.StandardNormal.time_standard_normal"}
    assert (df.status == "ok").all() and (df.value > 0).all()
    assert set(df.dtype) == {"float32", "float64"} and df["size"].dtype == "Int64" and df["dtype"].dtype == "category"
    assert (df.backend == "any").all()  # backend-independent: measured in the numpy environment, loaded as any
    assert (df.machine == "ci").all() and (df.unit == "seconds").all()
    assert df.commit.iloc[0] == head.stdout.strip()


def test_a_run_folder_among_asv_results_is_never_read(results_dir, recwarn):
    run = results_dir / "run-20261206-101500"  # the layout before runs moved to results/runs
    run.mkdir()
    (run / "run.json").write_text('{"spec": {}}')
    (run / "configs.jsonl").write_text("")
    df = load_asv_results(results_dir)
    assert len(df) and not [w for w in recwarn if "run" in str(w.message)]
    assert "run-20261206-101500" not in set(df.machine.astype(str))


def test_asv_writes_where_the_loader_looks_by_default():
    import inspect
    import json

    conf = json.loads((ROOT / "asv.conf.json").read_text())
    default = inspect.signature(load_asv_results).parameters["path"].default
    assert conf["results_dir"] == default == "results/asv" and conf["html_dir"] == "results/html"


def test_backend_independent_results_load_as_backend_any(tmp_path):
    """``home_backend`` in benchmarks.json: the home environment's rows are backend ``any``; the
    other environments' skips keep their backend and say why; other benchmarks keep theirs."""
    bench = {
        "bench_init.Orthogonal.time_qr": {"type": "time", "unit": "seconds", "param_names": ["size"], "home_backend": "numpy"},
        "bench_throughput.Throughput.time_forward": {"type": "time", "unit": "seconds", "param_names": ["width"]},
    }
    (tmp_path / "benchmarks.json").write_text(json.dumps(bench))
    for backend, qr in (("numpy", [0.001, NAN]), ("numba", [NAN, NAN])):
        _write(tmp_path / "box", {"bench_init.Orthogonal.time_qr": [qr, [["64", "256"]]],
                                  "bench_throughput.Throughput.time_forward": [[0.5], [["128"]]]},
               env=f"existing-py-WINIT_BENCH_BACKEND{backend}", env_vars={"WINIT_BENCH_BACKEND": backend})  # fmt: skip
    df = load_asv_results(tmp_path)
    qr = df[df.benchmark.str.endswith("time_qr")].set_index(["env_name", "size"])
    home, other = "existing-py-WINIT_BENCH_BACKENDnumpy", "existing-py-WINIT_BENCH_BACKENDnumba"
    assert list(qr.loc[home].backend) == ["any", "any"] and list(qr.loc[home].status) == ["ok", "skipped"]
    assert "backend-independent" not in str(qr.loc[(home, 256), "reason"])  # skipped at home: another reason
    assert list(qr.loc[other].backend) == ["numba", "numba"] and (qr.loc[other].status == "skipped").all()
    assert qr.loc[other].reason.str.contains("backend-independent: measured in the numpy environment only").all()
    fwd = df[df.benchmark.str.endswith("time_forward")]
    assert sorted(fwd.backend) == ["numba", "numpy"]
    ok = df[df.status == "ok"]
    assert ok.pivot_table(index="benchmark", columns="backend", values="value", observed=True).shape == (2, 3)
