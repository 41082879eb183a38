"""`--resume` after a kill inside a write, with a --seed the directory does not use, near the
seed limit with several workers, through a dangling symlink, and for t2 walks (helper-68)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fastmm.io import load_scheme


def fastmm(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


STALE = ".fastmm-k3j9x2ab.tmp"  # write_atomic's temporary name


def _left_by_a_kill(path, text: str) -> None:
    """A temporary file of a write killed two minutes ago."""
    path.write_text(text)
    old = path.stat().st_mtime - 120
    os.utime(path, (old, old))


def test_a_kill_inside_the_first_checkpoint_write_leaves_a_directory_that_resumes(tmp_path):
    """SIGKILL at the rename of the first checkpoint.json left DIR with the lock file and a
    temporary file only, and every later run refused DIR as "not empty"."""
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "checkpoint.lock").write_text("")
    _left_by_a_kill(ck / STALE, '{"format": "fastmm-search-checkpoint"')  # cut off mid-write
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), "-q", "--no-sympy",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (ck / STALE).exists()
    assert json.loads((ck / "checkpoint.json").read_text())["status"] == "found"
    assert load_scheme(ck / "best.json").rank == 11


def test_a_resume_removes_what_killed_writes_left_and_nothing_else(tmp_path):
    ck = tmp_path / "ck"
    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--resume", str(ck),
               "--time-limit", "1", "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    _left_by_a_kill(ck / STALE, "{")
    (ck / ".fastmm-q1w2e3r4.tmp").write_text("{")  # a write that may still be going on: too young
    (ck / "notes.txt").write_text("mine")
    (ck / ".fastmm-notes.tmp").write_text("mine too")  # not a name write_atomic makes
    (ck / ".fastmm-abcdefgh.tmp").mkdir()  # nor a folder
    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--resume", str(ck),
               "--time-limit", "1", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("resuming"), r.stderr
    assert not (ck / STALE).exists() and (ck / ".fastmm-q1w2e3r4.tmp").exists()
    assert (ck / "notes.txt").read_text() == "mine"
    assert (ck / ".fastmm-notes.tmp").read_text() == "mine too" and (ck / ".fastmm-abcdefgh.tmp").is_dir()


def test_a_seed_the_resume_does_not_use_is_named(tmp_path):
    ck = tmp_path / "ck"
    args = ("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--resume", str(ck),
            "--time-limit", "1", "--no-sympy")
    assert fastmm(*args, "-q", cwd=tmp_path).returncode == 1
    r = fastmm(*args, "--seed", "1000", "--out", str(tmp_path / "o.json"), cwd=tmp_path)
    assert ("note: --seed 1000 is not used: the search goes on with the directory's next fresh seed, 1"
            in r.stderr), r.stderr
    r = fastmm(*args, "--seed", "2", cwd=tmp_path)  # the seed it goes on with anyway: nothing to say
    assert "is not used" not in r.stderr and r.returncode == 1
    r = fastmm(*args, "--seed", "1000", "-q", cwd=tmp_path)  # -q hides progress, not this
    assert r.stderr.startswith("note: --seed 1000 is not used"), r.stderr


def test_workers_past_the_last_fresh_seeds_get_advice_they_can_follow(tmp_path):
    ck = tmp_path / "ck"
    last = 2**62 - 2
    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--seed", str(last),
               "--resume", str(ck), "--time-limit", "1", "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--workers", "2",
               "--resume", str(ck), "--time-limit", "1", "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"error: --resume {ck}: only 1 fresh seed(s) are left below 2^62 for 2 "
                                "workers; use --workers 1 or a new directory")
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before


def test_a_dangling_symlink_is_named_as_one(tmp_path):
    (tmp_path / "dang").symlink_to(tmp_path / "nowhere")
    r = fastmm("search", "2", "2", "2", "--rank", "7", "--resume", "dang", "-q", cwd=tmp_path)
    assert r.returncode == 2
    nowhere = tmp_path / "nowhere"
    assert r.stderr.strip() == f"error: --resume dang: a symlink to {nowhere}, which does not exist"
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("symmetry, says", [("t2", True), ("c3", False)])
def test_a_t2_resume_says_its_walks_go_on_from_the_saved_mod2_scheme(tmp_path, symmetry, says):
    """The message tested every symmetric checkpoint with the C3 split, never true for the
    non-square shapes of t2; the walk itself did go on from the scheme."""
    from fastmm.search.checkpoint import Checkpoint

    ck = tmp_path / "ck"
    # the walk keeps its lowest GF(2) scheme that did not lift; stop it once it has one (a loaded
    # machine takes longer to get there than an idle one)
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", "search", "3", "4", "3", "--rank", "26",
                             "--symmetry", "t2", "--resume", str(ck), "--time-limit", "120", "-q",
                             "--no-sympy"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 110
    while time.monotonic() < deadline and not list(ck.glob("gf2-seed*.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert list(ck.glob("gf2-seed*.json")), sorted(p.name for p in ck.iterdir())
    if symmetry == "c3":  # the same directory read as a c3 checkpoint: a C3 split never fits ⟨3,4,3⟩
        state = json.loads((ck / "checkpoint.json").read_text())
        state["symmetry"] = "c3"
        shutil.copytree(ck, tmp_path / "c3")
        ck = tmp_path / "c3"
        (ck / "checkpoint.json").write_text(json.dumps(state))
    cp = Checkpoint(ck, json.loads((ck / "checkpoint.json").read_text()), resumed=True)
    text = cp.describe()
    assert "valid modulo 2 only" in text
    assert ("the walks go on from it" in text) is says


def test_a_refused_directory_keeps_its_temporaries(tmp_path):
    """Temporaries are removed only in a directory the search takes: one it refuses (another
    shape, or not a checkpoint) is left exactly as it was."""
    ck = tmp_path / "ck"
    r = fastmm("search", "2", "2", "2", "--rank", "7", "--resume", str(ck), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("data")
    for d in (ck, other):
        _left_by_a_kill(d / STALE, "{")
        before = {p.name: p.read_bytes() for p in d.iterdir()}
        r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(d), "-q", cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_a_symlink_loop_is_named_as_one(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    r = fastmm("search", "2", "2", "2", "--rank", "7", "--resume", "loop", "-q", cwd=tmp_path)
    assert (r.returncode, r.stderr.strip()) == (2, "error: --resume loop: a symlink loop")
