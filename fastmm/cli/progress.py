"""Live progress for long work: a rich status line on a terminal, plain lines when piped."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

import click

from fastmm.search.base import Progress


class SearchProgress:
    """Aggregates Progress reports from several workers into one line."""

    def __init__(self, target: int, quiet: bool = False, plain_every: float = 5.0):
        self.target = target
        self.quiet = quiet
        self.start = time.monotonic()
        self.workers: dict[int, Progress] = {}
        self.tty = sys.stderr.isatty() and not quiet
        self.plain_every = plain_every
        self._last_plain = self.start
        self._status = None
        self._reported = self.start

    def __enter__(self) -> SearchProgress:
        if self.tty:
            from rich.console import Console

            # rich redraws the line several times a second, so its clock moves between reports
            # too (a cluster job reports every few seconds; a long start-up not at all)
            self._status = Console(stderr=True).status(_LiveLine(self))
            self._status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Clear the live line for good, before the closing messages: they are printed with
        click, which rich's live display does not see, so it would draw over them."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The live line cleared while other output is printed (a scheme found), then drawn again."""
        if self._status is None:
            yield
            return
        self._status.stop()
        try:
            yield
        finally:
            if self._status is not None:
                self._status.start()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        if not self.workers:
            return f"searching for rank {self.target} ... {elapsed:.1f} s"
        workers = list(self.workers.values())  # one snapshot: rich redraws from its own thread
        rank = min(p.rank for p in workers)
        steps = sum(p.steps for p in workers)
        restarts = sum(p.restarts for p in workers)
        counted = self._reported - self.start  # steps/s as of the last report, not diluted between them
        rate = steps / counted if counted > 0 else 0.0
        who = f" | {len(workers)} workers" if len(workers) > 1 else ""
        note = min(workers, key=lambda p: p.rank).note
        return (f"rank {rank} (target {self.target}) | {rate:,.0f} steps/s | "
                f"{restarts} restarts | {elapsed:.1f} s{who}" + (f" | {note}" if note else ""))

    def update(self, worker: int, progress: Progress) -> None:
        self.workers[worker] = progress
        now = self._reported = time.monotonic()
        if not self.tty and not self.quiet and now - self._last_plain >= self.plain_every:
            self._last_plain = now
            click.echo(self.line(), err=True)


class _LiveLine:
    """The progress line as rich renders it: computed afresh at every refresh."""

    def __init__(self, progress: SearchProgress) -> None:
        self.progress = progress

    def __rich__(self) -> str:
        return self.progress.line()
