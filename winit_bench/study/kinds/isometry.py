"""The isometry kind: the spectrum of the input-output Jacobian of tanh networks at the edge of chaos, Gaussian vs orthogonal.

One network of ``max(depths) + 1`` layers per (initializer, sigma_b2, width, seed), with
``edge_of_chaos`` (Gaussian) and ``edge_of_chaos_orthogonal`` weights, gives per depth of the grid the
moments of the squared singular values of ``J_l = d a[l]/d x`` at a few Gaussian sample points beside
the free-probability prediction and its finite-width band (:func:`winit_bench.isometry.isometry_to_theory`).
The comparison is fixed (tanh, those two initializers, ``sigma_b2`` from the profile's
:data:`~winit_bench.study.profiles.ISOMETRY`); the widths and depths are the study's.
"""

from __future__ import annotations

from pathlib import Path

from ... import streams
from ..profiles import ISOMETRY
from ..spec import Config, Spec, config
from .base import Kind, records

INITIALIZERS = {"edge_of_chaos": "Gaussian", "edge_of_chaos_orthogonal": "orthogonal"}
ACTIVATION = "tanh"
#: the deepest depth's columns in the report
REPORT_COLUMNS = ["initializer", "sigma_b2", "width", "depth", "mean_s2", "spread", "theory_spread", "max_s2", "condition", "within_band"]


def measure(p: dict) -> list[dict]:
    from ...engine import MLP
    from ...isometry import isometry_to_theory

    width, depths = p["width"], [int(d) for d in p["depths"].split(",")]
    net = MLP([width] * (max(depths) + 2), ACTIVATION, p["initializer"], seed=p["seed"], dtype=p["dtype"], backend=p["backend"],
              sigma_b2=p["sigma_b2"])
    X = streams.isometry_input(p["seed"]).standard_normal((p["samples"], width)).astype(p["dtype"])
    return records(isometry_to_theory(net, X, depths=depths))


class Isometry(Kind):
    name = "isometry"
    id_columns = ("initializer", "activation", "sigma_b2", "width", "samples", "seed", "dtype", "backend")

    def configs(self, spec: Spec) -> list[Config]:
        grid = ISOMETRY[spec.profile]
        return [config(self.name, initializer=init, activation=ACTIVATION, sigma_b2=sb2, width=w, depths=",".join(map(str, spec.depths)),
                       samples=grid["samples"], seed=seed, dtype=spec.dtype, backend=spec.backend)
                for w in spec.widths for sb2 in grid["sigma_b2"] for seed in grid["seeds"] for init in INITIALIZERS]

    def run(self, params: dict, cache) -> list[dict]:
        return measure(params)

    def label(self, p: dict) -> str:
        return f"isometry {p['initializer']} sigma_b2={p['sigma_b2']:g} w={p['width']} seed={p['seed']}"

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        iso = tables["isometry"]
        if not len(iso) or "spread" not in iso:
            return []
        from .isometry_plots import plot_isometry

        return plot_isometry(iso, seed_means(iso), INITIALIZERS, plot_dir)

    def report_tables(self, tables: dict) -> dict:
        iso = tables["isometry"]
        if not len(iso) or "spread" not in iso:
            return {}
        deepest = iso[iso.depth == iso.depth.max()]
        return {f"At depth {int(iso.depth.max())}, per seed": deepest[REPORT_COLUMNS].reset_index(drop=True)}


def seed_means(iso) -> dict:
    """``{(initializer, sigma_b2, width): the measured and predicted columns per depth, averaged over seeds}``."""
    cols = [c for c in iso.select_dtypes("number").columns if c not in ("sigma_b2", "width", "samples", "seed", "depth")]
    return {key: g.groupby("depth")[cols].mean().reset_index() for key, g in iso.groupby(["initializer", "sigma_b2", "width"])}


__all__ = ["Isometry", "INITIALIZERS", "seed_means"]
