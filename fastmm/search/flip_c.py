"""The C flip-graph walks (csrc/flipwalk.c, csrc/symwalk.c, csrc/ternwalk.c), compiled once per
user, loaded with ctypes.

flipwalk.c is the GF(2) walk of flip_py.py and flip_kernels.py, symwalk.c the symmetric walks of
symmetric_kernels.py, built twice: with orbits of three (the C3 rotation) and of six (C3 ×
X -> JXJ), ternwalk.c the ternary (ZT) walk of ternary_py.py and ternary_kernels.py. Each is the
Python walk step for step: same arrays, same splitmix64 draws, same results. Their point is
start-up: loading a cached library takes about a millisecond where importing numba and loading
its cached kernel take ~0.5 s, which is most of a small search; the symmetric walks are also
about twice as fast as numba's, the ternary walk about three times (one compare of packed keys
per factor where numba compares masks and signs; see ternwalk.c).

Each library is compiled with the system C compiler ($CC, else cc, gcc or clang) the first time
a process needs it, and cached as ``$FASTMM_CACHE`` (default ``~/.cache/fastmm``)
``/fastmm-flipwalk-<source key>-<compiler key>.so`` (``fastmm-symwalk-...`` for the symmetric
walk, ``fastmm-symwalk6-...`` for the six-fold one, ``fastmm-ternwalk-...`` for the ternary
one), the keys hashing the C source and flags, and the compiler command and machine. It is
compiled into a temporary file in that directory and renamed into place, so concurrent
processes never load a half-written library.

Never required: without a compiler, or when the compile or the load fails, `load()` (and
`load_symmetric()`, `load_symmetric6()`, `load_ternary()`) returns None (one debug-level log
line, no traceback) and the search walks with numba or plain Python. Nothing is compiled on
import. This module must not import numba, nor fastmm.export.build (which imports the code
generator: ~30 ms no search start-up needs).
"""

from __future__ import annotations

import ctypes
import os
import platform
import shlex
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SOURCE = "flipwalk.c"
CFLAGS = ("-O3", "-fPIC", "-shared", "-Wall", "-Wextra")
PREFIX = "fastmm-flipwalk-"
COMPILE_TIMEOUT_S = 120

_i64, _ptr = ctypes.c_int64, ctypes.c_void_p


class Kernel:
    """The loaded library's entry points, argument types set (arrays go as data pointers)."""

    def __init__(self, lib: ctypes.CDLL, path: Path):
        self.path = path
        self.walk = lib.fastmm_flip_walk
        # A, B, C, cap, cm, st, rng, steps, target, plateau, plus_limit
        self.walk.argtypes = [_ptr, _ptr, _ptr, _i64, _ptr, _ptr, _ptr, _i64, _i64, _i64, _i64]
        self.walk.restype = _i64
        self.polish = lib.fastmm_flip_polish
        # A, B, C, st, rng, steps, nc, bA, bB, bC, best_cost
        self.polish.argtypes = [_ptr, _ptr, _ptr, _ptr, _ptr, _i64, _i64, _ptr, _ptr, _ptr, _ptr]
        self.polish.restype = _i64


class SymKernel:
    """symwalk.c's entry points, argument types set (arrays go as data pointers): the walk and
    its reductions on their own (for tests)."""

    def __init__(self, lib: ctypes.CDLL, path: Path):
        self.path = path
        self.walk = lib.fastmm_sym_walk
        # F, cap, E, st, rng, steps, target, plateau, plus_limit, ncubes
        self.walk.argtypes = [_ptr, _i64, _ptr, _ptr, _ptr, _i64, _i64, _i64, _i64, _i64]
        self.walk.restype = _i64
        self.settle = lib.fastmm_sym_settle
        # F, cap, E, st, work, nw
        self.settle.argtypes = [_ptr, _i64, _ptr, _ptr, _ptr, _i64]
        self.settle.restype = _i64


class TernKernel:
    """ternwalk.c's entry points, argument types set (arrays go as data pointers): the walk and
    its reductions on their own (for tests)."""

    def __init__(self, lib: ctypes.CDLL, path: Path):
        self.path = path
        self.walk = lib.fastmm_tern_walk
        # A, B, C, SA, SB, SC, cap, cm, st, rng, steps, target, plateau, plus_limit
        self.walk.argtypes = [_ptr] * 6 + [_i64, _ptr, _ptr, _ptr, _i64, _i64, _i64, _i64]
        self.walk.restype = _i64
        self.settle = lib.fastmm_tern_settle
        # A, B, C, SA, SB, SC, r, work, nw
        self.settle.argtypes = [_ptr] * 6 + [_i64, _ptr, _i64]
        self.settle.restype = _i64


@dataclass(frozen=True)
class Walk:
    """One C walk: its file in csrc/, its library's name prefix, the class binding its entry
    points (called with the loaded library and its path), its name in the debug note and the
    lines put before its source (the symmetric walk's orbit size)."""

    source: str
    prefix: str
    bind: Any
    what: str
    defines: bytes = b""


FLIP = Walk(SOURCE, PREFIX, Kernel, "C flip walk")
SYMMETRIC = Walk("symwalk.c", "fastmm-symwalk-", SymKernel, "C symmetric walk", b"#define ORBIT 3\n")
SYMMETRIC6 = Walk("symwalk.c", "fastmm-symwalk6-", SymKernel, "C six-fold symmetric walk",
                  b"#define ORBIT 6\n")
TERNARY = Walk("ternwalk.c", "fastmm-ternwalk-", TernKernel, "C ternary walk")


def find_compiler() -> list[str] | None:
    """The C compiler command by fastmm.export.build.find_compiler's rules; None if there is none."""
    env = os.environ.get("CC", "").strip()
    if env:
        argv = shlex.split(env)
        exe = shutil.which(argv[0])
        return [exe] + argv[1:] if exe else None
    for name in ("cc", "gcc", "clang"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    return None


def cache_dir() -> Path:
    """$FASTMM_CACHE, else ~/.cache/fastmm (fastmm.export.build's cache)."""
    env = os.environ.get("FASTMM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fastmm"


PRELUDE = "splitmix.h"  # the draws the walks share, prepended to each walk's source


def source_text(walk: Walk = FLIP) -> bytes:
    """The text a walk's library is built from (and keyed by): its defines, the shared prelude,
    then its file."""
    csrc = resources.files("fastmm.search").joinpath("csrc")
    return walk.defines + csrc.joinpath(PRELUDE).read_bytes() + csrc.joinpath(walk.source).read_bytes()


def _key(*parts: bytes | str) -> str:
    import hashlib  # only when a walk loads the library: importing it costs a few ms

    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def library_path(source: bytes, compiler: list[str], prefix: str = PREFIX) -> Path:
    """Where the library built from `source` by `compiler` is cached."""
    cc_key = _key(*compiler, sys.platform, platform.machine())
    return cache_dir() / f"{prefix}{_key(source, *CFLAGS)}-{cc_key}.so"


def _open(path: Path, bind: Any = Kernel) -> Any:
    try:
        return bind(ctypes.CDLL(str(path)), path)
    except (OSError, AttributeError):  # not a library for this machine, or not ours
        return None


def build(compiler: list[str], source: bytes, target: Path) -> None:
    """Compile `source` into the shared library `target`, atomically; OSError on any failure."""
    import subprocess
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        # the source goes in on stdin, so the library is built from exactly the hashed text
        proc = subprocess.run([*compiler, *CFLAGS, "-x", "c", "-o", tmp, "-"], input=source,
                              capture_output=True, timeout=COMPILE_TIMEOUT_S)
        if proc.returncode != 0:
            first = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
            raise OSError(f"{compiler[0]} failed: {' | '.join(first[:2])}")
        os.replace(tmp, target)
    except subprocess.TimeoutExpired:
        raise OSError(f"{compiler[0]} took over {COMPILE_TIMEOUT_S} s") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _note(message: str, walk: Walk = FLIP) -> None:
    import logging

    logging.getLogger(__name__).debug("%s unavailable: %s", walk.what, message)


def _load(walk: Walk = FLIP) -> Any:
    source = source_text(walk)
    compiler = find_compiler()
    if compiler is None:
        # a library this source was built into before, by whichever compiler
        pattern = f"{walk.prefix}{_key(source, *CFLAGS)}-*.so"
        for path in sorted(cache_dir().glob(pattern)):
            kernel = _open(path, walk.bind)
            if kernel is not None:
                return kernel
        _note("no C compiler ($CC, cc, gcc or clang) and no cached library", walk)
        return None
    path = library_path(source, compiler, walk.prefix)
    kernel = _open(path, walk.bind) if path.exists() else None
    if kernel is None:  # not built yet, or a broken file: (re)build it
        build(compiler, source, path)
        kernel = _open(path, walk.bind)
        if kernel is None:
            _note(f"cannot load {path}", walk)
    return kernel


def _load_or_none(walk: Walk) -> Any:
    try:
        return _load(walk)
    except Exception as exc:  # an optional speed-up: any failure means walking without it
        _note(f"{type(exc).__name__}: {exc}", walk)
        return None


_UNSET = object()
_KERNEL: object = _UNSET  # the flip walk's library, once looked for
_SYM_KERNEL: object = _UNSET  # the symmetric walk's
_SYM6_KERNEL: object = _UNSET  # the six-fold symmetric walk's
_TERN_KERNEL: object = _UNSET  # the ternary walk's


def load() -> Kernel | None:
    """The C walk, compiled on first use and cached; None (for good, in this process) if unavailable."""
    global _KERNEL
    if _KERNEL is _UNSET:
        _KERNEL = _load_or_none(FLIP)
    return _KERNEL  # type: ignore[return-value]


def load_symmetric() -> SymKernel | None:
    """The C symmetric walk, as `load()` does the flip walk."""
    global _SYM_KERNEL
    if _SYM_KERNEL is _UNSET:
        _SYM_KERNEL = _load_or_none(SYMMETRIC)
    return _SYM_KERNEL  # type: ignore[return-value]


def load_symmetric6() -> SymKernel | None:
    """The C six-fold symmetric walk, as `load()` does the flip walk."""
    global _SYM6_KERNEL
    if _SYM6_KERNEL is _UNSET:
        _SYM6_KERNEL = _load_or_none(SYMMETRIC6)
    return _SYM6_KERNEL  # type: ignore[return-value]


def load_ternary() -> TernKernel | None:
    """The C ternary walk, as `load()` does the flip walk."""
    global _TERN_KERNEL
    if _TERN_KERNEL is _UNSET:
        _TERN_KERNEL = _load_or_none(TERNARY)
    return _TERN_KERNEL  # type: ignore[return-value]


def reset() -> None:
    """Forget the loaded libraries, so the next loads look again (tests change the environment)."""
    global _KERNEL, _SYM_KERNEL, _SYM6_KERNEL, _TERN_KERNEL
    _KERNEL = _SYM_KERNEL = _SYM6_KERNEL = _TERN_KERNEL = _UNSET
