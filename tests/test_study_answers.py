"""A real quick run answers for every activation; an efficiency above 1 never appears without its note."""

from __future__ import annotations

import math

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
