"""One flock rule for fastmm's locks: held, held by another process, or no locks at all.

A --resume search (its directory and DIR/checkpoint.lock), `fastmm site` (.OUTDIR.lock) and
`fastmm train` (--out) each take an exclusive flock without blocking and read its failure the same
way: EWOULDBLOCK, EAGAIN or EACCES (what Linux, the BSDs and NFS answer) mean another process
holds the lock; any other errno means a file system without locks (ENOLCK, EINVAL, EOPNOTSUPP),
where the caller goes on unlocked. That rule lives here, once; what is locked, the error text and
the cleanup stay with each caller. fcntl is imported on first use: importing this module costs
no start-up time.
"""

from __future__ import annotations

import errno
import time

BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)  # flock's "another process holds it"


def try_lock(fd: int) -> bool | None:
    """Take an exclusive flock on `fd` without waiting: True if held, False if another process
    holds it, None where the file system has no locks (go on unlocked). Closing `fd` releases it."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return False if exc.errno in BUSY else None
    return True


def wait_lock(fd: int, wait: float, poll: float = 0.005) -> bool | None:
    """`try_lock`, tried again every `poll` seconds for up to `wait` seconds while another process
    holds the lock: True if held, False if still held by another after `wait`, None where the file
    system has no locks."""
    end = time.monotonic() + wait
    while True:
        got = try_lock(fd)
        if got is not False or time.monotonic() >= end:
            return got
        time.sleep(poll)
