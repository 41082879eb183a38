"""Fixtures the tests of the C walks share."""

import pytest

from fastmm.search import flip_c


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
