"""Load airspeed-velocity (asv) results into one tidy pandas DataFrame.

asv (results format version 2) writes ``<results>/<machine>/<commit>-<env>.json``; each file holds
``commit_hash``, ``env_name``, ``date`` (ms since the epoch), ``python``, ``env_vars``, ``params``
(the machine description), ``result_columns`` and ``results``: per benchmark a row aligned with
``result_columns`` (``result, params, version, started_at, duration, stats_ci_99_a, stats_ci_99_b,
stats_q_25, stats_q_75, stats_number, stats_repeat, samples, profile``), trailing nulls dropped.
A parameterised benchmark stores one value per combination of its ``params`` (the Cartesian
product, the last parameter varying fastest), each parameter value as its ``repr``. In ``result``
``null`` means the benchmark failed and ``NaN`` that it was skipped (``NotImplementedError``).
``<results>/benchmarks.json`` (written by ``asv run``) gives each benchmark's type, unit and
parameter names, and ``home_backend`` for a backend-independent one (host code or mathematics,
measured in that backend's environment only): its results there load as backend ``any``.

Anything else in ``result`` is not a measurement: a string, a mapping or a boolean (``true`` is no
timing, and loading it as 1.0 would be silently wrong) loads as status ``failed`` with the reason.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import os
import reprlib
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

BASE_COLUMNS = ["benchmark", "type", "unit"]
TAIL_COLUMNS = [
    "value", "ci_lo", "ci_hi", "q25", "q75", "status", "reason",
    "machine", "commit", "date", "env_name", "backend", "python",
]  # fmt: skip
DEFAULT_COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b",
                   "stats_q_25", "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]  # fmt: skip
_NUMERIC = ("value", "ci_lo", "ci_hi", "q25", "q75")
#: the backend of a backend-independent benchmark's results (``home_backend`` in benchmarks.json)
ANY_BACKEND = "any"
_TYPES = {"time": ("time", "seconds"), "peakmem": ("peakmemory", "bytes"), "mem": ("memory", "bytes"), "track": ("track", "unit")}


class UnreadableResults(ValueError):
    """An asv results folder with nothing to load: no result files, or none that can be read."""


def parse_param(text: Any) -> Any:
    """A parameter value as Python: asv stores ``repr`` strings (``"'he_normal'"``, ``"64"``)."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _benchmark_info(root: Path) -> dict:
    path = root / "benchmarks.json"
    if not path.is_file():
        return {}
    try:
        data = _read_json(path)
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: cannot read benchmark descriptions ({exc}); types and units are guessed", stacklevel=3)
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _guess_type(name: str) -> tuple[str, str]:
    last = name.rsplit(".", 1)[-1]
    for prefix, (kind, unit) in _TYPES.items():
        if last.startswith(prefix + "_"):
            return kind, unit
    return "unknown", None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _status(value: Any) -> tuple[str, str | None]:
    """``(status, reason)`` of one result: ``ok`` for a number, ``skipped`` for NaN, else ``failed``."""
    if value is None:
        return "failed", "null result: the benchmark raised"
    if isinstance(value, float) and math.isnan(value):
        return "skipped", "NaN result: the benchmark was skipped (NotImplementedError)"
    if _is_number(value):
        return "ok", None
    return "failed", f"non-numeric result ({type(value).__name__}): {reprlib.repr(value)}"


def _pick(column: list | None, i: int) -> Any:
    if not isinstance(column, list) or i >= len(column):
        return None
    return column[i] if _is_number(column[i]) else None


def _rows_of_file(path: Path, machine: str, info: dict, param_names_seen: set) -> list[dict]:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError("not an asv results file (no 'results' mapping)")
    if data.get("version", 2) != 2:
        raise ValueError(f"results format version {data.get('version')} (only version 2 is understood)")
    columns = data.get("result_columns") or DEFAULT_COLUMNS
    env_vars = data.get("env_vars") or {}
    date = data.get("date")
    meta = {
        "machine": (data.get("params") or {}).get("machine") or machine,
        "commit": data.get("commit_hash"),
        "date": pd.to_datetime(date, unit="ms", utc=True) if isinstance(date, (int, float)) else pd.NaT,
        "env_name": data.get("env_name"),
        "backend": env_vars.get("WINIT_BENCH_BACKEND") or "numpy",
        "python": data.get("python"),
    }
    rows = []
    for name, row in data["results"].items():
        if not isinstance(row, list):
            raise ValueError(f"benchmark {name!r}: expected a list aligned with result_columns, got {type(row).__name__}")
        fields = dict(zip(columns, row))  # trailing nulls were dropped: missing keys are None
        desc = info.get(name, {})
        kind, unit = _guess_type(name)
        kind, unit = desc.get("type", kind), desc.get("unit", unit)
        params = fields.get("params") or desc.get("params") or []
        if not isinstance(params, list) or not all(isinstance(p, list) for p in params):
            raise ValueError(f"benchmark {name!r}: params must be a list of lists, got {reprlib.repr(params)}")
        names = list(desc.get("param_names") or [])
        if len(names) != len(params):
            names = [f"param{i + 1}" for i in range(len(params))]
        combos = list(itertools.product(*params)) if params else [()]
        result = fields.get("result")
        if not isinstance(result, list):
            result = [result] * len(combos)  # a null result: every combination failed
        if len(result) != len(combos):
            raise ValueError(f"benchmark {name!r}: {len(result)} results for {len(combos)} parameter combinations")
        param_names_seen.update(names)
        backend, home = meta["backend"], desc.get("home_backend")
        if home is not None:
            backend = ANY_BACKEND if backend == home else backend
        for i, (combo, value) in enumerate(zip(combos, result)):
            out = {"benchmark": name, "type": kind, "unit": unit}
            out.update({n: parse_param(v) for n, v in zip(names, combo)})
            status, reason = _status(value)
            if status == "skipped" and home is not None and backend != ANY_BACKEND:
                reason = f"backend-independent: measured in the {home} environment only (backend {ANY_BACKEND!r})"
            out.update(
                value=value if status == "ok" else math.nan,
                ci_lo=_pick(fields.get("stats_ci_99_a"), i),
                ci_hi=_pick(fields.get("stats_ci_99_b"), i),
                q25=_pick(fields.get("stats_q_25"), i),
                q75=_pick(fields.get("stats_q_75"), i),
                status=status,
                reason=reason,
            )
            out.update(meta)
            out["backend"] = backend
            rows.append(out)
    return rows


def _param_column(values: list) -> pd.Series:
    """One parameter's values (None where a benchmark lacks it) in the narrowest faithful dtype:
    booleans ``boolean``, integers ``Int64``, real numbers float64, names ``category``, else objects."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return pd.Series(values, dtype="boolean")
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in values if v is not None):
        return pd.Series(values, dtype="Int64")
    if kinds and kinds <= {int, float}:
        return pd.Series(values, dtype=float)
    if kinds == {str}:
        return pd.Series(values, dtype="category")
    return pd.Series(values, dtype=object)


def _frame(rows: list[dict], param_names: set) -> pd.DataFrame:
    ordered_names = sorted(param_names - set(BASE_COLUMNS) - set(TAIL_COLUMNS))
    columns = BASE_COLUMNS + ordered_names + TAIL_COLUMNS
    data = {}
    for col in columns:
        values = [r.get(col) for r in rows]
        if col in ordered_names:
            data[col] = _param_column(values)
        elif col in _NUMERIC:
            data[col] = pd.Series([math.nan if v is None else v for v in values], dtype=float)
        else:
            data[col] = pd.Series(values, dtype="datetime64[ns, UTC]" if col == "date" else object)
    return pd.DataFrame(data, columns=columns)


def load_asv_results(path: str | os.PathLike = "results/asv") -> pd.DataFrame:
    """All asv results under ``path`` as one tidy DataFrame.

    One row per benchmark x parameter combination x machine x commit x environment, with columns
    ``benchmark, type, unit``, one column per parameter name, then ``value, ci_lo, ci_hi, q25, q75,
    status, reason``, ``machine, commit, date, env_name, backend`` (``WINIT_BENCH_BACKEND`` of the
    environment, default numpy; ``any`` for a backend-independent benchmark measured in its home
    environment) and ``python``.

    ``status`` is ``ok``, ``skipped`` (a NaN result) or ``failed``: a null result (the benchmark
    raised), or a result that is not a number (a string, a mapping, a boolean), with ``reason``
    saying which; ``value`` is NaN unless ok. A parameter column has the narrowest faithful dtype:
    integers ``Int64``, names (initializer, activation, dtype, ...) ``category``, booleans
    ``boolean``, real numbers float64, a mixture Python objects; NA where a benchmark lacks it.

    A file that cannot be read is reported with ``warnings.warn`` naming it; the others still
    load. A missing directory raises ``FileNotFoundError``; one without result files, or none of
    whose files can be read, :class:`UnreadableResults` (a ``ValueError``) naming it.

    >>> df = load_asv_results("results/asv")  # doctest: +SKIP
    >>> ok = df[df.status == "ok"]  # doctest: +SKIP
    >>> ok.pivot_table(index="initializer", columns="backend", values="value", observed=True)  # doctest: +SKIP
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"no asv results directory at {str(root)!r}; run `asv run` first (results_dir in asv.conf.json)")
    info = _benchmark_info(root)
    files = sorted(
        p for p in root.glob("*/*.json")
        if p.name != "machine.json" and p.parent.name not in ("html",) and not (p.parent / "configs.jsonl").exists()  # a `winit-bench run` folder
    )
    if not files:
        raise UnreadableResults(f"no asv result files under {str(root)!r} (expected <machine>/<commit>-<env>.json)")
    rows: list[dict] = []
    names: set = set()
    unreadable = []
    for file in files:
        try:
            rows.extend(_rows_of_file(file, file.parent.name, info, names))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            unreadable.append(f"{file}: {exc}")
    if len(unreadable) == len(files):
        raise UnreadableResults(f"none of the {len(files)} asv result files under {str(root)!r} can be read "
                                f"(first: {unreadable[0]})")
    for problem in unreadable:
        warnings.warn(f"skipping unreadable asv result file {problem}", stacklevel=2)
    return _frame(rows, names)


__all__ = ["ANY_BACKEND", "UnreadableResults", "load_asv_results", "parse_param"]
