"""``import winit_bench`` stays light: no optional heavy dependency is imported until used.

Checked in a fresh interpreter (``sys.executable -c``), since the test session itself may already have
imported any of these modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Optional extras (numba, cupy, matplotlib, torch, dask, scikit-learn) and scipy, which is no core
# dependency at all: a core install must import winit_bench without them.
HEAVY = ("numba", "cupy", "matplotlib", "torch", "dask", "sklearn", "scipy")


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("WINIT_BENCH_BACKEND", None)  # the default backend: nothing optional is needed
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_import_is_light():
    code = (
        "import sys, json\n"
        "import winit_bench\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import winit_bench pulled in {loaded}"


def test_public_api_present_after_light_import():
    proc = _run("import winit_bench as wb; print(sorted(n for n in ('initialize', 'initializer_names', "
                "'calculate_gain', 'truncnorm_std', 'get_activation', 'activation_names') if hasattr(wb, n)))")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("'") == 12, proc.stdout


def test_one_liner_he_normal_std():
    proc = _run("import winit_bench as wb; print(wb.initialize('he_normal', (256, 512), seed=1).std())")
    assert proc.returncode == 0, proc.stderr
    std = float(proc.stdout.strip())
    # He: std = sqrt(2 / n_in) = sqrt(2/512) = 0.0625; 131072 normal values: relative std error 0.2%
    assert std == pytest.approx(0.0625, rel=5 * (2 / (4 * 256 * 512)) ** 0.5)
