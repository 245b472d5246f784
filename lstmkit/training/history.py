"""What a fit reports: History (Keras's per-epoch logs) and Keras's progress display."""

from __future__ import annotations

import sys
import time
from typing import Any


class History:
    """What `fit` returns: `history["loss"][epoch]`, like Keras's History."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    def record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def _format_value(value: float) -> str:
    # Keras prints 4 decimals, switching to scientific notation below 1e-3.
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def _format_logs(logs: dict[str, float]) -> str:
    return "".join(f" - {key}: {_format_value(value)}" for key, value in logs.items())


def _format_duration(seconds: float, per: str) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{per}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{per}"
    return f"{seconds * 1e6:.0f}us/{per}"


class ProgressBar:
    """Keras's verbose=1 bar: `8/8 [==============================] - 0s 2ms/step - loss: 0.0078`.

    Redrawn in place (at most ten times a second) on a terminal; elsewhere only the final line
    is written, so logs stay readable.
    """

    width = 30

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def wants_update(self) -> bool:
        return self.interactive and time.perf_counter() - self.last_draw > 0.1

    def draw(self, done: int, logs: dict[str, float], final: bool = False) -> None:
        elapsed = time.perf_counter() - self.start
        filled = self.width * done // max(self.total, 1)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=") + "." * (self.width - filled)
        line = f"{done}/{self.total} [{bar[: self.width]}]"
        if final:
            line += f" - {elapsed:.0f}s {_format_duration(elapsed / max(done, 1), 'step')}"
        else:
            eta = elapsed / max(done, 1) * (self.total - done)
            line += f" - ETA: {eta:.0f}s"
        line += _format_logs(logs)
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last_draw = time.perf_counter()


def epoch_line(steps: int, elapsed: float, logs: dict[str, float]) -> str:
    """Keras's verbose=2 line: `8/8 - 0s - loss: 0.0078 - 16ms/epoch - 2ms/step`."""
    return (f"{steps}/{steps} - {elapsed:.0f}s{_format_logs(logs)} - "
            f"{_format_duration(elapsed, 'epoch')} - {_format_duration(elapsed / steps, 'step')}")
