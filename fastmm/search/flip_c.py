"""The C GF(2) flip-graph walk (csrc/flipwalk.c), compiled once per user and loaded with ctypes.

The walk is the one of flip_py.py and flip_kernels.py, step for step: same arrays, same
splitmix64 draws, same results. Its point is start-up: loading a cached library takes about
a millisecond where importing numba and loading its cached kernel take ~0.5 s, which is most
of a small search.

The library is compiled with the system C compiler ($CC, else cc, gcc or clang) the first time
a process needs it, and cached as ``$FASTMM_CACHE`` (default ``~/.cache/fastmm``)
``/fastmm-flipwalk-<source key>-<compiler key>.so``, the keys hashing the C source and flags,
and the compiler command and machine. It is compiled into a temporary file in that directory
and renamed into place, so concurrent processes never load a half-written library.

Never required: without a compiler, or when the compile or the load fails, `load()` returns
None (one debug-level log line, no traceback) and fastmm.search.flip walks with numba or plain
Python. Nothing is compiled on import. This module must not import numba, nor
fastmm.export.build (which imports the code generator: ~30 ms no search start-up needs).
"""

from __future__ import annotations

import ctypes
import os
import platform
import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path

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


def source_text() -> bytes:
    return resources.files("fastmm.search").joinpath("csrc", SOURCE).read_bytes()


def _key(*parts: bytes | str) -> str:
    import hashlib  # only when a walk loads the library: importing it costs a few ms

    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def library_path(source: bytes, compiler: list[str]) -> Path:
    """Where the library built from `source` by `compiler` is cached."""
    cc_key = _key(*compiler, sys.platform, platform.machine())
    return cache_dir() / f"{PREFIX}{_key(source, *CFLAGS)}-{cc_key}.so"


def _open(path: Path) -> Kernel | None:
    try:
        return Kernel(ctypes.CDLL(str(path)), path)
    except (OSError, AttributeError):  # not a library for this machine, or not ours
        return None


def build(compiler: list[str], source: bytes, target: Path) -> None:
    """Compile `source` into the shared library `target`, atomically; OSError on any failure."""
    import subprocess
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".flipwalk-", suffix=".so", dir=target.parent)
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


def _note(message: str) -> None:
    import logging

    logging.getLogger(__name__).debug("C flip walk unavailable: %s", message)


def _load() -> Kernel | None:
    source = source_text()
    compiler = find_compiler()
    if compiler is None:
        # a library this source was built into before, by whichever compiler
        pattern = f"{PREFIX}{_key(source, *CFLAGS)}-*.so"
        for path in sorted(cache_dir().glob(pattern)):
            kernel = _open(path)
            if kernel is not None:
                return kernel
        _note("no C compiler ($CC, cc, gcc or clang) and no cached library")
        return None
    path = library_path(source, compiler)
    kernel = _open(path) if path.exists() else None
    if kernel is None:  # not built yet, or a broken file: (re)build it
        build(compiler, source, path)
        kernel = _open(path)
        if kernel is None:
            _note(f"cannot load {path}")
    return kernel


_UNSET = object()
_KERNEL: object = _UNSET


def load() -> Kernel | None:
    """The C walk, compiled on first use and cached; None (for good, in this process) if unavailable."""
    global _KERNEL
    if _KERNEL is _UNSET:
        try:
            _KERNEL = _load()
        except Exception as exc:  # an optional speed-up: any failure means walking without it
            _note(f"{type(exc).__name__}: {exc}")
            _KERNEL = None
    return _KERNEL  # type: ignore[return-value]


def reset() -> None:
    """Forget the loaded library, so the next `load()` looks again (tests change the environment)."""
    global _KERNEL
    _KERNEL = _UNSET
