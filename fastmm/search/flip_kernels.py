"""numba version of the GF(2) flip-graph walk in flip_py.py, step for step the same.

Same data (three int64 arrays A, B, C of factor bitmasks; st = [rank, steps since the last
rank drop]; rng = [splitmix64 state] as uint64) and the same random draws, so for a fixed seed
both walks visit the same schemes. Importing this module imports numba; fastmm.search.flip
only does so for shapes where the walk is long enough to repay it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)


@njit(cache=True, inline="always")
def rand_below(rng, n):
    s = rng[0] + _GOLDEN
    rng[0] = s
    z = (s ^ (s >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.int64(((z >> _S32) * np.uint64(n)) >> _S32)


@njit(cache=True)
def _remove(A, B, C, r, t, work, nw):
    r -= 1
    A[t] = A[r]
    B[t] = B[r]
    C[t] = C[r]
    for w in range(nw):
        if work[w] == r:
            work[w] = t
    return r


@njit(cache=True, inline="always")
def _clear(A, B, C, lo, hi):
    """Mark slots lo..hi-1 as past the rank (−1 equals no factor; see `walk`)."""
    for k in range(lo, hi):
        A[k] = -1
        B[k] = -1
        C[k] = -1


@njit(cache=True)
def _settle(A, B, C, r, work, nw):
    while nw > 0:
        nw -= 1
        t = work[nw]
        if A[t] == 0 or B[t] == 0 or C[t] == 0:
            r = _remove(A, B, C, r, t, work, nw)
            continue
        a = A[t]
        b = B[t]
        c = C[t]
        pairs = 0  # terms sharing >= 2 factors with t, t itself included (vectorizable)
        for k in range(r):
            pairs += np.int64(np.int64(A[k] == a) + np.int64(B[k] == b) + np.int64(C[k] == c) >= 2)
        if pairs < 2:
            continue
        for k in range(r):
            if k == t:
                continue
            if A[k] == a:
                if B[k] == b:
                    C[k] ^= c
                elif C[k] == c:
                    B[k] ^= b
                else:
                    continue
            elif B[k] == b and C[k] == c:
                A[k] ^= a
            else:
                continue
            if k == r - 1:
                k = t
            r = _remove(A, B, C, r, t, work, nw)
            seen = False
            for w in range(nw):
                if work[w] == k:
                    seen = True
            if not seen:
                work[nw] = k
                nw += 1
            break
    return r


@njit(cache=True)
def _step(A, B, C, r, rng, work):
    """One step (flip + reductions, or idle); returns (new rank, whether a flip happened).

    The same step as in `walk`, which keeps its own copy of it: numba compiled walk with a
    call to _step (inlined or not) 2.5x slower, and walk is the hot loop.
    """
    i = rand_below(rng, r)
    a = A[i]
    b = B[i]
    c = C[i]
    cnt = -3  # term i matches itself three times; a branch-free loop vectorizes
    for k in range(r):
        cnt += np.int64(A[k] == a) + np.int64(B[k] == b) + np.int64(C[k] == c)
    if cnt <= 0:
        return r, False
    pick = rand_below(rng, cnt)
    j = -1
    s = -1
    for k in range(r):  # the pick-th match, k ascending then s = 0, 1, 2
        ma = np.int64(A[k] == a)
        mb = np.int64(B[k] == b)
        mm = ma + mb + np.int64(C[k] == c)
        if k == i:
            mm = 0
        if pick < mm:
            j = k
            if pick < ma:
                s = 0
            elif pick < ma + mb:
                s = 1
            else:
                s = 2
            break
        pick -= mm
    if s == 0:
        B[i] ^= B[j]
        C[j] ^= C[i]
    elif s == 1:
        C[i] ^= C[j]
        A[j] ^= A[i]
    else:
        A[i] ^= A[j]
        B[j] ^= B[i]
    # fast path: usually neither touched term has a zero factor or shares two factors
    # with another term (each shares all three with itself), so nothing to reduce
    ai = A[i]
    bi = B[i]
    ci = C[i]
    aj = A[j]
    bj = B[j]
    cj = C[j]
    pairs = 0
    for k in range(r):
        pairs += np.int64(np.int64(A[k] == ai) + np.int64(B[k] == bi)
                          + np.int64(C[k] == ci) >= 2)
        pairs += np.int64(np.int64(A[k] == aj) + np.int64(B[k] == bj)
                          + np.int64(C[k] == cj) >= 2)
    if pairs > 2 or ai == 0 or bi == 0 or ci == 0 or aj == 0 or bj == 0 or cj == 0:
        work[0] = j
        work[1] = i
        r = _settle(A, B, C, r, work, 2)
    return r, True


@njit(cache=True)
def walk(A, B, C, st, rng, steps, target, plateau, plus_limit):
    """See flip_py.walk; A, B, C int64 arrays, st int64[2], rng uint64[1].

    The two scans per step run over r rounded up to a multiple of 8 (within the arrays), so
    they vectorize without a scalar remainder: slots from r on hold −1, which no factor
    (a bitmask below 2^63, or 0 before a reduction) equals. Same walk, ~13% more steps/s.
    """
    work = np.empty(8, dtype=np.int64)
    cap = A.shape[0]
    cm = np.empty(cap, dtype=np.int64)  # matches per term
    r = st[0]
    since = st[1]
    _clear(A, B, C, r, cap)
    done = 0
    while done < steps and r > target:
        done += 1
        since += 1
        i = rand_below(rng, r)
        a = A[i]
        b = B[i]
        c = C[i]
        # matches per term in one branch-free (vectorized) pass, kept for the pick below
        cnt = 0
        rr = min((r + 7) & -8, cap)
        for k in range(rr):
            mk = np.int64(A[k] == a) + np.int64(B[k] == b) + np.int64(C[k] == c)
            cm[k] = mk
            cnt += mk
        cnt -= 3  # term i matches itself three times
        if cnt > 0:
            cm[i] = 0
            pick = rand_below(rng, cnt)
            j = 0
            while pick >= cm[j]:  # the pick-th match, k ascending then s = 0, 1, 2
                pick -= cm[j]
                j += 1
            ma = np.int64(A[j] == a)
            mb = np.int64(B[j] == b)
            if pick < ma:
                s = 0
            elif pick < ma + mb:
                s = 1
            else:
                s = 2
            if s == 0:
                B[i] ^= B[j]
                C[j] ^= C[i]
            elif s == 1:
                C[i] ^= C[j]
                A[j] ^= A[i]
            else:
                A[i] ^= A[j]
                B[j] ^= B[i]
            # fast path: usually neither touched term has a zero factor or shares two factors
            # with another term (each shares all three with itself), so nothing to reduce
            ai = A[i]
            bi = B[i]
            ci = C[i]
            aj = A[j]
            bj = B[j]
            cj = C[j]
            pairs = 0
            for k in range(rr):
                pairs += np.int64(np.int64(A[k] == ai) + np.int64(B[k] == bi)
                                  + np.int64(C[k] == ci) >= 2)
                pairs += np.int64(np.int64(A[k] == aj) + np.int64(B[k] == bj)
                                  + np.int64(C[k] == cj) >= 2)
            r2 = r
            if pairs > 2 or ai == 0 or bi == 0 or ci == 0 or aj == 0 or bj == 0 or cj == 0:
                work[0] = j
                work[1] = i
                r2 = _settle(A, B, C, r, work, 2)
                _clear(A, B, C, r2, r)  # slots freed by reductions
            if r2 < r:
                since = 0
            r = r2
        if since >= plateau:
            since = 0
            if r >= 2 and r < plus_limit:
                i = rand_below(rng, r)
                j = rand_below(rng, r - 1)
                if j >= i:
                    j += 1
                s = rand_below(rng, 3)
                x = A
                y = B
                z = C
                if s == 1:
                    x = B
                    y = C
                    z = A
                elif s == 2:
                    x = C
                    y = A
                    z = B
                xi = x[i]
                yi = y[i]
                zi = z[i]
                xj = x[j]
                yj = y[j]
                zj = z[j]
                x[i] = xi ^ xj
                x[r] = xj
                y[r] = yi ^ yj
                z[r] = zi
                z[j] = zi ^ zj
                work[0] = i
                work[1] = j
                work[2] = r
                grown = r + 1
                r = _settle(A, B, C, grown, work, 3)
                _clear(A, B, C, r, grown)
    st[0] = r
    st[1] = since
    return done


@njit(cache=True)
def _popcount(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@njit(cache=True)
def plain_cost(A, B, C, r, nc):
    """See flip_py.plain_cost."""
    total = 0
    for t in range(r):
        total += _popcount(A[t]) + _popcount(B[t]) - 2
    for w in range(nc):
        cnt = 0
        for t in range(r):
            cnt += (C[t] >> w) & 1
        if cnt > 1:
            total += cnt - 1
    return total


@njit(cache=True)
def polish(A, B, C, st, rng, steps, nc, bA, bB, bC, best_cost):
    """See flip_py.polish; best_cost is int64[1]."""
    work = np.empty(8, dtype=np.int64)
    r = st[0]
    r0 = r
    done = 0
    while done < steps and r == r0:
        done += 1
        r, flipped = _step(A, B, C, r, rng, work)
        if flipped and r == r0:
            cost = plain_cost(A, B, C, r, nc)
            if cost < best_cost[0]:
                best_cost[0] = cost
                bA[:r] = A[:r]
                bB[:r] = B[:r]
                bC[:r] = C[:r]
    st[0] = r
    return done
