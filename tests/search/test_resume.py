"""`fastmm search --resume DIR`: a killed search loses nothing and continues with fresh seeds."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fastmm.io import load_scheme
from fastmm.verify import verify


def fastmm(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def test_sigkill_then_resume_keeps_the_best_and_uses_new_seeds(tmp_path):
    ck = tmp_path / "ck"
    # rank 28 for ⟨3,3,4⟩ is below the best known (29): the search runs until it is killed
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", "search", "3", "3", "4", "--rank", "28",
                             "--time-limit", "120", "--resume", str(ck), "-q", "--no-sympy"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 100
    while time.monotonic() < deadline and not list(ck.glob("pool-seed*.json")):
        time.sleep(0.2)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = json.loads((ck / "checkpoint.json").read_text())  # never corrupt
    assert state["seeds_used"] == [0] and state["next_seed"] == 1
    pools = json.loads(next(ck.glob("pool-seed*.json")).read_text())
    assert pools["schemes"]
    killed_best = min(s["rank"] for s in pools["schemes"])
    assert killed_best <= 30

    r = fastmm("search", "3", "3", "4", "--rank", "28", "--time-limit", "3", "--resume", str(ck),
               "--no-sympy", "--out", str(tmp_path / "out.json"), cwd=tmp_path)
    assert r.returncode == 1
    assert "resuming" in r.stderr and "--resume" in r.stderr.splitlines()[-1]
    # the killed run wrote no best.json: its best is the saved pool level, and that is what shows
    assert f"best rank {killed_best}," in r.stderr.splitlines()[0]
    state = json.loads((ck / "checkpoint.json").read_text())
    assert state["seeds_used"] == [0, 1] and state["status"] == "stopped"
    best = load_scheme(ck / "best.json")
    assert verify(best, use_sympy=False).ok
    assert best.rank <= killed_best


def test_resume_refuses_another_shape_and_leaves_the_directory(tmp_path):
    ck = tmp_path / "ck"
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), "-q", "--no-sympy",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    r = fastmm("search", "2", "2", "4", "--rank", "14", "--resume", str(ck), "-q", cwd=tmp_path)
    assert r.returncode == 2
    assert "the checkpoint is for shape" in r.stderr and r.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before


def test_resume_refuses_truncated_and_foreign_checkpoints(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "checkpoint.json").write_text('{"format": "fastmm.search-checkpoint", "vers')
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), cwd=tmp_path)
    assert r.returncode == 2 and "not a readable checkpoint" in r.stderr
    (ck / "checkpoint.json").write_text(json.dumps({"format": "fastmm.search-checkpoint", "version": 99}))
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), cwd=tmp_path)
    assert r.returncode == 2 and "version 99" in r.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(other), cwd=tmp_path)
    assert r.returncode == 2 and "not empty" in r.stderr
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("shape, rank, walk, naive", [
    (("4", "4", "4"), "46", ("--symmetry", "c3"), 64),
    (("3", "3", "3"), "22", ("--method", "flip"), 27),
    (("3", "3", "3"), "22", ("--method", "ternary"), 27),
])
def test_walks_without_pools_keep_their_best_through_a_kill(tmp_path, shape, rank, walk, naive):
    """The C3, flip and ternary walks have no pools: each new best (valid in the ring) is saved
    while they run (flip and ternary at most every 2 s; before, a SIGKILL left them only
    checkpoint.json), and the resumed run reports it when it does no better itself. The ranks
    asked are beyond reach: the walks run until they are killed."""
    ck = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", "search", *shape, "--rank", rank, *walk,
                             "--time-limit", "120", "--resume", str(ck), "-q", "--no-sympy"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 100
    while time.monotonic() < deadline and not list(ck.glob("pool-seed*.json")):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = json.loads(next(ck.glob("pool-seed*.json")).read_text())["schemes"]
    assert len(saved) == 1 and saved[0]["rank"] < naive

    r = fastmm("search", *shape, "--rank", rank, *walk, "--time-limit", "0.5", "--resume", str(ck),
               "--no-sympy", "--out", str(tmp_path / "out.json"), cwd=tmp_path)
    assert r.returncode == 1 and "resuming" in r.stderr
    best = load_scheme(ck / "best.json")
    assert verify(best, use_sympy=False).ok and best.ring == "ZT" and best.rank <= saved[0]["rank"]


@pytest.mark.parametrize("damage", ["best_rank_text", "best_rank_negative", "seed_bool", "pool_not_a_pool"])
def test_resume_refuses_damaged_fields_and_leaves_the_directory(tmp_path, damage):
    """A checkpoint edited by hand or by a faulty tool: one line, exit 2, every file as it was."""
    ck = tmp_path / "ck"
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), "-q", "--no-sympy",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    state = json.loads((ck / "checkpoint.json").read_text())
    if damage == "best_rank_text":
        state["best_rank"] = "x"
    elif damage == "best_rank_negative":
        state["best_rank"] = -5
    elif damage == "seed_bool":
        state["seeds_used"] = [True]
    (ck / "checkpoint.json").write_text(json.dumps(state))
    if damage == "pool_not_a_pool":
        (ck / "pool-seed0.json").write_text(json.dumps({"format": "something else"}))
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    out = tmp_path / "b.json"
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), "-q", "--no-sympy",
               "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "left as it was" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("--resume") == 1
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    assert not out.exists()


def test_resume_without_a_progress_note_continues(tmp_path):
    """The progress note is informative only: a checkpoint without it resumes."""
    ck = tmp_path / "ck"
    args = ("search", "3", "3", "3", "--rank", "23", "--ring", "ZT", "--resume", str(ck), "-q",
            "--no-sympy", "--time-limit", "60")
    assert fastmm(*args, cwd=tmp_path).returncode == 0
    state = json.loads((ck / "checkpoint.json").read_text())
    del state["progress"]
    (ck / "checkpoint.json").write_text(json.dumps(state))
    # a lower target (23 is found: asked again, the saved scheme is the answer, with no walk)
    lower = [a if a != "23" else "22" for a in args[:-1]] + ["3"]
    r = fastmm(*lower, "--out", str(tmp_path / "again.json"), cwd=tmp_path)
    assert r.returncode == 1 and "no ⟨3,3,3⟩ scheme of rank 22" in r.stderr, r.stderr
    assert "progress" in json.loads((ck / "checkpoint.json").read_text())


def _full_disk(monkeypatch, after: int):
    """Checkpoint writes fail with 'no space left' after the first `after` of them."""
    from fastmm.paths import OutputError
    from fastmm.search import checkpoint as ck

    calls = {"n": 0}
    real = ck._write_text  # every file of DIR is written through it

    def write(path, text):
        calls["n"] += 1
        if calls["n"] > after:
            raise OutputError(f"cannot write {path}: no space left on the device")
        real(path, text)
    monkeypatch.setattr(ck, "_write_text", write)


def test_a_full_checkpoint_folder_costs_neither_the_search_nor_its_scheme(tmp_path, monkeypatch, capsys):
    """QA: with the --resume folder full, a found scheme was reported only as a failure to write
    checkpoint.json (exit 1), though --out held it."""
    from fastmm.cli import main

    _full_disk(monkeypatch, after=2)  # the folder takes the reservation of seeds, then fills up
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["search", "2", "2", "3", "--rank", "11", "--resume", "ck", "-o", "out.json", "--no-sympy"])
    out, err = capsys.readouterr()
    assert done.value.code in (0, None)
    assert "written: " in out and verify(load_scheme(tmp_path / "out.json"), use_sympy=False).ok
    assert err.count("\n") == 1 and "checkpoint in ck was not fully updated" in err


def test_a_checkpoint_folder_that_takes_no_write_is_refused_before_the_search(tmp_path, monkeypatch, capsys):
    from fastmm.cli import main

    _full_disk(monkeypatch, after=0)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["search", "2", "2", "3", "--rank", "11", "--resume", "ck", "-o", "out.json"])
    _, err = capsys.readouterr()
    assert done.value.code == 2 and err.startswith("error: --resume ck: cannot write")
    assert not (tmp_path / "out.json").exists()


def test_resume_says_what_it_ignored_and_claims_no_rank_without_a_scheme(tmp_path):
    from fastmm.io import dumps
    from fastmm.reference import strassen

    ck = tmp_path / "ck"
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    state = json.loads((ck / "checkpoint.json").read_text())
    state["best_rank"] = 10  # a claim no saved scheme backs
    (ck / "checkpoint.json").write_text(json.dumps(state))
    other = json.loads(dumps(strassen()))  # a scheme of another shape in a pool file
    (ck / "pool-seed7.json").write_text(json.dumps({"format": "fastmm.pool-checkpoint", "version": 1,
                                                    "schemes": [other]}))
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", str(ck), "--no-sympy",
               "--out", str(tmp_path / "out.json"), cwd=tmp_path)
    first = r.stderr.splitlines()[0]
    assert "best rank 11," in first and "1 saved scheme(s) ignored" in first, r.stderr
