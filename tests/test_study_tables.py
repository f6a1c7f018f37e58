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

INITS = ("he_normal", "kumar_normal", "lecun_normal", "edge_of_chaos", "lsuv")
# relu and leaky_relu: dead units and he_*'s slope; tanh and sigmoid: saturation and Kumar's 12.8;
# selu: kumar_normal refuses it (no derivative at 0), so the combination is left out of the grid by design;
# edge_of_chaos: biases N(0, sigma_b2); lsuv: fitted on a batch of its own
ACTS = ("relu", "leaky_relu", "tanh", "sigmoid", "selu")
DEPTHS, WIDTH, SEEDS = (4, 8), 32, (0, 1)
LEFT_OUT = {("kumar_normal", "selu")}
#: docs/run.md: the edge-of-chaos default sigma_b2, and the streams of the biases and of LSUV's fit batch
SIGMA_B2 = {"relu": 0.0, "leaky_relu": 0.0, "tanh": 0.05, "sigmoid": 0.05, "selu": 0.05}
BIAS_KEY, LSUV_KEY = 1, (0x15B7, 0x15B7)
TABLES = {"variance", "variance_by_depth", "stability", "recommendations", "train", "trainability", "isometry", "throughput", "failures"}
#: the isometry kind in the quick profile (profiles.ISOMETRY): tanh, sigma_b2 0.05, 2 samples, seed 0, at the run's widths and depths
ISO_INITS, ISO_SIGMA_B2, ISO_SAMPLES, ISO_SEED = ("edge_of_chaos", "edge_of_chaos_orthogonal"), 0.05, 2, 0
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


def stream(seed: int, key) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def parameters(init: str, act: str, seed: int, sizes, dtype: str, fit) -> tuple[list, list]:
    """``(W, b)`` per layer as docs/run.md says the study draws them; ``fit(rng)`` is LSUV's batch."""
    shapes = list(zip(sizes[1:], sizes[:-1]))
    zeros = [np.zeros(n_out) for n_out, _ in shapes]
    if init == "lsuv":  # the seed's orthogonal draw, rescaled on the fit batch from LSUV's stream
        start = [wb.initialize("orthogonal", s, seed=seed, layer=l, dtype=dtype).astype(float) for l, s in enumerate(shapes)]
        return ref.lsuv(start, zeros, fit(stream(seed, LSUV_KEY)).astype(float), act), zeros
    W = [wb.initialize(init, s, seed=seed, layer=l, activation=act, dtype=dtype).astype(float) for l, s in enumerate(shapes)]
    if init != "edge_of_chaos":
        return W, zeros
    sb = math.sqrt(SIGMA_B2[act])
    return W, [(sb * stream(seed, (l, BIAS_KEY)).standard_normal(n_out)).astype(dtype).astype(float) for l, (n_out, _) in enumerate(shapes)]


def variance_reference(init: str, act: str, seed: int, width: int, batch: int, depth: int, dtype: str) -> pd.DataFrame:
    """One row per layer of what the variance table must say for this configuration (docs/run.md)."""
    fit = lambda rng: rng.standard_normal((batch, width)).astype(dtype)  # noqa: E731
    W, b = parameters(init, act, seed, [width] * (depth + 1), dtype, fit)
    X = np.random.default_rng(INPUT_SEED_OFFSET + seed).standard_normal((batch, width)).astype(dtype).astype(float)
    G = stream(seed, TARGET_SPAWN_KEY).standard_normal((batch, width))
    zs, As = ref.forward(W, X, act, b)
    deltas, grads_w, grads_b = ref.backward(W, X, zs, As, 2.0 * G / G.size, act)  # MSE against Y = out - G
    rows = []
    for l in range(depth):
        hidden, z, a = l < depth - 1, zs[l], As[l]
        row = dict(layer=l + 1, fan_in=width, fan_out=width, sigma_w2=width * np.mean(W[l] ** 2), sigma_b2=np.mean(b[l] ** 2),
                   distinct_units=math.nan, effective_rank=math.nan)
        for name, x in (("z", z), ("a", a), ("delta", deltas[l]), ("grad_w", grads_w[l]), ("grad_b", grads_b[l])):
            row.update({f"mean_{name}": x.mean(), f"var_{name}": x.var(), f"q_{name}": np.mean(x * x)})
        row["dead_fraction"] = 1 - np.mean((z > 0).any(axis=0)) if hidden and act in ("relu", "leaky_relu") else math.nan
        lo, hi = ref.SIGMOID_BAND if act == "sigmoid" else (-ref.TANH_SATURATION, ref.TANH_SATURATION)
        row["saturated_fraction"] = np.mean((a < lo) | (a > hi)) if hidden and act in ("sigmoid", "tanh") else math.nan
        rows.append(row)
    df = pd.DataFrame(rows)
    df["q_z_pred"] = ref.qmap(act, df.sigma_w2.to_numpy(), np.mean(X * X), df.sigma_b2.to_numpy())
    df["q_delta_pred"] = ref.chi_backward(act, df.sigma_w2.to_numpy(), df.q_z_pred.to_numpy(), df.q_delta.iloc[-1])
    return df.assign(log2_ratio_z=np.log2(df.q_z / df.q_z_pred), log2_ratio_delta=np.log2(df.q_delta / df.q_delta_pred))


@pytest.fixture(scope="module")
def expected_variance(tables):
    """variance.csv's rows recomputed, with its index."""
    var = tables["variance"]
    keys = ["initializer", "activation", "seed", "width", "batch", "net_depth", "dtype"]
    parts = []
    for (init, act, seed, width, batch, depth, dtype), g in var.groupby(keys, sort=False):
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
        fit = lambda rng: Xtr[rng.choice(len(ytr), r.batch, replace=False)]  # noqa: E731
        W, b = parameters(r.initializer, r.activation, r.seed, sizes, r.dtype, fit)
        rng = np.random.default_rng(np.random.SeedSequence(r.seed, spawn_key=BATCH_SPAWN_KEY))
        losses, biases = ref.train_softmax(W, Xtr, ytr, r.activation, steps=r.steps, batch=r.batch, lr=r.lr, rng=rng, biases=b)
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
    assert ran == sorted(c for c in itertools.product(INITS, ACTS, SEEDS) if c[:2] not in LEFT_OUT)  # left out: never run
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
        t.values(col, exp[col], rtol=1e-9 if col == "sigma_w2" else 1e-12)  # LSUV's rescaling: a reciprocal, not a division
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
    """The realised ``n_in mean(W^2)`` against theory's σ_w² (and Kumar's 12.8 for sigmoid), the edge of chaos
    against a critical σ_w² found independently: a weight draw reused across activations (a cache key without the
    activation) gives ReLU's 2 instead. The edge-of-chaos biases' ``mean(b^2)`` is its σ_b²; LSUV's layers end near
    unit variance on their fit batch."""
    var = tables["variance"]
    for (init, act), g in var.groupby(["initializer", "activation"]):
        if init == "lsuv":
            continue
        want = initializer_sigma_w2(init, WIDTH, WIDTH, act) if init != "edge_of_chaos" else ref.critical_sigma_w2(act, SIGMA_B2[act])
        if init == "edge_of_chaos" and SIGMA_B2[act]:  # the first layer starts at the fixed point: (q* - sigma_b2) / q0, q0 = 1
            first = g.layer == 1
            q_star = ref.fixed_point(act, want, SIGMA_B2[act])
            assert np.all(np.abs(g.sigma_w2[first] - (q_star - SIGMA_B2[act])) <= 5 * (q_star - SIGMA_B2[act]) * math.sqrt(2.0 / WIDTH**2))
            g = g[~first]
            spread_b = SIGMA_B2[act] * math.sqrt(2.0 / WIDTH)
            assert np.all(np.abs(g.sigma_b2 - SIGMA_B2[act]) <= 5 * spread_b), f"{act}: sigma_b2 {g.sigma_b2.round(3).tolist()}"
        spread = want * math.sqrt(2.0 / WIDTH**2)  # sd of a mean of n^2 squared Gaussians
        got = g.sigma_w2.to_numpy()
        assert np.all(np.abs(got - want) <= 5 * spread), f"{init}/{act}: sigma_w2 {got.round(3).tolist()}, theory {want:.4g}"
    kumar_sigmoid = var[(var.initializer == "kumar_normal") & (var.activation == "sigmoid")].sigma_w2
    assert kumar_sigmoid.between(0.75 * 12.8, 1.25 * 12.8).all()
    assert (var[var.initializer != "edge_of_chaos"].sigma_b2 == 0).all()
    # he_normal's gain for leaky_relu differs from ReLU's by 1e-4: only the exact draw tells them apart
    for seed in SEEDS:
        leaky = var[(var.initializer == "he_normal") & (var.activation == "leaky_relu") & (var.seed == seed)].sigma_w2.to_numpy()
        W = [wb.initialize("he_normal", (WIDTH, WIDTH), seed=seed, layer=l, activation="leaky_relu", dtype="float64") for l in range(len(leaky))]
        np.testing.assert_allclose(leaky, [WIDTH * np.mean(w * w) for w in W], rtol=1e-12)


def ratio_series(qz: np.ndarray, qd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """docs/run.md: F(d) = log2 q_z[d]/q_z[1]; B(d) = log2 q_delta[1]/q_delta[d-1], 0 for d <= 2."""
    L = len(qz)
    with np.errstate(all="ignore"):
        return np.log2(qz / qz[0]), np.array([0.0 if d <= 2 else np.log2(qd[0] / qd[d - 2]) for d in range(1, L + 1)])


def per_seed(var: pd.DataFrame, exp: pd.DataFrame) -> dict:
    """``{(init, act, width, seed): (F, B, theory F, theory B)}`` from the reference's values."""
    out = {}
    cols = exp.assign(**{k: var[k] for k in ("initializer", "activation", "width", "seed", "layer")})
    for key, g in cols.groupby(["initializer", "activation", "width", "seed"], sort=False):
        g = g.sort_values("layer")
        out[key] = ratio_series(g.q_z.to_numpy(), g.q_delta.to_numpy()) + ratio_series(g.q_z_pred.to_numpy(), g.q_delta_pred.to_numpy())
    return out


def test_variance_by_depth_every_column(tables, expected_variance):
    var, by = tables["variance"], tables["variance_by_depth"]
    rows = []
    for (init, act, width, seed), (f, b, tf, tb) in per_seed(var, expected_variance).items():
        rows += [dict(initializer=init, activation=act, width=width, seed=seed, depth=d, forward_log2=f[d - 1], backward_log2=b[d - 1],
                      theory_forward_log2=tf[d - 1], theory_backward_log2=tb[d - 1]) for d in DEPTHS]
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


def stability_reference(var: pd.DataFrame, exp: pd.DataFrame) -> pd.DataFrame:
    """docs/run.md: per initializer x activation x width, the seed means of F and B, the tolerance a factor 2 beyond
    twice the finite-width spread of that mean, the usable depth, the raw worst ratios and the drift."""
    series, rows = per_seed(var, exp), []
    for init, act in itertools.product(INITS, ACTS):
        row = dict(activation=act, initializer=init, width=WIDTH, status="ok", reason="")
        if (init, act) in LEFT_OUT:
            with pytest.raises(ValueError) as exc:
                wb.initialize(init, (2, 2), activation=act)
            rows.append({**row, "status": "left out", "reason": f"undefined by design: {exc.value}"})
            continue
        mine = [v for k, v in series.items() if k[:2] == (init, act)]
        f, b = (np.mean([m[i] for m in mine], axis=0) for i in (0, 1))
        L, S = len(f), len(mine)
        span = np.arange(L)
        fwd, bwd = (ref.log_variance_per_layer(*m, WIDTH) for m in ref.unit_moments(act))
        tol_f = 1 + 2 * np.sqrt(fwd * span / S) / math.log(2)
        tol_b = 1 + 2 * np.sqrt(bwd * np.maximum(span - 1, 0) / S) / math.log(2)
        ok = (np.abs(f) <= tol_f) & (np.abs(b) <= tol_b)
        depth = L if ok.all() else int(np.argmin(ok))
        worst = lambda x: np.abs(x).max() if np.isfinite(x).all() else math.inf  # noqa: E731
        rows.append({**row, "seeds": S, "usable_depth": depth, "max_abs_log2_forward": worst(f), "max_abs_log2_backward": worst(b),
                     "tolerance_forward_log2": tol_f[-1], "tolerance_backward_log2": tol_b[-1], "forward_bits_per_layer": f[-1] / (L - 1),
                     "backward_bits_per_layer": b[-1] / (L - 2), "stable": depth == L, "f_series": f, "b_series": b, "tol_f": tol_f, "tol_b": tol_b})
    return pd.DataFrame(rows)


def test_stability_every_column(tables, expected_variance):
    stab = tables["stability"]
    want = stability_reference(tables["variance"], expected_variance)
    key = ["activation", "initializer", "width"]
    assert sorted(map(tuple, stab[key].to_numpy().tolist())) == sorted(map(tuple, want[key].to_numpy().tolist()))
    stab, want = (d.sort_values(key, ignore_index=True) for d in (stab, want))
    t = Ledger("stability", stab)
    t.checked(*key)
    t.equal("status", want.status)
    assert [r if isinstance(r, str) else "" for r in stab.reason] == list(want.reason)
    t.checked("reason")
    for col in ("seeds", "max_abs_log2_forward", "max_abs_log2_backward", "tolerance_forward_log2", "tolerance_backward_log2",
                "forward_bits_per_layer", "backward_bits_per_layer"):
        t.values(col, want[col], atol=1e-8)
    # the usable depth must not hinge on a ratio within rounding of its tolerance
    for r in want[want.status == "ok"].itertuples():
        assert (np.abs(np.abs(r.f_series) - r.tol_f) > 1e-6).all() and (np.abs(np.abs(r.b_series) - r.tol_b) > 1e-6).all()
    t.values("usable_depth", want.usable_depth)
    assert [_tri(v) for v in stab.stable] == [None if s != "ok" else v for s, v in zip(want.status, want.stable)]
    t.checked("stable")
    t.close()


def trainability_reference(expected_train: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """docs/run.md: per initializer x activation x depth, the mean test accuracy over seeds, its 95 % t interval
    (a table's quantile), trains when the low end reaches 0.8, fails when the high end is below it or a seed diverged."""
    rows = []
    for (init, act, depth), g in train.assign(acc=expected_train.test_accuracy.to_numpy()).groupby(["initializer", "activation", "depth"], sort=False):
        acc = g.acc.to_numpy()
        mean, half = acc.mean(), ref.T975[len(acc) - 1] * acc.std(ddof=1) / math.sqrt(len(acc))
        verdict = "trains" if mean - half >= TRAIN_ACCURACY else "fails" if mean + half < TRAIN_ACCURACY else "unclear"
        why = {"trains": "", "fails": "the 95% interval lies below 0.8", "unclear": "the 95% interval contains 0.8"}[verdict]
        rows.append(dict(initializer=init, activation=act, depth=depth, seeds=len(g), finished=len(g), diverged=0, failed=0,
                         test_accuracy=mean, ci_low=mean - half, ci_high=mean + half, verdict=verdict, reason=why))
    return pd.DataFrame(rows)


def test_trainability_every_column(tables, expected_train):
    tr, n_test = tables["trainability"], expected_train.n_test.max()
    want = trainability_reference(expected_train, tables["train"])
    t = Ledger("trainability", tr)
    for col in ("initializer", "activation", "depth", "seeds", "finished", "diverged", "failed"):
        t.equal(col, want[col])
    for col in ("test_accuracy", "ci_low", "ci_high"):  # accuracies are multiples of 1/n_test: one test point either way
        t.values(col, want[col], atol=1.5 / n_test * ref.T975[1])
    assert (np.minimum(np.abs(want.ci_low - TRAIN_ACCURACY), np.abs(want.ci_high - TRAIN_ACCURACY)) > 1.5 / n_test * ref.T975[1]).all()
    t.equal("verdict", want.verdict)
    assert [r if isinstance(r, str) else "" for r in tr.reason] == list(want.reason)
    t.checked("reason")
    t.close()


def test_recommendations_every_column(tables, expected_variance):
    """docs/run.md's criterion applied by hand to stability.csv and trainability.csv, theory recomputed by the reference."""
    stab, rec, tr, var = tables["stability"], tables["recommendations"], tables["trainability"], tables["variance"]
    rank = {"trains": 0, "unclear": 1, "not run": 2, "fails": 3, "failed": 3}
    t = Ledger("recommendations", rec)
    t.equal("activation", list(ACTS))
    rows = []
    for act in ACTS:
        s = stab[(stab.activation == act) & (stab.status == "ok")].copy()
        trow = {r.initializer: r for r in tr[tr.activation == act].itertuples()}
        v = lambda i, col, default=math.nan: getattr(trow[i], col) if i in trow else default  # noqa: E731
        s["key"] = [(-d, rank[v(i, "verdict", "not run")], -np.nan_to_num(v(i, "ci_low"), nan=-np.inf), -np.nan_to_num(v(i, "test_accuracy"), nan=-np.inf),
                     max(f, b), INITS.index(i)) for i, d, f, b in zip(s.initializer, s.usable_depth, s.max_abs_log2_forward, s.max_abs_log2_backward)]
        s = s.sort_values("key")
        best = s.iloc[0]
        i = best.initializer
        if i == "lsuv":  # the realised scales of its hidden layers
            h = expected_variance[(var.initializer == i) & (var.activation == act) & (var.layer > 1) & (var.layer < max(DEPTHS))]
            sw2, sb2 = h.sigma_w2.mean(), h.sigma_b2.mean()
        else:
            sw2 = ref.critical_sigma_w2(act, SIGMA_B2[act]) if i == "edge_of_chaos" else initializer_sigma_w2(i, WIDTH, WIDTH, act)
            sb2 = SIGMA_B2[act] if i == "edge_of_chaos" else 0.0
        chi = ref.chi1(act, sw2, sb2)
        rows.append(dict(best=i, usable_depth=best.usable_depth, forward_bits_per_layer=best.forward_bits_per_layer,
                         backward_bits_per_layer=best.backward_bits_per_layer, sigma_w2=sw2, sigma_b2=sb2, chi1=chi,
                         xi_grad=math.inf if abs(chi - 1) < 1e-6 else -1 / math.log(chi), xi_q=-1 / math.log(ref.chi_q(act, sw2, sb2)),
                         test_accuracy=v(i, "test_accuracy"), ci_low=v(i, "ci_low"), ci_high=v(i, "ci_high"), trainability=v(i, "verdict", "not run"),
                         also=", ".join([j for j, d in zip(s.initializer[1:], s.usable_depth[1:]) if d == best.usable_depth][:4])))
    want = pd.DataFrame(rows)
    t.equal("best", want.best)
    t.equal("width", [WIDTH] * len(ACTS))
    t.equal("max_depth", [max(DEPTHS)] * len(ACTS))
    assert rec.wide_width.isna().all() and rec.usable_depth_wide.isna().all()  # one width: nothing wider
    t.checked("wide_width", "usable_depth_wide")
    for col in ("usable_depth", "forward_bits_per_layer", "backward_bits_per_layer", "test_accuracy", "ci_low", "ci_high"):
        t.values(col, want[col], atol=1e-9)
    t.values("sigma_w2", want.sigma_w2, rtol=1e-6)  # the critical value by bisection
    t.values("sigma_b2", want.sigma_b2, rtol=1e-9)
    t.values("chi1", want.chi1, atol=1e-5)
    fin = np.isfinite(want.xi_grad.to_numpy())
    assert (np.isinf(rec.xi_grad.to_numpy()) == ~fin).all()
    np.testing.assert_allclose(rec.xi_grad.to_numpy()[fin], want.xi_grad.to_numpy()[fin], rtol=1e-3)
    t.checked("xi_grad")
    t.values("xi_q", want.xi_q, rtol=1e-4)
    # xi_c needs the correlation map's 2-D integrals: theory's, at the checked scales (inf at the edge of chaos)
    from winit_bench import theory

    t.values("xi_c", [theory.xi_c(a, w, b) for a, w, b in zip(ACTS, rec.sigma_w2, rec.sigma_b2)], rtol=1e-9)
    t.equal("trainability", want.trainability)
    assert [a if isinstance(a, str) else "" for a in rec.also] == list(want.also)
    t.checked("also")
    for r, w in zip(rec.itertuples(), want.itertuples()):  # the notes: what the documented rules say
        note = r.note if isinstance(r.note, str) else ""
        assert ("nothing in the grid holds to depth" in note) == (w.usable_depth < max(DEPTHS)), note
        assert ("fails the trainability check" in note) == (w.trainability == "fails"), note
    t.checked("note")
    t.close()


def test_train_every_column(tables, expected_train):
    train, exp = tables["train"], expected_train
    t = Ledger("train", train)
    pairs = set(zip(train.initializer, train.activation))
    assert pairs and pairs <= set(itertools.product(INITS, ACTS)) - LEFT_OUT
    assert len(train) == len(pairs) * len(set(train.seed))  # every trained pair on every training seed
    t.checked("initializer", "activation", "seed")  # each row retrained with its own settings:
    t.checked("depth", "width", "steps", "batch", "lr")  # a wrong value would not reproduce its numbers
    assert set(train.seed) <= set(SEEDS) and set(train.depth) <= set(range(1, max(DEPTHS) + 1))
    t.equal("dtype", ["float64"] * len(train))
    t.equal("backend", ["numpy"] * len(train))
    t.equal("status", ["ok"] * len(train))
    assert train.error.isna().all()  # the reason of a failed or diverged run (tests/test_study.py makes some)
    t.checked("error")
    t.values("initial_loss", exp.initial_loss, rtol=1e-9)
    t.values("final_loss", exp.final_loss, rtol=1e-6)
    t.values("train_accuracy", exp.train_accuracy, atol=1.5 / exp.n_train.max())
    t.values("test_accuracy", exp.test_accuracy, atol=1.5 / exp.n_test.max())
    t.close()


def test_throughput_every_column(tables, run_dir):
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
    assert ((tp.ratio_q25 > 0) & (tp.ratio_q25 <= tp.ratio_q75)).all()  # quartiles of the paired floor/step ratios
    t.checked("ratio_q25", "ratio_q75")
    assert ((tp.load_1min >= 0) | tp.load_1min.isna()).all()
    t.checked("load_1min")
    info = json.loads((run_dir / "run.json").read_text())["backend_info"]
    t.equal("fused_update", [str(info.get("fused_sgd_gemm")) == "True"] * len(tp))
    for r in tp.itertuples():  # an efficiency above 1 never without its explanation
        note = r.note if isinstance(r.note, str) else ""
        assert (note != "") == (r.efficiency > 1) and (not note or note.startswith("above 1") and f"{r.ratio_q25:.2f}" in note)
    t.checked("note")
    t.close()


def isometry_reference(init: str) -> pd.DataFrame:
    """isometry.csv's rows of one initializer: the spectra from a NumPy pass, the theory from Pennington et al.'s closed forms."""
    from winit_bench import isometry, streams

    depth = max(DEPTHS)
    shapes = [(WIDTH, WIDTH)] * depth
    W = [wb.initialize(init, sh, seed=ISO_SEED, layer=l, activation="tanh", dtype="float64", sigma_b2=ISO_SIGMA_B2) for l, sh in enumerate(shapes)]
    b = [math.sqrt(ISO_SIGMA_B2) * stream(ISO_SEED, (l, BIAS_KEY)).standard_normal(WIDTH) for l in range(depth)]
    X = stream(ISO_SEED, streams.ISOMETRY_INPUT_TAG).standard_normal((ISO_SAMPLES, WIDTH))
    sw2, sb2 = [WIDTH * np.mean(w * w) for w in W], [np.mean(v * v) for v in b]
    m1, var = ref.jacobian_mean_var("tanh", sw2, sb2, float(np.mean(X * X)))
    weights = "orthogonal" if "orthogonal" in init else "gaussian"
    rows = []
    for d in DEPTHS:
        s = np.array([ref.jacobian_singular_values(W, b, x, "tanh", d) for x in X])
        s2 = s * s
        x = d / WIDTH
        half_m = 3 * math.sqrt(isometry.MEAN_A * x + isometry.MEAN_B * x * x)
        half_s = 3 * math.sqrt(isometry.SPREAD_A * x + isometry.SPREAD_B * x * x)
        rows.append(dict(depth=d, mean_s2=s2.mean(), var_s2=s2.var(), spread=s2.var() / s2.mean() ** 2, max_s2=s2.max(), min_s2=s2.min(),
                         q05_s2=np.quantile(s2, 0.05), q95_s2=np.quantile(s2, 0.95), condition=np.median(s[:, 0] / s[:, -1]),
                         theory_mean_s2=m1[d - 1], theory_var_s2=var[weights][d - 1], theory_spread=var[weights][d - 1] / m1[d - 1] ** 2,
                         band_mean_lo=-half_m, band_mean_hi=half_m, band_spread_lo=-half_s, band_spread_hi=half_s + isometry.SPREAD_BIAS * x))
    return pd.DataFrame(rows)


def test_isometry_every_column(tables):
    iso = tables["isometry"]
    t = Ledger("isometry", iso)
    t.equal("initializer", [i for i in ISO_INITS for _ in DEPTHS])
    for col, value in (("activation", "tanh"), ("width", WIDTH), ("samples", ISO_SAMPLES), ("seed", ISO_SEED), ("dtype", "float64"),
                       ("backend", "numpy"), ("status", "ok")):
        t.equal(col, [value] * len(iso))
    t.values("sigma_b2", [ISO_SIGMA_B2] * len(iso), rtol=0)
    exp = pd.concat([isometry_reference(i) for i in ISO_INITS], ignore_index=True)
    t.equal("depth", exp.depth)
    for col in ("mean_s2", "var_s2", "spread", "max_s2", "q05_s2", "q95_s2", "theory_mean_s2", "theory_var_s2", "theory_spread",
                "band_mean_lo", "band_mean_hi", "band_spread_lo", "band_spread_hi"):
        t.values(col, exp[col], rtol=1e-7)
    t.values("min_s2", exp.min_s2, rtol=1e-5, atol=1e-12)  # a Gaussian square matrix's smallest: cancellation in the SVD
    t.values("condition", exp.condition, rtol=1e-4)
    t.values("log_ratio_mean", np.log(exp.mean_s2 / exp.theory_mean_s2), rtol=1e-6, atol=1e-9)
    t.values("log_ratio_spread", np.log(exp.spread / exp.theory_spread), rtol=1e-6, atol=1e-9)
    inside = iso.log_ratio_mean.between(iso.band_mean_lo, iso.band_mean_hi) & iso.log_ratio_spread.between(iso.band_spread_lo, iso.band_spread_hi)
    t.equal("within_band", list(inside))
    assert iso.within_band.all()  # the stated finite-width band holds at width 32 too
    t.close()


def test_failures_every_column(tables, run_dir):
    """Nothing fails in this grid: kumar_normal x selu is left out by design, not run and failed."""
    fails = tables["failures"]
    t = Ledger("failures", fails)
    assert len(fails) == 0 and list(fails.columns) == ["kind", "key", "status", "error", "initializer", "activation", "width", "depth", "seed"]
    t.checked(*fails.columns)
    log = [json.loads(line) for line in (run_dir / "configs.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in log) and not any((r["params"].get("initializer"), r["params"].get("activation")) in LEFT_OUT for r in log)
    t.close()
