"""The answer per activation on constructed tables: usable depth, ties, NaN, nothing stable, nothing measured."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from winit_bench import study
from winit_bench.study import ratios
from winit_bench.study.recommend import pick, recommendations

ORDER = ("zeros", "constant", "lecun_normal", "he_normal", "he_uniform", "orthogonal", "edge_of_chaos")


def stab_row(init, depth, act="relu", width=256, status="ok", worst=0.5):
    ok = status == "ok"
    return dict(activation=act, initializer=init, width=width, status=status, reason="" if ok else "why", seeds=2 if ok else math.nan,
                usable_depth=depth if ok else math.nan, max_abs_log2_forward=worst if ok else math.nan,
                max_abs_log2_backward=worst / 2 if ok else math.nan, tolerance_forward_log2=1.5, tolerance_backward_log2=1.5,
                forward_bits_per_layer=-0.01, backward_bits_per_layer=0.01, stable=depth == 64 if ok else math.nan)


def train_row(init, acc, low, high, verdict, act="relu"):
    return dict(initializer=init, activation=act, depth=16, seeds=3, finished=3, diverged=0, failed=0, test_accuracy=acc,
                ci_low=low, ci_high=high, verdict=verdict, reason="")


def frames(stab, train=()):
    return pd.DataFrame(stab), pd.DataFrame(list(train), columns=list(train_row("x", 0, 0, 0, "").keys()))


def test_nothing_holds_to_the_deepest_depth_the_best_still_carries_furthest():
    s, t = frames([stab_row("lecun_normal", 3), stab_row("he_normal", 23), stab_row("orthogonal", 7)])
    best, also, note = pick(s, t, "relu", 256, ORDER)
    assert best["initializer"] == "he_normal" and best["usable_depth"] == 23 and also == [] and note == ""


def test_ties_in_depth_go_to_the_verdict_then_the_interval_then_accuracy_then_drift_then_order():
    s, t = frames([stab_row(i, 64) for i in ("lecun_normal", "he_normal", "he_uniform", "orthogonal")],
                  [train_row("lecun_normal", 0.97, 0.70, 0.99, "unclear"), train_row("he_normal", 0.95, 0.82, 0.99, "trains"),
                   train_row("he_uniform", 0.90, 0.86, 0.94, "trains"), train_row("orthogonal", 0.99, 0.98, 1.0, "fails")])
    best, also, _ = pick(s, t, "relu", 256, ORDER)
    assert best["initializer"] == "he_uniform"  # trains, with the higher low end (not the higher mean: he_normal's, lecun's)
    assert also == ["he_normal", "lecun_normal", "orthogonal"]
    # equal intervals: the higher mean; equal means: the smaller worst ratio; all equal: the grid's order
    s, t = frames([stab_row("he_normal", 64, worst=0.9), stab_row("he_uniform", 64, worst=0.2)],
                  [train_row("he_normal", 0.92, 0.85, 0.99, "trains"), train_row("he_uniform", 0.90, 0.85, 0.95, "trains")])
    assert pick(s, t, "relu", 256, ORDER)[0]["initializer"] == "he_normal"
    t = frames([], [train_row(i, 0.9, 0.85, 0.95, "trains") for i in ("he_normal", "he_uniform")])[1]
    assert pick(s, t, "relu", 256, ORDER)[0]["initializer"] == "he_uniform"
    s, _ = frames([stab_row("he_uniform", 64), stab_row("he_normal", 64)])
    assert pick(s, t, "relu", 256, ORDER)[0]["initializer"] == "he_normal"


def test_nan_untrained_and_unmeasured_rows():
    # untrained (no trainability row: NaN) ranks after trained at equal depth, but before one that fails
    s, t = frames([stab_row("lecun_normal", 64), stab_row("he_normal", 64), stab_row("orthogonal", 64)],
                  [train_row("he_normal", 0.5, 0.4, 0.6, "fails"), train_row("orthogonal", 0.85, 0.6, 0.99, "unclear")])
    best, also, _ = pick(s, t, "relu", 256, ORDER)
    assert best["initializer"] == "orthogonal" and also == ["lecun_normal", "he_normal"] and math.isnan(pick(s, t.iloc[:0], "relu", 256, ORDER)[0]["ci_low"])
    # a NaN usable depth (failed, diverged, not run) is never a candidate, however the others fare
    s, t = frames([stab_row("he_normal", 64, status="diverged"), stab_row("lecun_normal", 2), stab_row("orthogonal", 64, status="not run")])
    assert pick(s, t, "relu", 256, ORDER)[0]["initializer"] == "lecun_normal"
    # deeper but failing training still wins on depth, and the note says so
    s, t = frames([stab_row("he_normal", 64), stab_row("lecun_normal", 5)], [train_row("he_normal", 0.3, 0.2, 0.4, "fails")])
    best, _, note = pick(s, t, "relu", 256, ORDER)
    assert best["initializer"] == "he_normal" and "fails the trainability check, as does every trained initializer" in note


def test_symmetric_initializers_are_never_chosen_and_no_candidate_still_gives_a_row():
    s, t = frames([stab_row("constant", 64), stab_row("zeros", 64), stab_row("lecun_normal", 1)])
    assert pick(s, t, "relu", 256, ORDER)[0]["initializer"] == "lecun_normal"
    s, t = frames([stab_row("constant", 64), stab_row("he_normal", 64, status="failed")])
    best, also, note = pick(s, t, "relu", 256, ORDER)
    assert best is None and also == [] and "no initializer was measured for relu at width 256" in note
    spec = study.make_spec("quick", initializers=["constant", "he_normal"], activations=["relu", "tanh"], depths=[64], widths=[256])
    rec = recommendations(dict(spec=spec, stability=s, variance=pd.DataFrame(), trainability=t))
    assert list(rec.activation) == ["relu", "tanh"]  # every activation of the grid has its row
    assert list(rec.best) == ["(none)", "(none)"] and all(n.startswith("no initializer was measured") for n in rec.note)


def test_recommendations_carry_the_widths_and_theory():
    spec = study.make_spec("quick", initializers=["he_normal", "lecun_normal"], activations=["relu"], depths=[64], widths=[256, 1024])
    s = pd.DataFrame([stab_row("he_normal", 40), stab_row("he_normal", 64, width=1024), stab_row("lecun_normal", 3),
                      stab_row("lecun_normal", 2, width=1024)])
    rec = recommendations(dict(spec=spec, stability=s, variance=pd.DataFrame(), trainability=frames([])[1])).iloc[0]
    assert (rec.best, rec.width, rec.usable_depth, rec.wide_width, rec.usable_depth_wide) == ("he_normal", 256, 40, 1024, 64)
    assert rec.note.startswith("nothing in the grid holds to depth 64: the best carries 40 layers")
    assert rec.sigma_w2 == pytest.approx(2.0) and rec.chi1 == pytest.approx(1.0) and rec.xi_grad == math.inf and rec.trainability == "not run"


def test_usable_depth_on_constructed_ratios():
    tol = np.full(6, 1.0)
    assert ratios.usable_depth(np.zeros(6), np.zeros(6), tol, tol) == 6
    assert ratios.usable_depth(np.array([0, 0.5, 0.9, 1.2, 0.1, 0]), np.zeros(6), tol, tol) == 3  # the first breach, at 4
    assert ratios.usable_depth(np.zeros(6), np.array([0, 0, -0.5, -1.01, 0, 0]), tol, tol) == 3
    assert ratios.usable_depth(np.array([0, 0.2, np.nan, 0, 0, 0]), np.zeros(6), tol, tol) == 2  # not finite breaks it
    assert ratios.usable_depth(np.array([np.nan] * 6), np.zeros(6), tol, tol) == 0
    assert ratios.usable_depth(np.array([0, 1.9, 0, 0, 0, 0]), np.zeros(6), tol, np.full(6, 2.0)) == 1
    wide = ratios.tolerance((5.0, 44.0), 256, 2, np.arange(64))
    assert wide[0] == 1.0 and wide[-1] == pytest.approx(1 + 2 * math.sqrt((5 / 256 + 18.5 / 256**2) * 63 / 2) / math.log(2))  # ReLU, second order


def test_ratio_series_definitions():
    var = pd.DataFrame(dict(initializer="a", activation="relu", width=8, seed=0, layer=[3, 1, 2, 4],
                            q_z=[4.0, 1.0, 2.0, 8.0], q_delta=[0.5, 4.0, 1.0, 7.0], q_z_pred=[1.0] * 4, q_delta_pred=[1.0] * 4))
    (key, r), = ratios.configurations(var)
    assert key == ("a", "relu", 8, 0)
    np.testing.assert_allclose(r["forward"], [0, 1, 2, 3])
    # B(d) = log2 q_delta[1]/q_delta[d-1]; 0 for d <= 2
    np.testing.assert_allclose(r["backward"], [0, 0, 2, np.log2(4 / 0.5)])
    np.testing.assert_allclose(r["theory_forward"], 0)


def test_seed_means_keep_nan():
    """A seed without a finite ratio at some depth makes the mean there NaN (not the other seeds' mean)."""
    base = dict(initializer="a", activation="relu", width=8, layer=[1, 2, 3])
    var = pd.DataFrame([{**base, "seed": 0, "q_z": [1.0, 2.0, 4.0], "q_delta": [1.0, 1.0, 1.0]},
                        {**base, "seed": 1, "q_z": [1.0, 0.0, 0.0], "q_delta": [1.0, 1.0, 1.0]}]).explode(["layer", "q_z", "q_delta"])
    var = var.astype({"layer": int, "q_z": float, "q_delta": float})
    m = ratios.seed_means(var)[("a", "relu", 8)]
    assert m.attrs["seeds"] == 2 and m.forward.iloc[0] == 0 and m.forward.iloc[1] == -np.inf  # (1 + -inf) / 2
    var.loc[(var.seed == 1) & (var.layer == 1), "q_z"] = 0.0  # 0/0 from layer 1 on
    m = ratios.seed_means(var)[("a", "relu", 8)]
    assert m.forward.isna().all() and (m.backward == 0).all()


def test_an_activation_left_out_of_training_says_so():
    """--activations beyond the profile's train activations: the row is chosen by depth alone and says why it has no verdict."""
    spec = study.make_spec("quick", initializers=["he_normal"], activations=["relu", "hard_tanh"], depths=[8], widths=[256])
    assert "relu" in spec.train_activations and "hard_tanh" not in spec.train_activations
    s = pd.DataFrame([stab_row("he_normal", 8, act=a) for a in ("relu", "hard_tanh")])
    rec = recommendations(dict(spec=spec, stability=s, variance=pd.DataFrame(), trainability=frames([])[1])).set_index("activation")
    assert rec.at["hard_tanh", "trainability"] == "not run" and "not trained: this run trains relu" in rec.at["hard_tanh", "note"]
    assert "not trained" not in rec.at["relu", "note"]
