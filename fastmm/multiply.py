"""`fastmm.matmul`: A·B through recursion levels of a verified scheme in generated C with BLAS
leaves (fastmm.export.build), or numpy.matmul where no C compiler or BLAS is available."""

from __future__ import annotations

from collections.abc import Callable

from fastmm.errors import FastmmError, InputError, VerificationError
from fastmm.scheme import Scheme


def matmul(A, B, scheme: Scheme | None = None, levels: int = 1, cutoff: int = 64, out=None):
    """A·B through `levels` recursion levels of `scheme` (Strassen when None) in generated C with
    BLAS leaves; falls back to numpy.matmul when no C compiler or BLAS is available."""
    import numpy as np

    from fastmm.reference import strassen

    for name, value in (("levels", levels), ("cutoff", cutoff)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"matmul: {name} must be an integer >= 0, got {value!r}")
    levels, cutoff = int(levels), int(cutoff)
    scheme = strassen() if scheme is None else _verified_arg(scheme)
    a, b = np.asarray(A), np.asarray(B)
    if a.ndim != 2 or b.ndim != 2:
        raise InputError(f"matmul multiplies 2-D matrices, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise InputError(f"shapes {a.shape} and {b.shape} do not multiply")
    for x in (a, b):
        if x.dtype.kind not in "biuf":  # complex would lose its imaginary part in the real kernels
            raise InputError(f"matmul multiplies real matrices, not {x.dtype.name} ones")
    dtype = "float32" if a.dtype == np.float32 and b.dtype == np.float32 else "float64"
    try:
        fn = _compiled(scheme, levels, dtype, cutoff)
    except (InputError, VerificationError):
        raise  # the scheme itself is refused (a Z2 scheme, too many products): say so
    except FastmmError:
        fn = None  # no C compiler or BLAS here: numpy.matmul gives the same product
    if fn is None:
        return np.matmul(a, b, out=out)
    return fn(a, b, out=out) if out is not None else fn(a, b)


_COMPILED: dict[tuple, Callable] = {}


def _compiled(scheme: Scheme, levels: int, dtype: str, cutoff: int) -> Callable:
    from fastmm.io import dumps

    key = (dumps(scheme), levels, dtype, cutoff)
    if key not in _COMPILED:
        from fastmm.export.build import c_function

        _COMPILED[key] = c_function(scheme, levels, dtype, cutoff)
    return _COMPILED[key]


def _verified_arg(scheme) -> Scheme:
    from fastmm.api import _scheme_arg, verified

    return verified(_scheme_arg(scheme, "matmul"), sympy=False)
