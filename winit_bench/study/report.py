"""``report.md`` and the plots of a run folder: the answer per activation first, then each kind's plots and tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..files import atomic_write_text, writable_folder
from .kinds import KINDS
from .ratios import TOLERANCE_LOG2
from .recommend import CRITERION
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


def _num(v, fmt: str = "{:.3g}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return "∞" if v == math.inf else ("−∞" if v == -math.inf else fmt.format(v))


def _depth(v, L: int, status: str = "ok") -> str:
    """A usable depth as the report prints it: ``≥ L`` when it held through the deepest network."""
    if status != "ok":
        return status
    return "—" if v != v else (f"≥ {L}" if int(v) >= L else str(int(v)))


def _wide_status(stab, act: str, init: str, wide) -> str:
    s = stab[(stab.activation == act) & (stab.initializer == init) & (stab.width == wide)] if wide == wide else stab.iloc[:0]
    return s.status.iloc[0] if len(s) else "ok"


def answer_table(tables: dict) -> pd.DataFrame:
    """The recommendations as the report prints them."""
    rec, stab, L = tables["recommendations"], tables["stability"], tables["spec"].max_depth
    rows = []
    for r in rec.itertuples(index=False):
        depth = _depth(r.usable_depth, L)
        if r.wide_width == r.wide_width:
            depth += f" / {_depth(r.usable_depth_wide, L, _wide_status(stab, r.activation, r.best, r.wide_width))}"
        acc = "—" if r.test_accuracy != r.test_accuracy else f"{r.test_accuracy:.2f} [{_num(r.ci_low, '{:.2f}')}, {_num(r.ci_high, '{:.2f}')}]"
        rows.append({"activation": r.activation, "best": r.best, "usable depth": depth,
                     "drift fwd / bwd (bits/layer)": f"{_num(r.forward_bits_per_layer, '{:+.3f}')} / {_num(r.backward_bits_per_layer, '{:+.3f}')}",
                     "χ1": _num(r.chi1, "{:.3f}"), "ξ_q": _num(r.xi_q), "ξ_c": _num(r.xi_c), "−1/ln χ1": _num(r.xi_grad),
                     "digits accuracy [95% CI]": acc, "trainability": r.trainability if isinstance(r.trainability, str) else "—",
                     "as deep": r.also if isinstance(r.also, str) else "", "note": r.note if isinstance(r.note, str) else ""})
    return pd.DataFrame(rows)


def _answer(tables: dict) -> list[str]:
    spec, stab = tables["spec"], tables["stability"]
    width, L = min(spec.widths), spec.max_depth
    wide = f" / width {max(spec.widths)}" if len(spec.widths) > 1 else ""
    trained = f"depth {max(spec.train_depths)}, {spec.train_steps} SGD steps, seeds {', '.join(map(str, spec.train_seeds))}" if spec.train_depths else "not trained"
    parts = [
        "## Recommendations\n",
        f"**The best initializer per activation:** {CRITERION.format(width=width)}.\n",
        f"- **usable depth** (width {width}{wide}): the largest depth `d` at which both the forward ratio "
        f"`log2 q_z[d]/q_z[1]` and the backward ratio `log2 q_delta[1]/q_delta[d-1]` (the error at the first layer against the "
        f"last hidden one), averaged over seeds, stay within their tolerance at every depth up to `d`: ±{TOLERANCE_LOG2:g} bit (a "
        "factor 2) plus twice the spread that finite width alone gives that mean (`sqrt(k (κ/n + (5κ²/2 − μ3)/n²) / S) / ln 2` "
        "over `k` layers, `n` the width, `S` the seeds, `κ` and `μ3` the variance and third central moment of one unit's squared "
        "activation over its mean: Hanin & Rolnick 2018 and the next order, docs/theory.md), so that no draw's luck decides. "
        f"`≥ {L}` means it held through the deepest network of the grid; the first depth at which a ratio leaves it is one more. "
        "`stability.csv` has the raw worst ratios and the tolerance at the deepest layer in columns of their own.",
        f"- **drift**: `log2 q_z[{L}]/q_z[1] / {L - 1}` and `log2 q_delta[1]/q_delta[{L - 1}] / {L - 2}`, bits per layer (negative: shrinking).",
        "- **mean-field theory** at the initializer's `σ_w²`, `σ_b²` (square layers; LSUV: the realised ones): `χ1` is the factor the "
        "back-propagated error gains per layer, `ξ_q` and `ξ_c` the depth scales of the second moment and of the correlation between "
        "inputs (Schoenholz et al. 2017), `−1/ln χ1` that of the gradients (∞ at `χ1 = 1`; negative: gradients grow by e every |ξ| layers).",
        f"- **trainability** on digits ({trained}): mean test accuracy over seeds with its 95 % Student-t interval; `trains` when the "
        f"interval's low end reaches {spec.train_accuracy:g}, `fails` when its high end stays below or a seed diverged, `unclear` otherwise.\n",
        md_table(answer_table(tables)),
    ]
    left = stab[stab.status == "left out"].drop_duplicates(["activation", "initializer"]) if len(stab) else stab
    if len(left):
        parts.append("**Left out of the grid by design:** " + "; ".join(f"{r.initializer} × {r.activation} ({r.reason.removeprefix('undefined by design: ')})"
                                                                       for r in left.itertuples()) + ".\n")
    skipped = stab[stab.status == "not run"] if len(stab) else stab
    if len(skipped):
        for reason, g in skipped.groupby("reason", sort=False):
            parts.append(f"**Not run** ({len(g)} combination{'s' * (len(g) != 1)}: {', '.join(sorted(set(g.initializer)))} at width "
                         f"{', '.join(map(str, sorted(set(g.width))))}): {reason}. Not run is not failed: see the failed configurations below.\n")
    return parts + _critical_points(spec)


def _critical_points(spec) -> list[str]:
    from ..critical import NAMES, critical_point

    if not set(NAMES) & set(spec.initializers):
        return []
    rows = []
    for act in spec.activations:
        try:
            p = critical_point(act)
        except ValueError as exc:
            rows.append({"activation": act, "σ_b²": "—", "σ_w²": "—", "first layer σ_w²": "—", "q*": "—", "χ1": "—", "ξ_q": str(exc)})
            continue
        rows.append({"activation": act, "σ_b²": _num(p.sigma_b2), "σ_w²": _num(p.sigma_w2, "{:.4g}"), "first layer σ_w²": _num(p.sigma_w2_input, "{:.4g}"),
                     "q*": _num(p.q_star, "{:.4g}"), "χ1": _num(p.chi1, "{:.6f}"), "ξ_q": _num(p.xi_q)})
    return ["### The edge-of-chaos points\n",
            "`edge_of_chaos` (Gaussian) and `edge_of_chaos_orthogonal` use these: `σ_w²` on the critical line `χ1 = 1` at the default "
            "`σ_b²` (0 for linear and the ReLU family, else the first of 0.05, 0.1, 0.2, 0.5, 1 with a critical point), biases drawn "
            "from `N(0, σ_b²)`, and the first layer scaled so that inputs of second moment 1 start at the fixed point `q*`.\n",
            md_table(pd.DataFrame(rows))]


def _header(run_dir: Path, tables: dict) -> list[str]:
    spec, meta = tables["spec"], tables["meta"]
    info = meta.get("backend_info", {})
    return [
        f"# winit-bench run: {run_dir.name}\n",
        f"Profile **{spec.profile}**, backend **{spec.backend}** ({', '.join(f'{k}={v}' for k, v in info.items() if k != 'backend')}), "
        f"{spec.dtype}. Elapsed: **{duration(meta.get('elapsed_s'))}** over {len(meta.get('sessions', []))} session(s)"
        + ("" if tables.get("complete", True) else " — **incomplete: some configurations have not run yet (use --resume)**") + ".\n",
    ] + _answer(tables)


def _grids(tables: dict) -> list[str]:
    """Usable depth per initializer x activation and width, and the trainability, as compact grids."""
    stab, spec = tables["stability"], tables["spec"]
    parts = []
    if len(stab):
        parts += ["## Usable depth per initializer and activation\n",
                  "The usable depth of every combination (as above), or what happened instead: `not run` (with the reason above), "
                  "`left out`, `failed` or `diverged` (see the failed configurations); `0`: not even one layer (a second moment "
                  "of 0 or an overflow). `stability.csv` has the raw worst ratios and the tolerances.\n"]
        for w in spec.widths:
            s = stab[stab.width == w]
            grid = s.assign(cell=[_depth(d, spec.max_depth, st) for d, st in zip(s.usable_depth, s.status)])
            parts += [f"### Width {w}\n", md_table(grid.pivot(index="initializer", columns="activation", values="cell")
                                                    .reindex(index=list(spec.initializers), columns=list(spec.activations)).reset_index())]
    tr = tables.get("trainability")
    if tr is not None and len(tr):
        d = tr[tr.depth == tr.depth.max()]
        cell = [f"{m:.2f} [{_num(lo, '{:.2f}')}, {_num(hi, '{:.2f}')}] {v}" if m == m else v for m, lo, hi, v in zip(d.test_accuracy, d.ci_low, d.ci_high, d.verdict)]
        grid = d.assign(cell=cell).pivot(index="initializer", columns="activation", values="cell")
        grid = grid.reindex(index=[i for i in spec.initializers if i in grid.index], columns=[a for a in spec.activations if a in grid.columns])
        parts += [f"## Trainability at depth {int(d.depth.max())}\n", "Mean test accuracy [95 % t interval] and verdict; "
                  "`trainability.csv` has the reasons. Initializers not listed were not trained.\n", md_table(grid.reset_index())]
    return parts


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
    fails = tables["failures"]
    parts += _grids(tables)
    parts += [f"## Failed configurations ({len(fails)})\n", md_table(fails.drop(columns=["key"]) if len(fails) else fails)]
    parts += ["## Files\n", "Tables (CSV, and Parquet when pyarrow is importable) in `tables/`: `variance` (one row per layer and "
              "configuration), `variance_by_depth`, `stability`, `recommendations`, `train`, `trainability`, `throughput`, `failures`. "
              "`configs.jsonl` is the append-only log of finished configurations; `run.json` the grid and sessions.\n"]
    atomic_write_text(out_dir / "report.md", "\n".join(parts))
    return out_dir / "report.md"
