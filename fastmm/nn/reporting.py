"""What a training run shows and leaves behind besides its checkpoint.

- `Progress`: rich progress bars on a terminal, one plain line per epoch otherwise;
- the metrics file (one JSON line per epoch) and its repair on resume;
- `summarize_run`: a finished run's figures, for the benchmark scripts' tables.

Only rank 0 reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastmm.nn.config import FINAL, METRICS


class Progress:
    """rich progress bars on a terminal, one plain line per epoch otherwise (rank 0 only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = enabled and sys.stdout.isatty()
        self._bar = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeRemainingColumn(),
            )
            self._bar.start()

    def start(self, description: str, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task(description, total=total, loss=float("nan"))

    def advance(self, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, loss=loss)

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def epoch_line(desc: str, metrics: dict[str, Any]) -> str:
    """The one line printed after an epoch."""
    test = metrics["test_acc"]
    return (
        f"{desc}  loss {metrics['train_loss']:.4f}  "
        f"train {100 * metrics['train_acc']:.2f}%  "
        + (f"test {100 * test:.2f}%  " if test is not None else "")
        + f"lr {metrics['lr']:.3g}  "
        f"{metrics['seconds']:.1f}s"
    )


def append_metrics(out: Path, metrics: dict[str, Any]) -> None:
    with open(out / METRICS, "a") as f:
        f.write(json.dumps(metrics) + "\n")


def rewrite_metrics(path: Path, done: int, last: dict | None) -> None:
    """Keep the metric lines of the epochs the checkpoint holds (drop a killed epoch's)."""
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("global_epoch", 0) <= done:
                records.append(rec)
    if last is not None and (not records or records[-1].get("global_epoch") != done):
        records.append(last)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def summarize_run(out: str | Path) -> dict[str, Any] | None:
    """A finished run's final test accuracy, test accuracy at the end of each stage and
    training seconds, read from its final.json and metrics lines; None if it has not finished."""
    out = Path(out)
    if not (out / FINAL).is_file():
        return None
    acc_by_stage: dict[str, float] = {}
    seconds = 0.0
    for line in (out / METRICS).read_text().splitlines():
        rec = json.loads(line)
        seconds += rec.get("seconds", 0.0)
        if rec.get("test_acc") is not None:
            acc_by_stage[rec["stage"]] = rec["test_acc"]
    final = json.loads((out / FINAL).read_text())
    return {"test_acc": final["test_acc"], "acc_by_stage": acc_by_stage, "seconds": round(seconds, 1),
            "args": final["args"]}
