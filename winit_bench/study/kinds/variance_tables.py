"""The variance kind's derived table: per configuration and depth of the grid, the forward and backward log2 ratios."""

from __future__ import annotations

import pandas as pd

from ..ratios import KEYS, by_seed, predicted_column
from ..spec import Spec

#: variance_by_depth's columns from ratios.by_seed's (docs/run.md, "What the derived columns mean")
COLUMNS = {"forward": "forward_log2", "backward": "backward_log2", "theory_forward": "theory_forward_log2", "theory_backward": "theory_backward_log2"}


def variance_by_depth(var, spec: Spec):
    """One row per variance configuration and depth of the grid: :mod:`~winit_bench.study.ratios`' ``F(d)``, ``B(d)``."""
    if not len(var):
        return pd.DataFrame()
    r = by_seed(var)
    r = r[r.depth.isin(spec.depths)]
    return r.rename(columns=COLUMNS)[KEYS + ["depth"] + [c for k, c in COLUMNS.items() if k in r.columns]].reset_index(drop=True)


__all__ = ["COLUMNS", "predicted_column", "variance_by_depth"]
