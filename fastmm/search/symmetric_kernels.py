"""The C3-symmetric flip-graph walk over GF(2) (Moosbauer & Poole 2025), as numba kernels.

Layout. The third factor is stored transposed (bit k*n+i is C[i][k]), so the matrix
multiplication tensor Σ E_ij⊗E_jk⊗E_ki is invariant under the rotation (x, y, z) -> (z, x, y).
A symmetric scheme is a set of fixed cubes x⊗x⊗x (never flipped; `ncubes` of them, outside
these arrays, plus `st[1]` cubes that walks create) and k orbits. Orbit o owns the three term
slots 3o, 3o+1, 3o+2 of F (F[pos, t] is factor `pos` of term t): slot 3o+s holds rot^s of the
orbit's representative. Rank = cubes + 3k.

A step picks a term i and a factor position, finds a term j of *another* orbit with the same
factor there, and flips the pair (x_i += x_j, y_j += y_i over GF(2), the flip of the ordinary
flip graph); the two orbits are then rebuilt from the flipped terms, which applies the same
flip to all three rotated pairs at once. Reductions: an orbit with a zero factor is deleted
(rank −3); two orbits with terms that share two factors merge into one (rank −3); an orbit
whose terms are all x⊗x⊗x is three copies of a cube and becomes one cube (rank −2). After
`plateau` flips without a change of rank, a plus transition turns two terms of different
orbits into three (rank +3; Arai et al.'s transition, applied to whole orbits) while
rank + 3 <= plus_limit. Every step is a flip: draws of a term and position that no other orbit
shares are repeated, not counted (they were ~70% of draws on ⟨5,5,5⟩ and made the plateau and
restart limits 3.5x shorter in flips than intended).

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

# st: [orbits k, extra cubes, flips since the rank last changed, lowest rank seen]


@njit(cache=True)
def set_orbit(F, t):
    """Rebuild the three slots of term t's orbit from term t (slot s = rot^s(rep))."""
    o = t // 3
    s = t % 3
    r0 = F[s % 3, t]
    r1 = F[(1 + s) % 3, t]
    r2 = F[(2 + s) % 3, t]
    for q in range(3):  # slot 3o+q holds rep rotated q times: factor pos = rep[(pos - q) % 3]
        u = 3 * o + q
        for pos in range(3):
            w = (pos - q + 3) % 3
            F[pos, u] = r0 if w == 0 else (r1 if w == 1 else r2)


@njit(cache=True)
def _remove_orbit(F, k, o, work, nw):
    """Delete orbit o by moving the last orbit into its slots; fix orbit numbers in `work`."""
    k -= 1
    for q in range(3):
        for pos in range(3):
            F[pos, 3 * o + q] = F[pos, 3 * k + q]
            F[pos, 3 * k + q] = 0
    for w in range(nw):
        if work[w] == k:
            work[w] = o
        elif work[w] == o:
            work[w] = -1
    return k


@njit(cache=True)
def _add_cube(E, st, x):
    """A walk-made cube x⊗x⊗x; two equal cubes cancel modulo 2."""
    for e in range(st[1]):
        if E[e] == x:
            st[1] -= 1
            E[e] = E[st[1]]
            return
    E[st[1]] = x
    st[1] += 1


@njit(cache=True)
def _settle(F, E, st, work, nw):
    """Apply reductions to the orbits listed in work[:nw] (and to what they merge with)."""
    k = st[0]
    while nw > 0:
        nw -= 1
        o = work[nw]
        if o < 0 or o >= k:
            continue
        t = 3 * o
        if F[0, t] == 0 or F[1, t] == 0 or F[2, t] == 0:
            k = _remove_orbit(F, k, o, work, nw)
            continue
        if F[0, t] == F[1, t] and F[1, t] == F[2, t]:
            _add_cube(E, st, F[0, t])
            k = _remove_orbit(F, k, o, work, nw)
            continue
        merged = False
        for u in range(3 * k):
            if u // 3 == o:
                continue
            for p in range(3):
                q = (p + 1) % 3
                s = (p + 2) % 3
                if F[p, t] == F[p, u] and F[q, t] == F[q, u]:
                    F[s, t] ^= F[s, u]
                    set_orbit(F, t)
                    ou = u // 3
                    work[nw] = o
                    nw += 1
                    k = _remove_orbit(F, k, ou, work, nw)
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
    nt = 3 * k
    if k < 2:
        return k
    # draw (term, position) until some term of another orbit shares that factor: every
    # step is a flip (idle draws would otherwise count towards the plateau and the limits)
    for _ in range(256):
        i = rand_below(rng, nt)
        p = rand_below(rng, 3)
        f = F[p, i]
        oi = i // 3
        cnt = 0
        for j in range(nt):
            cnt += np.int64(F[p, j] == f)
        cnt -= np.int64(F[p, 3 * oi] == f) + np.int64(F[p, 3 * oi + 1] == f) + np.int64(F[p, 3 * oi + 2] == f)
        if cnt > 0:
            break
    if cnt == 0:
        return k
    pick = rand_below(rng, cnt)
    j = -1
    for u in range(nt):
        if F[p, u] == f and u // 3 != oi:
            if pick == 0:
                j = u
                break
            pick -= 1
    q = (p + 1 + rand_below(rng, 2)) % 3
    s = 3 - p - q
    F[q, i] ^= F[q, j]
    F[s, j] ^= F[s, i]
    set_orbit(F, i)
    set_orbit(F, j)
    work[0] = oi
    work[1] = j // 3
    return _settle(F, E, st, work, 2)


@njit(cache=True)
def _plus(F, E, st, rng, work):
    """Plus transition (rank + 3): two terms of different orbits become three,
    x_i⊗y_i⊗z_i + x_j⊗y_j⊗z_j = (x_i+x_j)⊗y_i⊗z_i + x_j⊗(y_i+y_j)⊗z_i + x_j⊗y_j⊗(z_i+z_j)."""
    k = st[0]
    if k < 2:
        return k
    nt = 3 * k
    i = rand_below(rng, nt)
    j = rand_below(rng, nt)
    if i // 3 == j // 3:
        return k
    p = rand_below(rng, 3)
    q = (p + 1) % 3
    s = (p + 2) % 3
    if F[p, i] == F[p, j] or F[q, i] == F[q, j] or F[s, i] == F[s, j]:
        return k
    new = 3 * k + i % 3
    F[p, new] = F[p, j]
    F[q, new] = F[q, i] ^ F[q, j]
    F[s, new] = F[s, i]
    F[p, i] ^= F[p, j]
    F[s, j] ^= F[s, i]
    k += 1
    st[0] = k
    set_orbit(F, i)
    set_orbit(F, j)
    set_orbit(F, new)
    work[0] = i // 3
    work[1] = j // 3
    work[2] = new // 3
    return _settle(F, E, st, work, 3)


@njit(cache=True)
def walk(F, E, st, rng, steps, target, plateau, plus_limit, ncubes):
    """Walk up to `steps` steps; stop early once the rank is <= target. Returns steps taken."""
    work = np.zeros(8, dtype=np.int64)
    for step in range(steps):
        rank = ncubes + st[1] + 3 * st[0]
        if rank <= target:
            return step
        _step(F, E, st, rng, work)
        after = ncubes + st[1] + 3 * st[0]
        if after < st[3]:
            st[3] = after
        if after != rank:
            st[2] = 0
        else:
            st[2] += 1
        rank = after
        if st[2] > plateau and rank + 3 <= plus_limit and 3 * (st[0] + 1) <= F.shape[1]:
            _plus(F, E, st, rng, work)
            st[2] = 0
    return steps
