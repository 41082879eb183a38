"""Searches over ZT rescue GF(2) schemes without a sign lift (Hensel lifting, then changes of
basis towards ternary coefficients), within a share of their time."""

import time
from pathlib import Path

import pytest

from fastmm.io import load_scheme
from fastmm.search.flip import reduce_terms
from fastmm.search.lift import Rescue, lift
from fastmm.search.terms import to_terms
from fastmm.verify import verify

DATA = Path(__file__).resolve().parents[1] / "data"
RESCUABLE = DATA / "3x3x4-rank29-Z2-hensel-frames.json"  # no sign lift; Hensel + frames make it ZT
NO_LIFT = DATA / "3x3x3-rank23-Z2-no-lift.json"  # no sign lift, no Hensel lift either


def _terms(path):
    scheme = load_scheme(path)
    return scheme.shape, reduce_terms(to_terms(scheme))


def test_a_scheme_without_a_sign_lift_is_rescued_to_a_verified_ternary_one():
    shape, terms = _terms(RESCUABLE)
    assert lift(shape, terms, "ZT", seed=0) is None and lift(shape, terms, "ZT", seed=9, tries=200) is None
    rescue = Rescue(share=1.0, after=0.0)
    scheme, how = rescue.lift(shape, terms, "ZT")
    assert how == "hensel + frames" and (rescue.tried, rescue.rescued) == (1, 1)
    assert scheme.rank == 29 and verify(scheme, use_sympy=False).ok
    assert scheme.coefficient_ring == "ZT"


def test_no_rescue_where_there_is_none_and_its_time_is_counted():
    shape, terms = _terms(NO_LIFT)
    rescue = Rescue(share=1.0, after=0.0)
    assert rescue.lift(shape, terms, "ZT") is None
    assert (rescue.tried, rescue.rescued) == (1, 0) and rescue.spent > 0


@pytest.mark.parametrize("share, after", [(0.0, 0.0), (0.5, 3600.0)])
def test_no_rescue_before_its_time_or_with_a_share_of_zero(share, after):
    shape, terms = _terms(RESCUABLE)
    rescue = Rescue(share=share, after=after)
    assert rescue.lift(shape, terms, "ZT") is None and rescue.tried == 0


def test_the_rescue_waits_while_it_has_used_its_share():
    shape, terms = _terms(RESCUABLE)
    rescue = Rescue(share=0.1, after=0.0)
    rescue.spent = 3600.0  # as if it had run for an hour already
    assert rescue.lift(shape, terms, "ZT") is None and rescue.tried == 0
    rescue.spent, rescue.t0 = 0.0, time.perf_counter() - 10.0  # 10 s in, nothing spent: 1 s allowed
    assert rescue.lift(shape, terms, "ZT") is not None


def test_over_z_a_hensel_lift_needs_no_rescue():
    shape, terms = _terms(RESCUABLE)
    rescue = Rescue(share=1.0, after=0.0)
    scheme, how = rescue.lift(shape, terms, "Z")
    assert how == "hensel" and rescue.tried == 0 and verify(scheme, use_sympy=False).ok


def test_a_flip_search_from_the_scheme_reaches_its_rank_over_zt_only_by_the_rescue(monkeypatch):
    """From the GF(2) scheme at the target rank, the walk's first lift rescues it (lift_every huge:
    no other lift runs); without the rescue the same walk ends without a scheme."""
    import fastmm.search.lift as lift_module
    from fastmm.search import flip
    from fastmm.search.base import SearchTask

    monkeypatch.setattr(lift_module, "RESCUE_AFTER", 0.0)
    start = load_scheme(RESCUABLE)
    got = {}
    for rescue in (0.0, 1.0):
        task = SearchTask(3, 3, 4, rank=29, ring="ZT", seed=0, time_limit=3,
                          options={"start": start, "rescue": rescue, "lift_tries": 1000, "kicks": 0,
                                   "backend": "python", "lift_every": 10**9})
        got[rescue] = flip.run(task, lambda p: None, lambda: False)
    assert got[0.0].scheme is None
    found = got[1.0].scheme
    assert found is not None and found.provenance["rescued"] == 1
    assert found.provenance["lift"] == "hensel + frames"
    assert verify(found, use_sympy=False).ok and found.rank == 29
