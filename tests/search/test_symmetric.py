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
    walker = SymWalker(n, groups, seed=0, backend="numba", plus_limit=target + 9)
    assert gf2_tensor_ok((n, n, n), walker.terms())


def test_paper_cubes_for_555():
    assert cube_groups(5, 93) == [[0, 4], [1, 3], [2]]  # E11+E55, E22+E44, E33


def test_orbits_are_rotations_of_their_representative():
    walker = SymWalker(3, cube_groups(3, 23), seed=1, backend="numba", plus_limit=32)
    walker.walk(5_000, 0, 1_000, 32)
    F, k = walker.F, int(walker.st[0])
    for o in range(k):
        a, b, c = F[:, 3 * o]
        assert tuple(F[:, 3 * o + 1]) == (c, a, b)
        assert tuple(F[:, 3 * o + 2]) == (b, c, a)


@pytest.mark.parametrize("n", [3, 4])
def test_walks_with_plus_transitions_keep_the_tensor(n):
    target = {3: 23, 4: 49}[n]
    walker = SymWalker(n, cube_groups(n, target), seed=7, backend="numba", plus_limit=target + 12)
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
