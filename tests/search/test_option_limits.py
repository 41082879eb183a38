"""Options that sized memory or work without a bound: each is refused up front with one
InputError (exit 2), or the search honours its time limit whatever the option asks.

* plus_limit (and pool's plus, flip's kicks) sized the walks' arrays: plus_limit=200000000 took
  4.7 GB and 16 s past a 2 s limit, 4294967297 ended "out of memory";
* a float option of als / spn of 1e39 ended in "internal error: RuntimeError: value cannot be
  converted to type float without overflow";
* --symmetry c3 --option cubes=99 on ⟨4,4,4⟩ ran as 4 singles without a word;
* --method spn on ⟨8,8,8⟩ with --time-limit 3 ran 5-15 s (one uninterruptible batch step);
* --option chunk=10**12 made one compiled walk call run for hours, deaf to the time limit and
  to SIGTERM.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from dataclasses import fields

import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.scheme import naive_scheme
from fastmm.search import flip_c

# -- 1. counts that size a walk's arrays ------------------------------------------------------


@pytest.mark.parametrize("method, shape, rank, options, message", [
    ("flip", (2, 2, 2), 7, {"plus_limit": 9}, "flip option plus_limit must be at most 8 for ⟨2,2,2⟩"),
    ("flip", (2, 2, 2), 7, {"plus_limit": 200_000_000}, "plus_limit must be at most 8"),
    ("ternary", (2, 2, 3), 11, {"plus_limit": 13}, "ternary option plus_limit must be at most 12"),
    ("pool", (2, 2, 2), 7, {"plus": 9}, "pool option plus must be at most 8"),
    ("pool", (2, 2, 2), 7, {"plus_limit": 2**40}, "pool option plus_limit must be at most 8"),
    ("flip", (3, 3, 3), 23, {"kicks": 28}, "flip option kicks must be at most 27"),
    ("symmetric", (3, 3, 3), 23, {"plus_limit": 28}, "symmetric option plus_limit must be at most 27"),
])
def test_a_count_that_sizes_the_walk_is_bounded_by_the_shape(method, shape, rank, options, message):
    with pytest.raises(InputError, match=re.escape(message)):
        fastmm.search(shape, rank, method=method, options=options, time_limit=5, sympy=False)


def test_the_bound_is_the_naive_rank_or_the_start_rank():
    """plus_limit = n·m·p is accepted (⟨6,6,6⟩ c3j walks use 216); a start above the naive
    rank raises the bound to its own rank."""
    s = fastmm.search((2, 2, 2), 7, method="flip", options={"plus_limit": 8}, time_limit=30, sympy=False)
    assert s.rank == 7
    from fastmm.search.base import walk_size_limits

    big = naive_scheme(2, 2, 2).direct_sum(naive_scheme(1, 2, 2), "n")  # ⟨3,2,2;12⟩
    assert walk_size_limits({"start": big}, (3, 2, 2))["plus_limit"] == 12
    assert walk_size_limits({}, (6, 6, 6)) == {"plus_limit": 216, "plus": 216, "kicks": 216}


def test_the_cli_refuses_a_huge_plus_limit_at_once(tmp_path):
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "3", "--rank", "11",
                          "--method", "flip", "--option", "plus_limit=4294967297", "--time-limit", "3",
                          "-o", str(tmp_path / "s.json")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == ("error: flip option plus_limit must be at most 12 for ⟨2,2,3⟩ (n·m·p, "
                                  "the naive rank: a walk never needs more terms), got 4294967297")
    assert time.perf_counter() - t < 20


@pytest.mark.parametrize("backend", ["python", "c"])
def test_a_kick_never_writes_past_the_walks_arrays(backend):
    """flip's kick walks with plus_limit = rank + kicks, more than the arrays were made for
    (plus_limit=8 gives 10 slots, 16 for the compiled walks): the walk keeps to them."""
    from fastmm.search.flip import Walker
    from fastmm.search.terms import to_terms

    if backend == "c" and flip_c.load() is None:
        pytest.skip("no C compiler")
    w = Walker(to_terms(naive_scheme(2, 2, 2)), seed=1, backend=backend, plus_limit=8)
    w.walk(200, -1, 1, 8 + 10**6)  # every step a plus transition while there is room
    assert w.rank <= w.cap


# -- 3. the symmetric walk's cube count --------------------------------------------------------


@pytest.mark.parametrize("count", [5, 99])
def test_a_cube_count_above_n_is_refused(count):
    with pytest.raises(InputError, match=re.escape(f"must be in 1..4, got {count}")):
        fastmm.search((4, 4, 4), 49, symmetry="c3", options={"cubes": count}, time_limit=5)
    from fastmm.search.symmetric import cube_groups

    with pytest.raises(InputError, match=r"in 1\.\.4"):
        cube_groups(4, 49, count)  # the walk's own check (library callers of symmetric.run)
    assert cube_groups(4, 49, 4) == [[0], [1], [2], [3]]


def test_the_cli_names_the_cube_range():
    res = subprocess.run([sys.executable, "-m", "fastmm", "search", "4", "4", "4", "--rank", "49",
                          "--symmetry", "c3", "--option", "cubes=99", "--time-limit", "3", "-q"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == ("error: symmetric option cubes: ⟨4,4,4⟩ has 4 diagonal indices, so a "
                                  "count of cube groups must be in 1..4, got 99")


# -- 2. float options of the numerical methods ------------------------------------------------


def _float_options():
    from fastmm.search.numerical_options import NumConfig
    from fastmm.search.spn import SPNConfig

    out = [("als", f.name) for f in fields(NumConfig) if isinstance(f.default, float)]
    return out + [("spn", f.name) for f in fields(SPNConfig) if isinstance(f.default, float)]


@pytest.mark.parametrize("value", [1e39, 1e308, math.inf, -math.inf, math.nan, -1.0])
def test_every_float_option_is_finite_and_in_range(value):
    from fastmm.search.numerical_options import LEAST, NumConfig
    from fastmm.search.spn import SPNConfig

    for method, name in _float_options():
        if value == -1.0 and LEAST.get(name, 0) <= -1:  # finish=-1: by ring
            continue
        with pytest.raises(InputError, match=f"^{method} option {name} (must|in)"):
            if method == "als":  # spn's batched engine reads NumConfig too
                NumConfig.from_options({name: value}, "als")
            else:
                SPNConfig.from_options({name: value})


def test_float_options_keep_the_values_in_use():
    """Thresholds may say "never" (tests use fit_tol=1e30 and blowup=1e9); rates and weights
    stop at 1e6, finish (seconds) at a time limit's most."""
    from fastmm.search.numerical_options import NumConfig

    cfg = NumConfig.from_options({"fit_tol": 1e30, "blowup": 1e9, "ridge": 1e6, "finish": 1e7})
    assert (cfg.fit_tol, cfg.blowup, cfg.ridge, cfg.finish) == (1e30, 1e9, 1e6, 1e7)
    for name, value, most in (("ridge", 1e7, "1e+06"), ("lr", 2e6, "1e+06"), ("fit_tol", 1e31, "1e+30"),
                              ("finish", 1e8, "1e+07")):
        with pytest.raises(InputError, match=re.escape(f"als option {name} must be at most {most}")):
            NumConfig.from_options({name: value})


@pytest.mark.parametrize("method, options, message", [
    ("als", {"ridge": 1e39}, "als option ridge must be at most 1e+06, got 1e+39"),
    ("spn", {"ridge": 1e308}, "spn option ridge must be at most 1e+06"),
    ("spn", {"pull_growth": 1e39}, "spn option pull_growth must be at most 1e+06"),
    ("spn", {"engine": "single", "l1_growth": 1e39}, "spn option l1_growth must be at most 1e+06"),
    ("spn", {"engine": "single", "samples": 2**40}, "spn option samples must be at most 100000"),
    ("als", {"clip": 0}, "als option clip must be above 0"),
])
def test_a_bad_numerical_option_is_one_input_error(method, options, message):
    with pytest.raises(InputError, match=re.escape(message)):
        fastmm.search((2, 2, 2), 7, method=method, options=options, time_limit=5)


def test_the_cli_refuses_ridge_1e39_with_exit_2():
    res = subprocess.run([sys.executable, "-m", "fastmm", "search", "2", "2", "2", "--rank", "7", "--method",
                          "als", "--option", "ridge=1e39", "-q", "--time-limit", "4"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == "error: als option ridge must be at most 1e+06, got 1e+39"


# -- 4. the time limit of big numerical searches, and of long walk calls -----------------------


def test_a_big_batch_steps_in_groups_that_look_at_the_clock():
    """⟨8,8,8;340⟩'s 64 restarts step a few at a time; once the clock says stop, the step ends
    after the group it is in (OutOfTime), where one step of all 64 took 4-12 s."""
    import torch

    from fastmm.search.base import SearchTask
    from fastmm.search.numerical import Batch, OutOfTime
    from fastmm.search.numerical_options import NumConfig

    task = SearchTask(8, 8, 8, 340, "ZT", 0, 3.0, {})
    calls = []

    def expired() -> bool:
        calls.append(1)
        return True

    batch = Batch(task, NumConfig(batch=64, optimizer="adam"), torch.device("cpu"),
                  torch.Generator().manual_seed(0), expired)
    assert 1 <= batch.group < 64
    before = [f.clone() for f in batch.factors]
    with pytest.raises(OutOfTime):
        batch.step(torch.arange(64), "adam", "none", 1, 1.0)
    assert len(calls) == 1
    moved = (batch.factors[0] != before[0]).flatten(1).any(dim=1)
    assert int(moved.sum()) == batch.group  # the first group stepped, the rest did not


def test_small_batches_step_in_one_group():
    import torch

    from fastmm.search.base import SearchTask
    from fastmm.search.numerical import Batch
    from fastmm.search.numerical_options import NumConfig

    for shape, rank in (((2, 3, 4), 20), ((3, 3, 3), 23), ((4, 4, 4), 49)):
        batch = Batch(SearchTask(*shape, rank), NumConfig(batch=64), torch.device("cpu"),
                      torch.Generator().manual_seed(0))
        assert batch.group >= 64, shape


@pytest.mark.parametrize("method", ["spn", "als"])
def test_an_8x8x8_numerical_search_honours_its_time_limit(method):
    t = time.perf_counter()
    with pytest.raises(fastmm.FastmmError, match="within 3 s"):
        fastmm.search((8, 8, 8), 340, method=method, time_limit=3, sympy=False)
    assert time.perf_counter() - t < 3 + 4


@pytest.mark.parametrize("kind", ["flip", "ternary", "symmetric"])
def test_a_walk_in_pieces_is_the_same_walk(kind):
    """A walk with a stop flag runs in pieces of walk_piece steps; the pieces make the same
    walk, step for step, as one call."""
    import numpy as np

    from fastmm.search import flip, symmetric, ternary

    if flip_c.load() is None:
        pytest.skip("no C compiler")

    def make(backend):
        if kind == "symmetric":
            split = symmetric.start(3, symmetric.cube_groups(3, 23))
            return symmetric.SymWalker(3, split, 5, backend, 0)
        if kind == "flip":
            from fastmm.search.terms import to_terms
            return flip.Walker(to_terms(naive_scheme(3, 3, 3)), 5, backend, 27)
        from fastmm.search.ternary_py import to_terms
        return ternary.Walker(to_terms(naive_scheme(3, 3, 3)), 5, backend, 27)

    for backend in ("c", "python") if kind != "symmetric" else ("c",):
        one, pieces = make(backend), make(backend)
        looks: list[int] = []
        pieces.stop = lambda looks=looks: bool(looks.append(1))  # counts the looks, never stops
        piece = flip.walk_piece(backend, pieces.F.shape[1] if kind == "symmetric" else pieces.cap)
        steps = 3 * piece + 17
        plateau, plus = 40, 27
        if kind == "symmetric":
            plus = one.rank
        assert one.walk(steps, 0, plateau, plus) == pieces.walk(steps, 0, plateau, plus) == steps
        assert len(looks) == 3
        for attr in ("F", "st", "rng") + (("E",) if kind == "symmetric" else ()):
            a, b = getattr(one, attr), getattr(pieces, attr)
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), (backend, attr)


def test_a_huge_chunk_no_longer_outlasts_the_time_limit():
    """--option chunk=10**12: one compiled walk call ran for hours (past a SIGTERM too); now each
    walk looks at its stop flag between pieces."""
    code = (
        "import time, fastmm\n"
        "for method, shape, rank, opts in (('flip', (3, 3, 3), 22, {}), ('ternary', (3, 3, 3), 22, {}),\n"
        "        ('symmetric', (4, 4, 4), 46, {'group': 'c3'})):\n"
        "    t = time.perf_counter()\n"
        "    try:\n"
        "        fastmm.search(shape, rank, method=method, time_limit=1,\n"
        "                      options={'chunk': 10**12, 'backend': 'c', **opts})\n"
        "    except fastmm.FastmmError:\n"
        "        pass\n"
        "    print(method, round(time.perf_counter() - t, 2))\n")
    if flip_c.load() is None:
        pytest.skip("no C compiler")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    for line in res.stdout.splitlines():
        method, seconds = line.split()
        assert float(seconds) < 1 + 3, line


def test_pool_walks_end_at_the_time_limit_whatever_their_chunk_and_limit():
    """One pool attempt used to walk `limit` steps in pieces of `chunk` without looking at the
    clock: with both at 10**12 a 2 s search ran for minutes."""
    from fastmm.errors import SearchFailed

    t0 = time.monotonic()
    with pytest.raises(SearchFailed, match="within 2 s"):
        fastmm.search((3, 3, 4), 28, method="pool", time_limit=2, sympy=False,
                      options={"chunk": 10**12, "limit": 10**12, "max_limit": 10**12})
    assert time.monotonic() - t0 < 12
