"""The pool method: constructed starting points, level-by-level pooled walks, catalogue hiding."""

from __future__ import annotations

import time

import pytest

from fastmm.catalog import add_to_catalog
from fastmm.reference import laderman, strassen
from fastmm.scheme import naive_scheme
from fastmm.search.base import METHODS, SearchTask, method_function
from fastmm.search.pool import choose_method, run, starting_points
from fastmm.verify import verify


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    """An empty catalogue of our own; tests add exactly the entries they mean to use."""
    d = tmp_path / "catalog"
    d.mkdir()
    monkeypatch.setenv("FASTMM_CATALOG", str(d))
    return d


def search(n, m, p, rank, ring="ZT", seed=0, limit=30.0, stop=lambda: False, **options):
    task = SearchTask(n, m, p, rank, ring, seed=seed, time_limit=limit, options=options)
    return run(task, lambda progress: None, stop)


def check(scheme, shape, ring="ZT"):
    verdict = verify(scheme, use_sympy=False)
    assert verdict.ok
    assert scheme.shape == shape
    if ring == "ZT":
        assert verdict.ring == "ZT"


# -- starting points ----------------------------------------------------------------------------

def test_strassen_squared_is_the_best_start_for_444_and_verifies(catalog):
    add_to_catalog(strassen())
    starts = starting_points((4, 4, 4), "ZT", exclude=[(4, 4, 4)])
    assert starts[0].rank == 49
    assert "⊗" in starts[0].how
    check(starts[0].scheme, (4, 4, 4))


def test_sums_of_catalogued_parts_verify_and_add_ranks(catalog):
    add_to_catalog(strassen())
    add_to_catalog(laderman())
    starts = {s.how: s for s in starting_points((3, 3, 4), "ZT", exclude=[(3, 3, 4)])}
    best = min(starts.values(), key=lambda s: s.rank)
    assert best.rank == 23 + 9  # ⟨3,3,3;23⟩ ⊕ ⟨3,3,1;9⟩
    for s in starts.values():
        check(s.scheme, (3, 3, 4))
        assert s.scheme.rank == s.rank
    s224 = starting_points((2, 2, 4), "ZT")[0]
    assert s224.rank == 14 and s224.how.count("catalog⟨2,2,2;7⟩") == 2
    check(s224.scheme, (2, 2, 4))


def test_the_rotation_holds_a_naive_slice_start_per_direction(catalog):
    import fastmm.search.pool as pool

    add_to_catalog(strassen(), catalog)
    add_to_catalog(laderman(), catalog)
    starts = sorted(starting_points((3, 3, 3), "ZT", exclude=[(3, 3, 3)]), key=lambda s: s.rank)
    usable = pool.usable_starts((3, 3, 3), starts, 1, lambda: False)
    kinds = [st.axis for st, _ in usable if pool._loose(st)]
    assert sorted(kinds) == ["m", "n", "p"]  # one per direction, none twice


def test_without_constructions_only_the_naive_scheme_is_a_start(catalog):
    add_to_catalog(strassen())
    starts = starting_points((2, 2, 4), "ZT", constructions=False)
    assert [(s.rank, s.how) for s in starts] == [(16, "naive⟨2,2,4;16⟩")]


# -- the catalogue entry of the shape itself ----------------------------------------------------

def test_exclude_hides_the_shapes_own_entry_and_its_permutations(catalog):
    own = strassen().direct_sum(naive_scheme(2, 2, 1), "p")  # ⟨2,2,3;11⟩
    assert add_to_catalog(own)
    assert starting_points((2, 2, 3))[0].how == "catalog⟨2,2,3;11⟩"
    for hidden in [(2, 2, 3), (3, 2, 2)]:
        starts = starting_points((2, 2, 3), exclude=[hidden])
        assert not any("catalog" in s.how for s in starts)
    # the search itself: with the entry it is looked up, without it the walk starts from naive
    looked_up = search(2, 2, 3, 11)
    assert looked_up.scheme.provenance["start"] == "catalog⟨2,2,3;11⟩"
    assert looked_up.steps == 0
    walked = search(2, 2, 3, 11, exclude_catalog_shapes=[(3, 2, 2)])
    assert walked.scheme is not None and walked.steps > 0
    assert walked.scheme.provenance["start"] == "naive⟨2,2,3;12⟩"
    check(walked.scheme, (2, 2, 3))


# -- searches -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, rank", [((2, 2, 3), 11), ((2, 3, 3), 15)])
def test_reaches_best_known_zt_rank_from_the_naive_scheme(catalog, shape, rank):
    t0 = time.perf_counter()
    out = search(*shape, rank, seed=1)
    assert out.scheme is not None and out.scheme.rank <= rank
    assert time.perf_counter() - t0 < 20
    check(out.scheme, shape)
    assert out.scheme.provenance["method"] == "pool"


def test_reaches_233_rank_15_from_a_sum_over_the_registered_method(catalog):
    add_to_catalog(strassen().direct_sum(naive_scheme(2, 2, 1), "p"))  # ⟨2,2,3;11⟩, a part
    assert METHODS["pool"] == "fastmm.search.pool:run"
    task = SearchTask(2, 3, 3, 15, seed=3, time_limit=120.0,  # generous: loaded CI machines
                      options={"exclude_catalog_shapes": [(2, 3, 3)], "backend": "python"})
    out = method_function("pool")(task, lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.rank == 15
    start = out.scheme.provenance["start"]
    assert "⊕" in start and "catalog" in start and ";11⟩" in start  # the entry, permuted as needed
    check(out.scheme, (2, 3, 3))


def test_same_seed_same_scheme(catalog):
    a = search(2, 3, 3, 15, seed=5, backend="python")
    b = search(2, 3, 3, 15, seed=5, backend="python")
    assert a.scheme == b.scheme and a.steps == b.steps


def test_z2_needs_no_lifting(catalog):
    out = search(2, 2, 3, 11, ring="Z2", seed=2)
    assert out.scheme is not None and out.scheme.ring == "Z2" and out.scheme.rank <= 11
    assert verify(out.scheme, use_sympy=False).ok


def test_should_stop_is_honoured_and_the_best_valid_scheme_returned(catalog):
    t0 = time.perf_counter()
    out = search(3, 3, 3, 15, backend="python", limit=None,
                 stop=lambda: time.perf_counter() - t0 > 0.3)
    took = time.perf_counter() - t0
    assert took < 2.0
    assert out.scheme is None and out.stopped == "stopped"
    assert out.best is not None and out.best.rank < 27
    check(out.best, (3, 3, 3))


def test_best_so_far_names_the_start_it_came_from_and_when(catalog):
    t0 = time.perf_counter()
    out = search(3, 3, 3, 15, backend="python", limit=None, constructions=False,
                 stop=lambda: time.perf_counter() - t0 > 0.5)
    prov = out.best.provenance
    assert out.best.rank < 27  # descended from the naive scheme, the only start
    assert prov["start"] == "naive⟨3,3,3;27⟩"
    assert 0.0 < prov["found_after_s"] <= prov["seconds"]


def _with_cancelling_pair(scheme):
    """`scheme` plus a term and its opposite: two more products, the same tensor."""
    import numpy as np

    from fastmm.scheme import Scheme

    wa, wb, wc = (np.asarray(w) for w in (scheme.Wa, scheme.Wb, scheme.Wc))
    return Scheme(*scheme.shape, np.vstack([wa, wa[:1], wa[:1]]), np.vstack([wb, wb[:1], wb[:1]]),
                  np.hstack([wc, wc[:, :1], -wc[:, :1]]))


def test_a_start_whose_terms_cancel_is_best_without_them(catalog):
    """A --start with an opposite pair reduces to its rank without the pair before any walk: that
    is the best so far (it was the start as given, two products more), and here already the target."""
    start = _with_cancelling_pair(naive_scheme(2, 2, 3))
    assert start.rank == 14 and verify(start, use_sympy=False).ok
    out = search(2, 2, 3, 12, seed=1, start=start)
    assert out.scheme is not None and out.scheme.rank == 12 and out.steps == 0
    check(out.scheme, (2, 2, 3))


def test_provenance_names_the_catalogue_the_starts_came_from(catalog):
    from fastmm.catalog import catalog_fingerprint

    add_to_catalog(strassen(), catalog)
    before = catalog_fingerprint()
    out = search(2, 2, 4, 14, seed=0)  # ⟨2,2,2;7⟩ ⊕p ⟨2,2,2;7⟩ is already at the target
    assert out.scheme.provenance["catalog"] == before
    add_to_catalog(laderman(), catalog)
    after = catalog_fingerprint()
    assert after != before
    assert search(2, 2, 4, 14, seed=0).scheme.provenance["catalog"] == after
    plain = search(2, 2, 3, 11, seed=0, constructions=False)
    assert "catalog" not in plain.scheme.provenance  # the naive start needs no catalogue


def test_time_limit_is_honoured_without_a_runner(catalog):
    t0 = time.perf_counter()
    out = search(3, 3, 3, 15, backend="python", limit=0.4)
    assert time.perf_counter() - t0 < 2.0
    assert out.scheme is None


def test_choose_method_uses_plain_walks_for_tiny_shapes():
    assert choose_method(SearchTask(2, 2, 2, 7)) == "flip"
    assert choose_method(SearchTask(2, 2, 3, 11)) == "flip"
    assert choose_method(SearchTask(3, 3, 4, 29)) == "pool"
    assert choose_method(SearchTask(4, 4, 4, 49, "ZT")) == "pool"
    assert choose_method(SearchTask(4, 4, 4, 47, "Z2")) == "flip"  # nothing to lift over GF(2)


# -- long runs ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_333_rank_23_without_its_catalogue_entry():
    out = search(3, 3, 3, 23, seed=0, limit=300.0, exclude_catalog_shapes=[(3, 3, 3)])
    assert out.scheme is not None
    check(out.scheme, (3, 3, 3))


@pytest.mark.slow
def test_334_rank_29_from_sums():
    out = search(3, 3, 4, 29, seed=1, limit=600.0, exclude_catalog_shapes=[(3, 3, 4)])
    assert out.scheme is not None
    check(out.scheme, (3, 3, 4))


@pytest.mark.parametrize("liftable_pools", [True, False])
def test_over_zt_only_schemes_that_lift_join_the_pools(catalog, monkeypatch, liftable_pools):
    import fastmm.search.pool as pool

    monkeypatch.setattr(pool.Rescue, "lift", lambda *args, **kw: None)  # nothing lifts
    out = search(3, 3, 3, 20, seed=1, limit=1.5, backend="python", constructions=False,
                 liftable_pools=liftable_pools)
    prov = out.best.provenance
    assert out.scheme is None and out.best.rank == 27  # only the naive start is valid in ZT
    if liftable_pools:
        # every descent was refused (the last attempt may have been cut by the time limit)
        assert prov["unliftable"] > 0 and prov["attempts"] - prov["unliftable"] <= 1
    else:
        assert prov["unliftable"] == 0


def test_gf2_pools_over_zt_checkpoint_every_lifted_record(catalog, tmp_path):
    """liftable_pools=false descends through GF(2) pools and lifts each new record: a kill must
    keep the best lifted one (the --resume checkpoint holds it, verified over ZT)."""
    import json

    from fastmm.io import scheme_from_dict

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    out = search(3, 3, 3, 15, seed=1, limit=2.0, backend="python", constructions=False,
                 liftable_pools=False, checkpoint_dir=str(ckpt))
    assert out.scheme is None and out.best is not None and out.best.rank < 27
    assert out.best.provenance["gf2_low"] <= out.best.rank  # GF(2) pools may walk below the lifts
    saved = json.loads((ckpt / "pool-seed1.json").read_text())["schemes"]
    assert len(saved) == 1
    kept = scheme_from_dict(saved[0])
    assert kept.rank == out.best.rank
    check(kept, (3, 3, 3))


def test_projection_of_a_larger_catalogue_entry_is_a_start(tmp_path, monkeypatch):
    from fastmm.catalog import add_to_catalog
    from fastmm.reference import laderman
    from fastmm.search.starts import starting_points

    monkeypatch.setenv("FASTMM_CATALOG", str(tmp_path))
    add_to_catalog(laderman())
    starts = starting_points((2, 3, 3), "ZT")
    projected = [s for s in starts if "↓" in s.how]
    assert projected and all(s.scheme.shape == (2, 3, 3) for s in projected)
    assert min(s.rank for s in projected) < 18  # better than naive


def test_building_starts_for_a_big_shape_honours_the_time_limit():
    import time

    from fastmm.search.base import SearchTask
    from fastmm.search.pool import run

    t0 = time.monotonic()
    out = run(SearchTask(8, 8, 8, 300, "ZT", seed=0, time_limit=1.0), lambda p: None, lambda: False)
    assert time.monotonic() - t0 < 8  # was 30 s and more before the builder polled the deadline
    assert out.scheme is None


def test_stop_flag_interrupts_the_construction_at_once():
    import pytest

    from fastmm.search.starts import Stopped, starting_points

    with pytest.raises(Stopped):
        starting_points((7, 8, 8), "ZT", stop=lambda: True)


def test_meta_moves_through_a_larger_shape_keep_schemes_valid():
    from fastmm.search.base import SearchTask
    from fastmm.search.pool import run
    from fastmm.verify import verify

    # limit = max_limit: every level counts as stalling, so meta=1.0 sends every attempt through
    # ⟨n,m,p+1⟩ and back
    opts = {"exclude_catalog_shapes": [(3, 3, 4)], "limit": 20_000, "max_limit": 20_000, "meta": 1.0}
    out = run(SearchTask(3, 3, 4, 29, "ZT", seed=0, time_limit=15, options=opts),
              lambda p: None, lambda: False)
    s = out.scheme or out.best
    assert s is not None and verify(s, use_sympy=False).ok
    assert s.provenance["meta_down"] >= 1  # some descents came from the neighbour shape


# -- ternary pools ------------------------------------------------------------------------------

@pytest.mark.parametrize("backend, shape, rank", [(None, (2, 3, 3), 15), ("python", (2, 2, 3), 11)])
def test_ternary_pools_reach_best_known_ranks_without_lifting(catalog, monkeypatch, backend, shape, rank):
    """walk=ternary: pools of ternary schemes, walked over ZT; nothing is ever lifted."""
    import fastmm.search.pool as pool

    def no_lift(*args, **kw):
        raise AssertionError("a ternary pool lifted a scheme")

    monkeypatch.setattr(pool.Rescue, "lift", no_lift)
    opts = {"walk": "ternary"} | ({"backend": backend} if backend else {})
    out = search(*shape, rank, seed=1, limit=120.0, **opts)
    assert out.scheme is not None and out.scheme.rank == rank
    check(out.scheme, shape)
    prov = out.scheme.provenance
    assert prov["walk"] == "ternary" and prov["lift"] == "ternary" and "gf2_low" not in prov
    assert prov["ternary_low"] == rank


def test_ternary_pool_meta_moves_and_best_so_far_stay_exact(catalog):
    # limit = max_limit: every level counts as stalling, so meta=1.0 sends every attempt through
    # a larger shape and back (below any known rank: the search runs to its time limit)
    task = SearchTask(3, 3, 4, 20, "ZT", seed=0, time_limit=4.0,
                      options={"walk": "ternary", "limit": 20_000, "max_limit": 20_000, "meta": 1.0})
    out = run(task, lambda progress: None, lambda: False)
    assert out.scheme is None and out.best is not None and out.best.rank <= 36
    check(out.best, (3, 3, 4))
    assert out.best.provenance["meta_down"] >= 1


def test_ternary_pools_take_only_ternary_starts(catalog):
    from fastmm.errors import InputError
    from fastmm.scheme import Scheme

    # ⟨1,1,2⟩ over Z with a 2: c1 = a(b1 + 2b2) − 2ab2, c2 = ab2 — valid, but not ternary
    z_only = Scheme(1, 1, 2, [[1], [1]], [[1, 2], [0, 1]], [[1, -2], [0, 1]], ring="Z")
    assert verify(z_only, use_sympy=False).ok
    with pytest.raises(InputError, match="no starting point for .* is a ternary scheme"):
        search(1, 1, 2, 1, walk="ternary", start=z_only)
    with pytest.raises(InputError, match="gf2 for --ring Z2"):
        search(2, 2, 2, 7, ring="Z2", walk="ternary")


class _StuckWalker:
    """A GF(2) walk that never moves: what a pool then finds, only its ternary polish found."""

    def __init__(self, terms, seed, backend, plus_limit):
        self._terms = tuple(list(f) for f in terms)

    @property
    def rank(self):
        return len(self._terms[0])

    def walk(self, steps, target, plateau, plus_limit):
        return steps

    def terms(self):
        return self._terms


@pytest.mark.parametrize("polish", [0, 20_000_000])
def test_ternary_polish_walks_lifted_schemes_on_over_zt(catalog, monkeypatch, polish):
    import fastmm.search.pool as pool

    monkeypatch.setattr(pool, "Walker", _StuckWalker)
    opts = {"start": naive_scheme(2, 3, 3), "meta": 0.0, "limit": 10, "max_limit": 10}
    if polish:
        opts["ternary_polish"] = polish
    task = SearchTask(2, 3, 3, 15, "ZT", seed=2, time_limit=60.0 if polish else 3.0, options=opts)
    out = run(task, lambda progress: None, lambda: False)
    if not polish:  # the stuck GF(2) walks alone stay at the start
        assert out.scheme is None and out.best.rank == 18
        assert "polishes" not in out.best.provenance
        return
    assert out.scheme is not None and out.scheme.rank == 15
    check(out.scheme, (2, 3, 3))
    prov = out.scheme.provenance
    assert prov["lift"] == "signs + ternary polish" and prov["ternary_polish"] == polish
    assert prov["polished"] >= 1 and 1 <= prov["polishes"] <= 8
    assert 0 < prov["polish_steps"] <= prov["polishes"] * polish


def test_ternary_polish_is_for_gf2_pools_over_zt_or_z(catalog):
    from fastmm.errors import InputError

    with pytest.raises(InputError, match="ternary_polish"):
        search(2, 2, 3, 11, walk="ternary", ternary_polish=1000)
    with pytest.raises(InputError, match="ternary_polish"):
        search(2, 2, 3, 11, ring="Z2", ternary_polish=1000)


def test_a_polished_scheme_reaches_the_pool_checkpoint(catalog, monkeypatch, tmp_path):
    import json

    import fastmm.search.pool as pool
    from fastmm.io import scheme_from_dict

    monkeypatch.setattr(pool, "Walker", _StuckWalker)
    opts = {"start": naive_scheme(2, 3, 3), "meta": 0.0, "limit": 10, "max_limit": 10,
            "ternary_polish": 10**11, "checkpoint_dir": str(tmp_path)}
    # target 14, below any known scheme: the one polish walks until the time is up, so its
    # scheme reaches the checkpoint only through the polish itself (no later attempt lifts it)
    out = run(SearchTask(2, 3, 3, 14, "ZT", seed=2, time_limit=8.0, options=opts), lambda p: None,
              lambda: False)
    assert out.scheme is None and out.best.rank < 18
    assert out.best.provenance["lift"] == "signs + ternary polish" and out.best.provenance["polished"] >= 1
    saved = json.loads((tmp_path / "pool-seed2.json").read_text())["schemes"]
    ranks = {scheme_from_dict(d).rank for d in saved}
    assert ranks == {out.best.rank}  # the lowest level on disk is the polished one
    for d in saved:
        check(scheme_from_dict(d), (2, 3, 3))
