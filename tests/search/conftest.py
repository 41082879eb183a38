"""Fixtures the tests of the C walks share."""

import numpy as np
import pytest

from fastmm.search import flip_c
from fastmm.search import symmetric_kernels as sk
from fastmm.search.symmetric import SymWalker


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty library cache and no C walk loaded in this process (restored afterwards)."""
    monkeypatch.setenv("FASTMM_CACHE", str(tmp_path))
    for name in [name for name in vars(flip_c) if name.endswith("_KERNEL")]:  # each walk's library
        monkeypatch.setattr(flip_c, name, flip_c._UNSET)
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


def same_state(a: SymWalker, b: SymWalker) -> bool:
    return all(np.array_equal(getattr(a, x), getattr(b, x)) for x in ("F", "E", "st", "rng"))


def walk_both(n, split, seed, plateau, plus_limit, chunks, chunk, backends=("c", "numba"), orbit=3):
    """Walk the same start (orbits of `orbit`) on two backends chunk by chunk, checking the states
    agree after each; returns the first walker and the rank and walk-made cubes at the start and
    after each chunk."""
    a, b = (SymWalker(n, split, seed, backend, plus_limit, orbit=orbit) for backend in backends)
    ranks, cubes = [a.rank], [int(a.st[1])]
    for _ in range(chunks):
        assert a.walk(chunk, 0, plateau, plus_limit) == b.walk(chunk, 0, plateau, plus_limit)
        assert same_state(a, b)
        ranks.append(a.rank)
        cubes.append(int(a.st[1]))
    return a, ranks, cubes
