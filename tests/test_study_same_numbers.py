"""A small `winit-bench run` gives the same tables as the golden ones (tests/data/study_golden/README.md).

Timings are not compared. A change to the study that is not meant to change a number must keep this green.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

GOLDEN = Path(__file__).parent / "data" / "study_golden"
COMMAND = ["run", "--profile", "quick", "--initializers", "lecun_normal,he_normal,orthogonal,kumar_normal",
           "--activations", "tanh,relu,sigmoid", "--depths", "1,2,4", "--widths", "32", "--seeds", "0,1",
           "--dtype", "float64", "--backend", "numpy", "--no-progress"]
TABLES = ("variance", "variance_by_depth", "stability", "train", "trainability", "recommendations", "failures")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("same") / "run"
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, "-m", "winit_bench.cli", *COMMAND, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("table", TABLES)
def test_table_unchanged(run_dir, table):
    expected = pd.read_csv(GOLDEN / f"{table}.csv")
    got = pd.read_csv(run_dir / "tables" / f"{table}.csv")
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-10, atol=0)
