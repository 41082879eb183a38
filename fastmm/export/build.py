"""Compile generated C against the BLAS numpy uses, cache the library, call it with ctypes.

The C runtime (fastmm/export/runtime/fastmm_runtime.c) is compiled once per compiler, flags
and BLAS integer type into a cached object; each scheme's generated part (emit_scheme_c)
is compiled and linked with it into a shared library.

The BLAS is the one numpy already loaded (the wheel's bundled scipy-openblas, whose
CBLAS symbols carry 64-bit integers: ``scipy_cblas_dgemm64_``); its gemm addresses are
handed to the library at load time, so generated code and numpy.matmul run the same
kernels and the same thread pool. Libraries are cached under ``$FASTMM_CACHE`` (default
``~/.cache/fastmm``) by a hash of source, compiler and flags, and built atomically.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastmm.errors import FastmmError, InputError, OutOfMemoryError
from fastmm.export.c import INCLUDE_RUNTIME, RUNTIME_HEADER, RUNTIME_SOURCE, emit_scheme_c, runtime_text
from fastmm.paths import OutputError
from fastmm.scheme import Scheme

CFLAGS = ("-O3", "-fPIC", "-shared", "-pthread", "-Wall", "-Wextra")
OBJECT_FLAGS = ("-O3", "-fPIC", "-pthread", "-Wall", "-Wextra", "-c")  # the runtime object
# (dgemm, sgemm, integer type) in order of preference
_SYMBOLS = (
    ("scipy_cblas_dgemm64_", "scipy_cblas_sgemm64_", "int64_t"),
    ("cblas_dgemm64_", "cblas_sgemm64_", "int64_t"),
    ("cblas_dgemm", "cblas_sgemm", "int32_t"),
)
_INFO = {  # optional introspection functions, by name suffix
    "corename": ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"),
    "config": ("scipy_openblas_get_config64_", "openblas_get_config64_", "openblas_get_config"),
    "threads": ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                "openblas_get_num_threads"),
}
DTYPES = {"float64": "d", "float32": "s"}


@dataclass(frozen=True)
class Blas:
    """A loaded BLAS library and the CBLAS gemm symbols found in it."""

    path: str
    dgemm: str
    sgemm: str
    int_type: str

    @property
    def handle(self) -> ctypes.CDLL:
        return ctypes.CDLL(self.path)

    def _info(self, what: str, restype):
        lib = self.handle
        for name in _INFO[what]:
            if hasattr(lib, name):
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = []
                return fn()
        return None

    def corename(self) -> str | None:
        """The OpenBLAS kernel family in use (e.g. 'Haswell', 'SkylakeX'), if the library says."""
        v = self._info("corename", ctypes.c_char_p)
        return v.decode() if v else None

    def config(self) -> str | None:
        v = self._info("config", ctypes.c_char_p)
        return v.decode() if v else None

    def threads(self) -> int | None:
        return self._info("threads", ctypes.c_int)

    def describe(self, dtype: str = "float64") -> str:
        """The library, the gemm symbol a `dtype` product calls, its kernel and threads."""
        core, threads = self.corename(), self.threads()
        extra = ", ".join(x for x in (f"kernel {core}" if core else "",
                                       f"{threads} threads" if threads else "") if x)
        gemm = self.sgemm if dtype == "float32" else self.dgemm
        return f"{Path(self.path).name} ({gemm}{', ' + extra if extra else ''})"


def _numpy_blas_candidates() -> list[str]:
    out: list[str] = []
    env = os.environ.get("FASTMM_BLAS")
    if env:
        return [env]
    npdir = Path(np.__file__).resolve().parent
    for pattern in ("*openblas*.so*", "*blas*.so*", "*openblas*.dylib"):
        out += sorted(glob.glob(str(npdir.parent / "numpy.libs" / pattern)))
        out += sorted(glob.glob(str(npdir / ".dylibs" / pattern)))
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})  # type: ignore[union-attr]
        libdir = deps.get("blas", {}).get("lib directory")
        if libdir:
            out += sorted(glob.glob(os.path.join(libdir, "*blas*.so*")))
    except Exception:  # older numpy without mode="dicts": the wheel paths above suffice
        pass
    import ctypes.util

    for name in ("openblas", "cblas", "blas"):
        found = ctypes.util.find_library(name)
        if found:
            out.append(found)
    return list(dict.fromkeys(out))


_BLAS: Blas | None = None


def find_blas() -> Blas:
    """The BLAS numpy uses (or $FASTMM_BLAS), with its CBLAS gemm symbols; FastmmError if none."""
    global _BLAS
    if _BLAS is not None and not os.environ.get("FASTMM_BLAS"):
        return _BLAS
    for path in _numpy_blas_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for dname, sname, itype in _SYMBOLS:
            if hasattr(lib, dname) and hasattr(lib, sname):
                if itype == "int32_t":
                    blas = Blas(path, dname, sname, itype)
                    if "USE64BITINT" in (blas.config() or ""):
                        itype = "int64_t"
                blas = Blas(path, dname, sname, itype)
                if not os.environ.get("FASTMM_BLAS"):
                    _BLAS = blas
                return blas
    raise FastmmError(
        "no BLAS with CBLAS dgemm found: install numpy from a wheel (pip install numpy) "
        "or point FASTMM_BLAS at a CBLAS library (apt-get install libopenblas-dev)"
    )


def find_compiler() -> list[str]:
    """The C compiler command: $CC, else cc, gcc or clang on PATH; FastmmError if none."""
    env = os.environ.get("CC", "").strip()
    if env:
        argv = shlex.split(env)
        exe = shutil.which(argv[0])
        if exe is None:
            raise FastmmError(f"C compiler {argv[0]!r} (from CC) not found: install gcc "
                              "(apt-get install gcc) or set CC to a C compiler")
        return [exe] + argv[1:]
    for name in ("cc", "gcc", "clang"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    raise FastmmError("no C compiler found: install gcc (apt-get install gcc) or set CC")


def cache_dir() -> Path:
    """$FASTMM_CACHE, else ~/.cache/fastmm."""
    env = os.environ.get("FASTMM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fastmm"


def _compile(cmd: list[str]) -> None:
    """Run one compiler command; FastmmError with its first lines of output on failure."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except OSError as exc:
        raise FastmmError(f"cannot run the C compiler {cmd[0]}: {exc.strerror}") from None
    if proc.returncode != 0:
        first = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[:3])
        raise FastmmError(f"C compilation failed ({cmd[0]}): {first}")


def compile_shared(compiler: list[str], source: Path, target: Path, *extra: str) -> None:
    """Compile `source` (and the objects or flags in `extra`) into the shared library `target`."""
    _compile(compiler + list(CFLAGS) + ["-I", str(source.parent), "-o", str(target), str(source),
                                        *extra])


@contextlib.contextmanager
def _cache_failures(doing: str, directory: Path) -> Iterator[None]:
    """The build cache's own failures (read-only, full, a name too long, under a file) as one
    OutputError naming it: a FastmmError that matmul answers with numpy's product, as it does
    without a compiler (QA-128, QA-133: bare OSErrors, or an InputError as if the scheme were
    refused)."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot {doing} the build cache {directory} ($FASTMM_CACHE): "
                          f"{exc.strerror or exc}") from None


def _cache_directory() -> Path:
    directory = cache_dir()
    with _cache_failures("create", directory):
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def _cached(target: Path) -> bool:
    """Is `target` in the build cache?"""
    with _cache_failures("use", target.parent):
        return target.exists()


@contextlib.contextmanager
def _scratch(directory: Path) -> Iterator[Path]:
    """A temporary folder in the build cache, removed after."""
    with _cache_failures("write to", directory), \
            tempfile.TemporaryDirectory(prefix=".build-", dir=directory) as tmp:
        yield Path(tmp)


def runtime_object(blas_int: str) -> Path:
    """The compiled C runtime for BLAS integers `blas_int`, from the cache when it is there.

    Keyed by the runtime's text, the compiler, the flags and the integer type; compiled in a
    temporary directory and renamed into place like the libraries.
    """
    compiler = find_compiler()
    header, source = runtime_text(RUNTIME_HEADER), runtime_text(RUNTIME_SOURCE)
    define = f"-DFASTMM_BLAS_INT={blas_int}"
    key = hashlib.sha256("\0".join([header, source, *compiler, *OBJECT_FLAGS, define]).encode())
    directory = _cache_directory()
    target = directory / f"fastmm-runtime-{key.hexdigest()[:24]}.o"
    if _cached(target):
        return target
    with _scratch(directory) as tmp:
        (tmp / RUNTIME_HEADER).write_text(header, encoding="utf-8")
        (tmp / RUNTIME_SOURCE).write_text(source, encoding="utf-8")
        obj = tmp / target.name
        _compile(compiler + list(OBJECT_FLAGS) + [define, "-o", str(obj), str(tmp / RUNTIME_SOURCE)])
        os.replace(obj, target)
    return target


def build_library(source: str, blas_int: str | None = None) -> Path:
    """Path of a shared library built from `source`, from the cache when it is there.

    A source that includes the runtime header (emit_scheme_c) is linked with the runtime
    object for `blas_int` (default: the BLAS numpy uses); a self-contained one (emit_c) is
    compiled alone. The key hashes the source, the runtime object, the compiler command and
    the flags. The library is compiled into a temporary file in the cache directory and
    renamed into place, so concurrent builders never see a half-written library.
    """
    compiler = find_compiler()
    runtime: list[str] = []
    if INCLUDE_RUNTIME in source.splitlines():
        runtime = [str(runtime_object(blas_int or find_blas().int_type))]
    key = hashlib.sha256("\0".join([source, *runtime, *compiler, *CFLAGS]).encode()).hexdigest()[:24]
    directory = _cache_directory()
    target = directory / f"fastmm-{key}.so"
    if _cached(target):
        return target
    with _scratch(directory) as tmp:
        src = tmp / f"fastmm-{key}.c"
        src.write_text(source, encoding="utf-8")
        if runtime:
            (tmp / RUNTIME_HEADER).write_text(runtime_text(RUNTIME_HEADER), encoding="utf-8")
        lib = tmp / f"fastmm-{key}.so"
        try:
            compile_shared(compiler, src, lib, *runtime)
        except FastmmError:
            if not runtime:
                raise
            # a cached runtime object cut short (ld names it) or emptied (ld then names only the
            # missing symbols): built again, once; a second failure is the compiler's
            Path(runtime[0]).unlink(missing_ok=True)
            compile_shared(compiler, src, lib, str(runtime_object(blas_int or find_blas().int_type)))
        os.replace(src, directory / src.name)  # kept beside the library for reading
        os.replace(lib, target)
    return target


_LOADED: dict[Path, ctypes.CDLL] = {}
_LOCK = threading.Lock()


def load_library(scheme: Scheme, cse: bool = True) -> ctypes.CDLL:
    """Generate, build (or reuse) and load the library of `scheme`, wired to numpy's BLAS."""
    return load_library_from_source(emit_scheme_c(scheme, cse=cse))


def load_library_from_source(source: str) -> ctypes.CDLL:
    """Build (or reuse) and load a source from `emit_scheme_c` or `emit_c`, gemm pointers set.

    A self-contained source (emit_c) must name the BLAS's integer type
    (emit_c(..., blas_int=find_blas().int_type)).
    """
    blas = find_blas()
    standalone = INCLUDE_RUNTIME not in source.splitlines()
    if standalone and f"#define FASTMM_BLAS_INT {blas.int_type}" not in source.splitlines():
        raise FastmmError(f"source was generated for another BLAS integer type (need {blas.int_type})")
    path = build_library(source, blas.int_type)
    with _LOCK:
        if path in _LOADED:
            return _LOADED[path]
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:  # a cached library cut short or damaged (a full disk, a kill): built again
            with contextlib.suppress(OSError):
                path.unlink()
            path = build_library(source, blas.int_type)
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise FastmmError(f"the compiled library {path} cannot be loaded: {exc}") from None
        handle = blas.handle
        dgemm = ctypes.cast(getattr(handle, blas.dgemm), ctypes.c_void_p)
        sgemm = ctypes.cast(getattr(handle, blas.sgemm), ctypes.c_void_p)
        lib.fastmm_set_blas.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.fastmm_set_blas.restype = ctypes.c_int
        lib.fastmm_set_blas(dgemm, sgemm)
        i64, vp = ctypes.c_int64, ctypes.c_void_p
        for t, real in (("d", ctypes.c_double), ("s", ctypes.c_float)):
            fn = getattr(lib, f"fastmm_matmul_{t}")
            fn.argtypes = [i64, i64, i64, real, vp, i64, vp, i64, vp, i64, ctypes.c_int, i64]
            fn.restype = ctypes.c_int
            kern = getattr(lib, f"fastmm_kernel_{t}")
            kern.argtypes = [vp, i64, vp, i64, vp, i64]
            kern.restype = None
        lib.fastmm_set_stream_min.argtypes = [ctypes.c_size_t]
        lib.fastmm_set_stream_min.restype = None
        lib.fastmm_set_threads.argtypes = [ctypes.c_int]
        lib.fastmm_set_threads.restype = None
        lib.fastmm_set_threads(blas.threads() or 0)  # as many threads as the BLAS uses
        lib.fastmm_set_parallel_min.argtypes = [ctypes.c_size_t]
        lib.fastmm_set_parallel_min.restype = None
        lib.fastmm_release_workspace.argtypes = []
        lib.fastmm_release_workspace.restype = ctypes.c_int
        _LOADED[path] = lib
        return lib


def _dtype(dtype: str | np.dtype | type) -> tuple[np.dtype, str]:
    dt = np.dtype(dtype)
    if dt.name not in DTYPES:
        raise InputError(f"dtype {dt.name} is not supported (use float64 or float32)")
    return dt, DTYPES[dt.name]


def as_array(x, what: str) -> np.ndarray:
    """np.asarray(x), or one InputError line naming `what` where numpy cannot make an array of it
    (ragged rows such as [[1, 2], [3]])."""
    try:
        return np.asarray(x)
    except ValueError as exc:
        if "inhomogeneous" in str(exc):
            raise InputError(f"{what} is not a rectangular matrix (ragged rows)") from None
        raise InputError(f"{what} is not a matrix of numbers: {str(exc).splitlines()[0]}") from None
    except (TypeError, RuntimeError) as exc:  # e.g. a bfloat16 or requires_grad torch tensor
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{what} cannot be read as a numpy array: {first}") from None


def _operand(x, dt: np.dtype, what: str = "the operand") -> np.ndarray:
    """A 2-D array with unit column stride and a row stride the BLAS accepts (copied only if not)."""
    a = as_array(x, what)
    if a.ndim != 2:
        raise InputError(f"expected a 2-D matrix, got {a.ndim} dimensions")
    if a.dtype != dt:
        a = a.astype(dt)
    ok = _rows_ok(a, dt.itemsize) and a.ctypes.data % dt.itemsize == 0
    return a if ok else np.ascontiguousarray(a)


def _rows_ok(x: np.ndarray, item: int) -> bool:
    """Unit column stride and a row stride the BLAS accepts as a leading dimension. A length-1
    axis is never stepped along, so its stride does not count: numpy calls `v[None, :]` (row
    stride 0) C-contiguous, and passing that 0 as lda made the BLAS refuse the call and return
    uninitialised memory."""
    rows, cols = x.shape
    return ((cols <= 1 or x.strides[1] == item)
            and (rows <= 1 or (x.strides[0] % item == 0 and x.strides[0] // item >= max(1, cols))))


def leading_dim(x: np.ndarray, item: int) -> int:
    """The leading dimension (row stride in elements) to pass with x: any valid one for one row."""
    return x.strides[0] // item if x.shape[0] > 1 else max(1, x.shape[1])


def _output(out, shape: tuple[int, int], dt: np.dtype, *inputs: np.ndarray) -> np.ndarray:
    """`out` checked as a destination: right shape and dtype, unit column stride, no overlap."""
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dt:
        got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
        raise InputError(f"out must be a {shape[0]}x{shape[1]} {dt.name} array, got {got}")
    # an empty out is never written through its strides (numpy gives it strides such as (0, 0))
    rows_ok = out.size == 0 or _rows_ok(out, dt.itemsize)
    if not out.flags.writeable or not rows_ok:
        raise InputError("out must be writeable with rows of unit stride (e.g. C-contiguous)")
    if any(np.shares_memory(out, x) for x in inputs):
        raise InputError("out must not overlap the inputs")
    return out


def c_function(
    scheme: Scheme, levels: int = 1, dtype: str = "float64", cutoff: int = 1
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """matmul(A, B, out=None) -> A·B through `levels` levels of `scheme` in compiled C, BLAS below.

    With `out` (an M×N array of the dtype, rows of unit stride) the product is written there.

    Blocks smaller than `cutoff` in any dimension go straight to the BLAS.
    """
    if levels < 0:
        raise InputError(f"levels must be >= 0, got {levels}")
    dt, t = _dtype(dtype)
    lib = load_library(scheme)
    fn = getattr(lib, f"fastmm_matmul_{t}")

    def matmul(A: np.ndarray, B: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        a, b = _operand(A, dt, "A"), _operand(B, dt, "B")
        (M, K), (K2, N) = a.shape, b.shape
        if K != K2:
            raise InputError(f"shapes {a.shape} and {b.shape} do not multiply")
        c = np.empty((M, N), dtype=dt) if out is None else _output(out, (M, N), dt, a, b)
        if c.size == 0:
            return c
        if K == 0:
            c.fill(0)
            return c
        item = dt.itemsize
        rc = fn(M, K, N, 1.0, a.ctypes.data, leading_dim(a, item), b.ctypes.data,
                leading_dim(b, item), c.ctypes.data, leading_dim(c, item), int(levels), int(cutoff))
        if rc == -1:
            raise OutOfMemoryError("out of memory for the temporaries of the fast product (fewer levels "
                                   "need less)")
        if rc != 0:
            raise FastmmError(f"generated library returned error {rc} (no BLAS set)")
        return c

    def release() -> None:
        """Free the workspace the library keeps between calls (it is rebuilt on the next call)."""
        lib.fastmm_release_workspace()

    matmul.__doc__ = f"A·B by {scheme.label()}, {levels} level(s), {dt.name}, BLAS leaves."
    matmul.release = release  # type: ignore[attr-defined]
    return matmul


def kernel_function(scheme: Scheme, dtype: str = "float64") -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The scalar kernel: exactly one n×m by m×p product, no BLAS."""
    dt, t = _dtype(dtype)
    lib = load_library(scheme)
    fn = getattr(lib, f"fastmm_kernel_{t}")
    n, m, p = scheme.shape

    def kernel(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        a, b = _operand(A, dt, "A"), _operand(B, dt, "B")
        if a.shape != (n, m) or b.shape != (m, p):
            raise InputError(f"the kernel multiplies {n}x{m} by {m}x{p}, got {a.shape} and {b.shape}")
        c = np.empty((n, p), dtype=dt)
        item = dt.itemsize
        fn(a.ctypes.data, leading_dim(a, item), b.ctypes.data, leading_dim(b, item), c.ctypes.data, p)
        return c

    return kernel
