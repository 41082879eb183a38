"""fastmm.matmul (fastmm/multiply.py): exact integer products in numpy's dtype, the same argument
checks and result dtypes with and without a C compiler, and a compiled-function cache keyed on
what the generated code depends on."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import OrderedDict
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

import fastmm
from fastmm import multiply
from fastmm.errors import FastmmError, InputError
from fastmm.export import build
from fastmm.reference import laderman, strassen


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch, tmp_path):
    """Each test runs with the generated C ("compiled") and without a C compiler ("numpy")."""
    monkeypatch.setattr(multiply, "_COMPILED", OrderedDict())
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path / "cache"))
    if request.param == "numpy":
        monkeypatch.setenv("CC", "/nonexistent/cc")
    else:
        try:
            build.find_compiler()
        except FastmmError:
            pytest.skip("no C compiler ($CC, cc, gcc or clang)")
    return request.param


def test_an_int64_product_past_2_to_53_is_exact(path):
    A = np.array([[2**27 + 1]], dtype=np.int64)
    C = fastmm.matmul(A, A)
    assert C.dtype == np.int64 and C.tolist() == [[18014398777917441]]


def test_a_one_level_strassen_product_of_large_integers_is_exact(path):
    A = np.full((128, 128), 3**17, dtype=np.int64)
    C = fastmm.matmul(A, A, levels=1, cutoff=1)
    assert C.dtype == np.int64 and np.array_equal(C, np.full((128, 128), 128 * 3**34, dtype=np.int64))


@pytest.mark.parametrize("da, db", [(np.int8, np.int8), (np.int8, np.uint8), (np.uint32, np.uint32),
                                    (np.int64, np.int64), (np.uint64, np.uint64), (np.int16, np.int32)])
def test_integer_products_are_numpys_wrap_around_included(path, da, db):
    rng = np.random.default_rng(3)
    A = rng.integers(-2**62, 2**62, size=(37, 53)).astype(da)  # entries that overflow every dtype
    B = rng.integers(-2**62, 2**62, size=(53, 29)).astype(db)
    for scheme, levels in ((strassen(), 3), (laderman(), 2)):
        C = fastmm.matmul(A, B, scheme=scheme, levels=levels, cutoff=1)
        assert C.dtype == (A @ B).dtype and np.array_equal(C, A @ B)


def test_bool_matrices_are_refused_in_one_line(path):
    B = np.array([[True, True], [False, True]])
    with pytest.raises(InputError, match=r"not bool matrices .*cast them to int") as info:
        fastmm.matmul(B, B)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="not bool matrices"):
        fastmm.matmul(np.ones((2, 2), dtype=np.int64), B)


def test_a_scheme_with_fractions_refuses_integers_and_multiplies_floats(path):
    s = strassen()
    halves = fastmm.Scheme(2, 2, 2, s.Wa * Fraction(1, 2), s.Wb, s.Wc * 2)
    A = np.arange(16, dtype=np.int64).reshape(4, 4)
    with pytest.raises(InputError, match="fractional coefficients, so it cannot multiply integer"):
        fastmm.matmul(A, A, scheme=halves, cutoff=1)
    F = A.astype(np.float64)
    assert np.array_equal(fastmm.matmul(F, F, scheme=halves, cutoff=1), F @ F)


@pytest.mark.parametrize("da, db", [(np.float32, np.float32), (np.float64, np.float32), (np.int8, np.float32),
                                    (np.int32, np.float32), (np.float16, np.float16), (np.int64, np.float64)])
def test_the_result_dtype_is_numpys_on_both_paths(path, da, db):
    rng = np.random.default_rng(0)
    A, B = rng.integers(-8, 8, size=(20, 12)).astype(da), rng.integers(-8, 8, size=(12, 10)).astype(db)
    C = fastmm.matmul(A, B, cutoff=1)
    assert C.dtype == np.result_type(A, B) and np.array_equal(C, A @ B)  # small integers: exact


@pytest.mark.parametrize("out, message", [
    (np.zeros((2, 2)), "out must be a 3x3 float64 array, got (2, 2) float64"),
    ([], "out must be a 3x3 float64 array, got list"),
    (np.zeros((3, 3), dtype=np.float32), "out must be a 3x3 float64 array, got (3, 3) float32"),
    (np.zeros((3, 3))[:, ::-1], "out must be writeable with rows of unit stride"),
])
def test_a_bad_out_is_one_input_error_on_both_paths(path, out, message):
    with pytest.raises(InputError) as info:
        fastmm.matmul(np.eye(3), np.eye(3), out=out)
    assert str(info.value).startswith(message)


def test_out_overlapping_an_input_is_refused_on_both_paths(path):
    X = np.eye(3)
    with pytest.raises(InputError, match="out must not overlap the inputs"):
        fastmm.matmul(X, X, out=X)
    assert np.array_equal(X, np.eye(3))


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_the_product_is_written_to_out(path, dtype):
    A = np.arange(12, dtype=dtype).reshape(3, 4)
    out = np.empty((3, 3), dtype=dtype)
    assert fastmm.matmul(A, A.T.copy(), out=out, cutoff=1) is out
    assert np.array_equal(out, A @ A.T)


# -- the compiled-function cache --------------------------------------------------------------

@pytest.fixture
def compiles(monkeypatch):
    """c_function replaced by numpy.matmul: the list of (scheme, levels, dtype, cutoff) it compiled."""
    calls: list[tuple] = []

    def c_function(scheme, levels, dtype, cutoff):
        calls.append((scheme.label(), levels, dtype, cutoff))
        return lambda A, B, out=None: np.matmul(A, B, out=out)

    monkeypatch.setattr(multiply, "_COMPILED", OrderedDict())
    monkeypatch.setattr(build, "c_function", c_function)
    return calls


def test_the_cache_ignores_the_verification_time_and_the_provenance(monkeypatch, compiles):
    seconds = itertools.count()

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 1, 1, tzinfo=tz) + dt.timedelta(seconds=next(seconds))

    monkeypatch.setattr("fastmm.verify._dt", SimpleNamespace(datetime=Clock, UTC=dt.UTC))
    A = np.ones((8, 8))
    for k in range(5):  # a verification record stamped one second later each call
        fastmm.matmul(A, A, scheme=laderman().with_meta(provenance={"call": k}), cutoff=1)
    assert compiles == [("⟨3,3,3;23⟩", 1, "float64", 1)] and len(multiply._COMPILED) == 1
    key = next(iter(multiply._COMPILED))
    assert all(isinstance(part, (tuple, int, str)) for part in key) and "2026" not in repr(key)


def test_the_cache_tells_levels_dtype_cutoff_and_coefficients_apart(compiles):
    A = np.ones((8, 8))
    fastmm.matmul(A, A, levels=1, cutoff=1)
    fastmm.matmul(A, A, levels=2, cutoff=1)
    fastmm.matmul(A.astype(np.float32), A.astype(np.float32), levels=2, cutoff=1)
    fastmm.matmul(A, A, levels=2, cutoff=2)
    s = strassen()
    fastmm.matmul(A, A, scheme=fastmm.Scheme(2, 2, 2, s.Wa * Fraction(1, 2), s.Wb, s.Wc * 2), cutoff=1)
    assert [c[1:] for c in compiles] == [(1, "float64", 1), (2, "float64", 1), (2, "float32", 1),
                                         (2, "float64", 2), (1, "float64", 1)]
    assert len(multiply._COMPILED) == 5


def test_the_cache_keeps_the_32_most_recently_used_functions(compiles):
    A = np.ones((4, 4))
    for cutoff in range(40):
        fastmm.matmul(A, A, cutoff=cutoff)
    fastmm.matmul(A, A, cutoff=8)  # the oldest kept one, now the most recent
    fastmm.matmul(A, A, cutoff=40)  # evicts cutoff 9, not 8
    assert len(multiply._COMPILED) == multiply.CACHE_SIZE == 32
    assert sorted(key[-1] for key in multiply._COMPILED) == [8, *range(10, 41)]
    assert len(compiles) == 41


def test_a_scheme_is_verified_once_not_on_every_product(monkeypatch):
    from fastmm import api

    calls = []
    real = api.verified
    monkeypatch.setattr(api, "verified", lambda s, sympy=True: calls.append(s) or real(s, sympy))
    monkeypatch.setattr(multiply, "_VERIFIED", OrderedDict())
    a = np.arange(16.0).reshape(4, 4)
    for _ in range(3):
        assert np.allclose(fastmm.matmul(a, a, scheme=strassen(), cutoff=1), a @ a)
    assert len(calls) == 1
    wrong = strassen().with_meta(Wc=np.where(np.eye(4, 7, dtype=bool), 1 - strassen().Wc, strassen().Wc))
    with pytest.raises(fastmm.VerificationError):  # other coefficients: verified (and refused)
        fastmm.matmul(a, a, scheme=wrong)
    assert len(calls) == 2


def test_a_build_cache_that_cannot_be_made_gives_numpys_product(monkeypatch, tmp_path):
    """QA-128: $FASTMM_CACHE under a file (read-only or full file systems alike) raised InputError,
    as if the scheme were refused; the product is numpy's, as without a compiler."""
    monkeypatch.setattr(multiply, "_COMPILED", OrderedDict())
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path / "file" / "cache"))
    A = np.arange(64 * 64, dtype=np.float64).reshape(64, 64) / 7
    assert np.allclose(fastmm.matmul(A, A, levels=1, cutoff=8), A @ A)
    with pytest.raises(build.OutputError, match=r"cannot create the build cache .*\(\$FASTMM_CACHE\)"):
        build.build_library("int main(void) { return 0; }\n")


def test_a_read_only_build_cache_gives_numpys_product(monkeypatch, tmp_path):
    """QA-128: an existing cache folder the builder cannot write in (a read-only mount) raised a
    bare OSError from tempfile out of fastmm.matmul."""
    import errno

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(multiply, "_COMPILED", OrderedDict())
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build.tempfile, "TemporaryDirectory", read_only)
    A = np.arange(64 * 64, dtype=np.float64).reshape(64, 64) / 7
    assert np.allclose(fastmm.matmul(A, A, levels=1, cutoff=8), A @ A)
    with pytest.raises(build.OutputError, match="cannot write to the build cache .*Read-only file system"):
        build.build_library("int main(void) { return 0; }\n")


def test_a_build_cache_path_too_long_for_its_files_gives_numpys_product(monkeypatch, tmp_path):
    """QA-133: a cache folder that exists but whose files' names pass PATH_MAX raised a bare
    OSError (File name too long) from Path.exists."""
    import os

    folder = tmp_path
    while len(str(folder)) < 4070 - 201:
        folder = folder / ("d" * 200)
    folder = folder / ("e" * (4070 - len(str(folder)) - 1))
    os.makedirs(folder)
    monkeypatch.setattr(multiply, "_COMPILED", OrderedDict())
    monkeypatch.setenv("FASTMM_CACHE", str(folder))
    A = np.arange(64 * 64, dtype=np.float64).reshape(64, 64) / 7
    assert np.allclose(fastmm.matmul(A, A, levels=1, cutoff=8), A @ A)
    with pytest.raises(build.OutputError, match=r"cannot use the build cache .*File name too long"):
        build.build_library("int main(void) { return 0; }\n")
