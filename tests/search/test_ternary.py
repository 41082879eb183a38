"""The ternary flip-graph method: conversions are exact, walks keep the tensor over ZT, both
walks agree step by step, searches find verified ZT schemes."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from click.testing import CliRunner

from fastmm.errors import InputError
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from fastmm.search import ternary_py
from fastmm.search.base import SearchTask
from fastmm.search.ternary import Walker, reduce_terms, run
from fastmm.search.ternary_py import add, same, to_scheme, to_terms
from fastmm.verify import verify


def search(n, m, p, rank, ring="ZT", seed=0, limit=None, stop=lambda: False, **options):
    task = SearchTask(n, m, p, rank, ring, seed=seed, time_limit=limit, options=options)
    return run(task, lambda progress: None, stop)


def zt_ok(shape, terms) -> bool:
    v = verify(to_scheme(shape, terms), use_sympy=False)
    return v.ok and v.ring == "ZT"


# -- terms <-> Scheme --------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", [strassen(), laderman(), naive_scheme(2, 3, 4)])
def test_terms_round_trip_is_exact(scheme):
    back = to_scheme(scheme.shape, to_terms(scheme))
    assert back == scheme
    assert verify(back, use_sympy=False).ring == "ZT"


def test_strassen_signs_are_kept():
    A, B, C, SA, SB, SC = to_terms(strassen())
    # Strassen's M3 = A11·(B12 − B22): b has +1 at bit 1 and −1 at bit 3
    t = next(t for t in range(7) if B[t] == 0b1010 and A[t] == 0b0001)
    assert SB[t] == 0b1000 and SA[t] == 0


def test_a_coefficient_outside_zt_is_refused():
    s = strassen()
    wa = s.Wa.copy()
    wa[0, 0] = 2
    with pytest.raises(ValueError, match="outside"):
        to_terms(Scheme(2, 2, 2, wa, s.Wb, s.Wc, ring="Z"))


def test_factor_arithmetic():
    # x = (1, −1, 0), y = (1, 1, 1): x − y = (0, −2, −1) is not ternary, x + y is not either
    x, sx = 0b011, 0b010
    y, sy = 0b111, 0b000
    assert add(x, sx, y, sy, 1) == (False, 0, 0)
    # z = (−1, 1, 1): x + z = (0, 0, 1)
    assert add(x, sx, 0b111, 0b001, 1) == (True, 0b100, 0)
    assert same(x, sx, x, sx ^ x) == -1 and same(x, sx, x, sx) == 1 and same(x, sx, y, sy) == 0


def test_reduction_merges_terms_sharing_two_factors_up_to_sign():
    # a⊗b⊗c + (−a)⊗b⊗c' = a⊗b⊗(c − c'); with c' = c the two terms cancel and both go
    a, b, c, c2 = 0b01, 0b10, 0b01, 0b10
    A, B, C, SA, SB, SC = reduce_terms(([a, a], [b, b], [c, c2], [0, a], [0, 0], [0, 0]))
    assert (A, B, C, SA, SB, SC) == ([a], [b], [0b11], [0], [0], [0b10])
    assert reduce_terms(([a, a], [b, b], [c, c], [0, a], [0, 0], [0, 0]))[0] == []
    # a⊗b⊗c + a⊗b⊗c = 2·a⊗b⊗c needs a coefficient 2: left as it is
    assert reduce_terms(([a, a], [b, b], [c, c], [0, 0], [0, 0], [0, 0]))[0] == [a, a]


# -- the walk ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["python", "numba"])
def test_flips_reductions_and_plus_transitions_keep_the_tensor(backend):
    shape = (3, 3, 3)
    w = Walker(to_terms(naive_scheme(*shape)), seed=5, backend="numba", plus_limit=27)
    w.walk(10**7, 24, 20_000, 27)  # down to rank 24 first, so that there is room to climb
    walker = Walker(w.terms(), seed=5, backend=backend, plus_limit=27)
    ranks = []
    for _ in range(60):
        walker.walk(50, 0, plateau=40, plus_limit=27)  # small plateau: many plus transitions
        ranks.append(walker.rank)
        assert zt_ok(shape, walker.terms())
    assert any(b < a for a, b in zip(ranks, ranks[1:], strict=False))  # reductions fell ...
    assert any(b > a for a, b in zip(ranks, ranks[1:], strict=False))  # ... plus transitions climbed


@pytest.mark.parametrize("shape", [(2, 2, 3), (3, 3, 3)])
def test_numba_and_python_walks_agree_step_by_step(shape):
    start = to_terms(naive_scheme(*shape))
    limit = len(start[0]) + 3  # above the start rank: plus transitions from the first plateau on
    py = Walker(start, seed=11, backend="python", plus_limit=limit)
    nb = Walker(start, seed=11, backend="numba", plus_limit=limit)
    ranks = []
    for _ in range(300):
        assert py.walk(1, 0, 25, limit) == nb.walk(1, 0, 25, limit)
        assert py.terms() == nb.terms()
        assert list(py.st) == [int(x) for x in nb.st]
        assert py.rng[0] == int(nb.rng[0])
        ranks.append(py.rank)
    assert max(ranks) > ranks[0]  # plus transitions happened
    # and over a long run in one call, with plus transitions every 300 flips without a drop
    assert py.walk(20_000, 0, 300, limit) == nb.walk(20_000, 0, 300, limit)
    assert py.terms() == nb.terms() and py.rng[0] == int(nb.rng[0])
    assert zt_ok(shape, py.terms())


def test_walks_reach_lower_ranks_from_the_naive_scheme():
    w = Walker(to_terms(naive_scheme(2, 2, 2)), seed=1, backend="python", plus_limit=8)
    ternary_py.walk(w.F, w.st, w.rng, 100_000, 7, 5_000, 8)
    assert w.rank == 7 and zt_ok((2, 2, 2), w.terms())


# -- searches ------------------------------------------------------------------------------------

def test_cli_finds_strassen_rank(tmp_path):
    from fastmm.cli import cli
    from fastmm.io import load_scheme

    out = tmp_path / "s.json"
    result = CliRunner().invoke(cli, ["search", "2", "2", "2", "--rank", "7", "--method", "ternary",
                                      "-q", "--out", str(out)])
    assert result.exit_code == 0, result.output
    s = load_scheme(out)
    assert s.rank == 7 and s.ring == "ZT" and s.provenance["method"] == "ternary"
    assert verify(s, use_sympy=False).ok


@pytest.mark.parametrize("shape, rank", [((2, 2, 3), 11), ((3, 3, 3), 23)])
def test_reaches_rank(shape, rank):
    t0 = time.perf_counter()
    out = search(*shape, rank, seed=2, limit=60)
    assert out.stopped == "found" and time.perf_counter() - t0 < 60
    s = out.scheme
    assert s.rank == rank and s.shape == shape
    v = verify(s, use_sympy=False)
    assert v.ok and v.ring == "ZT"
    assert s.provenance["method"] == "ternary" and s.provenance["seed"] == 2


def test_same_seed_same_scheme():
    first, again = (search(2, 2, 3, 11, seed=4, limit=60).scheme for _ in range(2))
    assert first is not None and first == again


def test_z_ring_accepts_a_zt_scheme():
    out = search(2, 2, 2, 7, "Z", seed=0, limit=30)
    assert out.scheme is not None and verify(out.scheme, use_sympy=False).ok


def test_z2_ring_is_refused():
    with pytest.raises(InputError, match="--method flip"):
        search(2, 2, 2, 7, "Z2")


def test_start_scheme_is_used_and_must_be_ternary():
    start = strassen().direct_sum(naive_scheme(2, 2, 1), axis="p")  # ⟨2,2,3;11⟩ already
    out = search(2, 2, 3, 11, start=start)
    assert out.stopped == "found" and out.steps == 0 and out.scheme.rank == 11
    s = strassen()  # every A factor doubled, every C coefficient halved: valid over Q only
    wc = [[Fraction(x, 2) for x in row] for row in s.Wc.tolist()]
    with pytest.raises(InputError, match="fractional"):
        search(2, 2, 2, 7, start=Scheme(2, 2, 2, s.Wa * 2, s.Wb, wc))


def test_impossible_rank_times_out_with_the_best_scheme():
    t0 = time.perf_counter()
    out = search(2, 2, 2, 6, seed=0, limit=3.0)
    assert time.perf_counter() - t0 < 6.0
    assert out.scheme is None and out.stopped == "time"
    assert out.best is not None and out.best.rank == 7 and verify(out.best, use_sympy=False).ok


def test_plus_transitions_have_room_above_a_given_start():
    """From a given start the walk may go START_PLUS above its rank (a walk with no room only
    flips); from the naive scheme up to the naive rank; an explicit plus_limit wins."""
    from fastmm.search.ternary import START_PLUS

    from_start = search(3, 3, 3, 22, limit=0.5, start=laderman())
    assert from_start.best.provenance["plus_limit"] == 23 + START_PLUS
    assert search(2, 2, 3, 6, limit=0.3).best.provenance["plus_limit"] == 12
    given = search(3, 3, 3, 22, limit=0.3, start=laderman(), plus_limit=23)
    assert given.best.provenance["plus_limit"] == 23
    # and with room the walk does go above the start's rank
    w = Walker(to_terms(laderman()), seed=3, backend="python", plus_limit=23 + START_PLUS)
    seen = set()
    for _ in range(40):
        w.walk(25, 0, plateau=5, plus_limit=23 + START_PLUS)
        seen.add(w.rank)
    assert max(seen) > 23
