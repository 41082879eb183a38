"""The transpose-symmetric flip graph (`--symmetry t2`): the start and every walk stay σ-symmetric
and equal to the tensor modulo 2, results are verified in the shape asked for, bad input is one line."""

import json

import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.scheme import naive_scheme
from fastmm.search.base import SearchTask
from fastmm.search.symmetric import run
from fastmm.search.terms import gf2_tensor_ok
from fastmm.search.transpose_symmetric import (
    T2Walker,
    describe,
    naive_split,
    sigma,
    split_scheme,
    transpose_mask,
    walk_shape,
)
from fastmm.verify import verify
from tests.hostile.contract import run_cli

CATALOG = fastmm.__path__[0] + "/data/catalog/"


def _symmetric(walker: T2Walker) -> bool:
    n, m = walker.n, walker.m
    k, nf = int(walker.st[0]), int(walker.st[1])
    pairs_ok = all(tuple(walker.F[:, 2 * o + 1]) == sigma(tuple(int(x) for x in walker.F[:, 2 * o]), n, m)
                   for o in range(k))
    xs = [int(x) for x in walker.X[:nf]]
    fixed_ok = all(transpose_mask(int(z), n, n) == int(z) and z != 0 for z in walker.Z[:nf])
    return pairs_ok and fixed_ok and 0 not in xs  # two fixed terms may share x after a z-split


def test_walk_shape_rotates_two_equal_sizes_to_the_outside():
    assert walk_shape((3, 3, 6)) == (3, 6, 3)
    assert walk_shape((6, 3, 3)) == (3, 6, 3)
    assert walk_shape((3, 6, 3)) == (3, 6, 3)
    assert walk_shape((2, 2, 2)) == (2, 2, 2)
    assert walk_shape((2, 3, 4)) is None


def test_transpose_mask_of_a_rectangle():
    # E_01 + E_12 of a 2×3 matrix -> E_10 + E_21 of its 3×2 transpose
    x = (1 << 1) | (1 << (1 * 3 + 2))
    assert transpose_mask(x, 2, 3) == (1 << (1 * 2 + 0)) | (1 << (2 * 2 + 1))
    assert transpose_mask(transpose_mask(x, 2, 3), 3, 2) == x


@pytest.mark.parametrize("n,m", [(2, 2), (2, 3), (3, 2), (3, 4)])
def test_naive_split_is_the_tensor_with_nm_fixed_terms(n, m):
    reps, fixed = naive_split(n, m)
    assert len(fixed) == n * m and len(fixed) + 2 * len(reps) == n * n * m
    walker = T2Walker(n, m, (reps, fixed), seed=0, backend="numba", plus_limit=n * n * m + 6)
    assert gf2_tensor_ok((n, m, n), walker.terms()) and _symmetric(walker)


@pytest.mark.parametrize("n,m,backend", [(2, 2, "numba"), (2, 3, "numba"), (3, 3, "numba"), (3, 4, "numba"),
                                         (3, 2, "python")])
def test_walks_with_every_move_keep_the_tensor_and_the_symmetry(n, m, backend):
    limit = n * n * m + 6
    walker = T2Walker(n, m, naive_split(n, m), seed=11, backend=backend, plus_limit=limit)
    first = walker.terms()
    for _ in range(30 if backend == "numba" else 5):
        walker.walk(20_000 if backend == "numba" else 400, 0, 50, limit)  # small plateau: many plus moves
        assert gf2_tensor_ok((n, m, n), walker.terms()) and _symmetric(walker)
        assert walker.rank == len(walker.terms()[0])
    assert walker.terms() != first  # it moved


def test_python_and_numba_walks_agree_step_for_step():
    a = T2Walker(3, 2, naive_split(3, 2), seed=5, backend="numba", plus_limit=24)
    b = T2Walker(3, 2, naive_split(3, 2), seed=5, backend="python", plus_limit=24)
    for _ in range(5):
        a.walk(300, 0, 40, 24)
        b.walk(300, 0, 40, 24)
        assert a.terms() == b.terms()


def test_split_of_catalogue_schemes():
    reps, fixed = split_scheme(fastmm.load(CATALOG + "2x2x2-rank7-ZT.json"))
    assert (len(fixed), len(reps)) == (3, 2)  # Strassen: three fixed terms and two pairs
    assert describe(fastmm.load(CATALOG + "2x2x3-rank11-ZT.json")) == "yes modulo 2 (5 fixed + 3 pairs)"
    assert describe(fastmm.load(CATALOG + "2x3x3-rank15-ZT.json")) == "no"
    assert describe(fastmm.load(CATALOG + "2x3x4-rank20-ZT.json")) is None  # no two equal sizes
    with pytest.raises(InputError, match="not symmetric"):
        split_scheme(fastmm.load(CATALOG + "2x3x3-rank15-ZT.json").permuted((3, 2, 3)))


@pytest.mark.parametrize("shape,rank", [((2, 2, 2), 7), ((2, 2, 3), 11), ((3, 2, 2), 11)])
def test_finds_verified_schemes_in_the_shape_asked_for(shape, rank):
    out = run(SearchTask(*shape, rank, "ZT", seed=0, time_limit=60, options={"group": "t2"}),
              lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.shape == shape and out.scheme.rank <= rank
    v = verify(out.scheme, use_sympy=False)
    assert v.ok and v.ring == "ZT"
    assert out.scheme.provenance["symmetry"] == "t2"


def test_walks_from_a_symmetric_start_of_a_permuted_shape():
    start = fastmm.load(CATALOG + "2x2x3-rank11-ZT.json").permuted((3, 2, 2))
    out = run(SearchTask(2, 3, 2, 11, "ZT", seed=1, time_limit=60, options={"group": "t2", "start": start}),
              lambda p: None, lambda: False)
    assert out.scheme is not None and out.scheme.shape == (2, 3, 2) and verify(out.scheme, use_sympy=False).ok


def test_library_search_with_symmetry_t2():
    scheme = fastmm.search((2, 2, 2), 7, symmetry="t2", seed=3, time_limit=60)
    assert scheme.rank == 7 and verify(scheme).ok


def test_a_stopped_walk_gives_the_best_valid_scheme():
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 40

    out = run(SearchTask(3, 3, 3, 19, "ZT", seed=0, options={"group": "t2"}), lambda p: None, stop)
    assert out.scheme is None and out.best is not None and verify(out.best, use_sympy=False).ok


def test_cli_writes_a_verified_scheme(tmp_path):
    out = tmp_path / "s.json"
    r = run_cli("search", "2", "2", "3", "--rank", "11", "--symmetry", "t2", "--no-sympy", "-o", str(out))
    assert r.rc == 0, r.err
    data = json.loads(out.read_text())
    assert data["shape"] == [2, 2, 3] and data["rank"] == 11
    assert data["provenance"]["symmetry"] == "t2" and data["provenance"]["walk_shape"] == [2, 3, 2]
    assert verify(fastmm.load(str(out))).ok


@pytest.mark.parametrize("args,words", [
    (["2", "3", "4", "--rank", "20", "--symmetry", "t2"], "two equal sizes"),
    (["2", "2", "3", "--rank", "11", "--symmetry", "t2", "--option", "cubes=2"], "cubes applies"),
    (["2", "2", "3", "--rank", "11", "--symmetry", "t2", "--method", "flip"], "symmetric"),
    (["8", "8", "8", "--rank", "343", "--symmetry", "t2"], "t2 walk supports"),
])
def test_bad_input_is_one_line(args, words):
    r = run_cli("search", *args, "--time-limit", "5")
    assert r.rc == 2
    assert words in r.err and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_a_start_that_is_not_symmetric_is_refused(tmp_path):
    start = fastmm.load(CATALOG + "2x3x3-rank15-ZT.json")
    path = tmp_path / "start.json"
    fastmm.save(start, str(path))
    r = run_cli("search", "3", "2", "3", "--rank", "15", "--symmetry", "t2", "--start", str(path),
                "--time-limit", "5")
    assert r.rc == 2 and "not symmetric" in r.err and "Traceback" not in r.err


def test_show_names_the_transpose_symmetry():
    r = run_cli("show", CATALOG + "2x2x2-rank7-ZT.json")
    assert "transpose symmetry (A,B,C) -> (Bᵀ,Aᵀ,Cᵀ): yes modulo 2 (3 fixed + 2 pairs)" in r.out
    naive = naive_scheme(2, 3, 2)
    assert describe(naive) == "yes modulo 2 (6 fixed + 3 pairs)"


def _distinct_nonzero(terms) -> bool:
    triples = list(zip(*terms, strict=True))
    return len(set(triples)) == len(triples) and all(a and b and c for a, b, c in triples)


@pytest.mark.parametrize("seed", [1, 16, 17])
def test_fixed_terms_of_one_x_are_added_up_before_a_rank_is_told(seed):
    # helper-64: z-splits left two fixed terms of one x (and a split of those, x = 0): a "rank 26"
    # ⟨3,3,3⟩ file held the same product twice, and a saved "26" was a 23
    walker = T2Walker(3, 3, naive_split(3, 3), seed=seed, backend="numba", plus_limit=33)
    for _ in range(40):
        walker.walk(5_000, 0, 3, 33)
        terms = walker.terms()
        assert _distinct_nonzero(terms) and walker.rank == len(terms[0])
        assert gf2_tensor_ok((3, 3, 3), terms)


@pytest.mark.parametrize("seed", [16, 17])
def test_z2_results_have_distinct_nonzero_products(seed):
    out = run(SearchTask(3, 3, 3, 26, "Z2", seed=seed, options={"group": "t2", "plateau": 3}),
              lambda p: None, lambda: False)
    from fastmm.search.terms import to_terms

    assert out.scheme is not None and _distinct_nonzero(to_terms(out.scheme))


@pytest.mark.parametrize("group,shape,rank,file", [("t2", (2, 2, 3), 11, "2x2x3-rank11-ZT.json"),
                                                  ("c3", (3, 3, 3), 23, "3x3x3-rank23-ZT.json")])
def test_a_saved_scheme_at_the_target_is_not_reported_as_reached_when_none_is_found(group, shape, rank, file):
    # helper-65: resumed after it was found, a search stopped early said "no scheme of rank 52
    # ... best rank reached 52" and wrote the saved scheme again
    saved = fastmm.load(CATALOG + file)
    out = run(SearchTask(*shape, rank, "ZT", seed=0, options={"group": group, "starts": [saved]}),
              lambda p: None, lambda: True)
    assert out.scheme is None
    assert out.best is None or out.best.rank > rank


def test_snapshot_and_restore_go_back_to_the_same_scheme():
    from fastmm.search.symmetric import SymWalker, choose_backend, cube_groups, start

    walkers = [T2Walker(3, 3, naive_split(3, 3), seed=2, backend="numba", plus_limit=33),
               SymWalker(3, start(3, cube_groups(3, 23)), seed=2, backend=choose_backend(None),
                         plus_limit=30)]
    for walker in walkers:
        walker.walk(2_000, 0, 100, 30)
        kept, terms, rank = walker.snapshot(), walker.terms(), walker.rank
        walker.walk(5_000, 0, 10, 33)
        assert walker.terms() != terms
        walker.restore(kept)
        assert walker.terms() == terms and walker.rank == rank
        walker.walk(1_000, 0, 100, 30)  # and it walks on from there
        assert gf2_tensor_ok((3, 3, 3), walker.terms())


def test_liftable_is_a_flag():
    r = run_cli("search", "2", "2", "3", "--rank", "11", "--symmetry", "t2", "--option", "liftable=3",
                "--time-limit", "5")
    assert r.rc == 2 and "liftable" in r.err and len(r.err.strip().splitlines()) == 1
    out = run(SearchTask(2, 2, 3, 11, "ZT", seed=0, time_limit=60, options={"group": "t2", "liftable": True}),
              lambda p: None, lambda: False)
    assert out.scheme is not None and verify(out.scheme, use_sympy=False).ok
