"""The run folder never loses or overwrites anything, through the command line.

Each test runs ``winit-bench`` in a subprocess, as a user would, and checks the exit status, the
one line on stderr and what is (or is not) on disk afterwards.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from winit_bench import study

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

GRID = ["--profile", "quick", "--initializers", "he_normal,lecun_normal", "--activations", "relu,tanh", "--depths", "2,3",
        "--widths", "8", "--seeds", "0", "--threads", "1", "--no-progress"]
ENV = {**os.environ, "MPLBACKEND": "Agg", "WINIT_BENCH_BACKEND": "numpy"}


def cli(*args, env=None, umask=None, timeout=180):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([sys.executable, "-m", "winit_bench.cli", *map(str, args)], env={**ENV, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=pre)


def one_error_line(proc, *words):
    """Exit 2 and exactly one line on stderr, naming each of ``words``; no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("winit-bench: error:"), proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = cli("run", *GRID, "--out", out, umask=0o022)
    assert proc.returncode == 0, proc.stderr
    return out


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in (".lock",)}


def test_files_get_the_permissions_of_the_umask(finished):
    for name in ("report.md", "run.json", "tables/variance.csv", "plots/heatmap.png"):
        assert stat.S_IMODE((finished / name).stat().st_mode) == 0o644, name


def test_out_into_a_users_folder_is_refused_and_nothing_is_written(tmp_path):
    mine = tmp_path / "mine"
    (mine / "tables").mkdir(parents=True)
    (mine / "report.md").write_text("my notes")
    (mine / "tables" / "train.csv").write_text("a,b\n1,2\n")
    before = snapshot(mine)
    one_error_line(cli("run", *GRID, "--out", mine), "not empty", str(mine))
    assert snapshot(mine) == before and not (mine / ".lock").exists()


def test_out_into_an_existing_run_is_refused(finished):
    before = snapshot(finished)
    one_error_line(cli("run", *GRID, "--out", finished), "already holds a run", "--resume")
    assert snapshot(finished) == before


def test_a_second_writer_is_refused_with_the_holder(finished):
    holder = study.RunFolder.open(finished).lock()
    try:
        one_error_line(cli("run", "--resume", finished, "--no-progress"), "in use by", f"pid {os.getpid()}")
        one_error_line(cli("report", finished), "in use by")
    finally:
        holder.unlock()


def test_a_killed_holders_lock_is_taken_over(finished):
    code = f"from winit_bench import study; import os; study.RunFolder.open({str(finished)!r}).lock(); os._exit(9)"
    assert subprocess.run([sys.executable, "-c", code], env=ENV, timeout=60).returncode == 9
    assert (finished / ".lock.holder").exists()  # the killed process left its note behind
    proc = cli("report", finished)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture()
def copy_of(finished, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(finished, dst)
    return dst


def test_report_with_a_missing_log_keeps_the_tables(copy_of):
    (copy_of / study.LOG_NAME).unlink()
    tables = snapshot(copy_of / "tables")
    one_error_line(cli("report", copy_of), study.LOG_NAME, "missing")
    assert snapshot(copy_of / "tables") == tables


def test_report_with_a_truncated_log_keeps_the_tables(copy_of):
    log = copy_of / study.LOG_NAME
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:3]))
    tables = snapshot(copy_of / "tables")
    one_error_line(cli("report", copy_of), study.LOG_NAME, "truncated")
    assert snapshot(copy_of / "tables") == tables


def test_report_with_a_torn_log_says_so(copy_of):
    with open(copy_of / study.LOG_NAME, "a") as f:
        f.write('{"key": "variance|')
    one_error_line(cli("report", copy_of), study.LOG_NAME, "torn")


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


CORRUPTIONS = {
    "garbage run.json": (study.SPEC_NAME, lambda d: (d / study.SPEC_NAME).write_text("{not json")),
    "run.json without spec": (study.SPEC_NAME, lambda d: _edit_json(d / study.SPEC_NAME, lambda m: m.pop("spec"))),
    "sessions null": (study.SPEC_NAME, lambda d: _edit_json(d / study.SPEC_NAME, lambda m: m.update(sessions=None))),
    "spec with a wrong type": (study.SPEC_NAME, lambda d: _edit_json(d / study.SPEC_NAME, lambda m: m["spec"].update(widths="8"))),
    "log line without key": (study.LOG_NAME, lambda d: (d / study.LOG_NAME).write_text(
        (d / study.LOG_NAME).read_text().replace('"key": ', '"kee": ', 1))),
    "rows as a string": (study.LOG_NAME, lambda d: (d / study.LOG_NAME).write_text(
        (d / study.LOG_NAME).read_text().replace('"rows": [', '"rows": "x", "was": [', 1))),
    "log line not JSON": (study.LOG_NAME, lambda d: (d / study.LOG_NAME).write_text("garbage\n" + (d / study.LOG_NAME).read_text())),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
@pytest.mark.parametrize("command", ["report", "resume"])
def test_a_corrupted_run_folder_is_one_line_naming_the_file(copy_of, case, command):
    name, corrupt = CORRUPTIONS[case]
    corrupt(copy_of)
    tables = snapshot(copy_of / "tables")
    proc = cli("report", copy_of) if command == "report" else cli("run", "--resume", copy_of, "--no-progress")
    one_error_line(proc, name)
    assert snapshot(copy_of / "tables") == tables


def test_resume_with_another_grid_is_refused(finished):
    before = snapshot(finished)
    one_error_line(cli("run", "--resume", finished, "--widths", "16", "--no-progress"), "--widths 16", "the run has 8")
    one_error_line(cli("run", "--resume", finished, "--activations", "relu", "--no-progress"), "--activations relu")
    assert snapshot(finished) == before
    proc = cli("run", "--resume", finished, "--widths", "8", "--no-progress")  # the same grid: fine
    assert proc.returncode == 0, proc.stderr


def test_resume_clears_temporaries_and_sums_the_sessions(tmp_path):
    run = tmp_path / "run"
    killed = cli("run", *GRID, "--out", run, env={study.CRASH_ENV: "4"})
    assert killed.returncode == 137
    stray = run / "plots"
    stray.mkdir(exist_ok=True)
    (stray / ".tmp-backprop.png.x1y2.png").write_bytes(b"half a png")
    proc = cli("run", "--resume", run, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert not list(run.rglob(".tmp-*"))
    meta = json.loads((run / study.SPEC_NAME).read_text())
    records = [json.loads(line) for line in (run / study.LOG_NAME).read_text().splitlines()]
    assert len(meta["sessions"]) == 2 and meta["sessions"][0]["wall_s"] is None
    assert {r["session"] for r in records} == {0, 1}
    # the killed session counts up to its last record: elapsed covers every configuration's own time
    assert meta["elapsed_s"] >= sum(r["elapsed_s"] for r in records) > 0
    first = [r for r in records if r["session"] == 0]
    assert meta["elapsed_s"] >= meta["sessions"][1]["wall_s"] + max(r["finished_unix"] for r in first) - meta["sessions"][0]["started_unix"] - 1e-6
    assert "over 2 session(s)" in (run / "report.md").read_text()


def test_a_failed_start_leaves_no_folder(tmp_path):
    run = tmp_path / "never"
    proc = cli("run", *GRID, "--out", run, "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert proc.returncode == 2 and "cannot reach" in proc.stderr, proc.stderr
    assert not run.exists()


def test_report_never_shrinks_after_a_complete_run(finished):
    counts = {p.name: len(pd.read_csv(p)) for p in (finished / "tables").glob("*.csv")}
    assert cli("report", finished).returncode == 0
    assert {p.name: len(pd.read_csv(p)) for p in (finished / "tables").glob("*.csv")} == counts


def test_a_grid_too_large_for_memory_is_refused_before_anything_is_written(tmp_path):
    run = tmp_path / "huge"
    one_error_line(cli("run", "--widths", "1000000000", "--out", run), "width 1000000000", "need", "available here")
    assert not run.exists()
