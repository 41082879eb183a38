"""Flip-graph random walk over GF(2) in plain Python: the reference implementation.

A scheme is a list of rank-one terms a⊗b⊗c. Each factor is a bitmask: bit i*m+j of a is
A[i][j], bit j*p+k of b is B[j][k], bit i*p+k of c is C[i][k] (the Scheme layout, so the
conversion is a plain bit pick). The terms live in three parallel lists A, B, C (one list per
factor position, index = term); only the first r entries are live.

One *step* of the walk:

1. pick a term i uniformly; collect every (j, s) with j != i whose factor s equals term i's;
   if there is none the step is idle;
2. otherwise pick one uniformly and *flip*: with s the shared factor and (x, y) the two others,
   x_i += x_j and y_j -= y_i (over GF(2) both are XOR). The tensor is unchanged:
   a⊗b⊗c + a⊗b'⊗c' = a⊗(b+b')⊗c + a⊗b'⊗(c'−c);
3. *reduce* the touched terms: a term with a zero factor is deleted; two terms sharing two
   factors merge into one (a⊗b⊗c + a⊗b⊗c' = a⊗b⊗(c+c')), repeatedly;
4. after `plateau` steps without a rank drop, a *plus transition* (rank + 1, only while
   r < plus_limit): a⊗b⊗c + a'⊗b'⊗c' = (a−a')⊗b⊗c + a'⊗(b−b')⊗c + a'⊗b'⊗(c+c').

Randomness comes from splitmix64 so that the numba kernels (flip_kernels.py) can follow
exactly the same sequence: tests compare both walks step by step.
"""

from __future__ import annotations

from collections.abc import Callable

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def seed_state(seed: int) -> int:
    """A 64-bit generator state from any integer seed (mixed once so nearby seeds differ)."""
    rng = [seed & MASK64]
    return next_u64(rng)


def next_u64(rng: list[int]) -> int:
    """splitmix64: advance rng[0] and return the next 64-bit output."""
    s = (rng[0] + GOLDEN) & MASK64
    rng[0] = s
    z = ((s ^ (s >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def below(rng: list[int], n: int) -> int:
    """A number in [0, n) from the top 32 bits (multiply-shift; n < 2**32)."""
    return ((next_u64(rng) >> 32) * n) >> 32


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

    Each term costs a pass over all r, so settling a start of 40,000 terms takes about a minute:
    `stop` (looked at every 64 terms) ends it early, with the terms still a valid scheme."""
    A, B, C = F
    done = 0
    while work:
        done += 1
        if stop is not None and done % 64 == 0 and stop():
            break
        t = work.pop()
        if A[t] == 0 or B[t] == 0 or C[t] == 0:
            r = _remove(F, r, t, work)
            continue
        a, b, c = A[t], B[t], C[t]
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
            if k == r - 1:  # k is the term that _remove moves into slot t
                k = t
            r = _remove(F, r, t, work)
            if k not in work:
                work.append(k)
            break
    return r


def _plus(F: list[list[int]], r: int, i: int, j: int, s: int) -> int:
    """Plus transition on terms i, j with factor s playing 'a'; appends one term."""
    x, y, z = F[s], F[(s + 1) % 3], F[(s + 2) % 3]
    # (a−a')⊗b⊗c + a'⊗(b−b')⊗c + a'⊗b'⊗(c+c')   with term i = a⊗b⊗c, term j = a'⊗b'⊗c'
    xi, yi, zi = x[i], y[i], z[i]
    xj, yj, zj = x[j], y[j], z[j]
    x[i] = xi ^ xj
    x[r], y[r], z[r] = xj, yi ^ yj, zi
    z[j] = zi ^ zj
    return _settle(F, r + 1, [i, j, r])


def _step(F: list[list[int]], r: int, rng: list[int]) -> tuple[int, bool]:
    """One step (flip + reductions, or idle); returns (new rank, whether a flip happened)."""
    A, B, C = F
    i = below(rng, r)
    a, b, c = A[i], B[i], C[i]
    cnt = 0
    for k in range(r):
        if k != i:
            cnt += (A[k] == a) + (B[k] == b) + (C[k] == c)
    if not cnt:
        return r, False
    pick = below(rng, cnt)
    j = s = -1
    for k in range(r):
        if k == i:
            continue
        if A[k] == a:
            if pick == 0:
                j, s = k, 0
                break
            pick -= 1
        if B[k] == b:
            if pick == 0:
                j, s = k, 1
                break
            pick -= 1
        if C[k] == c:
            if pick == 0:
                j, s = k, 2
                break
            pick -= 1
    x, y = F[(s + 1) % 3], F[(s + 2) % 3]
    x[i] ^= x[j]
    y[j] ^= y[i]
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

    F = [A, B, C] term lists (capacity >= plus_limit + 1); st = [rank, steps since the last
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
                r = _plus(F, r, i, j, below(rng, 3))
    st[0], st[1] = r, since
    return done


def plain_cost(F: list[list[int]], r: int, nc: int) -> int:
    """Additions without sharing of any sign lift: Σ(|a|−1) + Σ(|b|−1) + Σ_w max(#c∋w − 1, 0)."""
    A, B, C = F
    total = 0
    for t in range(r):
        total += A[t].bit_count() + B[t].bit_count() - 2
    for w in range(nc):
        cnt = 0
        for t in range(r):
            cnt += C[t] >> w & 1
        if cnt > 1:
            total += cnt - 1
    return total


def polish(F: list[list[int]], st: list[int], rng: list[int], steps: int, nc: int,
           best: list[list[int]], best_cost: list[int]) -> int:
    """Walk by flips alone (no plus transitions) and keep the visited scheme of least plain_cost.

    Stops after `steps` steps or when the rank drops. Every scheme reached by a flip is scored;
    one cheaper than best_cost[0] is copied into `best` (its rank is st[0]) and its cost stored.
    """
    r = st[0]
    r0 = r
    done = 0
    while done < steps and r == r0:
        done += 1
        r, flipped = _step(F, r, rng)
        if flipped and r == r0:
            cost = plain_cost(F, r, nc)
            if cost < best_cost[0]:
                best_cost[0] = cost
                for f, g in zip(F, best, strict=True):
                    g[:r] = f[:r]
    st[0] = r
    return done
