"""`fastmm search` after the third QA round: what --resume, --minimize additions, --distinct,
--workers, -o and the terminal do when a search is killed, refused, shared or shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastmm.io import load_scheme
from fastmm.verify import verify
from tests.hostile.contract import wait_for


def fastmm(*args, cwd, timeout=300, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env, **kw)


def start(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fastmm", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def state(ck: Path) -> dict:
    return json.loads((ck / "checkpoint.json").read_text())


# -- 1. --minimize additions writes the scheme as soon as it is found -------------------------------

def test_minimize_writes_the_scheme_found_before_the_time_limit_so_sigkill_keeps_it(tmp_path):
    ck, out = tmp_path / "mck", tmp_path / "m4.json"
    proc = start("search", "2", "2", "3", "--rank", "11", "--minimize", "additions", "--time-limit", "40",
                 "--resume", str(ck), "-o", str(out), "-q", "--no-sympy", cwd=tmp_path)
    try:
        assert wait_for(lambda: out.exists() and (ck / "best.json").exists(), 25), \
            "the scheme found was kept in memory only"
        time.sleep(2.5)  # a minimizing slice or two: the files are replaced, never left half-written
    finally:
        proc.kill()
        proc.wait()
    for path in (out, ck / "best.json"):
        s = load_scheme(path)
        assert s.rank == 11 and verify(s, use_sympy=False).ok


def test_minimize_reports_the_pool_scheme_at_once_and_each_improvement():
    """The runner reports the pool's scheme (Progress.scheme) the moment it is found, long before
    the time limit; later reports carry fewer additions."""
    from fastmm.export.slp import count_additions
    from fastmm.search.base import SearchTask
    from fastmm.search.runner import run_job

    seen = []
    t0 = time.monotonic()
    out = run_job(SearchTask(3, 3, 3, 23, "ZT", seed=0, time_limit=5, options={"minimize": "additions"}),
                  "pool", lambda: False,
                  lambda p: p.scheme is not None and seen.append((time.monotonic() - t0, p.scheme)))
    assert seen and seen[0][0] < 3 and seen[0][1].rank == 23
    adds = [count_additions(s) for _, s in seen]
    assert adds == sorted(adds, reverse=True) and len(set(adds)) == len(adds)
    assert count_additions(out.scheme) == adds[-1] and verify(out.scheme, use_sympy=False).ok


# -- 3. --distinct with --resume uses fresh seeds ------------------------------------------------

def test_distinct_resume_reserves_every_seed_it_used(tmp_path):
    ck = tmp_path / "dck"
    args = ("search", "2", "2", "3", "--rank", "11", "--method", "flip", "--distinct", "3",
            "--time-limit", "60", "--resume", str(ck), "-q", "--no-sympy")
    assert fastmm(*args, "-o", str(tmp_path / "a.json"), cwd=tmp_path).returncode == 0
    assert state(ck)["seeds_used"] == [0, 1, 2] and state(ck)["next_seed"] == 3
    r = fastmm(*args, "-o", str(tmp_path / "b.json"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the first is the scheme DIR saved (it answers the search); the others come from fresh seeds,
    # every one reserved
    first, *others = (load_scheme(tmp_path / name).provenance for name in ("b.json", "b-2.json", "b-3.json"))
    assert first["resumed_from"] == str(ck / "best.json") and first["seed"] in (0, 1, 2)
    used = state(ck)["seeds_used"]
    assert used == list(range(len(used))) and len(used) >= 5 and state(ck)["next_seed"] == len(used)
    assert all(3 <= x["seed"] < len(used) for x in others)


# -- 4. one search per --resume directory --------------------------------------------------------

def test_a_second_search_in_a_directory_in_use_is_refused_and_changes_nothing(tmp_path):
    ck = tmp_path / "lk"
    args = ("search", "3", "3", "4", "--rank", "28", "--time-limit", "40", "--resume", str(ck), "-q",
            "--no-sympy")
    proc = start(*args, cwd=tmp_path)
    try:
        assert wait_for(lambda: (ck / "checkpoint.json").exists(), 25)
        r = fastmm(*args, cwd=tmp_path)
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "another fastmm search is using it" in r.stderr
        assert state(ck)["seeds_used"] == [0]  # the refused run reserved nothing
    finally:
        proc.kill()
        proc.wait()


def test_two_searches_creating_one_directory_at_once_one_is_refused(tmp_path):
    from fastmm.api import SearchRequest
    from fastmm.errors import InputError
    from fastmm.search.checkpoint import Checkpoint

    req = SearchRequest((2, 2, 3), 11, time_limit=5)
    a, b = Checkpoint.open(tmp_path / "new", req), Checkpoint.open(tmp_path / "new", req)
    assert not (tmp_path / "new").exists()  # opening writes nothing
    a.reserve(0, 1)
    with pytest.raises(InputError, match="another fastmm search started in it at the same time"):
        b.reserve(0, 1)
    assert state(tmp_path / "new")["seeds_used"] == [0]
    a.close()


# -- 5. --workers beyond the cores ---------------------------------------------------------------

def test_the_time_limit_holds_with_many_more_workers_than_cores(tmp_path):
    t = time.monotonic()
    r = fastmm("search", "3", "3", "3", "--rank", "22", "--workers", "100", "--time-limit", "2", "-q",
               "--no-sympy", "-o", str(tmp_path / "w.json"), cwd=tmp_path)
    took = time.monotonic() - t
    assert r.returncode == 1 and "within 2 s" in r.stderr
    assert took < 7, f"a 2 s search took {took:.1f} s"
    if (os.cpu_count() or 1) < 100:
        assert r.stderr.startswith("warning: --workers 100 is more than the ")


# -- 6. the symmetric walk's progress shows ranks of valid schemes -------------------------------

def test_symmetric_progress_never_shows_a_rank_valid_only_mod_2():
    from fastmm.search.base import SearchTask
    from fastmm.search.symmetric import run

    seen = []
    t0 = time.monotonic()
    out = run(SearchTask(5, 5, 5, 99, "ZT", seed=0), seen.append, lambda: time.monotonic() - t0 > 3)
    assert seen[0].rank == 125  # the naive scheme's: valid before anything lifts
    assert any("mod 2" in p.note for p in seen)  # the walk's own lower rank, labelled
    best = (out.scheme or out.best).rank  # every rank shown is that of a valid scheme: never below it
    assert all(p.rank >= best for p in seen), [(p.rank, p.note) for p in seen]


# -- 7. bench reports the levels that apply ------------------------------------------------------

def test_effective_levels_follow_the_cutoff():
    from fastmm.bench import effective_levels

    assert effective_levels((2, 2, 2), 64, 1, 64) == 0  # 32-blocks are below the cutoff
    assert effective_levels((2, 2, 2), 64, 10, 1) == 6
    assert effective_levels((2, 2, 2), 128, 1, 64) == 1
    assert effective_levels((2, 3, 4), 64, 5, 2) == 2  # 64/4 = 16, 16/4 = 4, 4/4 = 1 < 2


def test_bench_prints_the_levels_it_ran(tmp_path):
    from fastmm.io import save_scheme
    from fastmm.reference import strassen

    save_scheme(strassen(), tmp_path / "s.json")
    r = fastmm("bench", "s.json", "--size", "64", "--levels", "1", "--repeat", "1", "--impl", "numpy",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "64x64x64, 0 level(s)" in r.stdout
    assert "note: size 64: 0 of the 1 level(s) asked apply" in r.stderr


# -- 8. a checkpoint at the last seed ------------------------------------------------------------

def test_a_checkpoint_at_the_last_seed_is_read_and_says_no_seed_is_left(tmp_path):
    ck = tmp_path / "big"
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--method", "flip", "--seed", str(2**62 - 1),
               "--resume", str(ck), "-o", str(tmp_path / "big.json"), "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert state(ck)["next_seed"] == 2**62
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--method", "flip", "--resume", str(ck), "-q",
               cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "no fresh seed is left" in r.stderr and "malformed" not in r.stderr
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before


# -- 9. file names are shown as they are ---------------------------------------------------------

@pytest.mark.parametrize("name, shown", [
    ("ü.json", "\\xfc.json"),
    ("\x1b[31mred.json", "\\x1b[31mred.json"),
    ("x\ny.json", "x\\ny.json"),
])
def test_the_written_line_shows_the_real_name_escaped(tmp_path, name, shown):
    env = {**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7", "-o", name,
                        "--no-sympy"], capture_output=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    last = r.stdout.decode("ascii").splitlines()[-1]
    assert last == f"written: {tmp_path}/{shown}"
    assert b"\x1b" not in r.stdout and (tmp_path / name).exists()


# -- 10. and 11. refusals write nothing ------------------------------------------------------------

@pytest.mark.parametrize("request_args", [
    ("2", "2", "2", "--rank", "8", "--distinct", "3"),
    ("2", "2", "3", "--rank", "11", "--distinct", "2", "--minimize", "additions"),
])
def test_a_refused_request_creates_no_checkpoint(tmp_path, request_args):
    r = fastmm("search", *request_args, "--resume", "nck", "-o", "x.json", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert not (tmp_path / "nck").exists() and not (tmp_path / "x.json").exists()
    (tmp_path / "empty").mkdir()
    r = fastmm("search", *request_args, "--resume", "empty", cwd=tmp_path)
    assert r.returncode == 2 and list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("name", ["checkpoint.json", "best.json", "pool-seed3.json"])
def test_out_into_the_checkpoints_own_files_is_refused(tmp_path, name):
    (tmp_path / "ck").mkdir()
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--resume", "ck", "-o", f"ck/{name}", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "is a file of the --resume directory ck" in r.stderr
    assert list((tmp_path / "ck").iterdir()) == []


# -- 12. the resuming line -----------------------------------------------------------------------

def test_the_resuming_line_counts_the_seeds_already_used(tmp_path):
    args = ("search", "2", "2", "3", "--rank", "11", "--resume", "ck", "--no-sympy")
    assert fastmm(*args, "-q", "-o", "a.json", cwd=tmp_path).returncode == 0
    r = fastmm(*args, "-o", "b.json", cwd=tmp_path)
    assert r.stderr.splitlines()[0] == "resuming ck: 1 seed used, best rank 11, 1 saved scheme"


# -- 13. an interrupt while --distinct compares schemes ------------------------------------------

def test_an_interrupt_between_distinct_searches_says_what_was_found(tmp_path, monkeypatch, capsys):
    """Ctrl-C outside the walks (comparing the schemes, verifying them) printed "interrupted"
    and nothing of the schemes already written."""
    from fastmm import api
    from fastmm.cli import main

    real = api._equivalent_to_one_found
    calls = []

    def compare(found, scheme, *a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(found, scheme, *a, **kw)

    monkeypatch.setattr(api, "_equivalent_to_one_found", compare)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["search", "2", "2", "3", "--rank", "11", "--distinct", "5", "--method", "flip", "-o", "d.json",
              "--no-sympy", "-q"])
    _, err = capsys.readouterr()
    assert done.value.code == 130
    assert err.count("\n") == 1
    assert "found 2 of 5 inequivalent ⟨2,2,3;11⟩ schemes before the interrupt" in err
    assert f"written: {tmp_path}/d.json, {tmp_path}/d-2.json" in err


# -- 14. a full stdout -----------------------------------------------------------------------------

@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_stdout_is_named_and_the_file_written_is_listed(tmp_path):
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "3", "--rank", "11", "-o",
                            "full.json", "--no-sympy"], stdout=full, stderr=subprocess.PIPE, text=True,
                           cwd=tmp_path, timeout=120)
    assert r.returncode == 1
    assert r.stderr == (f"error: writing to stdout failed (No space left on device); the scheme files "
                        f"were written: {tmp_path}/full.json\n")
    assert verify(load_scheme(tmp_path / "full.json"), use_sympy=False).ok
