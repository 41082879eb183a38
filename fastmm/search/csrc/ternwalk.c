/* The ternary flip-graph walk of fastmm/search/ternary_kernels.py (numba) and ternary_py.py
   (plain Python) in C, step for step the same: same data, same splitmix64 draws, same results.

   A scheme is six int64 arrays: A, B, C hold the factor masks and SA, SB, SC the factor signs
   (sign ⊆ mask; the entry at bit u is +1 for a set mask bit with a clear sign bit, −1 with both
   set, 0 otherwise); term t is A[t]⊗B[t]⊗C[t] with those signs and only the first r are live.
   st = {rank, steps since the last rank drop}, rng = {splitmix64 state}. Hand-written and
   independent of any scheme; fastmm.search.flip_c compiles it once per compiler into the user's
   cache and calls it through ctypes. See ternary_py.py for the walk.

   Some scans differ from the numba code in form, not in result: factors are compared through
   packed keys where they fit (see key()), the partner of a flip is found from the match counts
   of the first scan, skipping blocks of 8 terms, and the test for reductions after a flip looks
   for zero factors before it counts the terms sharing two factors (numba counts first and
   settles either way). Live terms never have a zero factor (the walk deletes them at once, and
   its starts have none): the scans rely on it (see match()). Slots past the rank are left as
   the numba walk leaves them, so the whole arrays stay equal to numba's, not only the live
   terms. */
/* splitmix.h (stdint.h, the splitmix64 constants, eq, rand_below) is prepended by flip_c. */
#include <stdlib.h>

/* The scans of a step vectorize with 64-bit compares, which x86-64 has from AVX2 on: the walk
   is built for AVX2 and for any x86-64, and the loader picks one for the CPU (an ifunc, hence
   glibc only). `flatten` inlines every helper (settle() included) into each clone. Without it
   the same source builds one plain version. */
#if defined(__has_attribute) && defined(__x86_64__) && defined(__GLIBC__)
#if __has_attribute(target_clones) && __has_attribute(flatten)
#define TERN_CLONES __attribute__((target_clones("avx2", "default"), flatten))
#endif
#endif
#ifndef TERN_CLONES
#define TERN_CLONES
#endif

#define WORK 8 /* reductions pending at once: at most 3 start, each pops one and pushes one */

/* The factors' keys. The scans ask, for every term k, whether its factor f equals up to sign
   a given factor (mask a, sign sa): masks equal and signs equal or complementary within the
   mask. With the mask in the low and the canonical sign (the sign with the lowest entry made
   +1) in the high 32 bits, that is one compare of two keys instead of three compares: while
   every mask fits 32 bits (each of the three matrices has at most 32 entries: ⟨5,5,6⟩ yes,
   ⟨6,6,6⟩ no; the walk never sets a bit no factor had) each call keeps such a key per factor
   next to the arrays, else it compares masks and signs. On ⟨5,5,6⟩ that made the walk 2x as
   fast. */
typedef struct {
    int64_t *m[3]; /* the masks of factor f (0: a, 1: b, 2: c) */
    int64_t *s[3]; /* the signs */
    int64_t *k[3]; /* the keys, when the masks fit 32 bits */
} Terms;

/* The key of factor (m, s) (m < 2^32): equal for (m, s) and −(m, s) = (m, s ^ m) only. */
static inline int64_t key(int64_t m, int64_t s)
{
    uint64_t cs = (uint64_t)((s & m & -m) ? s ^ m : s);
    return (int64_t)((uint64_t)m | cs << 32);
}

/* Factor f of term t := (m, s), its key kept up to date. */
static inline void set_factor(Terms F, int packed, int f, int64_t t, int64_t m, int64_t s)
{
    F.m[f][t] = m;
    F.s[f][t] = s;
    if (packed)
        F.k[f][t] = key(m, s);
}

/* |ternary_py.same(m, s, a, sa)| for a != 0: 1 when (m, s) = ±(a, sa), else 0. Branch free
   (the scans vectorize); with a != 0 the test m != 0 of same() is implied by m == a. */
static inline int64_t match(int64_t m, int64_t s, int64_t a, int64_t sa)
{
    int64_t d = s ^ sa;
    return eq(m, a) & (eq(d, 0) | eq(d, a));
}

/* A term to compare others with: its masks, signs and keys (all factors nonzero). */
typedef struct {
    int64_t m[3], s[3], k[3];
} Query;

static inline Query query(Terms F, int packed, int64_t t)
{
    Query q;
    for (int f = 0; f < 3; f++) {
        q.m[f] = F.m[f][t];
        q.s[f] = F.s[f][t];
        q.k[f] = packed ? F.k[f][t] : 0;
    }
    return q;
}

/* Factors term k shares up to sign with the term of query q: 0 to 3. */
#define MATCHES_PACKED(F, k, q)                                                                     \
    (eq(F.k[0][k], q##k0) + eq(F.k[1][k], q##k1) + eq(F.k[2][k], q##k2))
#define MATCHES_PLAIN(F, k, q)                                                                      \
    (match(F.m[0][k], F.s[0][k], q##m0, q##s0) + match(F.m[1][k], F.s[1][k], q##m1, q##s1)           \
     + match(F.m[2][k], F.s[2][k], q##m2, q##s2))
/* The query's fields as locals (the loops below vectorize with them in registers). */
#define UNPACK(q)                                                                                   \
    int64_t q##m0 = q.m[0], q##m1 = q.m[1], q##m2 = q.m[2], q##s0 = q.s[0], q##s1 = q.s[1],        \
            q##s2 = q.s[2], q##k0 = q.k[0], q##k1 = q.k[1], q##k2 = q.k[2];                          \
    (void)q##m0, (void)q##m1, (void)q##m2, (void)q##s0, (void)q##s1, (void)q##s2, (void)q##k0,     \
        (void)q##k1, (void)q##k2

/* ternary_py.same: σ = +1 or −1 when (m1, s1) = σ·(m2, s2), else 0 (a zero factor never). */
static inline int64_t same(int64_t m1, int64_t s1, int64_t m2, int64_t s2)
{
    int64_t d = s1 ^ s2;
    return (eq(m1, m2) & (m1 != 0)) * (eq(d, 0) - eq(d, m1));
}

/* ternary_py.add: x + λy (λ = ±1) into *mask, *sign; 0 (and a zero mask and sign) when an
   entry of the sum would be ±2. */
static inline int add(int64_t mx, int64_t sx, int64_t my, int64_t sy, int64_t lam, int64_t *mask,
                      int64_t *sign)
{
    if (lam < 0)
        sy ^= my;
    int64_t overlap = mx & my;
    if (((sx ^ sy) & overlap) != overlap) {
        *mask = *sign = 0;
        return 0;
    }
    *mask = mx ^ my;
    *sign = (sx | sy) & *mask;
    return 1;
}

/* Delete term t by moving the last live term into its slot; fix indices in work[0..nw). */
static int64_t remove_term(Terms F, int packed, int64_t r, int64_t t, int64_t *work, int64_t nw)
{
    r -= 1;
    for (int f = 0; f < 3; f++) {
        F.m[f][t] = F.m[f][r];
        F.s[f][t] = F.s[f][r];
        if (packed)
            F.k[f][t] = F.k[f][r];
    }
    for (int64_t w = 0; w < nw; w++)
        if (work[w] == r)
            work[w] = t;
    return r;
}

/* Terms among the first r sharing at least two factors up to sign with the term of query q
   (that term itself included, when it is one of them). */
static inline int64_t paired(Terms F, int packed, int64_t r, Query q)
{
    UNPACK(q);
    int64_t pairs = 0;
    if (packed)
        for (int64_t k = 0; k < r; k++)
            pairs += MATCHES_PACKED(F, k, q) >> 1;
    else
        for (int64_t k = 0; k < r; k++)
            pairs += MATCHES_PLAIN(F, k, q) >> 1;
    return pairs;
}

/* Apply every reduction reachable from the terms in work[0..nw): a term with a zero factor is
   deleted, two terms sharing two factors up to sign merge when the sum of their third factors
   is ternary. Returns the new rank. */
static int64_t settle(Terms F, int packed, int64_t r, int64_t *work, int64_t nw)
{
    while (nw > 0) {
        int64_t t = work[--nw];
        if (F.m[0][t] == 0 || F.m[1][t] == 0 || F.m[2][t] == 0) {
            r = remove_term(F, packed, r, t, work, nw);
            continue;
        }
        if (paired(F, packed, r, query(F, packed, t)) < 2) /* t itself is one */
            continue;
        int64_t a = F.m[0][t], b = F.m[1][t], c = F.m[2][t];
        int64_t sa = F.s[0][t], sb = F.s[1][t], sc = F.s[2][t];
        for (int64_t k = 0; k < r; k++) {
            if (k == t)
                continue;
            int64_t ea = same(F.m[0][k], F.s[0][k], a, sa);
            int64_t eb = same(F.m[1][k], F.s[1][k], b, sb);
            int64_t ec = same(F.m[2][k], F.s[2][k], c, sc);
            /* term k = (ea·a)⊗(eb·b)⊗c_k: adding a⊗b⊗c gives (ea·a)⊗(eb·b)⊗(c_k + ea·eb·c) */
            int f;
            int64_t lam;
            if (ea != 0 && eb != 0) {
                f = 2;
                lam = ea * eb;
            } else if (ea != 0 && ec != 0) {
                f = 1;
                lam = ea * ec;
            } else if (eb != 0 && ec != 0) {
                f = 0;
                lam = eb * ec;
            } else {
                continue;
            }
            int64_t mask, sign;
            if (!add(F.m[f][k], F.s[f][k], F.m[f][t], F.s[f][t], lam, &mask, &sign))
                continue;
            set_factor(F, packed, f, k, mask, sign);
            if (k == r - 1) /* k is the term that remove_term moves into slot t */
                k = t;
            r = remove_term(F, packed, r, t, work, nw);
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

/* Whether terms i and j need settle() after a flip: a zero factor, or a term sharing two
   factors up to sign with one of them (each shares all three with itself, hence pairs > 2). */
static inline int needs_settle(Terms F, int packed, int64_t r, int64_t i, int64_t j)
{
    for (int f = 0; f < 3; f++)
        if (F.m[f][i] == 0 || F.m[f][j] == 0)
            return 1; /* (the numba walk counts the pairs first; it settles either way) */
    Query qi = query(F, packed, i), qj = query(F, packed, j);
    UNPACK(qi);
    UNPACK(qj);
    int64_t pairs = 0;
    if (packed)
        for (int64_t k = 0; k < r; k++)
            pairs += (MATCHES_PACKED(F, k, qi) >> 1) + (MATCHES_PACKED(F, k, qj) >> 1);
    else
        for (int64_t k = 0; k < r; k++)
            pairs += (MATCHES_PLAIN(F, k, qi) >> 1) + (MATCHES_PLAIN(F, k, qj) >> 1);
    return pairs > 2;
}

/* The plus transition on terms i, j with factor s playing 'x' (ternary_py._plus):
   x⊗y⊗z + x'⊗y'⊗z' = (x + αx')⊗y⊗z + x'⊗(−α(y − γy'))⊗z + x'⊗y'⊗(z' − αγz), the new term in
   slot r; skipped when a new factor is zero or not ternary. Returns the rank. */
static int64_t plus(Terms F, int packed, int64_t r, int64_t i, int64_t j, int s, int64_t alpha,
                    int64_t gamma, int64_t *work)
{
    int fx = s, fy = (s + 1) % 3, fz = (s + 2) % 3;
    int64_t *x = F.m[fx], *y = F.m[fy], *z = F.m[fz];
    int64_t *sx = F.s[fx], *sy = F.s[fy], *sz = F.s[fz];
    int64_t m1, s1, m2, s2, m3, s3;
    int ok1 = add(x[i], sx[i], x[j], sx[j], alpha, &m1, &s1);
    int ok2 = add(y[i], sy[i], y[j], sy[j], -gamma, &m2, &s2);
    int ok3 = add(z[j], sz[j], z[i], sz[i], -alpha * gamma, &m3, &s3);
    if (!(ok1 && ok2 && ok3 && m1 != 0 && m2 != 0 && m3 != 0))
        return r;
    if (alpha > 0) /* −α(y − γy') */
        s2 ^= m2;
    set_factor(F, packed, fx, r, x[j], sx[j]);
    set_factor(F, packed, fy, r, m2, s2);
    set_factor(F, packed, fz, r, z[i], sz[i]);
    set_factor(F, packed, fx, i, m1, s1);
    set_factor(F, packed, fz, j, m3, s3);
    work[0] = i;
    work[1] = j;
    work[2] = r;
    return settle(F, packed, r + 1, work, 3);
}

/* The walk (fastmm_tern_walk) with the keys of F if `packed`, else without: inlined twice. */
static inline int64_t walk(Terms F, const int packed, int64_t cap, int64_t *cm, int64_t *st,
                           uint64_t *rng, int64_t steps, int64_t target, int64_t plateau,
                           int64_t plus_limit)
{
    int64_t work[WORK];
    int64_t r = st[0], since = st[1], done = 0;
    while (done < steps && r > target) {
        done++;
        since++;
        int64_t i = rand_below(rng, r);
        Query q = query(F, packed, i);
        UNPACK(q);
        int64_t cnt = 0; /* matches per term, kept for the pick below */
        if (packed)
            for (int64_t k = 0; k < r; k++) {
                int64_t mk = MATCHES_PACKED(F, k, q);
                cm[k] = mk;
                cnt += mk;
            }
        else
            for (int64_t k = 0; k < r; k++) {
                int64_t mk = MATCHES_PLAIN(F, k, q);
                cm[k] = mk;
                cnt += mk;
            }
        cnt -= 3; /* term i matches itself three times */
        if (cnt > 0) {
            cm[i] = 0;
            int64_t pick = rand_below(rng, cnt);
            /* the pick-th match, k ascending then s = 0, 1, 2: whole blocks of 8 first */
            int64_t j = 0;
            for (; j + 8 <= r; j += 8) {
                int64_t m = 0;
                for (int u = 0; u < 8; u++)
                    m += cm[j + u];
                if (pick < m)
                    break;
                pick -= m;
            }
            while (pick >= cm[j]) {
                pick -= cm[j];
                j++;
            }
            int64_t ma = match(F.m[0][j], F.s[0][j], qm0, qs0);
            int64_t mb = match(F.m[1][j], F.s[1][j], qm1, qs1);
            int s = pick < ma ? 0 : pick < ma + mb ? 1 : 2;
            int64_t sigma = same(F.m[s][j], F.s[s][j], q.m[s], q.s[s]);
            int64_t lam = 1 - 2 * rand_below(rng, 2);
            /* flip on the shared factor s, (x, y) the two others: x_i += λσ x_j, y_j −= λ y_i */
            int fx = (s + 1) % 3, fy = (s + 2) % 3;
            int64_t *x = F.m[fx], *sx = F.s[fx], *y = F.m[fy], *sy = F.s[fy];
            int64_t m1, s1, m2, s2;
            int ok1 = add(x[i], sx[i], x[j], sx[j], lam * sigma, &m1, &s1);
            int ok2 = add(y[j], sy[j], y[i], sy[i], -lam, &m2, &s2);
            if (ok1 && ok2) {
                set_factor(F, packed, fx, i, m1, s1);
                set_factor(F, packed, fy, j, m2, s2);
                int64_t r2 = r;
                if (needs_settle(F, packed, r, i, j)) {
                    work[0] = j;
                    work[1] = i;
                    r2 = settle(F, packed, r, work, 2);
                }
                if (r2 < r)
                    since = 0;
                r = r2;
            }
        }
        if (since >= plateau) {
            since = 0;
            if (r >= 2 && r < plus_limit) {
                int64_t pi = rand_below(rng, r);
                int64_t pj = rand_below(rng, r - 1);
                if (pj >= pi)
                    pj++;
                int ps = (int)rand_below(rng, 3);
                int64_t alpha = 1 - 2 * rand_below(rng, 2);
                int64_t gamma = 1 - 2 * rand_below(rng, 2);
                if (r < cap)
                    r = plus(F, packed, r, pi, pj, ps, alpha, gamma, work);
            }
        }
    }
    st[0] = r;
    st[1] = since;
    return done;
}

/* Whether every mask of the first r terms fits 32 bits (then so do all the walk makes). */
static int fits32(Terms F, int64_t r)
{
    int64_t all = 0;
    for (int f = 0; f < 3; f++)
        for (int64_t t = 0; t < r; t++)
            all |= F.m[f][t];
    return (uint64_t)all < (1ULL << 32);
}

/* ternary_kernels.walk: up to `steps` steps, stopping once the rank is <= target; returns the
   steps done and updates the six arrays, st and rng in place. The arrays hold `cap` slots
   (cap >= plus_limit + 1; a plus transition that would not fit is skipped, where numba's would
   write past the end); cm is scratch of `cap` entries (the matches per term of a step). The
   keys live for one call: 3·cap more entries, from malloc (without them the walk compares
   masks and signs). */
TERN_CLONES
int64_t fastmm_tern_walk(int64_t *A, int64_t *B, int64_t *C, int64_t *SA, int64_t *SB,
                         int64_t *SC, int64_t cap, int64_t *cm, int64_t *st, uint64_t *rng,
                         int64_t steps, int64_t target, int64_t plateau, int64_t plus_limit)
{
    Terms F = {{A, B, C}, {SA, SB, SC}, {NULL, NULL, NULL}};
    int64_t r = st[0];
    int64_t *keys = fits32(F, r) ? malloc(3 * (size_t)cap * sizeof(int64_t)) : NULL;
    if (keys == NULL)
        return walk(F, 0, cap, cm, st, rng, steps, target, plateau, plus_limit);
    for (int f = 0; f < 3; f++) {
        F.k[f] = keys + f * cap;
        for (int64_t t = 0; t < r; t++)
            F.k[f][t] = key(F.m[f][t], F.s[f][t]);
    }
    int64_t done = walk(F, 1, cap, cm, st, rng, steps, target, plateau, plus_limit);
    free(keys);
    return done;
}

/* settle() on its own, for tests: the reductions reachable from the terms in work[0..nw) of the
   first r terms, as ternary_kernels._settle (masks and signs compared, no keys); returns the new
   rank. work is scratch (each pop makes room for the one push that may follow it). */
int64_t fastmm_tern_settle(int64_t *A, int64_t *B, int64_t *C, int64_t *SA, int64_t *SB,
                           int64_t *SC, int64_t r, int64_t *work, int64_t nw)
{
    Terms F = {{A, B, C}, {SA, SB, SC}, {NULL, NULL, NULL}};
    return settle(F, 0, r, work, nw);
}
