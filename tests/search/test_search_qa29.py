"""QA-29: search edges a hostile user found (Z2 symmetric walks, --distinct, --resume, options)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from fastmm import api
from fastmm.equivalence import equivalent
from fastmm.errors import InputError
from fastmm.io import dumps
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=180)


def test_a_failed_z2_symmetric_walk_saves_and_checkpoints_its_best(tmp_path):
    r = run("search", "5", "5", "5", "--rank", "93", "--symmetry", "c3", "--ring", "Z2", "--time-limit", "4",
            "--resume", "ck", "-q", "--no-sympy", "-o", "out.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "best rank reached" in r.stderr and "saved to" in r.stderr
    state = json.loads((tmp_path / "ck" / "checkpoint.json").read_text())
    assert isinstance(state["best_rank"], int) and state["best_rank"] < 125
    best = api.load(tmp_path / "ck" / "best.json")
    assert best.ring == "Z2" and best.rank == state["best_rank"] and bool(api.verify(best, sympy=False))


def test_distinct_pools_walk_away_from_a_start_that_already_has_the_rank(tmp_path):
    found = api.search_distinct((2, 2, 4), 14, 3, time_limit=60, sympy=False)
    assert len(found) == 3
    assert all(equivalent(a, b).status != "equivalent" for i, a in enumerate(found) for b in found[i + 1:])


def test_distinct_from_a_start_at_the_rank_says_why_it_stops(tmp_path):
    (tmp_path / "l.json").write_text(dumps(laderman()))
    t0 = time.monotonic()
    r = run("search", "3", "3", "3", "--rank", "23", "--start", "l.json", "--method", "flip",
            "--distinct", "2", "--time-limit", "60", "-q", "--no-sympy", "-o", "out.json", cwd=tmp_path)
    assert r.returncode == 1 and time.monotonic() - t0 < 50
    assert "found 1 of 2" in r.stderr and "every attempt returns its start" in r.stderr
    assert (tmp_path / "out.json").exists()


def test_distinct_says_when_the_seeds_run_out():
    with pytest.raises(api.SearchFailed, match="no fresh seed left below 2\\^62"):
        api.search_distinct((2, 2, 3), 11, 3, seed=2**62 - 1, time_limit=60, sympy=False)


def test_the_equivalence_check_stops_at_a_deadline():
    # two ⟨4,4,4;49⟩ six-fold symmetric schemes: their comparison ran 20 s past a 5 s --distinct
    a = api.search((4, 4, 4), 49, symmetry="c3j", seed=0, sympy=False, time_limit=60)
    b = api.search((4, 4, 4), 49, symmetry="c3j", seed=1, sympy=False, time_limit=60)
    t0 = time.monotonic()
    verdict = equivalent(a, b, deadline=t0 + 0.5)
    assert time.monotonic() - t0 < 5
    assert verdict.status == "unknown" and verdict.reason == "search stopped at its deadline"


@pytest.mark.parametrize("flag", ["--resume", "--save-fitted"])
def test_out_naming_the_folder_the_search_makes_is_refused_before_any_work(tmp_path, flag):
    method = ["--method", "als", "--ring", "Q"] if flag == "--save-fitted" else []
    r = run("search", "2", "2", "2", "--rank", "7", *method, flag, "NEW", "-o", "NEW", "-q", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"that is the {flag} folder" in r.stderr
    assert not (tmp_path / "NEW").exists()


def test_an_option_group_that_contradicts_the_symmetry_is_refused():
    with pytest.raises(InputError, match="contradicts"):
        api.SearchRequest((3, 3, 3), 23, symmetry="c3", options={"group": "c3j"})
    with pytest.raises(InputError, match="option group must be one of"):
        api.SearchRequest((3, 3, 3), 23, method="symmetric", options={"group": "c6"})
    req = api.SearchRequest((3, 3, 3), 23, method="symmetric")
    assert req.symmetry == "c3" and req.options["group"] == "c3"
    req = api.SearchRequest((4, 4, 4), 49, method="symmetric", options={"group": "c3j"})
    assert req.symmetry == "c3j"


def test_method_symmetric_and_symmetry_c3_continue_one_checkpoint(tmp_path):
    r = run("search", "4", "4", "4", "--rank", "46", "--method", "symmetric", "--resume", "S",
            "--time-limit", "2", "-q", "--no-sympy", "-o", "a.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    r = run("search", "4", "4", "4", "--rank", "46", "--symmetry", "c3", "--resume", "S", "--time-limit", "2",
            "-q", "--no-sympy", "-o", "b.json", cwd=tmp_path)
    assert r.returncode == 1 and "continues" in r.stderr, r.stderr
    state = tmp_path / "S" / "checkpoint.json"
    old = json.loads(state.read_text())
    old["symmetry"] = None  # as written before --method symmetric recorded its group
    state.write_text(json.dumps(old))
    r = run("search", "4", "4", "4", "--rank", "46", "--symmetry", "c3", "--resume", "S", "--time-limit", "2",
            "-q", "--no-sympy", "-o", "c.json", cwd=tmp_path)
    assert r.returncode == 1 and "checkpoint is for" not in r.stderr, r.stderr


def test_a_checkpoint_whose_next_seed_was_used_is_refused_and_left_as_it_was(tmp_path):
    r = run("search", "3", "3", "3", "--rank", "19", "--method", "flip", "--workers", "1", "--resume", "ck",
            "--time-limit", "1", "-q", "--no-sympy", "-o", "a.json", cwd=tmp_path)
    r = run("search", "3", "3", "3", "--rank", "19", "--method", "flip", "--resume", "ck",
            "--time-limit", "1", "-q", "--no-sympy", "-o", "a.json", cwd=tmp_path)
    state = tmp_path / "ck" / "checkpoint.json"
    edited = json.loads(state.read_text())
    assert edited["seeds_used"] == [0, 1]
    edited["next_seed"] = 1
    state.write_text(json.dumps(edited))
    before = state.read_text()
    r = run("search", "3", "3", "3", "--rank", "19", "--method", "flip", "--resume", "ck",
            "--time-limit", "1", "-q", "--no-sympy", "-o", "a.json", cwd=tmp_path)
    assert r.returncode == 2 and "malformed seeds" in r.stderr and "run twice" in r.stderr
    assert state.read_text() == before


def _mod2_only_334() -> Scheme:
    """⟨3,3,4;34⟩ valid modulo 2 only: Strassen with its signs dropped, summed up to the shape."""
    s = strassen()
    z2 = Scheme(2, 2, 2, abs(s.Wa), abs(s.Wb), abs(s.Wc), ring="Z2")
    x = api.combine("sum", z2, naive_scheme(2, 1, 2), axis="m", sympy=False)  # ⟨2,3,2;11⟩
    y = api.combine("sum", x, naive_scheme(1, 3, 2), axis="n", sympy=False)  # ⟨3,3,2;17⟩
    return api.combine("sum", y, y, axis="p", sympy=False)


def test_resuming_with_a_start_does_not_claim_the_walks_go_on_from_the_saved_gf2_scheme(tmp_path):
    from fastmm.search.checkpoint import open_for_search, save_gf2_low

    low = _mod2_only_334()
    assert low.ring == "Z2" and low.shape == (3, 3, 4) and low.rank == 34
    req = api.SearchRequest((3, 3, 4), 29, method="flip")
    ck = open_for_search(tmp_path / "ck", req)
    ck.reserve(0, 1)
    assert save_gf2_low(tmp_path / "ck", 0, [low])
    ck.close()
    ck = open_for_search(tmp_path / "ck", req)
    try:
        assert "rank 34 valid modulo 2 only" in ck.describe()
        assert "the walks go on from it" in ck.describe()
        assert "the walks go on from it" not in ck.describe(start_given=True)
    finally:
        ck.close()


def test_an_old_symmetric_checkpoint_without_its_group_resumes_with_either_group(tmp_path):
    r = run("search", "4", "4", "4", "--rank", "46", "--method", "symmetric", "--option", "group=c3j",
            "--resume", "S", "--time-limit", "2", "-q", "--no-sympy", "-o", "a.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    state = tmp_path / "S" / "checkpoint.json"
    old = json.loads(state.read_text())
    assert old["symmetry"] == "c3j"
    old["symmetry"] = None  # as fastmm wrote it before the group was recorded
    state.write_text(json.dumps(old))
    r = run("search", "4", "4", "4", "--rank", "46", "--method", "symmetric", "--option", "group=c3j",
            "--resume", "S", "--time-limit", "2", "-q", "--no-sympy", "-o", "b.json", cwd=tmp_path)
    assert r.returncode == 1 and "continues" in r.stderr, r.stderr


def test_distinct_pools_under_resume_walk_away_from_the_saved_scheme(tmp_path):
    args = ("search", "2", "2", "3", "--rank", "11", "--method", "pool", "--resume", "R", "-q", "--no-sympy")
    assert run(*args, "-o", "a.json", cwd=tmp_path).returncode == 0
    r = run(*args, "--distinct", "3", "--time-limit", "60", "-o", "b.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    found = [api.load(tmp_path / name) for name in ("b.json", "b-2.json", "b-3.json")]
    assert all(equivalent(a, b).status != "equivalent" for i, a in enumerate(found) for b in found[i + 1:])


def test_resume_naming_a_file_is_reported_as_such_even_when_out_names_it_too(tmp_path):
    (tmp_path / "X.json").write_text("{}")
    r = run("search", "2", "2", "3", "--rank", "11", "--resume", "X.json", "-o", "X.json", cwd=tmp_path)
    assert r.returncode == 2 and "--resume X.json: not a directory" in r.stderr
    assert (tmp_path / "X.json").read_text() == "{}"


def test_equivalent_checks_its_limits():
    a = api.catalog_scheme((2, 2, 3))
    for kwargs in ({"deadline": "soon"}, {"deadline": float("nan")}, {"max_nodes": "x"}, {"max_nodes": 0}):
        with pytest.raises(InputError, match="equivalent: "):
            equivalent(a, a, **kwargs)


def test_a_deadline_already_past_stops_a_big_comparison_at_once():
    import numpy as np

    from fastmm.equivalence import random_transform

    a = api.catalog_scheme((6, 6, 6))
    b = random_transform(a, np.random.default_rng(0))
    t0 = time.monotonic()
    verdict = equivalent(a, b, deadline=t0 - 1)
    # at once: a whole comparison runs for minutes; 10 s leaves room for a loaded machine
    assert time.monotonic() - t0 < 10 and verdict.status == "unknown"


def test_two_workers_report_a_bad_catalogue_entry_once(tmp_path):
    import os
    import shutil
    from pathlib import Path

    import fastmm

    folder = tmp_path / "cat"
    folder.mkdir()
    shutil.copy(Path(fastmm.__file__).parent / "data" / "catalog" / "2x2x2-rank7-ZT.json", folder)
    (folder / "2x2x3-rank11-ZT.json").write_text("garbage")
    command = [sys.executable, "-m", "fastmm", "search", "2", "2", "4", "--rank", "14", "--workers", "2",
               "--method", "pool", "-q", "--no-sympy", "-o", "w.json"]
    r = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=180,
                       env={**os.environ, "FASTMM_CATALOG": str(folder)})
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("warning: catalogue entry skipped") == 1, r.stderr
