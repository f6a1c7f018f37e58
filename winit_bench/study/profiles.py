"""The profiles, ``quick``, ``default`` and ``full``: how big a study and an asv run are, in one place.

Each profile has two halves: ``study``, the grid of ``winit-bench run`` (fields of
:class:`winit_bench.study.Spec`), and ``bench``, the parameter grids of the asv suite
(``benchmarks/common.py`` reads them through ``$WINIT_BENCH_PROFILE``).

* ``quick``: CI and smoke runs, under 30 s on 2 cores;
* ``default``: a user's machine, under 3 minutes on 2 busy cores (docs/run.md has the measured times);
* ``full``: a GPU box, widths and batches up to 4096.
"""

from __future__ import annotations

from .inits import study_initializer_names

DEFAULT_ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu")
#: every initializer of the registry (edge_of_chaos, edge_of_chaos_orthogonal included) and LSUV
ALL_INITIALIZERS = study_initializer_names()
#: trained in the default profile (3 seeds each): one of each rule, the frameworks' defaults (Keras: xavier_uniform,
#: PyTorch: torch_linear_default) and the theory-derived ones; the others repeat a rule of these (xavier_normal is
#: lecun_normal on square layers, he_uniform has he_normal's variance, ...), cannot carry a signal 16 layers (a
#: fixed std of 0.05) or are symmetric (width-1 capacity, never recommended)
TRAINED = ("lecun_normal", "xavier_uniform", "he_normal", "orthogonal", "identity", "torch_linear_default",
           "edge_of_chaos", "edge_of_chaos_orthogonal", "lsuv")

_STUDY = {
    "quick": dict(
        depths=(1, 2, 4, 8, 16), widths=(128,), seeds=(0,), wide_seeds=(0,), batch=32,
        train_initializers=("he_normal", "edge_of_chaos", "lsuv"), train_activations=("relu", "tanh", "sigmoid"),
        train_depths=(8,), train_steps=150, train_seeds=(0, 1, 2), throughput=((128, 8, 64),), throughput_repeats=3,
    ),
    # one width, every initializer: a width-1024 network costs 16 times a width-256 one (full runs both)
    "default": dict(
        depths=(1, 2, 4, 8, 16, 32, 64), widths=(256,), seeds=(0, 1), wide_seeds=(0,), batch=32, wide_batch=32,
        train_initializers=TRAINED, train_activations=DEFAULT_ACTIVATIONS, train_depths=(16,),
        train_steps=150, train_seeds=(0, 1, 2), throughput=((256, 16, 128), (1024, 8, 64)),
    ),
    "full": dict(
        depths=(1, 2, 4, 8, 16, 32, 64, 128), widths=(256, 1024), seeds=(0, 1, 2, 3), wide_seeds=(0, 1), batch=256, wide_batch=128,
        wide_full_stats=True, full_stats=True, bands=True, train_initializers=ALL_INITIALIZERS, train_activations=DEFAULT_ACTIVATIONS,
        train_depths=(4, 16, 32), train_steps=600, train_seeds=(0, 1, 2),
        throughput=((256, 16, 128), (1024, 8, 128), (1024, 32, 256), (2048, 8, 256)), throughput_repeats=11,
    ),
}

#: the isometry kind (tanh at the edge of chaos, Gaussian vs orthogonal weights, at the study's widths and depths): the
#: sigma_b2 of its lines (1e-4 puts q* near 0.05, where orthogonal networks stay isometric), sample points and seeds per network.
#: Measured on 2 busy cores (load 5): quick 0.3 s (2 networks, width 128, depth 17), default 2.5-3.4 s (4 networks, width 256, depth 65)
ISOMETRY = {
    "quick": dict(sigma_b2=(0.05,), samples=2, seeds=(0,)),
    "default": dict(sigma_b2=(0.05, 1e-4), samples=2, seeds=(0,)),
    "full": dict(sigma_b2=(0.05, 1e-4), samples=4, seeds=(0, 1)),
}

# every initializer with a closed-form draw (orthogonal's QR is timed on its own)
NON_ORTHOGONAL = [
    "uniform", "normal", "truncated_normal", "lecun_normal", "lecun_uniform", "xavier_normal",
    "xavier_uniform", "he_normal", "he_uniform", "kumar_normal", "identity", "sparse",
    "variance_scaling", "torch_linear_default",
]  # fmt: skip

# depth x width x batch: the performance targets' grid (winit_bench.perf.TARGET_GRID)
PEER_GRID = ["10x1024x256", "10x64x32", "10x64x256", "10x128x32", "10x128x256", "10x256x32", "10x256x256", "50x64x32", "50x64x256"]
# its corners in the default profile (each case costs a PyTorch start-up; `winit-bench perf` prints the whole grid)
DEFAULT_PEER_CASES = ["10x64x32", "10x256x256", "10x1024x256", "50x64x256"]

# asv's own timing knobs for the ``time_`` benchmarks (benchmarks/common.py sets them on the base
# class): ``rounds`` passes over the suite, one process per case each, so that a case's samples are
# spread over the run rather than taken in one burst; ``repeat`` = (min samples, max samples, seconds
# after which sampling stops) per round, one call per sample (``number``; asv_runner re-runs setup
# between samples anyway), ``warmup_time`` seconds of calls first, ``min_run_count`` calls at least.
# ``threads``: the thread counts of every pool (BLAS, OpenMP, numba); 0 = every core.
_BENCH = {
    "quick": {
        "threads": [1],
        "asv": dict(rounds=3, repeat=(5, 100, 0.15), number=1, warmup_time=0.05, min_run_count=2),
        "dask_configs": 0,
        "dask_repeats": 1,
        "init_names": ["xavier_uniform", "he_normal", "truncated_normal"],
        "init_sizes": [256],
        "qr_sizes": [64, 256],
        "sparse_sizes": [1024],
        "sparse_sparsities": [0.5, 0.99],
        "ratio_repeat": 3,
        "depth": [2],
        "width": [128],
        "batch": [64],
        "dtype": ["float32"],
        "track_repeat": 3,
        "stats_shapes": ["8x128x64"],
        "peer_cases": ["10x64x32"],
        "stab_inits": ["xavier_normal", "he_normal"],
        "stab_acts": ["tanh", "relu"],
        "stab_depth": [4],
        "stab_width": [64],
        "stab_batch": 256,
        "train_inits": ["xavier_normal", "he_normal"],
        "train_acts": ["tanh", "relu"],
        "train_depth": [3],
        "train_width": 64,
        "train_steps": 50,
    },
    "default": {
        "threads": [1],
        "asv": dict(rounds=2, repeat=(5, 100, 0.25), number=1, warmup_time=0.1, min_run_count=2),
        "dask_configs": 16,
        "dask_repeats": 3,
        "init_names": NON_ORTHOGONAL,
        "init_sizes": [256, 1024, 4096],
        "qr_sizes": [64, 256, 1024],
        "sparse_sizes": [1024, 4096],
        "sparse_sparsities": [0.1, 0.5, 0.99],
        "ratio_repeat": 5,
        "depth": [2, 8],
        "width": [256, 1024],
        "batch": [64, 512],
        "dtype": ["float32", "float64"],
        "track_repeat": 5,
        "stats_shapes": ["50x512x256"],
        "peer_cases": DEFAULT_PEER_CASES,
        "stab_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "stab_acts": ["tanh", "relu", "sigmoid"],
        "stab_depth": [4, 16, 32],
        "stab_width": [64, 256],
        "stab_batch": 512,
        "train_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "train_acts": ["tanh", "relu", "sigmoid"],
        "train_depth": [3, 10],
        "train_width": 64,
        "train_steps": 300,
    },
    "full": {
        "threads": [1, 0],
        "asv": dict(rounds=3, repeat=(20, 500, 2.0), number=1, warmup_time=0.5, min_run_count=2),
        "dask_configs": 48,
        "dask_repeats": 3,
        "init_names": NON_ORTHOGONAL,
        "init_sizes": [256, 1024, 4096],
        "qr_sizes": [64, 256, 1024, 2048],
        "sparse_sizes": [1024, 4096, 8192],
        "sparse_sparsities": [0.1, 0.5, 0.99],
        "ratio_repeat": 7,
        "depth": [2, 8, 32],
        "width": [256, 1024, 4096],
        "batch": [64, 512, 4096],
        "dtype": ["float32", "float64"],
        "track_repeat": 7,
        "stats_shapes": ["50x512x256", "20x2048x1024"],
        "peer_cases": PEER_GRID + ["8x4096x4096"],  # the GPU target
        "stab_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "stab_acts": ["tanh", "relu", "sigmoid"],
        "stab_depth": [4, 16, 32, 64],
        "stab_width": [64, 256, 1024],
        "stab_batch": 1024,
        "train_inits": ["lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal", "torch_linear_default"],
        "train_acts": ["tanh", "relu", "sigmoid"],
        "train_depth": [3, 10, 20],
        "train_width": 128,
        "train_steps": 1000,
    },
}


PROFILES: dict[str, dict[str, dict]] = {name: {"study": _STUDY[name], "bench": _BENCH[name]} for name in _STUDY}
