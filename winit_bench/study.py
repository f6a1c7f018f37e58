"""The study behind ``winit-bench run``: a grid of configurations, run one by one, never lost.

Three kinds of configuration:

``variance``
    one network of depth ``max(depths)`` and width ``w`` per (initializer, activation, width,
    seed), Gaussian inputs, one forward/backward pass; :func:`winit_bench.diagnostics.layer_stats`
    and :func:`winit_bench.compare.compare_to_theory` give one row per layer, so a single deep
    network answers every depth at once.
``train``
    trainability on scikit-learn's digits: SGD for a fixed number of steps, then the loss on the
    training set and the accuracy on the test set, per (initializer, activation, depth, seed).
``throughput``
    the engine's training step against the machine's matrix-multiply rate, measured in the same
    run: the same ``3 x depth`` matmuls timed alone, medians of several repeats.

Every finished configuration is appended to ``configs.jsonl`` in the run folder (one JSON line
with its key, status, error message and rows, flushed and fsynced), so an interrupted run resumes
with ``--resume`` without redoing anything. A configuration that diverges or raises is recorded as
failed with its message and the run goes on. The tables are built from that log in grid order, so
a resumed run yields the same tables as an uninterrupted one. Every other file is written
atomically (a temporary name in the same folder, then ``os.replace``).

Configurations run through an executor: :class:`InProcess` (the default, one by one in this
process) or :class:`winit_bench.distributed.DaskExecutor` (``workers=N`` or ``scheduler=ADDRESS``).
Both map the pure function :func:`run_one` (configuration -> record) over the pending configurations;
the driver appends each record to the log as it arrives, whatever the order.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .activations import get_activation, unknown_name_message
from .initializers import ALIASES, initialize, initializer_names

DEFAULT_ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu")
#: set to N to make the run exit abruptly (as if killed) after N configurations were logged; for tests
CRASH_ENV = "WINIT_BENCH_CRASH_AFTER"
LOG_NAME = "configs.jsonl"
SPEC_NAME = "run.json"


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Spec:
    """Everything that defines a study; stored in ``run.json`` so ``--resume`` reruns the same grid."""

    profile: str = "default"
    #: None: each worker's own $WINIT_BENCH_BACKEND (distributed runs that name no backend)
    backend: str | None = "numpy"
    dtype: str = "float32"
    initializers: tuple[str, ...] = ()
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    depths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    widths: tuple[int, ...] = (256, 1024)
    seeds: tuple[int, ...] = (0, 1)
    #: seeds used at widths >= ``wide`` (fewer: a width-1024 network costs 16x a width-256 one)
    wide_seeds: tuple[int, ...] = (0,)
    wide: int = 1024
    batch: int = 128
    wide_batch: int = 64
    #: layer_stats' structural columns (dead/saturated fractions, distinct units, rank) also at wide widths
    wide_full_stats: bool = False
    #: initializers run at widths >= ``wide`` (empty: all of ``initializers``)
    wide_initializers: tuple[str, ...] = ()
    #: layer_stats' structural columns at every width (else only compare_to_theory's pass runs)
    full_stats: bool = False
    #: compare_to_theory's finite-width bands (2-D quadratures: seconds per ReLU-family network)
    bands: bool = False
    #: BLAS threads (None: leave the library's setting); 1 is fastest on a busy machine, where
    #: OpenBLAS threads spinning against other processes can slow small matmuls 100-fold
    threads: int | None = 1
    # trainability on digits
    train_initializers: tuple[str, ...] = ()
    train_activations: tuple[str, ...] = ()
    train_depths: tuple[int, ...] = (16,)
    train_width: int = 64
    train_steps: int = 300
    train_batch: int = 64
    train_lr: float = 0.05
    train_seeds: tuple[int, ...] = (0,)
    train_accuracy: float = 0.8
    # throughput: (width, depth, batch)
    throughput: tuple[tuple[int, int, int], ...] = ((256, 16, 128), (1024, 8, 128))
    throughput_repeats: int = 7

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Spec":
        tuples = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) for k, v in d.items() if isinstance(v, list)}
        return cls(**{**d, **tuples})


_ALL = tuple(initializer_names(aliases=False))
_WIDE_INITS = ("lecun_normal", "he_normal", "kumar_normal", "torch_linear_default")  # xavier = lecun on square layers
_TRAIN_INITS = ("zeros", "normal", "torch_linear_default", "lecun_normal", "xavier_normal", "he_normal", "kumar_normal", "orthogonal")

PROFILES: dict[str, dict] = {
    "quick": dict(
        depths=(1, 2, 4, 8, 16), widths=(128,), seeds=(0,),
        wide_seeds=(0,), batch=64, train_initializers=("zeros", "lecun_normal", "xavier_normal", "he_normal"),
        train_activations=("relu", "tanh", "sigmoid"), train_depths=(8,), train_steps=150, throughput=((128, 8, 64),), throughput_repeats=3,
    ),
    "default": dict(
        depths=(1, 2, 4, 8, 16, 32, 64), widths=(256, 1024), seeds=(0, 1), wide_seeds=(0,), batch=64, wide_batch=64,
        wide_initializers=_WIDE_INITS, train_initializers=_ALL, train_activations=DEFAULT_ACTIVATIONS, train_depths=(16,), train_steps=150,
        throughput=((256, 16, 128), (1024, 8, 64)),
    ),
    "full": dict(
        depths=(1, 2, 4, 8, 16, 32, 64, 128), widths=(256, 1024), seeds=(0, 1, 2, 3), wide_seeds=(0, 1), batch=256, wide_batch=128, wide_full_stats=True, full_stats=True, bands=True,
        train_initializers=_ALL, train_activations=DEFAULT_ACTIVATIONS, train_depths=(4, 16, 32), train_steps=600, train_seeds=(0, 1, 2),
        throughput=((256, 16, 128), (1024, 8, 128), (1024, 32, 256), (2048, 8, 256)), throughput_repeats=11,
    ),
}


def _positive_ints(name: str, values: Iterable) -> tuple[int, ...]:
    out = []
    for v in values:
        try:
            i = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be positive integers, got {v!r}") from None
        if i < 1 or i != float(v):
            raise ValueError(f"{name} must be positive integers, got {v!r}")
        out.append(i)
    if not out:
        raise ValueError(f"{name} must not be empty")
    return tuple(dict.fromkeys(out))


def canonical_initializers(names: Iterable[str]) -> tuple[str, ...]:
    valid = initializer_names(aliases=True)
    out = []
    for n in names:
        key = str(n).strip().lower()
        if key not in valid:
            raise ValueError(unknown_name_message("initializer", n, initializer_names(aliases=False)))
        out.append(ALIASES.get(key, key))
    if not out:
        raise ValueError("initializers must not be empty")
    return tuple(dict.fromkeys(out))


def canonical_activations(names: Iterable[str]) -> tuple[str, ...]:
    out = [get_activation(str(n).strip()).name if hasattr(get_activation(str(n).strip()), "name") else str(n) for n in names]
    if not out:
        raise ValueError("activations must not be empty")
    return tuple(dict.fromkeys(out))


def make_spec(profile: str = "default", *, backend: str = "numpy", dtype: str | None = None, initializers=None, activations=None,
              depths=None, widths=None, seeds=None, threads: int | None = None) -> Spec:
    """The profile's grid with the user's choices on top, every name and number checked."""
    if profile not in PROFILES:
        raise ValueError(unknown_name_message("profile", profile, PROFILES))
    base = {**PROFILES[profile]}
    spec = Spec(profile=profile, backend=backend, initializers=_ALL, **base)
    changes: dict = {}
    if threads is not None:
        if threads == 0:
            changes["threads"] = None
        else:
            changes["threads"] = _positive_ints("threads", [threads])[0]
    if dtype is not None:
        if dtype not in ("float32", "float64"):
            raise ValueError(f"unknown dtype {dtype!r}; valid: float32, float64")
        changes["dtype"] = dtype
    if initializers is not None:
        inits = canonical_initializers(initializers)
        changes["initializers"] = inits
        changes["wide_initializers"] = ()
        changes["train_initializers"] = tuple(i for i in spec.train_initializers if i in inits) or inits[:4]
    if activations is not None:
        acts = canonical_activations(activations)
        changes["activations"] = acts
        changes["train_activations"] = tuple(a for a in spec.train_activations if a in acts) or acts[:2]
    if depths is not None:
        d = tuple(sorted(_positive_ints("depths", depths)))
        changes["depths"] = d
        changes["train_depths"] = tuple(x for x in spec.train_depths if x <= max(d)) or (min(d[-1], 8),)
    if widths is not None:
        w = _positive_ints("widths", widths)
        changes["widths"] = w
        changes["throughput"] = tuple((x, min(spec.throughput[0][1], max(changes.get("depths", spec.depths))), spec.throughput[0][2]) for x in w[:2])
    if seeds is not None:
        s = []
        for v in seeds:
            try:
                s.append(int(v))
            except (TypeError, ValueError):
                raise ValueError(f"seeds must be integers >= 0, got {v!r}") from None
        if not s or min(s) < 0:
            raise ValueError(f"seeds must be integers >= 0, got {list(seeds)!r}")
        s = tuple(dict.fromkeys(s))
        changes["seeds"] = s
        changes["wide_seeds"] = s[: max(1, len(s) // 2)]
        changes["train_seeds"] = s[: len(spec.train_seeds)]
    return replace(spec, **changes)


@dataclass(frozen=True)
class Config:
    kind: str
    key: str
    params: dict = field(hash=False, compare=False)


def grid(spec: Spec) -> list[Config]:
    """Every configuration of the study, in the order they run (and in which the tables list them)."""
    out: list[Config] = []
    for width in spec.widths:
        wide = width >= spec.wide
        seeds = spec.wide_seeds if wide else spec.seeds
        batch = spec.wide_batch if wide else spec.batch
        for seed in seeds:
            inits = [i for i in spec.initializers if i in spec.wide_initializers] if wide and spec.wide_initializers else spec.initializers
            for init in inits:
                for act in _order_by_weights(init, spec.activations):
                    p = dict(initializer=init, activation=act, width=width, depth=spec.max_depth, batch=batch, seed=seed, dtype=spec.dtype,
                             backend=spec.backend, full_stats=spec.wide_full_stats if wide else spec.full_stats, bands=spec.bands)
                    out.append(Config("variance", _key("variance", p), p))
    for depth in spec.train_depths:
        for seed in spec.train_seeds:
            for init in spec.train_initializers:
                for act in spec.train_activations:
                    p = dict(initializer=init, activation=act, depth=depth, width=spec.train_width, seed=seed, steps=spec.train_steps,
                             batch=spec.train_batch, lr=spec.train_lr, dtype=spec.dtype, backend=spec.backend)
                    out.append(Config("train", _key("train", p), p))
    for width, depth, batch in spec.throughput:
        p = dict(width=width, depth=depth, batch=batch, repeats=spec.throughput_repeats, dtype=spec.dtype, backend=spec.backend)
        out.append(Config("throughput", _key("throughput", p), p))
    return out


def _key(kind: str, p: dict) -> str:
    return kind + "|" + "|".join(f"{k}={p[k]}" for k in sorted(p))


def _weights_signature(init: str, act: str) -> str:
    """Equal for two activations exactly when ``init`` draws the same weights for both (gains differ or not)."""
    try:
        w = initialize(init, (8, 8), seed=12345, layer=0, activation=act, dtype="float64")
    except Exception as exc:  # the real run records the error; here only the order matters
        return f"error:{exc}"
    return hashlib.sha1(np.ascontiguousarray(w).tobytes()).hexdigest()


def _order_by_weights(init: str, acts: tuple[str, ...]) -> list[str]:
    """Activations that share weights next to each other, so one cached draw serves them all."""
    sigs = {a: _weights_signature(init, a) for a in acts}
    first = {}
    for a in acts:
        first.setdefault(sigs[a], len(first))
    return sorted(acts, key=lambda a: first[sigs[a]])


# --------------------------------------------------------------------------- files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_save(path, save)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save(path: Path, save: Callable[[str], None]) -> None:
    """Let ``save(tmp_path)`` write a file (a DataFrame, a figure), then move it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_log(run_dir: Path) -> dict[str, dict]:
    """Finished configurations by key; a torn last line (a kill mid-write) is ignored."""
    path = Path(run_dir) / LOG_NAME
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[rec["key"]] = rec
    return done


def _truncate_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data[: data.rfind(b"\n") + 1]
        atomic_write_bytes(path, keep)


def new_run_dir(root: Path) -> Path:
    root = Path(root)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(100):
        d = root / (f"run-{stamp}" + (f"-{i}" if i else ""))
        if not d.exists():
            return d
    raise OSError(f"cannot find a free run folder name under {root}")


def prepare_dir(path: Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create output folder {str(path)!r}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OSError(f"output folder {str(path)!r} is not writable")
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"output folder {str(path)!r} is not writable: {exc.strerror or exc}") from None
    return path


def latest_run(root: Path) -> Path:
    runs = sorted(p for p in Path(root).glob("run-*") if (p / SPEC_NAME).exists())
    if not runs:
        raise OSError(f"no run to resume under {str(root)!r}")
    return runs[-1]


# --------------------------------------------------------------------------- running one configuration


class _WeightCache:
    """The last weight draw, reused by the next activation when the initializer draws identical weights."""

    def __init__(self):
        self.key, self.params = None, None

    def get(self, p: dict):
        sig = _weights_signature(p["initializer"], p["activation"])
        key = (p["initializer"], sig, p["width"], p["depth"], p["seed"], p["dtype"])
        if key != self.key:
            self.key, self.params = None, None  # free the old draw before making the new one
            n = p["width"]
            act = get_activation(p["activation"])
            self.params = [(initialize(p["initializer"], (n, n), seed=p["seed"], layer=l, activation=act, dtype=p["dtype"]),
                            np.zeros(n, p["dtype"])) for l in range(p["depth"])]
            self.key = key
        return self.params


def _need(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(f"winit_bench.{module}")
    except ImportError as exc:
        if exc.name == f"winit_bench.{module}":
            raise ImportError(f"winit_bench.{module} is not available in this installation; it is needed for {what}") from None
        raise


def _finite_or_none(v):
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _records(df) -> list[dict]:
    return [{k: _finite_or_none(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def run_variance(p: dict, cache: _WeightCache) -> list[dict]:
    from .data import gaussian_inputs
    from .engine import MLP

    diagnostics = _need("diagnostics", "the variance study (layer_stats)")
    compare = _optional_compare()
    n, depth = p["width"], p["depth"]
    params = cache.get(p)
    net = MLP([n] * (depth + 1), p["activation"], "zeros", seed=p["seed"], dtype=p["dtype"], backend=p["backend"])
    net.set_weights(params)
    net.initializer = p["initializer"]  # what the weights really are
    X = gaussian_inputs(p["batch"], n, seed=10_000 + p["seed"], dtype=p["dtype"])
    # an output error independent of the weights, as the backward theory assumes (a random Y is not:
    # out - Y carries the output back through the weights that made it, growing δ ~ depth/2)
    Y = compare.independent_error_target(net, X) if compare else gaussian_inputs(p["batch"], n, seed=20_000 + p["seed"], dtype=p["dtype"])
    full = p.get("full_stats", True) or compare is None
    stats = diagnostics.layer_stats(net, X, Y) if full else None
    if compare is None:
        return _records(stats)
    if not p.get("bands", True) and hasattr(compare, "predict_forward") and hasattr(compare, "predict_backward"):
        return _records(_fast_theory(compare, diagnostics, net, X, Y, stats))
    # compare_to_theory runs its own pass (q_z, q_a, q_delta, sigma_w2 and the predictions); at wide
    # widths that pass is all we pay for, the structural columns (dead, saturated, rank) are skipped
    try:
        theory = compare.compare_to_theory(net, X, Y)
    except FloatingPointError:
        raise
    except Exception as exc:  # keep the measurement; say why the theory is missing
        if stats is None:
            stats = diagnostics.layer_stats(net, X, Y)
        return _records(stats.assign(theory_error=f"{type(exc).__name__}: {exc}"))
    if stats is None:
        return _records(theory)
    extra = [c for c in theory.columns if c not in stats.columns or c == "layer"]
    return _records(stats.merge(theory[extra], on="layer", how="left"))


def _fast_theory(compare, diagnostics, net, X, Y, stats):
    """compare_to_theory's predictions without its finite-width bands (their 2-D quadratures cost
    seconds per ReLU network): q_z_pred from compare.predict_forward (the q-map with the realised
    sigma_w2), q_delta_pred from compare.predict_backward anchored at the output, and the log2 ratios."""
    if stats is None:
        stats = diagnostics.layer_stats(net, X, Y, structure=False)
    Xh = np.asarray(X, dtype=np.float64)
    q0 = float(np.vdot(Xh.ravel(), Xh.ravel()) / Xh.size)
    sw2, sb2 = stats["sigma_w2"].to_numpy(float), stats["sigma_b2"].to_numpy(float)
    q_z_pred = np.asarray(compare.predict_forward(net.activation, sw2, sb2, q0), dtype=float)
    q_delta = stats["q_delta"].to_numpy(float)
    q_delta_pred = np.asarray(compare.predict_backward(net.activation, sw2, list(net.sizes), q_z_pred, q_delta[-1]), dtype=float)
    with np.errstate(all="ignore"):
        return stats.assign(q_z_pred=q_z_pred, log2_ratio_z=np.log2(stats["q_z"].to_numpy(float) / q_z_pred),
                            q_delta_pred=q_delta_pred, log2_ratio_delta=np.log2(q_delta / q_delta_pred))


_WARNED: set = set()


def _optional_compare():
    """winit_bench.compare, or None (once: a warning) when this installation lacks it: rows then carry no theory."""
    try:
        return _need("compare", "the theory columns")
    except ImportError as exc:
        if "compare" not in _WARNED:
            _WARNED.add("compare")
            print(f"winit-bench: warning: {exc}; the variance tables will have no theory columns", file=sys.stderr)
        return None


def run_train(p: dict) -> list[dict]:
    from .engine import MLP

    split = _digits(p["dtype"])
    sizes = [split.n_features] + [p["width"]] * (p["depth"] - 1) + [split.n_classes]
    net = MLP(sizes, p["activation"], p["initializer"], output="softmax", seed=p["seed"], dtype=p["dtype"], backend=p["backend"])
    rng = np.random.default_rng(np.random.SeedSequence(p["seed"], spawn_key=(7,)))
    n = len(split.y_train)
    losses = []
    for _ in range(p["steps"]):
        idx = rng.integers(0, n, p["batch"])
        losses.append(net.train_step(split.X_train[idx], split.y_train[idx], p["lr"]))
    probs = np.asarray(net.backend.to_host(net.forward(split.X_train)), dtype=np.float64)
    train_loss = float(-np.mean(np.log(np.clip(probs[np.arange(n), split.y_train], 1e-300, None))))
    acc = float((net.predict(split.X_test) == split.y_test).mean())
    train_acc = float((probs.argmax(axis=1) == split.y_train).mean())
    return [dict(initial_loss=float(losses[0]), final_loss=train_loss, train_accuracy=train_acc, test_accuracy=acc)]


_DIGITS: dict = {}


def _digits(dtype: str):
    if dtype not in _DIGITS:
        from .data import digits

        _DIGITS[dtype] = digits(dtype=dtype)
    return _DIGITS[dtype]


def run_throughput(p: dict) -> list[dict]:
    from .backends import get_backend
    from .data import gaussian_inputs
    from .engine import MLP

    be = get_backend(p["backend"])
    n, depth, batch, reps = p["width"], p["depth"], p["batch"], p["repeats"]
    net = MLP([n] * (depth + 1), "relu", "he_normal", seed=0, dtype=p["dtype"], backend=be)
    X = gaussian_inputs(batch, n, seed=1, dtype=p["dtype"])
    Y = gaussian_inputs(batch, n, seed=2, dtype=p["dtype"])
    lr = 1e-6
    for _ in range(2):
        net.train_step(X, Y, lr)
    be.synchronize()
    step = []
    for _ in range(reps):
        t = time.perf_counter()
        net.train_step(X, Y, lr)
        be.synchronize()
        step.append(time.perf_counter() - t)
    # the same 3 x depth matmuls alone, on preallocated arrays
    ws = [be.asarray(w) for w, _ in net.weights()]
    a = be.asarray(X)
    d = be.asarray(Y)
    z = be.empty((batch, n), p["dtype"])
    g = be.empty((batch, n), p["dtype"])
    gw = be.empty((n, n), p["dtype"])

    def matmuls():
        for w in ws:
            be.matmul(a, w.T, out=z)
            be.matmul(d.T, a, out=gw)
            be.matmul(d, w, out=g)
        be.synchronize()

    matmuls()
    mm = []
    for _ in range(reps):
        t = time.perf_counter()
        matmuls()
        mm.append(time.perf_counter() - t)
    flops = 3 * 2.0 * batch * n * n * depth
    t_step, t_mm = statistics.median(step), statistics.median(mm)
    return [dict(step_s=t_step, matmul_s=t_mm, flops=flops, engine_gflops=flops / t_step / 1e9, matmul_gflops=flops / t_mm / 1e9,
                 efficiency=t_mm / t_step, samples_per_s=batch / t_step)]


def run_config(cfg: Config, cache: _WeightCache) -> list[dict]:
    if cfg.kind == "variance":
        return run_variance(cfg.params, cache)
    if cfg.kind == "train":
        return run_train(cfg.params)
    if cfg.kind == "throughput":
        return run_throughput(cfg.params)
    raise ValueError(f"unknown configuration kind {cfg.kind!r}")


def run_one(cfg: Config, cache: _WeightCache | None = None, worker: str = "local") -> dict:
    """Run one configuration and return its log record; never raises for the configuration's own errors.

    A configuration that raises or diverges is a *recorded failure* (``status`` and ``error``), not an
    exception. ``backend`` is the backend that really ran (``params["backend"]``, or this process's
    ``$WINIT_BENCH_BACKEND`` when that is None) and ``worker`` says where. ``cache`` holds the last
    weight draw, shared by neighbouring configurations that draw the same weights (default: a new one).
    """
    cache = _WeightCache() if cache is None else cache
    rec = dict(key=cfg.key, kind=cfg.kind, params=cfg.params, status="ok", error=None, rows=[], backend=cfg.params.get("backend"), worker=worker)
    start = time.perf_counter()
    try:
        from .backends import get_backend

        rec["backend"] = get_backend(cfg.params.get("backend")).name
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflow in exploding nets is data, not news
            rec["rows"] = run_config(cfg, cache)
    except KeyboardInterrupt:
        raise
    except FloatingPointError as exc:  # wb.Diverged and friends
        rec.update(status="diverged", error=f"{type(exc).__name__}: {exc}")
    except MemoryError as exc:
        cache.key = cache.params = None
        rec.update(status="failed", error=f"MemoryError: {exc}")
    except Exception as exc:
        rec.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        if os.environ.get("WINIT_BENCH_DEBUG"):
            traceback.print_exc()
    rec["elapsed_s"] = time.perf_counter() - start
    return rec


def weight_groups(configs: list[Config]) -> list[list[Config]]:
    """``configs`` cut into runs of neighbours that draw the same weights (the grid puts them next to
    each other), so an executor that splits the work keeps one draw for each run, as in-process does."""
    groups: list[list[Config]] = []
    last = None
    for cfg in configs:
        key = None
        if cfg.kind == "variance":
            p = cfg.params
            key = (p["initializer"], _weights_signature(p["initializer"], p["activation"]), p["width"], p["depth"], p["seed"], p["dtype"])
        if key is not None and key == last:
            groups[-1].append(cfg)
        else:
            groups.append([cfg])
        last = key
    return groups


class InProcess:
    """The default executor: configurations one by one, in order, in this process."""

    def __init__(self):
        self.cache = _WeightCache()

    def map(self, configs: list[Config], *, exclusive: bool = False, started: Callable[[Config], None] | None = None) -> Iterator[dict]:
        """Records of ``configs`` as they finish (``exclusive``: timing configurations that must run alone)."""
        for cfg in configs:
            if started is not None:
                started(cfg)
            yield run_one(cfg, self.cache)

    def describe(self) -> dict:
        return dict(executor="in-process")

    def close(self) -> None:
        self.cache = _WeightCache()


def make_executor(workers: int | None = None, scheduler: str | None = None, *, threads: int | None = 1):
    """InProcess without ``workers``/``scheduler``; else a Dask executor (the ``distributed`` extra)."""
    if workers is not None and scheduler is not None:
        raise ValueError("give either workers (a local Dask cluster) or scheduler (an existing one), not both")
    if workers is None and scheduler is None:
        return InProcess()
    from .distributed import DaskExecutor

    return DaskExecutor(workers=workers, scheduler=scheduler, threads=threads)


# --------------------------------------------------------------------------- the study


def check_extras(spec: Spec) -> None:
    """Fail before any work when an optional dependency the study needs is missing."""
    from .extras import require

    require("matplotlib")
    if spec.train_depths and spec.train_initializers and spec.train_activations:
        require("sklearn")


def run_study(spec: Spec | None, run_dir: Path, *, resume: bool = False, progress: bool = True, report: bool = True,
              workers: int | None = None, scheduler: str | None = None) -> Path:
    """Run (or resume) the study into ``run_dir``; return the folder. Tables and the report are written at the end.

    ``workers=N`` runs the configurations on a local Dask cluster of N single-threaded worker
    processes, ``scheduler="tcp://host:8786"`` on an existing Dask cluster; neither: in-process.
    The results, the log and ``--resume`` are the same either way.
    """
    run_dir = prepare_dir(run_dir)
    spec_path = run_dir / SPEC_NAME
    if resume:
        if not spec_path.exists():
            raise OSError(f"{str(run_dir)!r} holds no run to resume (no {SPEC_NAME})")
        meta = json.loads(spec_path.read_text())
        spec = Spec.from_json(meta["spec"])
    else:
        if spec_path.exists() or (run_dir / LOG_NAME).exists():
            raise OSError(f"{str(run_dir)!r} already holds a run; resume it with --resume {run_dir}")
        meta = dict(spec=spec.to_json(), created=_now(), sessions=[], host=platform.node(), python=platform.python_version())
    assert spec is not None
    check_extras(spec)
    executor = make_executor(workers, scheduler, threads=spec.threads)
    try:
        _run(spec, run_dir, meta, executor, progress=progress)
    finally:
        executor.close()
    tables = write_tables(run_dir)
    if report:
        from .report import build_report

        build_report(run_dir, tables=tables)
    return run_dir


def _run(spec: Spec, run_dir: Path, meta: dict, executor, *, progress: bool) -> None:
    """Run the pending configurations through ``executor``, appending each record to the log as it arrives."""
    from .backends import get_backend
    from .progress import Progress

    spec_path = run_dir / SPEC_NAME
    backend = get_backend(spec.backend)  # loads its BLAS first, so that the thread limit reaches it
    limiter = _blas_threads(spec.threads)
    meta["backend_info"] = {k: str(v) for k, v in backend.info().items()}
    session = dict(started=_now(), wall_s=None, ran=0, skipped=0, **executor.describe())
    meta.setdefault("sessions", []).append(session)
    atomic_write_text(spec_path, json.dumps(meta, indent=1))

    configs = grid(spec)
    if progress:
        where = executor.describe()
        where = f", {where['executor']}" + (f" ({where['workers']} workers)" if "workers" in where else "")
        backend = spec.backend or "each worker's backend"
        print(f"winit-bench run: {len(configs)} configurations ({spec.profile} profile, {backend}, {spec.dtype}{where}) -> {run_dir}", file=sys.stderr)
    log_path = run_dir / LOG_NAME
    _truncate_torn_tail(log_path)
    done = read_log(run_dir)
    todo = [c for c in configs if c.key not in done]
    session["skipped"] = len(configs) - len(todo)
    crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
    bar = Progress(len(configs), initial=len(configs) - len(todo), enabled=progress)
    t0 = time.perf_counter()
    ran = 0
    try:
        with open(log_path, "a", encoding="utf-8") as log:
            # throughput configurations time the machine: they run last and alone (exclusive)
            timed = [c for c in todo if c.kind == "throughput"]
            rest = [c for c in todo if c.kind != "throughput"]
            started = lambda cfg: bar.update(0, _label(cfg))  # noqa: E731
            for batch, exclusive in ((rest, False), (timed, True)):
                for rec in executor.map(batch, exclusive=exclusive, started=started):
                    log.write(json.dumps(rec, allow_nan=True) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
                    ran += 1
                    bar.update(1, _label(Config(rec["kind"], rec["key"], rec["params"])))
                    if crash_after and ran >= crash_after:
                        os._exit(137)  # simulate a kill: no cleanup, no tables
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        bar.close()
        session["wall_s"] = time.perf_counter() - t0
        session["ran"] = ran
        meta["finished"] = None
        atomic_write_text(spec_path, json.dumps(meta, indent=1))
    meta["finished"] = _now()
    meta["elapsed_s"] = sum(s.get("wall_s") or 0 for s in meta["sessions"])
    atomic_write_text(spec_path, json.dumps(meta, indent=1))


def _blas_threads(n: int | None):
    """Limit BLAS/OpenMP threads to ``n`` for the run (threadpoolctl); None leaves them alone."""
    if n is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("winit-bench: warning: threadpoolctl is not installed; --threads is ignored (set OPENBLAS_NUM_THREADS instead)", file=sys.stderr)
        return None
    return threadpool_limits(limits=n)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _label(cfg: Config) -> str:
    p = cfg.params
    if cfg.kind == "variance":
        return f"variance {p['initializer']}/{p['activation']} w={p['width']} seed={p['seed']}"
    if cfg.kind == "train":
        return f"train {p['initializer']}/{p['activation']} L={p['depth']}"
    return f"throughput w={p['width']} L={p['depth']} b={p['batch']}"


# --------------------------------------------------------------------------- tables


_ID_COLUMNS = {
    "variance": ("initializer", "activation", "width", "depth", "batch", "seed", "dtype", "backend"),
    "train": ("initializer", "activation", "depth", "width", "seed", "steps", "batch", "lr", "dtype", "backend"),
    "throughput": ("width", "depth", "batch", "repeats", "dtype", "backend"),
}


def load_tables(run_dir: Path) -> dict:
    """The run's tidy tables as pandas DataFrames, rows in grid order: variance (per layer), train,
    throughput, failures."""
    import pandas as pd

    run_dir = Path(run_dir)
    meta = json.loads((run_dir / SPEC_NAME).read_text())
    spec = Spec.from_json(meta["spec"])
    done = read_log(run_dir)
    rows: dict[str, list] = {"variance": [], "train": [], "throughput": []}
    failures = []
    for cfg in grid(spec):
        rec = done.get(cfg.key)
        if rec is None:
            continue
        ids = {k: cfg.params[k] for k in _ID_COLUMNS[cfg.kind]}
        if ids.get("backend") is None:  # the worker chose (its $WINIT_BENCH_BACKEND): the record says which
            ids["backend"] = rec.get("backend")
        if rec["status"] != "ok":
            failures.append(dict(kind=cfg.kind, key=cfg.key, status=rec["status"], error=rec["error"], **{k: ids.get(k) for k in ("initializer", "activation", "width", "depth", "seed")}))
            if cfg.kind == "train":
                rows["train"].append(dict(ids, status=rec["status"], initial_loss=math.nan, final_loss=math.nan, train_accuracy=math.nan, test_accuracy=math.nan))
            continue
        for r in rec["rows"]:
            if cfg.kind == "variance":
                r = {k: v for k, v in r.items() if k not in ids}
                rows["variance"].append({**ids, "net_depth": ids["depth"], **r})
            else:
                rows[cfg.kind].append({**ids, "status": "ok", **r})
    out = {k: pd.DataFrame(v) for k, v in rows.items()}
    if len(out["variance"]):
        out["variance"] = out["variance"].drop(columns=["depth"])
    out["failures"] = pd.DataFrame(failures, columns=["kind", "key", "status", "error", "initializer", "activation", "width", "depth", "seed"])
    out["meta"] = meta
    out["spec"] = spec
    out["complete"] = all(c.key in done for c in grid(spec))
    return out


def write_tables(run_dir: Path) -> dict:
    """Write every table as CSV (and Parquet when pyarrow is importable), atomically."""
    run_dir = Path(run_dir)
    tables = load_tables(run_dir)
    tables.update(summarize(tables))
    tdir = run_dir / "tables"
    tdir.mkdir(exist_ok=True)
    try:
        import pyarrow  # noqa: F401

        parquet = True
    except ImportError:
        parquet = False
    for name, df in tables.items():
        if not hasattr(df, "to_csv"):
            continue
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


# --------------------------------------------------------------------------- summaries


def predicted_column(df, base: str) -> str | None:
    """The column of compare_to_theory's prediction for ``base`` (``q_z`` or ``q_delta``), if any."""
    exact = [f"{base}_theory", f"{base}_pred", f"{base}_predicted", f"predicted_{base}", f"theory_{base}", f"pred_{base}"]
    for c in exact:
        if c in df.columns:
            return c
    for c in df.columns:
        lc = c.lower()
        if base in lc and ("pred" in lc or "theory" in lc) and "log2" not in lc and "ratio" not in lc:
            return c
    return None


def _finite_width_sd_log2(activation: str, depth: int, width: int, n_seeds: int) -> float:
    """Standard deviation of the seed mean of ``log2 q[L]/q[1]`` at finite width, to first order.

    Each layer multiplies the second moment by a factor of variance ``κ/n``, ``κ = E[f^4]/E[f^2]^2 - 1``
    (5 for ReLU: Hanin & Rolnick 2018; 2 for linear), so ``Var ln(q[L]/q[1]) ≈ κ (L - 1)/n``.
    """
    from .activations import get_activation
    from .gaussian import expect

    f = get_activation(activation)
    kappa = expect(lambda z: f(z) ** 4) / expect(lambda z: f(z) ** 2) ** 2 - 1
    return math.sqrt(kappa * max(depth - 1, 0) / width / max(n_seeds, 1)) / math.log(2)


def _depth_rows(g, depths, qd_pred, qz_pred):
    """Per depth d: forward log2 q_z[d]/q_z[1]; backward log2 q_delta[L+1-d]/q_delta[L] (d layers back from the output)."""
    g = g.sort_values("layer")
    L = int(g["layer"].max())
    f64 = np.float64
    qz = {l: f64(v) for l, v in zip(g["layer"], g["q_z"])}
    qd = {l: f64(v) for l, v in zip(g["layer"], g["q_delta"])}
    tz = {l: f64(v) for l, v in zip(g["layer"], g[qz_pred])} if qz_pred else {}
    td = {l: f64(v) for l, v in zip(g["layer"], g[qd_pred])} if qd_pred else {}
    out = []
    with np.errstate(all="ignore"):
        lz = {l: np.log2(qz[l] / qz[1]) for l in qz}
        ld = {l: np.log2(qd[l] / qd[L]) for l in qd}
        for d in depths:
            if d > L:
                continue
            fwd = [lz[l] for l in range(1, d + 1)]
            bwd = [ld[l] for l in range(L + 1 - d, L + 1)]
            row = dict(depth=d, log2_qz_ratio=float(lz[d]), log2_qdelta_ratio=float(ld[L + 1 - d]),
                       max_abs_log2_qz=float(np.max(np.abs(fwd))), max_abs_log2_qdelta=float(np.max(np.abs(bwd))))
            if tz:
                row["theory_log2_qz_ratio"] = float(np.log2(tz[d] / tz[1]))
            if td:
                row["theory_log2_qdelta_ratio"] = float(np.log2(td[L + 1 - d] / td[L]))
            out.append(row)
    return out


def summarize(tables: dict) -> dict:
    """Derived tables: variance_by_depth (per config and depth), heatmap (log2 q_z[L]/q_z[1] per
    initializer x activation x width), recommendations (per activation)."""
    import pandas as pd

    spec: Spec = tables["spec"]
    var, train = tables["variance"], tables["train"]
    keys = ["initializer", "activation", "width", "seed"]
    by_depth = []
    if len(var):
        qz_pred, qd_pred = predicted_column(var, "q_z"), predicted_column(var, "q_delta")
        for k, g in var.groupby(keys, sort=False):
            for r in _depth_rows(g, spec.depths, qd_pred, qz_pred):
                by_depth.append({**dict(zip(keys, k)), **r})
    by_depth = pd.DataFrame(by_depth)
    out = {"variance_by_depth": by_depth}
    # mean over seeds of the per-layer log2 ratios, less twice the finite-width spread expected of that
    # mean (Hanin & Rolnick), then the worst layer: stable when within a factor 2 everywhere
    stab = []
    failed = tables["failures"]
    for init in spec.initializers:
        for act in spec.activations:
            ok, worst_f, worst_b, notes = True, 0.0, 0.0, []
            for w in spec.widths:
                fails = failed[(failed.kind == "variance") & (failed.initializer == init) & (failed.activation == act) & (failed.width == w)] if len(failed) else []
                if len(fails):
                    ok = False
                    worst_f = worst_b = math.inf
                    notes.append(f"w={w}: {fails.iloc[0]['status']}")
                    continue
                g = var[(var.initializer == init) & (var.activation == act) & (var.width == w)] if len(var) else var
                if not len(g):
                    notes.append(f"w={w}: not in the grid")
                    continue
                L = int(g["layer"].max())
                with np.errstate(all="ignore"):
                    f = g.assign(r=np.log2(g["q_z"] / g.groupby("seed")["q_z"].transform(lambda s: s.iloc[0])))
                    # backward reference: the last hidden layer's δ (the output's δ is the loss derivative itself)
                    gh = g[g["layer"] < L] if L > 1 else g
                    last = gh.groupby("seed")["q_delta"].transform(lambda s: s.iloc[-1])
                    b = gh.assign(r=np.log2(gh["q_delta"] / last))
                # a factor 2 beyond the finite-width spread that theory expects of the seed mean
                slack = 2 * _finite_width_sd_log2(act, L, w, g["seed"].nunique())
                mf = f.groupby("layer")["r"].mean().abs().max() - slack
                mb = b.groupby("layer")["r"].mean().abs().max() - slack
                mf = math.inf if not np.isfinite(mf) else max(float(mf), 0.0)
                mb = math.inf if not np.isfinite(mb) else max(float(mb), 0.0)
                worst_f, worst_b = max(worst_f, mf), max(worst_b, mb)
            trained = math.nan
            if len(train) and spec.train_depths:
                t = train[(train.initializer == init) & (train.activation == act) & (train.depth == max(spec.train_depths))]
                if len(t):
                    trained = float(t["test_accuracy"].fillna(0).mean())
            stab.append(dict(activation=act, initializer=init, max_abs_log2_forward=worst_f, max_abs_log2_backward=worst_b,
                             stable_forward=bool(ok and worst_f <= 1), stable_backward=bool(ok and worst_b <= 1),
                             stable=bool(ok and worst_f <= 1 and worst_b <= 1), test_accuracy=trained,
                             trains=(bool(trained >= spec.train_accuracy) if trained == trained else None), notes="; ".join(notes)))
    stab = pd.DataFrame(stab)
    out["stability"] = stab
    rec = []
    for act in spec.activations:
        s = stab[stab.activation == act] if len(stab) else stab
        good = s[s.stable & (s.trains == True)]  # noqa: E712
        untested = s[s.stable & s.trains.isna()]
        fwd = s[s.stable_forward & ~s.stable & (s.trains == True)]  # noqa: E712
        rec.append(dict(activation=act, recommended=", ".join(good.initializer), forward_only_and_trains=", ".join(fwd.initializer),
                        stable_untrained=", ".join(untested.initializer),
                        stable_but_not_training=", ".join(s[s.stable & (s.trains == False)].initializer)))  # noqa: E712
    out["recommendations"] = pd.DataFrame(rec)
    return out
