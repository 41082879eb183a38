"""Readable formulas of a scheme: M1 = (A11 + A22)·(B11 + B22), C11 = M1 + M4 − M5 + M7.

Block names are 1-based (A12 is row 1, column 2); when a dimension exceeds 9 they read A1_12.
"""

from __future__ import annotations

from fractions import Fraction

from fastmm.scheme import Scheme
from fastmm.verify import entry_name, uses_big_names

MINUS = "−"


def linear_combination(coefs, names: list[str], minus: str = MINUS, times: str = "·") -> str:
    """'A11 + A22', '−A21 + 2·A12', '1/2·B11' — exact coefficients, zero terms omitted."""
    parts: list[str] = []
    for c, name in zip(coefs, names, strict=True):
        f = Fraction(c)
        if f == 0:
            continue
        mag = abs(f)
        body = name if mag == 1 else f"{mag}{times}{name}"
        if not parts:
            parts.append(f"{minus}{body}" if f < 0 else body)
        else:
            parts.append(f"{minus if f < 0 else '+'} {body}")
    return " ".join(parts) if parts else "0"


def block_names(letter: str, rows: int, cols: int, big: bool) -> list[str]:
    return [entry_name(letter, i, j, big) for i in range(rows) for j in range(cols)]


def product_lines(scheme: Scheme, minus: str = MINUS, times: str = "·") -> list[str]:
    n, m, p = scheme.shape
    big = uses_big_names(scheme)
    an, bn = block_names("A", n, m, big), block_names("B", m, p, big)
    lines = []
    for t in range(scheme.rank):
        a = linear_combination(scheme.Wa[t], an, minus, times)
        b = linear_combination(scheme.Wb[t], bn, minus, times)
        a = f"({a})" if is_sum(scheme.Wa[t]) else a
        b = f"({b})" if is_sum(scheme.Wb[t]) else b
        lines.append(f"M{t + 1} = {a}{times}{b}")
    return lines


def c_lines(scheme: Scheme, minus: str = MINUS, times: str = "·") -> list[str]:
    n, _, p = scheme.shape
    big = uses_big_names(scheme)
    mn = [f"M{t + 1}" for t in range(scheme.rank)]
    return [
        f"{entry_name('C', i, k, big)} = {linear_combination(scheme.Wc[i * p + k], mn, minus, times)}"
        for i in range(n)
        for k in range(p)
    ]


def is_sum(row) -> bool:
    nz = [x for x in row if x != 0]
    return len(nz) > 1 or (len(nz) == 1 and Fraction(nz[0]) < 0)


def formula_text(scheme: Scheme, ascii_only: bool = False) -> str:
    """All product and C lines, with a 'valid modulo 2 only' banner for Z2 schemes."""
    minus, times = ("-", "*") if ascii_only else (MINUS, "·")
    lines = []
    if scheme.ring == "Z2":
        lines.append("# valid modulo 2 only (GF(2) scheme)")
    lines += product_lines(scheme, minus, times)
    lines += c_lines(scheme, minus, times)
    return "\n".join(lines)
