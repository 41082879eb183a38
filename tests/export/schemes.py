"""Schemes the export tests share: Winograd's ⟨2,2,2;7⟩ written out without sharing, a
⟨2,3,4⟩ with nontrivial coefficients, a rational scheme, and valid schemes with a product that
contributes nothing (a zero operand, or an all-zero column of Wc)."""

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


def with_term(scheme: Scheme, wa: list, wb: list, wc: list) -> Scheme:
    """`scheme` with one more product: Wa row `wa`, Wb row `wb`, Wc column `wc` (same ring)."""
    return Scheme(*scheme.shape, np.vstack([scheme.Wa, np.array([wa], dtype=scheme.Wa.dtype)]),
                  np.vstack([scheme.Wb, np.array([wb], dtype=scheme.Wb.dtype)]),
                  np.hstack([scheme.Wc, np.array([wc], dtype=scheme.Wc.dtype).T]), ring=scheme.ring)


def _unit(size: int, *ones: int) -> list[int]:
    return [1 if i in ones else 0 for i in range(size)]


def dead_product_schemes() -> dict[str, Scheme]:
    """Valid schemes whose last product contributes nothing (it verifies: the term adds 0).

    zero_left/zero_right: Strassen plus a product with an all-zero A (B) factor that C uses;
    unused: Strassen plus A11·B11, used by no C block; the rect_* cases do the same on the
    rectangular ⟨2,3,4;22⟩ (a dead product placed first, so the others are renumbered around it).
    """
    s, r = strassen(), mixed_234()
    n, m, p = r.shape
    out = {
        "zero_left": with_term(s, [0, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 1]),
        "zero_right": with_term(s, [1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]),
        "unused": with_term(s, [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]),
        "rect_zero_left": with_term(r, _unit(n * m), _unit(m * p, 0, 5), _unit(n * p, 1, 6)),
        "rect_unused": with_term(r, _unit(n * m, 2), _unit(m * p, 3), _unit(n * p)),
    }
    rect = out["rect_unused"]  # move its dead product to the front: M1 dead, M2..M23 live
    order = [rect.rank - 1, *range(rect.rank - 1)]
    out["rect_unused"] = Scheme(n, m, p, rect.Wa[order], rect.Wb[order], rect.Wc[:, order])
    return out
