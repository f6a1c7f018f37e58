"""What a study is: :class:`Spec` (stored in ``run.json``), built from a profile and the user's choices.

:func:`make_spec` checks every name and number before anything runs; :func:`resume_conflicts`
says how options given with ``--resume`` differ from the run's own spec.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Iterable

from ..activations import get_activation
from ..checks import unknown_name_message
from ..initializers import ALIASES
from .inits import study_initializer_names
from .profiles import ALL_INITIALIZERS, DEFAULT_ACTIVATIONS, PROFILES


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
        """The spec stored in ``run.json``; ``ValueError`` naming the field that is missing, unknown or of the wrong type."""
        if not isinstance(d, dict):
            raise ValueError(f"'spec' must be an object, got {type(d).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"'spec' has unknown fields: {', '.join(unknown)}")
        missing = sorted(set(known) - set(d))
        if missing:
            raise ValueError(f"'spec' lacks the fields: {', '.join(missing)}")
        return cls(**{k: _typed(k, v, known[k].default) for k, v in d.items()})


def _typed(name: str, value, default):
    """``value`` from JSON in the type of the field's default (lists become tuples); ValueError if it does not fit."""
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise ValueError(f"'spec.{name}' must be a list, got {type(value).__name__}")
        return tuple(tuple(x) if isinstance(x, list) else x for x in value)
    if default is None or value is None:
        return value
    if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, (type(default), int) if isinstance(default, float) else type(default)):
        raise ValueError(f"'spec.{name}' must be {type(default).__name__}, got {value!r}")
    return value


@dataclass(frozen=True)
class Config:
    """One configuration of the grid: its kind, a key unique in the grid, and its parameters."""

    kind: str
    key: str
    params: dict = field(hash=False, compare=False)


def config(kind: str, **params) -> Config:
    """The configuration of ``kind`` with ``params``; its key names every parameter."""
    return Config(kind, kind + "|" + "|".join(f"{k}={params[k]}" for k in sorted(params)), params)


def positive_ints(name: str, values: Iterable) -> tuple[int, ...]:
    """Distinct positive integers, in order; ValueError naming ``name`` otherwise."""
    out = []
    for v in values:
        try:
            i = int(v)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} must be positive integers, got {v!r}") from None
        if isinstance(v, bool) or i < 1 or i != float(v):
            raise ValueError(f"{name} must be positive integers, got {v!r}")
        out.append(i)
    if not out:
        raise ValueError(f"{name} must not be empty")
    return tuple(dict.fromkeys(out))


def seed_list(values: Iterable) -> tuple[int, ...]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise ValueError(f"seeds must be integers >= 0, got {v!r}") from None
    if not out or min(out) < 0:
        raise ValueError(f"seeds must be integers >= 0, got {list(values)!r}")
    return tuple(dict.fromkeys(out))


def canonical_initializers(names: Iterable[str]) -> tuple[str, ...]:
    valid = set(study_initializer_names()) | set(ALIASES)
    out = []
    for n in names:
        key = str(n).strip().lower()
        if key not in valid:
            raise ValueError(unknown_name_message("initializer", n, study_initializer_names()))
        out.append(ALIASES.get(key, key))
    if not out:
        raise ValueError("initializers must not be empty")
    return tuple(dict.fromkeys(out))


def canonical_activations(names: Iterable[str]) -> tuple[str, ...]:
    out = [get_activation(str(n).strip()).name for n in names]
    if not out:
        raise ValueError("activations must not be empty")
    return tuple(dict.fromkeys(out))


def make_spec(profile: str = "default", *, backend: str | None = "numpy", dtype: str | None = None, initializers=None, activations=None,
              depths=None, widths=None, seeds=None, threads: int | None = None) -> Spec:
    """The profile's grid with the user's choices on top, every name and number checked."""
    if profile not in PROFILES:
        raise ValueError(unknown_name_message("profile", profile, PROFILES))
    spec = Spec(profile=profile, backend=backend, initializers=ALL_INITIALIZERS, **PROFILES[profile]["study"])
    changes: dict = {}
    if threads is not None:
        changes["threads"] = None if threads == 0 else positive_ints("threads", [threads])[0]
    if dtype is not None:
        if dtype not in ("float32", "float64"):
            raise ValueError(f"unknown dtype {dtype!r}; valid: float32, float64")
        changes["dtype"] = dtype
    if initializers is not None:
        inits = canonical_initializers(initializers)
        changes.update(initializers=inits, wide_initializers=(),
                       train_initializers=tuple(i for i in spec.train_initializers if i in inits) or inits[:4])
    if activations is not None:
        acts = canonical_activations(activations)
        changes.update(activations=acts, train_activations=tuple(a for a in spec.train_activations if a in acts) or acts[:2])
    if depths is not None:
        d = tuple(sorted(positive_ints("depths", depths)))
        changes.update(depths=d, train_depths=tuple(x for x in spec.train_depths if x <= max(d)) or (min(d[-1], 8),))
    if widths is not None:
        w = positive_ints("widths", widths)
        deepest = max(changes.get("depths", spec.depths))
        changes.update(widths=w, throughput=tuple((x, min(spec.throughput[0][1], deepest), spec.throughput[0][2]) for x in w[:2]))
    if seeds is not None:
        s = seed_list(seeds)
        changes.update(seeds=s, wide_seeds=s[: max(1, len(s) // 2)], train_seeds=s[: len(spec.train_seeds)])
    return check_fits(replace(spec, **changes))


def check_fits(spec: Spec) -> Spec:
    """``spec`` if its largest networks fit in this machine's memory; ValueError with the estimate before anything is allocated.

    A variance network holds its weights twice (the cached draw and the network's copy), plus
    gradients and one batch (:func:`winit_bench.engine.estimate_bytes`); a throughput configuration
    holds its network and the GEMM floor's copy of the same products.
    """
    from ..engine import estimate_bytes
    from ..memory import require_fits

    hungriest = max(spec.activations, key=lambda name: get_activation(name).work_bytes)
    for width in spec.widths:
        sizes, batch = [width] * (spec.max_depth + 1), spec.wide_batch if width >= spec.wide else spec.batch
        need = estimate_bytes(sizes, batch, spec.dtype, hungriest) + estimate_bytes(sizes, 0, spec.dtype) // 2
        require_fits(need, f"the variance networks of width {width} and depth {spec.max_depth} ({spec.dtype})")
    for width, depth, batch in spec.throughput:
        sizes = [width] * (depth + 1)
        require_fits(2 * estimate_bytes(sizes, batch, spec.dtype), f"the throughput network of width {width} and depth {depth}")
    return spec


def resume_conflicts(spec: Spec, **given) -> list[str]:
    """How the grid options ``given`` with ``--resume`` differ from ``spec``; ``[]`` when they agree.

    ``given`` takes :func:`make_spec`'s keywords (``None`` = not given) and ``profile``.
    """
    chosen = {k: v for k, v in given.items() if v is not None}
    if not chosen:
        return []
    wanted = make_spec(chosen.pop("profile", spec.profile), **{"backend": spec.backend, **chosen})
    names = {"initializers", "activations", "depths", "widths", "seeds", "dtype", "backend", "threads", "profile"}
    out = []
    for name in sorted(names & (set(given) - {k for k, v in given.items() if v is None})):
        mine, theirs = getattr(wanted, name), getattr(spec, name)
        if mine != theirs:
            show = lambda v: ",".join(map(str, v)) if isinstance(v, tuple) else str(v)  # noqa: E731
            out.append(f"--{name} {show(mine)} (the run has {show(theirs)})")
    return out
