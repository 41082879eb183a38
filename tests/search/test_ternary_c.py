"""The C ternary walk (csrc/ternwalk.c): step for step the walk of ternary_kernels (numba) and
ternary_py (plain Python), whole arrays included; an exact ZT tensor throughout; the default
backend of --method ternary where it loads; and never required (no compiler, a failed compile:
numba or plain Python walks)."""

from __future__ import annotations

import logging
import random
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastmm.errors import InputError
from fastmm.io import load_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import naive_scheme
from fastmm.search import flip_c, ternary, ternary_kernels, ternary_py
from fastmm.search.base import SearchTask
from fastmm.search.flip import numba_available
from fastmm.search.ternary import Walker, choose_backend, reduce_terms, run
from fastmm.search.ternary_py import to_scheme, to_terms
from fastmm.verify import verify
from tests.search.conftest import c_walk_or_skip

CATALOG = Path(__file__).resolve().parents[2] / "fastmm" / "data" / "catalog"
needs_numba = pytest.mark.skipif(not numba_available(), reason="numba is not installed")


@pytest.fixture(scope="module")
def c_kernel():
    return c_walk_or_skip(flip_c.load_ternary, "ternary walk")


def task(n, m, p, rank, **options):
    return SearchTask(n, m, p, rank, "ZT", seed=0, time_limit=60, options=options)


def state(w: Walker, size: int):
    """The whole state: every slot of the six arrays (the plain-Python ones padded with the zeros
    the compiled walks' longer arrays hold), st and rng."""
    F = [[int(x) for x in f] + [0] * (size - len(f)) for f in w.F]
    return F, [int(x) for x in w.st], int(w.rng[0])


def zt_ok(shape, terms) -> bool:
    v = verify(to_scheme(shape, terms), use_sympy=False)
    return v.ok and v.ring == "ZT"


def walk_all(terms, seed, plus_limit, plateau, calls, backends=("c", "numba", "python")):
    """Walk the same start on each backend call by call ((steps) per call), checking the whole
    states agree after each; returns the first walker and the rank at the start and after each call."""
    ws = [Walker(terms, seed, backend, plus_limit) for backend in backends]
    size = max(len(w.F[0]) for w in ws)
    ranks = [ws[0].rank]
    for steps in calls:
        done = {w.walk(steps, 0, plateau, plus_limit) for w in ws}
        assert len(done) == 1
        first = state(ws[0], size)
        assert all(state(w, size) == first for w in ws[1:])
        ranks.append(ws[0].rank)
    return ws[0], ranks


def drops(ranks) -> int:
    return sum(b < a for a, b in zip(ranks, ranks[1:], strict=False))


def catalog(name: str):
    return to_terms(load_scheme(CATALOG / name))


# -- the same walk -------------------------------------------------------------------------------

@needs_numba
@pytest.mark.parametrize("shape, seed", [((2, 2, 2), 1), ((3, 3, 3), 2), ((3, 4, 5), 3), ((2, 3, 4), 4)])
def test_c_numba_and_python_walks_agree_step_by_step_from_the_naive_scheme(c_kernel, shape, seed):
    start = to_terms(naive_scheme(*shape))
    limit = len(start[0]) + 3  # room above the start: plus transitions from the first plateau on
    w, ranks = walk_all(start, seed, limit, plateau=15, calls=[1] * 300 + [50] * 40)
    assert max(ranks) > ranks[0] and drops(ranks) > 0
    assert zt_ok(shape, w.terms())


@needs_numba
@pytest.mark.parametrize("shape, down_to", [((2, 2, 3), 11), ((2, 3, 4), 21), ((3, 3, 3), 24),
                                            ((3, 4, 5), 58)])
def test_walks_agree_from_random_walked_states(c_kernel, shape, down_to):
    # a random state below the naive rank (walked there by C), then a small plateau: plus
    # transitions up to the limit, the reductions after them, many times
    r0 = shape[0] * shape[1] * shape[2]
    w = Walker(to_terms(naive_scheme(*shape)), seed=5, backend="c", plus_limit=r0)
    w.walk(10**8, down_to, 20_000, r0)
    assert w.rank == down_to
    limit = down_to + 4
    end, ranks = walk_all(w.terms(), 9, limit, plateau=8, calls=[1] * 300 + [100] * 30)
    assert max(ranks) == limit and drops(ranks) >= 5
    assert zt_ok(shape, end.terms())


@needs_numba
@pytest.mark.parametrize("name", ["3x4x5-rank48-ZT.json", "5x5x6-rank110-ZT.json"])
def test_c_and_numba_walks_agree_from_catalogue_schemes(c_kernel, name):
    start = catalog(name)
    r0 = len(start[0])
    w, ranks = walk_all(start, 3, r0 + 4, plateau=30, calls=[2_000] * 40, backends=("c", "numba"))
    assert max(ranks) == r0 + 4 and drops(ranks) >= 5
    shape = load_scheme(CATALOG / name).shape
    assert zt_ok(shape, w.terms())
    # and at search speed: the default plateau, long calls
    _, ranks = walk_all(w.terms(), 4, r0 + 4, plateau=20_000, calls=[200_000] * 3, backends=("c", "numba"))


@needs_numba
def test_walks_agree_where_factors_need_more_than_32_bits(c_kernel):
    # ⟨2,2,17⟩ (eight Strassens and a naive ⟨2,2,1⟩): b and c have 34 entries, past the packed
    # keys (the walk compares masks and signs instead)
    start = naive_scheme(2, 2, 1)
    for _ in range(8):
        start = start.direct_sum(strassen(), axis="p")
    w, ranks = walk_all(to_terms(start), 7, 64, plateau=50, calls=[1] * 200 + [50] * 100)
    assert max(ranks) == 64 and drops(ranks) >= 2  # merges are rarer here than in small shapes
    assert zt_ok((2, 2, 17), w.terms())


def random_terms(rnd: random.Random, k: int, bits: int):
    """k terms of nonzero ternary factors with `bits` entries (not a tensor: the walks do not
    care); few bits make equal factors, merges and cancellations common."""
    F = [[], [], [], [], [], []]
    for _ in range(k):
        for f in range(3):
            mask = rnd.randrange(1, 1 << bits)
            F[f].append(mask)
            F[f + 3].append(mask & rnd.randrange(1 << bits))
    return tuple(F)


@needs_numba
@pytest.mark.parametrize("high", [0, 33])
def test_walks_agree_on_random_small_states(c_kernel, high):
    # high = 33: every b factor shifted past 32 bits (no packed keys)
    rnd = random.Random(high)
    merged = 0
    for trial in range(150):
        terms = random_terms(rnd, rnd.randint(2, 10), rnd.choice([2, 3]))
        terms = (terms[0], [x << high for x in terms[1]], terms[2], terms[3], [x << high for x in terms[4]],
                 terms[5])
        k = len(terms[0])
        _, ranks = walk_all(terms, trial, k + 3, plateau=4, calls=[1] * 20 + [20] * 10)
        merged += min(ranks) < k
    assert merged > 30


@needs_numba
def test_settle_on_its_own_agrees(c_kernel):
    rnd = random.Random(1)
    removed = 0
    for _ in range(300):
        terms = random_terms(rnd, rnd.randint(1, 12), rnd.choice([1, 2, 3]))
        r = len(terms[0])
        work = list(range(r))
        rnd.shuffle(work)
        py = [list(f) for f in terms]
        r_py = ternary_py._settle(py, r, list(work))
        nb = [np.array(f, dtype=np.int64) for f in terms]
        r_nb = ternary_kernels._settle(*nb, r, np.array(work, dtype=np.int64), r)
        c = [np.array(f, dtype=np.int64) for f in terms]
        w = np.array(work, dtype=np.int64)
        r_c = c_kernel.settle(*(f.ctypes.data for f in c), r, w.ctypes.data, r)
        assert r_py == r_nb == r_c
        assert [list(f) for f in nb] == [list(f) for f in c] == py
        removed += r_c < r
    assert removed > 50


def test_c_and_python_walks_agree_without_numba(c_kernel):
    start = to_terms(laderman())
    w, ranks = walk_all(start, 7, 27, plateau=10, calls=[1] * 200 + [40] * 25, backends=("c", "python"))
    assert max(ranks) > 23
    assert zt_ok((3, 3, 3), w.terms())


@needs_numba
def test_target_stops_both_walks_at_the_same_step(c_kernel):
    start = to_terms(naive_scheme(3, 3, 3))
    a, b = (Walker(start, 2, backend, 27) for backend in ("c", "numba"))
    done = a.walk(10**8, 23, 20_000, 27)
    assert 0 < done < 10**8 and a.rank == 23
    assert b.walk(10**8, 23, 20_000, 27) == done
    assert state(a, len(a.F[0])) == state(b, len(b.F[0]))
    assert zt_ok((3, 3, 3), a.terms()) and reduce_terms(a.terms()) == a.terms()


# -- the default, and searches -------------------------------------------------------------------

def test_c_is_the_default_backend_where_it_loads(c_kernel):
    for shape in [(2, 2, 2), (3, 4, 5), (5, 5, 6), (6, 6, 6)]:
        assert choose_backend(task(*shape, 1)) == "c"
    assert choose_backend(task(8, 8, 8, 1)) == "python"  # factors past 63 bits
    with pytest.raises(InputError, match="at most 63"):
        choose_backend(task(8, 8, 8, 1, backend="c"))
    assert choose_backend(task(3, 3, 3, 23, backend="python")) == "python"
    if numba_available():
        assert choose_backend(task(3, 3, 3, 23, backend="numba")) == "numba"
    with pytest.raises(InputError, match="unknown walk backend 'cuda'"):
        run(task(2, 2, 2, 7, backend="cuda"), lambda p: None, lambda: False)


def test_the_c_walk_gets_the_compiled_walks_defaults(c_kernel, monkeypatch):
    calls = []
    real = Walker.walk

    def spy(self, steps, target, plateau, plus_limit):
        calls.append((self.backend, steps, plateau))
        return real(self, steps, target, plateau, plus_limit)

    monkeypatch.setattr(Walker, "walk", spy)
    out = run(task(2, 2, 3, 11), lambda p: None, lambda: False)
    assert out.stopped == "found" and out.scheme.provenance["backend"] == "c"
    assert calls and all(c == ("c", 200_000, 20_000) for c in calls)


def test_search_with_the_c_backend_finds_a_verified_223_rank_11(c_kernel):
    notes = []
    out = run(task(2, 2, 3, 11, backend="c"), lambda p: notes.append(p.note), lambda: False)
    assert out.stopped == "found" and out.scheme.rank == 11
    assert out.scheme.provenance["backend"] == "c" and out.scheme.provenance["method"] == "ternary"
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"


@needs_numba
def test_c_and_numba_searches_find_the_same_scheme(c_kernel):
    c, nb = (run(task(3, 3, 3, 23, backend=b), lambda p: None, lambda: False) for b in ("c", "numba"))
    assert c.scheme is not None and c.scheme == nb.scheme and c.steps == nb.steps
    assert (c.scheme.provenance["backend"], nb.scheme.provenance["backend"]) == ("c", "numba")


def test_cli_ternary_search_walks_in_c(c_kernel, tmp_path):
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "3", "--rank", "11",
                           "--method", "ternary", "--seed", "1", "-q", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    s = load_scheme(out)
    assert s.rank == 11 and s.provenance["backend"] == "c"
    v = verify(s, use_sympy=False)
    assert v.ok and v.ring == "ZT"


# -- never required ------------------------------------------------------------------------------

def test_without_a_compiler_the_search_walks_with_another_backend(fresh, monkeypatch):
    monkeypatch.setattr(flip_c, "find_compiler", lambda: None)
    assert flip_c.load_ternary() is None
    assert choose_backend(task(2, 2, 2, 7)) in ("numba", "python")
    out = run(task(2, 2, 2, 7), lambda p: None, lambda: False)
    assert out.stopped == "found" and out.scheme.provenance["backend"] in ("numba", "python")
    assert verify(out.scheme, use_sympy=False).ok
    assert list(fresh.iterdir()) == []
    with pytest.raises(InputError, match="needs a C compiler"):
        run(task(2, 2, 2, 7, backend="c"), lambda p: None, lambda: False)
    with pytest.raises(InputError, match="not available"):
        Walker(to_terms(naive_scheme(2, 2, 2)), seed=0, backend="c", plus_limit=8)


def test_a_failing_compiler_falls_back_with_one_debug_note_and_leaves_no_file(fresh, monkeypatch,
                                                                             caplog):
    monkeypatch.setenv("CC", f"{shlex.quote(sys.executable)} -c 'raise SystemExit(1)'")
    with caplog.at_level(logging.DEBUG):
        assert flip_c.load_ternary() is None
        assert choose_backend(task(3, 3, 3, 23)) in ("numba", "python")
        out = run(task(2, 2, 2, 7), lambda p: None, lambda: False)
    assert out.scheme.provenance["backend"] != "c"
    notes = [r for r in caplog.records if r.name == flip_c.__name__]
    assert len(notes) == 1 and notes[0].levelno == logging.DEBUG and notes[0].exc_info is None
    assert notes[0].getMessage().startswith("C ternary walk unavailable")
    assert list(fresh.iterdir()) == []


def test_a_library_built_before_is_used_without_a_compiler(fresh, monkeypatch):
    assert c_walk_or_skip(flip_c.load_ternary, "ternary walk") is not None  # built into the fresh cache
    monkeypatch.setattr(flip_c, "_TERN_KERNEL", flip_c._UNSET)
    monkeypatch.setattr(flip_c, "find_compiler", lambda: None)
    kernel = flip_c.load_ternary()
    assert kernel is not None and kernel.path.parent == fresh
    assert kernel.path.name.startswith(flip_c.TERNARY.prefix)
    assert choose_backend(task(2, 2, 2, 7)) == "c"


def test_the_libraries_are_cached_side_by_side(c_kernel, fresh):
    assert flip_c.load() is not None and flip_c.load_ternary() is not None
    names = sorted(p.name for p in fresh.iterdir())
    assert len(names) == 2
    assert names[0].startswith(flip_c.FLIP.prefix) and names[1].startswith(flip_c.TERNARY.prefix)
    assert ternary.Walker.load_c is not None
