"""QA-112: schemes within every file bound that still cost minutes: rational schemes with many
distinct large denominators (verify), schemes beyond the shared-subexpression limit (bench,
matmul: every code builder), generated steps whose leaf products paid for the whole frame, a
search start whose reduction ignored the time limit, and a fast-matmul file whose substitutions
were applied before its shape was checked."""

from __future__ import annotations

import random
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import fastmm
from fastmm.bench import bench, describe
from fastmm.errors import InputError, SchemeFormatError
from fastmm.export.c import emit_scheme_c
from fastmm.export.formats import fast_matmul_scheme
from fastmm.export.pycode import numpy_function, numpy_source
from fastmm.export.slp import build_slp
from fastmm.export.text import slp_text
from fastmm.io import dumps
from fastmm.metrics import CSE_WORK_LIMIT, cse_work
from fastmm.search import flip, flip_py
from fastmm.search.base import SearchTask
from fastmm.search.terms import gf2_tensor_ok, to_terms
from tests.hostile.contract import assert_clean, run_cli


def _long_rational(pairs: int, bits: int = 61, seed: int = 4) -> fastmm.Scheme:
    """⟨1,1,1;2·pairs+1⟩: a·b·c = 1, then pairs x·1·(1/x) and x·1·(-1/x) with distinct odd x."""
    rng = random.Random(seed)
    xs = [rng.getrandbits(bits) | 1 | (1 << (bits - 1)) for _ in range(pairs)]
    wa = [[1]] + [[x] for x in xs for _ in range(2)]
    wb = [[1]] * (2 * pairs + 1)
    wc = [[Fraction(1)] + [Fraction(s, x) for x in xs for s in (1, -1)]]
    return fastmm.Scheme(1, 1, 1, np.array(wa, dtype=object), np.array(wb, dtype=object),
                         np.array(wc, dtype=object), ring="Q")


def test_many_distinct_denominators_are_refused_before_the_common_one_is_built(monkeypatch, tmp_path):
    slow = _long_rational(4000)  # an lcm of 244,000 bits: 8 s and 300 MB before the refusal

    def built(*args, **kwargs):
        raise AssertionError("the coefficients were scaled to the common denominator")

    monkeypatch.setattr("fastmm.verify._integers", built)
    t0 = time.monotonic()
    with pytest.raises(InputError, match="too costly to verify exactly"):
        fastmm.verify(slow, sympy=False)
    assert time.monotonic() - t0 < 5
    monkeypatch.undo()
    path = tmp_path / "lr.json"
    path.write_text(dumps(slow))
    r = run_cli("verify", "--no-sympy", path)
    assert_clean(r, allowed=(2,))
    assert "too costly" in r.err


def test_distinct_denominators_within_the_bound_still_verify_exactly():
    fine = _long_rational(100)  # 6,100 bits: cheap
    assert fastmm.verify(fine, sympy=False)
    wc = fine.Wc.copy()
    wc[0, 2] += Fraction(1, 2**61 + 1)  # off by one part in 2^61 in one product
    tampered = fastmm.Scheme(1, 1, 1, fine.Wa, fine.Wb, wc, ring="Q")
    assert not fastmm.verify(tampered, sympy=False)


def test_a_catalogued_rational_scheme_verifies_and_a_tampered_one_fails():
    q = fastmm.load(Path(fastmm.__file__).parent / "data" / "catalog" / "2x4x5-rank32-Q.json")
    assert q.ring == "Q" and not q.is_integral
    assert fastmm.verify(q, sympy=False)
    wc = q.Wc.astype(object)
    t, k = next((t, k) for (t, k), x in np.ndenumerate(wc) if Fraction(x).denominator > 1)
    wc[t, k] = Fraction(wc[t, k]) * 3
    assert not fastmm.verify(fastmm.Scheme(*q.shape, q.Wa, q.Wb, wc, ring="Q"), sympy=False)


def _padded_strassen(pairs: int) -> fastmm.Scheme:
    """Strassen plus `pairs` cancelling pairs of all-ones terms (the second with C negated)."""
    s = fastmm.strassen()
    ones = np.ones((2 * pairs, 4), dtype=np.int64)
    signs = np.tile([1, -1], pairs)
    wc = np.hstack([s.Wc, np.ones((4, 1), dtype=np.int64) * signs[None, :]])
    return fastmm.Scheme(2, 2, 2, np.vstack([s.Wa, ones]), np.vstack([s.Wb, ones]), wc, ring="ZT")


BIG = _padded_strassen(150)  # ⟨2,2,2;307⟩: CSE work 4·307² > 250,000


def test_every_code_builder_skips_sharing_beyond_the_limit():
    assert cse_work(BIG) > CSE_WORK_LIMIT
    t0 = time.monotonic()
    slp = build_slp(BIG, cse=True, drop_dead=True)
    assert not slp.cse and slp.too_big_to_share
    assert "no sharing: too large for the shared-subexpression search" in numpy_source(BIG)
    assert "no sharing: too large" in slp_text(BIG)
    assert "No sharing: too large for the shared-subexpression search" in emit_scheme_c(BIG)
    assert time.monotonic() - t0 < 10
    small = build_slp(fastmm.strassen(), cse=True)
    assert small.cse and not small.too_big_to_share


def test_bench_says_its_code_was_built_without_sharing():
    r = bench(BIG, 4, impl="numpy", repeat=1, cutoff=1)
    assert r.extra["shared_subexpressions"] is False
    assert any("without shared subexpressions" in line for line in describe(r))
    plain = bench(fastmm.strassen(), 4, impl="numpy", repeat=1, cutoff=1)
    assert not any("without shared" in line for line in describe(plain))


def test_leaf_products_do_not_enter_the_generated_step():
    fn = numpy_function(fastmm.strassen())
    real = fn.__globals__["_step"]
    calls = []

    def counted(*args):
        calls.append(args[2])
        return real(*args)

    fn.__globals__["_step"] = counted
    A = np.arange(64.0).reshape(8, 8)
    B = A.T + 1
    for levels, steps in ((0, 1), (1, 1), (2, 8), (3, 57)):
        calls.clear()
        np.testing.assert_allclose(fn(A, B, levels=levels, leaf=1), A @ B)
        assert len(calls) == steps, (levels, calls)  # once per level that splits, never for a leaf
    calls.clear()
    np.testing.assert_allclose(fn(A, B, levels=3, leaf=2), A @ B)  # 1x1 blocks are below the leaf
    assert len(calls) == 1 + 7


def test_start_reduction_stops_when_asked():
    terms = to_terms(_padded_strassen(300))
    full = flip.reduce_terms(terms)
    assert len(full[0]) == 7
    part = flip.reduce_terms(terms, stop=lambda: True)
    assert 7 < len(part[0]) < len(terms[0])  # cut short, and still the same tensor
    assert gf2_tensor_ok((2, 2, 2), part)


def test_the_search_reduces_its_start_within_its_deadline(monkeypatch):
    given = []
    real = flip_py._settle

    def spy(F, r, work, stop=None):
        given.append(stop)
        return real(F, r, work, stop)

    monkeypatch.setattr(flip_py, "_settle", spy)
    task = SearchTask(2, 2, 2, rank=7, time_limit=0.0, options={"start": _padded_strassen(300)})
    out = flip.run(task, lambda p: None, lambda: False)
    assert given and given[0] is not None and given[0]()  # the reduction sees the deadline passed
    assert out.stopped == "time"


def test_a_fast_matmul_file_of_no_shape_is_refused_before_its_substitutions(monkeypatch):
    def substituted(*args):
        raise AssertionError("substituted before the shape was checked")

    monkeypatch.setattr("fastmm.export.formats._substituted", substituted)
    # U: A's one entry and 199 variables over it; V one row, W two: sizes 1, 1, 2 fit no shape
    row = " ".join(["1"] * 199)
    text = "\n".join([row] * 200 + ["#", row, "#", row, row, "#"] + ["1"] * 199) + "\n"
    with pytest.raises(SchemeFormatError, match="fit no matrix shape"):
        fast_matmul_scheme(text)


def test_ternary_and_pool_searches_reduce_their_start_within_the_deadline(monkeypatch):
    """As flip's: a huge --start kept the ternary and pool methods reducing for 36–39 s past a
    5 s limit; their reductions now see the deadline too."""
    from fastmm.search import pool, ternary, ternary_py

    given = []
    for module in (flip_py, ternary_py):
        real = module._settle

        def spy(F, r, work, stop=None, real=real):
            given.append(stop)
            return real(F, r, work, stop)

        monkeypatch.setattr(module, "_settle", spy)
    start = _padded_strassen(300)
    for method in (ternary, pool):
        given.clear()
        task = SearchTask(2, 2, 2, rank=7, time_limit=60, options={"start": start})
        # a stop asked for once the reduction has begun (Ctrl-C, or the deadline) is seen there
        out = method.run(task, lambda p: None, lambda: bool(given))
        assert given and given[0] is not None and given[0](), method.__name__
        assert out.scheme is None or out.scheme.rank > 7, method.__name__
