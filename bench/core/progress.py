"""Rich progress bars for long work (encoding, evaluation); quiet when BENCH_NO_PROGRESS is set."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# Not a terminal (a log file, a pipe, a cluster job): lines are never wrapped, so that paths stay whole,
# and tables get room for their full width.
PIPE_WIDTH = 240


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(stderr=stderr, soft_wrap=True, width=None if tty else PIPE_WIDTH)


console = _console(stderr=True)  # logs and progress
data_console = _console(stderr=False)  # tables and listings (stdout, so they can be piped)


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``18.3 sent/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} {self.unit}/s" if speed else f"   -- {self.unit}/s", style="cyan")


def warn(message: str) -> None:
    """One ``bench: warning: ...`` line on stderr: input that looks wrong but is not refused (shown even
    with ``--quiet``)."""
    print(f"bench: warning: {message}", file=sys.stderr, flush=True)


_stage = ""  # what the whole run is doing now, e.g. "[3/21] prompteol / STS13": prefixes progress bars


@contextmanager
def stage(label: str) -> Iterator[None]:
    """Name the current step of a long run in every progress bar drawn meanwhile."""
    global _stage
    previous, _stage = _stage, label
    try:
        yield
    finally:
        _stage = previous


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars and no log lines on stderr (errors and warnings still show)."""
    console.quiet = quiet
    if quiet:
        os.environ["BENCH_NO_PROGRESS"] = "1"


def progress_enabled() -> bool:
    return not os.environ.get("BENCH_NO_PROGRESS")


@contextmanager
def progress_bar(total: int, description: str, unit: str = "sent", enabled: bool = True) -> Iterator:
    """Yield ``advance(n)``; draws a bar with count, rate and ETA when enabled."""
    if not (enabled and progress_enabled()) or total == 0:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    label = f"{_stage} {description}" if _stage else description
    with Progress(*columns, console=console, transient=False) as progress:
        task_id = progress.add_task(label, total=total)
        yield lambda n=1: progress.advance(task_id, n)


@contextmanager
def training_bar(total_steps: int, description: str, enabled: bool = True, done: int = 0) -> Iterator:
    """Yield ``update(loss=, accuracy=, step_seconds=)``, called once per optimizer step; ``done`` steps
    (of a resumed training) are complete from the start."""
    if not (enabled and progress_enabled()) or total_steps == 0:
        yield lambda **fields: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  pref-acc {task.fields[accuracy]:.2f}"),
        TextColumn("{task.fields[step_seconds]:.1f} s/step"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    label = f"{_stage} {description}" if _stage else description
    with Progress(*columns, console=console, transient=False) as progress:
        task_id = progress.add_task(
            label,
            total=total_steps,
            completed=done,
            loss=float("nan"),
            accuracy=float("nan"),
            step_seconds=0.0,
        )
        yield lambda **fields: progress.update(task_id, advance=1, **fields)
