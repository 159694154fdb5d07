"""A progress bar over the steps of each epoch: loss, step time, clips per second, ETA.

Quiet when the output is not a terminal (logs and CI stay one line per epoch). The loss is a
device tensor; reading it stalls the host until the GPU catches up, so the bar reads it at
most once per ``refresh`` seconds and never when it is not shown.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class StepProgress:
    """``for epoch in bar.epochs(range(n)): ... bar.advance(parts["loss"], n_clips)`` after
    each step; the display starts with the first epoch and ends with the loop."""

    def __init__(self, epochs: int, steps_per_epoch: int, console: Console | None = None,
                 show: bool = True, refresh: float = 1.0):
        self.console = console or Console(stderr=True)
        self.enabled = show and self.console.is_terminal
        self.epochs_total, self.steps, self.refresh = epochs, steps_per_epoch, refresh
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[step_s]} s/step"),
            TextColumn("{task.fields[clips]} clips/s"), TimeRemainingColumn(),
            console=self.console, transient=True, disable=not self.enabled)
        self._task = None

    def epochs(self, epochs):
        """Yield ``epochs``, a bar over the steps of each; the display stops when the loop
        ends, breaks or raises."""
        with self._progress:
            for epoch in epochs:
                self._start_epoch(epoch)
                yield epoch

    def _start_epoch(self, epoch: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(f"epoch {epoch + 1}/{self.epochs_total}", total=self.steps,
                                             loss="…", step_s="…", clips="…")
        self._t0 = self._last_read = time.perf_counter()
        self._n_steps = self._n_clips = 0

    def advance(self, loss, n_clips: int) -> None:
        """After one optimiser step; ``loss``: a 0-d tensor (read only when it is shown)."""
        self._n_steps += 1
        self._n_clips += n_clips
        if not self.enabled:
            return
        now = time.perf_counter()
        fields = {}
        if now - self._last_read >= self.refresh or self._n_steps in (1, self.steps):
            self._last_read = now
            elapsed = now - self._t0
            fields = {"loss": f"{float(loss):.4f}", "step_s": f"{elapsed / self._n_steps:.2f}",
                      "clips": f"{self._n_clips / max(elapsed, 1e-9):.1f}"}
        self._progress.update(self._task, advance=1, **fields)
