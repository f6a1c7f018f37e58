"""The one thing an experiment kind is: a class that declares its grid, its run, its table and its plots.

A new kind is one subclass registered in :data:`winit_bench.study.kinds.KINDS`; the runner, the
tables, the summary and the report only ever loop over that tuple.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..spec import Config, Spec


def plain(v):
    """A JSON-friendly Python scalar for a NumPy one (records are logged as JSON)."""
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def records(df) -> list[dict]:
    """A DataFrame's rows as dicts of plain scalars."""
    return [{k: plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


class Kind:
    """An experiment kind. Subclasses set ``name``, ``id_columns``, ``result_columns`` and override what differs."""

    name: str = ""
    #: the parameters that identify a configuration in its table, in column order
    id_columns: tuple[str, ...] = ()
    #: the result columns of a failed configuration's row (NaN), if the kind keeps one row per failure
    result_columns: tuple[str, ...] = ()
    #: timing kinds run after everything else, one configuration at a time
    exclusive: bool = False

    def configs(self, spec: Spec) -> list[Config]:
        """This kind's configurations of ``spec``, in the order they run and are tabled."""
        raise NotImplementedError

    def run(self, params: dict, cache) -> list[dict]:
        """Run one configuration; its rows. ``cache`` is the executor's :class:`WeightCache`."""
        raise NotImplementedError

    def label(self, params: dict) -> str:
        """A short description for the progress line."""
        return self.name

    def needs(self, spec: Spec) -> tuple[str, ...]:
        """The optional modules the kind's configurations of ``spec`` import (checked before a run starts)."""
        return ()

    def table_rows(self, ids: dict, record: dict) -> list[dict]:
        """The rows of a finished configuration in the kind's table."""
        if record["status"] != "ok":  # NaN everywhere, with the reason
            return [dict(ids, status=record["status"], error=record.get("error"), **{c: math.nan for c in self.result_columns})] if self.result_columns else []
        return [{**ids, "status": "ok", "error": None, **r} if self.result_columns else {**ids, "status": "ok", **r} for r in record["rows"]]

    def summarize(self, tables: dict) -> dict:
        """Derived tables of this kind (name -> DataFrame)."""
        return {}

    def plot(self, tables: dict, plot_dir: Path) -> list[tuple[str, str, str]]:
        """Draw the kind's plots into ``plot_dir``; ``(name, title, caption)`` of each written."""
        return []

    def report_tables(self, tables: dict) -> dict:
        """Tables the report prints under the kind's plots (title -> DataFrame)."""
        return {}
