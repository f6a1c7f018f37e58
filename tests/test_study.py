"""The study machinery: grid, atomic files, failures recorded, resume after a kill equals an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from winit_bench import study

TINY = dict(initializers=["lecun_normal", "he_normal", "ones"], activations=["relu", "tanh"], depths=[2, 3], widths=[8], seeds=[0, 1], threads=1)
CLI_TINY = ["--profile", "quick", "--initializers", "lecun_normal,he_normal,ones", "--activations", "relu,tanh", "--depths", "2,3",
            "--widths", "8", "--seeds", "0,1", "--threads", "1", "--no-progress"]
DETERMINISTIC = ("variance", "variance_by_depth", "train", "isometry", "stability", "recommendations", "failures")


def _spec():
    return study.make_spec("quick", **TINY)


def test_grid_keys_are_unique_and_stable():
    a, b = study.grid(_spec()), study.grid(_spec())
    assert [c.key for c in a] == [c.key for c in b]
    assert len({c.key for c in a}) == len(a)
    kinds = {c.kind for c in a}
    assert kinds == {"variance", "train", "isometry", "throughput"}


def test_spec_round_trips_through_json():
    spec = _spec()
    assert study.Spec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_aliases_are_canonical_and_unknown_names_rejected():
    assert study.canonical_initializers(["kaiming_normal", "he_normal"]) == ("he_normal",)
    with pytest.raises(ValueError, match="unknown initializer"):
        study.canonical_initializers(["nope"])
    with pytest.raises(ValueError, match="positive"):
        study.make_spec("quick", widths=[0])
    with pytest.raises(ValueError, match="unknown profile"):
        study.make_spec("huge")


def test_torn_last_line_is_dropped_on_resume_and_an_error_for_report(tmp_path):
    log = tmp_path / study.LOG_NAME
    (tmp_path / study.SPEC_NAME).write_text("{}")
    rec = {"key": "a", "kind": "variance", "status": "ok", "params": {}, "rows": []}
    log.write_text(json.dumps(rec) + "\n" + '{"key": "b", "sta')
    folder = study.RunFolder.open(tmp_path)
    assert set(folder.read_log(strict=False)) == {"a"}
    with pytest.raises(study.RunFolderError, match="torn"):
        folder.read_log()


def test_failures_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    import winit_bench as wb

    real_variance, real_train = study.BY_NAME["variance"].run, study.BY_NAME["train"].run

    def variance(p, cache):
        if p["initializer"] == "ones":
            raise wb.Diverged(0, float("nan"))
        return real_variance(p, cache)

    def train(p, cache):
        if p["activation"] == "tanh":
            raise RuntimeError("simulated crash")
        return real_train(p, cache)

    monkeypatch.setattr(study.BY_NAME["variance"], "run", variance)
    monkeypatch.setattr(study.BY_NAME["train"], "run", train)
    out = study.run_study(_spec(), tmp_path / "run", progress=False, report=False)
    tables = study.load_tables(out)
    fails = tables["failures"]
    v = fails[fails.kind == "variance"]
    assert len(v) == 4 and set(v.initializer) == {"ones"} and (v.status == "diverged").all()
    assert v.error.str.contains("diverged at step 0").all()
    t = fails[fails.kind == "train"]
    assert len(t) and (t.status == "failed").all() and t.error.str.contains("RuntimeError: simulated crash").all()
    assert set(tables["variance"].initializer) == {"lecun_normal", "he_normal"}
    assert tables["train"].status.isin(["ok", "failed"]).all()
    assert tables["complete"]


def test_resume_after_kill_redoes_nothing_and_equals_uninterrupted(tmp_path):
    ref = tmp_path / "ref"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "winit_bench.cli", "run", *CLI_TINY]
    assert subprocess.run([*cmd, "--out", str(ref)], env=env, capture_output=True, timeout=120).returncode == 0

    killed = tmp_path / "killed"
    proc = subprocess.run([*cmd, "--out", str(killed)], env={**env, study.CRASH_ENV: "5"}, capture_output=True, timeout=120)
    assert proc.returncode == 137  # died like a killed process: no tables, no report
    assert not (killed / "report.md").exists()
    before = (killed / study.LOG_NAME).read_text().splitlines()
    assert len(before) == 5
    # a kill mid-write leaves a torn line: resume must survive it
    with open(killed / study.LOG_NAME, "a") as f:
        f.write('{"key": "variance|torn')

    proc = subprocess.run([*cmd[:4], "--resume", str(killed), "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    after = (killed / study.LOG_NAME).read_text().splitlines()
    assert after[:5] == before  # finished configurations kept, byte for byte
    keys = [json.loads(l)["key"] for l in after]
    assert len(keys) == len(set(keys)) == len(study.grid(study.load_tables(killed)["spec"]))  # nothing redone
    meta = json.loads((killed / study.SPEC_NAME).read_text())
    assert len(meta["sessions"]) == 2 and meta["sessions"][1]["skipped"] == 5
    for name in DETERMINISTIC:
        a = pd.read_csv(ref / "tables" / f"{name}.csv")
        b = pd.read_csv(killed / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    assert (killed / "report.md").exists()
