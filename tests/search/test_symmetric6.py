"""The six-fold (C3 × central) symmetric flip graph, `--symmetry c3j`: orbits of six keep the
tensor and their symmetry, numba and plain Python walk alike (and C: test_symmetric6_c.py),
results verify, bad input is one line."""

import subprocess
import sys

import numpy as np
import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.search.base import SearchTask
from fastmm.search.symmetric import (
    SymWalker,
    _rotations,
    central,
    cube_groups,
    pair_central,
    run,
    start,
    transpose_mask,
)
from fastmm.search.terms import gf2_tensor_ok
from fastmm.verify import verify


def six_fold_walker(n: int, target: int, seed: int, backend: str = "numba", plus: int = 12) -> SymWalker:
    split = pair_central(n, start(n, cube_groups(n, target, orbit=6)))
    return SymWalker(n, split, seed, backend, target + plus, orbit=6)


def walk_layout_terms(walker: SymWalker) -> set:
    """The walker's terms as a set in the walk layout (third factor transposed back)."""
    A, B, C = walker.terms()
    return {(a, b, transpose_mask(c, walker.n)) for a, b, c in zip(A, B, C, strict=True)}


@pytest.mark.parametrize("n,target", [(2, 7), (4, 49), (5, 93), (6, 153)])
def test_start_is_the_tensor_and_the_rank_fits_modulo_6(n, target):
    walker = six_fold_walker(n, target, seed=0)
    assert (walker.rank - target) % 6 == 0
    assert gf2_tensor_ok((n, n, n), walker.terms())


def test_no_grouping_reaches_a_rank_of_another_residue():
    with pytest.raises(InputError, match=r"mod 6"):
        cube_groups(4, 47, orbit=6)  # 1, 2, 3 or 4 cubes: never 47 = 5 (mod 6)


@pytest.mark.parametrize("n,target", [(3, 25), (4, 49)])
def test_walks_with_plus_transitions_keep_the_tensor_and_the_symmetry(n, target):
    walker = six_fold_walker(n, target, seed=3)
    for _ in range(15):
        walker.walk(20_000, 0, 300, target + 12)  # small plateau: many plus transitions
        assert gf2_tensor_ok((n, n, n), walker.terms())
        terms = walk_layout_terms(walker)
        assert len(terms) == walker.rank  # no term twice
        for t in terms:
            assert set(_rotations(t)) <= terms
            assert tuple(central(x, n) for x in t) in terms


def test_numba_and_plain_python_walk_step_for_step():
    a, b = (six_fold_walker(3, 25, seed=5, backend=backend) for backend in ("numba", "python"))
    for _ in range(4):
        a.walk(400, 0, 50, 37)
        b.walk(400, 0, 50, 37)
        assert np.array_equal(a.F, b.F) and np.array_equal(a.st, b.st) and np.array_equal(a.rng, b.rng)


def test_finds_a_verified_444_rank_49_over_zt():
    out = run(SearchTask(4, 4, 4, 49, "ZT", seed=0, time_limit=120, options={"group": "c3j"}),
              lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.rank == 49
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"
    assert out.scheme.provenance["symmetry"] == "c3j"


def test_library_search_with_c3j():
    found = fastmm.search((2, 2, 2), 7, symmetry="c3j", sympy=False)
    assert found.rank == 7 and found.provenance["symmetry"] == "c3j"
    assert found.provenance["method"] == "symmetric"


def test_split_refuses_cubes_or_orbits_that_j_does_not_map_to_the_start():
    with pytest.raises(InputError, match="cubes are not invariant"):
        pair_central(4, start(4, cube_groups(4, 49, count=3)))  # {0}, {1}, {2,3}
    reps, cubes = start(4, cube_groups(4, 49, orbit=6))
    with pytest.raises(InputError, match="orbits of six"):
        pair_central(4, (reps[1:], cubes))  # one orbit's partner is missing


@pytest.mark.parametrize("args,message", [
    (["3", "3", "4", "--rank", "29", "--symmetry", "c3j"], "needs a square shape"),
    (["4", "4", "4", "--rank", "47", "--symmetry", "c3j"], "mod 6"),
    (["4", "4", "4", "--rank", "49", "--symmetry", "c3j", "--method", "flip"], "symmetric flip graph"),
])
def test_cli_bad_input_is_one_line(args, message, tmp_path):
    res = subprocess.run([sys.executable, "-m", "fastmm", "search", *args, "--time-limit", "5",
                          "--no-sympy"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_finds_444_rank_49(tmp_path):
    out = tmp_path / "s.json"
    res = subprocess.run([sys.executable, "-m", "fastmm", "search", "4", "4", "4", "--rank", "49",
                          "--symmetry", "c3j", "--no-sympy", "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    scheme = fastmm.load(out)
    assert scheme.rank == 49 and verify(scheme, use_sympy=False).ok


def test_cli_finds_444_rank_49_with_the_c_backend(tmp_path):
    from fastmm.search import flip_c

    if flip_c.load_symmetric6() is None:
        pytest.skip("no C compiler ($CC, cc, gcc or clang) to build the C six-fold symmetric walk with")
    out = tmp_path / "s.json"
    res = subprocess.run([sys.executable, "-m", "fastmm", "search", "4", "4", "4", "--rank", "49",
                          "--symmetry", "c3j", "--option", "backend=c", "--no-sympy", "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    scheme = fastmm.load(out)
    assert scheme.rank == 49 and verify(scheme, use_sympy=False).ok
    assert scheme.provenance["backend"] == "c" and scheme.provenance["symmetry"] == "c3j"


@pytest.mark.parametrize("cubes,groups", [
    ("consecutive", [[0, 1], [2, 3], [4, 5]]),  # Moosbauer–Poole's ⟨6,6,6;153⟩ run file
    ("pairs", [[0, 5], [1, 4], [2, 3]]),
    ("singles", [[0], [1], [2], [3], [4], [5]]),
    ("one", [[0, 1, 2, 3, 4, 5]]),
    ([[5, 4], [0, 1], [2, 3]], [[4, 5], [0, 1], [2, 3]]),
])
def test_named_and_explicit_cube_groups_start_the_tensor(cubes, groups):
    assert cube_groups(6, 153, cubes, orbit=6) == groups  # used as given, whatever rank they allow
    walker = SymWalker(6, pair_central(6, start(6, groups)), 0, "numba", 230, orbit=6)
    assert gf2_tensor_ok((6, 6, 6), walker.terms())
    assert (walker.rank - len(groups)) % 6 == 0


@pytest.mark.parametrize("cubes,message", [
    ([[0, 1], [2]], "cover every diagonal index"),  # E33⊗E33⊗E33 would be left outside any orbit
    ([[0, 1], [1, 2], [3]], "two groups"),
    ([[0, 4]], "run from 0 to 3"),
    ("halves", "one of pairs"),
])
def test_bad_cube_groups_are_input_errors(cubes, message):
    with pytest.raises(InputError, match=message):
        cube_groups(4, 49, cubes, orbit=6)


def test_cli_consecutive_cubes_and_their_errors(tmp_path):
    out = tmp_path / "s.json"
    base = [sys.executable, "-m", "fastmm", "search", "4", "4", "4", "--rank", "50", "--symmetry", "c3j",
            "--no-sympy", "--time-limit", "60"]
    res = subprocess.run(base + ["--option", "cubes=consecutive", "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    scheme = fastmm.load(out)
    assert scheme.rank <= 50 and verify(scheme, use_sympy=False).ok
    assert scheme.provenance["cubes"] == [[0, 1], [2, 3]]
    for bad, message in ((["--option", "cubes=[[0],[1],[2,3]]"], "not invariant under X -> JXJ"),
                         (["--option", 'cubes=[[0],[1,"a"]]'], "option cubes must be"),
                         (["--option", "cubes=0"], "option cubes must be"),
                         (["--option", "cubes=pairs", "--start", str(out)], "brings its own cubes")):
        res = subprocess.run(base + bad, capture_output=True, text=True, cwd=tmp_path)
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert res.returncode == 2 and len(lines) == 1 and message in lines[0], res.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.json"]


@pytest.mark.parametrize("x,cubes", [(0b0000_0000_0000_0011, 2), (0b1000_0000_0000_0001, 0)])
def test_an_orbit_of_cubes_becomes_the_cubes_x_and_jx(x, cubes):
    from fastmm.search import symmetric_kernels as sk

    F = np.zeros((3, 12), dtype=np.int64)
    F[:, 0] = (x, x, x)
    sk.set_orbit.py_func(F, 0, 6, 16)
    E = np.zeros(8, dtype=np.int64)
    st = np.array([1, 0, 0, 6, 16], dtype=np.int64)
    sk._settle.py_func(F, E, st, np.array([0, 0, 0, 0], dtype=np.int64), 1, 6)
    assert st[0] == 0 and st[1] == cubes  # x = J(x): the six slots cancel
    if cubes:
        assert sorted(E[:2]) == sorted([x, central(x, 4)])


def test_show_says_whether_a_scheme_can_start_c3j_walks():
    from fastmm.search.symmetric import c3_symmetry

    found = fastmm.search((4, 4, 4), 49, symmetry="c3j", sympy=False)
    assert c3_symmetry(found) == "yes modulo 2 (1 cube + 16 orbits of 3; with X -> JXJ: 8 orbits of 6)"
    from pathlib import Path

    c3_only = fastmm.load(Path(fastmm.__file__).parent / "data" / "catalog" / "5x5x5-rank93-ZT.json")
    assert c3_symmetry(c3_only) == "yes modulo 2 (3 cubes + 30 orbits of 3)"
