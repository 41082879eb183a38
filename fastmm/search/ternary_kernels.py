"""numba version of the ternary flip-graph walk in ternary_py.py, step for step the same.

Same data (six int64 arrays A, B, C, SA, SB, SC of factor masks and signs; st = [rank, steps
since the last rank drop]; rng = [splitmix64 state] as uint64) and the same random draws, so
for a fixed seed both walks visit the same schemes. Importing this module imports numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastmm.search.flip_kernels import rand_below


@njit(cache=True, inline="always")
def _same(m1, s1, m2, s2):
    """See ternary_py.same (branch-free so that the scans vectorize)."""
    d = s1 ^ s2
    eq = np.int64(m1 == m2) * np.int64(m1 != 0)
    return eq * (np.int64(d == 0) - np.int64(d == m1))


@njit(cache=True, inline="always")
def _add(mx, sx, my, sy, lam):
    """See ternary_py.add: (valid, mask, sign) of x + λy."""
    if lam < 0:
        sy ^= my
    overlap = mx & my
    if (sx ^ sy) & overlap != overlap:
        return False, np.int64(0), np.int64(0)
    mask = mx ^ my
    return True, mask, (sx | sy) & mask


@njit(cache=True)
def _remove(A, B, C, SA, SB, SC, r, t, work, nw):
    r -= 1
    A[t] = A[r]
    B[t] = B[r]
    C[t] = C[r]
    SA[t] = SA[r]
    SB[t] = SB[r]
    SC[t] = SC[r]
    for w in range(nw):
        if work[w] == r:
            work[w] = t
    return r


@njit(cache=True)
def _settle(A, B, C, SA, SB, SC, r, work, nw):
    while nw > 0:
        nw -= 1
        t = work[nw]
        if A[t] == 0 or B[t] == 0 or C[t] == 0:
            r = _remove(A, B, C, SA, SB, SC, r, t, work, nw)
            continue
        a = A[t]
        b = B[t]
        c = C[t]
        sa = SA[t]
        sb = SB[t]
        sc = SC[t]
        pairs = 0  # terms sharing >= 2 factors up to sign with t, t itself included
        for k in range(r):
            pairs += np.int64(np.abs(_same(A[k], SA[k], a, sa)) + np.abs(_same(B[k], SB[k], b, sb))
                              + np.abs(_same(C[k], SC[k], c, sc)) >= 2)
        if pairs < 2:
            continue
        for k in range(r):
            if k == t:
                continue
            ea = _same(A[k], SA[k], a, sa)
            eb = _same(B[k], SB[k], b, sb)
            ec = _same(C[k], SC[k], c, sc)
            if ea != 0 and eb != 0:
                ok, mask, sign = _add(C[k], SC[k], c, sc, ea * eb)
                if not ok:
                    continue
                C[k] = mask
                SC[k] = sign
            elif ea != 0 and ec != 0:
                ok, mask, sign = _add(B[k], SB[k], b, sb, ea * ec)
                if not ok:
                    continue
                B[k] = mask
                SB[k] = sign
            elif eb != 0 and ec != 0:
                ok, mask, sign = _add(A[k], SA[k], a, sa, eb * ec)
                if not ok:
                    continue
                A[k] = mask
                SA[k] = sign
            else:
                continue
            if k == r - 1:
                k = t
            r = _remove(A, B, C, SA, SB, SC, r, t, work, nw)
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
def walk(A, B, C, SA, SB, SC, st, rng, steps, target, plateau, plus_limit):
    """See ternary_py.walk; A..SC int64 arrays, st int64[2], rng uint64[1]."""
    work = np.empty(8, dtype=np.int64)
    r = st[0]
    since = st[1]
    done = 0
    while done < steps and r > target:
        done += 1
        since += 1
        i = rand_below(rng, r)
        a = A[i]
        b = B[i]
        c = C[i]
        sa = SA[i]
        sb = SB[i]
        sc = SC[i]
        cnt = -3  # term i matches itself three times; a branch-free loop vectorizes
        for k in range(r):
            cnt += (np.abs(_same(A[k], SA[k], a, sa)) + np.abs(_same(B[k], SB[k], b, sb))
                    + np.abs(_same(C[k], SC[k], c, sc)))
        if cnt > 0:
            pick = rand_below(rng, cnt)
            j = -1
            s = -1
            sigma = 0
            for k in range(r):  # the pick-th match, k ascending then s = 0, 1, 2
                ea = _same(A[k], SA[k], a, sa)
                eb = _same(B[k], SB[k], b, sb)
                ec = _same(C[k], SC[k], c, sc)
                ma = np.abs(ea)
                mb = np.abs(eb)
                mm = ma + mb + np.abs(ec)
                if k == i:
                    mm = 0
                if pick < mm:
                    j = k
                    if pick < ma:
                        s = 0
                        sigma = ea
                    elif pick < ma + mb:
                        s = 1
                        sigma = eb
                    else:
                        s = 2
                        sigma = ec
                    break
                pick -= mm
            lam = 1 - 2 * rand_below(rng, 2)
            x = B
            sx = SB
            y = C
            sy = SC
            if s == 1:
                x = C
                sx = SC
                y = A
                sy = SA
            elif s == 2:
                x = A
                sx = SA
                y = B
                sy = SB
            ok1, m1, s1 = _add(x[i], sx[i], x[j], sx[j], lam * sigma)
            ok2, m2, s2 = _add(y[j], sy[j], y[i], sy[i], -lam)
            if ok1 and ok2:
                x[i] = m1
                sx[i] = s1
                y[j] = m2
                sy[j] = s2
                # fast path: usually neither touched term has a zero factor or shares two
                # factors with another term (each shares all three with itself)
                ai = A[i]
                bi = B[i]
                ci = C[i]
                sai = SA[i]
                sbi = SB[i]
                sci = SC[i]
                aj = A[j]
                bj = B[j]
                cj = C[j]
                saj = SA[j]
                sbj = SB[j]
                scj = SC[j]
                pairs = 0
                for k in range(r):
                    pairs += np.int64(np.abs(_same(A[k], SA[k], ai, sai))
                                      + np.abs(_same(B[k], SB[k], bi, sbi))
                                      + np.abs(_same(C[k], SC[k], ci, sci)) >= 2)
                    pairs += np.int64(np.abs(_same(A[k], SA[k], aj, saj))
                                      + np.abs(_same(B[k], SB[k], bj, sbj))
                                      + np.abs(_same(C[k], SC[k], cj, scj)) >= 2)
                r2 = r
                if pairs > 2 or ai == 0 or bi == 0 or ci == 0 or aj == 0 or bj == 0 or cj == 0:
                    work[0] = j
                    work[1] = i
                    r2 = _settle(A, B, C, SA, SB, SC, r, work, 2)
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
                alpha = 1 - 2 * rand_below(rng, 2)
                gamma = 1 - 2 * rand_below(rng, 2)
                x = A
                y = B
                z = C
                sx = SA
                sy = SB
                sz = SC
                if s == 1:
                    x = B
                    y = C
                    z = A
                    sx = SB
                    sy = SC
                    sz = SA
                elif s == 2:
                    x = C
                    y = A
                    z = B
                    sx = SC
                    sy = SA
                    sz = SB
                ok1, m1, s1 = _add(x[i], sx[i], x[j], sx[j], alpha)
                ok2, m2, s2 = _add(y[i], sy[i], y[j], sy[j], -gamma)
                ok3, m3, s3 = _add(z[j], sz[j], z[i], sz[i], -alpha * gamma)
                if ok1 and ok2 and ok3 and m1 != 0 and m2 != 0 and m3 != 0:
                    if alpha > 0:
                        s2 ^= m2
                    x[r] = x[j]
                    sx[r] = sx[j]
                    y[r] = m2
                    sy[r] = s2
                    z[r] = z[i]
                    sz[r] = sz[i]
                    x[i] = m1
                    sx[i] = s1
                    z[j] = m3
                    sz[j] = s3
                    work[0] = i
                    work[1] = j
                    work[2] = r
                    r = _settle(A, B, C, SA, SB, SC, r + 1, work, 3)
    st[0] = r
    st[1] = since
    return done
