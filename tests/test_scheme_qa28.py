"""QA round 28 on Scheme: int64 extremes are exact, nothing a caller holds changes a scheme, the
methods refuse bad arguments with SchemeError, and coefficient text follows the file rules."""

from fractions import Fraction

import numpy as np
import pytest

import fastmm
from fastmm.errors import SchemeError
from fastmm.reference import strassen


def _with_extra_product(a0: int, b0: int) -> fastmm.Scheme:
    """Strassen plus a product a0*a11 × b0*b11 added to C11: valid only if a0*b0 == 0."""
    s = strassen()
    return fastmm.Scheme(2, 2, 2, np.vstack([s.Wa, [[a0, 0, 0, 0]]]), np.vstack([s.Wb, [[b0, 0, 0, 0]]]),
                         np.hstack([s.Wc, [[1], [0], [0], [0]]]))


def test_int64_minimum_times_two_is_not_taken_for_zero():
    """-2**63 · 2 wraps to 0 in int64: the scheme is wrong by -2**64·a11·b11 and must fail."""
    bad = _with_extra_product(-(2**63), 2)
    assert bad.Wa.dtype == object and bad.Wa[7, 0] == -(2**63)
    verdict = fastmm.verify(bad, sympy=False)
    assert not verdict.ok
    assert "-18446744073709551615" in verdict.lines()[0]
    assert not fastmm.verify(bad)  # the sympy proof agrees: no AssertionError
    with pytest.raises(fastmm.VerificationError):
        fastmm.verified(bad, sympy=False)


def test_large_int64_coefficients_stay_exact_both_ways():
    assert fastmm.verify(_with_extra_product(2**62, 0), sympy=False).ok
    assert not fastmm.verify(_with_extra_product(2**62, 4), sympy=False).ok
    small = _with_extra_product(2**62 - 1, 0)
    assert small.Wa.dtype == np.int64


def test_fraction_arrays_handed_out_cannot_change_the_scheme():
    s = strassen()
    q = fastmm.verified(fastmm.Scheme(2, 2, 2, s.Wa * Fraction(1, 3), s.Wb, s.Wc * 3), sympy=False)
    wa = q.Wa
    try:
        wa.base.setflags(write=True)
        wa.base[0, 0] = 99
    except ValueError:
        pass
    assert q.Wa[0, 0] == Fraction(1, 3) and fastmm.verify(q, sympy=False).ok


def test_provenance_and_verified_handed_out_are_copies():
    s = fastmm.verified(strassen().with_meta(provenance={"method": "reference"}), sympy=False)
    s.provenance["method"] = "forged"
    s.verified["sympy"] = "proved"
    assert s.provenance == {"method": "reference"}
    assert s.verified["sympy"] != "proved" and s.verified["ok"] is True


@pytest.mark.parametrize("call,match", [
    (lambda s: s.with_meta(foo=1), "with_meta takes"),
    (lambda s: s.factor_matrices(7), "term t"),
    (lambda s: s.factor_matrices(-1), "term t"),
    (lambda s: s.factor_matrices("0"), "term t"),
    (lambda s: s.permuted(None), "three integers"),
    (lambda s: s.permuted(5), "three integers"),
    (lambda s: s.permuted((2, 2, 3)), "not a permutation"),
    (lambda s: s.project("n", None), "index"),
    (lambda s: s.project("n", 2), "cannot project"),
    (lambda s: s.project("n", 0.5), "index"),
    (lambda s: s.project("n", True), "index"),
    (lambda s: s.project(["n"], 0), "axis"),
])
def test_methods_refuse_bad_arguments_with_one_scheme_error(call, match):
    with pytest.raises(SchemeError, match=match):
        call(strassen())


def test_methods_still_work_on_good_arguments():
    s = strassen()
    a, b, c = s.factor_matrices(6)
    assert a.shape == b.shape == c.shape == (2, 2)
    assert s.project("n", 1).shape == (1, 2, 2) and s.permuted([2, 2, 2]).shape == (2, 2, 2)


@pytest.mark.parametrize("text", ["1_0", " 1e0 ", "1/0", "\u0663", "0x1", "1.5"])
def test_coefficient_text_outside_the_file_rules_is_refused(text):
    wa = np.array(strassen().Wa, dtype=object)
    wa[0, 0] = text
    with pytest.raises(SchemeError, match="exact numbers"):
        fastmm.Scheme(2, 2, 2, wa, strassen().Wb, strassen().Wc)


@pytest.mark.parametrize("value,expected", [("1/2", Fraction(1, 2)), (" -3 ", -3),
                                            (np.longdouble(0.5), Fraction(1, 2)),
                                            (np.float32(0.25), Fraction(1, 4))])
def test_exact_text_and_numpy_floats_are_taken_exactly(value, expected):
    wa = np.array(strassen().Wa, dtype=object)
    wa[0, 0] = value
    assert fastmm.Scheme(2, 2, 2, wa, strassen().Wb, strassen().Wc).Wa[0, 0] == expected


def test_kron_of_big_integer_schemes_is_exact():
    """Strassen after the change of basis A -> A·Y with Y = [[1, 2^32], [0, 1]]: its Kronecker
    square has coefficients near 2^64, which int64 products would wrap."""
    s = strassen()
    big = 2**32
    y = np.array([[1, big], [0, 1]], dtype=object)
    y_inv = np.array([[1, -big], [0, 1]], dtype=object)
    # (A Y)(Y⁻¹ B) = A B: a term's A-factor a becomes a·Y⁻¹ on the new A = A·Y, its B-factor Y·b
    wa = np.array([(np.array(r, dtype=object).reshape(2, 2) @ y_inv).reshape(4) for r in s.Wa])
    wb = np.array([(y @ np.array(r, dtype=object).reshape(2, 2)).reshape(4) for r in s.Wb])
    z = fastmm.Scheme(2, 2, 2, wa, wb, s.Wc)
    assert fastmm.verify(z, sympy=False).ok and z.ring == "Z"
    k = z.kron(z)
    assert k.Wa.dtype == object and max(abs(int(x)) for x in k.Wa.flat) == big * big
    assert fastmm.verify(k, sympy=False).ok
