"""A real quick run answers for every activation; an efficiency above 1 never appears without its note."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from winit_bench import cli
from winit_bench.study import DEFAULT_ACTIVATIONS
from winit_bench.study.kinds.throughput import efficiency_note

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick") / "run"
    assert cli.main(["run", "--profile", "quick", "--no-progress", "--out", str(out)]) == 0
    return out


def test_every_activation_has_an_answer(quick):
    rec = pd.read_csv(quick / "tables" / "recommendations.csv")
    assert list(rec.activation) == list(DEFAULT_ACTIVATIONS)
    stab = pd.read_csv(quick / "tables" / "stability.csv")
    for r in rec.itertuples():
        assert isinstance(r.best, str) and r.best and r.best != "(none)", r
        assert r.usable_depth >= 1 and r.usable_depth <= r.max_depth, r
        s = stab[(stab.activation == r.activation) & (stab.initializer == r.best) & (stab.width == r.width)]
        assert len(s) == 1 and s.status.iloc[0] == "ok" and s.usable_depth.iloc[0] == r.usable_depth
        assert math.isfinite(r.forward_bits_per_layer) and math.isfinite(r.backward_bits_per_layer)
    report = (quick / "report.md").read_text()
    answer = report.split("## Recommendations")[1].split("##")[0]
    for r in rec.itertuples():
        assert f"| {r.activation} | {r.best} |" in answer
    assert "**Left out of the grid by design:** kumar_normal × selu" in answer
    left = stab[stab.status == "left out"]
    assert set(zip(left.initializer, left.activation)) == {("kumar_normal", "selu")}
    assert not (stab.status == "not run").any()  # quick has one width: every combination runs or is left out


def test_no_efficiency_above_one_without_its_note(quick):
    tp = pd.read_csv(quick / "tables" / "throughput.csv")
    report = (quick / "report.md").read_text()
    for r in tp.itertuples():
        note = r.note if isinstance(r.note, str) else ""
        assert (r.efficiency > 1) == bool(note), r
        if note:
            assert note in report  # beside the number, in the report's throughput table


def test_the_throughput_table_carries_the_note():
    from winit_bench import study

    row = dict(step_s=1.0, matmul_s=1.3, flops=1.0, engine_gflops=1.0, matmul_gflops=1.3, efficiency=1.3, samples_per_s=1.0,
               ratio_q25=1.2, ratio_q75=1.4, load_1min=3.0, fused_update=True)
    (got,) = study.BY_NAME["throughput"].table_rows(dict(width=8), dict(status="ok", rows=[row]))
    assert got["note"] == efficiency_note(row) and got["note"].startswith("above 1 beyond timing noise")
    (got,) = study.BY_NAME["throughput"].table_rows(dict(width=8), dict(status="ok", rows=[{**row, "efficiency": 0.9}]))
    assert got["note"] == ""


@pytest.mark.parametrize("eff, q25, q75, fused, words", [
    (0.95, 0.9, 1.0, True, None),
    (1.0, 0.9, 1.1, True, None),
    (1.04, 0.97, 1.08, True, "above 1 within timing noise (paired ratios 0.97-1.08"),
    (1.37, 1.2, 1.5, True, "above 1 beyond timing noise (paired ratios 1.20-1.50, load 2.5): the engine's update W -= δᵀa is one GEMM"),
    (1.37, 1.2, 1.5, False, "above 1 beyond timing noise (paired ratios 1.20-1.50, load 2.5): the engine's operands are still in cache"),
])
def test_efficiency_note(eff, q25, q75, fused, words):
    note = efficiency_note(dict(efficiency=eff, ratio_q25=q25, ratio_q75=q75, load_1min=2.5, fused_update=fused))
    assert (note == "") if words is None else note.startswith(words), note


def test_not_run_failed_and_diverged_are_distinct_and_nan_everywhere(tmp_path, monkeypatch):
    """A combination outside the grid is 'not run' with its reason; one that overflows is 'diverged' with the
    reason and NaN in every number; a training run that diverges is NaN with its error, and its verdict fails."""
    import dataclasses

    import winit_bench as wb
    from winit_bench import study

    spec = study.make_spec("quick", initializers=["he_normal", "ones"], activations=["relu"], depths=[2, 40], widths=[16, 32], seeds=[0, 1])
    spec = dataclasses.replace(spec, wide=32, wide_initializers=("ones",), train_initializers=("he_normal",), train_seeds=(0, 1, 2))
    real = study.BY_NAME["train"].run

    def train(p, cache):
        if p["seed"] == 1:
            raise wb.Diverged(7, float("nan"))
        return real(p, cache)

    monkeypatch.setattr(study.BY_NAME["train"], "run", train)
    out = study.run_study(spec, tmp_path / "run", progress=False)
    stab = pd.read_csv(out / "tables" / "stability.csv").set_index(["initializer", "width"])
    numbers = ["seeds", "usable_depth", "max_abs_log2_forward", "max_abs_log2_backward", "forward_bits_per_layer", "stable"]
    skipped = stab.loc[("he_normal", 32)]
    assert skipped.status == "not run" and "runs only ones at width >= 32" in skipped.reason and skipped[numbers].isna().all()
    for width in (16, 32):  # ones x relu overflows float32 at depth 40 (16^40 > 2^128): diverged, NaN everywhere, with the reason
        d = stab.loc[("ones", width)]
        assert d.status == "diverged" and "non-finite values" in d.reason and "overflow" in d.reason and d[numbers].isna().all()
    assert stab.loc[("he_normal", 16)].status == "ok"
    tr = pd.read_csv(out / "tables" / "train.csv")
    bad = tr[tr.seed == 1]
    assert (bad.status == "diverged").all() and bad.error.str.contains("diverged at step 7").all()
    assert bad[["initial_loss", "final_loss", "train_accuracy", "test_accuracy"]].isna().all().all()
    verdicts = pd.read_csv(out / "tables" / "trainability.csv")
    assert (verdicts.verdict == "fails").all() and verdicts.reason.str.startswith("diverged in 1 of 3 seeds").all()
    assert (verdicts.finished == 2).all() and (verdicts.diverged == 1).all()
    report = (out / "report.md").read_text()
    assert "**Not run** (1 combination: he_normal at width 32)" in report and "Not run is not failed" in report


@pytest.mark.parametrize("accs, diverged, failed, want", [
    ([0.90, 0.92, 0.94], [], [], ("trains", "")),
    ([0.70, 0.72, 0.74], [], [], ("fails", "the 95% interval lies below 0.8")),
    ([0.70, 0.95, 0.85], [], [], ("unclear", "the 95% interval contains 0.8")),
    ([0.95, 0.95], ["Diverged: at step 3"], [], ("fails", "diverged in 1 of 3 seeds: Diverged: at step 3")),
    ([0.95, 0.95], [], ["RuntimeError: x"], ("failed", "raised in 1 of 3 seeds: RuntimeError: x")),
    ([0.95], [], [], ("unclear", "one seed: no interval")),
    ([], [], [], ("not run", "no seed has finished (an incomplete run: --resume)")),
])
def test_trainability_verdict(accs, diverged, failed, want):
    from winit_bench.study.kinds.train import verdict

    mean, low, high, v, why = verdict(accs, diverged, failed, 0.8)
    assert (v, why) == want
    if len(accs) >= 2:  # the 95 % t interval: mean ± t_{0.975, n-1} s / sqrt(n)
        t = {2: 12.706204736174707, 3: 4.302652729911275}[len(accs)]
        half = t * np.std(accs, ddof=1) / math.sqrt(len(accs))
        assert (mean, low, high) == pytest.approx((np.mean(accs), np.mean(accs) - half, np.mean(accs) + half), rel=1e-9)
