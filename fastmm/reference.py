"""Classic schemes shipped as references: Strassen ⟨2,2,2;7⟩ and Laderman ⟨3,3,3;23⟩.

They are written as the formulas of the papers and parsed by a small linear-form reader
(no eval): "(a11 + a22)*(b11 + b22)" and "m1 + m4 - m5 + m7".
"""

from __future__ import annotations

import re

import numpy as np

from fastmm.scheme import Scheme

_TERM = re.compile(r"([+-]?)\s*([abcm])(\d+)")

STRASSEN_PRODUCTS = [
    "(a11 + a22) * (b11 + b22)",
    "(a21 + a22) * b11",
    "a11 * (b12 - b22)",
    "a22 * (b21 - b11)",
    "(a11 + a12) * b22",
    "(a21 - a11) * (b11 + b12)",
    "(a12 - a22) * (b21 + b22)",
]
STRASSEN_C = {
    "c11": "m1 + m4 - m5 + m7",
    "c12": "m3 + m5",
    "c21": "m2 + m4",
    "c22": "m1 - m2 + m3 + m6",
}

LADERMAN_PRODUCTS = [
    "(a11 + a12 + a13 - a21 - a22 - a32 - a33) * b22",
    "(a11 - a21) * (-b12 + b22)",
    "a22 * (-b11 + b12 + b21 - b22 - b23 - b31 + b33)",
    "(-a11 + a21 + a22) * (b11 - b12 + b22)",
    "(a21 + a22) * (-b11 + b12)",
    "a11 * b11",
    "(-a11 + a31 + a32) * (b11 - b13 + b23)",
    "(-a11 + a31) * (b13 - b23)",
    "(a31 + a32) * (-b11 + b13)",
    "(a11 + a12 + a13 - a22 - a23 - a31 - a32) * b23",
    "a32 * (-b11 + b13 + b21 - b22 - b23 - b31 + b32)",
    "(-a13 + a32 + a33) * (b22 + b31 - b32)",
    "(a13 - a33) * (b22 - b32)",
    "a13 * b31",
    "(a32 + a33) * (-b31 + b32)",
    "(-a13 + a22 + a23) * (b23 + b31 - b33)",
    "(a13 - a23) * (b23 - b33)",
    "(a22 + a23) * (-b31 + b33)",
    "a12 * b21",
    "a23 * b32",
    "a21 * b13",
    "a31 * b12",
    "a33 * b33",
]
LADERMAN_C = {
    "c11": "m6 + m14 + m19",
    "c12": "m1 + m4 + m5 + m6 + m12 + m14 + m15",
    "c13": "m6 + m7 + m9 + m10 + m14 + m16 + m18",
    "c21": "m2 + m3 + m4 + m6 + m14 + m16 + m17",
    "c22": "m2 + m4 + m5 + m6 + m20",
    "c23": "m14 + m16 + m17 + m18 + m21",
    "c31": "m6 + m7 + m8 + m11 + m12 + m13 + m14",
    "c32": "m12 + m13 + m14 + m15 + m22",
    "c33": "m6 + m7 + m8 + m9 + m23",
}


def _linear_form(text: str, letter: str, cols: int, size: int) -> np.ndarray:
    """Coefficients of a ±1 combination like "a11 - a22" (indices 1-based, single digits)."""
    vec = np.zeros(size, dtype=np.int64)
    for sign, name, idx in _TERM.findall(text):
        if name != letter:
            raise ValueError(f"unexpected {name}{idx} in {text!r}")
        if letter == "m":
            pos = int(idx) - 1
        else:
            pos = (int(idx[0]) - 1) * cols + int(idx[1]) - 1
        vec[pos] += -1 if sign == "-" else 1
    return vec

# Strassen–Winograd with the S/T temporaries expanded: 24 additions plain, 15 when shared.
WINOGRAD_PRODUCTS = [
    "a11 * b11",
    "a12 * b21",
    "(a11 + a12 - a21 - a22) * b22",
    "a22 * (b11 - b12 - b21 + b22)",
    "(a21 + a22) * (b12 - b11)",
    "(a21 + a22 - a11) * (b11 - b12 + b22)",
    "(a11 - a21) * (b22 - b12)",
]
WINOGRAD_C = {
    "c11": "m1 + m2",
    "c12": "m1 + m3 + m5 + m6",
    "c21": "m1 - m4 + m6 + m7",
    "c22": "m1 + m5 + m6 + m7",
}


def scheme_from_formulas(n: int, m: int, p: int, products: list[str], c: dict[str, str]) -> Scheme:
    """Parse "(linear in a) * (linear in b)" products and "c_ik = Σ ±m_t" lines."""
    r = len(products)
    wa = np.zeros((r, n * m), dtype=np.int64)
    wb = np.zeros((r, m * p), dtype=np.int64)
    for t, text in enumerate(products):
        left, right = text.split("*")
        wa[t] = _linear_form(left, "a", m, n * m)
        wb[t] = _linear_form(right, "b", p, m * p)
    wc = np.zeros((n * p, r), dtype=np.int64)
    for name, text in c.items():
        i, k = int(name[1]) - 1, int(name[2]) - 1
        wc[i * p + k] = _linear_form(text, "m", r, r)
    return Scheme(n, m, p, wa, wb, wc)


def strassen() -> Scheme:
    """Strassen 1969, ⟨2,2,2;7⟩ over ZT."""
    s = scheme_from_formulas(2, 2, 2, STRASSEN_PRODUCTS, STRASSEN_C)
    return s.with_meta(provenance={"method": "reference", "source": "Strassen 1969"})


def laderman() -> Scheme:
    """Laderman 1976, ⟨3,3,3;23⟩ over ZT."""
    s = scheme_from_formulas(3, 3, 3, LADERMAN_PRODUCTS, LADERMAN_C)
    return s.with_meta(provenance={"method": "reference", "source": "Laderman 1976"})


def winograd() -> Scheme:
    """Winograd's variant of Strassen, ⟨2,2,2;7⟩ over ZT (15 additions with shared sums)."""
    s = scheme_from_formulas(2, 2, 2, WINOGRAD_PRODUCTS, WINOGRAD_C)
    return s.with_meta(provenance={"method": "reference", "source": "Winograd 1971 (Strassen–Winograd form)"})


REFERENCES = {"strassen": strassen, "winograd": winograd, "laderman": laderman}
