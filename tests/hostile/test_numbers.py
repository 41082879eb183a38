"""Hostile numbers: on the command line (exit 2, one line, before any work) and in the validation
layer (exact when within the bound, refused otherwise, never slow)."""

from __future__ import annotations

import math
import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmm.errors import InputError, SchemeFormatError
from fastmm.io import dumps
from fastmm.reference import strassen
from fastmm.validate import COEFFICIENT_LIMIT, parse_decimal_text, parse_rational_text, time_limit
from tests.hostile.contract import assert_clean, run_cli

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
BAD_INTS = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63, max_value=2**200),
                     st.sampled_from(["nan", "inf", "1.5", "1e3", "", "0x10", "--1"]))


@pytest.fixture(scope="module")
def scheme_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("n") / "s.json"
    f.write_text(dumps(strassen()))
    return f


@SETTINGS
@given(option=st.sampled_from(["--size", "--levels", "--repeat", "--cutoff", "--seed"]), value=BAD_INTS)
def test_bench_refuses_bad_numbers_before_any_work(scheme_file, option, value):
    r = run_cli("bench", scheme_file, "--size", "64", option, str(value))
    assert_clean(r, allowed=(2,))


@SETTINGS
@given(value=st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "0", "-1", "1e400", "", "x"]),
                       st.floats(max_value=0)))
def test_search_refuses_bad_time_limits_at_once(value):
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--time-limit", str(value))
    assert_clean(r, allowed=(2,))


@SETTINGS
@given(text=st.from_regex(r"\A[+-]?\d{0,30}(\.\d{0,30})?([eE][+-]?\d{1,3})?\Z", fullmatch=True))
def test_decimals_are_exact_within_the_bound_and_refused_beyond(text):
    try:
        want = Fraction(text) if text.isascii() else None  # only ASCII digits are numbers here
    except (ValueError, ZeroDivisionError):
        want = None
    try:
        got = parse_decimal_text(text, "x")
    except SchemeFormatError:
        assert want is not None
        assert abs(want.numerator) >= COEFFICIENT_LIMIT or want.denominator >= COEFFICIENT_LIMIT
        return
    if want is None:
        assert got is None
    else:
        assert got == want


@SETTINGS
@given(num=st.integers(-(2**70), 2**70), den=st.integers(-(2**70), 2**70))
def test_rationals_are_exact_within_the_bound(num, den):
    text = f"{num}/{den}"
    if den <= 0:
        with pytest.raises(SchemeFormatError):
            if parse_rational_text(text, "x") is None:
                raise SchemeFormatError("not a rational")
        return
    f = Fraction(num, den)
    if abs(f.numerator) < COEFFICIENT_LIMIT and f.denominator < COEFFICIENT_LIMIT:
        assert parse_rational_text(text, "x") == f
    else:
        with pytest.raises(SchemeFormatError, match="2\\^62"):
            parse_rational_text(text, "x")


@SETTINGS
@given(exp=st.integers(-(10**12), 10**12), digits=st.integers(1, 60))
def test_huge_exponents_cost_nothing(exp, digits):
    t0 = time.monotonic()
    try:
        parse_decimal_text(f"{'7' * digits}e{exp}", "x")
    except SchemeFormatError:
        pass
    assert time.monotonic() - t0 < 0.05


@SETTINGS
@given(x=st.floats(allow_nan=True, allow_infinity=True))
def test_time_limits(x):
    if math.isfinite(x) and 0 < x <= 10**7:
        assert time_limit(x) == x
    else:
        with pytest.raises(InputError):
            time_limit(x)


# Python's int() and float() read other scripts' digits ('٣' is 3) and digit groups ('1_0' is 10):
# typed on the command line they were used as those numbers (helper-90); scheme files refuse them
@pytest.mark.parametrize("args", [
    ("search", "2", "2", "2", "--rank", "7", "--seed", "1_0"),
    ("search", "٢", "2", "2", "--rank", "7"),
    ("search", "2", "2", "2", "--rank", "٧"),
    ("search", "2", "2", "2", "--rank", "7", "--time-limit", "١٠"),
    ("search", "2", "2", "2", "--rank", "7", "--time-limit", "1_0"),
    ("lift", "{file}", "--tries", "3_2"),
])
def test_numbers_typed_in_other_digits_or_with_underscores_are_refused(args, scheme_file, tmp_path):
    r = run_cli(*[str(scheme_file) if a == "{file}" else a for a in args], "-o", tmp_path / "x.json")
    assert_clean(r, allowed=(2,))
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("args, message", [
    (("permute", "{file}", "--shape", "٢,2,2"), "--shape wants N,M,P"),
    (("permute", "{file}", "--shape", "2,2,2_0"), "--shape wants N,M,P"),
    (("project", "{file}", "--axis", "n", "--index", "١"), "not a valid integer"),
])
def test_combine_numbers_are_ascii_too(args, message, scheme_file, tmp_path):
    named = [str(scheme_file) if a == "{file}" else a for a in args]
    r = run_cli("combine", *named, "-o", tmp_path / "x.json")
    assert_clean(r, allowed=(2,))
    assert message in r.err and not (tmp_path / "x.json").exists()


def test_a_huge_typed_number_is_cut_in_its_message(scheme_file, tmp_path):
    nines = "9" * 4000
    for args in (("combine", "project", scheme_file, "--axis", "n", "--index", nines),
                 ("combine", "permute", scheme_file, "--shape", f"{nines},2,2"),
                 ("search", nines, "2", "2", "--rank", "7")):
        r = run_cli(*args, "-o", tmp_path / "x.json")
        assert_clean(r, allowed=(1, 2))
        assert len(r.err) < 200, r.err
        cuts = ("(4000 digits)", "at most 64 characters", "(4004 characters)")
        assert any(cut in r.err for cut in cuts), r.err


def test_plain_numbers_still_read_as_before(scheme_file, tmp_path):
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--seed", "3", "--time-limit", "1e1", "-q",
                "--no-sympy", "-o", tmp_path / "x.json")
    assert_clean(r, allowed=(0,))
    r = run_cli("combine", "permute", scheme_file, "--shape", "2x2x2", "-o", tmp_path / "y.json")
    assert_clean(r, allowed=(0,))


def test_per_stage_training_numbers_are_ascii_too():
    from fastmm.nn.config import parse_per_stage

    assert parse_per_stage("3, 4", 2, int, "epochs") == [3, 4]
    for text in ("٣", "1_0", "3,٤"):
        with pytest.raises(InputError, match="--epochs must be a whole number"):
            parse_per_stage(text, 2, int, "epochs")


@pytest.mark.parametrize("option, value", [
    ("--seed", "0" * 70 + "1"),  # 71 characters: past the 64 that scheme files allow a number
    ("--time-limit", "0" * 70 + "10"),
    ("--time-limit", "1e99999"),  # a 5-digit exponent
])
def test_typed_numbers_have_the_bounds_of_numbers_in_files(value, option):
    r = run_cli("search", "2", "2", "2", "--rank", "7", option, value, "--no-sympy")
    assert_clean(r, allowed=(2,))
    assert r.rc == 2


def test_typed_numbers_within_the_bounds_still_read(tmp_path):
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--time-limit", "1e0001", "--seed", "0" * 60 + "1",
                "--no-sympy", "-q", "-o", tmp_path / "x.json")
    assert r.rc == 0, r.err
