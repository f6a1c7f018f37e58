"""Signal propagation at initialisation: per initializer x activation x depth x width.

From ``winit_bench.diagnostics.layer_stats`` (one forward/backward pass on Gaussian inputs,
``N(0, 1)``, the diagnostics' default reproducible target) and
``winit_bench.compare.compare_to_theory``. The statistics of a float64 network are the
initializer's and the activation's, equal on every backend up to rounding (the test suite checks the
backends agree): both classes are :func:`backend_independent`, run in the numpy environment only
and loaded as backend ``any``. Every ``track_`` returns a plain float:

* ``track_log2_q_ratio``        log2 q_z[L] / q_z[1]     (0: the forward signal is preserved)
* ``track_log2_delta_ratio``    log2 q_delta[1] / q_delta[L]  (0: errors reach the first layer intact)
* ``track_log2_grad_spread``    log2 max_l Var(dW[l]) / min_l Var(dW[l])
* ``track_dead_fraction``       mean over hidden layers of the fraction of units never active
* ``track_saturated_fraction``  mean over hidden layers of the fraction of saturated units
* ``track_distinct_units``      the fewest distinct units of any hidden layer (1: symmetric collapse)
* ``track_theory_deviation``    largest |log2(measured / predicted)| of q_z and q_delta over the layers,
                                against mean-field theory (``compare_to_theory``, realised sigma_w^2)
"""

from __future__ import annotations

import numpy as np

from .common import P, Benchmark, backend_independent, log2, prepared, require, skip


class _Base(Benchmark):
    params = (P("stab_inits"), P("stab_acts"), P("stab_depth"), P("stab_width"))
    param_names = ["initializer", "activation", "depth", "width"]
    timeout = 300

    def _net(self, initializer, activation, depth, width):
        import winit_bench as wb

        be = self.setup_backend()
        try:
            net = wb.MLP([width] * (depth + 1), activation, initializer, seed=0, dtype="float64", backend=be)
        except (ValueError, TypeError) as exc:
            skip(f"{initializer} x {activation} unsupported: {exc}")
        X = np.random.default_rng(0).standard_normal((P("stab_batch"), width))
        return net, X


@backend_independent
class Stability(_Base):
    """Statistics of one pass (``layer_stats``); a statistic that does not apply (the dead fraction
    of tanh, the saturated fraction of ReLU) is NaN, shown by asv as n/a. The six tracks read the
    same pass: ``setup_cache`` makes it once per combination, not once per track."""

    timeout = 1800

    def setup_cache(self):
        return self.each_case(self._stats)

    @prepared
    def setup(self, stats, *params):
        self.stats = self.cached(stats, *params)

    def _stats(self, initializer, activation, depth, width):
        diagnostics = require("diagnostics", "the stability benchmarks")
        net, X = self._net(initializer, activation, depth, width)
        from winit_bench.compare import independent_error_target  # the output error theory assumes

        stats = diagnostics.layer_stats(net, X, independent_error_target(net, X)).reset_index(drop=True)
        needed = ("q_z", "q_delta", "var_grad_w", "dead_fraction", "saturated_fraction", "distinct_units")
        missing = [c for c in needed if c not in stats.columns]
        if missing:
            skip(f"layer_stats lacks column(s) {', '.join(missing)}")
        return stats

    def _col(self, name):
        return self.stats[name].to_numpy(dtype=float)

    def _hidden(self, name):
        v = self._col(name)
        return v[:-1] if len(v) > 1 else v

    def track_log2_q_ratio(self, *params):
        q = self._col("q_z")
        return float(log2(q[-1]) - log2(q[0]))

    def track_log2_delta_ratio(self, *params):
        q = self._col("q_delta")
        return float(log2(q[0]) - log2(q[-1]))

    def track_log2_grad_spread(self, *params):
        v = self._col("var_grad_w")
        return float(log2(np.nanmax(v)) - log2(np.nanmin(v)))

    def track_dead_fraction(self, *params):
        return _nanmean(self._hidden("dead_fraction"))

    def track_saturated_fraction(self, *params):
        return _nanmean(self._hidden("saturated_fraction"))

    def track_distinct_units(self, *params):
        v = self._hidden("distinct_units")
        return float(np.nanmin(v)) if np.isfinite(v).any() else float("nan")


@backend_independent
class TheoryDeviation(_Base):
    """Largest |measured - predicted| log2 ratio of ``compare_to_theory`` over the layers."""

    @prepared
    def setup(self, initializer, activation, depth, width):
        compare = require("compare", "track_theory_deviation")
        self.net, self.X = self._net(initializer, activation, depth, width)
        self.df = compare.compare_to_theory(self.net, self.X)
        self.deviation = _max_deviation(self.df)
        if self.deviation is None:
            skip(f"compare_to_theory's columns are not understood: {', '.join(map(str, self.df.columns))}")

    def track_theory_deviation(self, *params):
        return float(self.deviation)

    track_theory_deviation.unit = "log2"


def _nanmean(v) -> float:
    v = np.asarray(v, dtype=float)
    return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")


def _max_deviation(df):
    """max |log2(measured / predicted)| over layers and quantities (``log2_ratio_*`` columns)."""
    ratios = [c for c in df.columns if str(c).startswith("log2_ratio")]
    if ratios:
        v = np.abs(df[ratios].to_numpy(dtype=float))
        return float(np.nanmax(v)) if np.isfinite(v).any() else float("nan")
    cols = {str(c).lower(): c for c in df.columns}
    for name in ("abs_deviation", "deviation", "log2_deviation", "log2_error", "error", "residual"):
        if name in cols:
            return float(np.nanmax(np.abs(df[cols[name]].to_numpy(dtype=float))))
    measured = [c for k, c in cols.items() if "measured" in k]
    predicted = [c for k, c in cols.items() if "predicted" in k]
    if measured and len(measured) == len(predicted):
        worst = 0.0
        for m, p in zip(sorted(measured, key=str), sorted(predicted, key=str)):
            diff = df[m].to_numpy(dtype=float) - df[p].to_numpy(dtype=float)
            if np.isfinite(diff).any():
                worst = max(worst, float(np.nanmax(np.abs(diff))))
        return worst
    return None


for _name in ("track_log2_q_ratio", "track_log2_delta_ratio", "track_log2_grad_spread"):
    getattr(Stability, _name).unit = "log2"
Stability.track_dead_fraction.unit = "fraction"
Stability.track_saturated_fraction.unit = "fraction"
Stability.track_distinct_units.unit = "units"
