"""The transpose-symmetric flip-graph walk over GF(2) for ⟨n,m,n⟩ (`--symmetry t2`), as numba kernels.

C = AB gives Cᵀ = BᵀAᵀ: the tensor Σ E_ij⊗E_jk⊗E_ik of ⟨n,m,n⟩ is invariant under the involution
σ(x, y, z) = (yᵀ, xᵀ, zᵀ) (x n×m, y m×n, z n×n, all row-major bit masks as in the scheme layout).
A σ-symmetric scheme is made of fixed terms x⊗xᵀ⊗z with z = zᵀ and orbits of two terms {t, σt}.
This is the C3-symmetric walk of symmetric_kernels.py (Moosbauer & Poole 2025) for this group:
orbits of two, with fixed terms that the walk may change.

Layout. Orbit o owns the slots 2o (its representative) and 2o+1 (σ of it) of F (F[pos, t] is
factor `pos` of term t). Fixed term e is (X[e], X[e]ᵀ, Z[e]), st[1] of them. Rank = fixed + 2·k.

Steps. A step draws a term. An orbit term i, a factor position p and one partner that shares
that factor: a term j of another orbit (the flip of the ordinary flip graph on i and j, applied to
σi and σj at once by rebuilding both orbits); for p = 0 a fixed term with X = x_i, and then
x⊗y⊗z + σ(x⊗y⊗z) + x⊗xᵀ⊗Z = x⊗(y+xᵀ)⊗z + σ(...) + x⊗xᵀ⊗(Z+z+zᵀ) over GF(2); for p = 2 with
z = zᵀ a fixed term with Z = z, and then the pair and the fixed term become three fixed terms,
a⊗β + β⊗a + x⊗x = (a+x)⊗(a+x) + (β+x)⊗(β+x) + (a+β+x)⊗(a+β+x) (β = yᵀ, written in one space).
A fixed term with two others of the same Z: the reverse, three fixed terms become a pair and one.
These keep the rank unless a term vanishes or two meet.

Reductions: an orbit with a zero factor, or equal to its σ-image, is deleted (−2); an orbit with
x = yᵀ is x⊗xᵀ⊗z + x⊗xᵀ⊗zᵀ, the fixed term x⊗xᵀ⊗(z+zᵀ) (−1); an orbit with z = zᵀ and a fixed
term of that z whose x is a, β or a+β is two fixed terms (−1: the three-fixed move with one of
the three zero); a fixed term made with the x of
another adds its Z to it (−1, −2 when the Zs cancel); two orbits with terms that share two
factors merge (−2). After `plateau` flips without a change of rank, one of three moves while
rank + 2 <= plus_limit: a plus transition (two terms of different orbits become three, +2), two
fixed terms of the same Z become a fixed term and a pair (+1), or a fixed term x⊗xᵀ⊗Z splits
into x⊗xᵀ⊗Z' + x⊗xᵀ⊗(Z+Z'), Z' another fixed term's Z (+1; the only move that changes the
diagonals of the Zs, which Strassen's scheme needs: without it walks of ⟨2,2,2⟩ stayed at 8).
Two fixed terms may then share x until a step merges them; the walk's rank counts them apart,
and T2Walker (transpose_symmetric.py) adds them up before it reports a rank or writes terms.
Every function also runs as plain Python through `.py_func` (no numba installed).
"""

from __future__ import annotations

import numpy as np

from fastmm.search.flip_kernels import rand_below
from fastmm.search.symmetric_kernels import njit

# st: [orbits k, fixed terms, flips since the rank last changed, lowest rank seen, unused]
# dims: [n, m]


@njit(cache=True)
def transpose(x, rows, cols):
    """The transpose of a rows×cols row-major bit matrix (a cols×rows one)."""
    out = np.int64(0)
    for r in range(rows):
        for c in range(cols):
            if (x >> (r * cols + c)) & 1:
                out |= np.int64(1) << (c * rows + r)
    return out


@njit(cache=True)
def set_orbit(F, t, n, m):
    """Rebuild both slots of term t's orbit from term t (slot 2o the term, 2o+1 its σ-image)."""
    o = t // 2
    x = F[0, t]
    y = F[1, t]
    z = F[2, t]
    other = 2 * o + 1 - (t % 2)
    F[0, other] = transpose(y, m, n)
    F[1, other] = transpose(x, n, m)
    F[2, other] = transpose(z, n, n)


@njit(cache=True)
def _remove_orbit(F, k, o, work, nw):
    """Delete orbit o by moving the last orbit into its slots; fix orbit numbers in `work`."""
    k -= 1
    for q in range(2):
        for pos in range(3):
            F[pos, 2 * o + q] = F[pos, 2 * k + q]
            F[pos, 2 * k + q] = 0
    for w in range(nw):
        if work[w] == k:
            work[w] = o
        elif work[w] == o:
            work[w] = -1
    return k


@njit(cache=True)
def _drop_fixed(X, Z, st, e):
    """Delete fixed term e by moving the last one into its place."""
    st[1] -= 1
    X[e] = X[st[1]]
    Z[e] = Z[st[1]]


@njit(cache=True)
def add_fixed(X, Z, st, x, z):
    """The fixed term x⊗xᵀ⊗z added: merged with the one of the same x (and dropped if the Zs cancel)."""
    if z == 0 or x == 0:
        return
    for e in range(st[1]):
        if X[e] == x:
            Z[e] ^= z
            if Z[e] == 0:
                _drop_fixed(X, Z, st, e)
            return
    X[st[1]] = x
    Z[st[1]] = z
    st[1] += 1


@njit(cache=True)
def _triple_from_orbit(F, X, Z, st, o, e, work, nw):
    """An orbit (a, βᵀ, z) with z = zᵀ and the fixed x⊗xᵀ⊗z become three fixed terms:
    a⊗β + β⊗a + x⊗x = (a+x)⊗(a+x) + (β+x)⊗(β+x) + (a+β+x)⊗(a+β+x) over GF(2) (rank kept; less
    when one of them is zero or two meet)."""
    a = F[0, 2 * o]
    b = F[0, 2 * o + 1]
    z = F[2, 2 * o]
    x = X[e]
    _drop_fixed(X, Z, st, e)
    k = _remove_orbit(F, st[0], o, work, nw)
    st[0] = k
    add_fixed(X, Z, st, a ^ x, z)
    add_fixed(X, Z, st, b ^ x, z)
    add_fixed(X, Z, st, a ^ b ^ x, z)
    return k


@njit(cache=True)
def _settle(F, X, Z, st, work, nw, n, m):
    """Apply reductions to the orbits listed in work[:nw] (and to what they merge with)."""
    k = st[0]
    while nw > 0:
        nw -= 1
        o = work[nw]
        if o < 0 or o >= k:
            continue
        t = 2 * o
        if F[0, t] == 0 or F[1, t] == 0 or F[2, t] == 0:
            k = _remove_orbit(F, k, o, work, nw)
            continue
        if F[0, t] == F[0, t + 1] and F[1, t] == F[1, t + 1] and F[2, t] == F[2, t + 1]:
            k = _remove_orbit(F, k, o, work, nw)  # σ-invariant: one term twice, zero modulo 2
            continue
        if F[0, t] == F[0, t + 1]:  # x = yᵀ: the pair is x⊗xᵀ⊗(z + zᵀ)
            add_fixed(X, Z, st, F[0, t], F[2, t] ^ F[2, t + 1])
            k = _remove_orbit(F, k, o, work, nw)
            continue
        if F[2, t] == F[2, t + 1]:  # z = zᵀ: with a fixed x⊗xᵀ⊗z where x is x_t, y_tᵀ or their
            a = F[0, t]  # sum, the three are two (_triple_from_orbit with one term zero)
            w = F[0, t + 1]
            hit = -1
            for e in range(st[1]):
                if Z[e] == F[2, t] and (X[e] == a or X[e] == w or X[e] == a ^ w):
                    hit = e
                    break
            if hit >= 0:
                st[0] = k
                k = _triple_from_orbit(F, X, Z, st, o, hit, work, nw)
                continue
        merged = False
        for u in range(2 * k):
            if u == t or u == t + 1:
                continue
            for p in range(3):
                q = (p + 1) % 3
                s = (p + 2) % 3
                if F[p, t] == F[p, u] and F[q, t] == F[q, u]:
                    F[s, t] ^= F[s, u]
                    set_orbit(F, t, n, m)
                    work[nw] = o
                    nw += 1
                    k = _remove_orbit(F, k, u // 2, work, nw)
                    merged = True
                    break
            if merged:
                break
    st[0] = k
    return k


@njit(cache=True)
def _triple_to_orbit(F, X, Z, st, rng, e1, others, work, n, m):
    """Fixed terms y1, y2, y3 with the same z become the orbit (y2+y3, (y1+y3)ᵀ, z) and the fixed
    term y1+y2+y3 (the reverse of _triple_from_orbit; a reduction when y1+y2+y3 = 0)."""
    nf = st[1]
    z = Z[e1]
    a = rand_below(rng, others)
    b = rand_below(rng, others - 1)
    if b >= a:
        b += 1
    e2 = -1
    e3 = -1
    c = 0
    for e in range(nf):
        if e != e1 and Z[e] == z:
            if c == a:
                e2 = e
            if c == b:
                e3 = e
            c += 1
    y1 = X[e1]
    y2 = X[e2]
    y3 = X[e3]
    hi = max(e1, max(e2, e3))
    lo = min(e1, min(e2, e3))
    mid = e1 + e2 + e3 - hi - lo
    _drop_fixed(X, Z, st, hi)
    _drop_fixed(X, Z, st, mid)
    _drop_fixed(X, Z, st, lo)
    k = st[0]
    F[0, 2 * k] = y2 ^ y3
    F[1, 2 * k] = transpose(y1 ^ y3, n, m)
    F[2, 2 * k] = z
    set_orbit(F, 2 * k, n, m)
    st[0] = k + 1
    add_fixed(X, Z, st, y1 ^ y2 ^ y3, z)
    work[0] = k
    return _settle(F, X, Z, st, work, 1, n, m)


@njit(cache=True)
def _step(F, X, Z, st, rng, work, n, m):
    """One flip (or an idle step when no term shares a factor); returns the number of orbits."""
    k = st[0]
    nt = 2 * k
    nf = st[1]
    if k < 1:
        return k
    cnt = 0
    fixed = 0
    shared = 0
    i = 0
    p = 0
    f = np.int64(0)
    oi = 0
    for _ in range(256):
        i = rand_below(rng, nt + nf)
        if i >= nt:  # a fixed term: three with the same z become an orbit and a fixed term
            e1 = i - nt
            same = 0
            for e in range(nf):
                same += np.int64(Z[e] == Z[e1])
            if same >= 3:
                return _triple_to_orbit(F, X, Z, st, rng, e1, same - 1, work, n, m)
            continue
        p = rand_below(rng, 3)
        f = F[p, i]
        oi = i // 2
        cnt = 0
        for j in range(nt):
            cnt += np.int64(F[p, j] == f)
        cnt -= np.int64(F[p, 2 * oi] == f) + np.int64(F[p, 2 * oi + 1] == f)
        fixed = 0
        shared = 0
        if p == 0:
            for e in range(nf):
                fixed += np.int64(X[e] == f)
        elif p == 2 and F[2, 2 * oi] == F[2, 2 * oi + 1]:
            for e in range(nf):
                shared += np.int64(Z[e] == f)
        if cnt + fixed + shared > 0:
            break
    if cnt + fixed + shared == 0:
        return k
    pick = rand_below(rng, cnt + fixed + shared)
    if pick >= cnt + fixed:  # with a fixed term of the same symmetric z: three fixed terms
        pick -= cnt + fixed
        for e in range(nf):
            if Z[e] == f:
                if pick == 0:
                    k = _triple_from_orbit(F, X, Z, st, oi, e, work, 0)
                    return k
                pick -= 1
    if pick >= cnt:  # with the fixed term of X = x_i
        for e in range(nf):
            if X[e] == f:
                F[1, i] ^= transpose(f, n, m)
                z = F[2, i]
                set_orbit(F, i, n, m)
                Z[e] ^= z ^ transpose(z, n, n)
                if Z[e] == 0:
                    _drop_fixed(X, Z, st, e)
                break
        work[0] = oi
        return _settle(F, X, Z, st, work, 1, n, m)
    j = -1
    for u in range(nt):
        if F[p, u] == f and u // 2 != oi:
            if pick == 0:
                j = u
                break
            pick -= 1
    q = (p + 1 + rand_below(rng, 2)) % 3
    s = 3 - p - q
    F[q, i] ^= F[q, j]
    F[s, j] ^= F[s, i]
    set_orbit(F, i, n, m)
    set_orbit(F, j, n, m)
    work[0] = oi
    work[1] = j // 2
    return _settle(F, X, Z, st, work, 2, n, m)


@njit(cache=True)
def _plus(F, X, Z, st, rng, work, n, m):
    """Plus transition (rank + 2): two terms of different orbits become three,
    x_i⊗y_i⊗z_i + x_j⊗y_j⊗z_j = (x_i+x_j)⊗y_i⊗z_i + x_j⊗(y_i+y_j)⊗z_i + x_j⊗y_j⊗(z_i+z_j)."""
    k = st[0]
    if k < 2:
        return k
    nt = 2 * k
    i = rand_below(rng, nt)
    j = rand_below(rng, nt)
    if i // 2 == j // 2:
        return k
    p = rand_below(rng, 3)
    q = (p + 1) % 3
    s = (p + 2) % 3
    if F[p, i] == F[p, j] or F[q, i] == F[q, j] or F[s, i] == F[s, j]:
        return k
    new = 2 * k + i % 2
    F[p, new] = F[p, j]
    F[q, new] = F[q, i] ^ F[q, j]
    F[s, new] = F[s, i]
    F[p, i] ^= F[p, j]
    F[s, j] ^= F[s, i]
    k += 1
    st[0] = k
    set_orbit(F, i, n, m)
    set_orbit(F, j, n, m)
    set_orbit(F, new, n, m)
    work[0] = i // 2
    work[1] = j // 2
    work[2] = new // 2
    return _settle(F, X, Z, st, work, 3, n, m)


@njit(cache=True)
def _split(F, X, Z, st, rng, work, n, m):
    """Two fixed terms with the same z become a fixed term and an orbit (rank + 1):
    x1⊗x1ᵀ⊗z + x2⊗x2ᵀ⊗z = (x1+x2)⊗(x1+x2)ᵀ⊗z + x1⊗x2ᵀ⊗z + x2⊗x1ᵀ⊗z over GF(2)."""
    nf = st[1]
    if nf < 2:
        return st[0]
    e1 = rand_below(rng, nf)
    e2 = rand_below(rng, nf)
    if e1 == e2 or Z[e1] != Z[e2]:
        return st[0]
    k = st[0]
    x1 = X[e1]
    x2 = X[e2]
    if x1 == x2:  # two terms of one x (after a z-split): x1 + x2 = 0 is no fixed term
        return k
    z = Z[e1]
    F[0, 2 * k] = x1
    F[1, 2 * k] = transpose(x2, n, m)
    F[2, 2 * k] = z
    set_orbit(F, 2 * k, n, m)
    st[0] = k + 1
    X[e1] = x1 ^ x2
    _drop_fixed(X, Z, st, e2)
    work[0] = k
    return _settle(F, X, Z, st, work, 1, n, m)


@njit(cache=True)
def _zsplit(X, Z, st, rng):
    """A fixed term x⊗xᵀ⊗z1 becomes x⊗xᵀ⊗z2 + x⊗xᵀ⊗(z1+z2), z2 another fixed term's z (rank + 1)."""
    nf = st[1]
    if nf < 2:
        return
    e1 = rand_below(rng, nf)
    e2 = rand_below(rng, nf)
    if Z[e1] == Z[e2]:
        return
    z2 = Z[e2]
    X[nf] = X[e1]
    Z[nf] = z2
    Z[e1] ^= z2
    st[1] = nf + 1


@njit(cache=True)
def walk(F, X, Z, st, rng, steps, target, plateau, plus_limit, n, m):
    """Walk up to `steps` steps; stop early once the rank is <= target. Returns steps taken."""
    work = np.zeros(8, dtype=np.int64)
    for step in range(steps):
        rank = st[1] + 2 * st[0]
        if rank <= target:
            return step
        _step(F, X, Z, st, rng, work, n, m)
        after = st[1] + 2 * st[0]
        if after < st[3]:
            st[3] = after
        if after != rank:
            st[2] = 0
        else:
            st[2] += 1
        rank = after
        if st[2] > plateau and rank + 2 <= plus_limit and 2 * (st[0] + 1) <= F.shape[1]:
            move = rand_below(rng, 3)
            if move == 0:
                _plus(F, X, Z, st, rng, work, n, m)
            elif move == 1:
                _split(F, X, Z, st, rng, work, n, m)
            else:
                _zsplit(X, Z, st, rng)
            st[2] = 0
    return steps
