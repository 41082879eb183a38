"""Move a numerical scheme along its GL_n × GL_m × GL_p orbit to a frame of its own directions.

A fitted point of the numerical search is one point of a continuous orbit: for invertible
X, Y, Z, the terms U_t → X U_t Yᵀ, V_t → Y⁻ᵀ V_t Zᵀ, W_t → X⁻ᵀ W_t Z⁻¹ (U_t, V_t, W_t read as
n×m, m×p, n×p matrices) give another scheme of the same rank. A ternary scheme's orbit holds
points whose every coefficient is a generic real number, so rounding entry by entry rarely
finds the ternary point even when the fit is exact. Rank-one terms carry the way back: in a
ternary scheme their row and column vectors are small integer vectors (e₁, e₁ − e₂, …), and
their directions are invariant up to the change of basis. So, per space (ℝⁿ, ℝᵐ, ℝᵖ), we
choose a projective frame — n of the observed directions sent to e₁…eₙ and one more sent to a
±1 vector — and keep the frames that make the most observed directions ternary; each
combination of the three spaces' best frames is applied, the terms are rescaled to
max|U_t| = max|V_t| = 1, and the caller rounds and verifies the result.

Measured on ⟨2,3,3;15⟩ (results/numerical_search.md, 20 × 64 ALS restarts each run to its end):
142 restarts became verified ZT schemes with this stage, 40 without it. Most of the other fits
frame to exact schemes over Q with halves and twos that `balance` (diagonal scalings) cannot
make ternary; some have a direction set whose projective invariants (e.g. the cross-ratio of
4 directions in ℝ²) no ternary frame matches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

RANK_TOL = 1e-7  # σ₂/σ₁ below this: the term's matrix has rank one
TERNARY_TOL = 1e-6


def rank_one(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(left, right) with mat = left·rightᵀ if mat has rank one (numerically), else None."""
    u, s, vt = np.linalg.svd(mat)
    if s[0] < 1e-12 or (len(s) > 1 and s[1] > RANK_TOL * s[0]):
        return None
    return u[:, 0] * s[0], vt[0]


def distinct_directions(vectors: list[np.ndarray]) -> list[np.ndarray]:
    """Unit vectors, one per direction (sign fixed by the first non-zero entry)."""
    out: list[np.ndarray] = []
    for v in vectors:
        v = v / np.linalg.norm(v)
        v = v * np.sign(v[int(np.argmax(np.abs(v) > 1e-9))])
        if not any(np.linalg.norm(v - o) < 1e-6 for o in out):
            out.append(v)
    return out


def is_ternary_direction(x: np.ndarray) -> bool:
    top = np.abs(x).max()
    if top < 1e-12:
        return False
    y = x / top
    return bool(np.all(np.abs(y - np.round(y)) < TERNARY_TOL))


def _frames(primal: list[np.ndarray], dual: list[np.ndarray], dim: int,
            limit: int) -> Iterator[np.ndarray]:
    """Changes of basis M (primal vectors map by M, dual ones by M⁻ᵀ): dim directions to the
    unit vectors, one more (in general position) to a ±1 vector; from either set."""
    for vecs, is_dual in ((primal, False), (dual, True)):
        made = 0
        for basis in itertools.combinations(range(len(vecs)), dim):
            bm = np.stack([vecs[i] for i in basis], axis=1)
            if abs(np.linalg.det(bm)) < 1e-6:
                continue
            inv = np.linalg.inv(bm)
            for j in [j for j in range(len(vecs)) if j not in basis] or [None]:
                scale = np.ones(dim)
                if j is not None:
                    g = inv @ vecs[j]
                    if np.any(np.abs(g) < 1e-9):
                        continue
                    scale = 1 / np.abs(g)
                m = scale[:, None] * inv
                yield np.linalg.inv(m).T if is_dual else m
                made += 1
                if made >= limit:
                    break
            if made >= limit:
                break


def _score(m: np.ndarray, primal: list[np.ndarray], dual: list[np.ndarray]) -> int:
    mit = np.linalg.inv(m).T
    return sum(is_ternary_direction(m @ v) for v in primal) + sum(is_ternary_direction(mit @ v)
                                                                   for v in dual)


def _monomial_equivalent(a: np.ndarray, b: np.ndarray) -> bool:
    """a = Q·b with Q a signed permutation: the two frames give the same rounding."""
    q = a @ np.linalg.inv(b)
    r = np.round(q)
    return bool(np.allclose(q, r, atol=1e-6) and np.all(np.abs(r).sum(0) == 1)
                and np.all(np.abs(r).sum(1) == 1))


def best_frames(primal: list[np.ndarray], dual: list[np.ndarray], dim: int, keep: int = 6,
                limit: int = 2000) -> list[np.ndarray]:
    """Up to `keep` inequivalent frames, those making the most directions ternary first."""
    scored = [(_score(np.eye(dim), primal, dual), 0, np.eye(dim))]
    for i, m in enumerate(_frames(primal, dual, dim, limit), start=1):
        scored.append((_score(m, primal, dual), i, m))
    scored.sort(key=lambda s: (-s[0], s[1]))
    out: list[np.ndarray] = []
    for score, _, m in scored:
        if score < scored[0][0] - 2 or len(out) >= keep:
            break
        if not any(_monomial_equivalent(m, o) for o in out):
            out.append(m)
    return out


def framed_points(u: np.ndarray, v: np.ndarray, w: np.ndarray, shape: tuple[int, int, int],
                  keep: int = 6) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The point (U r×nm, V r×mp, W r×np) moved to each combination of the spaces' best frames,
    terms rescaled to max|U_t| = max|V_t| = 1. Same tensor; the caller rounds and verifies."""
    n, m, p = shape
    r = u.shape[0]
    big_u, big_v, big_w = u.reshape(r, n, m), v.reshape(r, m, p), w.reshape(r, n, p)
    ones_u = [x for x in (rank_one(big_u[t]) for t in range(r)) if x]
    ones_v = [x for x in (rank_one(big_v[t]) for t in range(r)) if x]
    ones_w = [x for x in (rank_one(big_w[t]) for t in range(r)) if x]
    # primal / dual vectors of each space: U's left and W's left live in ℝⁿ, and so on
    spaces = [([a for a, _ in ones_u], [c for c, _ in ones_w], n),
              ([b for _, b in ones_u], [e for e, _ in ones_v], m),
              ([f for _, f in ones_v], [d for _, d in ones_w], p)]
    frames = [best_frames(distinct_directions(pr), distinct_directions(du), dim, keep)
              for pr, du, dim in spaces]
    for mx, my, mz in itertools.product(*frames):
        mxit, myit, mzit = (np.linalg.inv(x).T for x in (mx, my, mz))
        nu = np.einsum("ai,tij,bj->tab", mx, big_u, my)
        nv = np.einsum("ai,tij,bj->tab", myit, big_v, mz)
        nw = np.einsum("ai,tij,bj->tab", mxit, big_w, mzit)
        su = np.abs(nu).reshape(r, -1).max(1)
        sv = np.abs(nv).reshape(r, -1).max(1)
        su = np.where(su > 1e-12, su, 1.0)
        sv = np.where(sv > 1e-12, sv, 1.0)
        yield ((nu / su[:, None, None]).reshape(r, -1), (nv / sv[:, None, None]).reshape(r, -1),
               (nw * (su * sv)[:, None, None]).reshape(r, -1))


def scaling_rows(u: np.ndarray, v: np.ndarray, w: np.ndarray, shape: tuple[int, int, int]
                 ) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """How diagonal changes of basis and term scales move each non-zero coefficient's log.

    With X, Y, Z diagonal and per-term scales, log|coefficient| moves by a sum of unknowns
    (a_i + b_j + α_t for U_t[i,j], −b_j + c_k + β_t for V_t[j,k], −a_i − c_k − α_t − β_t for
    W_t[i,k]; columns a (n), b (m), c (p), α (r), β (r)). Returns one row per non-zero
    coefficient and where it is: (factor 0/1/2, term, flat index). Works on floats and Fractions.
    """
    n, m, p = shape
    r = u.shape[0]
    alpha, beta = n + m + p, n + m + p + r
    rows, where = [], []
    moves = (lambda t, f: [(f // m, 1), (n + f % m, 1), (alpha + t, 1)],
             lambda t, f: [(n + f // p, -1), (n + m + f % p, 1), (beta + t, 1)],
             lambda t, f: [(f // p, -1), (n + m + f % p, -1), (alpha + t, -1), (beta + t, -1)])
    for k, (entries, move) in enumerate(zip((u, v, w), moves, strict=True)):
        nonzero = np.abs(np.asarray(entries, dtype=np.float64)) > 1e-12
        for t, flat in zip(*np.nonzero(nonzero), strict=True):
            row = np.zeros(beta + r)
            for col, sign in move(int(t), int(flat)):
                row[col] += sign
            rows.append(row)
            where.append((k, int(t), int(flat)))
    return np.array(rows).reshape(len(rows), beta + r), where


def apply_scales(u: np.ndarray, v: np.ndarray, w: np.ndarray, shape: tuple[int, int, int],
                 scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The factors moved by the multiplicative scales of scaling_rows' columns (same tensor)."""
    n, m, p = shape
    r = u.shape[0]
    sx, sy, sz = scales[:n], scales[n:n + m], scales[n + m:n + m + p]
    alpha, beta = scales[n + m + p:n + m + p + r], scales[n + m + p + r:]
    nu = u.reshape(r, n, m) * sx[None, :, None] * sy[None, None, :] * alpha[:, None, None]
    nv = v.reshape(r, m, p) / sy[None, :, None] * sz[None, None, :] * beta[:, None, None]
    nw = w.reshape(r, n, p) / sx[None, :, None] / sz[None, None, :] / (alpha * beta)[:, None, None]
    return nu.reshape(r, -1), nv.reshape(r, -1), nw.reshape(r, -1)


def balance(u: np.ndarray, v: np.ndarray, w: np.ndarray, shape: tuple[int, int, int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Diagonal changes of basis and term scales that make every non-zero coefficient ±1.

    An exact scheme with coefficients such as 2 and 1/2 is often a ternary scheme seen in a
    scaled basis: one linear least-squares solve on log₂|coefficient| (scaling_rows) says
    whether all can reach 0. Returns the balanced (float) factors, or None.
    """
    a_mat, where = scaling_rows(u, v, w, shape)
    if not where:
        return None
    factors = (u, v, w)
    b_vec = np.array([-np.log2(abs(factors[k][t, f])) for k, t, f in where])
    sol, *_ = np.linalg.lstsq(a_mat, b_vec, rcond=None)
    if np.abs(a_mat @ sol - b_vec).max() > 1e-9:
        return None
    return apply_scales(u, v, w, shape, 2.0 ** sol)


def on_integers(factors, tol: float = 1e-9) -> list[np.ndarray] | None:
    """The float factors rounded to integers when every coefficient is within `tol` of one, else None."""
    ints = [np.round(x) for x in factors]
    if max(np.abs(x - i).max() for x, i in zip(factors, ints, strict=True)) > tol:
        return None
    return ints
