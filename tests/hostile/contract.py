"""The contract every hostile input must meet, and a way to run the command line in-process.

A bad input ends with exit 1 or 2 (0 when it was in fact fine), at most one line on stderr,
never "internal error" or a traceback, within a time bound, and no file changes but the
intended output.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from fastmm.cli import main

TIME_BOUND = 10.0  # seconds per command, on a loaded 2-core machine


@dataclass
class Result:
    rc: int
    out: str
    err: str
    seconds: float


def run_cli(*args: str) -> Result:
    """`fastmm ARGS` in this process (main() as the console script calls it)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            rc = 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
    return Result(rc, out.getvalue(), err.getvalue(), time.monotonic() - t0)


def assert_clean(r: Result, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """Exit code allowed; a failure (exit 1 or 2) is exactly one "error: ..." line on stderr; no
    internal error, no traceback; quick."""
    lines = [x for x in r.err.split("\n") if x.strip()]
    assert r.rc in allowed, (r.rc, r.err)
    assert "internal error" not in r.err and "Traceback" not in r.err, r.err
    if r.rc in (1, 2):  # a failure is exactly one line
        assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    else:
        assert len(lines) <= 2, r.err  # at most a note and the "wrote ..." line
    assert r.seconds < TIME_BOUND, (r.seconds, r.err)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root (links not followed): kind, and content hash for regular files."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                out[str(p)] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                out[str(p)] = ("link", os.readlink(p))
            else:
                out[str(p)] = (stat.S_IFMT(st.st_mode),)
    return out


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def wait_for(test, seconds: float) -> bool:
    """Poll `test` every 0.1 s until it holds (True) or `seconds` pass (False)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if test():
            return True
        time.sleep(0.1)
    return False
