"""`fastmm.search(..., resume=DIR)`: the library checkpoints a search as `--resume DIR` does."""

import json
import re
from pathlib import Path

import pytest

import fastmm
from fastmm.errors import InputError, SearchFailed
from fastmm.io import load_scheme
from fastmm.verify import verify

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Path(fastmm.__file__).resolve().parent / "data" / "catalog"


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


@pytest.mark.parametrize("own", ["checkpoint_dir", "starts"])
def test_the_checkpoints_own_options_are_refused(tmp_path, own):
    """They are resume='s to set (checked and locked); given by hand they skipped every check."""
    ck = tmp_path / "ck"
    fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=ck)
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    value = str(ck) if own == "checkpoint_dir" else []
    with pytest.raises(InputError, match=f"options: {own} is set by resume=DIR"):
        fastmm.search((3, 3, 3), 22, method="flip", time_limit=2, sympy=False, options={own: value})
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before


def test_a_bad_backend_is_refused_before_the_checkpoint_changes(tmp_path):
    ck = tmp_path / "ck"
    fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=ck)
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    with pytest.raises(InputError, match="unknown walk backend 'bogus'"):
        fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=ck, options={"backend": "bogus"})
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    with pytest.raises(InputError):
        fastmm.search((2, 2, 2), 7, method="flip", resume=tmp_path / "new", options={"backend": "bogus"})
    assert not (tmp_path / "new").exists()


def test_a_callback_that_raises_leaves_a_stopped_checkpoint_that_resumes(tmp_path):
    ck = tmp_path / "ck"

    def boom(scheme):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fastmm.search_distinct((3, 3, 3), 23, method="flip", time_limit=30, sympy=False, resume=ck,
                               on_found=boom)
    state = _state(ck)
    assert state["status"] == "stopped" and state["best_rank"] == 23
    # the saved 23 is the answer (no seed runs), and the search is marked found
    got = fastmm.search((3, 3, 3), 23, method="flip", time_limit=30, sympy=False, resume=ck)
    assert got.rank == 23 and _state(ck)["status"] == "found" and _state(ck)["seeds_used"] == [0]
    assert got.provenance["resumed_from"] == str(ck / "best.json")


def test_directory_names_the_system_refuses_are_input_errors(tmp_path):
    import os

    class BytesPath(os.PathLike):
        def __fspath__(self):
            return os.fsencode(str(tmp_path / "b"))

    for name in (str(tmp_path / "a\0b"), str(tmp_path / ("a" * 300)), BytesPath()):
        with pytest.raises(InputError, match="--resume"):
            fastmm.search((2, 2, 2), 7, method="flip", resume=name)
    assert list(tmp_path.iterdir()) == []


def test_a_new_directory_is_made_but_never_its_missing_parents(tmp_path):
    # resume=/tmp/nonexist/a/b/c made /tmp/nonexist/a/b without a word: a typo became folders
    ck = tmp_path / "nonexist" / "a" / "b" / "c"
    with pytest.raises(InputError) as err:
        fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=ck)
    assert str(err.value) == f"--resume {ck}: directory {ck.parent} does not exist"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("keep")
    with pytest.raises(InputError) as err:
        fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=tmp_path / "file" / "c")
    assert str(err.value) == f"--resume {tmp_path / 'file' / 'c'}: {tmp_path / 'file'} is not a directory"
    assert fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=tmp_path / "ck").rank == 7
    assert (tmp_path / "ck" / "checkpoint.json").is_file()  # the directory itself is made


def test_the_command_line_refuses_a_missing_parent_in_one_line(tmp_path):
    import subprocess
    import sys

    ck = tmp_path / "nonexist" / "c"
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7", "--resume",
                        str(ck), "-o", "s.json"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: --resume {ck}: directory {ck.parent} does not exist\n"
    assert list(tmp_path.iterdir()) == []


def test_a_walk_count_past_any_float_is_refused_not_an_internal_error():
    with pytest.raises(InputError, match="flip option rescue must be a number in"):
        fastmm.search((2, 2, 2), 7, method="flip", options={"rescue": 10**400})
    with pytest.raises(InputError, match="flip option restart_steps must be a whole number"):
        fastmm.search((2, 2, 2), 7, method="flip", options={"restart_steps": 10**400})


def test_a_checkpoint_that_could_not_be_written_is_a_warning_not_a_lost_scheme(tmp_path, monkeypatch):
    from tests.search.test_resume import _full_disk

    _full_disk(monkeypatch, after=2)  # the seeds are reserved, then the folder is full
    with pytest.warns(RuntimeWarning, match="was not fully updated: cannot write .*no space left") as seen:
        got = fastmm.search((2, 2, 3), 11, method="flip", sympy=False, resume=tmp_path / "ck")
    assert got.rank == 11 and verify(got, use_sympy=False).ok
    assert seen[0].filename == __file__  # the caller's line (QA-128: it named fastmm/_callable.py)


# helper-89: requests that a method refuses only once it starts (after the seeds are reserved) left
# a new checkpoint behind, or added an unused seed to an existing one; exit 2 now leaves DIR as it was
REFUSED_LATE = [
    ((3, 3, 3), 22, {"symmetry": "c3j"}),  # no cube grouping gives rank ≡ 22 (mod 6)
    ((4, 4, 4), 49, {"symmetry": "c3j", "options": {"cubes": [[0], [0]]}}),
]


@pytest.mark.parametrize("shape, rank, kw", REFUSED_LATE)
def test_a_request_refused_once_it_started_leaves_no_new_directory(tmp_path, shape, rank, kw):
    for ck in (tmp_path / "new", tmp_path / "empty"):
        if ck.name == "empty":
            ck.mkdir()
        with pytest.raises(InputError):
            fastmm.search(shape, rank, sympy=False, time_limit=5, resume=ck, **kw)
        assert (ck.is_dir(), list(ck.iterdir()) if ck.is_dir() else []) == (ck.name == "empty", [])


def test_a_request_refused_once_it_started_leaves_an_existing_checkpoint_byte_for_byte(tmp_path):
    ck = tmp_path / "ck"
    with pytest.raises(SearchFailed):
        fastmm.search((3, 3, 3), 22, ring="Z2", method="pool", time_limit=2, sympy=False, resume=ck)
    before = {x.name: x.read_bytes() for x in ck.iterdir()}
    with pytest.raises(InputError, match="ternary pools search over ZT or Z"):
        fastmm.search((3, 3, 3), 22, ring="Z2", method="pool", options={"walk": "ternary"}, sympy=False,
                      resume=ck)
    assert {x.name: x.read_bytes() for x in ck.iterdir()} == before


def test_a_full_disk_at_the_first_write_leaves_no_directory(tmp_path, monkeypatch):
    from tests.search.test_resume import _full_disk

    _full_disk(monkeypatch, after=0)
    with pytest.raises(InputError, match="no space left"):
        fastmm.search((2, 2, 2), 7, method="flip", sympy=False, resume=tmp_path / "ck")
    assert list(tmp_path.iterdir()) == []


# QA-130: a resumed flip search whose directory already held a scheme at the (new) target walked on
# for another one and, failing, said "best rank reached 35" with a verified 29 in best.json
def test_a_resumed_search_whose_directory_already_answers_it_returns_that_scheme(tmp_path):
    import hashlib
    import shutil
    import subprocess
    import sys

    ck = tmp_path / "ck"
    with pytest.raises(SearchFailed):  # 28 is below the best known 29: not found in 0.5 s
        fastmm.search((3, 3, 4), 28, method="flip", time_limit=0.5, sympy=False, resume=ck)
    shutil.copy(CATALOG / "3x3x4-rank29-ZT.json", ck / "best.json")
    # the files but checkpoint.json (marked found) and a GF(2) low no longer below the best (pruned)
    kept = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in ck.iterdir()
            if p.name != "checkpoint.json" and not p.name.startswith("gf2-")}
    got = fastmm.search((3, 3, 4), 29, method="flip", time_limit=5, sympy=False, resume=ck)
    assert got.rank == 29 and got.provenance["resumed_from"] == str(ck / "best.json")
    assert _state(ck)["status"] == "found" and _state(ck)["seeds_used"] == [0]  # no walk ran
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in ck.iterdir()
            if p.name != "checkpoint.json" and not p.name.startswith("gf2-")} == kept
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "3", "3", "4", "--rank", "30", "--method",
                        "flip", "--resume", str(ck), "--no-sympy", "-o", str(tmp_path / "s.json")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"⟨3,3,4;29⟩ was found already: saved in {ck / 'best.json'}" in r.stdout
    assert load_scheme(tmp_path / "s.json").rank == 29
    # --distinct counts it first and walks on for others; failing, it says how many it has
    with pytest.raises(SearchFailed, match=r"^found 1 of 2 inequivalent ⟨3,3,4;29⟩ schemes") as err:
        fastmm.search_distinct((3, 3, 4), 29, 2, method="flip", time_limit=0.3, sympy=False, resume=ck)
    assert err.value.found[0].provenance["resumed_from"] == str(ck / "best.json")
    assert "best rank reached" not in str(err.value)


def test_a_resume_value_is_checked_at_the_naive_rank_too(tmp_path):
    """QA-130: at rank ≥ n·m·p the library answered with the naive scheme before it looked at resume."""
    other = tmp_path / "other"
    fastmm.search((2, 2, 3), 11, method="flip", time_limit=30, sympy=False, resume=other)
    for bad, message in ((5, "resume is a directory name, got 5"),
                         (other, "the checkpoint is for shape [2, 2, 3], not [3, 3, 3]")):
        with pytest.raises(InputError, match=re.escape(message)):
            fastmm.search((3, 3, 3), 27, sympy=False, resume=bad)
    assert fastmm.search((3, 3, 3), 27, sympy=False, resume=tmp_path / "new").rank == 27
    assert not (tmp_path / "new").exists()  # nothing to keep: nothing written


def test_a_best_json_valid_modulo_2_only_is_not_a_zt_searchs_best(tmp_path):
    """QA-130: a Z2 scheme put in best.json by hand counted as the best of a ZT search: a verified
    ZT scheme above its rank was refused, and checkpoint.json claimed the Z2 rank."""
    from fastmm.reference import laderman
    from fastmm.search.checkpoint import offer_best

    ck = tmp_path / "ck"
    fastmm.search((3, 3, 3), 23, method="flip", time_limit=60, sympy=False, resume=ck)
    no_lift = DATA / "3x3x3-rank23-Z2-no-lift.json"
    assert load_scheme(no_lift).ring == "Z2"
    (ck / "best.json").write_bytes(no_lift.read_bytes())
    assert offer_best(ck, fastmm.naive_scheme(3, 3, 3), check=True)  # valid over ZT: it replaces the Z2 23
    assert load_scheme(ck / "best.json").ring == "ZT" and _state(ck)["best_rank"] == 27
    assert offer_best(ck, laderman(), check=True) and _state(ck)["best_rank"] == 23


def test_a_resumed_t2_search_answers_with_its_own_lifted_result(tmp_path):
    """QA-133: a t2 walk's result lifted by Hensel and frames need not split into t2 orbits; it
    is still that search's answer when resumed (it was searched for again)."""
    ck = tmp_path / "ck"
    first = fastmm.search((2, 3, 2), 11, symmetry="t2", seed=0, time_limit=60, sympy=False, resume=ck)
    again = fastmm.search((2, 3, 2), 11, symmetry="t2", time_limit=0.5, sympy=False, resume=ck)
    assert again.provenance["resumed_from"] == str(ck / "best.json")
    assert again.rank == first.rank and _state(ck)["seeds_used"] == [0]


def test_a_saved_answer_without_provenance_is_named_without_gaps(tmp_path):
    import subprocess
    import sys

    ck = tmp_path / "ck"
    fastmm.search((2, 2, 3), 11, method="flip", time_limit=60, sympy=False, resume=ck)
    data = json.loads((ck / "best.json").read_text())
    del data["provenance"]
    (ck / "best.json").write_text(json.dumps(data))
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "3", "--rank", "11", "--method",
                        "flip", "--resume", str(ck), "--no-sympy", "-o", str(tmp_path / "s.json")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"⟨2,2,3;11⟩ was found already: saved in {ck / 'best.json'}\n" in r.stdout  # no "(by None ...)"
