"""QA-30: files and schemes that cost too much or crashed: a denominator divisible by the
equivalence check's prime, rational schemes whose common denominator has thousands of bits,
and lifts whose linear systems would take gigabytes."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
from sympy import prevprime

import fastmm
from fastmm.equivalence import equivalent
from fastmm.errors import InputError
from fastmm.io import dumps
from fastmm.search import lift as lift_mod
from tests.hostile.contract import assert_clean, run_cli


def _rescaled(scheme: fastmm.Scheme, factors: list[Fraction]) -> fastmm.Scheme:
    """The scheme with product t's A factor times factors[t] and its C column divided by it."""
    wa = scheme.Wa.astype(object)
    wc = scheme.Wc.astype(object)
    for t, f in enumerate(factors):
        wa[t] = [Fraction(int(v)) * f for v in wa[t]]
        wc[:, t] = [Fraction(int(v)) / f for v in wc[:, t]]
    return fastmm.Scheme(*scheme.shape, wa, scheme.Wb, wc, ring="Q")


def test_a_denominator_divisible_by_2_pow_31_minus_1_is_compared_modulo_another_prime(tmp_path):
    strassen = fastmm.strassen()
    q = 2**31 - 1
    other = _rescaled(strassen, [Fraction(q)] + [Fraction(1)] * 6)
    assert fastmm.verify(other, sympy=False)
    assert equivalent(strassen, other).status == "equivalent"
    path = tmp_path / "m31.json"
    fastmm.save(fastmm.verified(other, sympy=False), path)
    r = run_cli("show", path)
    assert_clean(r, allowed=(0,))
    assert "equivalence: equivalent to catalogued 2x2x2-rank7-ZT.json" in r.out


def test_a_modulo_2_match_says_so(tmp_path):
    path = tmp_path / "z2.json"
    fastmm.save(fastmm.verified(fastmm.strassen().with_meta(ring="Z2"), sympy=False), path)
    r = run_cli("show", path)
    assert "equivalent modulo 2 to catalogued 2x2x2-rank7-ZT.json" in r.out, r.out


def _primes(count: int, start: int = 2**25) -> list[int]:
    out = []
    for _ in range(count):
        start = prevprime(start)
        out.append(start)
    return out


def test_the_big_integer_bound_weighs_products_of_nonzeros_by_their_bits():
    from fastmm.verify import check_big_work

    naive = fastmm.naive_scheme(6, 6, 6)
    dense = [np.ones_like(w) for w in (naive.Wa, naive.Wb, naive.Wc)]
    check_big_work(naive, *dense, bits=64)  # 216 dense products of small integers: cheap
    with pytest.raises(InputError, match="too costly to verify exactly"):
        check_big_work(naive, *dense, bits=21_600)  # the 500 KB file that took 4 minutes
    check_big_work(naive, naive.Wa, naive.Wb, naive.Wc, bits=21_600)  # one nonzero per factor


def test_a_rational_scheme_beyond_the_bound_is_refused_at_once(tmp_path, monkeypatch):
    naive = fastmm.naive_scheme(6, 6, 6)
    primes = _primes(2 * naive.rank)
    slow = _rescaled(naive, [Fraction(primes[2 * t], primes[2 * t + 1]) for t in range(naive.rank)])
    monkeypatch.setattr("fastmm.validate.MAX_BIG_INTEGER_WORK", 1000)
    t0 = time.monotonic()
    with pytest.raises(InputError, match="too costly to verify exactly"):
        fastmm.verify(slow, sympy=False)
    assert time.monotonic() - t0 < 10
    path = tmp_path / "slow.json"
    path.write_text(dumps(slow))
    r = run_cli("verify", "--no-sympy", path)
    assert_clean(r, allowed=(2,))
    assert "too costly" in r.err


def test_a_rational_scheme_with_a_few_large_denominators_still_verifies():
    strassen = fastmm.strassen()
    primes = _primes(14, 2**40)
    scaled = _rescaled(strassen, [Fraction(primes[2 * t], primes[2 * t + 1]) for t in range(7)])
    assert fastmm.verify(scaled, sympy=False)
    broken = scaled.Wc.copy()
    broken[0, 0] += Fraction(1, primes[0])
    assert not fastmm.verify(fastmm.Scheme(2, 2, 2, scaled.Wa, scaled.Wb, broken, ring="Q"), sympy=False)


def _kron_z2_888() -> fastmm.Scheme:
    z2 = fastmm.catalog_scheme((4, 4, 4), ring="Z2")
    assert z2.ring == "Z2" and z2.rank == 47
    return fastmm.combine("kron", z2, fastmm.naive_scheme(2, 2, 2), sympy=False)


def test_a_lift_whose_hensel_system_is_too_large_skips_hensel_and_says_so():
    big = _kron_z2_888()
    assert not lift_mod.hensel_fits(big.shape, big.rank)
    assert lift_mod.hensel_fits((6, 6, 6), 161)
    t0 = time.monotonic()
    with pytest.raises(fastmm.FastmmError, match="Hensel lifting was not tried"):
        fastmm.lift(big, "Z", tries=2, sympy=False)
    assert time.monotonic() - t0 < 30


def test_a_sign_system_beyond_the_bound_is_refused_in_words(monkeypatch):
    monkeypatch.setattr(lift_mod, "MAX_SYSTEM_BITS", 100)
    z2 = fastmm.strassen().with_meta(ring="Z2")
    with pytest.raises(InputError, match="too large to lift: its mod-4 sign system has"):
        fastmm.lift(z2, "ZT", tries=1, sympy=False)


def test_the_lift_time_limit_stops_the_systems_being_built():
    big = _kron_z2_888()
    t0 = time.monotonic()
    with pytest.raises(fastmm.FastmmError):
        fastmm.lift(big, "ZT", tries=5, sympy=False, time_limit=1)
    assert time.monotonic() - t0 < 20


# -- numerical search, outputs and labels -----------------------------------------------------------


def test_als_stops_at_its_time_limit_between_fitted_restarts():
    pytest.importorskip("torch")
    t0 = time.monotonic()
    with pytest.raises(fastmm.SearchFailed):
        fastmm.search((2, 2, 4), 14, method="als", time_limit=3, sympy=False)
    assert time.monotonic() - t0 < 12  # it took 30-40 s: every fitted restart's frames in one go


def test_save_fitted_is_made_absolute_and_its_parent_must_exist(tmp_path, monkeypatch):
    from fastmm.api import SearchRequest

    monkeypatch.chdir(tmp_path)
    req = SearchRequest((2, 2, 2), 7, method="als", options={"save_fitted": "pts"})
    assert req.options["save_fitted"] == str(tmp_path / "pts")
    with pytest.raises(InputError, match="does not exist"):
        SearchRequest((2, 2, 2), 7, method="als", options={"save_fitted": "nest/a/b"})
    assert not (tmp_path / "nest").exists()


def test_export_and_finish_refuse_to_write_over_their_input(tmp_path):
    scheme = tmp_path / "s.json"
    fastmm.save(fastmm.verified(fastmm.strassen(), sympy=False), scheme)
    before = scheme.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(scheme)
    for out in (scheme, link):
        r = run_cli("export", scheme, "--to", "c", "-o", out)
        assert_clean(r, allowed=(2,))
        assert "is the input file" in r.err
    r = run_cli("finish", scheme, "-o", scheme)
    assert_clean(r, allowed=(2,))
    assert "is the input file" in r.err
    assert scheme.read_bytes() == before


def test_load_verified_names_the_ring_of_the_coefficients(tmp_path):
    path = tmp_path / "q.json"
    text = dumps(fastmm.strassen()).replace('"ring": "ZT"', '"ring": "Q"')
    assert '"ring": "Q"' in text
    path.write_text(text)
    assert fastmm.load_verified(path).ring == "ZT"


@pytest.mark.parametrize("ring", ["Q", "Z2", "X"])
def test_lift_names_the_rings_it_lifts_to(ring):
    with pytest.raises(InputError, match="lifting goes from GF\\(2\\) to ZT or Z, not"):
        fastmm.lift(fastmm.strassen().with_meta(ring="Z2"), ring, sympy=False)


def test_a_file_name_is_read_as_given(tmp_path):
    r = run_cli("verify", "")
    assert_clean(r, allowed=(2,))
    assert "the file name is empty" in r.err
    path = tmp_path / "s.json"
    fastmm.save(fastmm.verified(fastmm.strassen(), sympy=False), path)
    r = run_cli("verify", "--no-sympy", f"{path}/")
    assert_clean(r, allowed=(2,))
    assert "Not a directory" in r.err


def test_finish_names_every_factor_when_their_row_counts_differ(tmp_path):
    import json
    from pathlib import Path

    points = Path(__file__).resolve().parent.parent / "results" / "numerical_points" / "2x4x5-r32-fitted.json"
    fitted = json.loads(points.read_text())
    point = fitted["points"][0]
    point["Wa"] = point["Wa"][:-1]
    fitted["points"] = [point]
    path = tmp_path / "short.json"
    path.write_text(json.dumps(fitted))
    r = run_cli("finish", path)
    assert_clean(r, allowed=(2,))
    assert "have 31, 32, 32 rows" in r.err


def test_one_denominator_per_product_of_a_big_scheme_still_verifies():
    laderman_kron = fastmm.combine("kron", fastmm.laderman(), fastmm.naive_scheme(2, 2, 2), sympy=False)
    primes = _primes(laderman_kron.rank, 2**30)
    scaled = _rescaled(laderman_kron, [Fraction(1, q) for q in primes])
    assert fastmm.verify(scaled, sympy=False)


def test_lift_refuses_to_write_over_its_input(tmp_path):
    path = tmp_path / "z2.json"
    fastmm.save(fastmm.verified(fastmm.strassen().with_meta(ring="Z2"), sympy=False), path)
    before = path.read_bytes()
    r = run_cli("lift", path, "-o", path)
    assert_clean(r, allowed=(2,))
    assert "is the input file" in r.err and path.read_bytes() == before
