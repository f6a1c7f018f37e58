"""The study's experiment kinds, in the order their configurations run and their tables appear."""

from __future__ import annotations

from ..spec import Config, Spec
from .base import Kind
from .isometry import Isometry
from .throughput import Throughput
from .train import Train
from .variance import Variance

KINDS: tuple[Kind, ...] = (Variance(), Train(), Isometry(), Throughput())
BY_NAME = {k.name: k for k in KINDS}


def grid(spec: Spec) -> list[Config]:
    """Every configuration of the study, kind by kind, in the order they run (and in which the tables list them)."""
    return [cfg for kind in KINDS for cfg in kind.configs(spec)]


__all__ = ["KINDS", "BY_NAME", "Kind", "grid"]
