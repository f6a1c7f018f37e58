"""Every column of every table of a small ``winit-bench run``, held against values computed another way.

The run goes through the CLI and the tests read only ``tables/*.csv`` (and the documented
``configs.jsonl``), never the study's internals, so that they survive the study being rebuilt.
The independent values come from ``numpy_reference`` (a NumPy forward/backward pass and SGD
written from the documented formulas), the theory module's closed forms, and the definitions of
docs/run.md ("Reproducing the numbers", "What the derived columns mean"). Each table goes through a
:class:`Ledger`: a column that no check touched fails the test, so a new column needs a new check.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

import numpy_reference as ref
import winit_bench as wb
from winit_bench import cli
from winit_bench.diagnostics import TARGET_SPAWN_KEY
from winit_bench.theory import initializer_sigma_w2

INITS = ("he_normal", "kumar_normal", "lecun_normal")
# relu and leaky_relu: dead units and he_*'s slope; tanh and sigmoid: saturation and Kumar's 12.8;
# selu: kumar_normal refuses it (no derivative at 0), so the run has a failure to record
ACTS = ("relu", "leaky_relu", "tanh", "sigmoid", "selu")
DEPTHS, WIDTH, SEEDS = (4, 8), 32, (0, 1)
FAILING = {("kumar_normal", "selu")}
TABLES = {"variance", "variance_by_depth", "stability", "recommendations", "train", "throughput", "failures"}
ARGS = ["run", "--profile", "quick", "--backend", "numpy", "--dtype", "float64", "--threads", "1", "--no-progress",
        "--initializers", ",".join(INITS), "--activations", ",".join(ACTS), "--depths", ",".join(map(str, DEPTHS)),
        "--widths", str(WIDTH), "--seeds", ",".join(map(str, SEEDS))]
INPUT_SEED_OFFSET, BATCH_SPAWN_KEY, TRAIN_ACCURACY = 10_000, (0xB47C, 0xB47C), 0.8  # docs/run.md


class Ledger:
    """The checks of one table; :meth:`close` fails when a column was never checked."""

    def __init__(self, name: str, df: pd.DataFrame):
        self.name, self.df, self.done = name, df, set()

    def values(self, col: str, expected, *, rtol: float = 1e-9, atol=0.0) -> None:
        """Numbers (NaN where NaN is expected), ``|got - expected| <= atol + rtol |expected|``."""
        got, want = self.df[col].to_numpy(float), np.asarray(expected, float)
        with np.errstate(invalid="ignore"):
            ok = (np.abs(got - want) <= atol + rtol * np.abs(want)) | (got == want) | (np.isnan(got) & np.isnan(want))
        bad = np.flatnonzero(~ok)
        assert not bad.size, f"{self.name}.{col}: rows {bad[:5].tolist()} got {got[bad[:5]].tolist()}, expected {want[bad[:5]].tolist()}"
        self.done.add(col)

    def equal(self, col: str, expected) -> None:
        got = list(self.df[col])
        assert got == list(expected), f"{self.name}.{col}: {got} != {list(expected)}"
        self.done.add(col)

    def checked(self, *cols: str) -> None:
        """For columns checked by a custom assertion just before."""
        self.done.update(cols)

    def close(self) -> None:
        left = sorted(set(self.df.columns) - self.done)
        assert not left, f"{self.name}: columns with no check: {left} (add a check for each)"


# --------------------------------------------------------------------------- the run and the reference


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pins") / "run"
    assert cli.main([*ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def tables(run_dir):
    return {p.stem: pd.read_csv(p) for p in sorted((run_dir / "tables").glob("*.csv"))}


def variance_reference(init: str, act: str, seed: int, width: int, batch: int, depth: int, dtype: str) -> pd.DataFrame:
    """One row per layer of what the variance table must say for this configuration (docs/run.md)."""
    W = [wb.initialize(init, (width, width), seed=seed, layer=l, activation=act, dtype=dtype).astype(float) for l in range(depth)]
    X = np.random.default_rng(INPUT_SEED_OFFSET + seed).standard_normal((batch, width)).astype(dtype).astype(float)
    G = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=TARGET_SPAWN_KEY)).standard_normal((batch, width))
    zs, As = ref.forward(W, X, act)
    deltas, grads_w, grads_b = ref.backward(W, X, zs, As, 2.0 * G / G.size, act)  # MSE against Y = out - G
    rows = []
    for l in range(depth):
        hidden, z, a = l < depth - 1, zs[l], As[l]
        row = dict(layer=l + 1, fan_in=width, fan_out=width, sigma_w2=width * np.mean(W[l] ** 2), sigma_b2=0.0,
                   distinct_units=math.nan, effective_rank=math.nan)
        for name, x in (("z", z), ("a", a), ("delta", deltas[l]), ("grad_w", grads_w[l]), ("grad_b", grads_b[l])):
            row.update({f"mean_{name}": x.mean(), f"var_{name}": x.var(), f"q_{name}": np.mean(x * x)})
        row["dead_fraction"] = 1 - np.mean((z > 0).any(axis=0)) if hidden and act in ("relu", "leaky_relu") else math.nan
        lo, hi = ref.SIGMOID_BAND if act == "sigmoid" else (-ref.TANH_SATURATION, ref.TANH_SATURATION)
        row["saturated_fraction"] = np.mean((a < lo) | (a > hi)) if hidden and act in ("sigmoid", "tanh") else math.nan
        rows.append(row)
    df = pd.DataFrame(rows)
    df["q_z_pred"] = ref.qmap(act, df.sigma_w2.to_numpy(), np.mean(X * X))
    df["q_delta_pred"] = ref.chi_backward(act, df.sigma_w2.to_numpy(), df.q_z_pred.to_numpy(), df.q_delta.iloc[-1])
    return df.assign(log2_ratio_z=np.log2(df.q_z / df.q_z_pred), log2_ratio_delta=np.log2(df.q_delta / df.q_delta_pred))


@pytest.fixture(scope="module")
def expected_variance(tables):
    """variance.csv's rows recomputed, with its index."""
    var = tables["variance"]
    keys = ["initializer", "activation", "seed", "width", "batch", "net_depth", "dtype"]
    parts = []
    for (init, act, seed, width, batch, depth, dtype), g in var.groupby(keys, sort=False):
        if (init, act) in FAILING:  # rows that should not exist: test_variance_every_column says so
            part = pd.DataFrame(dict(layer=g.layer.to_numpy()))
        else:
            part = variance_reference(init, act, seed, width, batch, depth, dtype).set_index("layer").loc[g.layer].reset_index()
        parts.append(part.set_axis(g.index))
    return pd.concat(parts).loc[var.index]


def digits_split():
    """scikit-learn's digits, 25 % test by ``default_rng(0).permutation``, standardised on the training part."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    n_test = round(0.25 * len(y))
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0
    X = (X - mean) / std
    return X[train], y[train], X[test], y[test]


@pytest.fixture(scope="module")
def expected_train(tables):
    """train.csv's rows retrained in NumPy with the row's own settings, in its row order."""
    Xtr, ytr, Xte, yte = digits_split()
    rows = []
    for r in tables["train"].itertuples():
        sizes = [Xtr.shape[1]] + [r.width] * (r.depth - 1) + [10]
        W = [wb.initialize(r.initializer, (sizes[l + 1], sizes[l]), seed=r.seed, layer=l, activation=r.activation, dtype=r.dtype).astype(float)
             for l in range(r.depth)]
        rng = np.random.default_rng(np.random.SeedSequence(r.seed, spawn_key=BATCH_SPAWN_KEY))
        losses, biases = ref.train_softmax(W, Xtr, ytr, r.activation, steps=r.steps, batch=r.batch, lr=r.lr, rng=rng)
        logp_tr, logp_te = (ref.predict_log_proba(W, biases, X, r.activation) for X in (Xtr, Xte))
        rows.append(dict(initial_loss=losses[0], final_loss=-logp_tr[np.arange(len(ytr)), ytr].mean(),
                         train_accuracy=np.mean(logp_tr.argmax(axis=1) == ytr), test_accuracy=np.mean(logp_te.argmax(axis=1) == yte),
                         n_train=len(ytr), n_test=len(yte)))
    return pd.DataFrame(rows)


def _tri(v):
    """A CSV cell of a True/False/missing column."""
    if isinstance(v, float) and math.isnan(v):
        return None
    return {"True": True, "False": False}.get(v, v) if isinstance(v, str) else bool(v)


def _names(cell) -> list[str]:
    return [] if isinstance(cell, float) and math.isnan(cell) else [s for s in str(cell).split(", ") if s]


# --------------------------------------------------------------------------- the tables


def test_the_run_writes_exactly_the_tables_checked_here(tables):
    assert set(tables) == TABLES, "a new table needs its own every-column test here"


def test_variance_every_column(tables, expected_variance):
    var, exp = tables["variance"], expected_variance
    t = Ledger("variance", var)
    ran = sorted(set(zip(var.initializer, var.activation, var.seed)))
    assert ran == sorted(c for c in itertools.product(INITS, ACTS, SEEDS) if c[:2] not in FAILING)
    t.checked("initializer", "activation", "seed")
    t.equal("width", [WIDTH] * len(var))
    t.equal("net_depth", [max(DEPTHS)] * len(var))
    assert var.batch.nunique() == 1  # and the reproduction below, which uses it, agrees
    t.checked("batch")
    t.equal("dtype", ["float64"] * len(var))
    t.equal("backend", ["numpy"] * len(var))
    assert (var.groupby(["initializer", "activation", "seed"]).layer.apply(sorted) == [list(range(1, max(DEPTHS) + 1))] * len(ran)).all()
    t.checked("layer")
    for col in ("fan_in", "fan_out", "sigma_w2", "sigma_b2", "dead_fraction", "saturated_fraction", "distinct_units", "effective_rank"):
        t.values(col, exp[col], rtol=1e-12)
    for name in ("z", "a", "delta", "grad_w", "grad_b"):
        q = exp[f"q_{name}"]
        t.values(f"q_{name}", q, rtol=1e-9)
        t.values(f"var_{name}", exp[f"var_{name}"], rtol=1e-9, atol=1e-12 * q)
        if name in ("z", "a", "delta"):
            t.values(f"mean_{name}", exp[f"mean_{name}"], rtol=1e-9, atol=1e-12 * np.sqrt(q))
    for col in ("q_z_pred", "q_delta_pred"):
        t.values(col, exp[col], rtol=1e-8)
    for col in ("log2_ratio_z", "log2_ratio_delta"):
        t.values(col, exp[col], atol=1e-8)
    t.close()


def test_every_sigma_w2_is_the_initializers_for_its_own_activation(tables):
    """The realised ``n_in mean(W^2)`` against theory's σ_w² (and Kumar's 12.8 for sigmoid): a weight
    draw reused across activations (a cache key without the activation) gives ReLU's 2 instead."""
    var = tables["variance"]
    for (init, act), g in var.groupby(["initializer", "activation"]):
        if (init, act) in FAILING:
            continue
        want = initializer_sigma_w2(init, WIDTH, WIDTH, act)
        spread = want * math.sqrt(2.0 / WIDTH**2)  # sd of a mean of n^2 squared Gaussians
        got = g.sigma_w2.to_numpy()
        assert np.all(np.abs(got - want) <= 5 * spread), f"{init}/{act}: sigma_w2 {got.round(3).tolist()}, theory {want:.4g}"
    kumar_sigmoid = var[(var.initializer == "kumar_normal") & (var.activation == "sigmoid")].sigma_w2
    assert kumar_sigmoid.between(0.75 * 12.8, 1.25 * 12.8).all()
    # he_normal's gain for leaky_relu differs from ReLU's by 1e-4: only the exact draw tells them apart
    for seed in SEEDS:
        leaky = var[(var.initializer == "he_normal") & (var.activation == "leaky_relu") & (var.seed == seed)].sigma_w2.to_numpy()
        W = [wb.initialize("he_normal", (WIDTH, WIDTH), seed=seed, layer=l, activation="leaky_relu", dtype="float64") for l in range(len(leaky))]
        np.testing.assert_allclose(leaky, [WIDTH * np.mean(w * w) for w in W], rtol=1e-12)


def test_variance_by_depth_every_column(tables, expected_variance):
    var, by = tables["variance"], tables["variance_by_depth"]
    exp = var[["initializer", "activation", "width", "seed", "layer"]].assign(
        q_z=expected_variance.q_z, q_delta=expected_variance.q_delta, pz=expected_variance.q_z_pred, pd=expected_variance.q_delta_pred)
    rows = []
    for (init, act, width, seed), g in exp.groupby(["initializer", "activation", "width", "seed"], sort=False):
        g = g.set_index("layer")
        L = g.index.max()
        lz, ld = np.log2(g.q_z / g.q_z[1]), np.log2(g.q_delta / g.q_delta[L])
        for d in DEPTHS:
            back = range(L + 1 - d, L + 1)  # the last d layers, counted from the output
            rows.append(dict(initializer=init, activation=act, width=width, seed=seed, depth=d, log2_qz_ratio=lz[d],
                             log2_qdelta_ratio=ld[L + 1 - d], max_abs_log2_qz=lz.loc[1:d].abs().max(), max_abs_log2_qdelta=ld[list(back)].abs().max(),
                             theory_log2_qz_ratio=np.log2(g.pz[d] / g.pz[1]), theory_log2_qdelta_ratio=np.log2(g.pd[L + 1 - d] / g.pd[L])))
    want = pd.DataFrame(rows)
    key = ["initializer", "activation", "width", "seed", "depth"]
    assert sorted(map(tuple, by[key].to_numpy().tolist())) == sorted(map(tuple, want[key].to_numpy().tolist()))
    by = by.sort_values(key, ignore_index=True)
    want = want.sort_values(key, ignore_index=True)
    t = Ledger("variance_by_depth", by)
    t.checked(*key)
    for col in want.columns.difference(key):
        t.values(col, want[col], atol=1e-8)
    t.close()


def stability_reference(var: pd.DataFrame, exp: pd.DataFrame, train: pd.DataFrame, expected_train: pd.DataFrame) -> pd.DataFrame:
    """docs/run.md: per initializer x activation, the worst layer of |mean over seeds of log2 q_z[l]/q_z[1]|
    (and of log2 q_delta[l]/q_delta[L-1] over the hidden layers), less twice the finite-width sd of that
    mean, floored at 0; stable when <= 1; trains when the digits test accuracy reaches 0.8."""
    rows = []
    for init, act in itertools.product(INITS, ACTS):
        row = dict(activation=act, initializer=init, notes=math.nan)
        sel = (var.initializer == init) & (var.activation == act)
        if (init, act) in FAILING:
            row.update(max_abs_log2_forward=math.inf, max_abs_log2_backward=math.inf, notes=f"w={WIDTH}: failed")
        else:
            g = pd.DataFrame(dict(seed=var.seed[sel], layer=var.layer[sel], q_z=exp.q_z[sel], q_delta=exp.q_delta[sel]))
            L = g.layer.max()
            fwd, bwd = {}, {}
            for seed, s in g.groupby("seed"):
                s = s.set_index("layer")
                fwd[seed] = np.log2(s.q_z / s.q_z[1])
                bwd[seed] = np.log2(s.q_delta[s.index < L] / s.q_delta[L - 1])
            slack = 2 * math.sqrt(ref.kappa(act) * (L - 1) / WIDTH / len(fwd)) / math.log(2)
            worst = [max(pd.concat(r, axis=1).mean(axis=1).abs().max() - slack, 0.0) for r in (fwd, bwd)]
            row.update(max_abs_log2_forward=worst[0], max_abs_log2_backward=worst[1])
        ok = row["max_abs_log2_forward"] <= 1, row["max_abs_log2_backward"] <= 1
        row.update(stable_forward=ok[0], stable_backward=ok[1], stable=ok[0] and ok[1])
        tsel = (train.initializer == init) & (train.activation == act) & (train.depth == train.depth.max())
        acc = expected_train.test_accuracy[tsel.to_numpy()].mean() if tsel.any() else math.nan
        row.update(test_accuracy=acc, trains=None if math.isnan(acc) else bool(acc >= TRAIN_ACCURACY))
        rows.append(row)
    return pd.DataFrame(rows)


def test_stability_every_column(tables, expected_variance, expected_train):
    stab = tables["stability"]
    want = stability_reference(tables["variance"], expected_variance, tables["train"], expected_train)
    key = ["activation", "initializer"]
    assert sorted(map(tuple, stab[key].to_numpy().tolist())) == sorted(map(tuple, want[key].to_numpy().tolist()))
    stab, want = (d.sort_values(key, ignore_index=True) for d in (stab, want))
    t = Ledger("stability", stab)
    t.checked(*key)
    t.values("max_abs_log2_forward", want.max_abs_log2_forward, atol=1e-8)
    t.values("max_abs_log2_backward", want.max_abs_log2_backward, atol=1e-8)
    # the verdicts must not hinge on a value within the tolerance of the threshold
    margin = np.abs(want[["max_abs_log2_forward", "max_abs_log2_backward"]].to_numpy() - 1)
    assert (margin > 1e-6).all()
    for col in ("stable_forward", "stable_backward", "stable"):
        t.equal(col, want[col])
    t.values("test_accuracy", want.test_accuracy, atol=1.5 / expected_train.n_test.max())
    assert [_tri(v) for v in stab.trains] == list(want.trains)
    t.checked("trains")
    assert [n if isinstance(n, str) else "" for n in stab.notes] == [n if isinstance(n, str) else "" for n in want.notes]
    t.checked("notes")
    t.close()


def test_recommendations_every_column(tables):
    """docs/run.md's criterion applied by hand to stability.csv, initializers in the order given."""
    stab, rec = tables["stability"], tables["recommendations"]
    t = Ledger("recommendations", rec)
    t.equal("activation", list(ACTS))
    categories = {
        "recommended": lambda r: r.stable and _tri(r.trains) is True,
        "forward_only_and_trains": lambda r: r.stable_forward and not r.stable and _tri(r.trains) is True,
        "stable_untrained": lambda r: r.stable and _tri(r.trains) is None,
        "stable_but_not_training": lambda r: r.stable and _tri(r.trains) is False,
    }
    for col, rule in categories.items():
        want = [[i for i in INITS if any(rule(r) for r in stab[(stab.activation == a) & (stab.initializer == i)].itertuples())] for a in ACTS]
        assert [_names(c) for c in rec[col]] == want, col
        t.checked(col)
    t.close()


def test_train_every_column(tables, expected_train):
    train, exp = tables["train"], expected_train
    t = Ledger("train", train)
    pairs = set(zip(train.initializer, train.activation))
    assert pairs and pairs <= set(itertools.product(INITS, ACTS)) and len(pairs) == len(train)
    t.checked("initializer", "activation", "seed")  # each row retrained with its own settings:
    t.checked("depth", "width", "steps", "batch", "lr")  # a wrong value would not reproduce its numbers
    assert set(train.seed) <= set(SEEDS) and set(train.depth) <= set(range(1, max(DEPTHS) + 1))
    t.equal("dtype", ["float64"] * len(train))
    t.equal("backend", ["numpy"] * len(train))
    t.equal("status", ["ok"] * len(train))
    t.values("initial_loss", exp.initial_loss, rtol=1e-9)
    t.values("final_loss", exp.final_loss, rtol=1e-6)
    t.values("train_accuracy", exp.train_accuracy, atol=1.5 / exp.n_train.max())
    t.values("test_accuracy", exp.test_accuracy, atol=1.5 / exp.n_test.max())
    t.close()


def test_throughput_every_column(tables):
    tp = tables["throughput"]
    t = Ledger("throughput", tp)
    t.equal("width", [WIDTH] * len(tp))
    t.equal("dtype", ["float64"] * len(tp))
    t.equal("backend", ["numpy"] * len(tp))
    t.equal("status", ["ok"] * len(tp))
    assert ((tp.depth >= 1) & (tp.batch >= 1) & (tp.repeats >= 1)).all()
    t.checked("depth", "batch", "repeats")  # settings; the flop count below ties them to the work
    assert ((tp.step_s > 0) & (tp.matmul_s > 0)).all()  # timings: only their sign is known
    t.checked("step_s", "matmul_s")
    t.values("flops", 3 * 2.0 * tp.batch * tp.width**2 * tp.depth, rtol=1e-12)
    t.values("engine_gflops", tp.flops / tp.step_s / 1e9, rtol=1e-9)
    t.values("matmul_gflops", tp.flops / tp.matmul_s / 1e9, rtol=1e-9)
    t.values("efficiency", tp.matmul_s / tp.step_s, rtol=1e-9)
    t.values("samples_per_s", tp.batch / tp.step_s, rtol=1e-9)
    t.close()


def test_failures_every_column(tables, run_dir):
    fails = tables["failures"]
    t = Ledger("failures", fails)
    want = [("variance", i, a, WIDTH, max(DEPTHS), s) for (i, a), s in itertools.product(sorted(FAILING), SEEDS)]
    got = sorted(zip(fails.kind, fails.initializer, fails.activation, fails.width, fails.depth, fails.seed))
    assert got == want
    t.checked("kind", "initializer", "activation", "width", "depth", "seed")
    t.equal("status", ["failed"] * len(fails))
    messages = []
    for i, a in fails[["initializer", "activation"]].itertuples(index=False):
        with pytest.raises(ValueError) as exc:
            wb.initialize(i, (WIDTH, WIDTH), activation=a)
        messages.append(f"ValueError: {exc.value}")
    t.equal("error", messages)
    log = [json.loads(line) for line in (run_dir / "configs.jsonl").read_text().splitlines()]
    failed = {r["key"]: r for r in log if r["status"] != "ok"}
    assert sorted(fails.key) == sorted(failed) and all(failed[k]["error"] == e for k, e in zip(fails.key, fails.error))
    t.checked("key")
    t.close()
