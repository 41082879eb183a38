"""What a training run shows and leaves behind besides its checkpoint.

- `Progress`: rich progress bars on a terminal, one plain line per epoch otherwise;
- the metrics file (one JSON line per epoch) and its repair on resume, and final.json: both
  written whole to a temporary file and renamed over the old one (never in place, never
  through a symbolic link); `remove_temporary_files` deletes such temporary files that a
  killed run left behind;
- `summarize_run`: a finished run's figures, for the benchmark scripts' tables.

Only rank 0 reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastmm.nn.config import CHECKPOINT, FINAL, METRICS


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


def _mode_for(path: Path) -> int:
    """The permissions the replaced file had, or those a new file gets (mkstemp makes 0600)."""
    try:
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` by a file holding `data`: a new temporary file in the same directory,
    fsynced, then renamed over it (os.replace). A failure (a full disk, a file-size limit) leaves
    the old file whole, and a symbolic link at `path` is replaced, never written through."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:  # named after the file, not the temporary
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


# The temporary names of the atomic writes in a run folder, exactly: `write_atomically`'s mkstemp
# names ".<file>.<8 of [a-z0-9_]>.tmp" and older versions' ".last.pt.tmp<pid>".
_TEMPORARY = re.compile(
    rf"\.{re.escape(CHECKPOINT)}\.tmp[0-9]+"
    rf"|\.(?:{re.escape(CHECKPOINT)}|{re.escape(METRICS)}|{re.escape(FINAL)})\.[a-z0-9_]{{8}}\.tmp"
)


def remove_temporary_files(out: Path) -> int:
    """Delete the temporary files of fastmm's own atomic writes in the run folder `out` (a run that
    a signal or a kill stopped mid-write may leave one); nothing else, and only regular files.
    Returns how many were removed."""
    removed = 0
    try:
        names = os.listdir(out)
    except OSError:
        return 0
    for name in names:
        if not _TEMPORARY.fullmatch(name):
            continue
        path = Path(out) / name
        try:
            if stat.S_ISREG(path.lstat().st_mode):
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The epoch records of a metrics file and how many lines were not records (dropped).

    A record is a JSON object whose "global_epoch" is a non-negative integer; anything else (a
    torn last line, text that is not UTF-8, a number, null, a list) is not one."""
    records: list[dict[str, Any]] = []
    dropped = 0
    if not path.is_file():
        return records, dropped
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            rec = None
        epoch = rec.get("global_epoch") if isinstance(rec, dict) else None
        if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0:
            records.append(rec)
        else:
            dropped += 1
    return records, dropped


def _lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def append_metrics(out: Path, metrics: dict[str, Any]) -> None:
    """Add one epoch's line to the metrics file, atomically: the file is rewritten whole with
    the line added, so a failed write loses no earlier line and leaves no torn one."""
    path = out / METRICS
    old = path.read_bytes() if path.is_file() and not path.is_symlink() else b""  # a link is not ours
    if old and not old.endswith(b"\n"):
        old += b"\n"
    write_atomically(path, old + (json.dumps(metrics) + "\n").encode())


def rewrite_metrics(path: Path, done: int, last: dict | None) -> int:
    """Keep the metric lines of the epochs the checkpoint holds (drop a killed epoch's), written
    atomically; lines that are not epoch records are dropped too (the checkpoint, not this file,
    is the record of the run). Returns how many such lines were dropped."""
    records, dropped = read_metrics(path)
    records = [r for r in records if r["global_epoch"] <= done]
    if last is not None and (not records or records[-1].get("global_epoch") != done):
        records.append(last)
    write_atomically(path, _lines(records))
    return dropped


def write_final(out: Path, result: dict[str, Any]) -> None:
    """The finished run's final.json, written atomically."""
    write_atomically(out / FINAL, (json.dumps(result, indent=2) + "\n").encode())


def summarize_run(out: str | Path) -> dict[str, Any] | None:
    """A finished run's final test accuracy, test accuracy at the end of each stage and
    training seconds, read from its final.json and metrics lines; None if it has not finished."""
    out = Path(out)
    if not (out / FINAL).is_file():
        return None
    acc_by_stage: dict[str, float] = {}
    seconds = 0.0
    for rec in read_metrics(out / METRICS)[0]:
        seconds += rec.get("seconds", 0.0)
        if rec.get("test_acc") is not None and "stage" in rec:
            acc_by_stage[rec["stage"]] = rec["test_acc"]
    final = json.loads((out / FINAL).read_text())
    return {"test_acc": final["test_acc"], "acc_by_stage": acc_by_stage, "seconds": round(seconds, 1),
            "args": final["args"]}
