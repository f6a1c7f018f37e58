"""The command line itself: which errors are the user's, commands that need no engine, --version,
``python -m winit_bench``, help on every argument, one dtype default."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

import winit_bench as wb
from winit_bench import cli

ASV_RESULT = {
    "version": 2, "commit_hash": "abc123", "env_name": "existing-py", "date": 1700000000000, "python": "3.11",
    "env_vars": {}, "params": {"machine": "box"}, "result_columns": ["result", "params"],
    "results": {"bench_init.TimeInit.time_draw": [[0.01, 0.04], [["'relu'", "'tanh'"]]]},
}  # fmt: skip


def _cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "winit_bench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)  # fmt: skip


def _asv_dir(root, text=None):
    (root / "box").mkdir(parents=True)
    (root / "box" / "abc123-existing-py.json").write_text(text if text is not None else json.dumps(ASV_RESULT))
    return root


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("winit-bench: error: "), err
    return lines[0]


@pytest.mark.parametrize("value", ["cupy", "bogus"])
def test_commands_without_an_engine_ignore_the_backend_variable(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WINIT_BENCH_BACKEND", value)
    assert cli.main(["init", "he_normal", "--shape", "8", "4"]) == 0
    assert cli.main(["report", str(_asv_dir(tmp_path / "asv")), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.md").exists()
    assert cli.main(["backends"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    default = out.strip().splitlines()[-1]
    reason = wb.available_backends()["cupy"]
    if value == "bogus":
        assert default.startswith("default: none: $WINIT_BENCH_BACKEND='bogus' is invalid (valid: numpy, numba, cupy)")
    elif reason is None:
        assert default == "default: cupy (from $WINIT_BENCH_BACKEND)"
    else:
        assert default.startswith("default: cupy (from $WINIT_BENCH_BACKEND), unusable here")
        assert f"cupy      unusable   {reason}" in out


def test_backends_in_a_subprocess_says_the_variable_is_invalid():
    res = _cli("backends", env={"WINIT_BENCH_BACKEND": "bogus"})
    assert res.returncode == 0 and res.stderr == ""
    assert "numpy     usable" in res.stdout and "$WINIT_BENCH_BACKEND='bogus' is invalid" in res.stdout


def test_version_and_python_m(capsys):
    res = _cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"winit-bench {importlib.metadata.version('winit_bench')}"
    res = _cli("init", "xavier_uniform", "--shape", "6", "5", "--seed", "3")
    assert cli.main(["init", "xavier_uniform", "--shape", "6", "5", "--seed", "3"]) == 0
    assert res.returncode == 0 and res.stdout == capsys.readouterr().out
    res = _cli()
    assert res.returncode == 2 and res.stderr.startswith("usage: winit-bench")


def _actions(parser: argparse.ArgumentParser, path: str = "winit-bench"):
    for action in parser._actions:
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield path, choice
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")


def test_every_argument_of_every_command_has_help():
    actions = list(_actions(cli.build_parser()))
    assert len(actions) > 30
    missing = [f"{path} {a.dest}" for path, a in actions if not (a.help or "").strip() or a.help == argparse.SUPPRESS]
    assert missing == []


def test_one_dtype_default_everywhere():
    parser = cli.build_parser()
    init = parser.parse_args(["init", "he_normal", "--shape", "2", "2"])
    run = parser.parse_args(["run"])  # None: a new run takes the spec's default, a resumed one keeps its own
    from winit_bench import study

    assert init.dtype == study.make_spec("default", dtype=run.dtype).dtype == cli.DTYPE == "float32"
    with pytest.raises(SystemExit):
        parser.parse_args(["init", "--help"])


def test_init_reports_the_default_dtype(capsys):
    assert cli.main(["init", "he_normal", "--shape", "8", "4"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "he_normal 8x4 (float32, seed 0)"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["init", "he_normall", "--shape", "4", "4"], "unknown initializer 'he_normall'"),
        (["init", "he_normal", "--shape", "0", "4"], "shape must have positive dimensions"),
        (["init", "he_normal", "--shape", "4", "4", "--dtype", "float16"], "float16"),
        (["init", "he_normal", "--shape", "4", "4", "--activation", "reluu"], "unknown activation 'reluu'"),
        (["perf", "--backends", " , "], "--backends must name at least one backend"),
        (["run", "--workers", "0"], "--workers must be a positive integer, got 0"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(argv, words, capsys):
    assert cli.main(argv) == 2
    assert words in _one_error_line(capsys.readouterr().err)


def test_empty_scheduler_address_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--scheduler", " "])
    assert exit_.value.code == 2 and "scheduler address is empty" in capsys.readouterr().err


def test_report_on_a_folder_of_unreadable_asv_files_is_one_line_and_exit_2(tmp_path):
    root = _asv_dir(tmp_path / "asv", text='{"results": {"x": [[1')
    res = _cli("report", str(root), "--out", str(tmp_path / "rep"))
    assert res.returncode == 2 and res.stdout == ""
    assert f"none of the 1 asv result files under '{root}' can be read" in _one_error_line(res.stderr)
    assert not (tmp_path / "rep").exists()


def _boom(*args, **kwargs):
    raise ValueError("Invalid shape (0,) for image data")


@pytest.mark.parametrize("target, argv", [
    ("winit_bench.asv_report.build_asv_report", ["report", "{asv}"]),
    ("winit_bench.init_report.weight_moments", ["init", "he_normal", "--shape", "4", "4"]),
])  # fmt: skip
def test_an_internal_bug_keeps_its_traceback_and_asks_for_a_report(target, argv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(target, _boom)
    asv = _asv_dir(tmp_path / "asv")
    assert cli.main([a.format(asv=asv) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError: Invalid shape (0,) for image data" in err
    assert "winit-bench: error:" not in err
    assert err.strip().splitlines()[-1].startswith("winit-bench: internal error: this is a bug in winit-bench")
