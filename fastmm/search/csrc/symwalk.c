/* The symmetric GF(2) flip-graph walks of fastmm/search/symmetric_kernels.py (numba, and plain
   Python through .py_func) in C, step for step the same: same data, same splitmix64 draws, same
   results. See symmetric_kernels.py for the walk and its layout. ORBIT, the terms per orbit, is
   3 (the C3 rotation, `--symmetry c3`) or 6 (C3 × X -> JXJ, `--symmetry c3j`); fastmm.search.flip_c
   prepends `#define ORBIT 3` or `6` and builds one library for each.

   F is int64 [3][cap], row-major: F[pos*cap + t] is factor pos of term t; orbit o owns the
   term slots ORBIT*o .. ORBIT*o + ORBIT-1 (slot ORBIT*o+q holds rot^q of the orbit's
   representative; with ORBIT 6, slot 6o+3+q holds rot^q of its image J(rep), J reversing a
   factor's bits). E holds the cubes walks create; st = {orbits k, walk-made cubes, flips since
   the rank last changed, lowest rank seen, bits n*n}; rng = {splitmix64 state}. Hand-written
   and independent of any scheme; flip_c compiles it once per compiler into the user's cache and
   calls it through ctypes.

   Two scans differ from the numba code in form, not in result: settle() first counts, branch
   free, the terms that share two factors with an orbit (usually none, and then the ordered scan
   is skipped: half the time of a step), and the partner of a flip is found by skipping blocks of
   terms by their counts. Both find the same terms in the same order. rev() reverses the bits
   with word operations instead of a loop over them: the same value for every input. */
/* splitmix.h (stdint.h, the splitmix64 constants, eq, rand_below) is prepended by flip_c. */

#if !defined(ORBIT) || (ORBIT != 3 && ORBIT != 6)
#error "define ORBIT as 3 or 6"
#endif

/* Built for AVX2 and for any x86-64, the loader picks one for the CPU (an ifunc, hence glibc
   only). `flatten` inlines every helper into each clone: the scans below sit in helpers, and
   built for plain x86-64 they made the walk 3x slower. */
#if defined(__has_attribute) && defined(__x86_64__) && defined(__GLIBC__)
#if __has_attribute(target_clones) && __has_attribute(flatten)
#define SYM_CLONES __attribute__((target_clones("avx2", "default"), flatten))
#endif
#endif
#ifndef SYM_CLONES
#define SYM_CLONES
#endif

#define WORK 8 /* orbits pending at once: at most 3 start, each pops one and pushes one */
#define TRIES 256 /* draws of (term, position) per step before giving up on a flip */

/* The three factor rows of F. */
typedef struct {
    int64_t *f[3];
} Rows;

/* symmetric_kernels.rev: J·x·J of a row-major bit matrix with `bits` entries, its low `bits`
   bits reversed (bits above them dropped, as the loop there drops them). */
static inline int64_t rev(int64_t x, int64_t bits)
{
    if (bits <= 0)
        return 0;
    uint64_t v = (uint64_t)x;
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
    v = (v >> 32) | (v << 32);
    if (bits >= 64)
        return (int64_t)v;
    return (int64_t)(v >> (64 - bits)); /* bit b < bits lands on bits-1-b; the rest fall off */
}

/* symmetric_kernels.set_orbit: rebuild the slots of term t's orbit from term t. */
static inline void set_orbit(Rows F, int64_t t, int64_t bits)
{
    int64_t o = t / ORBIT, s = t % ORBIT, q0 = s % 3;
    int64_t rep[3] = {F.f[q0][t], F.f[(1 + q0) % 3][t], F.f[(2 + q0) % 3][t]};
#if ORBIT == 6
    if (s >= 3) /* slot t holds a rotation of J(rep) */
        for (int w = 0; w < 3; w++)
            rep[w] = rev(rep[w], bits);
    int64_t img[3] = {rev(rep[0], bits), rev(rep[1], bits), rev(rep[2], bits)};
#else
    (void)bits;
#endif
    for (int64_t q = 0; q < 3; q++) /* factor pos of slot ORBIT*o+q is rep[(pos - q) % 3] */
        for (int64_t pos = 0; pos < 3; pos++) {
            int64_t w = (pos - q + 3) % 3;
            F.f[pos][ORBIT * o + q] = rep[w];
#if ORBIT == 6
            F.f[pos][ORBIT * o + q + 3] = img[w];
#endif
        }
}

/* symmetric_kernels._remove_orbit: move the last orbit into orbit o's slots; fix `work`. */
static int64_t remove_orbit(Rows F, int64_t k, int64_t o, int64_t *work, int64_t nw)
{
    k -= 1;
    for (int64_t q = 0; q < ORBIT; q++)
        for (int64_t pos = 0; pos < 3; pos++) {
            F.f[pos][ORBIT * o + q] = F.f[pos][ORBIT * k + q];
            F.f[pos][ORBIT * k + q] = 0;
        }
    for (int64_t w = 0; w < nw; w++) {
        if (work[w] == k)
            work[w] = o;
        else if (work[w] == o)
            work[w] = -1;
    }
    return k;
}

/* symmetric_kernels._add_cube: a walk-made cube x⊗x⊗x; two equal cubes cancel modulo 2. */
static void add_cube(int64_t *E, int64_t *st, int64_t x)
{
    for (int64_t e = 0; e < st[1]; e++)
        if (E[e] == x) {
            st[1] -= 1;
            E[e] = E[st[1]];
            return;
        }
    E[st[1]] = x;
    st[1] += 1;
}

/* Whether some term of another orbit than t's (t = ORBIT*o) shares two factors with term t. One
   branch-free pass over all nt terms, less the pairs within t's own orbit: usually there is
   none, and the ordered scan in settle() only runs when there is. */
static inline int64_t any_pair(Rows F, int64_t nt, int64_t t)
{
    const int64_t *x = F.f[0], *y = F.f[1], *z = F.f[2];
    int64_t a = x[t], b = y[t], c = z[t];
    int64_t pairs = 0;
    for (int64_t u = 0; u < nt; u++)
        pairs += (eq(x[u], a) + eq(y[u], b) + eq(z[u], c)) >> 1;
    for (int64_t u = t; u < t + ORBIT; u++)
        pairs -= (eq(x[u], a) + eq(y[u], b) + eq(z[u], c)) >> 1;
    return pairs;
}

/* symmetric_kernels._settle: reductions of the orbits in work[0..nw) and of what they merge
   with. Returns the number of orbits (also stored in st[0]). */
static int64_t settle(Rows F, int64_t *E, int64_t *st, int64_t *work, int64_t nw)
{
    int64_t k = st[0], bits = st[4];
    while (nw > 0) {
        int64_t o = work[--nw];
        if (o < 0 || o >= k)
            continue;
        int64_t t = ORBIT * o;
        if (F.f[0][t] == 0 || F.f[1][t] == 0 || F.f[2][t] == 0) {
            k = remove_orbit(F, k, o, work, nw);
            continue;
        }
#if ORBIT == 6
        if (F.f[0][t] == F.f[0][t + 3] && F.f[1][t] == F.f[1][t + 3] && F.f[2][t] == F.f[2][t + 3]) {
            k = remove_orbit(F, k, o, work, nw); /* J-invariant: every term twice */
            continue;
        }
#endif
        if (F.f[0][t] == F.f[1][t] && F.f[1][t] == F.f[2][t]) {
            add_cube(E, st, F.f[0][t]);
#if ORBIT == 6
            add_cube(E, st, F.f[0][t + 3]); /* J(x); x = J(x) cancels the first */
#endif
            k = remove_orbit(F, k, o, work, nw);
            continue;
        }
        if (!any_pair(F, ORBIT * k, t))
            continue;
        /* the first term u (ascending), then position p, sharing factors p and p+1 with t */
        int merged = 0;
        for (int64_t u = 0; u < ORBIT * k && !merged; u++) {
            if (u / ORBIT == o)
                continue;
            for (int64_t p = 0; p < 3; p++) {
                int64_t q = (p + 1) % 3, s = (p + 2) % 3;
                if (F.f[p][t] == F.f[p][u] && F.f[q][t] == F.f[q][u]) {
                    F.f[s][t] ^= F.f[s][u];
                    set_orbit(F, t, bits);
                    work[nw++] = o;
                    k = remove_orbit(F, k, u / ORBIT, work, nw);
                    merged = 1;
                    break;
                }
            }
        }
    }
    st[0] = k;
    return k;
}

/* Terms of row `row` (first nt) equal to f: a branch-free count that vectorizes. */
static inline int64_t count_equal(const int64_t *row, int64_t nt, int64_t f)
{
    int64_t cnt = 0;
    for (int64_t u = 0; u < nt; u++)
        cnt += eq(row[u], f);
    return cnt;
}

/* The pick-th term (ascending) outside orbit oi whose factor in `row` is f; there are more
   than `pick`. Whole blocks of 8 are skipped by their branch-free counts, with orbit oi's
   entries set to ~f (never f) meanwhile. */
static inline int64_t nth_partner(int64_t *row, int64_t nt, int64_t f, int64_t oi, int64_t pick)
{
    int64_t *own = row + ORBIT * oi;
    int64_t kept[ORBIT];
    for (int w = 0; w < ORBIT; w++) {
        kept[w] = own[w];
        own[w] = ~f;
    }
    int64_t u = 0;
    for (; u + 8 <= nt; u += 8) {
        int64_t m = count_equal(row + u, 8, f);
        if (pick < m)
            break;
        pick -= m;
    }
    while (row[u] != f || pick-- > 0)
        u++;
    for (int w = 0; w < ORBIT; w++)
        own[w] = kept[w];
    return u;
}

/* symmetric_kernels._step: one flip (or an idle step); returns the number of orbits after. */
static int64_t step(Rows F, int64_t *E, int64_t *st, uint64_t *rng, int64_t *work)
{
    int64_t k = st[0], nt = ORBIT * k, bits = st[4];
    if (k < 2)
        return k;
    int64_t i = 0, p = 0, f = 0, oi = 0, cnt = 0;
    /* draw (term, position) until a term of another orbit shares that factor */
    for (int tries = 0; tries < TRIES; tries++) {
        i = rand_below(rng, nt);
        p = rand_below(rng, 3);
        const int64_t *row = F.f[p];
        f = row[i];
        oi = i / ORBIT;
        const int64_t *own = row + ORBIT * oi;
        cnt = count_equal(row, nt, f);
        for (int w = 0; w < ORBIT; w++)
            cnt -= eq(own[w], f);
        if (cnt > 0)
            break;
    }
    if (cnt == 0)
        return k;
    int64_t j = nth_partner(F.f[p], nt, f, oi, rand_below(rng, cnt));
    int64_t q = (p + 1 + rand_below(rng, 2)) % 3, s = 3 - p - q;
    F.f[q][i] ^= F.f[q][j];
    F.f[s][j] ^= F.f[s][i];
    set_orbit(F, i, bits);
    set_orbit(F, j, bits);
    work[0] = oi;
    work[1] = j / ORBIT;
    return settle(F, E, st, work, 2);
}

/* symmetric_kernels._plus: two terms of different orbits become three (rank + ORBIT). */
static int64_t plus(Rows F, int64_t *E, int64_t *st, uint64_t *rng, int64_t *work)
{
    int64_t k = st[0], bits = st[4];
    if (k < 2)
        return k;
    int64_t nt = ORBIT * k;
    int64_t i = rand_below(rng, nt);
    int64_t j = rand_below(rng, nt);
    if (i / ORBIT == j / ORBIT)
        return k;
    int64_t p = rand_below(rng, 3), q = (p + 1) % 3, s = (p + 2) % 3;
    int64_t *x = F.f[p], *y = F.f[q], *z = F.f[s];
    if (x[i] == x[j] || y[i] == y[j] || z[i] == z[j])
        return k;
    int64_t added = ORBIT * k + i % ORBIT; /* term i%ORBIT of the new orbit k */
    x[added] = x[j];
    y[added] = y[i] ^ y[j];
    z[added] = z[i];
    x[i] ^= x[j];
    z[j] ^= z[i];
    k += 1;
    st[0] = k;
    set_orbit(F, i, bits);
    set_orbit(F, j, bits);
    set_orbit(F, added, bits);
    work[0] = i / ORBIT;
    work[1] = j / ORBIT;
    work[2] = added / ORBIT;
    return settle(F, E, st, work, 3);
}

/* symmetric_kernels.walk: up to `steps` steps, stopping once the rank (ncubes + st[1] +
   ORBIT st[0]) is <= target; returns the steps taken and updates F, E, st, rng in place. F has
   `cap` term slots per factor row; E room for every cube a walk can make. */
SYM_CLONES
int64_t fastmm_sym_walk(int64_t *F, int64_t cap, int64_t *E, int64_t *st, uint64_t *rng,
                         int64_t steps, int64_t target, int64_t plateau, int64_t plus_limit,
                         int64_t ncubes)
{
    Rows R = {{F, F + cap, F + 2 * cap}};
    int64_t work[WORK] = {0};
    for (int64_t done = 0; done < steps; done++) {
        int64_t rank = ncubes + st[1] + ORBIT * st[0];
        if (rank <= target)
            return done;
        step(R, E, st, rng, work);
        int64_t after = ncubes + st[1] + ORBIT * st[0];
        if (after < st[3])
            st[3] = after;
        if (after != rank)
            st[2] = 0;
        else
            st[2] += 1;
        if (st[2] > plateau && after + ORBIT <= plus_limit && ORBIT * (st[0] + 1) <= cap) {
            plus(R, E, st, rng, work);
            st[2] = 0;
        }
    }
    return steps;
}

/* settle() on its own, for tests: the reductions of the orbits in work[0..nw) of F (`cap` term
   slots per factor row), as symmetric_kernels._settle; returns the number of orbits after. */
int64_t fastmm_sym_settle(int64_t *F, int64_t cap, int64_t *E, int64_t *st, int64_t *work,
                           int64_t nw)
{
    Rows R = {{F, F + cap, F + 2 * cap}};
    return settle(R, E, st, work, nw);
}
