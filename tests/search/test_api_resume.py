"""`fastmm.search(..., resume=DIR)`: the library checkpoints a search as `--resume DIR` does."""

import json

import pytest

import fastmm
from fastmm.errors import InputError, SearchFailed
from fastmm.io import load_scheme
from fastmm.verify import verify


def _state(ck):
    return json.loads((ck / "checkpoint.json").read_text())


def test_a_failed_search_is_kept_and_the_next_call_continues_with_fresh_seeds(tmp_path):
    ck = tmp_path / "ck"
    with pytest.raises(SearchFailed) as first:
        fastmm.search((3, 3, 3), 22, method="flip", time_limit=1, sympy=False, resume=ck)
    state = _state(ck)
    assert state["seeds_used"] == [0] and state["status"] == "stopped"
    kept = load_scheme(ck / "best.json")
    assert first.value.best is not None and kept.rank == first.value.best.rank
    assert verify(kept, use_sympy=False).ok and kept.ring == "ZT"

    with pytest.raises(SearchFailed) as again:
        fastmm.search((3, 3, 3), 22, method="flip", time_limit=0.5, sympy=False, resume=str(ck))
    assert _state(ck)["seeds_used"] == [0, 1] and again.value.best.provenance["seed"] == 1
    # the walk went on from the saved scheme (not the naive one), so it is no worse
    assert again.value.best.rank <= kept.rank
    assert "saved in the --resume directory" in again.value.best.provenance["start"]


def test_a_found_scheme_is_in_best_json_and_the_callers_callbacks_still_run(tmp_path):
    ck = tmp_path / "ck"
    seeds, found = [], []

    class Progress:
        def __call__(self, worker, progress):
            pass

        def seeds_starting(self, first, count):
            seeds.append((first, count))

    got = fastmm.search_distinct((2, 2, 3), 11, 2, method="flip", seed=5, sympy=False, resume=ck,
                                 on_progress=Progress(), on_found=found.append)
    assert [s.rank for s in got] == [11, 11] and found == got
    assert seeds == [(5, 1), (6, 1)]  # each run's seeds, told to the caller as to the checkpoint
    state = _state(ck)
    assert state["status"] == "found" and state["seeds_used"][0] == 5 and state["best_rank"] == 11
    assert load_scheme(ck / "best.json").rank == 11


def test_the_command_line_continues_what_the_library_saved(tmp_path):
    import subprocess
    import sys

    ck = tmp_path / "ck"
    with pytest.raises(SearchFailed):
        fastmm.search((3, 3, 3), 22, method="flip", time_limit=0.5, sympy=False, resume=ck)
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "3", "3", "3", "--rank", "22", "--method",
                        "flip", "--time-limit", "0.5", "--resume", str(ck), "--no-sympy"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 1 and r.stderr.startswith(f"resuming {ck}: 1 seed used, best rank ")
    assert _state(ck)["seeds_used"] == [0, 1]


@pytest.mark.parametrize("resume, method, says", [
    (5, "flip", "resume is a directory name, got 5"),
    ("", "flip", "the directory name is empty"),
    (" ", "pool", "the directory name is empty"),
    ("ck", "als", "--resume works with the walk methods (flip, pool, ternary, symmetric), not --method als"),
])
def test_bad_resume_arguments_are_refused_before_anything_is_written(tmp_path, monkeypatch, resume, method,
                                                                     says):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        fastmm.search((2, 2, 4), 14, method=method, resume=resume)
    assert says in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_of_another_shape_is_refused_and_left_as_it_was(tmp_path):
    ck = tmp_path / "ck"
    fastmm.search((2, 2, 3), 11, method="flip", sympy=False, resume=ck)
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    with pytest.raises(InputError):
        fastmm.search((2, 2, 4), 14, method="flip", sympy=False, resume=ck)
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
