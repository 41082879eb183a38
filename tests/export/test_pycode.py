"""Generated NumPy and PyTorch code: exact on integers, any size, levels 1 and 2, with and without CSE."""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

import fastmm
from fastmm.errors import InputError
from fastmm.export.pycode import numpy_function, numpy_source, torch_function, torch_source
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme, naive_scheme
from tests.export.schemes import dead_product_schemes, mixed_234, rational_strassen, winograd

CATALOG = Path(fastmm.__file__).parent / "data" / "catalog"
SCHEMES = {
    "strassen": strassen,
    "laderman": laderman,
    "winograd": winograd,
    "mixed_234": mixed_234,
    "kron": lambda: strassen().kron(naive_scheme(1, 2, 1)),
}
# odd, non-square, smaller than one block, exactly divisible, and divisible only once
SIZES = [(7, 9, 11), (1, 1, 1), (2, 3, 1), (13, 5, 8), (12, 12, 12), (25, 31, 19)]


def _ints(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-9, 10, size=shape, dtype=np.int64)


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("cse", [True, False])
def test_numpy_code_is_exact_on_integers(name: str, cse: bool) -> None:
    f = numpy_function(SCHEMES[name](), cse=cse)
    rng = np.random.default_rng(1)
    for m, k, n in SIZES:
        for levels in (1, 2):
            a, b = _ints(rng, (m, k)), _ints(rng, (k, n))
            c = f(a, b, levels=levels, leaf=1)
            assert c.dtype == np.int64
            assert np.array_equal(c, a @ b), (m, k, n, levels)


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("cse", [True, False])
def test_torch_code_is_exact_on_integers_and_batched(name: str, cse: bool) -> None:
    f = torch_function(SCHEMES[name](), cse=cse)
    gen = torch.Generator().manual_seed(2)
    for m, k, n in SIZES:
        for levels in (1, 2):
            a = torch.randint(-9, 10, (3, m, k), generator=gen)
            b = torch.randint(-9, 10, (k, n), generator=gen)
            c = f(a, b, levels=levels, leaf=1)
            assert c.shape == (3, m, n) and c.dtype == torch.int64
            assert torch.equal(c, a @ b), (m, k, n, levels)


def test_torch_code_broadcasts_batch_dimensions_and_keeps_float_dtype() -> None:
    f = torch_function(strassen())
    a = torch.randn(2, 1, 9, 10, dtype=torch.float64)
    b = torch.randn(4, 10, 7, dtype=torch.float64)
    c = f(a, b, levels=2, leaf=1)
    assert c.shape == (2, 4, 9, 7) and c.dtype == torch.float64
    assert torch.allclose(c, a @ b)


def test_cse_and_plain_code_agree_bit_for_bit_on_integers() -> None:
    s = laderman()
    rng = np.random.default_rng(3)
    a, b = _ints(rng, (29, 31)), _ints(rng, (31, 28))
    assert np.array_equal(numpy_function(s, cse=True)(a, b, levels=2, leaf=1),
                          numpy_function(s, cse=False)(a, b, levels=2, leaf=1))


def test_rational_scheme_computes_in_float() -> None:
    rng = np.random.default_rng(4)
    a, b = _ints(rng, (10, 12)), _ints(rng, (12, 9))
    c = numpy_function(rational_strassen())(a, b, levels=2, leaf=1)
    assert c.dtype == np.float64
    assert np.allclose(c, a @ b, atol=1e-9)
    ct = torch_function(rational_strassen())(torch.tensor(a), torch.tensor(b), levels=2, leaf=1)
    assert ct.dtype == torch.float64  # as NumPy's: integer inputs are computed in float64
    assert torch.allclose(ct, torch.tensor(a @ b, dtype=torch.float64), atol=1e-9)
    a32, b32 = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    assert torch_function(rational_strassen())(a32, b32, levels=2, leaf=1).dtype == torch.float32


def test_torch_code_of_a_q_scheme_is_exact_on_int64_in_float64() -> None:
    """⟨2,4,5;32⟩ over Q (halves) on int64 entries in ±1000: float32 got 905709.9375 for 905710."""
    scheme = fastmm.load(CATALOG / "2x4x5-rank32-Q.json")
    assert not scheme.is_integral
    namespace: dict = {}
    exec(compile(torch_source(scheme), "<torch 245>", "exec"), namespace)  # noqa: S102
    gen = torch.Generator().manual_seed(5)
    n, m, p = scheme.shape
    a = torch.randint(-1000, 1001, (3, 2 * n, 2 * m), generator=gen, dtype=torch.int64)
    b = torch.randint(-1000, 1001, (2 * m, 2 * p), generator=gen, dtype=torch.int64)
    c = namespace["matmul"](a, b, levels=1, leaf=1)
    exact = torch.matmul(a, b)
    assert c.dtype == torch.float64
    assert (c - exact.double()).abs().max().item() < 1e-6
    assert torch.equal(c.round().long(), exact)


def test_leaf_size_falls_back_to_plain_product() -> None:
    src = numpy_source(strassen())
    assert "min(bm, bk, bn) < leaf" in src
    f = numpy_function(strassen())
    a = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(f(a, a.T), a @ a.T)  # default leaf=64: plain product


def test_source_is_valid_python_with_only_numeric_literals() -> None:
    for src in (numpy_source(mixed_234()), torch_source(rational_strassen())):
        tree = ast.parse(src)
        consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
        assert all(isinstance(v, int | float | str | type(None)) or v is Ellipsis for v in consts)
        # strings only in docstrings / error messages we wrote, never coefficients
        assert "matmul" in src and "import os" not in src


def test_shared_temporaries_appear_in_code() -> None:
    assert "S1 = " in numpy_source(winograd(), cse=True)
    assert "S1 = " not in numpy_source(winograd(), cse=False)


def test_z2_scheme_gets_no_code() -> None:
    z2 = Scheme(2, 2, 2, strassen().Wa, strassen().Wb, strassen().Wc, ring="Z2")
    for make in (numpy_source, torch_source):
        with pytest.raises(InputError, match="modulo 2"):  # bad input (exit 2), as for every format
            make(z2)


DEAD = dead_product_schemes()
DEAD_PRODUCT = {"zero_left": "M8", "zero_right": "M8", "unused": "M8", "rect_zero_left": "M23",
                "rect_unused": "M1"}
# rectangular and odd sizes; each is a multiple of the block at least once for ⟨2,2,2⟩ and ⟨2,3,4⟩
DEAD_SIZES = [(7, 9, 11), (4, 6, 8), (1, 1, 1), (13, 5, 8), (8, 18, 32), (25, 31, 19)]


@pytest.mark.parametrize("name", sorted(DEAD))
@pytest.mark.parametrize("cse", [True, False])
def test_dead_product_is_left_out_and_numpy_code_is_exact(name: str, cse: bool) -> None:
    f = numpy_function(DEAD[name], cse=cse)
    rng = np.random.default_rng(11)
    for m, k, n in DEAD_SIZES:
        for levels in (1, 2):
            a, b = _ints(rng, (m, k)), _ints(rng, (k, n))
            assert np.array_equal(f(a, b, levels=levels, leaf=1), np.matmul(a, b)), (m, k, n, levels)
    dead = DEAD_PRODUCT[name]
    code = f.source.split('"""', 2)[2]  # after the module docstring
    for var in (dead, f"L{dead[1:]}", f"R{dead[1:]}"):  # neither the product nor its operands
        assert not re.search(rf"\b{var}\b", code), var
    assert f"{dead} is left out (zero operand or unused in C: contributes nothing)" in f.source
    assert f"RANK = {DEAD[name].rank}" in f.source  # the scheme's rank, as in its label


@pytest.mark.parametrize("name", sorted(DEAD))
def test_dead_product_torch_code_is_exact(name: str) -> None:
    f = torch_function(DEAD[name])
    gen = torch.Generator().manual_seed(12)
    for m, k, n in DEAD_SIZES:
        a = torch.randint(-9, 10, (2, m, k), generator=gen)
        b = torch.randint(-9, 10, (k, n), generator=gen)
        assert torch.equal(f(a, b, levels=2, leaf=1), a @ b), (m, k, n)
    assert not re.search(rf"\b{DEAD_PRODUCT[name]} = ", f.source.split('"""', 2)[2])


def test_scheme_without_dead_products_names_none() -> None:
    assert "left out" not in numpy_source(strassen()) and "RANK = 7" in numpy_source(strassen())


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot multiply"):
        numpy_function(strassen())(np.ones((3, 4)), np.ones((5, 2)))


def test_a_sum_of_thousands_of_products_compiles_and_is_exact(rank: int = 3001) -> None:
    """One entry of C summing `rank` products: a flat sum that deep made Python's compiler raise
    RecursionError (from about 2,000 terms); long sums are emitted in parenthesised groups."""
    signs = [1 if t % 2 == 0 else -1 for t in range(rank)]  # Σ ±a·b = a·b (rank is odd)
    s = Scheme(1, 1, 1, [[1]] * rank, [[1]] * rank, [signs])
    for source in (numpy_source(s, cse=False), torch_source(s, cse=False)):
        compile(source, "<generated>", "exec")
    fn = numpy_function(s, cse=False)
    assert fn(np.array([[3]]), np.array([[-5]])).tolist() == [[-15]]
    assert torch_function(s, cse=False)(torch.tensor([[3]]), torch.tensor([[7]])).tolist() == [[21]]


def test_sums_as_long_as_a_scheme_file_allows_compile() -> None:
    from fastmm.export.pycode import _sum

    pieces = [("-" if t % 3 else "+", f"M{t}") for t in range(200_000)]
    expr = _sum(pieces)
    assert eval(compile(expr, "<sum>", "eval"), {f"M{t}": 1 for t in range(200_000)}) == -66_666


def test_code_of_a_q_scheme_refuses_bools_and_says_what_integers_become() -> None:
    """Bools were refused by integral schemes' code only (a Q scheme's promotion to float64 hid
    them); the docstring of a Q scheme's matmul says that integers come back in float64."""
    q = fastmm.load(CATALOG / "2x4x5-rank32-Q.json")
    a = np.ones((4, 8), dtype=bool)
    b = np.ones((8, 10), dtype=bool)
    for scheme in (q, strassen()):
        with pytest.raises(TypeError, match="not bool matrices"):
            numpy_function(scheme)(a[:2 * scheme.n, :2 * scheme.m], b[:2 * scheme.m, :2 * scheme.p])
        with pytest.raises(TypeError, match="not bool matrices"):
            torch_function(scheme)(torch.tensor(a[:2 * scheme.n, :2 * scheme.m]),
                                   torch.tensor(b[:2 * scheme.m, :2 * scheme.p]))
    for source in (numpy_source(q), torch_source(q)):
        assert "integer inputs are computed and returned in float64" in source
    assert "float64" not in numpy_source(strassen()).split("def _empty")[0]


@pytest.mark.parametrize("name", ["catalogue 2x4x5 Q", "strassen with thirds"])
def test_fractional_scheme_code_is_bit_exact_on_integers(name: str) -> None:
    """Integer inputs of a scheme with thirds came back inexact (2.9999999999999982 for 3; more
    than half the entries of a 128×256×320 product in ±3) because `X * 1 / 3` rounds at once;
    they now go through `_step_exact` (integer coefficients, one division of C per level)."""
    scheme = fastmm.load(CATALOG / "2x4x5-rank32-Q.json") if name.startswith("catalogue") \
        else rational_strassen()
    assert any(Fraction(x).denominator % 3 == 0 for w in (scheme.Wa, scheme.Wb, scheme.Wc) for x in w.flat)
    rng = np.random.default_rng(11)
    n, m, p = scheme.shape
    a = rng.integers(-3, 4, size=(n * n * 5, m * m * 5))
    b = rng.integers(-3, 4, size=(m * m * 5, p * p * 5 + 1))
    for levels in (1, 2):
        c = numpy_function(scheme)(a, b, levels=levels, leaf=1)
        assert c.dtype == np.float64 and np.array_equal(c, a @ b)
        ct = torch_function(scheme)(torch.tensor(a), torch.tensor(b), levels=levels, leaf=1)
        assert ct.dtype == torch.float64 and torch.equal(ct, torch.tensor(a @ b, dtype=torch.float64))
    for source in (numpy_source(scheme), torch_source(scheme)):
        assert "def _step_exact(" in source and "def _step(" in source
        # the catalogue's scheme needs a denominator (6); Strassen's thirds go with their products
        division = re.search(r"C\[\.\.\., :Mq, :Nq\] /= \d+", source.split("def _step_exact(")[1])
        assert bool(division) == name.startswith("catalogue")
        assert "/=" not in source.split("def _step(")[1].split("def _step_exact(")[0]


def test_fractional_scheme_code_keeps_the_plain_step_for_floats() -> None:
    """Float inputs run `_step`, the scheme's own coefficients (fewer additions than over a
    common denominator); an integral scheme's code has no second step."""
    scheme = fastmm.load(CATALOG / "2x4x5-rank32-Q.json")
    source = numpy_source(scheme)
    head = source.split("def _step(")[0]
    assert 'step = _step_exact if dtype.kind in "iu" else _step' in head
    counts = re.search(r"(\d+) additions per level.*Integer inputs: (\d+) additions", source, re.S)
    plain, exact = counts.groups()
    assert int(plain) <= int(exact)
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((4, 8)), rng.standard_normal((8, 10))
    assert np.allclose(numpy_function(scheme)(a, b, levels=1, leaf=1), a @ b)
    assert "_step_exact" not in numpy_source(strassen()) and "_step_exact" not in torch_source(strassen())


def _one_by_one(*primes: int) -> Scheme:
    """⟨1,1,1⟩ as Σ 1/p + (1 − Σ 1/p): denominators that no rescaling of a product removes."""
    cs = [Fraction(1, q) for q in primes]
    cs.append(1 - sum(cs))
    k = len(cs)
    return Scheme(1, 1, 1, [[1]] * k, [[1]] * k, [cs], ring="Q")


def test_a_scaled_product_needs_no_denominator_in_the_exact_step() -> None:
    """Products scaled by primes (a_t·p, c_t/p: still a Q scheme) made the common denominator
    the primes' product, ~2^66: integer results were wrong and PyTorch overflowed (regression
    hunt). Each product is made primitive first, so here the exact step has D = 1."""
    s = strassen()
    primes = [701, 709, 719, 727, 733, 739, 743]
    wa = [[int(x) * q for x in row] for row, q in zip(s.Wa, primes, strict=True)]
    wc = [[Fraction(int(x), q) for x, q in zip(row, primes, strict=True)] for row in s.Wc]
    scaled = Scheme(2, 2, 2, wa, s.Wb, wc, ring="Q")
    assert fastmm.verify(scaled, sympy=False)
    rng = np.random.default_rng(13)
    a, b = rng.integers(-1000, 1000, (64, 64)), rng.integers(-1000, 1000, (64, 64))
    assert np.array_equal(numpy_function(scaled)(a, b, levels=2, leaf=8), a @ b)
    ct = torch_function(scaled)(torch.tensor(a), torch.tensor(b), levels=2, leaf=8)
    assert torch.equal(ct, torch.tensor(a @ b, dtype=torch.float64))


def test_a_huge_common_denominator_falls_back_to_the_plain_step() -> None:
    small, huge = _one_by_one(1009), _one_by_one(1009, 1013, 1019)  # D = 1009, and about 2^30
    assert "_step_exact" in numpy_source(small)
    a, b = np.array([[7]]), np.array([[-3]])
    assert numpy_function(small)(a, b, levels=1, leaf=1)[0, 0] == -21.0
    for source in (numpy_source(huge), torch_source(huge)):
        assert "_step_exact" not in source and "too large for an exact" in source
    c = numpy_function(huge)(a, b, levels=1, leaf=1)
    assert c.dtype == np.float64 and abs(c[0, 0] + 21) < 1e-9
    ct = torch_function(huge)(torch.tensor(a), torch.tensor(b), levels=1, leaf=1)
    assert ct.dtype == torch.float64 and abs(ct.item() + 21) < 1e-9
