"""A search never loses or worsens a result it kept: --minimize additions resumed, --distinct's
numbered files, and DIR/best.json written while the walk runs (SIGKILL included)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fastmm import api
from fastmm.export.slp import count_additions
from fastmm.io import load_scheme, save_scheme
from fastmm.search import checkpoint as ck
from fastmm.search.base import Progress, SearchOutcome
from fastmm.search.runner import _better
from fastmm.verify import verify


def fastmm(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def two_schemes():
    """Two ⟨2,2,3;11⟩ schemes: (fewer additions, more additions)."""
    found = [api.search((2, 2, 3), 11, seed=s, method="flip", time_limit=20, sympy=False) for s in range(8)]
    found.sort(key=count_additions)
    good, bad = found[0], found[-1]
    assert count_additions(good) < count_additions(bad)
    return good, bad


def new_checkpoint(directory, shape=(2, 2, 3), rank=11):
    req = api.SearchRequest(shape, rank, "ZT", "flip", 0, 10, 1, None, None, {})
    cp = ck.Checkpoint.open(directory, req)
    cp.reserve(0, 1)
    return cp


def best_rank(directory):
    return json.loads((directory / "checkpoint.json").read_text())["best_rank"]


# -- 1. --minimize additions: never a worse scheme of the same rank ------------------------------

def test_record_best_keeps_the_scheme_with_fewer_additions(tmp_path, two_schemes):
    good, bad = two_schemes
    cp = new_checkpoint(tmp_path / "ck")
    try:
        cp.record_best(good, same_rank=True)
        cp.record_best(bad, same_rank=True)  # the same rank, more additions: a resumed walk's first
        assert count_additions(load_scheme(tmp_path / "ck" / "best.json")) == count_additions(good)
        assert best_rank(tmp_path / "ck") == 11 and cp.write_error is None
    finally:
        cp.close()


def test_a_kept_scheme_is_not_replaced_by_another_workers_worse_one(tmp_path, two_schemes):
    from fastmm.cli.search import _Hooks, _Writer
    from fastmm.search.runner import StopSignals

    good, bad = two_schemes
    out = tmp_path / "out.json"
    hooks = _Hooks((2, 2, 3), 11, _Writer(str(out), 1), None, None, StopSignals(), "test")
    hooks.keep(good)
    hooks.keep(bad)
    assert count_additions(load_scheme(out)) == count_additions(good)


def test_workers_outcomes_prefer_fewer_additions(two_schemes):
    good, bad = two_schemes

    def minimized(s, adds, seconds):
        note = {"additions_after": adds}
        return SearchOutcome(s.with_meta(provenance={"minimize": note}), seconds=seconds)

    fewer = minimized(good, count_additions(good), 5.0)
    more = minimized(bad, count_additions(bad), 1.0)  # returned sooner, but worse
    assert _better(more, fewer) and not _better(fewer, more)


def test_resumed_minimize_polishes_the_saved_scheme(tmp_path):
    d, out = tmp_path / "m2", tmp_path / "out.json"
    cmd = ["search", "3", "3", "3", "--rank", "23", "--method", "flip", "--minimize", "additions",
           "--resume", str(d), "-o", str(out), "-q", "--no-sympy"]
    r = fastmm(*cmd, "--time-limit", "4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first = count_additions(load_scheme(d / "best.json"))
    r = fastmm(*cmd, "--time-limit", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for path in (d / "best.json", out):
        scheme = load_scheme(path)
        assert scheme.rank == 23 and verify(scheme, use_sympy=False).ok
        assert count_additions(scheme) <= first
    note = load_scheme(out).provenance["minimize"]
    assert note["additions_before"] == first  # it went on from the saved scheme
    assert load_scheme(out).provenance["seed"] == 1  # with a fresh seed


# -- 2. --distinct K -o FILE: FILE-2 ... FILE-K are never overwritten ----------------------------

def test_distinct_refuses_existing_numbered_files(tmp_path):
    (tmp_path / "res-3.json").write_text("precious3\n")
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--distinct", "3", "-q", "--time-limit", "20",
               "-o", "res.json", "--resume", "ck", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "res-3.json" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res-3.json"]  # no res.json, no ck
    assert (tmp_path / "res-3.json").read_text() == "precious3\n"
    (tmp_path / "res-3.json").unlink()
    r = fastmm("search", "2", "2", "3", "--rank", "11", "--distinct", "3", "-q", "--time-limit", "20",
               "-o", "res.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert all(verify(load_scheme(tmp_path / f), use_sympy=False).ok
               for f in ("res.json", "res-2.json", "res-3.json"))


def test_distinct_file_that_appears_during_the_search_is_not_replaced(tmp_path, monkeypatch, two_schemes):
    from fastmm.cli.search import _Writer

    monkeypatch.chdir(tmp_path)
    good, bad = two_schemes
    writer = _Writer("res.json", 2)
    (tmp_path / "res-2.json").write_text("precious\n")  # made by someone else after the check
    assert writer(good).name == "res.json"
    rescued = writer(bad)
    assert (tmp_path / "res-2.json").read_text() == "precious\n"
    assert rescued.name != "res-2.json" and verify(load_scheme(rescued), use_sympy=False).ok
    assert writer.problems and "res-2.json" in writer.problems[0]


# -- 3. DIR/best.json and best_rank while the walk runs -----------------------------------------

def test_save_pool_keeps_best_json_and_best_rank(tmp_path, two_schemes):
    good, _ = two_schemes
    d = tmp_path / "ck"
    cp = new_checkpoint(d)
    try:
        naive = api.search((2, 2, 3), 12, method="flip", time_limit=5, sympy=False)
        assert naive.rank == 12
        assert ck.save_pool(d, 0, [naive])
        assert load_scheme(d / "best.json").rank == 12 and best_rank(d) == 12
        assert ck.save_pool(d, 1, [good])  # another worker, lower
        assert load_scheme(d / "best.json").rank == 11 and best_rank(d) == 11
        assert ck.save_pool(d, 0, [naive])  # higher: best.json stays
        assert load_scheme(d / "best.json").rank == 11 and best_rank(d) == 11
        cp.note_progress(0, Progress(rank=11, steps=1, note="walking"))
        cp.finish("stopped")  # the search's own state write keeps the workers' best_rank
        assert best_rank(d) == 11
    finally:
        cp.close()


def damaged(scheme):
    """The scheme with one coefficient changed: it loads, and fails verification."""
    data = json.loads(json.dumps(scheme_dict(scheme)))
    data["Wa"][0][0] = 1 - data["Wa"][0][0] if data["Wa"][0][0] in (0, 1) else 0
    return data


def scheme_dict(scheme):
    from fastmm.io import scheme_to_dict

    return scheme_to_dict(scheme)


def test_a_bad_or_foreign_best_json_is_replaced(tmp_path, two_schemes):
    good, _ = two_schemes
    d = tmp_path / "ck"
    cp = new_checkpoint(d)
    try:
        cp.record_best(good)
        strassen = api.search((2, 2, 2), 7, method="flip", time_limit=5, sympy=False)
        for bad in (damaged(good), scheme_dict(strassen)):
            (d / "best.json").write_text(json.dumps(bad))
            cp.record_best(good)  # the same rank as best_rank, but what is there is no scheme of it
            kept = load_scheme(d / "best.json")
            assert kept.shape == (2, 2, 3) and verify(kept, use_sympy=False).ok
        save_scheme(api.search((2, 2, 3), 12, method="flip", time_limit=5, sympy=False), d / "best.json")
        assert ck.save_pool(d, 3, [good])  # best.json was worse than best_rank says
        assert load_scheme(d / "best.json").rank == 11
    finally:
        cp.close()


def test_resume_replaces_a_damaged_best_json(tmp_path):
    d = tmp_path / "ck"
    cmd = ["search", "3", "3", "3", "--rank", "22", "--method", "flip", "--resume", str(d), "--no-sympy",
           "-o", str(tmp_path / "out.json"), "--time-limit", "2"]
    r = fastmm(*cmd, "-q", cwd=tmp_path)
    assert r.returncode == 1 and (d / "best.json").exists()
    (d / "best.json").write_text(json.dumps(damaged(load_scheme(d / "best.json"))))
    r = fastmm(*cmd, cwd=tmp_path)
    assert r.returncode == 1 and "1 saved scheme(s) ignored" in r.stderr.splitlines()[0]
    kept = load_scheme(d / "best.json")
    assert verify(kept, use_sympy=False).ok and best_rank(d) == kept.rank


def test_sigkill_during_the_walk_leaves_best_json(tmp_path):
    d = tmp_path / "KB"
    # rank 22 for ⟨3,3,3⟩ over ZT is below the best known (23): the walk runs until killed
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", "search", "3", "3", "3", "--rank", "22",
                             "--method", "flip", "--resume", str(d), "--time-limit", "60", "-q"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not list(d.glob("pool-seed*.json")):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    pools = json.loads(next(d.glob("pool-seed*.json")).read_text())["schemes"]
    best = load_scheme(d / "best.json")
    assert verify(best, use_sympy=False).ok
    assert best.rank == min(s["rank"] for s in pools)
    assert best_rank(d) == best.rank
