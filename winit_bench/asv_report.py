"""``winit-bench report`` of an asv results folder: the results as a table per benchmark, in ``report.md``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .files import atomic_save, atomic_write_text, writable_folder
from .study.report import md_table


def build_asv_report(results_dir: Path, out_dir: Path) -> Path:
    """Summarise asv results (winit_bench.results.load_asv_results) as tables in ``out_dir/report.md``."""
    from .results import load_asv_results

    df = load_asv_results(results_dir)
    out_dir = writable_folder(out_dir)
    parts = [f"# asv results: {results_dir}\n", f"{len(df)} rows, {df['benchmark'].nunique() if len(df) else 0} benchmarks, "
             f"machines: {', '.join(map(str, sorted(df['machine'].dropna().unique()))) if len(df) else '-'}.\n"]
    if len(df):
        group = [c for c in ("benchmark", "backend", "machine") if c in df.columns]
        ok = df[df["status"] == "ok"] if "status" in df.columns else df
        summary = (df.groupby(group, dropna=False)
                     .agg(n=("value", "size"), ok=("status", lambda s: int((s == "ok").sum())),
                          failed=("status", lambda s: int((s == "failed").sum())), skipped=("status", lambda s: int((s == "skipped").sum())))
                     .reset_index())
        med = ok.groupby(group, dropna=False)["value"].median().rename("median_value").reset_index()
        summary = summary.merge(med, on=group, how="left")
        parts += ["## Per benchmark\n", md_table(summary)]
        if "commit" in df.columns and df["commit"].nunique() > 1:
            by_commit = ok.groupby(["benchmark", "commit"], dropna=False)["value"].median().unstack("commit")
            parts += ["## Median by commit\n", md_table(by_commit.reset_index())]
        atomic_save(out_dir / "asv_results.csv", lambda tmp: df.to_csv(tmp, index=False))
    atomic_write_text(out_dir / "report.md", "\n".join(parts))
    return out_dir / "report.md"


def default_asv_out(root: Path = Path("results")) -> Path:
    return Path(root) / f"asv-report-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
