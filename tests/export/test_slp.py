"""The straight-line program: exact evaluation, addition counts with and without sharing."""

from __future__ import annotations

import operator
from fractions import Fraction

import numpy as np
import pytest

from fastmm.export.slp import build_slp, count_additions
from fastmm.metrics import plain_additions
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from tests.export.schemes import dead_product_schemes, mixed_234, rational_strassen, winograd

SCHEMES = {
    "strassen": strassen,
    "laderman": laderman,
    "winograd": winograd,
    "mixed_234": mixed_234,
    "rational": rational_strassen,
    "naive_234": lambda: naive_scheme(2, 3, 4),
    "kron": lambda: strassen().kron(naive_scheme(1, 2, 1)),
}


def _blocks(mat: np.ndarray, rows: int, cols: int) -> list[np.ndarray]:
    br, bc = mat.shape[0] // rows, mat.shape[1] // cols
    return [mat[i * br:(i + 1) * br, j * bc:(j + 1) * bc] for i in range(rows) for j in range(cols)]


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("cse", [False, True])
def test_program_multiplies_exactly(name: str, cse: bool) -> None:
    scheme = SCHEMES[name]()
    n, m, p = scheme.shape
    rng = np.random.default_rng(0)
    a = rng.integers(-9, 10, size=(2 * n, 3 * m)).astype(object)
    b = rng.integers(-9, 10, size=(3 * m, 2 * p)).astype(object)
    out = build_slp(scheme, cse).evaluate(_blocks(a, n, m), _blocks(b, m, p), operator.matmul)
    want = a @ b
    for idx, block in enumerate(out):
        i, k = divmod(idx, p)
        got = np.vectorize(Fraction)(block)
        assert (got == want[2 * i:2 * i + 2, 2 * k:2 * k + 2]).all()


def test_scalar_evaluation_matches_naive_sum() -> None:
    slp = build_slp(laderman())
    a = list(range(1, 10))
    b = list(range(-4, 5))
    c = slp.evaluate(a, b)
    for i in range(3):
        for k in range(3):
            assert c[i * 3 + k] == sum(a[i * 3 + j] * b[j * 3 + k] for j in range(3))


def test_strassen_has_18_additions_with_or_without_sharing() -> None:
    assert count_additions(strassen(), cse=False) == 18
    assert count_additions(strassen(), cse=True) == 18


def test_winograd_form_shares_down_to_15() -> None:
    assert plain_additions(winograd()) == 24
    assert count_additions(winograd(), cse=False) == 24
    assert count_additions(winograd(), cse=True) == 15


def test_laderman_sharing_saves_additions() -> None:
    assert count_additions(laderman(), cse=False) == plain_additions(laderman()) == 98
    assert count_additions(laderman(), cse=True) == 70


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_sharing_never_costs_more(name: str) -> None:
    s = SCHEMES[name]()
    assert count_additions(s, cse=True) <= count_additions(s, cse=False) == plain_additions(s)


def test_no_pair_left_twice_after_sharing() -> None:
    slp = build_slp(laderman().kron(strassen()))
    for phase in (slp.a, slp.b, slp.c):
        seen: dict = {}
        for op in phase.ops:
            names = sorted(op.terms)
            for i, (x, cx) in enumerate(names):
                for y, cy in names[i + 1:]:
                    key = (x, y, cy / cx)
                    assert key not in seen, f"{key} in {seen.get(key)} and {op.target}"
                    seen[key] = op.target


def test_rational_coefficients_are_counted_as_scalings() -> None:
    slp = build_slp(rational_strassen())
    assert slp.scalings() > 0
    assert all(isinstance(c, Fraction) for op in slp.c.ops for _, c in op.terms)
    assert count_additions(rational_strassen()) == 18


def test_operands_are_never_pure_negations_after_sharing() -> None:
    for s in (strassen(), winograd(), laderman()):
        slp = build_slp(s)
        for op in slp.a.outputs + slp.b.outputs:
            assert not all(c < 0 for _, c in op.terms)


def test_strassen_cubed_is_counted_in_seconds() -> None:
    """⟨8,8,8;343⟩: the greedy sharing keeps its pair counts up to date (it took 17-30 s when it
    recounted every pair after each step); the program is the same."""
    import time

    scheme = strassen().kron(strassen()).kron(strassen())
    start = time.perf_counter()
    assert count_additions(scheme) == 1794
    assert time.perf_counter() - start < 15


@pytest.mark.parametrize("name", sorted(dead_product_schemes()))
@pytest.mark.parametrize("cse", [False, True])
def test_drop_dead_leaves_out_products_that_contribute_nothing(name: str, cse: bool) -> None:
    scheme = dead_product_schemes()[name]
    dead = 0 if name == "rect_unused" else scheme.rank - 1
    assert scheme.live_terms() == [t for t in range(scheme.rank) if t != dead]
    slp = build_slp(scheme, cse, drop_dead=True)
    assert slp.rank == scheme.rank - 1 and slp.dropped == [f"M{dead + 1}"]
    assert f"M{dead + 1}" not in [mt for mt, _, _ in slp.products]
    assert all(not op.is_zero for op in slp.a.outputs + slp.b.outputs)
    assert slp.label == scheme.label()
    n, m, p = scheme.shape
    rng = np.random.default_rng(5)
    a = rng.integers(-9, 10, size=(2 * n, 3 * m)).astype(object)
    b = rng.integers(-9, 10, size=(3 * m, 2 * p)).astype(object)
    out = slp.evaluate(_blocks(a, n, m), _blocks(b, m, p), operator.matmul)
    want = a @ b
    for idx, block in enumerate(out):
        i, k = divmod(idx, p)
        assert (np.vectorize(Fraction)(block) == want[2 * i:2 * i + 2, 2 * k:2 * k + 2]).all()
    full = build_slp(scheme, cse)  # the scheme as written: every product
    assert full.rank == scheme.rank and full.dropped == []
    # the counts are those of the code, which leaves the dead product out
    assert count_additions(scheme, cse) == slp.additions() <= full.additions()
    assert count_additions(scheme, cse=False) == plain_additions(scheme)
    live = scheme.live_terms()
    part = Scheme(*scheme.shape, scheme.Wa[live], scheme.Wb[live], scheme.Wc[:, live])
    assert plain_additions(scheme) == plain_additions(part)
