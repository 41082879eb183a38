"""Edges of search found by helper-81: a huge --distinct, 8×8 factors, symmetric starts."""

from __future__ import annotations

import pytest

import fastmm
from fastmm.errors import InputError, SearchFailed
from fastmm.io import dumps
from fastmm.scheme import naive_scheme
from tests.hostile.contract import assert_clean, run_cli


def test_a_huge_distinct_with_out_is_refused_before_its_sibling_files_are_checked(tmp_path):
    # FILE-2 ... FILE-K were each checked first: --distinct 10^9 never returned
    r = run_cli("search", "2", "2", "3", "--rank", "11", "--distinct", "1000000000", "--time-limit", "5",
                "-q", "-o", tmp_path / "h.json")
    assert_clean(r, allowed=(2,))
    assert "above the limit of 1000" in r.err and r.seconds < 10
    assert list(tmp_path.iterdir()) == []


def test_a_shape_with_an_8x8_factor_says_it_walks_in_plain_python():
    with pytest.warns(UserWarning, match=r"⟨2,8,8⟩ has a factor of 64 entries.*plain Python"):
        with pytest.raises(SearchFailed):
            fastmm.search((2, 8, 8), 100, method="flip", time_limit=0.5, sympy=False)


def test_no_such_warning_below_64_entries(recwarn):
    with pytest.raises(SearchFailed):
        fastmm.search((2, 7, 8), 100, method="flip", time_limit=0.5, sympy=False)
    assert not [w for w in recwarn if "plain Python" in str(w.message)]


def test_a_symmetric_start_whose_cubes_rule_out_the_target_says_where_it_can_stop(tmp_path):
    start = tmp_path / "n333.json"
    start.write_text(dumps(fastmm.verified(naive_scheme(3, 3, 3), sympy=False)))
    r = run_cli("search", "3", "3", "3", "--rank", "23", "--symmetry", "c3", "--start", start,
                "--time-limit", "1", "-q", "--no-sympy", "-o", tmp_path / "out.json")
    assert r.rc == 1
    assert ("warning: the start ⟨3,3,3;27⟩ has 3 fixed cube(s), so a --symmetry c3 walk from it reaches "
            "only ranks ≡ 0 (mod 3): the first at or below 23 is 21") in r.err


def test_no_cube_warning_when_the_start_already_meets_the_target(tmp_path, recwarn):
    # helper-83: a rank-23 C3 start (2 cubes) searched at --rank 24 warned "the first at or below
    # 24 is 23" and then succeeded at once
    start = fastmm.search((3, 3, 3), 23, symmetry="c3", sympy=False, time_limit=60)
    found = fastmm.search((3, 3, 3), 24, symmetry="c3", sympy=False, time_limit=10,
                          options={"start": start})
    assert found.rank <= 24
    assert not [w for w in recwarn if "fixed cube" in str(w.message)]


def test_the_python_walk_warning_names_the_callers_line_and_skips_the_symmetric_walk():
    with pytest.warns(UserWarning, match="plain Python") as caught:
        with pytest.raises(SearchFailed):
            fastmm.search((8, 8, 2), 126, method="flip", time_limit=0.5, sympy=False)
    assert caught[0].filename == __file__
    with pytest.raises(InputError, match="2 ≤ n ≤ 7"):  # refused, and nothing walks
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fastmm.search((8, 8, 8), 500, symmetry="c3", time_limit=1, sympy=False)


def test_a_cube_grouping_that_rules_out_the_target_says_where_it_can_stop(recwarn):
    """QA-134: `--option cubes=4` for a c3j ⟨4,4,4;49⟩ ran to its time limit without a word (its
    ranks are ≡ 4 mod 6); a non-c3 shape that reads ⟨a,b,a⟩ is pointed to t2."""
    with pytest.raises(SearchFailed):
        fastmm.search((4, 4, 4), 49, symmetry="c3j", time_limit=0.5, sympy=False, options={"cubes": 4})
    assert [str(w.message) for w in recwarn if "cube group" in str(w.message)] == [
        "cubes=4 makes 4 fixed cube group(s), so a --symmetry c3j walk reaches only ranks ≡ 4 (mod 6): "
        "the first at or below 49 is 46"]
    with pytest.raises(InputError, match=r"got ⟨3,2,3⟩; it reads ⟨a,b,a⟩: --symmetry t2 walks it"):
        fastmm.search((3, 2, 3), 15, symmetry="c3")
    with pytest.raises(InputError, match=r"got ⟨2,3,4⟩$"):
        fastmm.search((2, 3, 4), 20, symmetry="c3")


def test_ring_q_with_a_start_and_no_method_says_why_not_a_method_nobody_asked_for():
    """QA-134: auto chose flip for the --start and the refusal said "..., not 'flip'"."""
    with pytest.raises(InputError, match=r"^ring Q is searched by the numerical methods only \(method "
                       r"'als' or 'spn'\), which start from random points, not from a start scheme "
                       r"\(--start\)$"):
        fastmm.search((2, 2, 2), 7, ring="Q", options={"start": fastmm.strassen()})
