"""The train kind: trainability on scikit-learn's digits after a fixed budget of SGD steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import streams
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
    from ...engine import MLP

    split = _digits(p["dtype"])
    sizes = [split.n_features] + [p["width"]] * (p["depth"] - 1) + [split.n_classes]
    net = MLP(sizes, p["activation"], p["initializer"], output="softmax", seed=p["seed"], dtype=p["dtype"], backend=p["backend"])
    rng = streams.train_batches(p["seed"])
    n = len(split.y_train)
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


class Train(Kind):
    name = "train"
    id_columns = ("initializer", "activation", "depth", "width", "seed", "steps", "batch", "lr", "dtype", "backend")
    result_columns = ("initial_loss", "final_loss", "train_accuracy", "test_accuracy")

    def configs(self, spec: Spec) -> list[Config]:
        return [config(self.name, initializer=init, activation=act, depth=depth, width=spec.train_width, seed=seed, steps=spec.train_steps,
                       batch=spec.train_batch, lr=spec.train_lr, dtype=spec.dtype, backend=spec.backend)
                for depth in spec.train_depths for seed in spec.train_seeds for init in spec.train_initializers for act in spec.train_activations]

    def run(self, params: dict, cache) -> list[dict]:
        return train(params)

    def label(self, p: dict) -> str:
        return f"train {p['initializer']}/{p['activation']} L={p['depth']}"

    def needs(self, spec: Spec) -> tuple[str, ...]:
        return ("sklearn",) if self.configs(spec) else ()

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        train, spec = tables["train"], tables["spec"]
        if not len(train):
            return []
        from ..plots import heatmap, panels, save

        depths = sorted(set(train.depth))
        inits = [i for i in spec.initializers if i in set(train.initializer)]
        acts = [a for a in spec.activations if a in set(train.activation)]
        fig, axes = panels(len(depths), ncols=3, size=(0.55 * len(acts) + 3, 0.3 * len(inits) + 1.5))
        for ax, d in zip(axes, depths):
            h = train[train.depth == d].groupby(["initializer", "activation"])["test_accuracy"].mean()
            M = np.array([[h.get((i, a), np.nan) for a in acts] for i in inits], dtype=float)
            im = heatmap(ax, M, inits, acts, f"digits test accuracy, depth {d}, {spec.train_steps} steps", lambda v: f"{v:.2f}", "viridis", 0, 1)
        fig.colorbar(im, ax=axes, shrink=0.8)
        save(fig, plot_dir / "trainability.png")
        return [("trainability", "Trainability on digits", "Test accuracy on digits after a fixed budget (chance is 0.1). "
                 "Symmetric initializers (zeros/ones/constant) have the capacity of a width-1 network.")]
