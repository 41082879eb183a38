"""fastmm.locks: the one flock rule (held / held by another process / no locks) and the four places
that lock on it: a --resume directory and its checkpoint.lock, `fastmm site`'s .OUTDIR.lock and
`fastmm train`'s --out. Contention is between real processes; a file system without locks is
fcntl.flock raising ENOLCK."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fastmm.errors import InputError
from fastmm.locks import try_lock, wait_lock

_HOLD = """
import os, sys
from fastmm.locks import try_lock
path, kind = sys.argv[1], sys.argv[2]
if kind == "dir":
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
else:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
print(try_lock(fd), flush=True)
sys.stdin.read()  # holds the lock until the parent closes our stdin (or we are killed)
"""


class Holder:
    """Another process that takes the lock on `path` (a directory or a lock file) and holds it
    until `release`; `first` is what its try_lock answered."""

    def __init__(self, path: Path, kind: str = "file"):
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.first = self.proc.stdout.readline().strip()

    def release(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None and exc[0] is not None:
            self.proc.kill()
        self.release()


def _open(path: Path, kind: str = "file") -> int:
    if kind == "dir":
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@pytest.fixture
def no_locks(monkeypatch):
    """A file system without locks: every flock fails with ENOLCK."""
    def flock(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", flock)


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_lock_is_held_against_another_process_until_released(tmp_path, kind):
    path = tmp_path / ("x.lock" if kind == "file" else "d")
    if kind == "dir":
        path.mkdir()
    with Holder(path, kind) as other:
        assert other.first == "True"
        fd = _open(path, kind)
        try:
            assert try_lock(fd) is False  # busy: another process holds it
            other.release()  # its process ends: the kernel releases the lock
            assert try_lock(fd) is True
            with Holder(path, kind) as third:  # now ours, held against a third process
                assert third.first == "False"
        finally:
            os.close(fd)
    with Holder(path, kind) as again:  # closing our descriptor released it
        assert again.first == "True"


def test_wait_lock_takes_the_lock_once_the_other_process_lets_go(tmp_path):
    path = tmp_path / "x.lock"
    with Holder(path) as other:
        assert other.first == "True"
        fd = _open(path)
        try:
            start = time.monotonic()
            timer = threading.Timer(0.3, other.proc.stdin.close)
            timer.start()
            try:
                assert wait_lock(fd, 30) is True
            finally:
                timer.cancel()
            assert 0.29 <= time.monotonic() - start < 20
        finally:
            os.close(fd)


def test_wait_lock_gives_up_after_its_deadline(tmp_path):
    path = tmp_path / "x.lock"
    with Holder(path) as other:
        fd = _open(path)
        try:
            start = time.monotonic()
            assert wait_lock(fd, 0.2) is False
            assert 0.2 <= time.monotonic() - start < 10
            assert try_lock(fd) is False  # still the other's
        finally:
            os.close(fd)
        assert other.first == "True"


def test_no_locks_is_none_at_once(tmp_path, no_locks):
    fd = _open(tmp_path / "x.lock")
    try:
        assert try_lock(fd) is None
        start = time.monotonic()
        assert wait_lock(fd, 30) is None  # nothing to wait for
        assert time.monotonic() - start < 5
    finally:
        os.close(fd)


@pytest.mark.parametrize(("code", "want"), [(errno.EWOULDBLOCK, False), (errno.EAGAIN, False),
                                            (errno.EACCES, False), (errno.ENOLCK, None),
                                            (errno.EINVAL, None), (errno.EOPNOTSUPP, None)])
def test_which_errnos_mean_busy(tmp_path, monkeypatch, code, want):
    def flock(fd, op):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", flock)
    fd = _open(tmp_path / "x.lock")
    try:
        assert try_lock(fd) is want
    finally:
        os.close(fd)


def test_importing_the_module_does_not_import_fcntl():
    code = "import sys, fastmm.locks; print('fcntl' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


# ----------------------------------------------------------------------------- a --resume search


def _request():
    from fastmm.api import SearchRequest

    return SearchRequest((2, 2, 3), 11, time_limit=5)


def test_a_resume_directory_held_by_another_process_is_refused(tmp_path):
    from fastmm.search.checkpoint import Checkpoint

    d = tmp_path / "ck"
    d.mkdir()
    with Holder(d, "dir") as other:
        assert other.first == "True"
        with pytest.raises(InputError, match=r"^--resume .*: another fastmm search is using it; wait for "
                                             "it to end or give another directory$"):
            Checkpoint.open(d, _request())
    cp = Checkpoint.open(d, _request())  # free again
    try:
        with Holder(d, "dir") as other:
            assert other.first == "False"  # and now held by this search
    finally:
        cp.close()


def test_a_resume_directory_without_locks_is_used_unlocked(tmp_path, no_locks):
    from fastmm.search.checkpoint import Checkpoint

    d = tmp_path / "ck"
    d.mkdir()
    a = Checkpoint.open(d, _request())
    b = Checkpoint.open(d, _request())  # not refused: nothing can be locked
    assert a._lock is not None and b._lock is not None  # each keeps its descriptor (closed by close)
    a.close()
    b.close()
    assert a._lock is None and b._lock is None


def test_checkpoint_writes_wait_for_the_holder_then_go_on(tmp_path):
    from fastmm.search import checkpoint as ck

    with Holder(tmp_path / ck.LOCK) as other:
        assert other.first == "True"
        start = time.monotonic()
        with ck._locked(tmp_path, wait=0.2):  # held past `wait`: the writes go on unlocked
            assert time.monotonic() - start >= 0.2
    with ck._locked(tmp_path, wait=10), Holder(tmp_path / ck.LOCK) as other:
        assert other.first == "False"  # held for the writes


def test_checkpoint_writes_without_locks_do_not_wait(tmp_path, no_locks):
    from fastmm.search import checkpoint as ck

    start = time.monotonic()
    with ck._locked(tmp_path, wait=30):
        pass
    assert time.monotonic() - start < 5


# ----------------------------------------------------------------------------- fastmm site


def test_a_site_whose_lock_another_process_holds_is_refused(tmp_path):
    from fastmm.site.builder import _locked

    out = tmp_path / "site"
    with Holder(tmp_path / ".site.lock") as other:
        assert other.first == "True"
        with pytest.raises(InputError, match=r"^another `fastmm site` is building shown; wait for it to "
                                             "end and build again$"), _locked(out, Path("shown")):
            pass
    with _locked(out, Path("shown")), Holder(tmp_path / ".site.lock") as other:
        assert other.first == "False"
    assert not (tmp_path / ".site.lock").exists()  # removed on the way out


def test_a_site_without_locks_is_built_unlocked(tmp_path, no_locks):
    from fastmm.site.builder import _locked

    with _locked(tmp_path / "site", Path("shown")), _locked(tmp_path / "site", Path("shown")):
        assert (tmp_path / ".site.lock").exists()
    assert not (tmp_path / ".site.lock").exists()


# ----------------------------------------------------------------------------- fastmm train


def test_a_train_out_held_by_another_process_is_refused(tmp_path):
    pytest.importorskip("torch")
    from fastmm.nn import train as T

    out = tmp_path / "run"
    out.mkdir()
    with Holder(out, "dir") as other:
        assert other.first == "True"
        want = (f"^another fastmm train is using {re.escape(str(out))}; wait for it to end or "
                "give another --out$")
        with pytest.raises(InputError, match=want), T._run_lock(str(out)):
            pass
    assert out.is_dir()  # not ours to remove
    with T._run_lock(str(out)), Holder(out, "dir") as other:
        assert other.first == "False"


def test_a_train_out_without_locks_is_used_unlocked(tmp_path, no_locks):
    pytest.importorskip("torch")
    from fastmm.nn import train as T

    out = tmp_path / "a" / "run"
    with T._run_lock(str(out)), T._run_lock(str(out)):
        assert out.is_dir()
    with pytest.raises(RuntimeError, match="failed"), T._run_lock(str(tmp_path / "b" / "run")):
        raise RuntimeError("failed")
    assert not (tmp_path / "b").exists()  # what a failed run made is removed, locked or not
