"""Cheap numbers about a scheme: additions, stability factor, factor-rank invariant.

All arithmetic is on Python ints and Fractions of Python ints (fastmm.validate.exact): a
Fraction built from a numpy int64 keeps an int64 numerator, and products of coefficients
near 2^31 would wrap around silently.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import numpy as np

from fastmm.scheme import Scheme
from fastmm.validate import exact


def plain_additions(scheme: Scheme) -> int:
    """Additions/subtractions without sharing: (nnz − 1) per nonzero row of Wa, Wb and Wc, over
    the products that contribute (dead ones are left out, as in the generated code)."""
    live = scheme.live_terms()
    total = 0
    for rows in (scheme.Wa[live], scheme.Wb[live], scheme.Wc[:, live]):
        for row in rows:
            nnz = sum(1 for x in row if x != 0)
            total += max(nnz - 1, 0)
    return total


CSE_WORK_LIMIT = 250_000  # Σ nnz(row)² over Wa, Wb, Wc: a few seconds of greedy CSE


def cse_work(scheme: Scheme) -> int:
    """The size of the greedy shared-subexpression search: Σ nnz(row)² over the rows of Wa, Wb
    and Wc (⟨8,8,8;343⟩ = Strassen³: 85,296, about 2 s; a dense ⟨6,6,6;100⟩: 223,682, 6 s)."""
    return sum(int(np.count_nonzero(row != 0)) ** 2 for w in (scheme.Wa, scheme.Wb, scheme.Wc)
               for row in w)


def cse_fits(scheme: Scheme) -> bool:
    """Whether the greedy shared-subexpression search handles `scheme` quickly (CSE_WORK_LIMIT);
    beyond it code is generated, and additions counted, without sharing."""
    return cse_work(scheme) <= CSE_WORK_LIMIT


SYMPY_WORK_LIMIT = 200_000  # Σ_t nnz(Wa[t])·nnz(Wb[t])·nnz(Wc[:, t]): a few seconds of sympy


SYMPY_GENERATORS = 128  # the variables of ⟨8,8,8⟩; a monomial costs in proportion to their number


def sympy_work(scheme: Scheme) -> int:
    """The size of the sympy proof: the monomials it expands, Σ_t nnz(Wa[t])·nnz(Wb[t])·nnz(Wc[:,t]),
    and the n·m·p it compares them with, times the variables nm + mp per 128, since sympy
    stores a monomial as one exponent per variable (⟨8,8,8;343⟩ = Strassen³: 33,280, under a
    second; a dense ⟨6,6,6;60⟩: 817,925, 11 s; a rank-1 ⟨36,36,35⟩ with a full Wc: 930,943, 12 s)."""
    na = np.count_nonzero(np.asarray(scheme.Wa != 0), axis=1)
    nb = np.count_nonzero(np.asarray(scheme.Wb != 0), axis=1)
    nc = np.count_nonzero(np.asarray(scheme.Wc != 0), axis=0)
    n, m, p = scheme.shape
    monomials = sum(int(a) * int(b) * int(c) for a, b, c in zip(na, nb, nc, strict=True)) + n * m * p
    return monomials * max(SYMPY_GENERATORS, n * m + m * p) // SYMPY_GENERATORS


def _abs_row_sums(w: np.ndarray) -> list:
    """‖row‖₁ of each row, exactly (Python ints for integer rows, Fractions otherwise)."""
    if w.dtype != object:
        return [sum(map(abs, row)) for row in w.tolist()]  # tolist: Python ints, no int64 sums
    return [sum(abs(exact(x)) for x in row) for row in w]


def stability_factor(scheme: Scheme) -> Fraction:
    """E = max_k Σ_t |Wc[k,t]|·‖Wa[t]‖₁·‖Wb[t]‖₁ (Strassen: 12)."""
    weight = [x * y for x, y in zip(_abs_row_sums(scheme.Wa), _abs_row_sums(scheme.Wb), strict=True)]
    wc = scheme.Wc.tolist() if scheme.Wc.dtype != object else [[exact(c) for c in row] for row in scheme.Wc]
    best = max((sum(abs(c) * weight[t] for t, c in enumerate(row) if c) for row in wc), default=0)
    return Fraction(best)


def _integer_rank(rows: list[list[int]]) -> int:
    """Exact rank of an integer matrix by fraction-free (Bareiss) elimination: every entry stays
    a minor of the original matrix, so the division by the previous pivot is exact."""
    rows = [list(r) for r in rows]
    n = len(rows)
    cols = len(rows[0]) if rows else 0
    rank, prev = 0, 1
    for c in range(cols):
        pivot = next((i for i in range(rank, n) if rows[i][c]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        top, pv = rows[rank], rows[rank][c]
        for i in range(rank + 1, n):
            row, f = rows[i], rows[i][c]
            rows[i] = [(pv * x - f * y) // prev for x, y in zip(row, top, strict=True)]
        prev = pv
        rank += 1
    return rank


def matrix_rank(mat: np.ndarray, modulus: int | None = None) -> int:
    """Exact rank by Gaussian elimination over Q (Python integers or Fractions) or GF(modulus)."""
    arr = np.asarray(mat, dtype=object)
    if not modulus and all(not isinstance(x, Fraction) or x.denominator == 1 for x in arr.flat):
        return _integer_rank([[int(x) for x in row] for row in arr])
    rows = [[exact(x) for x in row] for row in arr]
    if modulus:
        rows = [[Fraction(int(x) % modulus) for x in row] for row in rows]
    rank, cols = 0, len(rows[0]) if rows else 0
    for c in range(cols):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        pv = rows[rank][c]
        for i in range(len(rows)):
            if i != rank and rows[i][c] != 0:
                f = rows[i][c] / pv
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rank], strict=True)]
                if modulus:
                    rows[i] = [Fraction(int(x) % modulus) if x.denominator == 1 else x for x in rows[i]]
        rank += 1
    return rank


def factor_rank_invariant(scheme: Scheme) -> Counter:
    """Multiset of sorted (rank A_t, rank B_t, rank C_t); invariant under the de Groote group."""
    modulus = 2 if scheme.ring == "Z2" else None
    out: Counter = Counter()
    for t in range(scheme.rank):
        a, b, c = scheme.factor_matrices(t)
        out[tuple(sorted(matrix_rank(x, modulus) for x in (a, b, c)))] += 1
    return out


def format_invariant(inv: Counter) -> str:
    """'6×(1,1,1) + 1×(2,2,2)'."""
    return " + ".join(f"{cnt}×({','.join(map(str, key))})" for key, cnt in sorted(inv.items()))
