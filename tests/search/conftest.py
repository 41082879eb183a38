"""Fixtures the tests of the C walks share."""

import numpy as np
import pytest

from fastmm.search import flip_c
from fastmm.search import symmetric_kernels as sk


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty library cache and no C walk loaded in this process (restored afterwards)."""
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path))
    monkeypatch.setattr(flip_c, "_KERNEL", flip_c._UNSET)
    monkeypatch.setattr(flip_c, "_SYM_KERNEL", flip_c._UNSET)
    monkeypatch.setattr(flip_c, "_SYM6_KERNEL", flip_c._UNSET)
    return tmp_path


def c_walk_or_skip(load, what: str):
    """The C walk `load()` builds in the user's cache as a search would; skips without a compiler."""
    kernel = load()
    if kernel is None:
        pytest.skip(f"no C compiler ($CC, cc, gcc or clang) to build the C {what} with")
    return kernel


@pytest.fixture
def plain_python(monkeypatch):
    """symmetric_kernels.walk.py_func calling only plain Python (with numba installed its helpers
    are compiled functions); uint64 arithmetic wraps around as in C."""
    for name in ("rev", "set_orbit", "_remove_orbit", "_add_cube", "_settle", "_step", "_plus", "rand_below"):
        monkeypatch.setattr(sk, name, getattr(sk, name).py_func)
    with np.errstate(over="ignore"):
        yield
