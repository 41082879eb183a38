"""Schemes the export tests share: Winograd's ⟨2,2,2;7⟩ written out without sharing, a
⟨2,3,4⟩ with nontrivial coefficients, and a rational scheme."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from fastmm.reference import scheme_from_formulas, strassen
from fastmm.scheme import Scheme, naive_scheme

# Strassen–Winograd: S/T temporaries expanded, so the plain form has 24 additions
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


def winograd() -> Scheme:
    return scheme_from_formulas(2, 2, 2, WINOGRAD_PRODUCTS, WINOGRAD_C)


def mixed_234() -> Scheme:
    """⟨2,3,4;20⟩ = Strassen-padded ⟨2,2,4⟩ ⊕ naive ⟨2,1,4⟩ along m: nontrivial coefficients."""
    s224 = strassen().direct_sum(strassen(), axis="p")
    return s224.direct_sum(naive_scheme(2, 1, 4), axis="m")


def rational_strassen() -> Scheme:
    """Strassen with product 1 scaled: L1·2 and the C column of M1 halved (ring Q)."""
    s = strassen()
    wa = s.Wa.astype(object)
    wc = s.Wc.astype(object)
    wa[0] = wa[0] * 2
    wc[:, 0] = np.array([Fraction(x, 2) for x in wc[:, 0]], dtype=object)
    wb = s.Wb.astype(object)
    wb[2] = np.array([Fraction(x, 3) for x in wb[2]], dtype=object)
    wc[:, 2] = wc[:, 2] * 3
    return Scheme(2, 2, 2, wa, wb, wc)
