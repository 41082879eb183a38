"""The C six-fold symmetric walk (csrc/symwalk.c built with ORBIT 6, `--symmetry c3j`): step for
step the walk of symmetric_kernels.py with orbits of six (numba and plain Python), its reductions
the same, a valid tensor throughout, the default backend where it loads, and never required (no
compiler, a failed compile: numba or plain Python walks)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fastmm.errors import InputError
from fastmm.search import flip_c
from fastmm.search import symmetric_kernels as sk
from fastmm.search.base import SearchTask
from fastmm.search.symmetric import (
    SymWalker,
    _rotations,
    central,
    choose_backend,
    cube_groups,
    pair_central,
    run,
    start,
    transpose_mask,
)
from fastmm.search.terms import gf2_tensor_ok
from fastmm.verify import verify
from tests.search.conftest import c_walk_or_skip, same_state, walk_both


@pytest.fixture(scope="module")
def c_kernel():
    return c_walk_or_skip(flip_c.load_symmetric6, "six-fold symmetric walk")


def six_fold_split(n: int, target: int, count: int | None = None):
    return pair_central(n, start(n, cube_groups(n, target, count, orbit=6)))


def start_rank(split) -> int:
    return len(split[1]) + 6 * len(split[0])


def assert_six_fold(walker: SymWalker) -> None:
    """A valid tensor, no term twice, and every term's rotations and J-image among the terms."""
    n = walker.n
    assert gf2_tensor_ok((n, n, n), walker.terms())
    A, B, C = walker.terms()
    terms = {(a, b, transpose_mask(c, n)) for a, b, c in zip(A, B, C, strict=True)}
    assert len(terms) == walker.rank
    for t in terms:
        assert set(_rotations(t)) <= terms and tuple(central(x, n) for x in t) in terms


def task(rank, n=4, **options):
    return SearchTask(n, n, n, rank, "ZT", seed=0, time_limit=60, options={"group": "c3j", **options})


# -- the same walk -------------------------------------------------------------------------------

@pytest.mark.parametrize("n, target, plateau", [(3, 25, 30), (4, 49, 300), (6, 153, 300)])
def test_c_and_numba_walks_agree_with_plus_transitions(c_kernel, n, target, plateau):
    split = six_fold_split(n, target)
    r0 = start_rank(split)
    # a small plateau and room above the start rank: plus transitions, and the reductions
    # after them, many times (flips never raise the rank: a rise is a plus transition)
    w, ranks, _ = walk_both(n, split, seed=n, plateau=plateau, plus_limit=r0 + 12, chunks=40,
                            chunk=2_000, orbit=6)
    assert sum(b > a for a, b in zip(ranks, ranks[1:], strict=False)) >= 5
    assert sum(b < a for a, b in zip(ranks, ranks[1:], strict=False)) >= 5
    assert_six_fold(w)


@pytest.mark.parametrize("n, target, plateau, chunk", [
    (3, 25, 2_000, 20_000), (4, 49, 5_000, 50_000), (6, 153, 83_333, 50_000)])
def test_c_and_numba_walks_agree_on_the_way_down(c_kernel, n, target, plateau, chunk):
    split = six_fold_split(n, target)
    r0 = start_rank(split)
    w, ranks, _ = walk_both(n, split, seed=1, plateau=plateau, plus_limit=r0, chunks=10, chunk=chunk,
                            orbit=6)
    assert min(ranks) <= r0 - 12 and w.st[3] == min(ranks)
    assert_six_fold(w)


def test_target_stops_both_walks_at_the_same_step(c_kernel):
    split = six_fold_split(4, 49)
    a, b = (SymWalker(4, split, 2, backend, 61, orbit=6) for backend in ("c", "numba"))
    done = a.walk(10**7, 49, 300, 61)
    assert 0 < done < 10**7 and a.rank <= 49
    assert b.walk(10**7, 49, 300, 61) == done and same_state(a, b)


def test_c_and_numba_walks_agree_on_random_small_states(c_kernel):
    # not tensors, but the walks do not care: ⟨2,2,2⟩'s 4-bit factors make the rare cases common
    # (zero factors, J-invariant orbits, merges, orbits that are cubes, cubes that cancel, a
    # single orbit left)
    rnd = random.Random(0)
    single = made = cancelled = 0
    for trial in range(200):
        k = rnd.randint(1, 8)
        reps = [tuple(rnd.randrange(16) for _ in range(3)) for _ in range(k)]
        cubes = [rnd.randrange(1, 16) for _ in range(rnd.randint(0, 2))]
        limit = len(cubes) + 6 * k + 12
        w, _, walk_cubes = walk_both(2, (reps, cubes), seed=trial, plateau=5, plus_limit=limit,
                                     chunks=10, chunk=50, orbit=6)
        single += int(w.st[0]) < 2
        made += max(walk_cubes) > 0
        cancelled += any(b < a for a, b in zip(walk_cubes, walk_cubes[1:], strict=False))
    assert single > 10 and made > 10 and cancelled > 5


def test_c_and_plain_python_walks_agree_step_by_step(c_kernel, plain_python):
    split = six_fold_split(3, 25)
    r0 = start_rank(split)
    py = SymWalker(3, split, 3, "python", r0 + 12, orbit=6)
    c = SymWalker(3, split, 3, "c", r0 + 12, orbit=6)
    for _ in range(100):
        assert py.walk(1, 0, 20, r0 + 12) == c.walk(1, 0, 20, r0 + 12)
        assert same_state(py, c)
    _, ranks, _ = walk_both(3, split, seed=3, plateau=20, plus_limit=r0 + 12, chunks=20, chunk=100,
                            backends=("c", "python"), orbit=6)
    assert max(ranks) > r0 and sum(b < a for a, b in zip(ranks, ranks[1:], strict=False)) >= 5


# -- the reductions on their own -----------------------------------------------------------------

def settle_both(kernel, F, E, st, work, nw):
    """The C settle and symmetric_kernels._settle (plain Python, orbits of six) on copies of one state; checks
    they agree and returns the C's F, E, st."""
    F, E, st, work = (np.ascontiguousarray(x, dtype=np.int64).copy() for x in (F, E, st, work))
    pF, pE, pst, pwork = F.copy(), E.copy(), st.copy(), work.copy()
    k = kernel.settle(F.ctypes.data, F.shape[1], E.ctypes.data, st.ctypes.data, work.ctypes.data, nw)
    with np.errstate(over="ignore"):
        pk = sk._settle.py_func(pF, pE, pst, pwork, nw, 6)
    assert k == pk == st[0]
    assert np.array_equal(F, pF) and np.array_equal(E, pE) and np.array_equal(st, pst)
    return F, E, st


def orbits(reps, bits, cap=8):
    """F with one orbit of six per representative (numba's set_orbit, plain Python)."""
    F = np.zeros((3, 6 * cap), dtype=np.int64)
    for o, rep in enumerate(reps):
        F[:, 6 * o] = rep
        sk.set_orbit.py_func(F, 6 * o, 6, bits)
    return F


@pytest.mark.parametrize("x,cubes", [(0b0000_0000_0000_0011, 2), (0b1000_0000_0000_0001, 0)])
def test_an_orbit_of_cubes_becomes_the_cubes_x_and_jx(c_kernel, x, cubes):
    F = orbits([(x, x, x)], 16)
    st = np.array([1, 0, 0, 6, 16])
    F, E, st = settle_both(c_kernel, F, np.zeros(8), st, np.zeros(4), 1)
    assert st[0] == 0 and st[1] == cubes and not F.any()  # x = J(x): the six slots cancel
    if cubes:
        assert sorted(E[:2]) == sorted([x, central(x, 4)])


def test_a_walk_made_cube_cancels_an_equal_one(c_kernel):
    x = 0b0000_0000_0000_0011
    F = orbits([(x, x, x)], 16)
    E = np.array([central(x, 4), 5, 0, 0, 0, 0, 0, 0])
    _, E, st = settle_both(c_kernel, F, E, np.array([1, 2, 0, 6, 16]), np.zeros(4), 1)
    assert st[1] == 2 and sorted(E[:2]) == sorted([x, 5])


@pytest.mark.parametrize("rep", [
    (0b1001, 0b0110, 0b1111),  # J-invariant: the six slots are three terms twice
    (0b0011, 0, 0b0101),  # a zero factor
])
def test_an_orbit_that_cancels_goes_without_cubes(c_kernel, rep):
    other = (0b0001, 0b0010, 0b0100)
    F = orbits([rep, other], 4)
    kept = F[:, 6:12].copy()
    F, _, st = settle_both(c_kernel, F, np.zeros(8), np.array([2, 0, 0, 12, 4]), np.array([0, 0]), 1)
    assert st[0] == 1 and st[1] == 0
    assert np.array_equal(F[:, :6], kept) and not F[:, 6:].any()  # the last orbit moved into 0


def test_orbits_sharing_two_factors_merge(c_kernel):
    a, b, c, d = 0b0001, 0b0010, 0b0100, 0b1000
    F = orbits([(a, b, c), (c, a, d)], 4)  # rot of (c, a, d) is (a, d, c): shares a, c with (a, b, c)
    F, _, st = settle_both(c_kernel, F, np.zeros(8), np.array([2, 0, 0, 12, 4]), np.array([0, 0]), 1)
    assert st[0] == 1 and (F[0, 0], F[1, 0], F[2, 0]) == (a, b ^ d, c)


def test_c_and_plain_python_settle_agree_on_random_states(c_kernel):
    rnd = random.Random(1)
    kinds = set()
    for _ in range(500):
        bits = rnd.choice([4, 9])
        values = [rnd.randrange(1 << bits) for _ in range(4)] + [0]  # few values: many coincidences
        k = rnd.randint(1, 6)
        F = orbits([tuple(rnd.choice(values) for _ in range(3)) for _ in range(k)], bits)
        E = np.zeros(6 * 8 + 8)
        cubes = rnd.randint(0, 2)
        E[:cubes] = [rnd.randrange(1, 1 << bits) for _ in range(cubes)]
        work = np.full(8, -1)
        nw = rnd.randint(1, 3)
        work[:nw] = [rnd.randrange(k) for _ in range(nw)]
        st = np.array([k, cubes, 0, 0, bits])
        _, _, after = settle_both(c_kernel, F, E, st, work, nw)
        kinds.add((int(after[0]) < k, int(after[1]) != cubes))
    assert kinds == {(False, False), (True, False), (True, True)}


# -- the default, and searches -------------------------------------------------------------------

def test_search_with_the_c_backend_finds_a_verified_444_rank_49(c_kernel):
    out = run(task(49, backend="c"), lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.rank == 49
    assert out.scheme.provenance["backend"] == "c" and out.scheme.provenance["symmetry"] == "c3j"
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"


def test_c_is_the_default_backend_where_it_loads(c_kernel):
    assert choose_backend(None, orbit=6) == "c"
    out = run(task(49), lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.provenance["backend"] == "c"
    with pytest.raises(InputError, match="unknown walk backend 'cuda'"):
        run(task(49, backend="cuda"), lambda p: None, lambda: False)


def test_the_three_libraries_are_cached_side_by_side(c_kernel, fresh):
    assert flip_c.load() is not None and flip_c.load_symmetric() is not None
    assert flip_c.load_symmetric6() is not None
    names = sorted(p.name for p in fresh.iterdir())
    assert len(names) == 3
    prefixes = (flip_c.FLIP.prefix, flip_c.SYMMETRIC.prefix, flip_c.SYMMETRIC6.prefix)
    assert all(name.startswith(prefix) for name, prefix in zip(names, prefixes, strict=True))

# never required: tests/search/test_symmetric_c.py checks both builds of symwalk.c
