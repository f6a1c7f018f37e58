"""The variance kind: second moments layer by layer at initialisation, against mean-field theory.

One network of depth ``max(depths)`` and width ``w`` per (initializer, activation, width, seed)
sees a Gaussian batch; one forward/backward pass gives a row per layer
(:func:`winit_bench.diagnostics.layer_stats`) with the mean-field prediction beside it
(:mod:`winit_bench.compare`), so a single deep network answers every depth at once.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import numpy as np

from ... import streams
from ...initializers import initialize
from ..inits import DATA_DEPENDENT, bias_std, build, draw, left_out
from ..spec import Config, Spec, config
from .base import Kind, records


def weights_signature(init: str, act: str) -> str:
    """Equal for two activations exactly when ``init`` draws the same weights and biases for both (gains differ or not)."""
    if init in DATA_DEPENDENT:  # fitted through the activation: never shared
        return f"{init}|{act}"
    try:
        w = initialize(init, (8, 8), seed=12345, layer=0, activation=act, dtype="float64")
        w1 = initialize(init, (8, 8), seed=12345, layer=1, activation=act, dtype="float64")
        std = bias_std(init, act)
    except Exception as exc:  # the real run records the error; here only the grouping matters
        return f"error:{exc}"
    return hashlib.sha1(np.ascontiguousarray(np.stack([w, w1])).tobytes() + repr(std).encode()).hexdigest()


def draw_key(p: dict) -> tuple:
    """What determines a variance configuration's weights: configurations with equal keys share one draw."""
    return (p["initializer"], weights_signature(p["initializer"], p["activation"]), p["width"], p["depth"], p["seed"], p["dtype"],
            p["batch"] if p["initializer"] in DATA_DEPENDENT else None)


def _fit_batch(p: dict):
    """LSUV's fit batch: Gaussian inputs like the measured batch, from the LSUV stream (never the measured batch)."""
    return lambda rng: rng.standard_normal((p["batch"], p["width"])).astype(p["dtype"])


class WeightCache:
    """The last draw ``[(W, b), ...]``, reused by the next configuration that draws identical weights and biases."""

    def __init__(self):
        self.key, self.params = None, None

    def clear(self) -> None:
        self.key, self.params = None, None

    def get(self, p: dict) -> list:
        key = draw_key(p)
        if key != self.key:
            self.clear()  # free the old draw before making the new one
            sizes = [p["width"]] * (p["depth"] + 1)
            if p["initializer"] in DATA_DEPENDENT:
                net = build(p["initializer"], p["activation"], sizes, seed=p["seed"], dtype=p["dtype"], backend=p["backend"], fit_rows=_fit_batch(p))
                self.params = net.weights()
            else:
                self.params = draw(p["initializer"], p["activation"], sizes, p["seed"], p["dtype"])
            self.key = key
        return self.params


def _order_by_weights(init: str, acts: tuple[str, ...]) -> list[str]:
    """Activations that share weights next to each other, so one cached draw serves them all."""
    first: dict = {}
    sigs = {a: weights_signature(init, a) for a in acts}
    for a in acts:
        first.setdefault(sigs[a], len(first))
    return sorted(acts, key=lambda a: first[sigs[a]])


_WARNED: set = set()


def _optional(module: str, what: str):
    """``winit_bench.<module>``, or None (once: a warning) when this installation lacks it."""
    try:
        return importlib.import_module(f"winit_bench.{module}")
    except ImportError as exc:
        if exc.name != f"winit_bench.{module}":
            raise
        if module not in _WARNED:
            _WARNED.add(module)
            print(f"winit-bench: warning: winit_bench.{module} is not available; {what}", file=sys.stderr)
        return None


def _fast_theory(compare, stats, net, X):
    """compare_to_theory's predictions without its finite-width bands (their 2-D quadratures cost
    seconds per ReLU network): the q-map with the realised sigma_w2, the backward recursion
    anchored at the output, and the log2 ratios."""
    Xh = np.asarray(X, dtype=np.float64)
    q0 = float(np.vdot(Xh.ravel(), Xh.ravel()) / Xh.size)
    sw2, sb2 = stats["sigma_w2"].to_numpy(float), stats["sigma_b2"].to_numpy(float)
    q_z_pred = np.asarray(compare.predict_forward(net.activation, sw2, sb2, q0), dtype=float)
    q_delta = stats["q_delta"].to_numpy(float)
    q_delta_pred = np.asarray(compare.predict_backward(net.activation, sw2, list(net.sizes), q_z_pred, q_delta[-1]), dtype=float)
    with np.errstate(all="ignore"):
        return stats.assign(q_z_pred=q_z_pred, log2_ratio_z=np.log2(stats["q_z"].to_numpy(float) / q_z_pred),
                            q_delta_pred=q_delta_pred, log2_ratio_delta=np.log2(q_delta / q_delta_pred))


def measure(p: dict, cache: WeightCache) -> list[dict]:
    """One variance configuration: its network from the (cached) draw, one pass, a row per layer."""
    from ...engine import Diverged, MLP

    net = MLP.from_weights(cache.get(p), p["activation"], initializer=p["initializer"], seed=p["seed"], dtype=p["dtype"], backend=p["backend"])
    try:
        return _measure(p, net)
    except Diverged:  # the engine's message speaks of training; here nothing trains
        raise FloatingPointError(f"the pass at initialisation gave non-finite values ({p['dtype']} overflow at depth {p['depth']}, "
                                 f"width {p['width']}): the signal explodes") from None


def _measure(p: dict, net) -> list[dict]:
    from ...data import gaussian_inputs
    from ...diagnostics import layer_stats

    compare = _optional("compare", "the variance tables will have no theory columns")
    X = gaussian_inputs(p["batch"], p["width"], seed=streams.variance_input(p["seed"]), dtype=p["dtype"])
    # an output error independent of the weights, as the backward theory assumes (a random Y is not:
    # out - Y carries the output back through the weights that made it, growing δ ~ depth/2)
    Y = compare.independent_error_target(net, X) if compare else gaussian_inputs(p["batch"], p["width"], seed=streams.variance_target(p["seed"]), dtype=p["dtype"])
    full = p.get("full_stats", True) or compare is None
    stats = layer_stats(net, X, Y) if full else None
    if compare is None:
        return records(stats)
    if not p.get("bands", True):
        return records(_fast_theory(compare, stats if stats is not None else layer_stats(net, X, Y, structure=False), net, X))
    # compare_to_theory runs its own pass (q_z, q_a, q_delta, sigma_w2 and the predictions); at wide
    # widths that pass is all we pay for, the structural columns (dead, saturated, rank) are skipped
    try:
        theory = compare.compare_to_theory(net, X, Y)
    except FloatingPointError:
        raise
    except Exception as exc:  # keep the measurement; say why the theory is missing
        stats = stats if stats is not None else layer_stats(net, X, Y)
        return records(stats.assign(theory_error=f"{type(exc).__name__}: {exc}"))
    if stats is None:
        return records(theory)
    extra = [c for c in theory.columns if c not in stats.columns or c == "layer"]
    return records(stats.merge(theory[extra], on="layer", how="left"))


class Variance(Kind):
    name = "variance"
    id_columns = ("initializer", "activation", "width", "depth", "batch", "seed", "dtype", "backend")

    def configs(self, spec: Spec) -> list[Config]:
        out = []
        for width in spec.widths:
            wide = width >= spec.wide
            inits = [i for i in spec.initializers if i in spec.wide_initializers] if wide and spec.wide_initializers else spec.initializers
            for seed in spec.wide_seeds if wide else spec.seeds:
                for init in inits:
                    for act in _order_by_weights(init, tuple(a for a in spec.activations if left_out(init, a) is None)):
                        out.append(config(self.name, initializer=init, activation=act, width=width, depth=spec.max_depth,
                                          batch=spec.wide_batch if wide else spec.batch, seed=seed, dtype=spec.dtype, backend=spec.backend,
                                          full_stats=spec.wide_full_stats if wide else spec.full_stats, bands=spec.bands))
        return out

    def run(self, params: dict, cache) -> list[dict]:
        return measure(params, cache)

    def label(self, p: dict) -> str:
        return f"variance {p['initializer']}/{p['activation']} w={p['width']} seed={p['seed']}"

    def table_rows(self, ids: dict, record: dict) -> list[dict]:
        if record["status"] != "ok":
            return []
        base = {k: v for k, v in ids.items() if k != "depth"}
        return [{**base, "net_depth": ids["depth"], **{k: v for k, v in r.items() if k not in ids}} for r in record["rows"]]

    def summarize(self, tables: dict) -> dict:
        from .variance_tables import variance_by_depth

        return {"variance_by_depth": variance_by_depth(tables["variance"], tables["spec"])}

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        from .variance_plots import plot_variance

        return plot_variance(tables, plot_dir)
