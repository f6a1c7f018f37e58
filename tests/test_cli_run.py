"""``winit-bench run`` / ``report`` end to end on a tiny grid, and the one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from winit_bench import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("second_moment", "backprop", "heatmap", "isometry", "trainability", "throughput")
TINY = ["--profile", "quick", "--initializers", "he_normal,zeros,ones", "--activations", "relu,tanh",
        "--depths", "2,40", "--widths", "16", "--seeds", "0", "--threads", "1", "--no-progress"]


def run_cli(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    rc = cli.main(["run", *TINY, "--out", str(out)])
    assert rc == 0
    return out


def test_run_writes_tables_plots_and_report(tiny_run):
    for name in ("variance", "variance_by_depth", "train", "throughput", "failures", "recommendations", "stability"):
        assert (tiny_run / "tables" / f"{name}.csv").exists(), name
    var = pd.read_csv(tiny_run / "tables" / "variance.csv")
    # ones with relu explodes (16^40): recorded as failed; with tanh it saturates and is measured
    assert set(var.initializer) == {"he_normal", "zeros", "ones"}
    assert set(var[var.initializer == "ones"].activation) == {"tanh"}
    assert {"q_z", "q_delta", "layer"} <= set(var.columns)
    assert var.layer.max() == 40
    fails = pd.read_csv(tiny_run / "tables" / "failures.csv")
    assert len(fails) == 1 and fails.initializer[0] == "ones" and fails.activation[0] == "relu" and fails.status[0] == "diverged"
    assert fails.error.str.len().min() > 0
    report = (tiny_run / "report.md").read_text()
    assert report.lstrip().startswith("# winit-bench run")
    assert "## Recommendations" in report.split("![")[0]  # the recommendation table comes first
    assert "Elapsed" in report
    for plot in PLOTS:
        assert f"plots/{plot}.png" in report


def test_plots_are_valid_pngs(tiny_run):
    import matplotlib.image as mpimg

    pngs = sorted((tiny_run / "plots").glob("*.png"))
    assert sorted(p.stem for p in pngs) == sorted(PLOTS)
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50


def test_no_temporary_files_left(tiny_run):
    leftovers = [p for p in tiny_run.rglob("*") if (p.name.startswith(".") and p.name != ".lock") or p.suffix == ".tmp"]
    assert leftovers == []


def test_report_command_rebuilds_from_run_folder(tiny_run, tmp_path, capsys):
    rc, out, err = run_cli(["report", str(tiny_run), "--out", str(tmp_path / "rep")], capsys)
    assert rc == 0, err
    assert (tmp_path / "rep" / "report.md").exists()
    assert sorted(p.stem for p in (tmp_path / "rep" / "plots").glob("*.png")) == sorted(PLOTS)


def test_same_seeds_reproduce_the_same_numbers(tiny_run, tmp_path):
    again = tmp_path / "again"
    assert cli.main(["run", *TINY, "--out", str(again)]) == 0
    for name in ("variance", "variance_by_depth", "train", "stability"):
        a = pd.read_csv(tiny_run / "tables" / f"{name}.csv")
        b = pd.read_csv(again / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def _error_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--initializers", "he_normall"], "unknown initializer"),
        (["--activations", "reluu"], "unknown activation"),
        (["--backend", "tpu"], "unknown backend"),
        (["--depths", "0,4"], "depths must be positive"),
        (["--widths", "-3"], "widths must be positive"),
        (["--dtype", "float16"], "unknown dtype"),
    ],
)
def test_bad_input_is_one_line(extra, words, tmp_path, capsys):
    rc, out, err = run_cli(["run", "--profile", "quick", "--out", str(tmp_path / "x"), *extra], capsys)
    assert rc == 2
    line = _error_line(err)
    assert line.startswith("winit-bench: error:") and words in line
    assert not (tmp_path / "x").exists()


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    rc, out, err = run_cli(["run", *TINY, "--out", str(blocker / "run")], capsys)
    assert rc == 2
    assert "cannot write into folder" in _error_line(err)


def test_existing_run_folder_is_not_overwritten(tiny_run, capsys):
    rc, out, err = run_cli(["run", *TINY, "--out", str(tiny_run)], capsys)
    assert rc == 2 and "--resume" in _error_line(err)


@pytest.mark.parametrize("module, extra", [("matplotlib", "plot"), ("sklearn", "data")])
def test_missing_extra_names_it(module, extra, tmp_path, capsys, monkeypatch):
    for name in list(sys.modules):
        if name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as if not installed
    rc, out, err = run_cli(["run", *TINY, "--out", str(tmp_path / "x")], capsys)
    assert rc == 2
    assert f"winit_bench[{extra}]" in _error_line(err)


def test_report_on_missing_path(tmp_path, capsys):
    rc, out, err = run_cli(["report", str(tmp_path / "nope")], capsys)
    assert rc == 2 and "no such" in _error_line(err)


def test_console_script_runs_in_a_subprocess(tmp_path):
    out = tmp_path / "sub"
    proc = subprocess.run([sys.executable, "-m", "winit_bench.cli", "run", *TINY, "--initializers", "he_normal", "--activations", "tanh",
                           "--out", str(out)], capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().split()[0]).name == "report.md"


def test_report_summarises_asv_results(tmp_path, capsys):
    import json

    root = tmp_path / "asv"
    (root / "box").mkdir(parents=True)
    result = {
        "version": 2, "commit_hash": "abc123", "env_name": "existing-py", "date": 1700000000000, "python": "3.11",
        "env_vars": {"WINIT_BENCH_BACKEND": "numpy"}, "params": {"machine": "box"},
        "result_columns": ["result", "params"],
        "results": {
            "bench_engine.TimeTrainStep.time_step": [[0.01, 0.04, None, float("nan")], [["'relu'", "'tanh'"], ["64", "256"]]],
            "bench_init.TrackInit.track_std": [1.0],
        },
    }
    (root / "box" / "abc123-existing-py.json").write_text(json.dumps(result))
    out = tmp_path / "asv_report"
    rc, stdout, err = run_cli(["report", str(root), "--out", str(out)], capsys)
    assert rc == 0, err
    text = (out / "report.md").read_text()
    assert "bench_engine.TimeTrainStep.time_step" in text and "| benchmark |" in text
    assert (out / "asv_results.csv").exists()
