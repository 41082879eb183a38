/* fastmm runtime: threads, workspace, streaming stores, the BLAS and the recursion driver
   shared by every generated scheme (see fastmm_runtime.h). Hand-written C; fastmm.export.build
   compiles it once per compiler and BLAS integer type and links it into each scheme's library. */
#include "fastmm_runtime.h"

#include <stdlib.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

/* Threads for the block additions: the fused passes split their rows between up to
   fastmm_threads threads (0: one per online CPU) for blocks of at least
   fastmm_parallel_min bytes. Plain pthreads that are joined, never spinning, so they
   do not fight the BLAS threads, which are idle while the additions run. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(FASTMM_NO_THREADS)
#include <pthread.h>
#include <unistd.h>
#define FASTMM_HAVE_THREADS 1
#else
#define FASTMM_HAVE_THREADS 0
#endif
#define FASTMM_MAX_THREADS 64
#ifndef FASTMM_PARALLEL_MIN
#define FASTMM_PARALLEL_MIN ((size_t)4 << 20)
#endif
#ifndef FASTMM_STREAM_MIN
#define FASTMM_STREAM_MIN ((size_t)16 << 20)
#endif

static int fastmm_threads;
static size_t fastmm_parallel_min = FASTMM_PARALLEL_MIN;
static size_t fastmm_stream_min = FASTMM_STREAM_MIN;

void fastmm_set_threads(int n)
{
    fastmm_threads = n > 0 ? n : 0;
}

void fastmm_set_parallel_min(size_t bytes)
{
    fastmm_parallel_min = bytes;
}

void fastmm_set_stream_min(size_t bytes)
{
    fastmm_stream_min = bytes;
}

/* ---- the BLAS ------------------------------------------------------------------------ */

#define FASTMM_ROW_MAJOR 101
#define FASTMM_NO_TRANS 111
typedef void (*fastmm_dgemm_fn)(int, int, int, fastmm_blas_int, fastmm_blas_int,
                                fastmm_blas_int, double, const double *, fastmm_blas_int,
                                const double *, fastmm_blas_int, double, double *,
                                fastmm_blas_int);
typedef void (*fastmm_sgemm_fn)(int, int, int, fastmm_blas_int, fastmm_blas_int,
                                fastmm_blas_int, float, const float *, fastmm_blas_int,
                                const float *, fastmm_blas_int, float, float *, fastmm_blas_int);
static fastmm_dgemm_fn blas_dgemm;
static fastmm_sgemm_fn blas_sgemm;

int fastmm_set_blas(void *dgemm, void *sgemm)
{
    blas_dgemm = (fastmm_dgemm_fn)dgemm;
    blas_sgemm = (fastmm_sgemm_fn)sgemm;
    return 0;
}

/* C = alpha*A*B + beta*C through the BLAS, row-major, no transposes. */
static void fastmm_dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                         int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                         int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    blas_dgemm(FASTMM_ROW_MAJOR, FASTMM_NO_TRANS, FASTMM_NO_TRANS, (fastmm_blas_int)M,
               (fastmm_blas_int)N, (fastmm_blas_int)K, alpha, A, (fastmm_blas_int)lda, B,
               (fastmm_blas_int)ldb, beta, C, (fastmm_blas_int)ldc);
}

static void fastmm_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                         int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    blas_sgemm(FASTMM_ROW_MAJOR, FASTMM_NO_TRANS, FASTMM_NO_TRANS, (fastmm_blas_int)M,
               (fastmm_blas_int)N, (fastmm_blas_int)K, alpha, A, (fastmm_blas_int)lda, B,
               (fastmm_blas_int)ldb, beta, C, (fastmm_blas_int)ldc);
}

/* ---- workspace ----------------------------------------------------------------------- */

/* 2 MiB-aligned (and huge pages asked for) from 4 MiB up, 64-byte aligned below. */
static void *fastmm_alloc(size_t bytes)
{
    const size_t align = bytes >= ((size_t)1 << 22) ? ((size_t)1 << 21) : 64;
    const size_t rounded = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, rounded ? rounded : align);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && align > 64) madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

/* One workspace kept between calls (first-touch page faults are paid once); a
   concurrent caller that finds it busy gets a private allocation instead. */
static void *ws_ptr;
static size_t ws_bytes;
static char ws_busy;

static void *fastmm_workspace(size_t bytes, int *owned)
{
    if (!__atomic_test_and_set(&ws_busy, __ATOMIC_ACQUIRE)) {
        if (ws_bytes < bytes) {
            free(ws_ptr);
            ws_ptr = fastmm_alloc(bytes);
            ws_bytes = ws_ptr ? bytes : 0;
        }
        if (ws_ptr) {
            *owned = 0;
            return ws_ptr;
        }
        __atomic_clear(&ws_busy, __ATOMIC_RELEASE);
    }
    *owned = 1;
    return fastmm_alloc(bytes);
}

static void fastmm_workspace_done(void *p, int owned)
{
    if (owned)
        free(p);
    else
        __atomic_clear(&ws_busy, __ATOMIC_RELEASE);
}

int fastmm_release_workspace(void)
{
    if (__atomic_test_and_set(&ws_busy, __ATOMIC_ACQUIRE)) return -1;
    free(ws_ptr);
    ws_ptr = NULL;
    ws_bytes = 0;
    __atomic_clear(&ws_busy, __ATOMIC_RELEASE);
    return 0;
}

/* ---- passes over rows, split between threads ------------------------------------------ */

static int fastmm_thread_count(void)
{
    long n = fastmm_threads;
#if FASTMM_HAVE_THREADS
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (n < 1) n = 1;
    return n > FASTMM_MAX_THREADS ? FASTMM_MAX_THREADS : (int)n;
}

/* Runs fn over `rows` rows, split between threads when the blocks are big; a thread
   that cannot be started leaves its rows to the caller. */
static void fastmm_run(fastmm_pass_fn fn, const void *io, int64_t rows, size_t bytes)
{
    int nth = bytes >= fastmm_parallel_min ? fastmm_thread_count() : 1;
    if (nth > rows) nth = rows > 0 ? (int)rows : 1;
    fastmm_part part[FASTMM_MAX_THREADS];
    for (int k = 0; k < nth; k++) {
        part[k].io = io;
        part[k].row0 = rows * k / nth;
        part[k].row1 = rows * (k + 1) / nth;
    }
#if FASTMM_HAVE_THREADS
    pthread_t tid[FASTMM_MAX_THREADS];
    int started[FASTMM_MAX_THREADS];
    for (int k = 1; k < nth; k++)
        started[k] = pthread_create(&tid[k], NULL, fn, &part[k]) == 0;
    fn(&part[0]);
    for (int k = 1; k < nth; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            fn(&part[k]);
    }
#else
    for (int k = 0; k < nth; k++) fn(&part[k]);
#endif
}

void fastmm_pass_d(fastmm_pass_fn fn, fastmm_io_d *io, int64_t rows)
{
    const size_t bytes = (size_t)rows * (size_t)io->cols * sizeof(double);
    io->stream = bytes >= fastmm_stream_min;
    fastmm_run(fn, io, rows, bytes);
}

void fastmm_pass_s(fastmm_pass_fn fn, fastmm_io_s *io, int64_t rows)
{
    const size_t bytes = (size_t)rows * (size_t)io->cols * sizeof(float);
    io->stream = bytes >= fastmm_stream_min;
    fastmm_run(fn, io, rows, bytes);
}

/* ---- the recursion (double) ------------------------------------------------------------ */

/* Workspace (elements) of one level's temporaries; regions are 64-byte aligned. */
static size_t fastmm_own(int64_t a_temps, int64_t b_temps, int64_t products, int64_t bm,
                         int64_t bk, int64_t bn)
{
    return (size_t)a_temps * fastmm_round((size_t)bm * (size_t)bk)
         + (size_t)b_temps * fastmm_round((size_t)bk * (size_t)bn)
         + (size_t)products * fastmm_round((size_t)bm * (size_t)bn);
}

/* Workspace of a whole recursion: this level's plus one child's (children run in turn). */
static size_t fastmm_need(int64_t n, int64_t m, int64_t p, int64_t a_temps, int64_t b_temps,
                          int64_t products, int64_t M, int64_t K, int64_t N, int levels,
                          int64_t cutoff)
{
    const int64_t bm = M / n, bk = K / m, bn = N / p;
    if (M <= 0 || N <= 0 || K <= 0 || levels <= 0 || bm < cutoff || bk < cutoff || bn < cutoff)
        return 0;
    return fastmm_own(a_temps, b_temps, products, bm, bk, bn)
         + fastmm_need(n, m, p, a_temps, b_temps, products, bm, bk, bn, levels - 1, cutoff);
}

void fastmm_rec_d(const fastmm_scheme_d *s, int64_t M, int64_t K, int64_t N, double alpha,
                  const double *A, int64_t lda, const double *B, int64_t ldb, double *C,
                  int64_t ldc, int levels, int64_t cutoff, double *work)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0.0;
        return;
    }
    const int64_t bm = M / s->n, bk = K / s->m, bn = N / s->p;
    if (levels <= 0 || bm < cutoff || bk < cutoff || bn < cutoff) {
        fastmm_dgemm(M, N, K, alpha, A, lda, B, ldb, 0.0, C, ldc);
        return;
    }
    const int64_t M0 = s->n * bm, K0 = s->m * bk, N0 = s->p * bn;
    s->level(s, bm, bk, bn, alpha, A, lda, B, ldb, C, ldc, levels - 1, cutoff, work);
    /* peeling: the leftover inner strip, right strip and bottom strip */
    if (K0 < K)
        fastmm_dgemm(M0, N0, K - K0, alpha, A + K0, lda, B + K0 * ldb, ldb, 1.0, C, ldc);
    if (N0 < N)
        fastmm_dgemm(M0, N - N0, K, alpha, A, lda, B + N0, ldb, 0.0, C + N0, ldc);
    if (M0 < M)
        fastmm_dgemm(M - M0, N, K, alpha, A + M0 * lda, lda, B, ldb, 0.0, C + M0 * ldc, ldc);
}

int fastmm_drive_d(const fastmm_scheme_d *s, int64_t M, int64_t K, int64_t N, double alpha,
                   const double *A, int64_t lda, const double *B, int64_t ldb, double *C,
                   int64_t ldc, int levels, int64_t cutoff)
{
    if (!blas_dgemm) return -2; /* fastmm_set_blas was not called */
    if (cutoff < 1) cutoff = 1;
    if (s->n == 1 && s->m == 1 && s->p == 1 && levels > 1)
        levels = 1; /* a <1,1,1> level never makes a block smaller: more would only recurse */
    const size_t elems = fastmm_need(s->n, s->m, s->p, s->a_temps, s->b_temps, s->products,
                                     M, K, N, levels, cutoff);
    int owned = 0;
    double *work = NULL;
    if (elems) {
        work = (double *)fastmm_workspace(elems * sizeof(double), &owned);
        if (!work) return -1;
    }
    fastmm_rec_d(s, M, K, N, alpha, A, lda, B, ldb, C, ldc, levels, cutoff, work);
    if (elems) fastmm_workspace_done(work, owned);
    return 0;
}

/* ---- the recursion (float): the same, line for line ----------------------------------- */

void fastmm_rec_s(const fastmm_scheme_s *s, int64_t M, int64_t K, int64_t N, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                  int64_t ldc, int levels, int64_t cutoff, float *work)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0.0f;
        return;
    }
    const int64_t bm = M / s->n, bk = K / s->m, bn = N / s->p;
    if (levels <= 0 || bm < cutoff || bk < cutoff || bn < cutoff) {
        fastmm_sgemm(M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc);
        return;
    }
    const int64_t M0 = s->n * bm, K0 = s->m * bk, N0 = s->p * bn;
    s->level(s, bm, bk, bn, alpha, A, lda, B, ldb, C, ldc, levels - 1, cutoff, work);
    if (K0 < K)
        fastmm_sgemm(M0, N0, K - K0, alpha, A + K0, lda, B + K0 * ldb, ldb, 1.0f, C, ldc);
    if (N0 < N)
        fastmm_sgemm(M0, N - N0, K, alpha, A, lda, B + N0, ldb, 0.0f, C + N0, ldc);
    if (M0 < M)
        fastmm_sgemm(M - M0, N, K, alpha, A + M0 * lda, lda, B, ldb, 0.0f, C + M0 * ldc, ldc);
}

int fastmm_drive_s(const fastmm_scheme_s *s, int64_t M, int64_t K, int64_t N, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                   int64_t ldc, int levels, int64_t cutoff)
{
    if (!blas_sgemm) return -2;
    if (cutoff < 1) cutoff = 1;
    if (s->n == 1 && s->m == 1 && s->p == 1 && levels > 1)
        levels = 1; /* a <1,1,1> level never makes a block smaller: more would only recurse */
    const size_t elems = fastmm_need(s->n, s->m, s->p, s->a_temps, s->b_temps, s->products,
                                     M, K, N, levels, cutoff);
    int owned = 0;
    float *work = NULL;
    if (elems) {
        work = (float *)fastmm_workspace(elems * sizeof(float), &owned);
        if (!work) return -1;
    }
    fastmm_rec_s(s, M, K, N, alpha, A, lda, B, ldb, C, ldc, levels, cutoff, work);
    if (elems) fastmm_workspace_done(work, owned);
    return 0;
}
