"""Equivalence of schemes under the de Groote symmetry group, invariants and de-duplication.

The symmetries of the matrix-multiplication tensor ⟨n,m,p⟩ that map schemes to schemes:

* (P, Q, R) ∈ GL_n × GL_m × GL_p. In our layout term t is the triple of matrices
  A_t (n×m), B_t (m×p), C_t (n×p) with Σ_t A_t ⊗ B_t ⊗ C_t = Σ_ijk e_ij ⊗ e_jk ⊗ e_ik,
  i.e. Σ_t ⟨A_t,X⟩⟨B_t,Y⟩⟨C_t,Z⟩ = tr(X·Y·Zᵀ). Contracting the first two slots with U, V
  gives U·V, so the action that keeps the tensor fixed is

      A ↦ P·A·Q⁻¹,    B ↦ Q·B·R⁻¹,    C ↦ P⁻ᵀ·C·Rᵀ

  (the third factor is C row-major, not Cᵀ as in AlphaTensor's layout: hence P⁻ᵀ, Rᵀ);
* a permutation of the terms, and scaling term t by (λ, μ, 1/(λμ));
* the cyclic shift ⟨n,m,p⟩ → ⟨m,p,n⟩ and the transposition ⟨n,m,p⟩ → ⟨p,m,n⟩
  (`Scheme.cyclic`, `Scheme.transpose`); both map a shape to itself only in special cases.

Equivalence is decided over the field of the scheme: Q for ZT/Z/Q schemes (so a ZT scheme
and its image under an integer unimodular P are equivalent even though the image lies in
Z), GF(2) for Z2 schemes.

Deciding equivalence (`equivalent`): after cheap invariants, each shape move σ that maps
s1's shape onto s2's is tried, and a backtracking search matches the terms of σ(s1) to the
terms of s2. Every matched pair gives *linear* conditions on P, Q, R separately: P maps
the column space of A1 onto that of A2, Q the row space of A2 onto that of A1, and so on
(see `_pair_constraints`). These are
necessary, so the true (P, Q, R) always survives; a branch dies when a solution space
becomes {0}, or when a pair of matched terms disagrees in dim(col X_t + col X_u) or
dim(row X_t + row X_u) (kept by the action). The linear systems are kept modulo the prime
2³¹−1 during the search (a system with only the zero solution mod p has only the zero
solution over Q) and candidates are first compared modulo p; anything reported equivalent
is then computed and checked exactly. (A proof of inequivalence assumes that p divides no
numerator or determinant met in the transform, which holds while they stay below 2³¹.)
When each of P, Q, R is fixed up to a scalar (the overall scalars are absorbed
by the term scalings), the candidate is applied and the terms compared exactly; otherwise
the bilinear conditions P·A1 = λ·A2·Q (etc.) are linearised by fixing the matrices already
determined. Because pruning uses only necessary conditions, an exhausted search whose
leaves were all decided proves inequivalence; a leaf that could not be decided makes the
answer "unknown".

Length: about 700 lines, over the usual 450, because the term-matching search (`_Search`) and
the pruning invariants it relies on must be read together to check that pruning only uses
necessary conditions; the exact linear algebra lives in fastmm.linalg.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from fastmm.arguments import flag, scheme_arg
from fastmm.errors import InputError
from fastmm.linalg import (
    Linear,
    flat,
    inverse,
    mat,
    matmul,
    normal,
    nullspace,
    rank,
    reshape,
    row_basis,
    transpose,
)
from fastmm.scheme import Scheme
from fastmm.validate import exact

# ---------------------------------------------------------------------------------------
# exact linear algebra lives in fastmm.linalg


def _field_of(scheme: Scheme) -> int | None:
    return 2 if scheme.ring == "Z2" else None


# ---------------------------------------------------------------------------------------
# transforms


def _move_shape(shape: tuple[int, int, int], moves: str) -> tuple[int, int, int]:
    n, m, p = shape
    for mv in moves:
        n, m, p = (m, p, n) if mv == "c" else (p, m, n)
    return (n, m, p)


MOVES = ("", "c", "cc", "t", "ct", "cct")  # every element of the shape-permutation group


def _apply_moves(scheme: Scheme, moves: str) -> Scheme:
    for mv in moves:
        scheme = scheme.cyclic() if mv == "c" else scheme.transpose()
    return scheme


@dataclass
class Transform:
    """A de Groote symmetry: shape moves, then (P, Q, R), then a term permutation and scalings.

    `moves` is a string of "c" (cyclic shift) and "t" (transpose) applied left to right;
    `perm[i]` is the old index of new term i; `scales[i] = (λ, μ, ν)` multiplies the A, B, C
    factors of new term i (λ·μ·ν = 1). Matrices are nested lists of Fractions (or 0/1 ints
    over GF(2)).
    """

    moves: str
    P: list[list]
    Q: list[list]
    R: list[list]
    perm: list[int]
    scales: list[tuple[Any, Any, Any]]
    field: str = "Q"  # "Q" or "GF2"

    def apply(self, scheme: Scheme) -> Scheme:
        scheme_arg(scheme, "Transform.apply")
        mod = 2 if self.field == "GF2" else None
        s = _apply_moves(scheme, self.moves)
        n, m, p = s.shape
        if (len(self.P), len(self.Q), len(self.R)) != (n, m, p) or len(self.perm) != s.rank:
            raise InputError(f"Transform.apply: this transform acts on schemes of shape "
                             f"⟨{len(self.P)},{len(self.Q)},{len(self.R)}⟩ (after its shape moves) and "
                             f"rank {len(self.perm)}, not on {scheme.label()}")
        pinv, qinv, rinv = (inverse(x, mod) for x in (self.P, self.Q, self.R))
        if pinv is None or qinv is None or rinv is None:
            raise InputError("Transform.apply: P, Q and R must be invertible")
        pinv_t, r_t = transpose(pinv), transpose(self.R)
        wa, wb, wc = [], [], []
        for new, old in enumerate(self.perm):
            a, b, c = (mat(x, mod) for x in s.factor_matrices(old))
            lam, mu, nu = self.scales[new]
            a2 = matmul(matmul(self.P, a, mod), qinv, mod)
            b2 = matmul(matmul(self.Q, b, mod), rinv, mod)
            c2 = matmul(matmul(pinv_t, c, mod), r_t, mod)
            wa.append([v * lam for v in flat(a2)])
            wb.append([v * mu for v in flat(b2)])
            wc.append([v * nu for v in flat(c2)])
        from fastmm.scheme import as_coefficients

        ring = "Z2" if mod else ""
        return Scheme(n, m, p, as_coefficients(wa), as_coefficients(wb),
                      as_coefficients(np.array(wc, dtype=object).T), ring=ring,
                      provenance={"derived": "de Groote transform"})

    def describe(self) -> str:
        def fmt(x: list[list]) -> str:
            return "[" + "; ".join(" ".join(str(v) for v in row) for row in x) + "]"

        moves = {"": "none", "c": "cyclic", "cc": "cyclic²", "t": "transpose",
                 "ct": "cyclic, transpose", "cct": "cyclic², transpose"}.get(self.moves, self.moves)
        return f"shape move: {moves}; P={fmt(self.P)} Q={fmt(self.Q)} R={fmt(self.R)}"


def _identity(k: int, mod: int | None) -> list[list]:
    one, zero = (1, 0) if mod else (Fraction(1), Fraction(0))
    return [[one if i == j else zero for j in range(k)] for i in range(k)]


def _random_gl(k: int, rng: np.random.Generator, mod: int | None, unimodular: bool) -> list[list]:
    """A random signed permutation matrix, times a few elementary ±1 row operations."""
    perm = rng.permutation(k)
    g = [[0] * k for _ in range(k)]
    for i, j in enumerate(perm):
        g[i][int(j)] = 1 if mod else int(rng.choice((-1, 1)))
    if unimodular and k > 1:
        for _ in range(int(rng.integers(1, 3))):
            i, j = (int(x) for x in rng.choice(k, size=2, replace=False))
            f = 1 if mod else int(rng.choice((-1, 1)))
            g[i] = [a + f * b for a, b in zip(g[i], g[j], strict=True)]
    return mat(g, mod)


def random_symmetry(scheme: Scheme, rng: np.random.Generator, *, unimodular: bool = True,
                    shape_moves: bool = True) -> Transform:
    """A random element of the symmetry group that maps the scheme's shape to itself.

    P, Q, R are signed permutations times (if `unimodular`) one or two elementary ±1 row
    operations, so integer schemes stay integral; terms are shuffled and scaled by ±1
    (no scaling over GF(2)); a cyclic shift / transposition is included when the shape allows.
    """
    scheme_arg(scheme, "random_symmetry")
    unimodular = flag(unimodular, "random_symmetry", "unimodular")
    shape_moves = flag(shape_moves, "random_symmetry", "shape_moves")
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"random_symmetry: rng is a numpy Generator (numpy.random.default_rng(seed)), "
                         f"not {type(rng).__name__}")
    mod = _field_of(scheme)
    moves = ""
    if shape_moves:
        ok = [mv for mv in MOVES if _move_shape(scheme.shape, mv) == scheme.shape]
        moves = ok[int(rng.integers(len(ok)))]
    n, m, p = scheme.shape
    perm = [int(x) for x in rng.permutation(scheme.rank)]
    scales = []
    for _ in range(scheme.rank):
        if mod:
            scales.append((1, 1, 1))
        else:
            lam, mu = (Fraction(int(rng.choice((-1, 1)))) for _ in range(2))
            scales.append((lam, mu, 1 / (lam * mu)))
    return Transform(moves, _random_gl(n, rng, mod, unimodular), _random_gl(m, rng, mod, unimodular),
                     _random_gl(p, rng, mod, unimodular), perm, scales, "GF2" if mod else "Q")


def random_transform(scheme: Scheme, rng: np.random.Generator, *, unimodular: bool = True,
                     shape_moves: bool = True) -> Scheme:
    """An equivalent copy of `scheme` under a random symmetry (see `random_symmetry`)."""
    return random_symmetry(scheme, rng, unimodular=unimodular, shape_moves=shape_moves).apply(scheme)


# ---------------------------------------------------------------------------------------
# invariants


def _factors(scheme: Scheme, mod: int | None) -> list[tuple[list[list], list[list], list[list]]]:
    return [tuple(mat(x, mod) for x in scheme.factor_matrices(t)) for t in range(scheme.rank)]


def _term_signatures(scheme: Scheme, mod: int | None) -> list[tuple[tuple[int, int], ...]]:
    """Per term and role (A, B, C): (rank of the factor, number of other terms whose factor in
    the same role is proportional to it). Ordered by role."""
    facs = _factors(scheme, mod)
    keys = [[normal(flat(f[role]))[0] for f in facs] for role in range(3)]
    counts = [Counter(k) for k in keys]
    out = []
    for t, f in enumerate(facs):
        out.append(tuple((rank(f[role], mod), counts[role][keys[role][t]] - 1) for role in range(3)))
    return out


def invariants(scheme: Scheme) -> dict[str, Any]:
    """Cheap invariants of the equivalence class (all hashable).

    * shape (sorted), rank, field — the group permutes the dimensions and keeps the rest;
    * factor_ranks: multiset of sorted (rank A_t, rank B_t, rank C_t). P·A·Q⁻¹ keeps rank A,
      scaling keeps ranks, term permutation only reorders, the shape moves permute the roles
      and transpose factors: each sorted triple is unchanged;
    * signatures: multiset over terms of the sorted per-role pairs (factor rank, how many
      other terms have a factor proportional to this one in the same role). The maps
      X ↦ P·X·Q⁻¹ etc. are linear bijections of each factor space, so they keep
      proportionality; shape moves permute roles uniformly (hence sorting the pairs);
    * spans: for each role, the dimension of the span of that role's factors over each
      signature class; a linear bijection of the factor space keeps these dimensions, and
      the three role vectors are sorted because shape moves permute the roles.
    """
    scheme_arg(scheme, "invariants")
    mod = _field_of(scheme)
    facs = _factors(scheme, mod)
    sigs = _term_signatures(scheme, mod)
    classes = sorted({tuple(sorted(s)) for s in sigs})
    by_class = {c: [t for t, s in enumerate(sigs) if tuple(sorted(s)) == c] for c in classes}
    spans = []
    for role in range(3):
        spans.append(tuple(rank([flat(facs[t][role]) for t in by_class[c]], mod) for c in classes))
    return {
        "shape": tuple(sorted(scheme.shape)),
        "rank": scheme.rank,
        "field": "GF2" if mod else "Q",
        "factor_ranks": tuple(sorted(Counter(tuple(sorted(r for r, _ in s)) for s in sigs).items())),
        "signatures": tuple(sorted(Counter(tuple(sorted(s)) for s in sigs).items())),
        "spans": (tuple(classes), tuple(sorted(spans))),
    }


# ---------------------------------------------------------------------------------------
# the search


@dataclass
class EquivalenceResult:
    """status: "equivalent" | "inequivalent" | "unknown"; `transform` maps s1 onto s2 when found."""

    status: str
    reason: str
    transform: Transform | None = None

    def __bool__(self) -> bool:
        return self.status == "equivalent"


@dataclass
class _Term:
    mats: tuple[list[list], list[list], list[list]]
    col: tuple[list[list], ...] = field(default_factory=tuple)  # column-space bases (vectors)
    left: tuple[list[list], ...] = field(default_factory=tuple)  # left null spaces
    row: tuple[list[list], ...] = field(default_factory=tuple)  # row-space bases
    right: tuple[list[list], ...] = field(default_factory=tuple)  # right null spaces
    ranks: tuple[int, int, int] = (0, 0, 0)


def _integral(vecs: list[list], mod: int | None) -> list[list[int]]:
    """Each vector scaled to integers (clearing denominators): same span, cheap arithmetic."""
    if mod:
        return [[int(v) for v in vec] for vec in vecs]
    out = []
    for vec in vecs:
        den = math.lcm(*(Fraction(v).denominator for v in vec))
        out.append([int(v * den) for v in vec])
    return out


def _term_data(scheme: Scheme, mod: int | None) -> list[_Term]:
    out = []
    for mats in _factors(scheme, mod):
        col, left, row, right, ranks = [], [], [], [], []
        for x in mats:
            rows, cols = len(x), len(x[0])
            xt = transpose(x)
            row.append(_integral(row_basis(x, mod), mod))
            col.append(_integral(row_basis(xt, mod), mod))
            right.append(_integral(nullspace(x, cols, mod), mod))
            left.append(_integral(nullspace(xt, rows, mod), mod))
            ranks.append(len(row[-1]))
        out.append(_Term(mats, tuple(col), tuple(left), tuple(row), tuple(right), tuple(ranks)))
    return out


def _outer(y: list, c: list) -> list:
    return [a * b for a in y for b in c]


def _pair_constraints(t1: _Term, t2: _Term) -> tuple[list[list], list[list], list[list]]:
    """Linear conditions on vec(P), vec(Q), vec(R) (row-major) for term t1 ↦ t2 (up to scale).

    A ↦ P A Q⁻¹: P·col(A1) = col(A2) and row(A1) = row(A2)·Q.
    B ↦ Q B R⁻¹: Q·col(B1) = col(B2) and row(B1) = row(B2)·R.
    C ↦ P⁻ᵀ C Rᵀ: col(C1) = Pᵀ·col(C2) and R·row(C1)ᵀ = row(C2)ᵀ.
    Each 'maps U into V' is written as yᵀ·M·u = 0 for u in a basis of U and y ⊥ V.
    """
    pc = [_outer(y, c) for y in t2.left[0] for c in t1.col[0]]
    pc += [_outer(c, y) for c in t2.col[2] for y in t1.left[2]]
    qc = [_outer(w, x) for w in t2.row[0] for x in t1.right[0]]
    qc += [_outer(y, c) for y in t2.left[1] for c in t1.col[1]]
    rc = [_outer(w, x) for w in t2.row[1] for x in t1.right[1]]
    rc += [_outer(y, c) for y in t2.right[2] for c in t1.row[2]]
    return pc, qc, rc


_PRIME = 2_147_483_647  # 2^31 - 1
_MORE_PRIMES = (2_305_843_009_213_693_951, 1_000_000_007, 998_244_353)  # 2^61 - 1 and two others


def _prime_for(*schemes: Scheme) -> int:
    """A large prime that divides no denominator of the schemes (2^31 - 1 unless one does): the
    modular filters reduce every coefficient modulo it."""
    denominators = {Fraction(v).denominator for s in schemes if not s.is_integral
                    for w in (s.Wa, s.Wb, s.Wc) for v in w.flat}
    denominators.discard(1)
    for q in (_PRIME, *_MORE_PRIMES):
        if all(d % q for d in denominators):
            return q
    from sympy import nextprime

    q = _MORE_PRIMES[0]
    while any(d % q == 0 for d in denominators):
        q = int(nextprime(q))
    return q
_RANDOM_TRIES = 4


class _Search:
    """Backtracking over term matchings for one shape move (s1 already moved)."""

    def __init__(self, s1: Scheme, s2: Scheme, mod: int | None, max_nodes: int,
                 deadline: float | None = None):
        self.s1, self.s2, self.mod = s1, s2, mod
        self.deadline = deadline  # time.monotonic() past which the search gives up
        self.n, self.m, self.p = s1.shape
        self.t1 = _term_data(s1, mod)
        self.t2 = _term_data(s2, mod)
        self.sig1 = _term_signatures(s1, mod)
        self.sig2 = _term_signatures(s2, mod)
        self.max_nodes = max_nodes
        self.lin = mod or _prime_for(s1, s2)
        self._cache: dict[tuple[int, int], tuple[tuple, tuple]] = {}
        self._mod_terms: tuple | None = None
        self._pairs1: dict[tuple[int, int], tuple[int, ...]] = {}
        self._pairs2: dict[tuple[int, int], tuple[int, ...]] = {}
        self.rng = np.random.default_rng(0)
        self.nodes = 0
        self.undecided = False  # a leaf we could not settle: exhaustion then proves nothing
        self.gave_up = False
        self.matching: list[tuple[int, int]] = []  # (term of s1, term of s2) along the branch
        # s2 terms by normalised (A, B, C): for the final exact comparison
        self.lookup: dict[tuple, list[tuple[int, Any, Any, Any]]] = {}
        for t, term in enumerate(self.t2):
            ka, la = normal(flat(term.mats[0]))
            kb, lb = normal(flat(term.mats[1]))
            kc, lc = normal(flat(term.mats[2]))
            self.lookup.setdefault((ka, kb, kc), []).append((t, la, lb, lc))
        # informative terms first: low factor ranks give many conditions
        self.order = sorted(range(s1.rank), key=lambda t: (sum(self.t1[t].ranks), t))

    def run(self) -> tuple | None:
        lin = self.lin
        systems = (Linear(self.n * self.n, lin), Linear(self.m * self.m, lin),
                   Linear(self.p * self.p, lin))
        return self._dfs(0, systems, ([], [], []), set())

    def _pair_key(self, side: int, t: int, u: int) -> tuple[int, ...]:
        """dim(col X_t + col X_u) and dim(row X_t + row X_u) for X = A, B, C: kept by
        X ↦ P X Q⁻¹ (P maps column spaces, Q row spaces), so a matching must preserve them."""
        cache = self._pairs1 if side == 1 else self._pairs2
        key = (t, u) if t < u else (u, t)
        if key not in cache:
            terms = self.t1 if side == 1 else self.t2
            a, b = terms[key[0]], terms[key[1]]
            cache[key] = tuple(rank(sp_a[role] + sp_b[role], self.mod)
                               for role in range(3)
                               for sp_a, sp_b in ((a.col, b.col), (a.row, b.row)))
        return cache[key]

    def _constraints(self, t1: int, t2: int) -> tuple[tuple, tuple]:
        key = (t1, t2)
        if key not in self._cache:
            exact = _pair_constraints(self.t1[t1], self.t2[t2])
            reduced = tuple([[v % self.lin for v in row] for row in rows] for rows in exact)
            self._cache[key] = (exact, reduced)
        return self._cache[key]

    def _dfs(self, depth: int, systems, exact: tuple[list, list, list], used: set[int]):
        """`systems` hold the conditions modulo `lin` (a large prime over Q: the rank mod a prime
        is at most the rank over Q, so a system with no nonzero solution mod the prime has none
        over Q either); `exact` keeps the integer rows for the exact solve."""
        self.nodes += 1
        if self.nodes > self.max_nodes or (self.deadline is not None and time.monotonic() > self.deadline):
            self.gave_up = True
            return None
        if all(s.dim == 1 for s in systems):
            if self.mod is None and not self._finish_mod([s.basis()[0] for s in systems]):
                return None
            spaces = [nullspace(rows, d * d, self.mod) for rows, d in
                      zip(exact, (self.n, self.m, self.p), strict=True)]
            if any(len(sp) != 1 for sp in spaces):
                return None
            return self._finish([sp[0] for sp in spaces])
        if depth == len(self.order):
            return self._leaf(exact)
        t1 = self.order[depth]
        for t2 in range(self.s2.rank):
            if t2 in used or self.sig1[t1] != self.sig2[t2]:
                continue
            if any(self._pair_key(1, t1, u1) != self._pair_key(2, t2, u2) for u1, u2 in self.matching):
                continue
            rows_exact, rows_lin = self._constraints(t1, t2)
            new = tuple(s.copy() for s in systems)
            for sys, rows in zip(new, rows_lin, strict=True):
                for row in rows:
                    sys.add(row)
            if any(s.dim == 0 for s in new):
                continue
            used.add(t2)
            self.matching.append((t1, t2))
            found = self._dfs(depth + 1, new, tuple(e + r for e, r in zip(exact, rows_exact, strict=True)),
                              used)
            self.matching.pop()
            used.discard(t2)
            if found is not None or self.gave_up:
                return found
        return None

    # -- settling a candidate ------------------------------------------------------------
    def _reduce(self, mats) -> tuple[list[list[int]], ...]:
        q = self.lin
        return tuple([[(Fraction(v).numerator * pow(Fraction(v).denominator, -1, q)) % q
                       for v in row] for row in x] for x in mats)

    def _normal_mod(self, vec: list[int]) -> tuple[tuple, int]:
        q = self.lin
        lead = next((v for v in vec if v), 0)
        if not lead:
            return (None,), 0
        inv = pow(lead, -1, q)
        return tuple(v * inv % q for v in vec), lead

    def _finish_mod(self, vecs: list[list[int]]) -> bool:
        """Fast filter before `_finish`: the same test modulo the prime. The exact solution
        reduces to the (one-dimensional) modular one, so a candidate rejected here is rejected
        exactly too, unless the prime divides a numerator or determinant of the transform."""
        q = self.lin
        if self._mod_terms is None:
            self._mod_terms = ([self._reduce(t.mats) for t in self.t1], {})
            for term in self.t2:
                red = self._reduce(term.mats)
                keys = [self._normal_mod(flat(x)) for x in red]
                key = tuple(k for k, _ in keys)
                self._mod_terms[1].setdefault(key, []).append(keys[0][1] * keys[1][1] * keys[2][1] % q)
        terms1, lookup = self._mod_terms
        P = reshape(vecs[0], self.n, self.n)
        Q = reshape(vecs[1], self.m, self.m)
        R = reshape(vecs[2], self.p, self.p)
        pinv, qinv, rinv = (inverse(x, q) for x in (P, Q, R))
        if pinv is None or qinv is None or rinv is None:
            return False
        pinv_t, r_t = transpose(pinv), transpose(R)
        free = {k: list(v) for k, v in lookup.items()}
        for t in self.order:
            a, b, c = terms1[t]
            ka, la = self._normal_mod(flat(matmul(matmul(P, a, q), qinv, q)))
            kb, lb = self._normal_mod(flat(matmul(matmul(Q, b, q), rinv, q)))
            kc, lc = self._normal_mod(flat(matmul(matmul(pinv_t, c, q), r_t, q)))
            cands = free.get((ka, kb, kc))
            prod = la * lb * lc % q
            if not cands or prod not in cands:
                return False
            cands.remove(prod)
        return True

    def _finish(self, vecs: list[list]):
        """Exact check of (P, Q, R) given up to scalars: every term of s1 must land on a term
        of s2 with scalings whose product is 1."""
        mod = self.mod
        P = reshape(vecs[0], self.n, self.n)
        Q = reshape(vecs[1], self.m, self.m)
        R = reshape(vecs[2], self.p, self.p)
        pinv, qinv, rinv = (inverse(x, mod) for x in (P, Q, R))
        if pinv is None or qinv is None or rinv is None:
            return None
        pinv_t, r_t = transpose(pinv), transpose(R)
        free = {k: list(v) for k, v in self.lookup.items()}
        perm = [None] * self.s1.rank
        scales: list = [None] * self.s1.rank
        for t in self.order:
            a, b, c = self.t1[t].mats
            ka, la = normal(flat(matmul(matmul(P, a, mod), qinv, mod)))
            kb, lb = normal(flat(matmul(matmul(Q, b, mod), rinv, mod)))
            kc, lc = normal(flat(matmul(matmul(pinv_t, c, mod), r_t, mod)))
            cands = free.get((ka, kb, kc))
            if not cands:
                return None
            hit = next((i for i, (_, a2, b2, c2) in enumerate(cands)
                        if mod or la * lb * lc == a2 * b2 * c2), None)
            if hit is None:
                return None
            t2, a2, b2, c2 = cands.pop(hit)
            perm[t2] = t
            # new term t2 = old term t transformed, times (a2/la, b2/lb, c2/lc)
            scales[t2] = (1, 1, 1) if mod else (a2 / la, b2 / lb, c2 / lc)
        return P, Q, R, perm, scales

    def _leaf(self, exact: tuple[list, list, list]):
        """All terms matched but some of P, Q, R not fixed: linearise the bilinear conditions."""
        spaces = [nullspace(rows, d * d, self.mod) for rows, d in
                  zip(exact, (self.n, self.m, self.p), strict=True)]
        if any(not sp for sp in spaces):
            return None
        known: list[list | None] = [sp[0] if len(sp) == 1 else None for sp in spaces]
        return self._settle(spaces, known, 0)

    def _settle(self, spaces: list[list[list]], known: list[list | None], level: int):
        known = list(known)
        progress = True
        while progress and any(k is None for k in known):
            progress = False
            for which in range(3):
                if known[which] is not None:
                    continue
                status, vec = self._linearised(which, spaces[which], known)
                if status == "contradiction":
                    return None
                if status == "fixed":
                    known[which] = vec
                    progress = True
        if all(k is not None for k in known):
            return self._finish(known)
        which = min((i for i in range(3) if known[i] is None), key=lambda i: len(spaces[i]))
        if self.mod and len(spaces[which]) <= 6:  # GF(2): few enough candidates to try all
            size = len(spaces[which][0])
            for coeffs in itertools.product((0, 1), repeat=len(spaces[which])):
                if not any(coeffs):
                    continue
                trial = list(known)
                trial[which] = [sum(c * v[i] for c, v in zip(coeffs, spaces[which], strict=True)) % 2
                                for i in range(size)]
                found = self._settle(spaces, trial, level + 1)
                if found is not None:
                    return found
            return None
        if not self.mod:
            # Over Q the true solutions form a variety inside the linear space (e.g. a block
            # scaling absorbed by term scalings): try a few random points of the space. A hit is
            # checked exactly by _finish; misses leave the matching undecided.
            size = len(spaces[which][0])
            for _ in range(_RANDOM_TRIES if level < 2 else 2):
                coeffs = [int(c) for c in self.rng.integers(-3, 4, size=len(spaces[which]))]
                if not any(coeffs):
                    continue
                trial = list(known)
                trial[which] = [sum((c * v[i] for c, v in zip(coeffs, spaces[which], strict=True)),
                                    Fraction(0)) for i in range(size)]
                found = self._settle(spaces, trial, level + 1)
                if found is not None:
                    return found
        self.undecided = True
        return None

    def _linearised(self, which: int, space: list[list], known: list[list | None]):
        """Solve for matrix `which` (0=P, 1=Q, 2=R) inside its space using the known ones:
        P·A1 = λ·A2·Q, Q·B1 = μ·B2·R, C1·Rᵀ = ν·Pᵀ·C2 with one unknown scalar per equation.
        Returns ("fixed", vec), ("contradiction", None) or ("open", None)."""
        mod = self.mod
        dims = (self.n, self.m, self.p)
        P, Q, R = (reshape(k, d, d) if k is not None else None
                   for k, d in zip(known, dims, strict=True))
        d = dims[which]
        basis = [reshape(v, d, d) for v in space]
        eqs: list[tuple[Any, Any]] = []  # (F linear in the unknown X, fixed G): F(X) = a·G
        for t1, t2 in self.matching:
            a1, b1, c1 = self.t1[t1].mats
            a2, b2, c2 = self.t2[t2].mats
            if which == 0 and Q is not None:
                eqs.append((lambda X, a1=a1: matmul(X, a1, mod), matmul(a2, Q, mod)))
            if which == 0 and R is not None:
                eqs.append((lambda X, c2=c2: matmul(transpose(X), c2, mod),
                            matmul(c1, transpose(R), mod)))
            if which == 1 and P is not None:
                eqs.append((lambda X, a2=a2: matmul(a2, X, mod), matmul(P, a1, mod)))
            if which == 1 and R is not None:
                eqs.append((lambda X, b1=b1: matmul(X, b1, mod), matmul(b2, R, mod)))
            if which == 2 and Q is not None:
                eqs.append((lambda X, b2=b2: matmul(b2, X, mod), matmul(Q, b1, mod)))
            if which == 2 and P is not None:
                eqs.append((lambda X, c1=c1: matmul(c1, transpose(X), mod),
                            matmul(transpose(P), c2, mod)))
        if not eqs:
            return "open", None
        k = len(basis)
        sys = Linear(k + len(eqs), mod)
        for e, (F, G) in enumerate(eqs):
            images = [flat(F(X)) for X in basis]
            for i, g in enumerate(flat(G)):
                row = [img[i] for img in images] + [0] * len(eqs)
                row[k + e] = (-g) % mod if mod else -g
                sys.add(row)
        proj = row_basis([v[:k] for v in sys.basis()], mod)
        if not proj:
            return "contradiction", None
        if len(proj) > 1:
            return "open", None
        size = len(space[0])
        zero = 0 if mod else Fraction(0)
        vec = [sum((c * v[i] for c, v in zip(proj[0], space, strict=True)), zero) for i in range(size)]
        return "fixed", [x % mod for x in vec] if mod else vec



# ---------------------------------------------------------------------------------------
# public decision procedures

STRASSEN_THEOREM = "every ⟨2,2,2;7⟩ scheme is equivalent to Strassen's (de Groote 1978)"


def _field_name(scheme: Scheme) -> str:
    return "GF(2)" if scheme.ring == "Z2" else "Q"


def _valid(scheme: Scheme) -> bool:
    from fastmm.verify import verify

    return verify(scheme, use_sympy=False).ok


def same_coefficients(s1: Scheme, s2: Scheme) -> bool:
    """Same shape and identical Wa, Wb, Wc (exactly; the ring label is not compared)."""
    return s1.shape == s2.shape and all(
        x.shape == y.shape and all(Fraction(a) == Fraction(b) for a, b in zip(x.flat, y.flat, strict=True))
        for x, y in ((s1.Wa, s2.Wa), (s1.Wb, s2.Wb), (s1.Wc, s2.Wc)))


def _has_dead_product(scheme: Scheme) -> bool:
    """Whether some product has an all-zero Wa row, Wb row or Wc column (the test the code
    emitters use to leave such products out)."""
    return len(scheme.live_terms()) < scheme.rank


def _normal_term(scheme: Scheme, t: int, mod: int | None) -> tuple[tuple, tuple, tuple, Any, Any]:
    """Term t with its A and B factors scaled to a leading 1 (C absorbs the scales), and those
    two leading coefficients."""
    a, b, c = ([Fraction(int(v) % mod) if mod else exact(v) for v in vec]
               for vec in (scheme.Wa[t], scheme.Wb[t], scheme.Wc[:, t]))
    la = next(v for v in a if v)
    lb = next(v for v in b if v)
    return (tuple(v / la for v in a), tuple(v / lb for v in b), tuple(v * la * lb for v in c), la, lb)


def _identity_transform(s1: Scheme, s2: Scheme, mod: int | None) -> Transform | None:
    """The identity (P, Q, R) with the term permutation and scalings that map s1 onto s2, when
    both hold the same products up to order and scaling; None otherwise."""
    if s1.shape != s2.shape:
        return None
    unmatched: dict[tuple, list[tuple[int, Any, Any]]] = {}
    for t in range(s1.rank):
        a, b, c, la, lb = _normal_term(s1, t, mod)
        unmatched.setdefault((a, b, c), []).append((t, la, lb))
    perm, scales = [], []
    for t in range(s2.rank):
        a, b, c, la, lb = _normal_term(s2, t, mod)
        candidates = unmatched.get((a, b, c))
        if not candidates:
            return None
        old, la1, lb1 = candidates.pop()
        lam, mu = la / la1, lb / lb1
        perm.append(old)
        scales.append((lam, mu, 1 / (lam * mu)) if not mod else (1, 1, 1))
    n, m, p = s1.shape
    tr = Transform("", _identity(n, mod), _identity(m, mod), _identity(p, mod), perm, scales,
                   "GF2" if mod else "Q")
    return tr if same_coefficients(tr.apply(s1), s2) else None


def equivalent(s1: Scheme, s2: Scheme, *, max_nodes: int = 200_000,
               deadline: float | None = None) -> EquivalenceResult:
    """Decide whether s1 and s2 lie in one orbit of the de Groote group (see module docstring).

    "inequivalent" comes with the invariant that differs, or from an exhausted search whose
    every branch was settled; "equivalent" carries a Transform with transform.apply(s1) == s2
    (checked here), or cites de Groote's theorem for ⟨2,2,2;7⟩; otherwise "unknown".
    Schemes valid only modulo 2 (ring Z2) are compared over GF(2); a Z2 scheme and a
    ZT/Z/Q scheme are reported inequivalent (different rings) without further work.
    `deadline` (a time.monotonic() value): past it the search stops with "unknown".
    """
    scheme_arg(s1, "equivalent")
    scheme_arg(s2, "equivalent")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1:
        raise InputError(f"equivalent: max_nodes must be a positive integer, got {max_nodes!r}")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))
                                 or not math.isfinite(deadline)):
        raise InputError(f"equivalent: deadline must be a time.monotonic() value or None, got {deadline!r}")
    if sorted(s1.shape) != sorted(s2.shape):
        return EquivalenceResult("inequivalent", f"different shapes {s1.label()} vs {s2.label()} "
                                 "(not permutations of each other)")
    if s1.rank != s2.rank:
        return EquivalenceResult("inequivalent", f"different ranks {s1.rank} vs {s2.rank}")
    if s1.rank == 0:
        raise InputError("equivalent: schemes without products multiply nothing: there is no equivalence "
                         "to decide")
    if (s1.ring == "Z2") != (s2.ring == "Z2"):
        return EquivalenceResult("inequivalent", f"different rings {s1.ring} vs {s2.ring} "
                                 "(one is valid modulo 2 only)")
    if _has_dead_product(s1) or _has_dead_product(s2):
        if same_coefficients(s1, s2):
            return EquivalenceResult("equivalent", "identical coefficients")
        return EquivalenceResult("unknown", "a product with an all-zero factor (it contributes "
                                 "nothing) is outside what the search handles: drop it first")
    i1, i2 = invariants(s1), invariants(s2)
    for name in ("factor_ranks", "signatures", "spans"):
        if i1[name] != i2[name]:
            return EquivalenceResult("inequivalent", f"invariant {name!r} differs")
    mod = _field_of(s1)
    same_terms = _identity_transform(s1, s2, mod)
    if same_terms is not None:  # the identity before any stabiliser the search might meet first
        return EquivalenceResult("equivalent", f"explicit transform over {_field_name(s1)} found: the "
                                 "same products up to order and scaling (identity P, Q, R), checked by "
                                 "applying it", same_terms)
    moves = [mv for mv in MOVES if _move_shape(s1.shape, mv) == s2.shape]
    undecided = gave_up = False
    nodes = 0
    for mv in moves:
        if deadline is not None and time.monotonic() > deadline:
            gave_up = True
            break
        moved = _apply_moves(s1, mv)
        search = _Search(moved, s2, mod, max_nodes, deadline)
        found = search.run()
        nodes += search.nodes
        if found is not None:
            P, Q, R, perm, scales = found
            tr = Transform(mv, P, Q, R, perm, scales, "GF2" if mod else "Q")
            if same_coefficients(tr.apply(s1), s2):
                return EquivalenceResult(
                    "equivalent", f"explicit transform over {_field_name(s1)} found "
                    f"({nodes} search nodes) and checked by applying it", tr)
            raise AssertionError("equivalence search produced a transform that does not map s1 to s2")
        undecided |= search.undecided
        gave_up |= search.gave_up
    theorem = (sorted(s1.shape) == [2, 2, 2] and s1.rank == 7 and s1.ring != "Z2"
               and _valid(s1) and _valid(s2))
    if theorem:
        return EquivalenceResult("equivalent", STRASSEN_THEOREM + "; no explicit transform found")
    if gave_up and deadline is not None and time.monotonic() > deadline:
        return EquivalenceResult("unknown", "search stopped at its deadline")
    if gave_up:
        return EquivalenceResult("unknown", f"search stopped after {max_nodes} nodes per shape move")
    if undecided:
        return EquivalenceResult("unknown", "some term matchings left P, Q, R underdetermined "
                                 "(too few low-rank factors to pin them down)")
    return EquivalenceResult("inequivalent", f"exhaustive search over {len(moves)} shape move(s) and "
                             f"all term matchings ({nodes} nodes): no (P, Q, R) exists")


def dedupe(schemes: list[Scheme], *, max_nodes: int = 200_000) -> list[Scheme]:
    """Keep one representative per equivalence class, in input order.

    Pairs whose equivalence is "unknown" are kept as distinct, so the result may still hold
    equivalent schemes when the search could not decide; it never merges inequivalent ones.
    """
    if not isinstance(schemes, (list, tuple)):
        raise InputError(f"dedupe() takes a list of fastmm Schemes, not {type(schemes).__name__}")
    for s in schemes:
        scheme_arg(s, "dedupe")
    reps: list[tuple[Scheme, dict]] = []
    for s in schemes:
        inv = invariants(s)
        same = [r for r, ri in reps if ri == inv]
        if any(equivalent(r, s, max_nodes=max_nodes).status == "equivalent" for r in same):
            continue
        reps.append((s, inv))
    return [r for r, _ in reps]
