"""helper-74's library findings: operands whose length-1 axis has stride 0 (np.atleast_2d), a
Z2 label on integer-exact coefficients in matmul, and a damaged build cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastmm
from fastmm import multiply
from fastmm.errors import InputError
from fastmm.export import build
from fastmm.reference import strassen
from fastmm.scheme import naive_scheme

HAVE_CC = shutil.which("cc") is not None
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no C compiler (cc) on PATH")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(multiply, "_COMPILED", type(multiply._COMPILED)())
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_cc
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_row_of_stride_0_is_multiplied_not_read_as_garbage(cache, dtype):
    rng = np.random.default_rng(1)
    v, B = rng.random(300).astype(dtype), rng.random((300, 300)).astype(dtype)
    row = np.atleast_2d(v)
    assert row.strides[0] == 0 and row.flags.c_contiguous
    tol = 1e-9 if dtype == np.float64 else 1e-2
    for levels in (1, 2):
        got = fastmm.matmul(row, B, levels=levels, cutoff=1)
        np.testing.assert_allclose(got, v[None, :] @ B, rtol=tol, atol=tol)
    f = build.c_function(strassen(), levels=1, dtype=np.dtype(dtype).name)
    np.testing.assert_allclose(f(row, B), row @ B, rtol=tol, atol=tol)


@needs_cc
def test_outer_products_and_a_scalar_with_zero_strides(cache):
    u, w = np.arange(1.0, 4.0), np.arange(1.0, 5.0)
    np.testing.assert_array_equal(fastmm.matmul(u[:, None], np.atleast_2d(w)), np.outer(u, w))
    s = np.array(3.0)[None, None]
    assert s.strides == (0, 0)
    np.testing.assert_array_equal(fastmm.matmul(s, s), [[9.0]])


@needs_cc
def test_out_with_a_stride_0_axis_is_accepted_and_filled(cache):
    rng = np.random.default_rng(2)
    A, x = rng.random((4, 3)), rng.random((3, 1))
    column = np.zeros(4)[:, None]
    assert fastmm.matmul(A, x, out=column) is column
    np.testing.assert_allclose(column, A @ x)
    row = np.zeros(5)[None, :]
    a, B = rng.random((1, 3)), rng.random((3, 5))
    fastmm.matmul(a, B, out=row)
    np.testing.assert_allclose(row, a @ B)
    with pytest.raises(InputError, match="rows of unit stride"):  # a real stride problem stays refused
        fastmm.matmul(rng.random((3, 3)), rng.random((3, 3)), out=np.zeros((3, 3))[:, ::-1])


def test_matmul_takes_a_z2_label_on_integer_exact_coefficients(cache):
    rng = np.random.default_rng(3)
    A, B = rng.random((4, 4)), rng.random((4, 4))
    naive = naive_scheme(2, 2, 2).with_meta(ring="Z2")
    np.testing.assert_allclose(fastmm.matmul(A, B, scheme=naive), A @ B)
    s = strassen()
    wc = s.Wc.copy()
    wc[wc == -1] = 1  # Strassen modulo 2: wrong over the integers
    mod2 = fastmm.Scheme(2, 2, 2, s.Wa, s.Wb, wc, ring="Z2")
    assert fastmm.verify(mod2, sympy=False)
    with pytest.raises(InputError, match="valid modulo 2 only"):
        fastmm.matmul(A, B, scheme=mod2)


def _cut_short(path, size: int = 100) -> None:
    """A new file of `size` bytes in its place (a new inode: this process has the old one mapped)."""
    short = path.with_name(path.name + ".short")
    short.write_bytes(path.read_bytes()[:size])
    short.replace(path)


@needs_cc
def test_a_cached_library_or_runtime_cut_short_is_built_again(cache):
    """In a fresh process each time: this one keeps the library it loaded under its name."""
    code = ("import numpy as np; from fastmm.export.build import c_function; "
            "from fastmm.reference import strassen; A = np.random.default_rng(4).random((64, 64)); "
            "assert np.allclose(c_function(strassen(), levels=1)(A, A), A @ A)")

    def multiply_in_a_new_process():
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "FASTMM_CACHE": str(cache)})
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr

    multiply_in_a_new_process()
    library = next(cache.glob("fastmm-*.so"))
    runtime = next(cache.glob("fastmm-runtime-*.o"))
    _cut_short(library)
    multiply_in_a_new_process()
    assert library.stat().st_size > 100
    for size in (100, 0):  # ld names a runtime cut short; of an empty one, only the missing symbols
        library.unlink()
        _cut_short(runtime, size)
        multiply_in_a_new_process()
        assert runtime.stat().st_size > 100 and library.stat().st_size > 100


def test_the_known_options_name_only_what_a_user_may_give():
    with pytest.raises(InputError) as exc:
        fastmm.search((2, 2, 2), 7, method="flip", time_limit=5, options={"plateu": 5})
    listed = str(exc.value).split("(known: ")[1]
    assert "plateau" in listed and "checkpoint_dir" not in listed and "starts" not in listed
