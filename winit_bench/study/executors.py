"""Where configurations run: :class:`InProcess` (one by one, here) or :class:`winit_bench.study.dask.DaskExecutor`.

An executor maps :func:`winit_bench.study.runner.run_one` over configurations and yields their
records as they finish. A cluster that goes away raises :class:`ClusterLost`: the configurations
it had not finished are never recorded, so ``--resume`` runs exactly them.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .kinds.variance import WeightCache, draw_key
from .record import run_one
from .spec import Config


class ClusterLost(RuntimeError):
    """The cluster stopped answering; what it had not finished was not recorded."""


def weight_groups(configs: list[Config]) -> list[list[Config]]:
    """``configs`` cut into runs of neighbours that draw the same weights (the grid puts them next to
    each other), so an executor that splits the work keeps one draw for each run, as in-process does."""
    groups: list[list[Config]] = []
    last = None
    for cfg in configs:
        key = draw_key(cfg.params) if cfg.kind == "variance" else None
        if key is not None and key == last:
            groups[-1].append(cfg)
        else:
            groups.append([cfg])
        last = key
    return groups


class InProcess:
    """The default executor: configurations one by one, in order, in this process."""

    def __init__(self):
        self.cache = WeightCache()

    def map(self, configs: list[Config], *, exclusive: bool = False, started: Callable[[Config], None] | None = None) -> Iterator[dict]:
        """Records of ``configs`` as they finish (``exclusive``: timing configurations that must run alone)."""
        for cfg in configs:
            if started is not None:
                started(cfg)
            yield run_one(cfg, self.cache)

    def describe(self) -> dict:
        return dict(executor="in-process")

    def close(self) -> None:
        self.cache = WeightCache()
