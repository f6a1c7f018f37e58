"""``report.md`` and the plots of a run folder: the recommendations first, then each kind's plots and tables."""

from __future__ import annotations

import math
from pathlib import Path

from ..files import atomic_write_text, writable_folder
from .kinds import KINDS
from .store import RunFolder


def md_table(df, floatfmt: str = "{:.3g}", max_rows: int = 400) -> str:
    """A pipe table (no tabulate dependency)."""
    if df is None or not len(df):
        return "_(none)_\n"

    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else floatfmt.format(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.head(max_rows).itertuples(index=False)]
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows in the CSV_")
    return "\n".join(lines) + "\n"


def duration(seconds) -> str:
    if seconds is None or seconds != seconds:
        return "unknown"
    m, s = divmod(float(seconds), 60)
    return f"{int(m)} min {s:.0f} s" if m else f"{s:.1f} s"


def _header(run_dir: Path, tables: dict) -> list[str]:
    spec, meta = tables["spec"], tables["meta"]
    info = meta.get("backend_info", {})
    L = spec.max_depth
    return [
        f"# winit-bench run: {run_dir.name}\n",
        f"Profile **{spec.profile}**, backend **{spec.backend}** ({', '.join(f'{k}={v}' for k, v in info.items() if k != 'backend')}), "
        f"{spec.dtype}. Elapsed: **{duration(meta.get('elapsed_s'))}** over {len(meta.get('sessions', []))} session(s)"
        + ("" if tables.get("complete", True) else " — **incomplete: some configurations have not run yet (use --resume)**") + ".\n",
        "## Recommendations\n",
        f"For each activation, the initializers whose forward (q_z) and backward (q_delta) second moments stay within a "
        f"factor 2 of the first (last) layer at every layer up to depth {L} (mean over seeds of log2 ratios, beyond twice the finite-width "
        "spread expected of that mean — Var ln q[L]/q[1] ≈ κ L/n, κ = E[f^4]/E[f^2]^2 - 1, Hanin & Rolnick 2018 — at every width "
        f"{', '.join(map(str, spec.widths))}) **and** that reach test accuracy >= {spec.train_accuracy:g} on digits at depth "
        f"{max(spec.train_depths) if spec.train_depths else '-'} after {spec.train_steps} SGD steps. "
        "The backward ratio is taken against the last hidden layer (the output's δ is the loss derivative). "
        "`forward_only_and_trains`: forward within a factor 2 and trains, backward not; `stable_untrained`: stable but not trained.\n",
        md_table(tables["recommendations"]),
    ]


def build_report(run_dir: Path, out_dir: Path | None = None, tables: dict | None = None) -> Path:
    """Write the plots and ``report.md`` for a run folder (into ``out_dir``, default the run folder)."""
    run_dir = RunFolder.open(run_dir).path
    out_dir = writable_folder(out_dir or run_dir)
    if tables is None:
        from .summary import summarize
        from .tables import load_tables

        tables = load_tables(run_dir)
        tables.update(summarize(tables))
    parts = _header(run_dir, tables)
    var = tables["variance"]
    if len(var) and "theory_error" in var.columns and var["theory_error"].notna().any():
        errs = var["theory_error"].dropna().unique()
        parts.append(f"**Note:** the theory comparison failed for some configurations (measurements kept, no prediction): {'; '.join(map(str, errs[:3]))}\n")
    (out_dir / "plots").mkdir(exist_ok=True)
    for kind in KINDS:
        for name, title, caption in kind.plot(tables, out_dir / "plots"):
            parts += [f"## {title}\n", f"![{name}](plots/{name}.png)\n", caption + "\n"]
        for title, df in kind.report_tables(tables).items():
            parts += ([f"### {title}\n"] if title else []) + [md_table(df)]
    stab, fails, L = tables["stability"], tables["failures"], tables["spec"].max_depth
    if len(stab):
        parts += ["## Stability detail\n", f"Worst layer |log2| ratio up to depth {L} (forward, backward) and digits accuracy.\n",
                  md_table(stab.drop(columns=["notes"]) if not stab["notes"].astype(bool).any() else stab)]
    parts += [f"## Failed configurations ({len(fails)})\n", md_table(fails.drop(columns=["key"]) if len(fails) else fails)]
    parts += ["## Files\n", "Tables (CSV, and Parquet when pyarrow is importable) in `tables/`: `variance` (one row per layer and "
              "configuration), `variance_by_depth`, `stability`, `recommendations`, `train`, `throughput`, `failures`. "
              "`configs.jsonl` is the append-only log of finished configurations; `run.json` the grid and sessions.\n"]
    atomic_write_text(out_dir / "report.md", "\n".join(parts))
    return out_dir / "report.md"
