"""From an approximate scheme to an exact one: rational grids, exact re-solves, the final check.

The numerical searches (fastmm.search.numerical) produce float factors U (r×nm), V (r×mp),
W (r×np) — W is Wcᵀ, one row per term — whose tensor Σ_t U[t]⊗V[t]⊗W[t] is close to the
matrix-multiplication tensor. This module turns such a point into a verified Scheme:

* `snap` rounds every coefficient to the nearest multiple of 1/d, |x| ≤ bound;
* `exact_factor` fixes two factors (already exact) and solves the Brent equations for the
  third exactly over Q — they are linear in each factor when the other two are fixed — with
  sympy's DomainMatrix; free unknowns take the nearest grid value of the float guess;
* `exact_scheme` builds the Scheme (Fractions where needed, terms with a zero factor dropped)
  and checks it with fastmm.verify before anything sees it: a failing rounding returns None.

Nothing here imports torch: inputs are numpy float arrays.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from fastmm.scheme import Scheme, as_coefficients
from fastmm.verify import target_tensor, verify


def snap(x: np.ndarray, denominator: int, bound: float) -> np.ndarray:
    """Nearest multiple of 1/denominator, clipped to [-bound, bound] (floats, exact for d = 2^k)."""
    return np.clip(np.round(x * denominator) / denominator, -bound, bound)


def to_fractions(x: np.ndarray, denominator: int) -> np.ndarray:
    """Floats that are multiples of 1/denominator as exact Fractions (object array)."""
    nums = np.round(np.asarray(x, dtype=np.float64) * denominator).astype(np.int64)
    return np.array([Fraction(int(k), denominator) for k in nums.flat], dtype=object).reshape(nums.shape)


def _unfold(target: np.ndarray, free: int) -> np.ndarray:
    """The target with the free factor's axis last: rows = pairs of the fixed indices."""
    t = np.moveaxis(target, free, -1)
    return t.reshape(-1, t.shape[-1])


def _design(fixed: list[np.ndarray]) -> np.ndarray:
    """K[(x, y), t] = F0[t, x]·F1[t, y] for the two fixed factors, in the order of `_unfold`."""
    f0, f1 = fixed
    return (f0.T[:, None, :] * f1.T[None, :, :]).reshape(-1, f0.shape[0])


def solve_exact(k: list[list[Fraction]], rhs: list[list[Fraction]],
                guess: np.ndarray) -> list[list[Fraction]] | None:
    """Solve K·X = RHS exactly over Q (K rows×r, RHS rows×q); None when inconsistent.

    Unknowns that the equations leave free take the values of `guess` (r×q, Fractions).
    Uses sympy's DomainMatrix over QQ (exact rational row reduction).
    """
    from sympy import QQ
    from sympy.polys.matrices import DomainMatrix

    rows, r = len(k), len(k[0])
    q = len(rhs[0])
    aug = [[QQ(int(v.numerator), int(v.denominator)) for v in k[i] + rhs[i]] for i in range(rows)]
    red, pivots = DomainMatrix(aug, (rows, r + q), QQ).rref()
    red = red.to_list()
    if any(p >= r for p in pivots):
        return None  # a pivot in the right-hand side: no solution
    free = [t for t in range(r) if t not in pivots]
    x = [[Fraction(0)] * q for _ in range(r)]
    for t in free:
        x[t] = [Fraction(v) for v in guess[t]]
    for row, t in enumerate(pivots):
        for c in range(q):
            val = _frac(red[row][r + c])
            for f in free:
                coef = red[row][f]
                if coef:
                    val -= _frac(coef) * x[f][c]
            x[t][c] = val
    return x


def _frac(v) -> Fraction:
    return Fraction(int(v.numerator), int(v.denominator))


def exact_factor(shape: tuple[int, int, int], factors: list[np.ndarray], free: int,
                 guess_denominator: int = 1) -> list[np.ndarray] | None:
    """Re-solve factor `free` (0: U, 1: V, 2: W) exactly given the other two (Fraction arrays).

    `factors[free]` is the float guess used for the unknowns the equations leave free.
    Returns the three factors with the free one exact, or None when no exact solution exists.
    """
    target = target_tensor(*shape)
    fixed = [factors[i] for i in range(3) if i != free]
    k = _design([np.asarray(f, dtype=object) for f in fixed])
    rhs = _unfold(target, free)
    guess = to_fractions(snap(np.asarray(factors[free], dtype=np.float64), guess_denominator, 1e9),
                         guess_denominator)
    sol = solve_exact([[Fraction(v) for v in row] for row in k],
                      [[Fraction(int(v)) for v in row] for row in rhs], guess)
    if sol is None:
        return None
    out = list(factors)
    out[free] = np.array(sol, dtype=object)
    return out


def float_residual(shape: tuple[int, int, int], u: np.ndarray, v: np.ndarray, w: np.ndarray) -> float:
    """‖Σ_t U[t]⊗V[t]⊗W[t] − T‖² in float64 (exact for small dyadic coefficients)."""
    got = np.einsum("ta,tb,tc->abc", u, v, w)
    return float(((got - target_tensor(*shape)) ** 2).sum())


def exact_scheme(shape: tuple[int, int, int], u, v, w, ring: str, provenance: dict) -> Scheme | None:
    """The verified Scheme for exact factors U, V, W (W = Wcᵀ), or None when it fails.

    ring: the searched ring. "ZT" / "Z" need integer (ZT: ternary) coefficients, "Q" takes any
    rationals, "Z2" accepts integer coefficients valid modulo 2 (and labels the result Z2). Otherwise
    the returned scheme carries the smallest ring holding its coefficients (Q when one is not an
    integer).
    """
    n, m, p = shape
    u, v, w = (as_coefficients(np.asarray(x, dtype=object)) for x in (u, v, w))
    keep = [t for t in range(u.shape[0]) if _nonzero(u[t]) and _nonzero(v[t]) and _nonzero(w[t])]
    u, v, w = u[keep], v[keep], w[keep]
    if not keep:
        return None
    wc = as_coefficients(np.asarray(w, dtype=object).T)
    scheme = Scheme(n, m, p, u, v, wc, ring="", provenance=provenance)
    got = scheme.coefficient_ring
    if ring in ("ZT", "Z", "Z2") and got == "Q":
        return None
    if ring == "ZT" and got != "ZT":
        return None
    if ring == "Z2":  # searched modulo 2: the result is claimed (and checked) modulo 2 only
        mod2 = scheme.with_meta(ring="Z2")
        return mod2 if verify(mod2, use_sympy=False).ok else None
    verdict = verify(scheme, use_sympy=False)
    return scheme.with_meta(ring=verdict.ring) if verdict.ok else None


def _nonzero(row: np.ndarray) -> bool:
    return any(x != 0 for x in row)
