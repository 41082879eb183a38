"""Search QA (session 27): worker seeds stay seeds, a partial --distinct reports what it found,
GF(2) files no longer below the best are pruned, a read-only checkpoint is one line."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastmm
from fastmm import api
from fastmm.catalog import load_catalog_scheme
from fastmm.errors import InputError
from fastmm.io import save_scheme
from fastmm.reference import laderman
from fastmm.scheme import naive_scheme
from fastmm.search.base import SearchOutcome
from fastmm.search.checkpoint import Checkpoint
from fastmm.search.runner import RunSummary
from fastmm.verify import verify

DATA = Path(__file__).resolve().parents[1] / "data"
NO_LIFT = DATA / "3x3x3-rank23-Z2-no-lift.json"
TOP = 2**62


def fastmm_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_worker_seeds_past_the_seed_range_are_refused_before_the_search():
    with pytest.raises(InputError, match=r"the seeds of 2 workers, .* must be below 2\^62"):
        fastmm.search((3, 3, 4), 28, method="flip", seed=TOP - 1, workers=2, time_limit=5)


def test_a_checkpoint_whose_seeds_are_used_up_says_so_instead_of_promising_a_resume(tmp_path):
    r = fastmm_cli("search", "3", "3", "4", "--rank", "28", "--method", "flip", "--time-limit", "1",
                   "--seed", str(TOP - 2), "--workers", "2", "--resume", "ck", "-q", "--no-sympy",
                   cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "has no fresh seed left" in r.stderr and "continues" not in r.stderr
    assert json.loads((tmp_path / "ck" / "checkpoint.json").read_text())["seeds_used"] == [TOP - 2, TOP - 1]


def test_a_partial_distinct_reports_nothing_above_what_it_found():
    req = api.SearchRequest((3, 3, 3), 23, method="flip", time_limit=5)
    above = fastmm.combine("sum", load_catalog_scheme((2, 3, 3), "ZT", []), naive_scheme(1, 3, 3),
                           axis="n", sympy=False)
    assert above.rank == 24
    summary = RunSummary(SearchOutcome(None, best=above, stopped="time"), [])
    err = api._failure(req, summary, [laderman()], False, "", count=3)
    assert err.best is None and err.mod2 is None
    assert str(err).startswith("found 1 of 3 inequivalent ⟨3,3,3;23⟩ schemes within 5 s")
    assert "best rank reached" not in str(err)


def _checkpoint(tmp_path, best):
    ck = tmp_path / "ck"
    r = fastmm_cli("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--time-limit", "0.5",
                   "--resume", str(ck), "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    save_scheme(best.with_meta(verified=verify(best, use_sympy=False).record()), ck / "best.json")
    state = json.loads((ck / "checkpoint.json").read_text())
    state["best_rank"] = best.rank
    (ck / "checkpoint.json").write_text(json.dumps(state))
    shutil.copy(NO_LIFT, ck / "gf2-seed5.json")
    return ck


@pytest.mark.parametrize("best, kept", [(laderman(), False), (naive_scheme(3, 3, 3), True)])
def test_gf2_files_no_longer_below_the_best_are_pruned_when_the_search_ends(tmp_path, best, kept):
    ck = _checkpoint(tmp_path, best)
    checkpoint = Checkpoint.open(ck, api.SearchRequest((3, 3, 3), 22, method="flip"))
    try:
        checkpoint.finish("stopped")
    finally:
        checkpoint.close()
    assert (ck / "gf2-seed5.json").exists() == kept


def test_a_checkpoint_directory_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    ck = _checkpoint(tmp_path, naive_scheme(3, 3, 3))
    before = sorted((p.name, p.read_bytes()) for p in ck.iterdir())
    from fastmm.search import checkpoint as module

    monkeypatch.setattr(module.os, "access", lambda path, mode: False)  # as on a read-only mount
    with pytest.raises(InputError, match="the directory cannot be written"):
        Checkpoint.open(ck, api.SearchRequest((3, 3, 3), 22, method="flip"))
    assert sorted((p.name, p.read_bytes()) for p in ck.iterdir()) == before


def test_the_closing_line_counts_the_gf2_files_of_other_seeds(tmp_path):
    ck = _checkpoint(tmp_path, naive_scheme(3, 3, 3))
    shutil.copy(NO_LIFT, ck / "gf2-seed6.json")
    for pool in ck.glob("pool-seed*.json"):  # nothing valid below 27: the GF(2) files stay below the best
        pool.unlink()
    # too short a walk to find a valid ⟨3,3,3;23⟩, which would make the GF(2) files redundant
    r = fastmm_cli("search", "3", "3", "3", "--rank", "22", "--method", "flip", "--time-limit", "0.01",
                   "--resume", str(ck), "-q", "--no-sympy", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    # seed 6's file, and the new walk's own when it reached a GF(2) low in its 0.01 s (timing)
    others = len(list(ck.glob("gf2-seed*.json"))) - 1
    assert others >= 1 and (ck / "gf2-seed6.json").exists()
    assert f"gf2-seed5.json, and {others} more of other seeds)" in r.stderr, r.stderr
