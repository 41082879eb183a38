"""Exact linear algebra over Q (Fractions) or GF(2) (ints 0/1): the one place for it.

`mod` is None for Q and 2 for GF(2) (any prime works). Entries are Python ints or Fractions,
never numpy integers (whose products wrap around). `Linear` keeps a homogeneous system in
reduced row-echelon form while rows are added; the functions below are built on it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np


def elem(x: Any, mod: int | None) -> Fraction | int:
    # Python ints only: Fraction(np.int64) keeps an int64 numerator that wraps in products
    if mod:
        return int(x) % mod
    return Fraction(int(x.numerator), int(x.denominator)) if isinstance(x, Fraction) else Fraction(int(x))


def mat(x: Any, mod: int | None) -> list[list]:
    return [[elem(v, mod) for v in row] for row in np.asarray(x, dtype=object)]


def sub_mul(row: list, other: list, f: Any, mod: int | None) -> list:
    if mod:
        return [(a - f * b) % mod for a, b in zip(row, other, strict=True)]
    return [a - f * b for a, b in zip(row, other, strict=True)]


def inv_elem(x: Any, mod: int | None) -> Any:
    return pow(int(x), -1, mod) if mod else Fraction(1) / x


class Linear:
    """An incrementally built homogeneous system, kept in reduced row-echelon form."""

    __slots__ = ("ncols", "mod", "rows")

    def __init__(self, ncols: int, mod: int | None):
        self.ncols = ncols
        self.mod = mod
        self.rows: dict[int, list] = {}  # pivot column -> row with 1 there, 0 in other pivots

    def copy(self) -> Linear:
        out = Linear(self.ncols, self.mod)
        out.rows = dict(self.rows)
        return out

    def add(self, row: list) -> None:
        mod = self.mod
        for c, prow in self.rows.items():
            if row[c]:
                row = sub_mul(row, prow, row[c], mod)
        lead = next((c for c, v in enumerate(row) if v), None)
        if lead is None:
            return
        inv = inv_elem(row[lead], mod)
        row = [(v * inv) % mod if mod else v * inv for v in row]
        for c, prow in list(self.rows.items()):
            if prow[lead]:
                self.rows[c] = sub_mul(prow, row, prow[lead], mod)
        self.rows[lead] = row

    @property
    def dim(self) -> int:
        return self.ncols - len(self.rows)

    def basis(self) -> list[list]:
        """A basis of the solution space."""
        one = 1 if self.mod else Fraction(1)
        zero = 0 if self.mod else Fraction(0)
        out = []
        for f in range(self.ncols):
            if f in self.rows:
                continue
            v = [zero] * self.ncols
            v[f] = one
            for c, prow in self.rows.items():
                if prow[f]:
                    v[c] = (-prow[f]) % self.mod if self.mod else -prow[f]
            out.append(v)
        return out


def nullspace(rows: list[list], ncols: int, mod: int | None) -> list[list]:
    sys = Linear(ncols, mod)
    for r in rows:
        sys.add(list(r))
    return sys.basis()


def rank(mat: list[list], mod: int | None) -> int:
    if not mat:
        return 0
    sys = Linear(len(mat[0]), mod)
    for r in mat:
        sys.add(list(r))
    return len(sys.rows)


def row_basis(mat: list[list], mod: int | None) -> list[list]:
    if not mat:
        return []
    sys = Linear(len(mat[0]), mod)
    for r in mat:
        sys.add(list(r))
    return list(sys.rows.values())


def transpose(mat: list[list]) -> list[list]:
    return [list(c) for c in zip(*mat, strict=True)] if mat else []


def matmul(x: list[list], y: list[list], mod: int | None) -> list[list]:
    yt = transpose(y)
    out = [[sum(a * b for a, b in zip(row, col, strict=True)) for col in yt] for row in x]
    return [[v % mod for v in row] for row in out] if mod else out


def inverse(mat: list[list], mod: int | None) -> list[list] | None:
    """Exact inverse, or None when singular."""
    k = len(mat)
    one, zero = (1, 0) if mod else (Fraction(1), Fraction(0))
    aug = [list(row) + [one if i == j else zero for j in range(k)] for i, row in enumerate(mat)]
    for c in range(k):
        piv = next((i for i in range(c, k) if aug[i][c]), None)
        if piv is None:
            return None
        aug[c], aug[piv] = aug[piv], aug[c]
        inv = inv_elem(aug[c][c], mod)
        aug[c] = [(v * inv) % mod if mod else v * inv for v in aug[c]]
        for i in range(k):
            if i != c and aug[i][c]:
                aug[i] = sub_mul(aug[i], aug[c], aug[i][c], mod)
    return [row[k:] for row in aug]


def reshape(vec: list, rows: int, cols: int) -> list[list]:
    return [list(vec[i * cols:(i + 1) * cols]) for i in range(rows)]


def flat(mat: list[list]) -> list:
    return [v for row in mat for v in row]


def normal(vec: list) -> tuple[tuple, Any]:
    """(vec / first nonzero entry, that entry): a key for 'proportional to'."""
    lead = next((v for v in vec if v), None)
    if lead is None:
        return (None,), 0
    return tuple(v / lead if isinstance(v, Fraction) else v for v in vec), lead
