"""Frames: a ternary scheme moved by a random change of basis (and random term scales) comes
back to a ternary scheme, and every framed point keeps the tensor."""

from __future__ import annotations

import numpy as np
import pytest

from fastmm.catalog import catalog_dir
from fastmm.io import load_scheme
from fastmm.reference import strassen
from fastmm.search.frames import balance, framed_points, rank_one
from fastmm.search.rounding import exact_scheme, float_residual, to_fractions


def _factors(scheme):
    return [np.asarray(x, dtype=float) for x in (scheme.Wa, scheme.Wb, scheme.Wc.T)]


def _moved(scheme, seed):
    """The scheme's point after random X, Y, Z and random per-term scales: a generic point."""
    rng = np.random.default_rng(seed)
    n, m, p = scheme.shape
    r = scheme.rank
    u, v, w = _factors(scheme)
    x, y, z = (rng.normal(size=(k, k)) + 2 * np.eye(k) for k in (n, m, p))
    xit, yit, zit = (np.linalg.inv(a).T for a in (x, y, z))
    big_u = np.einsum("ai,tij,bj->tab", x, u.reshape(r, n, m), y)
    big_v = np.einsum("ai,tij,bj->tab", yit, v.reshape(r, m, p), z)
    big_w = np.einsum("ai,tij,bj->tab", xit, w.reshape(r, n, p), zit)
    a, b = rng.uniform(0.5, 2, r), rng.uniform(0.5, 2, r)
    return ((big_u * a[:, None, None]).reshape(r, -1), (big_v * b[:, None, None]).reshape(r, -1),
            (big_w / (a * b)[:, None, None]).reshape(r, -1))


def _first_ternary(point, shape):
    for framed in framed_points(*point, shape):
        snapped = [np.clip(np.round(x), -1, 1) for x in framed]
        if max(np.abs(x - s).max() for x, s in zip(framed, snapped, strict=True)) < 1e-6:
            found = exact_scheme(shape, *(to_fractions(s, 1) for s in snapped), ring="ZT",
                                 provenance={})
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("seed", range(5))
def test_strassen_moved_along_its_orbit_comes_back_ternary(seed):
    point = _moved(strassen(), seed)
    assert max(np.abs(x - np.round(x)).max() for x in point) > 0.05  # really moved off the grid
    found = _first_ternary(point, (2, 2, 2))
    assert found is not None and found.rank == 7 and found.ring == "ZT"


@pytest.mark.parametrize("seed", range(3))
def test_a_catalogue_scheme_moved_comes_back_ternary(seed):
    scheme = load_scheme(catalog_dir() / "2x3x3-rank15-ZT.json")
    found = _first_ternary(_moved(scheme, seed), (2, 3, 3))
    assert found is not None and found.rank == 15 and found.ring == "ZT"


def test_every_framed_point_keeps_the_tensor():
    point = _moved(strassen(), 7)
    framed = list(framed_points(*point, (2, 2, 2)))
    assert framed
    for u, v, w in framed:
        assert float_residual((2, 2, 2), u, v, w) < 1e-18
        assert np.allclose(np.abs(u).max(axis=1), 1) and np.allclose(np.abs(v).max(axis=1), 1)


def test_without_rank_one_terms_only_the_rescaled_point_is_offered():
    rng = np.random.default_rng(3)
    u, v, w = (rng.normal(size=(4, 4)) for _ in range(3))  # generic 2×2 matrices: rank two
    assert all(rank_one(t.reshape(2, 2)) is None for t in u)
    framed = list(framed_points(u, v, w, (2, 2, 2)))
    assert len(framed) == 1
    got = np.einsum("ta,tb,tc->abc", *framed[0])
    assert np.allclose(got, np.einsum("ta,tb,tc->abc", u, v, w))


def test_balance_undoes_a_diagonal_change_of_basis_and_term_scales():
    u, v, w = _factors(strassen())
    r = 7
    big_u, big_v, big_w = u.reshape(r, 2, 2), v.reshape(r, 2, 2), w.reshape(r, 2, 2)
    x, y, z = np.diag([2.0, 1.0]), np.diag([1.0, 0.5]), np.diag([4.0, 1.0])
    scales = 2.0 ** np.arange(-3, 4)
    su = np.einsum("ai,tij,bj->tab", x, big_u, y) * scales[:, None, None]
    sv = np.einsum("ai,tij,bj->tab", np.linalg.inv(y).T, big_v, z)
    sw = np.einsum("ai,tij,bj->tab", np.linalg.inv(x).T, big_w, np.linalg.inv(z).T) / scales[:, None, None]
    scaled = [a.reshape(r, -1) for a in (su, sv, sw)]
    assert max(np.abs(a).max() for a in scaled) > 4  # far from ternary
    back = balance(*scaled, (2, 2, 2))
    assert back is not None
    ints = [np.round(a) for a in back]
    assert all(np.allclose(a, i) for a, i in zip(back, ints, strict=True))
    found = exact_scheme((2, 2, 2), *(to_fractions(i, 1) for i in ints), ring="ZT", provenance={})
    assert found is not None and found.rank == 7


def test_balance_refuses_what_no_diagonal_scaling_makes_ternary():
    u, v, w = _factors(strassen())
    u = u.copy()
    u[0] = [1, 0, 0, 2]  # A11 + 2·A22 beside other terms using A11 + A22: ratios conflict
    assert balance(u, v, w, (2, 2, 2)) is None
