"""`--resume` of the plain walks: flip and ternary walk on from the schemes the checkpoint saved,
and a GF(2) scheme below the best valid one (one that did not lift) is kept and walked on from."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from fastmm.io import load_scheme, save_scheme
from fastmm.reference import laderman
from fastmm.scheme import naive_scheme
from fastmm.search import flip, ternary
from fastmm.search.base import SearchTask, resumed_start
from fastmm.search.checkpoint import BestSaver, Checkpoint, save_gf2_low
from fastmm.verify import verify

DATA = Path(__file__).resolve().parents[1] / "data"
NO_LIFT = DATA / "3x3x3-rank23-Z2-no-lift.json"  # valid modulo 2 only: no ZT or Z scheme reduces to it


def fastmm(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def _run(method, task):
    return method.run(task, lambda p: None, lambda: False)


def _task(starts, rank=20, seed=0, **options):
    return SearchTask(3, 3, 3, rank=rank, ring="ZT", seed=seed, options={"starts": starts, **options})


def test_resumed_start_takes_the_lowest_fitting_scheme_and_never_overrides_start():
    z2 = load_scheme(NO_LIFT)
    lad, naive = laderman(), naive_scheme(3, 3, 3)
    anything = lambda s: True  # noqa: E731
    assert resumed_start(_task([naive, z2, lad]), anything) is lad  # rank 23: a lifted one first
    assert resumed_start(_task([naive, z2]), anything) is z2
    assert resumed_start(_task([naive, z2]), lambda s: s.ring != "Z2") is naive
    two = [naive, lad, laderman()]  # the seed picks among the lowest
    assert resumed_start(_task(two), anything) is two[1]
    assert resumed_start(_task(two, seed=1), anything) is two[2]
    assert resumed_start(SearchTask(3, 3, 4, rank=28, options={"starts": two}), anything) is None
    assert resumed_start(_task(two, start=naive), anything) is None
    assert resumed_start(_task([]), anything) is None
    # a saved scheme that already answers the task is not walked on from (fresh seeds find new
    # ones: --distinct); a GF(2) one at the target is, since it did not lift
    assert resumed_start(_task([naive, lad], rank=23), anything) is naive
    assert resumed_start(_task([naive, z2], rank=23), anything) is z2


def test_a_resumed_flip_walk_starts_from_the_unlifted_gf2_scheme_and_keeps_the_valid_best():
    z2 = load_scheme(NO_LIFT)
    valid = naive_scheme(3, 3, 3)
    task = SearchTask(3, 3, 3, rank=20, ring="ZT", seed=0, time_limit=0.3,
                      options={"starts": [valid, z2], "backend": "python"})
    out = _run(flip, task)
    assert out.scheme is None and out.best is not None
    assert out.best.provenance["start"] == "⟨3,3,3;23⟩ saved in the --resume directory"
    # the best valid in ZT is never the GF(2) start: it is the saved naive one or a lift below it
    assert out.best.ring != "Z2" and out.best.rank <= 27
    assert verify(out.best, use_sympy=False).ok


def test_a_resumed_ternary_walk_starts_from_the_lowest_ternary_scheme_only():
    z2 = load_scheme(NO_LIFT)
    task = SearchTask(3, 3, 3, rank=20, ring="ZT", seed=0, time_limit=0.3,
                      options={"starts": [z2, laderman(), naive_scheme(3, 3, 3)], "backend": "python"})
    out = _run(ternary, task)
    assert out.best.provenance["start"] == "⟨3,3,3;23⟩ saved in the --resume directory"
    assert out.best.ring == "ZT" and out.best.rank == 23  # Laderman's, not the GF(2) one


def test_gf2_lows_are_written_as_verified_z2_scheme_files(tmp_path):
    z2 = load_scheme(NO_LIFT)
    # the lowest of those offered, relabelled Z2 (a walk's schemes carry the search's ring) and verified
    assert save_gf2_low(tmp_path, 4, [naive_scheme(3, 3, 3), z2.with_meta(ring="ZT", verified=None)])
    kept = load_scheme(tmp_path / "gf2-seed4.json")
    assert kept.ring == "Z2" and kept.rank == 23 and kept.verified and kept.provenance["seed"] == 4
    assert "did not lift" in kept.provenance["status"]
    assert save_gf2_low(None, 4, [z2]) is False and save_gf2_low(tmp_path, 5, []) is False

    # a GF(2) low usually lifts at once: even the first waits `every` seconds, and one that the
    # walk's valid best has caught up with is dropped
    saver = BestSaver(tmp_path, 7, every=3600.0, gf2=True)
    saver.offer(naive_scheme(3, 3, 3).with_meta(ring="Z2"))
    saver.settle(27)
    saver.close()
    assert not (tmp_path / "gf2-seed7.json").exists()
    saver.offer(z2)
    saver.settle(24)  # the valid best is above it: it stays pending
    saver.settle(None)
    assert not (tmp_path / "gf2-seed7.json").exists()
    saver.close()  # the walk ends: nothing pending is lost
    assert load_scheme(tmp_path / "gf2-seed7.json").rank == 23
    now = BestSaver(tmp_path, 8, every=0.0, gf2=True)
    now.offer(z2)
    assert load_scheme(tmp_path / "gf2-seed8.json").rank == 23


def test_resume_reads_the_gf2_file_reports_it_and_walks_on_from_it(tmp_path):
    ck = tmp_path / "ck"
    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--time-limit", "0.5",
               "--resume", str(ck), "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    # the saved best made worse than the GF(2) scheme by hand: the naive one, rank 27
    save_scheme(verify_copy(naive_scheme(3, 3, 3)), ck / "best.json")
    for pool in ck.glob("pool-seed*.json"):
        pool.unlink()
    state = json.loads((ck / "checkpoint.json").read_text())
    state["best_rank"] = 27
    (ck / "checkpoint.json").write_text(json.dumps(state))
    shutil.copy(NO_LIFT, ck / "gf2-seed0.json")

    checkpoint = Checkpoint.open(ck, _request())
    try:
        assert [s.rank for s in checkpoint.starts()] == [27, 23]
        assert checkpoint.gf2_low() == (23, ck / "gf2-seed0.json")
        assert "best rank 27 (modulo 2: 23, in gf2-seed*.json" in checkpoint.describe()
    finally:
        checkpoint.close()

    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--time-limit", "0.5",
               "--resume", str(ck), "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert "best rank 27 (modulo 2: 23, in gf2-seed*.json; the walks go on from it)" in first, r.stderr
    state = json.loads((ck / "checkpoint.json").read_text())
    assert state["seeds_used"] == [0, 1]
    best = load_scheme(ck / "best.json")
    assert best.ring == "ZT" and verify(best, use_sympy=False).ok and best.rank <= 27


def verify_copy(scheme):
    return scheme.with_meta(verified=verify(scheme, use_sympy=False).record())


def _request():
    from fastmm.api import SearchRequest

    return SearchRequest(shape=(3, 3, 3), rank=22, method="flip", ring="ZT")
