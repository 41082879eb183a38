"""The C GF(2) walk: step for step the walk of flip_py, a valid scheme at the end, and never
required (no compiler, a failed compile, a broken cached library: another backend walks)."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys

import pytest

from fastmm.errors import InputError
from fastmm.io import load_scheme
from fastmm.scheme import naive_scheme
from fastmm.search import flip_c
from fastmm.search.base import SearchTask
from fastmm.search.flip import Walker, choose_backend, numba_available, reduce_terms, run
from fastmm.search.terms import gf2_tensor_ok, to_terms
from fastmm.verify import verify
from tests.search.conftest import c_walk_or_skip


@pytest.fixture(scope="module")
def c_kernel():
    return c_walk_or_skip(flip_c.load, "flip walk")


def no_compiler(monkeypatch):
    monkeypatch.setattr(flip_c, "find_compiler", lambda: None)


def task(n, m, p, rank, ring="ZT", **options):
    return SearchTask(n, m, p, rank, ring, seed=0, time_limit=30, options=options)


def in_step(py: Walker, c: Walker) -> bool:
    return (py.terms() == c.terms() and list(py.st) == [int(x) for x in c.st]
            and py.rng[0] == int(c.rng[0]))


# -- the same walk -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, seed", [((2, 2, 2), 11), ((3, 3, 3), 4), ((2, 3, 4), 7),
                                         ((3, 4, 5), 1)])
def test_c_and_python_walks_agree_step_by_step(c_kernel, shape, seed):
    start = to_terms(naive_scheme(*shape))
    r0 = len(start[0])
    py = Walker(start, seed=seed, backend="python", plus_limit=r0)
    c = Walker(start, seed=seed, backend="c", plus_limit=r0)
    for _ in range(400):
        assert py.walk(1, 0, 25, r0) == c.walk(1, 0, 25, r0)
        assert in_step(py, c)
    # and over long runs in one call (plus transitions and reductions: the next test)
    assert py.walk(20_000, 0, 300, r0) == c.walk(20_000, 0, 300, r0)
    assert in_step(py, c)


def test_walks_with_plus_transitions_and_reductions_agree_step_by_step(c_kernel):
    # a tiny plateau below the plus limit: plus transitions, the reductions after them and the
    # padded scans (slots past the rank hold -1) all happen many times
    shape = (3, 3, 3)
    w = Walker(to_terms(naive_scheme(*shape)), seed=2, backend="c", plus_limit=27)
    w.walk(10**7, 24, 20_000, 27)
    start = w.terms()
    py = Walker(start, seed=9, backend="python", plus_limit=29)
    c = Walker(start, seed=9, backend="c", plus_limit=29)
    ranks = []
    for _ in range(3000):
        assert py.walk(1, 0, 6, 29) == c.walk(1, 0, 6, 29)
        assert in_step(py, c)
        ranks.append(py.rank)
    for _ in range(200):  # longer: cascades of reductions are rare
        assert py.walk(200, 0, 6, 29) == c.walk(200, 0, 6, 29)
        assert in_step(py, c)
        ranks.append(py.rank)
    assert max(ranks) == 29 and min(ranks) <= 24
    assert sum(b < a for a, b in zip(ranks, ranks[1:], strict=False)) > 50  # many reductions
    assert gf2_tensor_ok(shape, c.terms())


def test_c_walk_from_the_naive_scheme_reaches_a_valid_scheme(c_kernel):
    shape = (3, 3, 3)
    w = Walker(to_terms(naive_scheme(*shape)), seed=5, backend="c", plus_limit=27)
    done = w.walk(10**8, 23, 20_000, 27)
    assert 0 < done < 10**8 and w.rank == 23
    assert gf2_tensor_ok(shape, w.terms())
    assert reduce_terms(w.terms()) == w.terms()  # nothing left to reduce


def test_c_is_the_default_backend_up_to_c_max_volume(c_kernel):
    for shape in [(1, 2, 2), (2, 2, 2), (3, 3, 3), (3, 4, 5)]:
        assert choose_backend(task(*shape, 1), flip_c.load) == "c"
    # past it numba, a little faster there, if installed
    assert choose_backend(task(4, 4, 4, 49), flip_c.load) == ("numba" if numba_available() else "c")
    assert choose_backend(task(8, 8, 8, 1), flip_c.load) == "python"  # factors past 63 bits
    # without a C loader (a walk with no C version here) the choice is never c
    assert choose_backend(task(3, 3, 3, 23)) != "c"
    with pytest.raises(InputError, match="this walk has no c backend"):
        choose_backend(task(3, 3, 3, 23, backend="c"))


# -- never required ------------------------------------------------------------------------------

def test_without_a_compiler_the_search_walks_with_another_backend(fresh, monkeypatch):
    no_compiler(monkeypatch)
    assert flip_c.load() is None
    assert choose_backend(task(2, 2, 2, 7), flip_c.load) in ("numba", "python")
    out = run(task(2, 2, 2, 7), lambda progress: None, lambda: False)
    assert out.stopped == "found" and out.scheme.provenance["backend"] in ("numba", "python")
    assert verify(out.scheme, use_sympy=False).ok
    assert list(fresh.iterdir()) == []
    with pytest.raises(InputError, match="needs a C compiler"):
        choose_backend(task(2, 2, 2, 7, backend="c"), flip_c.load)
    with pytest.raises(InputError, match="not available"):
        Walker(to_terms(naive_scheme(2, 2, 2)), seed=0, backend="c", plus_limit=8)


def test_a_failing_compiler_falls_back_with_one_debug_note_and_leaves_no_file(fresh, monkeypatch,
                                                                             caplog):
    # a "compiler" that fails on every source
    monkeypatch.setenv("CC", f"{shlex.quote(sys.executable)} -c 'raise SystemExit(1)'")
    assert flip_c.find_compiler() is not None
    with caplog.at_level(logging.DEBUG):
        assert flip_c.load() is None
        assert choose_backend(task(3, 3, 3, 23), flip_c.load) in ("numba", "python")
    notes = [r for r in caplog.records if r.name == flip_c.__name__]
    assert len(notes) == 1 and notes[0].levelno == logging.DEBUG and notes[0].exc_info is None
    assert list(fresh.iterdir()) == []


def test_an_unusable_cache_directory_falls_back(fresh, monkeypatch):
    (fresh / "file").write_text("")
    monkeypatch.setenv("FASTMM_CACHE", str(fresh / "file" / "cache"))  # under a regular file
    assert flip_c.load() is None
    out = run(task(2, 2, 2, 7), lambda progress: None, lambda: False)
    assert out.stopped == "found" and out.scheme.provenance["backend"] != "c"


def test_a_missing_cc_falls_back(fresh, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-fastmm")
    assert flip_c.find_compiler() is None
    assert flip_c.load() is None


def test_a_corrupt_cached_library_is_ignored_without_a_compiler(fresh, monkeypatch):
    name = f"{flip_c.PREFIX}{flip_c._key(flip_c.source_text(), *flip_c.CFLAGS)}-0000.so"
    (fresh / name).write_bytes(b"\x7fELF not a library" * 50)
    no_compiler(monkeypatch)
    assert flip_c.load() is None
    assert choose_backend(task(2, 2, 2, 7), flip_c.load) in ("numba", "python")


def test_a_corrupt_cached_library_is_rebuilt(c_kernel, fresh):
    path = flip_c.library_path(flip_c.source_text(), flip_c.find_compiler())
    path.write_bytes(os.urandom(4096))
    kernel = flip_c.load()
    assert kernel is not None and kernel.path == path
    assert path.read_bytes()[:4] == b"\x7fELF" or sys.platform == "darwin"
    assert [p.name for p in fresh.iterdir()] == [path.name]  # no temporary file left
    py = Walker(to_terms(naive_scheme(2, 2, 3)), seed=1, backend="python", plus_limit=12)
    c = Walker(to_terms(naive_scheme(2, 2, 3)), seed=1, backend="c", plus_limit=12)
    assert py.walk(3000, 0, 40, 12) == c.walk(3000, 0, 40, 12) and in_step(py, c)


def test_a_library_built_before_is_used_without_a_compiler(c_kernel, fresh, monkeypatch):
    assert flip_c.load() is not None  # built into the fresh cache
    monkeypatch.setattr(flip_c, "_KERNEL", flip_c._UNSET)
    no_compiler(monkeypatch)
    kernel = flip_c.load()
    assert kernel is not None and kernel.path.parent == fresh


# -- end to end ------------------------------------------------------------------------------------

def test_cli_search_333_rank_23_walks_in_c(c_kernel, tmp_path):
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, "-m", "fastmm", "search", "3", "3", "3", "--rank", "23",
                           "--ring", "ZT", "--seed", "0", "-q", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    s = load_scheme(out)
    assert s.rank == 23 and s.provenance["backend"] == "c"
    v = verify(s, use_sympy=False)
    assert v.ok and v.ring == "ZT"
