"""The C symmetric walk (csrc/symwalk.c with orbits of three): step for step the walk of
symmetric_kernels.py (numba and plain Python), a valid tensor throughout, the default backend where
it loads; and both builds of symwalk.c (orbits of three and of six) never required (no compiler, a
failed compile: numba or plain Python walks)."""

from __future__ import annotations

import logging
import random
import shlex
import sys

import pytest

from fastmm.errors import InputError
from fastmm.reference import strassen
from fastmm.search import flip_c
from fastmm.search.base import SearchTask
from fastmm.search.symmetric import (
    SymWalker,
    choose_backend,
    cube_groups,
    pair_central,
    run,
    split_scheme,
    start,
)
from fastmm.search.terms import gf2_tensor_ok
from fastmm.verify import verify
from tests.search.conftest import c_walk_or_skip, same_state, walk_both


@pytest.fixture(scope="module")
def c_kernel():
    return c_walk_or_skip(flip_c.load_symmetric, "symmetric walk")


def task(rank, n=3, **options):
    return SearchTask(n, n, n, rank, "ZT", seed=0, time_limit=60, options=options)


# -- the same walk -------------------------------------------------------------------------------

@pytest.mark.parametrize("n, target, plateau", [(3, 23, 30), (4, 49, 30), (5, 93, 300)])
def test_c_and_numba_walks_agree_with_plus_transitions(c_kernel, n, target, plateau):
    split = start(n, cube_groups(n, target))
    r0 = len(split[1]) + 3 * len(split[0])
    # a small plateau and room above the start rank: plus transitions, and the reductions
    # after them, many times
    w, ranks, _ = walk_both(n, split, seed=n, plateau=plateau, plus_limit=r0 + 9, chunks=40,
                            chunk=2_000)
    assert max(ranks) > r0
    assert sum(b < a for a, b in zip(ranks, ranks[1:], strict=False)) >= 5
    assert gf2_tensor_ok((n, n, n), w.terms())


@pytest.mark.parametrize("n, target, plateau", [(3, 23, 2_000), (4, 49, 5_000), (5, 93, 16_667)])
def test_c_and_numba_walks_agree_on_the_way_down(c_kernel, n, target, plateau):
    split = start(n, cube_groups(n, target))
    r0 = len(split[1]) + 3 * len(split[0])
    w, ranks, _ = walk_both(n, split, seed=1, plateau=plateau, plus_limit=r0, chunks=10, chunk=100_000)
    assert min(ranks) < r0 - 6 and w.st[3] == min(ranks)
    assert gf2_tensor_ok((n, n, n), w.terms())


def test_walk_made_cubes_agree(c_kernel):
    # one group of all diagonal indices: orbits turn into cubes x⊗x⊗x
    split = start(3, cube_groups(3, 23, count=1))
    r0 = len(split[1]) + 3 * len(split[0])
    w, _, cubes = walk_both(3, split, seed=4, plateau=30, plus_limit=r0 + 9, chunks=40, chunk=1_000)
    assert max(cubes) > 0
    assert gf2_tensor_ok((3, 3, 3), w.terms())


def test_walk_made_cubes_that_cancel_agree(c_kernel):
    # ⟨2,2,2⟩ from one cube and four orbits: a cube made twice cancels modulo 2
    split = start(2, cube_groups(2, 7, count=1))
    r0 = len(split[1]) + 3 * len(split[0])
    w, _, cubes = walk_both(2, split, seed=0, plateau=10, plus_limit=r0 + 6, chunks=40, chunk=100)
    assert any(b < a for a, b in zip(cubes, cubes[1:], strict=False))
    assert gf2_tensor_ok((2, 2, 2), w.terms())


def test_c_and_numba_walks_agree_from_a_given_start(c_kernel):
    s = strassen()
    split = split_scheme(s.kron(s))  # ⟨4,4,4;49⟩: 16 orbits and one cube
    w, ranks, _ = walk_both(4, split, seed=5, plateau=40, plus_limit=58, chunks=40, chunk=2_000)
    assert ranks[0] == 49 and max(ranks) > 49
    assert gf2_tensor_ok((4, 4, 4), w.terms())


def test_target_stops_both_walks_at_the_same_step(c_kernel):
    split = start(3, cube_groups(3, 23))
    a, b = (SymWalker(3, split, 2, backend, 32) for backend in ("c", "numba"))
    done = a.walk(10**7, 23, 2_000, 32)
    assert 0 < done < 10**7 and a.rank <= 23
    assert b.walk(10**7, 23, 2_000, 32) == done and same_state(a, b)


def test_c_and_numba_walks_agree_on_random_small_states(c_kernel):
    # not tensors, but the walks do not care: factors of 2 to 4 bits make the rare cases common
    # (zero factors, merges, orbits that are cubes, cubes that cancel, a single orbit left)
    rnd = random.Random(0)
    single = 0
    for trial in range(200):
        k, bits = rnd.randint(1, 8), rnd.choice([2, 3, 4])
        reps = [tuple(rnd.randrange(1 << bits) for _ in range(3)) for _ in range(k)]
        cubes = [rnd.randrange(1, 1 << bits) for _ in range(rnd.randint(0, 2))]
        limit = len(cubes) + 3 * k + 6
        w, _, _ = walk_both(3, (reps, cubes), seed=trial, plateau=5, plus_limit=limit, chunks=10,
                            chunk=50)
        single += int(w.st[0]) < 2
    assert single > 10


def test_c_and_plain_python_walks_agree_step_by_step(c_kernel, plain_python):
    split = start(4, cube_groups(4, 49))
    r0 = len(split[1]) + 3 * len(split[0])
    py = SymWalker(4, split, 3, "python", r0 + 6)
    c = SymWalker(4, split, 3, "c", r0 + 6)
    for _ in range(100):
        assert py.walk(1, 0, 20, r0 + 6) == c.walk(1, 0, 20, r0 + 6)
        assert same_state(py, c)
    _, ranks, _ = walk_both(4, split, seed=8, plateau=20, plus_limit=r0 + 6, chunks=20, chunk=100,
                            backends=("c", "python"))
    assert max(ranks) > r0 and any(b < a for a, b in zip(ranks, ranks[1:], strict=False))


# -- the default, and searches -------------------------------------------------------------------

def test_search_with_the_c_backend_finds_a_verified_333_rank_23(c_kernel):
    notes = []
    out = run(task(23, backend="c"), lambda p: notes.append(p.note), lambda: False)
    assert out.scheme is not None and out.scheme.rank == 23
    assert out.scheme.provenance["backend"] == "c"
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"


def test_c_is_the_default_backend_where_it_loads(c_kernel):
    assert choose_backend(None) == "c"
    out = run(task(23), lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.provenance["backend"] == "c"
    with pytest.raises(InputError, match="unknown walk backend 'cuda'"):
        run(task(23, backend="cuda"), lambda p: None, lambda: False)


def test_the_two_libraries_are_cached_side_by_side(c_kernel, fresh):
    assert flip_c.load() is not None and flip_c.load_symmetric() is not None
    names = sorted(p.name for p in fresh.iterdir())
    assert len(names) == 2
    assert names[0].startswith(flip_c.FLIP.prefix) and names[1].startswith(flip_c.SYMMETRIC.prefix)


# -- never required (both builds of symwalk.c: orbits of three and of six) ---------------------------

# orbit -> (loader, its cached-kernel attribute, the Walk, the debug note's name, a search that
# walks with it, the rank it asks for)
BUILDS = {
    3: ("load_symmetric", "_SYM_KERNEL", "SYMMETRIC", "C symmetric walk", {}, 3, 23),
    6: ("load_symmetric6", "_SYM6_KERNEL", "SYMMETRIC6", "C six-fold symmetric walk", {"group": "c3j"},
        4, 49),
}


@pytest.mark.parametrize("orbit", sorted(BUILDS))
def test_without_a_compiler_the_search_walks_with_another_backend(fresh, monkeypatch, orbit):
    load, _, _, _, group, n, rank = BUILDS[orbit]
    monkeypatch.setattr(flip_c, "find_compiler", lambda: None)
    assert getattr(flip_c, load)() is None
    assert choose_backend(None, orbit=orbit) in ("numba", "python")
    out = run(task(rank, n, **group), lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.provenance["backend"] in ("numba", "python")
    assert verify(out.scheme, use_sympy=False).ok
    assert list(fresh.iterdir()) == []
    with pytest.raises(InputError, match="needs a C compiler"):
        run(task(rank, n, backend="c", **group), lambda p: None, lambda: False)
    split = start(n, cube_groups(n, rank, orbit=orbit))
    if orbit == 6:
        split = pair_central(n, split)
    with pytest.raises(InputError, match="not available"):
        SymWalker(n, split, seed=0, backend="c", plus_limit=rank + 12, orbit=orbit)


@pytest.mark.parametrize("orbit", sorted(BUILDS))
def test_a_failing_compiler_falls_back_with_one_debug_note_and_leaves_no_file(fresh, monkeypatch,
                                                                             caplog, orbit):
    load, _, _, what, _, _, _ = BUILDS[orbit]
    monkeypatch.setenv("CC", f"{shlex.quote(sys.executable)} -c 'raise SystemExit(1)'")
    with caplog.at_level(logging.DEBUG):
        assert getattr(flip_c, load)() is None
        assert choose_backend(None, orbit=orbit) in ("numba", "python")
    notes = [r for r in caplog.records if r.name == flip_c.__name__]
    assert len(notes) == 1 and notes[0].levelno == logging.DEBUG and notes[0].exc_info is None
    assert notes[0].getMessage().startswith(f"{what} unavailable")
    assert list(fresh.iterdir()) == []


@pytest.mark.parametrize("orbit", sorted(BUILDS))
def test_a_library_built_before_is_used_without_a_compiler(fresh, monkeypatch, orbit):
    load, cached, walk, what, _, _, _ = BUILDS[orbit]
    assert c_walk_or_skip(getattr(flip_c, load), what[2:]) is not None  # built into the fresh cache
    monkeypatch.setattr(flip_c, cached, flip_c._UNSET)
    monkeypatch.setattr(flip_c, "find_compiler", lambda: None)
    kernel = getattr(flip_c, load)()
    assert kernel is not None and kernel.path.parent == fresh
    assert kernel.path.name.startswith(getattr(flip_c, walk).prefix)
