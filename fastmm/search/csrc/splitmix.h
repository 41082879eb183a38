/* What the C walks (flipwalk.c, symwalk.c, symwalk6.c) share: the draws of flip_kernels.py.
   Not included with #include: fastmm.search.flip_c prepends this text to each walk's source and
   compiles the whole from stdin, so a library's cache key covers exactly what it was built from. */
#include <stdint.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define MIX1 0xBF58476D1CE4E5B9ULL
#define MIX2 0x94D049BB133111EBULL

/* 1 if x == y else 0, as an int64: sums of these vectorize without narrowing to int. */
static inline int64_t eq(int64_t x, int64_t y)
{
    return x == y;
}

/* A number in [0, n) from the top 32 bits of the next splitmix64 output (n < 2^32). */
static inline int64_t rand_below(uint64_t *rng, int64_t n)
{
    uint64_t s = rng[0] + GOLDEN;
    rng[0] = s;
    uint64_t z = (s ^ (s >> 30)) * MIX1;
    z = (z ^ (z >> 27)) * MIX2;
    z ^= z >> 31;
    return (int64_t)(((z >> 32) * (uint64_t)n) >> 32);
}
