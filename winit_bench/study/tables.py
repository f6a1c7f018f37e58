"""The run's tidy tables, built from ``configs.jsonl`` in grid order, written as CSV (and Parquet).

Rebuilding never shrinks or deletes a table: a log that lost lines (truncated, replaced) is an error
that names it, and the tables on disk stay as they were.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..files import atomic_save
from .kinds import BY_NAME, KINDS, grid
from .store import RunFolder, RunFolderError, elapsed_seconds

FAILURE_COLUMNS = ["kind", "key", "status", "error", "initializer", "activation", "width", "depth", "seed"]


def load_tables(run_dir: Path, *, strict: bool = True) -> dict:
    """Each kind's table (rows in grid order), ``failures``, and ``meta``, ``spec``, ``complete``.

    ``strict``: a missing or torn log is an error (see :meth:`RunFolder.read_log`).
    """
    folder = RunFolder.open(run_dir)
    meta, spec = folder.read_meta()
    done = folder.read_log(strict=strict)
    rows: dict[str, list] = {k.name: [] for k in KINDS}
    failures = []
    configs = grid(spec)
    for cfg in configs:
        rec = done.get(cfg.key)
        if rec is None:
            continue
        kind = BY_NAME[cfg.kind]
        ids = {k: cfg.params[k] for k in kind.id_columns}
        if ids.get("backend") is None:  # the worker chose (its $WINIT_BENCH_BACKEND): the record says which
            ids["backend"] = rec.get("backend")
        if rec["status"] != "ok":
            failures.append(dict(kind=cfg.kind, key=cfg.key, status=rec["status"], error=rec.get("error"),
                                 **{k: ids.get(k) for k in FAILURE_COLUMNS[4:]}))
        rows[cfg.kind] += kind.table_rows(ids, rec)
    out: dict = {name: pd.DataFrame(r) for name, r in rows.items()}
    out["failures"] = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    meta["elapsed_s"] = elapsed_seconds(meta, done.values())
    out.update(meta=meta, spec=spec, complete=all(c.key in done for c in configs))
    return out


def _rows_on_disk(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return max(sum(1 for _ in f) - 1, 0)
    except OSError:
        return 0


def write_tables(run_dir: Path) -> dict:
    """Build every table and its summaries and write them (CSV; Parquet when pyarrow is importable), atomically.

    Refuses (RunFolderError) to replace a table with one of fewer rows: the log lost what it had.
    """
    from .summary import summarize

    run_dir = Path(run_dir)
    tables = load_tables(run_dir)
    tables.update(summarize(tables))
    tdir = run_dir / "tables"
    frames = {name: df for name, df in tables.items() if isinstance(df, pd.DataFrame)}
    for name, df in frames.items():
        had = _rows_on_disk(tdir / f"{name}.csv")
        if len(df) < had:
            raise RunFolderError(f"{run_dir / 'configs.jsonl'}: gives {len(df)} rows of tables/{name}.csv, which has {had}; "
                                 "the log was truncated or replaced, so the tables were left as they were")
    tdir.mkdir(exist_ok=True)
    try:
        import pyarrow  # noqa: F401

        parquet = True
    except ImportError:
        parquet = False
    for name, df in frames.items():
        atomic_save(tdir / f"{name}.csv", lambda tmp, df=df: df.to_csv(tmp, index=False))
        if parquet and len(df.columns):
            atomic_save(tdir / f"{name}.parquet", lambda tmp, df=df: _to_parquet(df, tmp))
    return tables


def _to_parquet(df, path):
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype("string")
    df.to_parquet(path, index=False)
