/* fastmm runtime: the part of a generated fast matrix multiplication that does not depend
   on the scheme (threads, workspace, streaming stores, the BLAS, the recursion driver).

   A scheme's generated file (fastmm.export.c.emit_scheme_c) includes this header and
   defines only what depends on the scheme: the scalar kernel, the fused addition passes
   and one level of the recursion. fastmm_runtime.c is compiled once per compiler and BLAS
   integer type (fastmm.export.build) and linked into every scheme's library; `fastmm export
   --to c` writes the three pieces as one file (this header, fastmm_runtime.c, the scheme).

   Build by hand:  cc -O3 -fPIC -shared -pthread scheme.c fastmm_runtime.c -o libscheme.so
   with -DFASTMM_BLAS_INT=int32_t for a BLAS whose integer arguments are 32-bit.
   No OpenMP: the BLAS threads the products; big additions split their rows between joined
   pthreads, whose threads never spin and so never fight the BLAS's. */
#ifndef FASTMM_RUNTIME_H
#define FASTMM_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

/* Integer type of the CBLAS gemm passed to fastmm_set_blas (numpy's scipy-openblas64: int64_t). */
#ifndef FASTMM_BLAS_INT
#define FASTMM_BLAS_INT int64_t
#endif
typedef FASTMM_BLAS_INT fastmm_blas_int;

/* Runtime functions that are not part of the library's interface stay inside it, so that
   two schemes' libraries loaded in one process never call each other's runtime. */
#if defined(__GNUC__) && !defined(_WIN32)
#define FASTMM_INTERNAL __attribute__((visibility("hidden")))
#else
#define FASTMM_INTERNAL
#endif

/* ---- the library's interface (every generated library exports these) ---------------- */

/* The CBLAS gemm functions (row-major interface), e.g. numpy's scipy_cblas_dgemm64_ and
   scipy_cblas_sgemm64_; call once before any product. Returns 0. */
int fastmm_set_blas(void *dgemm, void *sgemm);

/* Threads for the additions (n <= 0: one per online CPU). */
void fastmm_set_threads(int n);

/* Block size in bytes from which a pass is split between threads (default 4 MiB). */
void fastmm_set_parallel_min(size_t bytes);

/* Block size in bytes from which temporaries are written with streaming stores (default 16 MiB). */
void fastmm_set_stream_min(size_t bytes);

/* Frees the kept workspace (when no call is using it); returns 0, or -1 if busy. */
int fastmm_release_workspace(void);

/* Defined by the generated scheme file (t = d for double, s for float):
   C = alpha*A*B, MxK times KxN, row-major with leading dimensions; returns 0, -1 when the
   workspace could not be allocated, -2 when fastmm_set_blas was not called. */
int fastmm_matmul_d(int64_t M, int64_t K, int64_t N, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double *C, int64_t ldc, int levels, int64_t cutoff);
int fastmm_matmul_s(int64_t M, int64_t K, int64_t N, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, int levels, int64_t cutoff);
/* C = A*B for exactly one nxm by mxp product of scalars (no BLAS). */
void fastmm_kernel_d(const double *A, int64_t lda, const double *B, int64_t ldb, double *C,
                     int64_t ldc);
void fastmm_kernel_s(const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                     int64_t ldc);

/* ---- streaming (non-temporal) stores ------------------------------------------------- */

/* SSE2; define FASTMM_NO_STREAM to turn them off. Temporaries bigger than the caches are
   written without first being read. */
#if defined(__SSE2__) && !defined(FASTMM_NO_STREAM)
#include <emmintrin.h>
#define FASTMM_HAVE_STREAM 1
typedef double fastmm_vd __attribute__((vector_size(16)));
typedef float fastmm_vs __attribute__((vector_size(16)));
static inline fastmm_vd fastmm_loadd(const double *p) { return (fastmm_vd)_mm_loadu_pd(p); }
static inline fastmm_vs fastmm_loads(const float *p) { return (fastmm_vs)_mm_loadu_ps(p); }
static inline void fastmm_streamd(double *p, fastmm_vd v) { _mm_stream_pd(p, (__m128d)v); }
static inline void fastmm_streams(float *p, fastmm_vs v) { _mm_stream_ps(p, (__m128)v); }
#else
#define FASTMM_HAVE_STREAM 0
#endif

/* ---- fused addition passes ----------------------------------------------------------- */

/* The blocks one pass reads and writes: first element and row stride of each, the number
   of columns, and whether to use streaming stores (set by fastmm_pass_*). */
typedef struct {
    const double *const *in;
    const int64_t *in_ld;
    double *const *out;
    const int64_t *out_ld;
    int64_t cols;
    int stream;
} fastmm_io_d;

typedef struct {
    const float *const *in;
    const int64_t *in_ld;
    float *const *out;
    const int64_t *out_ld;
    int64_t cols;
    int stream;
} fastmm_io_s;

/* The rows [row0, row1) of one pass; io points to the pass's fastmm_io_d or fastmm_io_s. */
typedef struct {
    const void *io;
    int64_t row0, row1;
} fastmm_part;

/* A pass over rows: fn(fastmm_part *) computes every output of those rows. */
typedef void *(*fastmm_pass_fn)(void *part);

/* Runs a pass over `rows` rows: streaming stores and threads when the blocks are big. */
FASTMM_INTERNAL void fastmm_pass_d(fastmm_pass_fn fn, fastmm_io_d *io, int64_t rows);
FASTMM_INTERNAL void fastmm_pass_s(fastmm_pass_fn fn, fastmm_io_s *io, int64_t rows);

/* ---- the recursion -------------------------------------------------------------------- */

/* Element counts rounded up to whole 64-byte lines (16 floats, 8 doubles). */
static inline size_t fastmm_round(size_t elems)
{
    return (elems + 15) / 16 * 16;
}

/* A scheme as the driver sees it: the block grid (A is nxm blocks, B mxp), how many
   blocks of workspace one level keeps (A temporaries, B temporaries, products), and the
   generated function that runs one level on bmxbk by bkxbn blocks. The level computes
   its products with fastmm_rec_* and gives them `rest`, the workspace after its own. */
typedef struct fastmm_scheme_d fastmm_scheme_d;
typedef struct fastmm_scheme_s fastmm_scheme_s;

struct fastmm_scheme_d {
    int64_t n, m, p;
    int64_t a_temps, b_temps, products;
    void (*level)(const fastmm_scheme_d *s, int64_t bm, int64_t bk, int64_t bn, double alpha,
                  const double *A, int64_t lda, const double *B, int64_t ldb, double *C,
                  int64_t ldc, int levels, int64_t cutoff, double *work);
};

struct fastmm_scheme_s {
    int64_t n, m, p;
    int64_t a_temps, b_temps, products;
    void (*level)(const fastmm_scheme_s *s, int64_t bm, int64_t bk, int64_t bn, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                  int64_t ldc, int levels, int64_t cutoff, float *work);
};

/* C = alpha*A*B by `levels` levels of the scheme: the largest part divisible by the grid
   goes through s->level, leftover strips are peeled off to gemm; gemm alone below the
   cutoff or after the last level. `work` holds fastmm_need_* elements. */
FASTMM_INTERNAL void fastmm_rec_d(const fastmm_scheme_d *s, int64_t M, int64_t K, int64_t N,
                                  double alpha, const double *A, int64_t lda, const double *B,
                                  int64_t ldb, double *C, int64_t ldc, int levels, int64_t cutoff,
                                  double *work);
FASTMM_INTERNAL void fastmm_rec_s(const fastmm_scheme_s *s, int64_t M, int64_t K, int64_t N,
                                  float alpha, const float *A, int64_t lda, const float *B,
                                  int64_t ldb, float *C, int64_t ldc, int levels, int64_t cutoff,
                                  float *work);

/* fastmm_matmul_* for a scheme: workspace, recursion, return code (see above). */
FASTMM_INTERNAL int fastmm_drive_d(const fastmm_scheme_d *s, int64_t M, int64_t K, int64_t N,
                                   double alpha, const double *A, int64_t lda, const double *B,
                                   int64_t ldb, double *C, int64_t ldc, int levels, int64_t cutoff);
FASTMM_INTERNAL int fastmm_drive_s(const fastmm_scheme_s *s, int64_t M, int64_t K, int64_t N,
                                   float alpha, const float *A, int64_t lda, const float *B,
                                   int64_t ldb, float *C, int64_t ldc, int levels, int64_t cutoff);

#endif /* FASTMM_RUNTIME_H */
