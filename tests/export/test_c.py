"""Generated C: exact products, clean compiles, the runtime and the build cache, refusals and
error messages. Without a C compiler the compiling tests skip, except on CI (CI=true): there
they fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fastmm.errors import FastmmError, InputError, SchemeError, SchemeFormatError, VerificationError
from fastmm.export import build
from fastmm.export.build import build_library, c_function, find_blas, find_compiler, kernel_function
from fastmm.export.c import RUNTIME_HEADER, RUNTIME_SOURCE, c_number, emit_c, emit_scheme_c, runtime_text
from fastmm.io import load_scheme, save_scheme
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme
from tests.export.schemes import dead_product_schemes, mixed_234, rational_strassen

REPO = Path(__file__).resolve().parents[2]
HAVE_CC = shutil.which("cc") is not None
ON_CI = os.environ.get("CI", "").lower() == "true"
needs_cc = pytest.mark.skipif(not HAVE_CC and not ON_CI, reason="no C compiler (cc) on PATH")
WERROR = ["cc", "-O3", "-Wall", "-Wextra", "-Werror"]


def test_ci_has_a_c_compiler():
    """On CI a missing compiler fails here (and in every compiling test) instead of skipping."""
    if ON_CI:
        assert HAVE_CC, "CI=true but no C compiler (cc) on PATH: the C tests cannot run"

SCHEMES = {
    "strassen": strassen,
    "laderman": laderman,
    "mixed234": mixed_234,
    "strassen_x_strassen": lambda: strassen().kron(strassen()),
}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    """One private build cache for this module (libraries are reused across its tests)."""
    old = os.environ.get("FASTMM_CACHE")
    os.environ["FASTMM_CACHE"] = str(tmp_path_factory.mktemp("fastmm-cache"))
    yield
    if old is None:
        os.environ.pop("FASTMM_CACHE", None)
    else:
        os.environ["FASTMM_CACHE"] = old


def _sizes(scheme: Scheme, levels: int) -> list[tuple[int, int, int]]:
    """Sizes that exercise every peeling case: 1×1, smaller than a block, odd, non-square, exact."""
    n, m, p = scheme.shape
    bn, bm, bp = n**levels, m**levels, p**levels
    return [
        (1, 1, 1),
        (max(bn - 1, 1), max(bm - 1, 1), max(bp - 1, 1)),  # smaller than one block
        (bn, bm, bp),  # exactly one block per level
        (2 * bn + 1, 3 * bm + 2, 2 * bp + 1),  # odd leftovers in every dimension
        (3 * bn, bm + 1, 2 * bp),  # non-square, leftover only in K
        (bn + 1, 2 * bm, 3 * bp - 1),
    ]


def _ints(rng, shape, dtype):
    return rng.integers(-4, 5, size=shape).astype(dtype)


@needs_cc
@pytest.mark.parametrize("name", list(SCHEMES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("levels", [1, 2])
def test_exact_on_integer_inputs(name, dtype, levels):
    scheme = SCHEMES[name]()
    f = c_function(scheme, levels=levels, dtype=dtype, cutoff=1)
    rng = np.random.default_rng(levels)
    for M, K, N in _sizes(scheme, levels):
        A, B = _ints(rng, (M, K), dtype), _ints(rng, (K, N), dtype)
        C = f(A, B)
        assert C.dtype == np.dtype(dtype)
        want = A.astype(np.int64) @ B.astype(np.int64)
        np.testing.assert_array_equal(C, want, err_msg=f"{name} {dtype} L={levels} {M}x{K}x{N}")


@needs_cc
@pytest.mark.parametrize("name", list(SCHEMES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scalar_kernel_is_exact(name, dtype):
    scheme = SCHEMES[name]()
    n, m, p = scheme.shape
    rng = np.random.default_rng(7)
    k = kernel_function(scheme, dtype)
    for _ in range(3):
        A, B = _ints(rng, (n, m), dtype), _ints(rng, (m, p), dtype)
        np.testing.assert_array_equal(k(A, B), A.astype(np.int64) @ B.astype(np.int64))


@needs_cc
def test_without_shared_subexpressions_is_exact(tmp_path):
    scheme = laderman()
    src = emit_c(scheme, cse=False)
    assert src != emit_c(scheme, cse=True)
    (tmp_path / "plain.c").write_text(src)
    proc = subprocess.run([*WERROR, "-c", str(tmp_path / "plain.c"), "-o", str(tmp_path / "plain.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lib = build.load_library_from_source(src)
    rng = np.random.default_rng(8)
    A, B = _ints(rng, (20, 19), "float64"), _ints(rng, (19, 22), "float64")
    C = np.empty((20, 22))
    rc = lib.fastmm_matmul_d(20, 19, 22, 1.0, A.ctypes.data, 19, B.ctypes.data, 22, C.ctypes.data, 22, 2, 1)
    assert rc == 0
    np.testing.assert_array_equal(C, A @ B)


@needs_cc
@pytest.mark.parametrize("name", ["strassen", "mixed234"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_streaming_store_path_is_exact(name, dtype):
    """Force the non-temporal store path (normally only for blocks of 16 MiB and more)."""
    scheme = SCHEMES[name]()
    lib = build.load_library(scheme)
    f = c_function(scheme, levels=2, dtype=dtype, cutoff=1)
    rng = np.random.default_rng(9)
    lib.fastmm_set_stream_min(0)
    try:
        for M, K, N in [*_sizes(scheme, 2), (40, 44, 48), (41, 45, 49)]:
            A, B = _ints(rng, (M, K), dtype), _ints(rng, (K, N), dtype)
            np.testing.assert_array_equal(f(A, B), A.astype(np.int64) @ B.astype(np.int64))
            # odd leading dimensions: rows alternate between aligned and unaligned
            A2 = _ints(rng, (M, K + 1), dtype)[:, :K]
            np.testing.assert_array_equal(f(A2, B), A2.astype(np.int64) @ B.astype(np.int64))
    finally:
        lib.fastmm_set_stream_min(16 << 20)


@needs_cc
@pytest.mark.parametrize("name", ["strassen", "mixed234"])
@pytest.mark.parametrize("threads", [1, 3])
def test_threaded_passes_are_exact(name, threads):
    """Force every pass to split its rows between threads (normally only blocks of 4 MiB and more)."""
    scheme = SCHEMES[name]()
    lib = build.load_library(scheme)
    f = c_function(scheme, levels=2, dtype="float64", cutoff=1)
    rng = np.random.default_rng(10)
    lib.fastmm_set_parallel_min(0)
    lib.fastmm_set_stream_min(0)
    lib.fastmm_set_threads(threads)
    try:
        for M, K, N in [*_sizes(scheme, 2), (40, 44, 48), (41, 45, 49), (2, 3, 4)]:
            A, B = _ints(rng, (M, K), "float64"), _ints(rng, (K, N), "float64")
            np.testing.assert_array_equal(f(A, B), A.astype(np.int64) @ B.astype(np.int64))
    finally:
        lib.fastmm_set_parallel_min(4 << 20)
        lib.fastmm_set_stream_min(16 << 20)
        lib.fastmm_set_threads(build.find_blas().threads() or 0)


@needs_cc
def test_out_receives_the_product_and_bad_destinations_are_refused():
    from fastmm.errors import InputError

    f = c_function(strassen(), levels=2, cutoff=1)
    rng = np.random.default_rng(11)
    A, B = _ints(rng, (37, 41), "float64"), _ints(rng, (41, 43), "float64")
    big = np.full((40, 50), 7.0)
    view = big[1:38, 2:45]  # rows of unit stride, leading dimension 50
    assert f(A, B, out=view) is view
    np.testing.assert_array_equal(view, A @ B)
    assert (big[0] == 7).all() and (big[:, :2] == 7).all() and (big[:, 45:] == 7).all()
    for bad, why in [(np.empty((37, 42)), "out must be a 37x43 float64"),
                     (np.empty((37, 43), dtype=np.float32), "out must be a 37x43 float64"),
                     (np.empty((43, 37)).T, "rows of unit stride"),
                     ([[0.0] * 43] * 37, "out must be a 37x43 float64")]:
        with pytest.raises(InputError, match=why):
            f(A, B, out=bad)
    square = _ints(rng, (8, 8), "float64")
    with pytest.raises(InputError, match="overlap"):
        f(square, square.copy(), out=square)


@needs_cc
def test_strided_and_fortran_inputs():
    f = c_function(strassen(), levels=2, cutoff=1)
    rng = np.random.default_rng(3)
    big_a, big_b = _ints(rng, (40, 50), "float64"), _ints(rng, (50, 60), "float64")
    A, B = big_a[3:30, 5:46], big_b[5:46, 7:38]  # views with leading dimension > columns
    np.testing.assert_array_equal(f(A, B), A @ B)
    np.testing.assert_array_equal(f(np.asfortranarray(A), B[::-1]), A @ B[::-1])


@needs_cc
def test_workspace_release_and_reuse():
    f = c_function(laderman(), levels=2, cutoff=1)
    rng = np.random.default_rng(6)
    A, B = _ints(rng, (29, 31), "float64"), _ints(rng, (31, 28), "float64")
    np.testing.assert_array_equal(f(A, B), A @ B)
    f.release()
    np.testing.assert_array_equal(f(A, B), A @ B)  # a fresh workspace after release
    small = f(A[:10, :10], B[:10, :10])  # a smaller call reuses the kept one
    np.testing.assert_array_equal(small, A[:10, :10] @ B[:10, :10])


@needs_cc
def test_levels_zero_and_empty_sizes():
    f = c_function(strassen(), levels=0)
    rng = np.random.default_rng(4)
    A, B = _ints(rng, (9, 8), "float64"), _ints(rng, (8, 7), "float64")
    np.testing.assert_array_equal(f(A, B), A @ B)
    g = c_function(strassen(), levels=1)
    assert g(np.zeros((0, 4)), np.zeros((4, 3))).shape == (0, 3)
    np.testing.assert_array_equal(g(np.zeros((4, 0)), np.zeros((0, 3))), np.zeros((4, 3)))


@needs_cc
def test_scheme_with_a_zero_product_is_exact():
    s = strassen()
    wa = np.vstack([s.Wa, np.zeros((1, 4), dtype=np.int64)])  # term 8: A factor is zero
    wb = np.vstack([s.Wb, np.array([[1, 0, -1, 0]])])
    wc = np.hstack([s.Wc, np.array([[1], [0], [0], [-1]])])
    scheme = Scheme(2, 2, 2, wa, wb, wc)
    f = c_function(scheme, levels=2, cutoff=1)
    rng = np.random.default_rng(10)
    A, B = _ints(rng, (11, 9), "float64"), _ints(rng, (9, 10), "float64")
    np.testing.assert_array_equal(f(A, B), A @ B)
    assert "7 block products per level" in emit_c(scheme)


DEAD = dead_product_schemes()


@needs_cc
@pytest.mark.parametrize("name", sorted(DEAD))
def test_dead_products_compile_with_werror_and_are_exact(name, tmp_path):
    """A product with a zero operand or no use in C is left out: no unused variable (-Werror),
    no block product computed for it, and C = A·B exactly (levels 1 and 2, odd and rectangular)."""
    scheme = DEAD[name]
    src = emit_c(scheme)
    assert f"{scheme.rank - 1} block products per level" in src
    for cse in (True, False):
        path = tmp_path / f"gen{cse}.c"
        path.write_text(emit_c(scheme, cse=cse))
        proc = subprocess.run([*WERROR, "-c", str(path), "-o", str(tmp_path / "gen.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    rng = np.random.default_rng(13)
    for levels in (1, 2):
        f = c_function(scheme, levels=levels, cutoff=1)
        for M, K, N in _sizes(scheme, levels):
            A, B = _ints(rng, (M, K), "float64"), _ints(rng, (K, N), "float64")
            np.testing.assert_array_equal(f(A, B), A @ B, err_msg=f"{name} L={levels} {M}x{K}x{N}")
    n, m, p = scheme.shape
    k = kernel_function(scheme, "float64")
    A, B = _ints(rng, (n, m), "float64"), _ints(rng, (m, p), "float64")
    np.testing.assert_array_equal(k(A, B), A @ B)


@needs_cc
def test_rational_scheme_is_close():
    scheme = rational_strassen()
    assert scheme.ring == "Q"
    src = emit_c(scheme)
    assert "0.3333333333333333" in src and "0.33333334f" in src  # 1/3 rounded once, exactly
    f = c_function(scheme, levels=2, cutoff=1)
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((21, 18)), rng.standard_normal((18, 23))
    np.testing.assert_allclose(f(A, B), A @ B, rtol=1e-12, atol=1e-12)


@needs_cc
@pytest.mark.parametrize("name", [*SCHEMES, "rational"])
def test_source_compiles_with_werror(name, tmp_path):
    scheme = rational_strassen() if name == "rational" else SCHEMES[name]()
    src = tmp_path / "gen.c"
    src.write_text(emit_c(scheme))
    proc = subprocess.run([*WERROR, "-c", str(src), "-o", str(tmp_path / "gen.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@needs_cc
def test_runtime_and_scheme_part_compile_with_werror_apart(tmp_path):
    """The runtime is real C that a compiler warns about, and the scheme part needs only its header."""
    for name in (RUNTIME_HEADER, RUNTIME_SOURCE):
        (tmp_path / name).write_text(runtime_text(name))
    (tmp_path / "scheme.c").write_text(emit_scheme_c(laderman()))
    for name in (RUNTIME_SOURCE, "scheme.c"):
        proc = subprocess.run([*WERROR, "-Wshadow", "-std=c11", "-c", str(tmp_path / name), "-o",
                               str(tmp_path / (name + ".o"))], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@needs_cc
def test_library_exports_the_interface_and_hides_the_runtime():
    lib = build.load_library(strassen())
    for name in ("fastmm_matmul_d", "fastmm_kernel_s", "fastmm_set_blas", "fastmm_set_threads",
                 "fastmm_release_workspace"):
        assert hasattr(lib, name)
    for hidden in ("fastmm_rec_d", "fastmm_drive_s", "fastmm_pass_d", "level_d", "pass_d_a"):
        assert not hasattr(lib, hidden)  # two schemes' libraries never share runtime state


def test_scheme_part_holds_no_runtime_code():
    src = emit_scheme_c(strassen())
    assert '#include "fastmm_runtime.h"' in src.splitlines()
    for runtime_only in ("pthread_create", "aligned_alloc", "blas_dgemm", "fastmm_set_blas",
                         "fastmm_workspace", "typedef"):
        assert runtime_only not in src
    whole = emit_c(strassen())
    assert '#include "fastmm_runtime.h"' not in whole  # one self-contained file
    assert "int fastmm_set_blas(void *dgemm, void *sgemm)\n{" in whole


def test_no_openmp_in_source():
    src = emit_c(strassen()).lower()
    assert "pragma omp" not in src and "omp.h" not in src and "omp_" not in src


def test_c_number_accepts_only_exact_numbers():
    assert c_number(3, "double") == "3.0"
    assert c_number(np.int64(-2), "float") == "-2.0f"
    assert c_number(Fraction(-1, 3), "double") == "-0.3333333333333333"
    assert c_number(Fraction(-1, 3), "float") == "-0.33333334f"
    for bad in ("1); system(\"id\"); (", 0.5, True, None, b"1"):
        with pytest.raises(FastmmError):
            c_number(bad, "double")


def test_c_number_rounds_once_to_the_nearest_value():
    assert float(c_number(Fraction(10**20, 3), "double")) == 10**20 / 3
    assert c_number(2**24 + 1, "float") == "1.6777216e+07f"  # a tie: to even
    assert c_number(2**128 - 2**104, "float") == "3.4028235e+38f"  # the largest float
    assert c_number(Fraction(1, 2**126), "double") == "1.1754943508222875e-38"


@pytest.mark.parametrize("bad", [10**40, Fraction(1, 10**40), 2**128 - 2**103, -(2**200)])
def test_c_number_refuses_magnitudes_float_cannot_hold(bad):
    with pytest.raises(InputError) as info:
        c_number(bad, "double")
    assert "outside the range of float" in str(info.value) and "\n" not in str(info.value)


def _scaled_strassen(factor: Fraction) -> Scheme:
    """Strassen with product 1's A operand times `factor` and its C column divided by it (ring Q)."""
    s = strassen()
    wa, wc = s.Wa.astype(object), s.Wc.astype(object)
    wa[0] = np.array([Fraction(x) * factor for x in wa[0]], dtype=object)
    wc[:, 0] = np.array([Fraction(x) / factor for x in wc[:, 0]], dtype=object)
    return Scheme(2, 2, 2, wa, s.Wb, wc)


def test_schemes_above_the_size_limit_are_refused():
    from fastmm.scheme import naive_scheme

    with pytest.raises(InputError, match="has 1100 products per level, more than the 1024"):
        emit_c(naive_scheme(11, 10, 10))


def test_huge_coefficient_is_refused_in_one_line():
    with pytest.raises(InputError) as info:
        emit_c(_scaled_strassen(Fraction(10**40)))
    assert str(info.value).startswith("refusing to generate code: coefficient of magnitude about 2^132")


@needs_cc
def test_large_coefficients_inside_the_range_compile_and_stay_finite(tmp_path):
    scheme = _scaled_strassen(Fraction(10**30, 7))
    (tmp_path / "big.c").write_text(emit_c(scheme))
    proc = subprocess.run([*WERROR, "-c", str(tmp_path / "big.c"), "-o", str(tmp_path / "big.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rng = np.random.default_rng(12)
    for dtype in ("float64", "float32"):
        A, B = _ints(rng, (2, 2), dtype), _ints(rng, (2, 2), dtype)
        got = kernel_function(scheme, dtype)(A, B)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, A.astype(np.float64) @ B, rtol=1e-5, atol=1e-4)


def test_tampered_file_is_refused_at_load(tmp_path):
    save_scheme(strassen(), tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    data["Wa"][0][0] = '1.0); system("touch /tmp/fastmm-pwned"); (1'
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(SchemeFormatError):
        load_scheme(tmp_path / "bad.json")


def test_scheme_object_with_text_coefficient_generates_nothing():
    s = strassen()
    wa = s.Wa.astype(object)
    wa[0, 0] = "1); abort(); (1"
    with pytest.raises(SchemeError, match="exact numbers"):
        Scheme(2, 2, 2, wa, s.Wb, s.Wc, ring="ZT")
    evil = strassen()
    with pytest.raises(AttributeError, match="cannot be changed after it is built"):
        evil.Wa = wa
    object.__setattr__(evil, "_Wa", wa)  # forced past the immutability: the emitter still refuses it
    cache = Path(os.environ["FASTMM_CACHE"])
    before = sorted(cache.iterdir()) if cache.exists() else []
    with pytest.raises(FastmmError, match="refusing to generate code"):
        emit_c(evil)
    with pytest.raises(FastmmError, match="refusing to generate code"):
        c_function(evil)
    after = sorted(cache.iterdir()) if cache.exists() else []
    assert before == after


def test_invalid_and_mod2_schemes_are_refused():
    s = strassen()
    wc = s.Wc.copy()
    wc[0, 0] = 0
    with pytest.raises(VerificationError):
        emit_c(Scheme(2, 2, 2, s.Wa, s.Wb, wc))
    z2 = Scheme(2, 2, 2, s.Wa, s.Wb, s.Wc, ring="Z2")
    with pytest.raises(InputError, match="modulo 2"):  # a scheme the format cannot hold: exit 2
        emit_c(z2)


@needs_cc
def test_build_cache_reuses_library(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path / "cache"))
    calls = []
    real = build.compile_shared

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "compile_shared", counting)
    compiles = []
    real_compile = build._compile
    monkeypatch.setattr(build, "_compile", lambda cmd: (compiles.append(cmd), real_compile(cmd))[1])
    src = emit_scheme_c(laderman())
    first = build_library(src)
    assert len(calls) == 1 and first.exists()
    second = build_library(src)
    assert second == first and len(calls) == 1  # the compiler was not invoked again
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.suffix not in (".so", ".c", ".o")]
    assert leftovers == []  # built in a temporary directory and renamed into place
    other = build_library(emit_scheme_c(strassen()))
    assert other != first and len(calls) == 2
    runtime = [cmd for cmd in compiles if cmd[-1].endswith(RUNTIME_SOURCE)]
    assert len(runtime) == 1 and len(compiles) == 3  # the runtime was compiled once, for both
    objects = sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix == ".o")
    assert len(objects) == 1 and objects[0].startswith("fastmm-runtime-")
    whole = build_library(emit_c(strassen(), blas_int=find_blas().int_type))  # self-contained
    assert whole not in (first, other) and len(compiles) == 4


def test_missing_compiler_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no cc, gcc or clang
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(FastmmError) as info:
        find_compiler()
    msg = str(info.value)
    assert msg.startswith("no C compiler found: install gcc (apt-get install gcc)")
    assert "\n" not in msg
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    with pytest.raises(FastmmError, match="not found: install gcc"):
        find_compiler()


def test_missing_compiler_cli_is_one_line(tmp_path):
    save_scheme(strassen(), tmp_path / "s.json")
    env = dict(os.environ, PATH=str(tmp_path / "empty"), FASTMM_CACHE=str(tmp_path / "cache"))
    env.pop("CC", None)
    proc = subprocess.run([sys.executable, str(REPO / "cli.py"), "bench", str(tmp_path / "s.json"),
                           "--size", "16", "--repeat", "1"], capture_output=True, text=True, env=env,
                          cwd=REPO)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: no C compiler found: install gcc (apt-get install gcc) or set CC"]


def test_blas_is_numpys_openblas():
    blas = find_blas()
    assert blas.dgemm.endswith(("dgemm64_", "dgemm"))
    if "scipy_cblas" in blas.dgemm:
        assert blas.int_type == "int64_t"
    maps = Path("/proc/self/maps")
    if maps.exists():  # the very library numpy loaded, not a second copy
        real = os.path.realpath(blas.path)
        assert real in maps.read_text()


def test_missing_blas_message(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMM_BLAS", str(tmp_path / "libnothing.so"))
    with pytest.raises(FastmmError) as info:
        find_blas()
    msg = str(info.value)
    assert msg.startswith("no BLAS with CBLAS dgemm found: install numpy from a wheel")
    assert "\n" not in msg


@needs_cc
@pytest.mark.parametrize("blas_int, size", [("int32_t", 4), ("int64_t", 8)])
def test_the_single_file_takes_the_blas_integer_type_its_comment_names(blas_int, size, tmp_path):
    """Its runtime comment says -DFASTMM_BLAS_INT=int32_t builds for a 32-bit BLAS; an
    unconditional #define used to override it (a warning, an error under -Werror)."""
    path = tmp_path / "one.c"
    path.write_text(emit_c(strassen()) + f'_Static_assert(sizeof(fastmm_blas_int) == {size}, "type");\n')
    proc = subprocess.run([*WERROR, f"-DFASTMM_BLAS_INT={blas_int}", "-c", str(path), "-o",
                           str(tmp_path / "one.o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([*WERROR, "-c", str(path), "-o", str(tmp_path / "one.o")], capture_output=True,
                          text=True)  # no -D: the type the file was generated for, int64_t
    assert (proc.returncode == 0) == (size == 8), proc.stderr
