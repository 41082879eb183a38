"""GF(2) rank-one terms as bitmasks, and the exact conversions to and from Scheme.

Term t is (a, b, c): bit i*m+j of a is Wa[t, i*m+j] mod 2, bit j*p+k of b is Wb[t, j*p+k] mod 2
and bit i*p+k of c is Wc[i*p+k, t] mod 2 — the Scheme's own indices, so nothing is permuted.
"""

from __future__ import annotations

import numpy as np

from fastmm.scheme import Scheme

Terms = tuple[list[int], list[int], list[int]]


def bits(x: int) -> list[int]:
    """Indices of the set bits of x, lowest first."""
    out = []
    while x:
        low = x & -x
        out.append(low.bit_length() - 1)
        x ^= low
    return out


def transpose_bits(x: int, rows: int, cols: int) -> int:
    """The transpose (a cols×rows mask) of a rows×cols row-major bit matrix."""
    out = 0
    while x:
        low = x & -x
        r, c = divmod(low.bit_length() - 1, cols)
        out |= 1 << (c * rows + r)
        x ^= low
    return out


def _row_mask(row) -> int:
    mask = 0
    for u, v in enumerate(row):
        if int(v) % 2:
            mask |= 1 << u
    return mask


def to_terms(scheme: Scheme) -> Terms:
    """The scheme modulo 2 as bitmask terms; terms with a zero factor mod 2 are dropped.

    Raises ValueError for a scheme with fractions (it has no reduction modulo 2 here).
    """
    if not scheme.is_integral:
        raise ValueError("a scheme with fractional coefficients cannot be reduced modulo 2")
    A: list[int] = []
    B: list[int] = []
    C: list[int] = []
    for t in range(scheme.rank):
        a, b, c = _row_mask(scheme.Wa[t]), _row_mask(scheme.Wb[t]), _row_mask(scheme.Wc[:, t])
        if a and b and c:
            A.append(a)
            B.append(b)
            C.append(c)
    return A, B, C


def term_set_key(terms: Terms) -> tuple:
    """The scheme as a sorted tuple of (a, b, c) bit masks: equal for the same GF(2) terms in
    any order (pools and benchmarks count distinct schemes by it)."""
    return tuple(sorted(zip(*terms, strict=True)))


def matrices(shape: tuple[int, int, int], terms: Terms, signs: dict | None = None):
    """Wa, Wb, Wc (int64) from bitmask terms; `signs[(f, t, bit)] = -1` negates an entry."""
    n, m, p = shape
    A, B, C = terms
    r = len(A)
    wa = np.zeros((r, n * m), dtype=np.int64)
    wb = np.zeros((r, m * p), dtype=np.int64)
    wc = np.zeros((n * p, r), dtype=np.int64)
    for t in range(r):
        for u in bits(A[t]):
            wa[t, u] = 1
        for v in bits(B[t]):
            wb[t, v] = 1
        for w in bits(C[t]):
            wc[w, t] = 1
    if signs:
        for (f, t, u), s in signs.items():
            if f == 0:
                wa[t, u] *= s
            elif f == 1:
                wb[t, u] *= s
            else:
                wc[u, t] *= s
    return wa, wb, wc


def to_scheme(shape: tuple[int, int, int], terms: Terms, provenance: dict | None = None) -> Scheme:
    """The GF(2) scheme (ring "Z2") holding exactly these terms."""
    wa, wb, wc = matrices(shape, terms)
    return Scheme(*shape, wa, wb, wc, ring="Z2", provenance=dict(provenance or {}))


def gf2_tensor_ok(shape: tuple[int, int, int], terms: Terms) -> bool:
    """True when the terms sum to ⟨n,m,p⟩ modulo 2 (a fast check used by tests and asserts)."""
    n, m, p = shape
    acc: dict[tuple[int, int, int], int] = {}
    for a, b, c in zip(*terms, strict=True):
        for u in bits(a):
            for v in bits(b):
                for w in bits(c):
                    key = (u, v, w)
                    acc[key] = acc.get(key, 0) ^ 1
    want = {(i * m + j, j * p + k, i * p + k) for i in range(n) for j in range(m) for k in range(p)}
    got = {key for key, val in acc.items() if val}
    return got == want


def plain_additions_terms(shape: tuple[int, int, int], terms: Terms) -> int:
    """fastmm.metrics.plain_additions of any sign lift of these terms (it depends on the support only)."""
    n, m, p = shape
    A, B, C = terms
    total = sum(max(x.bit_count() - 1, 0) for x in A) + sum(max(x.bit_count() - 1, 0) for x in B)
    for w in range(n * p):
        cnt = sum(1 for c in C if c >> w & 1)
        total += max(cnt - 1, 0)
    return total
