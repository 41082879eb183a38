"""The symmetric flip-graph walks over GF(2) for ⟨n,n,n⟩ (Moosbauer & Poole 2025), as numba kernels:
orbits of three (the C3 rotation, `--symmetry c3`) or of six (C3 × the central symmetry X -> JXJ,
`--symmetry c3j`, with which they found ⟨6,6,6;153⟩); `orbit` says which.

Layout. The third factor is stored transposed (bit k*n+i is C[i][k]), so the matrix
multiplication tensor Σ E_ij⊗E_jk⊗E_ki is invariant under the rotation (x, y, z) -> (z, x, y).
A symmetric scheme is a set of fixed cubes x⊗x⊗x (never flipped; `ncubes` of them, outside
these arrays, plus `st[1]` cubes that walks create) and k orbits. Orbit o owns the term slots
orbit*o .. orbit*o + orbit − 1 of F (F[pos, t] is factor `pos` of term t): slot orbit*o+q holds
rot^q of the orbit's representative and, for orbits of six, slot 6o+3+q holds rot^q(J(rep)).
J·X·J (J the exchange matrix) reverses the bits of a row-major n×n mask and commutes with the
rotation; the start's cubes must then be J-invariant as a set. Rank = cubes + orbit·k.

A step picks a term i and a factor position, finds a term j of *another* orbit with the same
factor there, and flips the pair (x_i += x_j, y_j += y_i over GF(2), the flip of the ordinary
flip graph); the two orbits are then rebuilt from the flipped terms, which applies the same
flip to every image pair at once. Reductions: an orbit with a zero factor is deleted (−orbit);
for orbits of six, so is one whose representative is J-invariant (its six slots are three terms
twice, zero modulo 2); two orbits with terms that share two factors merge into one (−orbit); an
orbit whose representative is x⊗x⊗x becomes the cube x (−2), and for orbits of six also the
cube J(x) (−4; −6 when x = J(x), the two cancel). After `plateau` flips without a change of
rank, a plus transition turns two terms of different orbits into three (rank +orbit; Arai et
al.'s transition, applied to whole orbits) while rank + orbit <= plus_limit. Every step is a
flip: draws of a term and position that no other orbit shares are repeated, not counted (they
were ~70% of draws on ⟨5,5,5⟩ and made the plateau and restart limits 3.5x shorter in flips
than intended).

csrc/symwalk.c is the same walk in C, step for step (compiled once per orbit size).
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
def set_orbit(F, t, orbit, bits):
    """Rebuild the slots of term t's orbit from term t (slot q = rot^q(rep), slot 3+q its J-image)."""
    o = t // orbit
    s = t % orbit
    q0 = s % 3
    r0 = F[q0, t]
    r1 = F[(1 + q0) % 3, t]
    r2 = F[(2 + q0) % 3, t]
    if s >= 3:  # slot t holds a rotation of J(rep)
        r0 = rev(r0, bits)
        r1 = rev(r1, bits)
        r2 = rev(r2, bits)
    for q in range(3):  # slot orbit*o+q holds rep rotated q times: factor pos = rep[(pos - q) % 3]
        u = orbit * o + q
        for pos in range(3):
            w = (pos - q + 3) % 3
            F[pos, u] = r0 if w == 0 else (r1 if w == 1 else r2)
    if orbit == 6:  # slot 6o+3+q: the same rotations of J(rep)
        j0 = rev(r0, bits)
        j1 = rev(r1, bits)
        j2 = rev(r2, bits)
        for q in range(3):
            u = 6 * o + 3 + q
            for pos in range(3):
                w = (pos - q + 3) % 3
                F[pos, u] = j0 if w == 0 else (j1 if w == 1 else j2)


@njit(cache=True)
def _remove_orbit(F, k, o, work, nw, orbit):
    """Delete orbit o by moving the last orbit into its slots; fix orbit numbers in `work`."""
    k -= 1
    for q in range(orbit):
        for pos in range(3):
            F[pos, orbit * o + q] = F[pos, orbit * k + q]
            F[pos, orbit * k + q] = 0
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
def _settle(F, E, st, work, nw, orbit):
    """Apply reductions to the orbits listed in work[:nw] (and to what they merge with)."""
    k = st[0]
    bits = st[4]
    while nw > 0:
        nw -= 1
        o = work[nw]
        if o < 0 or o >= k:
            continue
        t = orbit * o
        if F[0, t] == 0 or F[1, t] == 0 or F[2, t] == 0:
            k = _remove_orbit(F, k, o, work, nw, orbit)
            continue
        if orbit == 6 and F[0, t] == F[0, t + 3] and F[1, t] == F[1, t + 3] and F[2, t] == F[2, t + 3]:
            k = _remove_orbit(F, k, o, work, nw, orbit)  # J-invariant: every term twice
            continue
        if F[0, t] == F[1, t] and F[1, t] == F[2, t]:
            _add_cube(E, st, F[0, t])
            if orbit == 6:
                _add_cube(E, st, F[0, t + 3])  # J(x); x = J(x) cancels the first
            k = _remove_orbit(F, k, o, work, nw, orbit)
            continue
        merged = False
        for u in range(orbit * k):
            if t <= u < t + orbit:  # orbit o itself (u // orbit == o without a division)
                continue
            for p in range(3):
                q = (p + 1) % 3
                s = (p + 2) % 3
                if F[p, t] == F[p, u] and F[q, t] == F[q, u]:
                    F[s, t] ^= F[s, u]
                    set_orbit(F, t, orbit, bits)
                    work[nw] = o
                    nw += 1
                    k = _remove_orbit(F, k, u // orbit, work, nw, orbit)
                    merged = True
                    break
            if merged:
                break
    st[0] = k
    return k


@njit(cache=True)
def _step(F, E, st, rng, work, orbit):
    """One flip (or an idle step); returns the number of orbits afterwards."""
    k = st[0]
    nt = orbit * k
    bits = st[4]
    if k < 2:
        return k
    # draw (term, position) until some term of another orbit shares that factor: every
    # step is a flip (idle draws would otherwise count towards the plateau and the limits)
    cnt = 0
    for _ in range(256):
        i = rand_below(rng, nt)
        p = rand_below(rng, 3)
        f = F[p, i]
        oi = i // orbit
        cnt = 0
        for j in range(nt):
            cnt += np.int64(F[p, j] == f)
        for q in range(orbit):
            cnt -= np.int64(F[p, orbit * oi + q] == f)
        if cnt > 0:
            break
    if cnt == 0:
        return k
    pick = rand_below(rng, cnt)
    j = -1
    for u in range(nt):
        if F[p, u] == f and u // orbit != oi:
            if pick == 0:
                j = u
                break
            pick -= 1
    q = (p + 1 + rand_below(rng, 2)) % 3
    s = 3 - p - q
    F[q, i] ^= F[q, j]
    F[s, j] ^= F[s, i]
    set_orbit(F, i, orbit, bits)
    set_orbit(F, j, orbit, bits)
    work[0] = oi
    work[1] = j // orbit
    return _settle(F, E, st, work, 2, orbit)


@njit(cache=True)
def _plus(F, E, st, rng, work, orbit):
    """Plus transition (rank + orbit): two terms of different orbits become three,
    x_i⊗y_i⊗z_i + x_j⊗y_j⊗z_j = (x_i+x_j)⊗y_i⊗z_i + x_j⊗(y_i+y_j)⊗z_i + x_j⊗y_j⊗(z_i+z_j)."""
    k = st[0]
    bits = st[4]
    if k < 2:
        return k
    nt = orbit * k
    i = rand_below(rng, nt)
    j = rand_below(rng, nt)
    if i // orbit == j // orbit:
        return k
    p = rand_below(rng, 3)
    q = (p + 1) % 3
    s = (p + 2) % 3
    if F[p, i] == F[p, j] or F[q, i] == F[q, j] or F[s, i] == F[s, j]:
        return k
    new = orbit * k + i % orbit
    F[p, new] = F[p, j]
    F[q, new] = F[q, i] ^ F[q, j]
    F[s, new] = F[s, i]
    F[p, i] ^= F[p, j]
    F[s, j] ^= F[s, i]
    k += 1
    st[0] = k
    set_orbit(F, i, orbit, bits)
    set_orbit(F, j, orbit, bits)
    set_orbit(F, new, orbit, bits)
    work[0] = i // orbit
    work[1] = j // orbit
    work[2] = new // orbit
    return _settle(F, E, st, work, 3, orbit)


@njit(cache=True)
def walk(F, E, st, rng, steps, target, plateau, plus_limit, ncubes, orbit):
    """Walk up to `steps` steps; stop early once the rank is <= target. Returns steps taken."""
    work = np.zeros(8, dtype=np.int64)
    for step in range(steps):
        rank = ncubes + st[1] + orbit * st[0]
        if rank <= target:
            return step
        _step(F, E, st, rng, work, orbit)
        after = ncubes + st[1] + orbit * st[0]
        if after < st[3]:
            st[3] = after
        if after != rank:
            st[2] = 0
        else:
            st[2] += 1
        rank = after
        if st[2] > plateau and rank + orbit <= plus_limit and orbit * (st[0] + 1) <= F.shape[1]:
            _plus(F, E, st, rng, work, orbit)
            st[2] = 0
    return steps
