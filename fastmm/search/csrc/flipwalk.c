/* The GF(2) flip-graph walk of fastmm/search/flip_kernels.py (numba) and flip_py.py (plain
   Python) in C, step for step the same: same data, same splitmix64 draws, same results.

   A scheme is three int64 arrays A, B, C of factor bitmasks (term t is A[t]⊗B[t]⊗C[t]; only
   the first r are live), st = {rank, steps since the last rank drop}, rng = {splitmix64 state}.
   Hand-written and independent of any scheme; fastmm.search.flip_c compiles it once per
   compiler into the user's cache and calls it through ctypes. See flip_py.py for the walk. */
/* splitmix.h (stdint.h, the splitmix64 constants, eq, rand_below) is prepended by flip_c. */

/* The scans of a step vectorize with 64-bit compares, which x86-64 has from AVX2 on: the walk
   is built twice, for AVX2 and for any x86-64, and the loader picks one for the CPU (an ifunc,
   hence glibc only). Without it the same source builds one plain version. */
#if defined(__has_attribute) && defined(__x86_64__) && defined(__GLIBC__)
#if __has_attribute(target_clones)
#define FLIP_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef FLIP_CLONES
#define FLIP_CLONES
#endif

#define WORK 8 /* reductions pending at once: at most 3 start, each pops one and pushes one */

/* Factors term k shares with a⊗b⊗c (0 to 3), and whether that is two or more. */
#define MATCHES(k, a, b, c) (eq(A[k], a) + eq(B[k], b) + eq(C[k], c))
#define PAIRED(k, a, b, c) (MATCHES(k, a, b, c) >> 1)

/* Delete term t by moving the last live term into its slot; fix indices in work[0..nw). */
static int64_t remove_term(int64_t *A, int64_t *B, int64_t *C, int64_t r, int64_t t,
                           int64_t *work, int64_t nw)
{
    r -= 1;
    A[t] = A[r];
    B[t] = B[r];
    C[t] = C[r];
    for (int64_t w = 0; w < nw; w++)
        if (work[w] == r)
            work[w] = t;
    return r;
}

/* Mark slots lo..hi-1 as past the rank: -1 equals no factor (a bitmask below 2^63, or 0). */
static void clear_slots(int64_t *A, int64_t *B, int64_t *C, int64_t lo, int64_t hi)
{
    for (int64_t k = lo; k < hi; k++) {
        A[k] = -1;
        B[k] = -1;
        C[k] = -1;
    }
}

/* Apply every reduction reachable from the terms in work[0..nw): a term with a zero factor is
   deleted, two terms sharing two factors merge. Returns the new rank. */
static int64_t settle(int64_t *A, int64_t *B, int64_t *C, int64_t r, int64_t *work, int64_t nw)
{
    while (nw > 0) {
        int64_t t = work[--nw];
        if (A[t] == 0 || B[t] == 0 || C[t] == 0) {
            r = remove_term(A, B, C, r, t, work, nw);
            continue;
        }
        int64_t a = A[t], b = B[t], c = C[t];
        int64_t pairs = 0; /* terms sharing >= 2 factors with t, t itself included */
        for (int64_t k = 0; k < r; k++)
            pairs += PAIRED(k, a, b, c);
        if (pairs < 2)
            continue;
        for (int64_t k = 0; k < r; k++) {
            if (k == t)
                continue;
            if (A[k] == a) {
                if (B[k] == b)
                    C[k] ^= c;
                else if (C[k] == c)
                    B[k] ^= b;
                else
                    continue;
            } else if (B[k] == b && C[k] == c) {
                A[k] ^= a;
            } else {
                continue;
            }
            if (k == r - 1) /* k is the term that remove_term moves into slot t */
                k = t;
            r = remove_term(A, B, C, r, t, work, nw);
            int seen = 0;
            for (int64_t w = 0; w < nw; w++)
                seen |= work[w] == k;
            if (!seen)
                work[nw++] = k;
            break;
        }
    }
    return r;
}

/* Flip term i against term j on shared factor s (0: a, 1: b, 2: c). */
static inline void flip(int64_t *A, int64_t *B, int64_t *C, int64_t i, int64_t j, int64_t s)
{
    if (s == 0) {
        B[i] ^= B[j];
        C[j] ^= C[i];
    } else if (s == 1) {
        C[i] ^= C[j];
        A[j] ^= A[i];
    } else {
        A[i] ^= A[j];
        B[j] ^= B[i];
    }
}

/* Whether terms i and j need settle() after a flip: a zero factor, or a term sharing two
   factors with one of them (each shares all three with itself, hence pairs > 2). Scans the
   first n slots. */
static inline int needs_settle(const int64_t *A, const int64_t *B, const int64_t *C, int64_t n,
                               int64_t i, int64_t j)
{
    int64_t ai = A[i], bi = B[i], ci = C[i], aj = A[j], bj = B[j], cj = C[j];
    int64_t pairs = 0;
    for (int64_t k = 0; k < n; k++) {
        pairs += PAIRED(k, ai, bi, ci);
        pairs += PAIRED(k, aj, bj, cj);
    }
    return pairs > 2 || ai == 0 || bi == 0 || ci == 0 || aj == 0 || bj == 0 || cj == 0;
}

/* The shared factor picked by `pick` (< matches of term j with a, b, c): a first, then b, c. */
static inline int64_t shared_factor(int64_t ma, int64_t mb, int64_t pick)
{
    return pick < ma ? 0 : pick < ma + mb ? 1 : 2;
}

/* Plus transition on terms i, j with factor s playing 'a'; writes term r; returns the rank. */
static int64_t plus(int64_t *A, int64_t *B, int64_t *C, int64_t r, int64_t i, int64_t j,
                    int64_t s, int64_t *work)
{
    int64_t *x = A, *y = B, *z = C;
    if (s == 1) {
        x = B;
        y = C;
        z = A;
    } else if (s == 2) {
        x = C;
        y = A;
        z = B;
    }
    int64_t xi = x[i], yi = y[i], zi = z[i];
    int64_t xj = x[j], yj = y[j], zj = z[j];
    x[i] = xi ^ xj;
    x[r] = xj;
    y[r] = yi ^ yj;
    z[r] = zi;
    z[j] = zi ^ zj;
    work[0] = i;
    work[1] = j;
    work[2] = r;
    return settle(A, B, C, r + 1, work, 3);
}

/* flip_kernels.walk: up to `steps` steps, stopping once the rank is <= target; returns the steps
   done and updates A, B, C, st, rng in place. The arrays hold `cap` slots (cap >= plus_limit + 1,
   a multiple of 8); cm is scratch of `cap` entries. As in the numba kernel the two scans per
   step run over the rank rounded up to a multiple of 8, slots past the rank holding -1. */
FLIP_CLONES
int64_t fastmm_flip_walk(int64_t *A, int64_t *B, int64_t *C, int64_t cap, int64_t *cm,
                         int64_t *st, uint64_t *rng,
                         int64_t steps, int64_t target, int64_t plateau, int64_t plus_limit)
{
    int64_t work[WORK];
    int64_t r = st[0], since = st[1], done = 0;
    clear_slots(A, B, C, r, cap);
    while (done < steps && r > target) {
        done++;
        since++;
        int64_t i = rand_below(rng, r);
        int64_t a = A[i], b = B[i], c = C[i];
        int64_t rr = (r + 7) & -8;
        if (rr > cap)
            rr = cap;
        int64_t cnt = 0; /* matches per term, kept for the pick below */
        for (int64_t k = 0; k < rr; k++) {
            int64_t mk = MATCHES(k, a, b, c);
            cm[k] = mk;
            cnt += mk;
        }
        cnt -= 3; /* term i matches itself three times */
        if (cnt > 0) {
            cm[i] = 0;
            int64_t pick = rand_below(rng, cnt);
            int64_t j = 0;
            while (pick >= cm[j]) { /* the pick-th match, k ascending then s = 0, 1, 2 */
                pick -= cm[j];
                j++;
            }
            int64_t s = shared_factor(eq(A[j], a), eq(B[j], b), pick);
            flip(A, B, C, i, j, s);
            int64_t r2 = r;
            if (needs_settle(A, B, C, rr, i, j)) {
                work[0] = j;
                work[1] = i;
                r2 = settle(A, B, C, r, work, 2);
                clear_slots(A, B, C, r2, r); /* slots freed by reductions */
            }
            if (r2 < r)
                since = 0;
            r = r2;
        }
        if (since >= plateau) {
            since = 0;
            if (r >= 2 && r < plus_limit) {
                int64_t pi = rand_below(rng, r);
                int64_t pj = rand_below(rng, r - 1);
                if (pj >= pi)
                    pj++;
                int64_t ps = rand_below(rng, 3);
                int64_t grown = r + 1;
                r = plus(A, B, C, r, pi, pj, ps, work);
                clear_slots(A, B, C, r, grown);
            }
        }
    }
    st[0] = r;
    st[1] = since;
    return done;
}

/* One step without padding (flip_kernels._step): flip + reductions, or idle. Sets *flipped. */
static int64_t step(int64_t *A, int64_t *B, int64_t *C, int64_t r, uint64_t *rng,
                    int64_t *work, int *flipped)
{
    int64_t i = rand_below(rng, r);
    int64_t a = A[i], b = B[i], c = C[i];
    int64_t cnt = -3;
    for (int64_t k = 0; k < r; k++)
        cnt += MATCHES(k, a, b, c);
    *flipped = cnt > 0;
    if (cnt <= 0)
        return r;
    int64_t pick = rand_below(rng, cnt);
    int64_t j = -1, s = -1;
    for (int64_t k = 0; k < r; k++) {
        int64_t ma = eq(A[k], a), mb = eq(B[k], b);
        int64_t mm = k == i ? 0 : ma + mb + eq(C[k], c);
        if (pick < mm) {
            j = k;
            s = shared_factor(ma, mb, pick);
            break;
        }
        pick -= mm;
    }
    flip(A, B, C, i, j, s);
    if (needs_settle(A, B, C, r, i, j)) {
        work[0] = j;
        work[1] = i;
        r = settle(A, B, C, r, work, 2);
    }
    return r;
}

/* flip_py.plain_cost: Σ(|a|−1) + Σ(|b|−1) + Σ_w max(#c∋w − 1, 0) over the first r terms. */
static int64_t plain_cost(const int64_t *A, const int64_t *B, const int64_t *C, int64_t r,
                          int64_t nc)
{
    int64_t total = 0;
    for (int64_t t = 0; t < r; t++)
        total += __builtin_popcountll((uint64_t)A[t]) + __builtin_popcountll((uint64_t)B[t]) - 2;
    for (int64_t w = 0; w < nc; w++) {
        int64_t cnt = 0;
        for (int64_t t = 0; t < r; t++)
            cnt += (C[t] >> w) & 1;
        if (cnt > 1)
            total += cnt - 1;
    }
    return total;
}

/* flip_kernels.polish: flips alone while the rank stays; every scheme reached by a flip is
   scored by plain_cost and one cheaper than *best_cost is copied into bA, bB, bC. */
FLIP_CLONES
int64_t fastmm_flip_polish(int64_t *A, int64_t *B, int64_t *C, int64_t *st, uint64_t *rng,
                           int64_t steps, int64_t nc, int64_t *bA, int64_t *bB, int64_t *bC,
                           int64_t *best_cost)
{
    int64_t work[WORK];
    int64_t r = st[0], r0 = r, done = 0;
    while (done < steps && r == r0) {
        done++;
        int flipped;
        r = step(A, B, C, r, rng, work, &flipped);
        if (flipped && r == r0) {
            int64_t cost = plain_cost(A, B, C, r, nc);
            if (cost < *best_cost) {
                *best_cost = cost;
                for (int64_t t = 0; t < r; t++) {
                    bA[t] = A[t];
                    bB[t] = B[t];
                    bC[t] = C[t];
                }
            }
        }
    }
    st[0] = r;
    return done;
}
