"""Library arguments refused before any work (QA, session 27): flags that are not booleans, a
minimize that is not a name, a Checkpoint object opened for another search."""

import time

import pytest

import fastmm
from fastmm.api import SearchRequest
from fastmm.errors import InputError
from fastmm.search.checkpoint import open_for_search


@pytest.mark.parametrize("kwargs, message", [
    ({"sympy": "no"}, "search: sympy must be True or False, got 'no'"),
    ({"sympy": 1}, "search: sympy must be True or False, got 1"),
    ({"use_own_catalog_entry": "no"}, "search: use_own_catalog_entry must be True or False"),
    ({"options": {"minimize": 0}}, "option minimize (--minimize) must be 'none' or 'additions', got 0"),
    ({"options": {"minimize": False}}, "option minimize (--minimize) must be 'none' or 'additions', got F"),
])
def test_bad_arguments_are_refused_before_the_search_runs(kwargs, message):
    t0 = time.monotonic()
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fastmm.search((3, 4, 5), 48, method="flip", time_limit=30, **kwargs)
    assert time.monotonic() - t0 < 5  # not after a 30 s search


def test_minimize_none_still_means_none():
    s = fastmm.search((2, 2, 2), 7, time_limit=30, sympy=False, options={"minimize": None})
    assert s.rank == 7


def test_a_checkpoint_opened_for_another_search_is_refused(tmp_path):
    ck = open_for_search(tmp_path / "ck", SearchRequest((4, 4, 4), 49, method="flip"))
    try:
        with pytest.raises(InputError, match=r"the checkpoint is for shape \[4, 4, 4\], not \[3, 3, 3\]"):
            fastmm.search((3, 3, 3), 23, method="flip", time_limit=5, resume=ck)
        with pytest.raises(InputError, match="the checkpoint is for method 'flip', not 'pool'"):
            fastmm.search((4, 4, 4), 49, method="pool", time_limit=5, resume=ck)
    finally:
        ck.close()
    assert not (tmp_path / "ck").exists()  # nothing written for a refused search
