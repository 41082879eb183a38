"""QA 93: results kept and nothing written outside a folder fastmm owns.

1. `finish`, `lift` and `combine` keep their result in a fallback file, named in one line (exit 1,
   as `search` and `import` do), when the write fails after the work (a full disk), with or
   without -o.
2. A catalogue entry or a --resume file that is a symlink is replaced by the written file, never
   written through: the file it points to (outside the folder) stays as it was, and a dangling
   link's target is not created.
3. `finish --catalog` refuses a catalogue it could not write (a read-only mount) before the work:
   exit 2, nothing written.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm import catalog as catalog_module
from fastmm.catalog import add_to_catalog
from fastmm.errors import InputError
from fastmm.io import dumps, load_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme
from fastmm.search import checkpoint as ck
from fastmm.verify import verify
from tests.hostile.contract import assert_clean, run_cli

STRASSEN = "2x2x2-rank7-ZT.json"


def _points(path: Path) -> Path:
    s = strassen()
    path.write_text(json.dumps({"shape": [2, 2, 2], "rank": 7, "points": [
        {"Wa": s.Wa.astype(float).tolist(), "Wb": s.Wb.astype(float).tolist(),
         "WcT": s.Wc.T.astype(float).tolist()}]}))
    return path


def _strassen_mod_2(path: Path) -> Path:
    s = strassen()
    path.write_text(dumps(Scheme(2, 2, 2, np.abs(s.Wa), np.abs(s.Wb), np.abs(s.Wc), ring="Z2")))
    return path


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """The current directory `work` is on a full disk (no file can be made there); the temporary
    directory `rescue` has room: the fallback file goes there."""
    work, rescue = tmp_path / "work", tmp_path / "rescue"
    work.mkdir()
    rescue.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(rescue))
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == work.resolve():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return work, rescue


def _rescued(r, work: Path, rescue: Path) -> Path:
    assert_clean(r, allowed=(1,))  # one "error: ..." line, exit 1
    assert "no space left on the device" in r.err
    saved = Path(r.err.split("saved to ")[1].split(" instead")[0])
    assert saved.parent == rescue.resolve() and list(rescue.iterdir()) == [saved]
    assert list(work.iterdir()) == []  # nothing half-written
    return saved


@pytest.mark.parametrize("with_out", [True, False])
def test_finish_keeps_its_scheme_when_the_write_fails(tmp_path, full_disk, with_out):
    work, rescue = full_disk
    points = _points(tmp_path / "points.json")
    r = run_cli("finish", points, "-q", "--no-sympy", *(["-o", work / "s.json"] if with_out else []))
    saved = _rescued(r, work, rescue)
    scheme = load_scheme(saved)
    assert scheme.shape == (2, 2, 2) and scheme.rank == 7 and verify(scheme, use_sympy=False).ok


@pytest.mark.parametrize("with_out", [True, False])
def test_lift_keeps_its_scheme_when_the_write_fails(tmp_path, full_disk, with_out):
    work, rescue = full_disk
    src = _strassen_mod_2(tmp_path / "s2.json")
    r = run_cli("lift", src, "--no-sympy", *(["-o", work / "s.json"] if with_out else []))
    saved = _rescued(r, work, rescue)
    scheme = load_scheme(saved)
    assert scheme.ring == "ZT" and verify(scheme, use_sympy=False).ok


def test_combine_keeps_its_scheme_when_the_write_fails(tmp_path, full_disk):
    work, rescue = full_disk
    src = tmp_path / "s.json"
    src.write_text(dumps(fastmm.verified(strassen(), sympy=False)))
    r = run_cli("combine", "kron", src, src, "--no-sympy", "-o", work / "k.json")
    saved = _rescued(r, work, rescue)
    assert load_scheme(saved).shape == (4, 4, 4) and verify(load_scheme(saved), use_sympy=False).ok


# -- 2. symlinks in the catalogue and in a --resume folder are replaced, never written through ---


@pytest.fixture
def outside(tmp_path) -> Path:
    """A precious file outside the folders: a valid scheme of another shape."""
    d = tmp_path / "outside"
    d.mkdir()
    path = d / "precious.json"
    path.write_text(dumps(fastmm.verified(laderman(), sympy=False)))
    return path


def test_a_catalogue_entry_linked_outside_is_replaced_not_written_through(tmp_path, outside, monkeypatch):
    lc = tmp_path / "lc"
    lc.mkdir()
    (lc / STRASSEN).symlink_to(Path("..") / "outside" / "precious.json")
    before = outside.read_bytes()
    monkeypatch.setenv("FASTMM_CATALOG", str(lc))
    points = _points(tmp_path / "p.json")
    r = run_cli("finish", points, "-q", "--no-sympy", "--catalog", "-o", tmp_path / "o.json")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[-1] == "added to the catalogue"
    assert outside.read_bytes() == before
    entry = lc / STRASSEN
    assert not entry.is_symlink() and entry.is_file() and load_scheme(entry).shape == (2, 2, 2)
    assert sorted(p.name for p in lc.iterdir()) == [STRASSEN]


def test_a_dangling_catalogue_link_does_not_create_its_target(tmp_path):
    lc = tmp_path / "lc"
    lc.mkdir()
    target = tmp_path / "elsewhere" / "made.json"
    target.parent.mkdir()
    (lc / STRASSEN).symlink_to(target)
    assert add_to_catalog(fastmm.verified(strassen(), sympy=False), lc)
    assert not target.exists() and not (lc / STRASSEN).is_symlink()
    assert load_scheme(lc / STRASSEN).rank == 7


def test_a_resume_best_json_linked_outside_is_replaced_not_written_through(tmp_path, outside):
    def search(out: str) -> None:
        r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7",
                            "--resume", "ck", "-o", out, "--no-sympy"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr

    search("a.json")
    (tmp_path / "ck" / "best.json").unlink()
    (tmp_path / "ck" / "best.json").symlink_to(Path("..") / "outside" / "precious.json")
    before = outside.read_bytes()
    search("b.json")  # "1 saved scheme(s) ignored", then best.json is written
    assert outside.read_bytes() == before
    best = tmp_path / "ck" / "best.json"
    assert not best.is_symlink() and load_scheme(best).shape == (2, 2, 2)


@pytest.mark.parametrize("name", ["checkpoint.json", "pool-seed3.json", "gf2-seed3.json", "best.json"])
def test_no_checkpoint_file_is_written_through_a_link(tmp_path, outside, name):
    d = tmp_path / "ck"
    d.mkdir()
    (d / name).symlink_to(outside)
    dangling = tmp_path / "outside" / "new.json"
    (d / "checkpoint.lock").symlink_to(dangling)
    before = outside.read_bytes()
    s = fastmm.verified(strassen(), sympy=False)
    if name == "checkpoint.json":
        ck._write_text(d / name, "{}\n")
    elif name == "pool-seed3.json":
        assert ck.save_pool(d, 3, [s])
    elif name == "gf2-seed3.json":
        assert ck.save_gf2_low(d, 3, [s])
    else:
        assert ck.offer_best(d, s)
    assert outside.read_bytes() == before and not dangling.exists()
    assert not (d / name).is_symlink() and (d / name).is_file()


def test_a_linked_lock_file_is_replaced_and_still_locks(tmp_path):
    # O_NOFOLLOW alone turned a checkpoint.lock symlink into no lock at all (regression hunt)
    import fcntl
    import os
    import subprocess
    import sys

    d = tmp_path / "ck"
    d.mkdir()
    target = tmp_path / "elsewhere.lock"
    target.write_text("")
    (d / "checkpoint.lock").symlink_to(target)
    with ck._locked(d, wait=0.1):
        pass
    lock = d / "checkpoint.lock"
    assert not lock.is_symlink() and lock.is_file() and target.exists()
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:  # another process now waits its `wait` for the lock before writing unlocked
        code = ("import time, pathlib; from fastmm.search import checkpoint as ck; t = time.monotonic()\n"
                f"with ck._locked(pathlib.Path({str(d)!r}), wait=1.0): print(time.monotonic() - t)")
        waited = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout)
    finally:
        os.close(fd)
    assert waited >= 0.9


# -- 3. a catalogue that cannot be written is refused before the work ----------------------------


def _unwritable(monkeypatch, path: Path) -> None:
    """os.access says `path` cannot be written (a read-only mount: chmod does not stop root)."""
    real = os.access

    def access(p, mode, *args, **kwargs):
        if Path(p).resolve() == path.resolve() and mode & os.W_OK:
            return False
        return real(p, mode, *args, **kwargs)

    monkeypatch.setattr(catalog_module.os, "access", access)


def test_finish_refuses_a_read_only_catalogue_before_the_work(tmp_path, monkeypatch):
    lc = tmp_path / "lc"
    lc.mkdir()
    _unwritable(monkeypatch, lc)
    monkeypatch.setenv("FASTMM_CATALOG", str(lc))
    out = tmp_path / "o.json"
    r = run_cli("finish", _points(tmp_path / "p.json"), "-q", "--no-sympy", "--catalog", "-o", out)
    assert_clean(r, allowed=(2,))
    assert r.err == f"error: the catalogue folder {lc} (FASTMM_CATALOG) cannot be written\n"
    assert r.out == "" and not out.exists() and list(lc.iterdir()) == []
    with pytest.raises(InputError, match="cannot be written"):
        add_to_catalog(fastmm.verified(strassen(), sympy=False), lc)


def test_finish_refuses_a_missing_catalogue_under_a_read_only_parent_before_the_work(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    _unwritable(monkeypatch, parent)
    lc = parent / "lc"
    monkeypatch.setenv("FASTMM_CATALOG", str(lc))
    out = tmp_path / "o.json"
    r = run_cli("finish", _points(tmp_path / "p.json"), "-q", "--no-sympy", "--catalog", "-o", out)
    assert_clean(r, allowed=(2,))
    assert r.err == (f"error: the catalogue folder {lc} (FASTMM_CATALOG) does not exist and cannot be "
                     f"made: directory {parent} is not writable\n")
    assert not out.exists() and not lc.exists()


def test_reading_a_read_only_catalogue_is_still_fine(tmp_path, monkeypatch):
    lc = tmp_path / "lc"
    lc.mkdir()
    (lc / STRASSEN).write_text(dumps(fastmm.verified(strassen(), sympy=False)))
    _unwritable(monkeypatch, lc)
    monkeypatch.setenv("FASTMM_CATALOG", str(lc))
    r = run_cli("catalog", "--json")
    assert r.rc == 0, r.err
