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
