"""The C3 × Z2 symmetric flip-graph walk over GF(2) for ⟨n,n,n⟩ (Moosbauer & Poole 2025's
six-fold symmetry, with which they found ⟨6,6,6;153⟩), as numba kernels.

Layout as in symmetric_kernels.py (third factor stored transposed, so the tensor is invariant
under the rotation (x, y, z) -> (z, x, y)). The extra symmetry is J·X·J on every factor (J the
exchange matrix): on a row-major n×n bit mask it reverses the bits, and it commutes with the
rotation. Orbit o owns the six slots 6o..6o+5: slot 6o+q holds rot^q(rep) and slot 6o+3+q
holds rot^q(J(rep)). Fixed terms are cubes x⊗x⊗x, frozen (`ncubes` outside these arrays, the
start's, which must be J-invariant as a set) or made by the walk (`st[1]` in E). Rank =
cubes + 6k.

A step flips a term with a term of another orbit that shares a factor, then rebuilds both
orbits: the same flip on all six image pairs. Reductions: an orbit with a zero factor goes
(−6); so does an orbit whose representative is J-invariant (its six slots are three terms
twice, zero modulo 2); an orbit whose representative is a cube x⊗x⊗x is the cubes x and Jx
(−4; −6 when x = Jx); two orbits with terms sharing two factors merge (−6). After `plateau`
flips without a change of rank, a plus transition turns two terms of different orbits into
three (rank +6) while rank + 6 <= plus_limit.

Every function also runs as plain Python through `.py_func` (no numba installed).
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - the plain-Python path
    def njit(*args, **kwargs):
        if args and callable(args[0]):
            fn = args[0]
            fn.py_func = fn
            return fn

        def wrap(fn):
            fn.py_func = fn
            return fn
        return wrap

from fastmm.search.flip_kernels import rand_below
from fastmm.search.symmetric_kernels import _add_cube  # walk-made cubes: the same in both walks

# st: [orbits k, walk-made cubes, flips since the rank last changed, lowest rank seen, n*n]


@njit(cache=True)
def rev(x, bits):
    """J·x·J of a row-major bit matrix with `bits` entries: the bits reversed."""
    out = np.int64(0)
    for b in range(bits):
        if (x >> b) & 1:
            out |= np.int64(1) << (bits - 1 - b)
    return out


@njit(cache=True)
def set_orbit(F, t, bits):
    """Rebuild the six slots of term t's orbit from term t."""
    o = t // 6
    s = t % 6
    q0 = s % 3
    r0 = F[q0 % 3, t]
    r1 = F[(1 + q0) % 3, t]
    r2 = F[(2 + q0) % 3, t]
    if s >= 3:  # slot t holds a rotation of J(rep)
        r0 = rev(r0, bits)
        r1 = rev(r1, bits)
        r2 = rev(r2, bits)
    j0 = rev(r0, bits)
    j1 = rev(r1, bits)
    j2 = rev(r2, bits)
    for q in range(3):  # slot 6o+q holds rep rotated q times: factor pos = rep[(pos - q) % 3]
        u = 6 * o + q
        for pos in range(3):
            w = (pos - q + 3) % 3
            F[pos, u] = r0 if w == 0 else (r1 if w == 1 else r2)
            F[pos, u + 3] = j0 if w == 0 else (j1 if w == 1 else j2)


@njit(cache=True)
def _remove_orbit(F, k, o, work, nw):
    """Delete orbit o by moving the last orbit into its slots; fix orbit numbers in `work`."""
    k -= 1
    for q in range(6):
        for pos in range(3):
            F[pos, 6 * o + q] = F[pos, 6 * k + q]
            F[pos, 6 * k + q] = 0
    for w in range(nw):
        if work[w] == k:
            work[w] = o
        elif work[w] == o:
            work[w] = -1
    return k


@njit(cache=True)
def _settle(F, E, st, work, nw):
    """Apply reductions to the orbits listed in work[:nw] (and to what they merge with)."""
    k = st[0]
    bits = st[4]
    while nw > 0:
        nw -= 1
        o = work[nw]
        if o < 0 or o >= k:
            continue
        t = 6 * o
        if F[0, t] == 0 or F[1, t] == 0 or F[2, t] == 0:
            k = _remove_orbit(F, k, o, work, nw)
            continue
        if F[0, t] == F[0, t + 3] and F[1, t] == F[1, t + 3] and F[2, t] == F[2, t + 3]:
            k = _remove_orbit(F, k, o, work, nw)  # J-invariant: every term twice
            continue
        if F[0, t] == F[1, t] and F[1, t] == F[2, t]:
            _add_cube(E, st, F[0, t])
            _add_cube(E, st, F[0, t + 3])  # J(x); x = J(x) cancels the first
            k = _remove_orbit(F, k, o, work, nw)
            continue
        merged = False
        for u in range(6 * k):
            if u // 6 == o:
                continue
            for p in range(3):
                q = (p + 1) % 3
                s = (p + 2) % 3
                if F[p, t] == F[p, u] and F[q, t] == F[q, u]:
                    F[s, t] ^= F[s, u]
                    set_orbit(F, t, bits)
                    work[nw] = o
                    nw += 1
                    k = _remove_orbit(F, k, u // 6, work, nw)
                    merged = True
                    break
            if merged:
                break
    st[0] = k
    return k


@njit(cache=True)
def _step(F, E, st, rng, work):
    """One flip (or an idle step); returns the number of orbits afterwards."""
    k = st[0]
    nt = 6 * k
    bits = st[4]
    if k < 2:
        return k
    cnt = 0
    for _ in range(256):
        i = rand_below(rng, nt)
        p = rand_below(rng, 3)
        f = F[p, i]
        oi = i // 6
        cnt = 0
        for j in range(nt):
            cnt += np.int64(F[p, j] == f)
        for q in range(6):
            cnt -= np.int64(F[p, 6 * oi + q] == f)
        if cnt > 0:
            break
    if cnt == 0:
        return k
    pick = rand_below(rng, cnt)
    j = -1
    for u in range(nt):
        if F[p, u] == f and u // 6 != oi:
            if pick == 0:
                j = u
                break
            pick -= 1
    q = (p + 1 + rand_below(rng, 2)) % 3
    s = 3 - p - q
    F[q, i] ^= F[q, j]
    F[s, j] ^= F[s, i]
    set_orbit(F, i, bits)
    set_orbit(F, j, bits)
    work[0] = oi
    work[1] = j // 6
    return _settle(F, E, st, work, 2)


@njit(cache=True)
def _plus(F, E, st, rng, work):
    """Plus transition (rank + 6): two terms of different orbits become three,
    x_i⊗y_i⊗z_i + x_j⊗y_j⊗z_j = (x_i+x_j)⊗y_i⊗z_i + x_j⊗(y_i+y_j)⊗z_i + x_j⊗y_j⊗(z_i+z_j)."""
    k = st[0]
    bits = st[4]
    if k < 2:
        return k
    nt = 6 * k
    i = rand_below(rng, nt)
    j = rand_below(rng, nt)
    if i // 6 == j // 6:
        return k
    p = rand_below(rng, 3)
    q = (p + 1) % 3
    s = (p + 2) % 3
    if F[p, i] == F[p, j] or F[q, i] == F[q, j] or F[s, i] == F[s, j]:
        return k
    new = 6 * k + i % 6
    F[p, new] = F[p, j]
    F[q, new] = F[q, i] ^ F[q, j]
    F[s, new] = F[s, i]
    F[p, i] ^= F[p, j]
    F[s, j] ^= F[s, i]
    k += 1
    st[0] = k
    set_orbit(F, i, bits)
    set_orbit(F, j, bits)
    set_orbit(F, new, bits)
    work[0] = i // 6
    work[1] = j // 6
    work[2] = new // 6
    return _settle(F, E, st, work, 3)


@njit(cache=True)
def walk(F, E, st, rng, steps, target, plateau, plus_limit, ncubes):
    """Walk up to `steps` steps; stop early once the rank is <= target. Returns steps taken."""
    work = np.zeros(8, dtype=np.int64)
    for step in range(steps):
        rank = ncubes + st[1] + 6 * st[0]
        if rank <= target:
            return step
        _step(F, E, st, rng, work)
        after = ncubes + st[1] + 6 * st[0]
        if after < st[3]:
            st[3] = after
        if after != rank:
            st[2] = 0
        else:
            st[2] += 1
        rank = after
        if st[2] > plateau and rank + 6 <= plus_limit and 6 * (st[0] + 1) <= F.shape[1]:
            _plus(F, E, st, rng, work)
            st[2] = 0
    return steps
