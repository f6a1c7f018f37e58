"""One configuration run to its log record: the rows, or the failure with its reason; never an exception."""

from __future__ import annotations

import os
import time
import traceback
import warnings

import numpy as np

from .kinds import BY_NAME
from .kinds.variance import WeightCache
from .spec import Config


def run_one(cfg: Config, cache: WeightCache | None = None, worker: str = "local") -> dict:
    """Run one configuration and return its log record; never raises for the configuration's own errors.

    A configuration that raises or diverges is a *recorded failure* (``status`` and ``error``), not an
    exception. ``backend`` is the backend that really ran (``params["backend"]``, or this process's
    ``$WINIT_BENCH_BACKEND`` when that is None) and ``worker`` says where. ``cache`` holds the last
    weight draw, shared by neighbouring configurations that draw the same weights (default: a new one).
    """
    from ..backends import get_backend

    cache = WeightCache() if cache is None else cache
    rec = dict(key=cfg.key, kind=cfg.kind, params=cfg.params, status="ok", error=None, rows=[], backend=cfg.params.get("backend"), worker=worker)
    start = time.perf_counter()
    try:
        rec["backend"] = get_backend(cfg.params.get("backend")).name
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflow in exploding nets is data, not news
            rec["rows"] = BY_NAME[cfg.kind].run(cfg.params, cache)
    except KeyboardInterrupt:
        raise
    except FloatingPointError as exc:  # wb.Diverged and friends
        rec.update(status="diverged", error=f"{type(exc).__name__}: {exc}")
    except MemoryError as exc:
        cache.clear()
        rec.update(status="failed", error=f"MemoryError: {exc}")
    except Exception as exc:
        rec.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        if os.environ.get("WINIT_BENCH_DEBUG"):
            traceback.print_exc()
    rec["elapsed_s"] = time.perf_counter() - start
    return rec
