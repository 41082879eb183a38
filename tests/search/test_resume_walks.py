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
    assert "found no scheme reducing to it" in kept.provenance["status"]
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
        assert "best rank 27 (a scheme of rank 23 valid modulo 2 only, gf2-seed0.json; the walks go on " \
            "from it), 2 saved schemes" in checkpoint.describe()
    finally:
        checkpoint.close()

    r = fastmm("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--time-limit", "0.5",
               "--resume", str(ck), "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert "best rank 27 (a scheme of rank 23 valid modulo 2 only, gf2-seed0.json; the walks go on from " \
        "it)" in first, r.stderr
    state = json.loads((ck / "checkpoint.json").read_text())
    assert state["seeds_used"] == [0, 1]
    best = load_scheme(ck / "best.json")
    assert best.ring == "ZT" and verify(best, use_sympy=False).ok and best.rank <= 27


def verify_copy(scheme):
    return scheme.with_meta(verified=verify(scheme, use_sympy=False).record())


def _request():
    from fastmm.api import SearchRequest

    return SearchRequest(shape=(3, 3, 3), rank=22, method="flip", ring="ZT")


def test_a_gf2_low_that_lifts_is_handed_back_not_written(tmp_path):
    """Before a GF(2) low is written as one the search did not lift, the walk's own lift is tried
    once: lifted, it is the walk's (the callback keeps it), and no gf2 file claims otherwise."""
    z2 = load_scheme(NO_LIFT)
    taken = []
    saver = BestSaver(tmp_path, 1, every=0.0, gf2=True, lift=lambda s: taken.append(s.rank) or True)
    saver.offer(z2)
    assert taken == [23] and not (tmp_path / "gf2-seed1.json").exists()
    saver = BestSaver(tmp_path, 2, every=0.0, gf2=True, lift=lambda s: False)
    saver.offer(z2)
    assert load_scheme(tmp_path / "gf2-seed2.json").rank == 23


def test_short_flip_walks_leave_no_gf2_file_that_their_lift_takes(tmp_path):
    from fastmm.search.lift import lift
    from fastmm.search.terms import to_terms

    for seed in range(3):
        ck = tmp_path / f"ck{seed}"
        ck.mkdir()
        task = SearchTask(3, 3, 3, rank=22, ring="ZT", seed=seed, time_limit=0.05,
                          options={"checkpoint_dir": str(ck)})
        out = _run(flip, task)
        for path in ck.glob("gf2-seed*.json"):
            low = load_scheme(path)
            assert out.best is None or low.rank < out.best.rank
            assert lift((3, 3, 3), to_terms(low), "ZT", seed=0) is None


def _checkpoint_with(tmp_path, method, extra, name, symmetry=None):
    """A checkpoint of `fastmm search 3 3 3 --rank 22` made by a short real run, plus `extra`
    copied in as `name`."""
    ck = tmp_path / f"ck-{method}-{name}"
    args = ["search", "3", "3", "3", "--rank", "22", "--time-limit", "0.5", "--resume", str(ck), "-q",
            "--no-sympy"] + (["--symmetry", symmetry] if symmetry else ["--method", method])
    assert fastmm(*args, cwd=tmp_path).returncode == 1
    # what the short run saved goes: its own GF(2) low (a gf2-seed0.json of rank 23 now and then)
    # would tie with `extra` and be the one named
    for saved in [*ck.glob("pool-seed*.json"), *ck.glob("gf2-seed*.json")]:
        saved.unlink()
    save_scheme(verify_copy(naive_scheme(3, 3, 3)), ck / "best.json")
    shutil.copy(extra, ck / name)
    from fastmm.api import SearchRequest

    return Checkpoint.open(ck, SearchRequest(shape=(3, 3, 3), rank=22, method=method, ring="ZT",
                                             symmetry=symmetry))


def test_the_resuming_line_names_the_gf2_file_and_says_only_what_the_method_does(tmp_path):
    sym = tmp_path / "sym.json"  # a C3-symmetric ⟨3,3,3;23⟩ relabelled Z2: symmetric walks go on from it
    import fastmm as library

    found = library.search((3, 3, 3), 23, symmetry="c3", sympy=False)
    save_scheme(verify_copy(found.with_meta(ring="Z2")), sym)
    for method, symmetry, low, goes_on in (
            ("flip", None, NO_LIFT, True), ("pool", None, NO_LIFT, True), ("ternary", None, NO_LIFT, False),
            ("symmetric", "c3", NO_LIFT, False), ("symmetric", "c3", sym, True)):
        (tmp_path / low.stem).mkdir(exist_ok=True)
        checkpoint = _checkpoint_with(tmp_path / low.stem, method, low, "gf2-seed5.json", symmetry)
        try:
            text = checkpoint.describe()
        finally:
            checkpoint.close()
        assert "best rank 27 (a scheme of rank 23 valid modulo 2 only, gf2-seed5.json" in text, (method, text)
        assert ("the walks go on from it" in text) == goes_on, (method, text)


def test_gf2_claims_need_a_verified_scheme_of_the_shape(tmp_path):
    """A gf2 file that fails verification or is of another shape is never named as a rank kept."""
    bad = json.loads(NO_LIFT.read_text())
    k = 15  # rank 15: below the proven bound, and not a scheme
    bad.update(Wa=bad["Wa"][:k], Wb=bad["Wb"][:k], Wc=[row[:k] for row in bad["Wc"]], rank=k)
    bad.pop("verified", None)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    for extra in (tmp_path / "bad.json", DATA / "2x2x3-rank11-Z2-no-ternary-lift.json"):
        checkpoint = _checkpoint_with(tmp_path, "flip", extra, "gf2-seed9.json")
        try:
            assert checkpoint.gf2_low() is None
            assert "modulo 2" not in checkpoint.describe() and "ignored" in checkpoint.describe()
        finally:
            checkpoint.close()


def test_a_saved_rational_scheme_is_no_start_for_a_flip_walk():
    from fastmm.catalog import catalog_dir

    q = load_scheme(catalog_dir() / "2x4x5-rank32-Q.json")
    task = SearchTask(2, 4, 5, rank=31, ring="ZT", seed=0, time_limit=0.2,
                      options={"starts": [q], "backend": "python"})
    out = _run(flip, task)  # before: "a scheme with fractional coefficients cannot be reduced modulo 2"
    assert out.best is not None and "start" not in out.best.provenance  # from the naive scheme


def test_a_start_valid_modulo_2_only_is_never_shown_as_a_valid_rank():
    """Progress shows the rank of the best scheme valid in the ring; walking from a GF(2) start
    (a resumed one, or --start), that is the naive scheme until something lifts."""
    from fastmm.search import pool

    for method in (flip, pool):
        shown = []
        task = SearchTask(3, 3, 3, rank=22, ring="ZT", seed=0, time_limit=0.6,
                          options={"start": load_scheme(NO_LIFT), "backend": "python"})
        out = method.run(task, lambda p, seen=shown: seen.append(p.rank), lambda: False)
        assert shown and out.best is not None and verify(out.best, use_sympy=False).ok
        assert out.best.ring == "ZT" and min(shown) >= out.best.rank, (method.__name__, shown, out.best.rank)


def _stop_after(seconds):
    import time

    t0 = time.monotonic()
    return lambda: time.monotonic() - t0 > seconds


def test_a_resumed_symmetric_walk_goes_on_from_the_lowest_saved_symmetric_scheme():
    import fastmm
    from fastmm.search import symmetric

    sym = fastmm.search((3, 3, 3), 23, symmetry="c3", sympy=False, time_limit=60)
    task = SearchTask(3, 3, 3, rank=20, ring="ZT", seed=0, options={
        "starts": [naive_scheme(3, 3, 3), laderman(), sym], "group": "c3", "backend": "python"})
    out = symmetric.run(task, lambda p: None, _stop_after(0.3))
    assert out.best.provenance["start"] == "⟨3,3,3;23⟩ saved in the --resume directory"
    assert out.best.rank == 23 and out.best.provenance["start_cubes"] == 2  # 23 = 2 cubes + 3·7
    # Laderman's scheme is not C3-symmetric: it is the best to beat, never a start
    task = SearchTask(3, 3, 3, rank=20, ring="ZT", seed=0,
                      options={"starts": [laderman()], "group": "c3", "backend": "python"})
    out = symmetric.run(task, lambda p: None, _stop_after(0.3))
    assert "start" not in out.best.provenance and out.best.rank == 23
    # a user's start comes first
    task = SearchTask(3, 3, 3, rank=20, ring="ZT", seed=0, options={
        "starts": [sym], "start": naive_scheme(3, 3, 3), "group": "c3", "backend": "python"})
    out = symmetric.run(task, lambda p: None, _stop_after(0.3))
    assert out.best.provenance["start"] == "⟨3,3,3;27⟩"


def test_a_best_rank_edited_by_hand_is_read_from_best_json_and_prunes_no_gf2_low(tmp_path):
    """QA-109: checkpoint.json's best_rank was trusted over best.json: edited down to 20, it stayed
    (best.json held 27) and the end of the resumed search removed the GF(2) scheme of rank 23 as
    'no longer below the best valid rank'. The rank is now read from the verified best.json."""
    from fastmm.api import SearchRequest

    checkpoint = _checkpoint_with(tmp_path, "flip", NO_LIFT, "gf2-seed5.json")
    ck = checkpoint.directory
    checkpoint.close()
    state = json.loads((ck / "checkpoint.json").read_text())
    state["best_rank"] = 20  # below best.json's 27 and the GF(2) low's 23
    (ck / "checkpoint.json").write_text(json.dumps(state))
    request = SearchRequest(shape=(3, 3, 3), rank=22, method="flip", ring="ZT")
    checkpoint = Checkpoint.open(ck, request)
    try:
        assert checkpoint.state["best_rank"] == 27
        assert checkpoint.gf2_low() == (23, ck / "gf2-seed5.json")
        checkpoint.finish("stopped")
    finally:
        checkpoint.close()
    assert (ck / "gf2-seed5.json").exists()
    assert json.loads((ck / "checkpoint.json").read_text())["best_rank"] == 27


def test_a_verified_best_json_of_another_shape_is_not_replaced(tmp_path):
    """QA-109: checkpoint.json's shape edited from [3,3,3] to [3,4,3]: a `3 4 3` resume went on and
    replaced the verified ⟨3,3,3⟩ best.json by a ⟨3,4,3⟩ scheme. Refused now, DIR left as it was."""
    checkpoint = _checkpoint_with(tmp_path, "flip", NO_LIFT, "gf2-seed5.json")
    ck = checkpoint.directory
    checkpoint.close()
    state = json.loads((ck / "checkpoint.json").read_text())
    state["shape"] = [3, 4, 3]
    (ck / "checkpoint.json").write_text(json.dumps(state))
    before = {x.name: x.read_bytes() for x in ck.iterdir()}
    r = fastmm("search", "3", "4", "3", "--rank", "29", "--method", "flip", "--time-limit", "2",
               "--resume", str(ck), "--no-sympy", "-o", str(tmp_path / "o.json"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"error: --resume {ck}: its best.json is a verified ⟨3,3,3⟩ scheme, not one "
                                "of the shape checkpoint.json names; the directory was left as it was")
    assert {x.name: x.read_bytes() for x in ck.iterdir()} == before
