"""A tiny progress bar on stderr (no dependency): ``[#####.....] 12/126  0:41 left  variance he_normal/relu``.

On a terminal it redraws one line; elsewhere (a log file, CI) it prints a plain line every ~10 %.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, *, initial: int = 0, enabled: bool = True, stream=None, width: int = 28):
        self.total, self.done, self.width = max(int(total), 0), int(initial), width
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start, self.start_done = time.perf_counter(), self.done
        self._last_decile = -1
        self._last_len = 0

    def update(self, n: int = 1, label: str = "") -> None:
        self.done = min(self.total, self.done + n)
        if not self.enabled:
            return
        frac = self.done / self.total if self.total else 1.0
        fill = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        ran = self.done - self.start_done
        eta = elapsed / ran * (self.total - self.done) if ran else float("nan")
        left = f"{_clock(eta)} left" if eta == eta else "--:-- left"
        line = f"[{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {_clock(elapsed)} elapsed {left}  {label}"
        if self.tty:
            pad = max(0, self._last_len - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._last_len = len(line)
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if n and (decile != self._last_decile or self.done == self.total):
                self._last_decile = decile
                self.stream.write(line + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
