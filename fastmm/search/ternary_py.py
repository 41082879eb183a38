"""Flip-graph random walk directly over ZT in plain Python: the reference implementation.

Perminov (2025), "ternary flip graph": the walk of flip_py.py with every coefficient kept in
{-1, 0, 1}, so a scheme it reaches is an exact ZT scheme and needs no lifting.

A ternary factor is two bitmasks (mask, sign) with sign ⊆ mask: the entry at bit u is +1 when
the mask bit is set and the sign bit clear, −1 when both are set, 0 otherwise. The bit layout
is terms.py's (bit i*m+j of a is Wa[t, i*m+j], bit j*p+k of b is Wb[t, j*p+k], bit i*p+k of c
is Wc[i*p+k, t]). The terms live in six parallel lists F = [A, B, C, SA, SB, SC] (masks, then
signs, one list per factor position, index = term); only the first r entries are live.

Two factors are *equal up to sign* σ when their masks are equal and their signs are equal
(σ = +1) or complementary within the mask (σ = −1). A sum x + λy is *valid* when no entry
leaves {-1, 0, 1}: wherever both are nonzero their signs must be opposite (they cancel).

One *step* of the walk:

1. pick a term i uniformly; collect every (j, s) with j != i whose factor s equals term i's up
   to a sign σ; if there is none the step is idle;
2. otherwise pick one uniformly and a sign λ = ±1, and *flip*: with s the shared factor and
   (x, y) the two others, x_i += λσ x_j and y_j −= λ y_i. The tensor is unchanged:
   a⊗b⊗c + σa⊗b'⊗c' = a⊗(b + λσb')⊗c + σa⊗b'⊗(c' − λc). If either new factor is not
   ternary the step is idle (the draws are still made);
3. *reduce* the touched terms: a term with a zero factor is deleted; two terms sharing two
   factors up to signs σ, τ merge into one (σa⊗τb⊗c' + a⊗b⊗c = σa⊗τb⊗(c' + στc)) when that
   sum is ternary, repeatedly;
4. after `plateau` steps without a rank drop, a *plus transition* (rank + 1, only while
   r < plus_limit), with α, γ = ±1:
   x⊗y⊗z + x'⊗y'⊗z' = (x + αx')⊗y⊗z + x'⊗(−α(y − γy'))⊗z + x'⊗y'⊗(z' − αγz);
   skipped when one of the three new factors is zero or not ternary.

Randomness is flip_py's splitmix64, so that the numba kernels (ternary_kernels.py) follow
exactly the same sequence: tests compare both walks step by step.
"""

from __future__ import annotations

from collections.abc import Callable

from fastmm.search.flip_py import below

TernaryTerms = tuple[list[int], list[int], list[int], list[int], list[int], list[int]]


# -- Scheme <-> terms ---------------------------------------------------------------------------

def _row(row) -> tuple[int, int]:
    mask = sign = 0
    for u, v in enumerate(row):
        v = int(v)
        if v == 0:
            continue
        if v not in (1, -1):
            raise ValueError(f"coefficient {v} is outside {{-1, 0, 1}}: the ternary walk needs a ZT scheme")
        mask |= 1 << u
        if v < 0:
            sign |= 1 << u
    return mask, sign


def to_terms(scheme) -> TernaryTerms:
    """The scheme's terms as (mask, sign) bitmasks; terms with a zero factor are dropped.

    Raises ValueError for a coefficient outside {-1, 0, 1} (fractions included).
    """
    if not scheme.is_integral:
        raise ValueError("a scheme with fractional coefficients is not a ZT scheme")
    F: list[list[int]] = [[] for _ in range(6)]
    for t in range(scheme.rank):
        rows = [_row(scheme.Wa[t]), _row(scheme.Wb[t]), _row(scheme.Wc[:, t])]
        if all(mask for mask, _ in rows):
            for f, (mask, sign) in enumerate(rows):
                F[f].append(mask)
                F[f + 3].append(sign)
    return tuple(F)  # type: ignore[return-value]


def matrices(shape: tuple[int, int, int], terms: TernaryTerms):
    """Wa, Wb, Wc (int64) from ternary terms."""
    import numpy as np

    n, m, p = shape
    r = len(terms[0])
    ws = [np.zeros((r, n * m), dtype=np.int64), np.zeros((r, m * p), dtype=np.int64),
          np.zeros((r, n * p), dtype=np.int64)]
    for f in range(3):
        for t in range(r):
            mask, sign = terms[f][t], terms[f + 3][t]
            u = 0
            while mask >> u:
                if mask >> u & 1:
                    ws[f][t, u] = -1 if sign >> u & 1 else 1
                u += 1
    return ws[0], ws[1], np.ascontiguousarray(ws[2].T)


def to_scheme(shape: tuple[int, int, int], terms: TernaryTerms, provenance: dict | None = None):
    """The scheme (ring "ZT") holding exactly these terms."""
    from fastmm.scheme import Scheme

    wa, wb, wc = matrices(shape, terms)
    return Scheme(*shape, wa, wb, wc, ring="ZT", provenance=dict(provenance or {}))


# -- factor arithmetic ------------------------------------------------------------------------

def same(m1: int, s1: int, m2: int, s2: int) -> int:
    """σ = +1 or −1 when (m1, s1) = σ·(m2, s2), else 0 (a zero factor is never matched)."""
    if m1 != m2 or not m1:
        return 0
    d = s1 ^ s2
    if d == 0:
        return 1
    return -1 if d == m1 else 0


def add(mx: int, sx: int, my: int, sy: int, lam: int) -> tuple[bool, int, int]:
    """x + λy as (valid, mask, sign); valid is False when an entry would be ±2."""
    if lam < 0:
        sy ^= my
    overlap = mx & my
    if (sx ^ sy) & overlap != overlap:
        return False, 0, 0
    mask = mx ^ my
    return True, mask, (sx | sy) & mask


# -- the walk -----------------------------------------------------------------------------------

def _remove(F: list[list[int]], r: int, t: int, work: list[int]) -> int:
    """Delete term t by moving the last live term into its slot; fix indices in `work`."""
    r -= 1
    for f in F:
        f[t] = f[r]
    for w in range(len(work)):
        if work[w] == r:
            work[w] = t
    return r


def _settle(F: list[list[int]], r: int, work: list[int], stop: Callable[[], bool] | None = None) -> int:
    """Apply every reduction reachable from the terms listed in `work`; returns the new rank.
    `stop` (looked at every 64 terms) ends it early, the terms still a valid scheme (as flip_py's)."""
    A, B, C, SA, SB, SC = F
    done = 0
    while work:
        done += 1
        if stop is not None and done % 64 == 0 and stop():
            break
        t = work.pop()
        if A[t] == 0 or B[t] == 0 or C[t] == 0:
            r = _remove(F, r, t, work)
            continue
        a, b, c, sa, sb, sc = A[t], B[t], C[t], SA[t], SB[t], SC[t]
        for k in range(r):
            if k == t:
                continue
            ea = same(A[k], SA[k], a, sa)
            eb = same(B[k], SB[k], b, sb)
            ec = same(C[k], SC[k], c, sc)
            # term k = (ea·a)⊗(eb·b)⊗c_k: adding a⊗b⊗c gives (ea·a)⊗(eb·b)⊗(c_k + ea·eb·c)
            if ea and eb:
                f, lam = 2, ea * eb
            elif ea and ec:
                f, lam = 1, ea * ec
            elif eb and ec:
                f, lam = 0, eb * ec
            else:
                continue
            X, S = F[f], F[f + 3]
            ok, mask, sign = add(X[k], S[k], X[t], S[t], lam)
            if not ok:
                continue
            X[k], S[k] = mask, sign
            if k == r - 1:  # k is the term that _remove moves into slot t
                k = t
            r = _remove(F, r, t, work)
            if k not in work:
                work.append(k)
            break
    return r


def _plus(F: list[list[int]], r: int, i: int, j: int, s: int, alpha: int, gamma: int) -> int:
    """Plus transition on terms i, j with factor s playing 'x'; appends one term (or skips)."""
    x, y, z = F[s], F[(s + 1) % 3], F[(s + 2) % 3]
    sx, sy, sz = F[s + 3], F[(s + 1) % 3 + 3], F[(s + 2) % 3 + 3]
    # (x + αx')⊗y⊗z + x'⊗(−α(y − γy'))⊗z + x'⊗y'⊗(z' − αγz), term i = x⊗y⊗z, term j = x'⊗y'⊗z'
    ok1, m1, s1 = add(x[i], sx[i], x[j], sx[j], alpha)
    ok2, m2, s2 = add(y[i], sy[i], y[j], sy[j], -gamma)
    ok3, m3, s3 = add(z[j], sz[j], z[i], sz[i], -alpha * gamma)
    if not (ok1 and ok2 and ok3 and m1 and m2 and m3):
        return r
    if alpha > 0:
        s2 ^= m2
    x[r], sx[r], y[r], sy[r], z[r], sz[r] = x[j], sx[j], m2, s2, z[i], sz[i]
    x[i], sx[i] = m1, s1
    z[j], sz[j] = m3, s3
    return _settle(F, r + 1, [i, j, r])


def _step(F: list[list[int]], r: int, rng: list[int]) -> tuple[int, bool]:
    """One step (flip + reductions, or idle); returns (new rank, whether a flip happened)."""
    i = below(rng, r)
    cnt = 0
    for k in range(r):
        if k != i:
            for f in range(3):
                cnt += same(F[f][k], F[f + 3][k], F[f][i], F[f + 3][i]) != 0
    if not cnt:
        return r, False
    pick = below(rng, cnt)
    j = s = -1
    sigma = 0
    for k in range(r):
        if k == i:
            continue
        for f in range(3):
            e = same(F[f][k], F[f + 3][k], F[f][i], F[f + 3][i])
            if e:
                if pick == 0:
                    j, s, sigma = k, f, e
                    break
                pick -= 1
        if j >= 0:
            break
    lam = 1 - 2 * below(rng, 2)
    xf, yf = (s + 1) % 3, (s + 2) % 3
    x, sx, y, sy = F[xf], F[xf + 3], F[yf], F[yf + 3]
    ok1, m1, s1 = add(x[i], sx[i], x[j], sx[j], lam * sigma)
    ok2, m2, s2 = add(y[j], sy[j], y[i], sy[i], -lam)
    if not (ok1 and ok2):
        return r, False
    x[i], sx[i] = m1, s1
    y[j], sy[j] = m2, s2
    return _settle(F, r, [j, i]), True


def walk(
    F: list[list[int]],
    st: list[int],
    rng: list[int],
    steps: int,
    target: int,
    plateau: int,
    plus_limit: int,
) -> int:
    """Run up to `steps` steps, stopping early once the rank is <= target; returns steps done.

    F = [A, B, C, SA, SB, SC] (capacity >= plus_limit + 1); st = [rank, steps since the last
    rank drop]; rng = [splitmix64 state]. All three are updated in place.
    """
    r, since = st
    done = 0
    while done < steps and r > target:
        done += 1
        since += 1
        r2, _ = _step(F, r, rng)
        if r2 < r:
            since = 0
        r = r2
        if since >= plateau:
            since = 0
            if 2 <= r < plus_limit:
                i = below(rng, r)
                j = below(rng, r - 1)
                if j >= i:
                    j += 1
                s = below(rng, 3)
                alpha = 1 - 2 * below(rng, 2)
                gamma = 1 - 2 * below(rng, 2)
                r = _plus(F, r, i, j, s, alpha, gamma)
    st[0], st[1] = r, since
    return done
