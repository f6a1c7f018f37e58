"""The study behind ``winit-bench run``: a grid of configurations, run one by one, never lost.

- :mod:`~winit_bench.study.spec` and :mod:`~winit_bench.study.profiles`: what a study is;
- :mod:`~winit_bench.study.kinds`: the experiment kinds (variance, train, throughput), one class each;
- :mod:`~winit_bench.study.inits`: how the study initialises a network (the registry's schemes with their
  biases, LSUV on a batch of its own, the combinations left out by design);
- :mod:`~winit_bench.study.store`: the run folder (lock, ``run.json``, ``configs.jsonl``);
- :mod:`~winit_bench.study.executors` and :mod:`~winit_bench.study.dask`: where configurations run;
- :mod:`~winit_bench.study.runner`: the run itself; :mod:`~winit_bench.study.tables`,
  :mod:`~winit_bench.study.summary`, :mod:`~winit_bench.study.ratios` (the log2 ratios and the usable
  depth), :mod:`~winit_bench.study.recommend` (the answer per activation) and
  :mod:`~winit_bench.study.report`: what it writes.

>>> from winit_bench import study
>>> spec = study.make_spec("quick", initializers=["he_normal"], activations=["relu"], depths=[2], widths=[16])
>>> [c.kind for c in study.grid(spec)]   # one network; trained on 3 seeds; one timing
['variance', 'train', 'train', 'train', 'throughput']
"""

from __future__ import annotations

from .executors import ClusterLost, InProcess, weight_groups
from .kinds import BY_NAME, KINDS, grid
from .kinds.variance import WeightCache
from .profiles import DEFAULT_ACTIVATIONS, PROFILES
from .record import run_one
from .runner import CRASH_ENV, check_extras, make_executor, run_study
from .spec import Config, Spec, canonical_activations, canonical_initializers, make_spec, resume_conflicts
from .store import LOG_NAME, SPEC_NAME, RunFolder, RunFolderError, is_run_dir, latest_run, new_run_dir
from .summary import summarize
from .tables import load_tables, write_tables

__all__ = [
    "BY_NAME", "CRASH_ENV", "ClusterLost", "Config", "DEFAULT_ACTIVATIONS", "InProcess", "KINDS", "LOG_NAME", "PROFILES", "RunFolder",
    "RunFolderError", "SPEC_NAME", "Spec", "WeightCache", "canonical_activations", "canonical_initializers", "check_extras", "grid",
    "is_run_dir", "latest_run", "load_tables", "make_executor", "make_spec", "new_run_dir", "resume_conflicts", "run_one", "run_study",
    "summarize", "weight_groups", "write_tables",
]
