"""`fastmm.matmul`: A·B through recursion levels of a verified scheme: float32 and float64 in
generated C with BLAS leaves (fastmm.export.build), or numpy.matmul where no C compiler or BLAS
is available; integers exactly, in numpy, modulo 2**64 as numpy's own integer matmul wraps."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from fastmm.errors import FastmmError, InputError, VerificationError
from fastmm.scheme import Scheme

CACHE_SIZE = 32  # compiled functions kept (least recently used dropped; their libraries stay loaded)


def matmul(A, B, scheme: Scheme | None = None, levels: int = 1, cutoff: int = 64, out=None):
    """A·B through `levels` recursion levels of `scheme` (Strassen when None); blocks smaller
    than `cutoff` in any dimension are multiplied directly.

    The result has numpy's dtype for ``A @ B`` (``np.result_type(A, B)``), whichever path runs:

    - float32 and float64 products run the scheme in generated C with BLAS leaves (shared
      subexpressions unless the scheme is beyond fastmm.metrics.CSE_WORK_LIMIT, as `export`), or
      are numpy.matmul's when no C compiler or BLAS is available;
    - integer products run the scheme exactly in integers (leaves by numpy.matmul), so they are
      exactly numpy's, wrap-around on overflow included; a scheme with fractional coefficients
      is refused for them (InputError): multiply float matrices with it instead;
    - other floating dtypes (float16, long double), which the BLAS has no gemm for, are
      numpy.matmul's;
    - bool matrices are refused (InputError): numpy's bool product is a logical "or of ands",
      not a count; cast them to int.

    `out`, when given, must be a writeable M×N array of the result dtype with rows of unit stride
    (e.g. C-contiguous) that does not overlap A or B; InputError otherwise, on every path.

    OutOfMemoryError (a FastmmError, and a MemoryError) when the generated C cannot allocate the
    temporaries of its levels; fewer levels need less.
    """
    from fastmm.export.build import _output, as_array
    from fastmm.reference import strassen

    for name, value in (("levels", levels), ("cutoff", cutoff)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"matmul: {name} must be an integer >= 0, got {value!r}")
    levels, cutoff = int(levels), int(cutoff)
    if scheme is None:
        scheme = strassen()
        key = _scheme_key(scheme)
    else:
        scheme, key = _verified_arg(scheme)
    if isinstance(A, np.ma.MaskedArray) or isinstance(B, np.ma.MaskedArray):  # the mask would be dropped
        raise InputError("matmul multiplies plain arrays, not masked ones: fill them first (A.filled(0))")
    a, b = as_array(A, "matmul: A"), as_array(B, "matmul: B")
    if a.ndim != 2 or b.ndim != 2:
        raise InputError(f"matmul multiplies 2-D matrices, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise InputError(f"shapes {a.shape} and {b.shape} do not multiply")
    for x in (a, b):
        if x.dtype.kind == "b":
            raise InputError("matmul multiplies numbers, not bool matrices (numpy's bool product is "
                             "a logical or of ands): cast them to int, e.g. A.astype(int)")
        if x.dtype.kind not in "iuf":  # complex would lose its imaginary part in the real kernels
            raise InputError(f"matmul multiplies real matrices, not {x.dtype.name} ones")
    if scheme.ring == "Z2":
        from fastmm.io import true_label

        relabelled = true_label(scheme)  # exact over the integers as written: as export and save
        if relabelled is scheme:
            raise InputError(f"matmul: {scheme.label()} is valid modulo 2 only; it would compute a wrong "
                             "product")
        scheme, key = relabelled, _scheme_key(relabelled)
    levels = _levels_that_split(scheme.shape, (a.shape[0], a.shape[1], b.shape[1]), levels)
    dtype = np.result_type(a.dtype, b.dtype)
    if out is not None:
        out = _output(out, (a.shape[0], b.shape[1]), dtype, a, b)
    if dtype.kind in "iu":
        return _integer_product(a, b, scheme, levels, cutoff, dtype, out)
    if dtype.name not in ("float32", "float64"):
        return np.matmul(a, b, out=out)
    try:
        fn = _compiled(scheme, key, levels, dtype.name, cutoff)
    except (InputError, VerificationError):
        raise  # the scheme itself is refused (too many products): say so
    except FastmmError:
        fn = None  # no C compiler or BLAS here: numpy.matmul gives the same product
    if fn is None:
        return np.matmul(a, b, out=out)
    return fn(a, b, out=out)


def _levels_that_split(shape: tuple[int, int, int], dims: tuple[int, int, int], levels: int) -> int:
    """`levels`, or fewer where more could not run: past the level at which a block would be
    empty the recursion stops anyway, and a ⟨1,1,1⟩ scheme's levels never make a block smaller
    (200,000 of them overflowed the C stack). The product is the same either way."""
    if tuple(shape) == (1, 1, 1):
        return 0
    M, K, N = dims
    for done in range(levels):  # some dimension at least halves per level: ≤ 64 rounds
        if min(M, K, N) == 0:
            return done
        M, K, N = M // shape[0], K // shape[1], N // shape[2]
    return levels


# -- integers: the scheme evaluated exactly modulo 2**64 ----------------------------------------

def _integer_product(a: np.ndarray, b: np.ndarray, scheme: Scheme, levels: int, cutoff: int,
                     dtype: np.dtype, out: np.ndarray | None) -> np.ndarray:
    """A·B of integer matrices in `dtype`, through the scheme in uint64 arithmetic.

    An integral scheme is an identity over Z, hence modulo 2**64: evaluated with wrapping uint64
    arithmetic it gives A·B mod 2**64, and the cast to `dtype` (at most 64 bits) keeps it modulo
    2**bits, which is what numpy's integer matmul computes, overflow included.
    """
    if not scheme.is_integral:
        raise InputError(f"matmul: {scheme.label()} has fractional coefficients, so it cannot multiply "
                         f"integer matrices exactly; cast them to float64 or use an integral scheme")
    live = scheme.live_terms()
    wa, wb, wc = (_wrapped(w) for w in (scheme.Wa[live], scheme.Wb[live], scheme.Wc[:, live]))
    product = _wrapped_product(a.astype(np.uint64), b.astype(np.uint64), scheme.shape, (wa, wb, wc),
                               levels, cutoff)
    if out is None:
        return product.astype(dtype)
    out[...] = product.astype(dtype)
    return out


def _wrapped(w: np.ndarray) -> np.ndarray:
    """Integer coefficients modulo 2**64, as uint64."""
    if w.dtype == object:
        return np.array([int(x) % 2**64 for x in w.flat], dtype=np.uint64).reshape(w.shape)
    return w.astype(np.uint64)


def _wrapped_product(a: np.ndarray, b: np.ndarray, shape: tuple[int, int, int],
                     w: tuple[np.ndarray, np.ndarray, np.ndarray], levels: int, cutoff: int) -> np.ndarray:
    """a·b modulo 2**64 (uint64 operands), `levels` levels of the scheme with coefficients `w`.

    The largest part of a divisible into n×m and m×p blocks goes through the scheme; the edges
    left over are added by direct products.
    """
    n, m, p = shape
    (M, K), N = a.shape, b.shape[1]
    mb, kb, nb = M // n, K // m, N // p
    if levels == 0 or min(mb, kb, nb) == 0 or min(M, K, N) < cutoff:
        return np.matmul(a, b)
    wa, wb, wc = w
    r = wa.shape[0]
    m0, k0, n0 = mb * n, kb * m, nb * p
    blocks_a = a[:m0, :k0].reshape(n, mb, m, kb).transpose(0, 2, 1, 3).reshape(n * m, mb * kb)
    blocks_b = b[:k0, :n0].reshape(m, kb, p, nb).transpose(0, 2, 1, 3).reshape(m * p, kb * nb)
    left = (wa @ blocks_a).reshape(r, mb, kb)
    right = (wb @ blocks_b).reshape(r, kb, nb)
    products = np.empty((r, mb * nb), dtype=np.uint64)
    for t in range(r):
        products[t] = _wrapped_product(left[t], right[t], shape, w, levels - 1, cutoff).ravel()
    c = np.empty((M, N), dtype=np.uint64)
    c[:m0, :n0] = (wc @ products).reshape(n, p, mb, nb).transpose(0, 2, 1, 3).reshape(m0, n0)
    if k0 < K:
        c[:m0, :n0] += a[:m0, k0:] @ b[k0:, :n0]
    if n0 < N:
        c[:m0, n0:] = a[:m0] @ b[:, n0:]
    if m0 < M:
        c[m0:] = a[m0:] @ b
    return c


# -- floats: compiled functions, cached by what the generated code depends on ---------------------

_COMPILED: OrderedDict[tuple, Callable] = OrderedDict()
_LOCK = threading.Lock()


def _coefficient_key(w: np.ndarray) -> tuple:
    """Exact coefficients as a hashable value (object arrays hold Fractions or big ints)."""
    if w.dtype == object:
        return (w.shape, tuple(Fraction(x) for x in w.flat))
    return (w.shape, w.dtype.str, w.tobytes())


def _scheme_key(scheme: Scheme) -> tuple:
    """What a compiled product and a scheme's validity depend on: shape, ring, exact coefficients
    (never the provenance or the verification record, which change from call to call)."""
    return (scheme.shape, scheme.ring, *(_coefficient_key(w) for w in (scheme.Wa, scheme.Wb, scheme.Wc)))


def _recall(cache: OrderedDict, key: tuple):
    """cache[key] (now the most recently used), or None."""
    with _LOCK:
        if key not in cache:
            return None
        cache.move_to_end(key)
        return cache[key]


def _remember(cache: OrderedDict, key: tuple, value) -> None:
    """cache[key] = value, dropping the least recently used beyond CACHE_SIZE."""
    with _LOCK:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)


def _compiled(scheme: Scheme, key: tuple, levels: int, dtype: str, cutoff: int) -> Callable:
    """The compiled product of the scheme with key `key` (_scheme_key), per levels, dtype, cutoff."""
    key = (*key, levels, dtype, cutoff)
    fn = _recall(_COMPILED, key)
    if fn is None:
        from fastmm.export.build import c_function

        fn = c_function(scheme, levels, dtype, cutoff)
        _remember(_COMPILED, key, fn)
    return fn


_VERIFIED: OrderedDict[tuple, bool] = OrderedDict()  # keys of schemes that verified, most recent last


def _verified_arg(scheme) -> tuple[Scheme, tuple]:
    """The scheme, verified exactly, and its _scheme_key. Validity depends only on the shape, the
    coefficients and the ring, so a scheme that verified once is not checked again on every call
    (⟨6,6,6;161⟩: 20 ms, against 0.05 ms for a 72×72 product)."""
    from fastmm.api import verified
    from fastmm.arguments import scheme_arg

    scheme = scheme_arg(scheme, "matmul")
    key = _scheme_key(scheme)
    if _recall(_VERIFIED, key):
        return scheme, key
    checked = verified(scheme, sympy=False)
    _remember(_VERIFIED, key, True)
    return checked, key
