/* The C3-symmetric GF(2) flip-graph walk of fastmm/search/symmetric_kernels.py (numba, and
   plain Python through .py_func) in C, step for step the same: same data, same splitmix64
   draws, same results. See symmetric_kernels.py for the walk and its layout.

   F is int64 [3][cap], row-major: F[pos*cap + t] is factor pos of term t; orbit o owns the
   term slots 3o, 3o+1, 3o+2 (slot 3o+s holds rot^s of the orbit's representative). E holds
   the cubes walks create; st = {orbits k, extra cubes, flips since the rank last changed,
   lowest rank seen}; rng = {splitmix64 state}. Hand-written and independent of any scheme;
   fastmm.search.flip_c compiles it once per compiler into the user's cache and calls it
   through ctypes.

   Two scans differ from the numba code in form, not in result: settle() first counts, branch
   free, the terms that share two factors with an orbit (usually none, and then the ordered
   scan is skipped: half the time of a step), and the partner of a flip is found by skipping
   blocks of terms by their counts. Both find the same terms in the same order. */
/* splitmix.h (stdint.h, the splitmix64 constants, eq, rand_below) is prepended by flip_c. */

/* As in flipwalk.c: built for AVX2 and for any x86-64, the loader picks one for the CPU (an
   ifunc, hence glibc only). `flatten` inlines every helper into each clone: the scans below
   sit in helpers, and built for plain x86-64 they made the walk 3x slower. */
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

/* symmetric_kernels.set_orbit: rebuild the three slots of term t's orbit from term t. */
static inline void set_orbit(Rows F, int64_t t)
{
    int64_t o = t / 3, s = t % 3;
    int64_t rep[3] = {F.f[s][t], F.f[(1 + s) % 3][t], F.f[(2 + s) % 3][t]};
    for (int64_t q = 0; q < 3; q++) /* factor pos of slot 3o+q is rep[(pos - q) % 3] */
        for (int64_t pos = 0; pos < 3; pos++)
            F.f[pos][3 * o + q] = rep[(pos - q + 3) % 3];
}

/* symmetric_kernels._remove_orbit: move the last orbit into orbit o's slots; fix `work`. */
static int64_t remove_orbit(Rows F, int64_t k, int64_t o, int64_t *work, int64_t nw)
{
    k -= 1;
    for (int64_t q = 0; q < 3; q++)
        for (int64_t pos = 0; pos < 3; pos++) {
            F.f[pos][3 * o + q] = F.f[pos][3 * k + q];
            F.f[pos][3 * k + q] = 0;
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

/* Whether some term of another orbit than t's (t = 3o) shares two factors with term t. One
   branch-free pass over all nt terms, less the pairs within t's own orbit: usually there is
   none, and the ordered scan in settle() only runs when there is. */
static inline int64_t any_pair(Rows F, int64_t nt, int64_t t)
{
    const int64_t *x = F.f[0], *y = F.f[1], *z = F.f[2];
    int64_t a = x[t], b = y[t], c = z[t];
    int64_t pairs = 0;
    for (int64_t u = 0; u < nt; u++)
        pairs += (eq(x[u], a) + eq(y[u], b) + eq(z[u], c)) >> 1;
    for (int64_t u = t; u < t + 3; u++)
        pairs -= (eq(x[u], a) + eq(y[u], b) + eq(z[u], c)) >> 1;
    return pairs;
}

/* symmetric_kernels._settle: reductions of the orbits in work[0..nw) and of what they merge
   with. Returns the number of orbits (also stored in st[0]). */
static int64_t settle(Rows F, int64_t *E, int64_t *st, int64_t *work, int64_t nw)
{
    int64_t k = st[0];
    while (nw > 0) {
        int64_t o = work[--nw];
        if (o < 0 || o >= k)
            continue;
        int64_t t = 3 * o;
        if (F.f[0][t] == 0 || F.f[1][t] == 0 || F.f[2][t] == 0) {
            k = remove_orbit(F, k, o, work, nw);
            continue;
        }
        if (F.f[0][t] == F.f[1][t] && F.f[1][t] == F.f[2][t]) {
            add_cube(E, st, F.f[0][t]);
            k = remove_orbit(F, k, o, work, nw);
            continue;
        }
        if (!any_pair(F, 3 * k, t))
            continue;
        /* the first term u (ascending), then position p, sharing factors p and p+1 with t */
        int merged = 0;
        for (int64_t u = 0; u < 3 * k && !merged; u++) {
            if (u / 3 == o)
                continue;
            for (int64_t p = 0; p < 3; p++) {
                int64_t q = (p + 1) % 3, s = (p + 2) % 3;
                if (F.f[p][t] == F.f[p][u] && F.f[q][t] == F.f[q][u]) {
                    F.f[s][t] ^= F.f[s][u];
                    set_orbit(F, t);
                    work[nw++] = o;
                    k = remove_orbit(F, k, u / 3, work, nw);
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
    int64_t *own = row + 3 * oi;
    int64_t kept[3] = {own[0], own[1], own[2]};
    own[0] = own[1] = own[2] = ~f;
    int64_t u = 0;
    for (; u + 8 <= nt; u += 8) {
        int64_t m = count_equal(row + u, 8, f);
        if (pick < m)
            break;
        pick -= m;
    }
    while (row[u] != f || pick-- > 0)
        u++;
    own[0] = kept[0];
    own[1] = kept[1];
    own[2] = kept[2];
    return u;
}

/* symmetric_kernels._step: one flip (or an idle step); returns the number of orbits after. */
static int64_t step(Rows F, int64_t *E, int64_t *st, uint64_t *rng, int64_t *work)
{
    int64_t k = st[0], nt = 3 * k;
    if (k < 2)
        return k;
    int64_t i = 0, p = 0, f = 0, oi = 0, cnt = 0;
    /* draw (term, position) until a term of another orbit shares that factor */
    for (int tries = 0; tries < TRIES; tries++) {
        i = rand_below(rng, nt);
        p = rand_below(rng, 3);
        const int64_t *row = F.f[p];
        f = row[i];
        oi = i / 3;
        cnt = count_equal(row, nt, f) - eq(row[3 * oi], f) - eq(row[3 * oi + 1], f)
              - eq(row[3 * oi + 2], f);
        if (cnt > 0)
            break;
    }
    if (cnt == 0)
        return k;
    int64_t j = nth_partner(F.f[p], nt, f, oi, rand_below(rng, cnt));
    int64_t q = (p + 1 + rand_below(rng, 2)) % 3, s = 3 - p - q;
    F.f[q][i] ^= F.f[q][j];
    F.f[s][j] ^= F.f[s][i];
    set_orbit(F, i);
    set_orbit(F, j);
    work[0] = oi;
    work[1] = j / 3;
    return settle(F, E, st, work, 2);
}

/* symmetric_kernels._plus: two terms of different orbits become three (rank + 3). */
static int64_t plus(Rows F, int64_t *E, int64_t *st, uint64_t *rng, int64_t *work)
{
    int64_t k = st[0];
    if (k < 2)
        return k;
    int64_t nt = 3 * k;
    int64_t i = rand_below(rng, nt);
    int64_t j = rand_below(rng, nt);
    if (i / 3 == j / 3)
        return k;
    int64_t p = rand_below(rng, 3), q = (p + 1) % 3, s = (p + 2) % 3;
    int64_t *x = F.f[p], *y = F.f[q], *z = F.f[s];
    if (x[i] == x[j] || y[i] == y[j] || z[i] == z[j])
        return k;
    int64_t added = 3 * k + i % 3; /* term i%3 of the new orbit k */
    x[added] = x[j];
    y[added] = y[i] ^ y[j];
    z[added] = z[i];
    x[i] ^= x[j];
    z[j] ^= z[i];
    k += 1;
    st[0] = k;
    set_orbit(F, i);
    set_orbit(F, j);
    set_orbit(F, added);
    work[0] = i / 3;
    work[1] = j / 3;
    work[2] = added / 3;
    return settle(F, E, st, work, 3);
}

/* symmetric_kernels.walk: up to `steps` steps, stopping once the rank (ncubes + st[1] +
   3 st[0]) is <= target; returns the steps taken and updates F, E, st, rng in place. F has
   `cap` term slots per factor row; E room for every cube a walk can make. */
SYM_CLONES
int64_t fastmm_sym_walk(int64_t *F, int64_t cap, int64_t *E, int64_t *st, uint64_t *rng,
                        int64_t steps, int64_t target, int64_t plateau, int64_t plus_limit,
                        int64_t ncubes)
{
    Rows R = {{F, F + cap, F + 2 * cap}};
    int64_t work[WORK] = {0};
    for (int64_t done = 0; done < steps; done++) {
        int64_t rank = ncubes + st[1] + 3 * st[0];
        if (rank <= target)
            return done;
        step(R, E, st, rng, work);
        int64_t after = ncubes + st[1] + 3 * st[0];
        if (after < st[3])
            st[3] = after;
        if (after != rank)
            st[2] = 0;
        else
            st[2] += 1;
        if (st[2] > plateau && after + 3 <= plus_limit && 3 * (st[0] + 1) <= cap) {
            plus(R, E, st, rng, work);
            st[2] = 0;
        }
    }
    return steps;
}
