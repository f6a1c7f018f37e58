"""The train kind: trainability on scikit-learn's digits after a fixed budget of SGD steps."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from ... import streams
from ..inits import build, left_out
from ..intervals import t_interval
from ..spec import Config, Spec, config
from .base import Kind

_DIGITS: dict = {}


def _digits(dtype: str):
    if dtype not in _DIGITS:
        from ...data import digits

        _DIGITS[dtype] = digits(dtype=dtype)
    return _DIGITS[dtype]


def train(p: dict) -> list[dict]:
    """SGD for ``steps`` mini-batches drawn with replacement; the first batch's loss, the training set's
    loss and accuracy after training, and the test set's accuracy."""
    split = _digits(p["dtype"])
    sizes = [split.n_features] + [p["width"]] * (p["depth"] - 1) + [split.n_classes]
    n = len(split.y_train)
    # LSUV's fit batch: training rows drawn without replacement from its own stream
    fit_rows = lambda rng: split.X_train[rng.choice(n, p["batch"], replace=False)]  # noqa: E731
    net = build(p["initializer"], p["activation"], sizes, seed=p["seed"], dtype=p["dtype"], backend=p["backend"], fit_rows=fit_rows, output="softmax")
    rng = streams.train_batches(p["seed"])
    first = None
    for _ in range(p["steps"]):
        idx = rng.integers(0, n, p["batch"])
        loss = net.train_step(split.X_train[idx], split.y_train[idx], p["lr"])
        first = loss if first is None else first
    probs = np.asarray(net.backend.to_host(net.forward(split.X_train)), dtype=np.float64)
    train_loss = float(-np.mean(np.log(np.clip(probs[np.arange(n), split.y_train], 1e-300, None))))
    acc = float((net.predict(split.X_test) == split.y_test).mean())
    train_acc = float((probs.argmax(axis=1) == split.y_train).mean())
    return [dict(initial_loss=float(first), final_loss=train_loss, train_accuracy=train_acc, test_accuracy=acc)]


#: the confidence of the trainability interval
CONFIDENCE = 0.95
TRAINABILITY_COLUMNS = ["initializer", "activation", "depth", "seeds", "finished", "diverged", "failed", "test_accuracy",
                        "ci_low", "ci_high", "verdict", "reason"]


def verdict(accuracies, diverged: list[str], failed: list[str], bar: float) -> tuple[float, float, float, str, str]:
    """``(mean, low, high, verdict, reason)`` of one initializer x activation x depth over its seeds.

    ``trains``: every seed finished and the t interval's low end reaches ``bar``; ``fails``: a seed
    diverged (that run did not train) or the interval's high end is below ``bar``; ``failed``: a seed
    raised; ``unclear``: the interval contains ``bar``, or one seed gives no interval.
    """
    mean, low, high = t_interval(accuracies, CONFIDENCE)
    n = len(accuracies) + len(diverged) + len(failed)
    if diverged:
        return mean, low, high, "fails", f"diverged in {len(diverged)} of {n} seeds: {diverged[0]}"
    if failed:
        return mean, low, high, "failed", f"raised in {len(failed)} of {n} seeds: {failed[0]}"
    if not accuracies:
        return mean, low, high, "not run", "no seed has finished (an incomplete run: --resume)"
    if len(accuracies) < 2:
        return mean, low, high, "unclear", "one seed: no interval"
    if low >= bar:
        return mean, low, high, "trains", ""
    if high < bar:
        return mean, low, high, "fails", f"the {CONFIDENCE:.0%} interval lies below {bar:g}"
    return mean, low, high, "unclear", f"the {CONFIDENCE:.0%} interval contains {bar:g}"


def trainability(train, spec: Spec):
    """Per initializer x activation x depth: the test accuracy over seeds, its t interval and the verdict."""
    rows = []
    if len(train):
        for (init, act, depth), g in train.groupby(["initializer", "activation", "depth"], sort=False):
            ok = g[g.status == "ok"]
            errors = lambda status: [str(e) for e in g[g.status == status].error.fillna(status)]  # noqa: E731
            mean, low, high, v, why = verdict(list(ok.test_accuracy), errors("diverged"), errors("failed"), spec.train_accuracy)
            rows.append(dict(initializer=init, activation=act, depth=depth, seeds=len(g), finished=len(ok), diverged=int((g.status == "diverged").sum()),
                             failed=int((g.status == "failed").sum()), test_accuracy=mean, ci_low=low, ci_high=high, verdict=v, reason=why))
    return pd.DataFrame(rows, columns=TRAINABILITY_COLUMNS)


class Train(Kind):
    name = "train"
    id_columns = ("initializer", "activation", "depth", "width", "seed", "steps", "batch", "lr", "dtype", "backend")
    result_columns = ("initial_loss", "final_loss", "train_accuracy", "test_accuracy")

    def configs(self, spec: Spec) -> list[Config]:
        return [config(self.name, initializer=init, activation=act, depth=depth, width=spec.train_width, seed=seed, steps=spec.train_steps,
                       batch=spec.train_batch, lr=spec.train_lr, dtype=spec.dtype, backend=spec.backend)
                for depth in spec.train_depths for seed in spec.train_seeds for init in spec.train_initializers for act in spec.train_activations
                if left_out(init, act) is None]

    def run(self, params: dict, cache) -> list[dict]:
        return train(params)

    def label(self, p: dict) -> str:
        return f"train {p['initializer']}/{p['activation']} L={p['depth']}"

    def needs(self, spec: Spec) -> tuple[str, ...]:
        return ("sklearn",) if self.configs(spec) else ()

    def summarize(self, tables: dict) -> dict:
        return {"trainability": trainability(tables["train"], tables["spec"])}

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        tr, spec = tables.get("trainability"), tables["spec"]
        if tr is None or not len(tr):
            return []
        from ..plots import heatmap, panels, save

        depths = sorted(set(tr.depth))
        inits = [i for i in spec.initializers if i in set(tr.initializer)]  # the trained ones only
        acts = [a for a in spec.activations if a in set(tr.activation)]
        fig, axes = panels(len(depths), ncols=3, size=(0.62 * len(acts) + 3, 0.3 * len(inits) + 1.5))
        mark = {"trains": " ✓", "fails": " ✗", "unclear": " ?"}
        for ax, d in zip(axes, depths):
            h = tr[tr.depth == d].set_index(["initializer", "activation"])
            M = np.full((len(inits), len(acts)), np.nan)
            labels = [["not run"] * len(acts) for _ in inits]
            for (i, init), (j, act) in itertools.product(enumerate(inits), enumerate(acts)):
                if (init, act) in h.index:
                    r = h.loc[(init, act)]
                    if r.diverged or r.failed:
                        labels[i][j] = "diverged" if r.diverged else "failed"
                    else:
                        M[i, j], labels[i][j] = r.test_accuracy, f"{r.test_accuracy:.2f}{mark.get(r.verdict, '')}"
            im = heatmap(ax, M, labels, inits, acts, f"digits test accuracy, depth {d}, {spec.train_steps} steps", "viridis", 0, 1)
        fig.colorbar(im, ax=axes, shrink=0.8)
        save(fig, plot_dir / "trainability.png")
        return [("trainability", "Trainability on digits", f"Mean test accuracy over {len(spec.train_seeds)} seeds after a fixed "
                 f"budget (chance is 0.1): ✓ trains (the 95 % interval's low end reaches {spec.train_accuracy:g}), ✗ fails (its high end "
                 "stays below, or a seed diverged: 'diverged'), ? unclear. Only the trained initializers and activations are shown; "
                 "'not run' (hatched): a combination left out by design. Symmetric initializers (zeros, ones, constant) have the capacity of a width-1 network.")]
