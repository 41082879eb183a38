"""The C3-symmetric flip graph: starts split into orbits, walks keep the tensor, results verify."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fastmm.search.base import SearchTask
from fastmm.search.symmetric import SymWalker, cube_groups, run, start, transpose_mask
from fastmm.search.terms import gf2_tensor_ok
from fastmm.verify import verify


@pytest.mark.parametrize("n,target", [(2, 7), (3, 23), (4, 49), (5, 93), (6, 153)])
def test_cube_groups_fix_the_rank_modulo_3_and_the_start_is_the_tensor(n, target):
    groups = cube_groups(n, target)
    assert sorted(i for g in groups for i in g) == list(range(n))
    reps, cubes = start(n, groups)
    assert (len(cubes) + 3 * len(reps) - target) % 3 == 0
    walker = SymWalker(n, start(n, groups), seed=0, backend="numba", plus_limit=target + 9)
    assert gf2_tensor_ok((n, n, n), walker.terms())


def test_paper_cubes_for_555():
    assert cube_groups(5, 93) == [[0, 4], [1, 3], [2]]  # E11+E55, E22+E44, E33


def test_orbits_are_rotations_of_their_representative():
    walker = SymWalker(3, start(3, cube_groups(3, 23)), seed=1, backend="numba", plus_limit=32)
    walker.walk(5_000, 0, 1_000, 32)
    F, k = walker.F, int(walker.st[0])
    for o in range(k):
        a, b, c = F[:, 3 * o]
        assert tuple(F[:, 3 * o + 1]) == (c, a, b)
        assert tuple(F[:, 3 * o + 2]) == (b, c, a)


@pytest.mark.parametrize("n", [3, 4])
def test_walks_with_plus_transitions_keep_the_tensor(n):
    target = {3: 23, 4: 49}[n]
    walker = SymWalker(n, start(n, cube_groups(n, target)), seed=7, backend="numba", plus_limit=target + 12)
    for _ in range(20):
        walker.walk(20_000, 0, 500, target + 12)  # small plateau: many plus transitions
        assert gf2_tensor_ok((n, n, n), walker.terms())


def test_transpose_mask():
    n = 3
    x = (1 << (0 * n + 1)) | (1 << (2 * n + 0))  # E12 + E31
    assert transpose_mask(x, n) == (1 << (1 * n + 0)) | (1 << (0 * n + 2))


def test_finds_a_verified_333_rank_23_over_zt():
    out = run(SearchTask(3, 3, 3, 23, "ZT", seed=0, time_limit=60), lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.rank <= 23
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"
    assert out.scheme.provenance["symmetry"] == "c3"


def test_time_limit_returns_the_best_lifted_scheme():
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 40

    out = run(SearchTask(4, 4, 4, 40, "ZT", seed=0), lambda p: None, stop)
    assert out.scheme is None
    assert out.best is None or (verify(out.best, use_sympy=False).ok and out.best.rank < 64)


def test_cli_symmetry_c3(tmp_path):
    out = tmp_path / "s.json"
    r = subprocess.run([sys.executable, "-m", "fastmm", "search", "3", "3", "3", "--rank", "23",
                        "--symmetry", "c3", "--no-sympy", "-q", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["rank"] == 23 and data["provenance"]["method"] == "symmetric"
    assert data["provenance"]["symmetry"] == "c3"
    assert np.array(data["Wa"]).shape == (23, 9)


def _rotated(scheme):
    """The scheme's terms with (A, B, Cᵀ) -> (Cᵀ, A, B): the same scheme when it is C3-symmetric."""
    from fastmm.scheme import Scheme

    n = scheme.shape[0]
    ct = scheme.Wc.T.reshape(-1, n, n).transpose(0, 2, 1).reshape(-1, n * n)  # rows: Cᵀ per term
    return Scheme(n, n, n, ct, scheme.Wa, scheme.Wb.reshape(-1, n, n).transpose(0, 2, 1)
                  .reshape(-1, n * n).T)


def test_split_of_symmetric_schemes_and_their_kronecker_products():
    from fastmm.reference import strassen
    from fastmm.search.symmetric import split_scheme
    from fastmm.search.terms import to_terms

    s = strassen()
    assert verify(_rotated(s), use_sympy=False).ok  # Strassen's scheme is C3-symmetric
    for scheme, orbits, cubes in [(s, 2, 1), (s.kron(s), 16, 1), (naive_333(), 8, 3)]:
        reps, cube_masks = split_scheme(scheme)
        assert (len(reps), len(cube_masks)) == (orbits, cubes)
        walker = SymWalker(scheme.shape[0], (reps, cube_masks), seed=0, backend="numba", plus_limit=0)
        assert walker.rank == scheme.rank
        assert sorted(zip(*walker.terms(), strict=True)) == sorted(zip(*to_terms(scheme), strict=True))


def naive_333():
    from fastmm.scheme import naive_scheme

    return naive_scheme(3, 3, 3)


def test_a_scheme_that_is_not_symmetric_is_refused_in_one_line():
    from fastmm.errors import InputError
    from fastmm.reference import laderman, strassen
    from fastmm.scheme import naive_scheme

    for bad, words in [(laderman(), "not C3-symmetric"), (naive_scheme(2, 2, 2), "shape"),
                       (strassen(), "shape")]:
        task = SearchTask(3, 3, 3, 23, "ZT", seed=0, time_limit=5, options={"start": bad})
        with pytest.raises(InputError, match=words):
            run(task, lambda p: None, lambda: False)


def test_walks_from_a_given_symmetric_start():
    import time

    # 3 cubes E_ii⊗E_ii⊗E_ii and 8 orbits: not the default split, and the rank stays a multiple
    # of 3 unless cubes appear or cancel, so 24 is the first target (the default split reaches 23)
    start_scheme = naive_333()
    task = SearchTask(3, 3, 3, 24, "ZT", seed=0, options={"start": start_scheme})
    deadline = time.monotonic() + 60
    out = run(task, lambda p: None, lambda: time.monotonic() > deadline)
    assert out.scheme is not None and out.scheme.rank == 24
    assert verify(out.scheme, use_sympy=False).ring == "ZT"
    prov = out.scheme.provenance
    assert prov["start"] == "⟨3,3,3;27⟩" and prov["start_cubes"] == 3 and prov["cubes"] == []


def test_the_start_option_goes_through_the_library_check():
    from fastmm import api

    with pytest.raises(Exception, match="start"):
        api.search((3, 3, 3), 23, method="symmetric", time_limit=5, options={"start": "x.json"})
