"""Schemes the export tests share: Winograd's ⟨2,2,2;7⟩ written out without sharing, a
⟨2,3,4⟩ with nontrivial coefficients, and a rational scheme."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from fastmm.reference import strassen, winograd  # noqa: F401  (re-exported for the tests)
from fastmm.scheme import Scheme, naive_scheme


def mixed_234() -> Scheme:
    """⟨2,3,4;22⟩ = ⟨2,2,4;14⟩ (Strassen ⊕ Strassen) ⊕ naive ⟨2,1,4;8⟩ along m: nontrivial coefficients."""
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
