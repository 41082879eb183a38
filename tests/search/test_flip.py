"""The flip-graph method: walks keep the tensor, both walks agree, searches find verified schemes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fastmm.errors import InputError
from fastmm.metrics import plain_additions
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.search import flip_py
from fastmm.search.base import SearchTask
from fastmm.search.flip import Walker, reduce_terms, run
from fastmm.search.lift import hensel_lift, sign_lift
from fastmm.search.terms import gf2_tensor_ok, plain_additions_terms, to_scheme, to_terms
from fastmm.verify import verify


def search(n, m, p, rank, ring="ZT", seed=0, limit=None, stop=lambda: False, **options):
    task = SearchTask(n, m, p, rank, ring, seed=seed, time_limit=limit, options=options)
    return run(task, lambda progress: None, stop)


# -- terms <-> Scheme --------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", [strassen(), laderman(), naive_scheme(2, 3, 4)])
def test_terms_round_trip_is_exact_modulo_2(scheme):
    terms = to_terms(scheme)
    assert gf2_tensor_ok(scheme.shape, terms)
    back = to_scheme(scheme.shape, terms)
    assert back.ring == "Z2"
    assert np.array_equal(back.Wa, scheme.Wa % 2)
    assert np.array_equal(back.Wb, scheme.Wb % 2)
    assert np.array_equal(back.Wc, scheme.Wc % 2)
    assert verify(back, use_sympy=False).ok


def test_a_broken_term_is_detected():
    A, B, C = to_terms(strassen())
    C[0] ^= 1
    assert not gf2_tensor_ok((2, 2, 2), (A, B, C))


def test_reduction_merges_terms_sharing_two_factors_and_drops_zero_factors():
    # a⊗b⊗c + a⊗b⊗c' = a⊗b⊗(c+c'); a term with a zero factor goes.
    terms = ([1, 1, 3], [2, 2, 5], [4, 6, 0])
    A, B, C = reduce_terms(terms)
    assert (A, B, C) == ([1], [2], [2])


def test_plain_additions_from_terms_matches_metrics():
    s = laderman()
    assert plain_additions_terms(s.shape, to_terms(s)) == plain_additions(s)


# -- the walk ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["python", "numba"])
def test_flips_reductions_and_plus_transitions_keep_the_tensor(backend):
    shape = (3, 3, 3)
    walker = Walker(to_terms(laderman()), seed=5, backend=backend, plus_limit=26)
    ranks = []
    for _ in range(300):
        walker.walk(7, 0, plateau=40, plus_limit=26)  # small plateau: many plus transitions
        ranks.append(walker.rank)
        assert gf2_tensor_ok(shape, walker.terms())
    assert max(ranks) > 24  # plus transitions climbed ...
    assert any(b < a for a, b in zip(ranks, ranks[1:], strict=False))  # ... and reductions fell


@pytest.mark.parametrize("shape", [(2, 2, 2), (3, 3, 3), (2, 3, 4)])
def test_numba_and_python_walks_agree_step_by_step(shape):
    start = to_terms(naive_scheme(*shape))
    r0 = len(start[0])
    py = Walker(start, seed=11, backend="python", plus_limit=r0)
    nb = Walker(start, seed=11, backend="numba", plus_limit=r0)
    for _ in range(400):
        assert py.walk(1, 0, 25, r0) == nb.walk(1, 0, 25, r0)
        assert py.terms() == nb.terms()
        assert list(py.st) == [int(x) for x in nb.st]
        assert py.rng[0] == int(nb.rng[0])
    # and over long runs in one call
    assert py.walk(5000, 0, 300, r0) == nb.walk(5000, 0, 300, r0)
    assert py.terms() == nb.terms()


def test_walks_with_plus_transitions_agree_step_by_step():
    # below the plus limit with a tiny plateau: plus transitions, reductions and the numba
    # kernel's padded scans (slots past the rank hold -1) all happen many times
    shape = (3, 3, 3)
    w = Walker(to_terms(naive_scheme(*shape)), seed=2, backend="numba", plus_limit=27)
    w.walk(10**7, 24, 20_000, 27)
    start = w.terms()
    py = Walker(start, seed=9, backend="python", plus_limit=29)
    nb = Walker(start, seed=9, backend="numba", plus_limit=29)
    ranks = set()
    for _ in range(3000):
        assert py.walk(1, 0, 6, 29) == nb.walk(1, 0, 6, 29)
        assert py.terms() == nb.terms() and list(py.st) == [int(x) for x in nb.st]
        ranks.add(py.rank)
    assert max(ranks) > 24 and min(ranks) <= 24
    # a polish (which may reduce the rank) followed by a walk stays in step too
    for walker in (py, nb):
        walker.polish(500, 9, 10**9)
    assert py.walk(20_000, 0, 50, 29) == nb.walk(20_000, 0, 50, 29)
    assert py.terms() == nb.terms()
    assert gf2_tensor_ok(shape, nb.terms())


@pytest.mark.parametrize("compiled", ["numba", "c"])
def test_polish_scores_schemes_and_compiled_walks_agree_with_python(compiled):
    if compiled == "c":
        from fastmm.search import flip_c

        if flip_c.load() is None:
            pytest.skip("no C compiler ($CC, cc, gcc or clang) to build the C flip walk with")
    shape = (3, 3, 3)
    # Laderman's scheme has no flip modulo 2; walk from the naive scheme to rank 25 instead
    w = Walker(to_terms(naive_scheme(*shape)), seed=3, backend=compiled, plus_limit=27)
    w.walk(10**7, 25, 20_000, 27)
    start = w.terms()
    results = []
    for backend in ("python", compiled):
        w = Walker(start, seed=3, backend=backend, plus_limit=25)
        done, cost, terms = w.polish(3000, 9, 10**9)
        assert done == 3000 and w.rank == 25 and terms is not None
        assert gf2_tensor_ok(shape, terms)
        assert cost == plain_additions_terms(shape, terms)
        # a second round only reports strictly cheaper schemes
        _, cost2, terms2 = w.polish(3000, 9, cost)
        assert cost2 <= cost and (terms2 is None) == (cost2 == cost)
        w.walk(5000, 0, 50, 27)  # and the walk goes on in step after a polish
        results.append((cost, terms, cost2, terms2, w.terms(), int(w.rng[0])))
    assert results[0] == results[1]


def test_generator_is_splitmix64():
    rng = [0]
    # splitmix64 reference outputs for seed 0
    assert flip_py.next_u64(rng) == 0xE220A8397B1DCDAF
    assert flip_py.next_u64(rng) == 0x6E789E6AA1B965F4


# -- lifting -----------------------------------------------------------------------------------

def test_sign_lift_recovers_an_exact_ternary_strassen():
    got = sign_lift((2, 2, 2), to_terms(strassen()))
    assert got is not None
    s = Scheme(2, 2, 2, *got)
    assert s.coefficient_ring == "ZT"
    assert verify(s, use_sympy=False).ok


def test_hensel_lift_gives_an_exact_integer_scheme():
    got = hensel_lift((3, 3, 3), to_terms(laderman()))
    assert got is not None
    v = verify(Scheme(3, 3, 3, *got), use_sympy=False)
    assert v.ok and v.ring in ("ZT", "Z")


def test_a_broken_gf2_scheme_does_not_lift():
    A, B, C = to_terms(laderman())
    with pytest.raises(ValueError):
        sign_lift((3, 3, 3), (A[1:], B[1:], C[1:]))


# -- searches ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ring", ["Z2", "ZT", "Z"])
def test_strassen_rank_is_found(ring):
    out = search(2, 2, 2, 7, ring, seed=3)
    assert out.stopped == "found"
    s = out.scheme
    assert s.rank == 7 and s.shape == (2, 2, 2)
    v = verify(s, use_sympy=False)
    assert v.ok
    if ring == "Z2":
        assert s.ring == "Z2"
    else:
        assert v.ring in (("ZT",) if ring == "ZT" else ("ZT", "Z"))
    assert s.provenance["method"] == "flip" and s.provenance["seed"] == 3


@pytest.mark.parametrize("shape, rank", [((2, 2, 3), 11), ((3, 3, 3), 23)])
def test_same_seed_same_scheme(shape, rank):
    first, again = (search(*shape, rank, seed=4, limit=60).scheme for _ in range(2))
    assert first is not None and first == again
    assert first != search(*shape, rank, seed=5, limit=60).scheme


def test_223_rank_11_over_zt():
    out = search(2, 2, 3, 11, "ZT", seed=1, limit=30)
    assert out.scheme is not None and out.scheme.rank == 11
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"


def test_333_rank_23_over_zt():
    out = search(3, 3, 3, 23, "ZT", seed=0, limit=60)
    assert out.stopped == "found"
    s = out.scheme
    assert s.rank == 23 and s.provenance["backend"] in ("c", "numba")  # c where a compiler is
    v = verify(s, use_sympy=False)
    assert v.ok and v.ring == "ZT"


def test_impossible_rank_times_out_with_the_best_scheme():
    t0 = time.perf_counter()
    out = search(2, 2, 2, 6, "Z2", seed=0, limit=1.0)
    assert time.perf_counter() - t0 < 2.0
    assert out.scheme is None and out.stopped == "time"
    assert out.best is not None and out.best.rank == 7 and out.best.ring == "Z2"
    assert verify(out.best, use_sympy=False).ok


def test_should_stop_is_honoured_promptly():
    t0 = time.perf_counter()
    out = search(3, 3, 3, 19, "ZT", stop=lambda: time.perf_counter() - t0 > 0.3,
                 backend="python")
    assert out.stopped == "stopped" and out.scheme is None
    assert time.perf_counter() - t0 < 1.0
    assert out.best is not None and verify(out.best, use_sympy=False).ok


def test_start_scheme_is_used():
    start = strassen().direct_sum(naive_scheme(2, 2, 1), axis="p")  # ⟨2,2,3;11⟩ already
    out = search(2, 2, 3, 11, "ZT", start=start)
    assert out.stopped == "found" and out.steps == 0
    assert out.scheme.rank == 11 and verify(out.scheme, use_sympy=False).ok


def test_start_scheme_of_the_wrong_shape_is_refused():
    with pytest.raises(InputError):
        search(2, 2, 3, 11, start=strassen())


def test_minimize_additions_keeps_the_rank_and_never_worsens():
    first = search(2, 2, 3, 11, "ZT", seed=2).scheme
    out = search(2, 2, 3, 11, "ZT", seed=2, limit=1.0, minimize="additions")
    s = out.scheme
    assert s is not None and s.rank <= 11 and verify(s, use_sympy=False).ok
    assert plain_additions(s) <= plain_additions(first)
