"""NumPy and PyTorch code from a scheme: standalone Python modules and in-process callables.

The generated module defines ``matmul(A, B, levels=1, leaf=64)``: one recursion level splits
A (…×M×K) into n×m blocks and B (…×K×N) into m×p blocks, forms the left and right operands
with the straight-line program (fastmm.export.slp), multiplies them recursively and
assembles C. Sizes that do not divide evenly are handled by peeling: the scheme runs on the
leading ⌊M/n⌋n × ⌊K/m⌋m × ⌊N/p⌋p part (views, no padding copies) and the leftover rows,
columns and inner slice are fixed up with plain products. It falls back to ``A @ B`` when
`levels` is used up or a block would be smaller than `leaf` rows/columns (so a matrix
smaller than one block of the scheme is multiplied plainly).

A product that contributes nothing (an identically zero operand, or no use in C) is left out of
the code (fastmm.export.slp, ``drop_dead``), as in the C export; the module's docstring names it.

Leading (batch) dimensions broadcast as in ``@``. PyTorch code runs on the inputs' device and
dtype. A scheme with fractional coefficients computes in floating point: integer inputs are
promoted to float64 in both, as NumPy's ``result_type(..., 1.0)`` does (torch's default float32
would round products of integers in ±1000 already), and the generated docstring says so; float
inputs keep their dtype. Integer inputs take a second step, ``_step_exact``, which works over a
common denominator (`_over_common_denominator`): its operand sums have integer coefficients and
each level divides its block of C by one integer D at the end, so the products are exact while D
times every product and sum stays below 2**53 (``A * 1 / 3`` would round at once, however small
A). Float inputs keep the plain step, which has fewer operations. Boolean inputs are refused
whatever the scheme.

Safety: the source text is assembled only from names we choose and numbers we format
ourselves from exact ints/Fractions (`_term` writes int(...) of each part); nothing read
from a file is pasted into it.
`numpy_function` / `torch_function` compile that source — our own generated code — with
`exec` into a fresh namespace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from fastmm import __version__
from fastmm.errors import FastmmError, InputError
from fastmm.export.slp import SLP, Op, build_slp, sharing_note
from fastmm.scheme import Scheme
from fastmm.validate import exact


def _ident(name: str) -> str:
    # names come from fastmm.export.slp (letters, digits, underscore); checked, not trusted
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"bad identifier {name!r}")
    return name


INT8_MAX = 127  # integer coefficients up to this fit every integer dtype as NumPy scalars


def _term(name: str, c: Fraction, wrap: bool = False) -> tuple[str, str]:
    """(sign, text) of c·name; fractions multiply first and divide last. `wrap` (NumPy): an
    integer past int8 goes through `_k`, which casts it to the operand's integer dtype, because
    NumPy refuses a Python int that its dtype cannot hold (int32 * 2**40 is an OverflowError,
    where ``@`` and PyTorch wrap around)."""
    mag = abs(c)
    if mag == 1:
        body = _ident(name)
    elif mag.denominator == 1 and wrap and mag > INT8_MAX:
        body = f"{_ident(name)} * _k({_ident(name)}, {int(mag.numerator)})"
    elif mag.denominator == 1:
        body = f"{_ident(name)} * {int(mag.numerator)}"
    else:
        body = f"({_ident(name)} * {int(mag.numerator)} / {int(mag.denominator)})"
    return ("-" if c < 0 else "+"), body


def _content(v: list[Fraction]) -> Fraction:
    """The c > 0 that makes v / c integers with no common factor (1 for a zero vector)."""
    den = math.lcm(*(x.denominator for x in v))
    g = math.gcd(*(int(x * den) for x in v))
    return Fraction(g, den) if g else Fraction(1)


def _over_common_denominator(scheme: Scheme) -> tuple[Scheme, int]:
    """(S, D): S has the same products as `scheme` with integer A and B combinations (product t's
    a_t divided by its content λ_t, b_t by μ_t, so that each is primitive: integers without a
    common factor; c_t times λ_t·μ_t) and C
    coefficients times D, the lcm of the denominators left there, so S computes D·(A·B) with
    integer coefficients only. D = 1 for an integral scheme, which is returned as it is."""
    if scheme.is_integral:
        return scheme, 1
    wa = [[exact(x) for x in row] for row in scheme.Wa]
    wb = [[exact(x) for x in row] for row in scheme.Wb]
    wc = [[exact(x) for x in row] for row in scheme.Wc]
    for t in range(scheme.rank):
        lam, mu = _content(wa[t]), _content(wb[t])
        wa[t] = [x / lam for x in wa[t]]
        wb[t] = [x / mu for x in wb[t]]
        for row in wc:
            row[t] *= lam * mu
    d = math.lcm(*(x.denominator for row in wc for x in row))
    ints = [[int(x * d) for x in row] for row in wc]
    scaled = Scheme(*scheme.shape, [[int(x) for x in row] for row in wa],
                    [[int(x) for x in row] for row in wb], ints, ring="Z")
    return scaled, d


EXACT_DENOMINATOR_LIMIT = 2**20  # an exact step multiplies every product and sum by D
EXACT_COEFFICIENT_LIMIT = 2**31  # and scales coefficients up: beyond these it would round sooner


def _worth_an_exact_step(integral: Scheme, d: int) -> bool:
    """Is the common-denominator step worth emitting? Its integers are exact while D times every
    value stays below 2^53: a scheme whose denominators make D (or the scaled coefficients) huge
    would round sooner than the plain step, or not fit NumPy's and PyTorch's integer scalars."""
    if d > EXACT_DENOMINATOR_LIMIT:
        return False
    return all(abs(int(x)) < EXACT_COEFFICIENT_LIMIT
               for w in (integral.Wa, integral.Wb, integral.Wc) for x in w.flat)


SUM_CHUNK = 256  # terms per parenthesised group of a long sum (Python's compiler recurses per term)


def _expr(op: Op, wrap: bool = False) -> str:
    # start with a positive term when there is one: "M7 - M4" rather than "-M4 + M7"
    terms = sorted(op.terms, key=lambda t: t[1] < 0)
    return _sum([_term(name, c, wrap) for name, c in terms])


def _sum(pieces: list[tuple[str, str]]) -> str:
    """Signed terms as one expression. A flat sum of thousands of terms is a chain of thousands of
    nested additions, which Python cannot compile (RecursionError past about 2,000 terms), so long
    sums are split into parenthesised groups of SUM_CHUNK terms, recursively."""
    if len(pieces) > SUM_CHUNK:
        groups = [pieces[i:i + SUM_CHUNK] for i in range(0, len(pieces), SUM_CHUNK)]
        return _sum([("+", f"({_sum(g)})") for g in groups])
    parts = []
    for i, (sign, body) in enumerate(pieces):
        if i == 0:
            parts.append(f"-{body}" if sign == "-" else body)
        else:
            parts.append(f"{sign} {body}")
    return " ".join(parts)


def _block_slices(letter: str, names: list[str], rows: int, cols: int, rs: str, cs: str) -> list[str]:
    out = []
    for idx, name in enumerate(names):
        i, j = divmod(idx, cols)
        r0 = f"{i} * {rs}" if i else "0"
        c0 = f"{j} * {cs}" if j else "0"
        out.append(f"    {_ident(name)} = {letter}[..., {r0}:{i + 1} * {rs}, {c0}:{j + 1} * {cs}]")
    return out


def _body(slp: SLP, lib: str, denominator: int = 1, step: str = "_step") -> list[str]:
    """The recursive step `step`, shared by the NumPy and PyTorch modules; `slp` computes
    `denominator` times the block product, divided once at the end of the step."""
    wrap = lib == "numpy"
    n, m, p = slp.shape
    lines = [
        f"def {step}(A, B, levels, leaf):",
        "    M, K = A.shape[-2], A.shape[-1]",
        "    N = B.shape[-1]",
        f"    bm, bk, bn = M // {n}, K // {m}, N // {p}",
        "    if levels <= 0 or min(bm, bk, bn) < leaf:",
        "        return A @ B",
        f"    Mq, Kq, Nq = bm * {n}, bk * {m}, bn * {p}",
        "    C = _empty(A, B, M, N)",
        # a call of the step sets up one slot per local (about 4 per product): products that are
        # leaves skip it, else a rank-40,000 step costs rank² (a minute for a 4x4 product)
        f"    mul = {step} if levels > 1 and min(bm // {n}, bk // {m}, bn // {p}) >= leaf else _leaf",
    ]
    lines += _block_slices("A", slp.a.inputs, n, m, "bm", "bk")
    lines += _block_slices("B", slp.b.inputs, m, p, "bk", "bn")
    alias: dict[str, str] = {}
    for op in slp.a.ops + slp.b.ops:
        if op.is_alias:
            alias[op.target] = alias.get(op.terms[0][0], op.terms[0][0])
            continue
        if op.is_zero:  # build_slp(drop_dead=True) leaves no zero operand; never emit one
            raise FastmmError(f"{slp.label}: operand {op.target} is identically zero")
        resolved = Op(op.target, tuple((alias.get(x, x), c) for x, c in op.terms))
        lines.append(f"    {_ident(op.target)} = {_expr(resolved, wrap)}")
    for mt, lt, rt in slp.products:
        lines.append(f"    {_ident(mt)} = mul({_ident(alias.get(lt, lt))}, "
                     f"{_ident(alias.get(rt, rt))}, levels - 1, leaf)")
    for op in slp.c.temps:
        lines.append(f"    {_ident(op.target)} = {_expr(op, wrap)}")
    rows = []
    for i in range(n):
        for k in range(p):
            r0 = f"{i} * bm" if i else "0"
            c0 = f"{k} * bn" if k else "0"
            rows.append(f"C[..., {r0}:{i + 1} * bm, {c0}:{k + 1} * bn]")
    for op, target in zip(slp.c.outputs, rows, strict=True):
        if op.is_zero:
            lines.append(f"    {target} = 0")
        else:
            lines.append(f"    {target} = {_expr(op, wrap)}")
    if denominator != 1:
        lines.append(f"    C[..., :Mq, :Nq] /= {int(denominator)}")
    lines += [
        "    if Kq < K:",
        "        C[..., :Mq, :Nq] += A[..., :Mq, Kq:] @ B[..., Kq:, :Nq]",
        "    if Nq < N:",
        "        C[..., :Mq, Nq:] = A[..., :Mq, :] @ B[..., :, Nq:]",
        "    if Mq < M:",
        "        C[..., Mq:, :] = A[..., Mq:, :] @ B",
        "    return C",
    ]
    return lines


_NUMPY_HEAD = '''\
import numpy as np

SHAPE = ({n}, {m}, {p})
RANK = {r}


def matmul(A, B, levels=1, leaf=64):
    """C = A @ B with {label} applied recursively `levels` times (leaves use `@`).{dtype_note}"""
    A = np.asarray(A)
    B = np.asarray(B)
    if A.ndim < 2 or B.ndim < 2 or A.shape[-1] != B.shape[-2]:
        raise ValueError(f"cannot multiply shapes {{A.shape}} and {{B.shape}}")
    dtype = np.result_type(A.dtype, B.dtype)
    if dtype.kind == "b":
        raise TypeError("matmul multiplies numbers, not bool matrices: cast them to int"){float_promote}
    A = A.astype(dtype, copy=False)
    B = B.astype(dtype, copy=False)
    return {step}(A, B, {levels}, max(int(leaf), 1))


def _empty(A, B, M, N):
    dtype = A.dtype
    batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    return np.empty(batch + (M, N), dtype=dtype)


def _k(X, c):
    """The coefficient c in X's integer dtype, wrapped around as integer products are."""
    return np.array(c).astype(X.dtype) if X.dtype.kind in "iu" else c


def _leaf(A, B, levels, leaf):
    return A @ B

'''

_TORCH_HEAD = '''\
import torch

SHAPE = ({n}, {m}, {p})
RANK = {r}


def matmul(A, B, levels=1, leaf=64):
    """C = A @ B with {label} applied recursively `levels` times (leaves use `@`).

    Batched like `@` (...xMxK @ ...xKxN); runs on the inputs' device and dtype.{dtype_note}"""
    if A.dim() < 2 or B.dim() < 2 or A.shape[-1] != B.shape[-2]:
        raise ValueError(f"cannot multiply shapes {{tuple(A.shape)}} and {{tuple(B.shape)}}")
    dtype = torch.promote_types(A.dtype, B.dtype)
    if dtype == torch.bool:
        raise TypeError("matmul multiplies numbers, not bool matrices: cast them to int"){float_promote}
    A = A.to(dtype)
    B = B.to(dtype)
    return {step}(A, B, {levels}, max(int(leaf), 1))


def _empty(A, B, M, N):
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    return torch.empty(tuple(batch) + (M, N), dtype=A.dtype, device=A.device)


def _leaf(A, B, levels, leaf):
    return A @ B

'''


# the lines of `matmul` that choose the dtype and the step, by how integer inputs are computed
_PROMOTE = {
    "numpy": {
        "integral": "",
        "rounded": "\n    dtype = np.result_type(dtype, 1.0)",
        "exact": ("\n    step = _step_exact if dtype.kind in \"iu\" else _step"
                  "\n    dtype = np.result_type(dtype, 1.0)"),
    },
    "torch": {
        "integral": "",
        "rounded": ("\n    if not (dtype.is_floating_point or dtype.is_complex):\n"
                    "        dtype = torch.float64"),
        "exact": ("\n    step = _step\n    if not (dtype.is_floating_point or dtype.is_complex):\n"
                  "        dtype, step = torch.float64, _step_exact"),
    },
}


def _source(scheme: Scheme, lib: str, cse: bool) -> str:
    if scheme.ring == "Z2":
        raise InputError(f"{scheme.label()} is valid modulo 2 only: no {lib} code for it "
                         "(the result would be wrong over the integers and reals)")
    _check_magnitudes(scheme)
    slp = build_slp(scheme, cse, drop_dead=True)
    n, m, p = slp.shape
    # a <1,1,1> level never makes a block smaller: more than one would only recurse
    levels = "min(int(levels), 1)" if (n, m, p) == (1, 1, 1) else "int(levels)"
    body = _body(slp, lib)
    # how integer inputs are computed: as they are (integral), in float64 by the plain step
    # (rounded), or in float64 by the common-denominator step (exact)
    kind, note, exact_counts = "integral" if scheme.is_integral else "rounded", "", ""
    if kind == "rounded":
        integral, d = _over_common_denominator(scheme)
        if _worth_an_exact_step(integral, d):
            kind = "exact"
            exact_slp = build_slp(integral, cse, drop_dead=True)
            exact_slp.label = slp.label
            body += ["", ""] + _body(exact_slp, lib, d, "_step_exact")
            note = ("\n\n    The scheme has fractions: integer inputs are computed and returned in "
                    "float64 by a\n    step that sums with integer coefficients and divides C by "
                    f"{d} once per level, exact\n    while {d} times every product and sum stays below "
                    "2**53 in magnitude.\n    ")
            exact_counts = (f" Integer inputs: {exact_slp.additions()} additions, {exact_slp.scalings()} "
                            f"scalings and one division of C by {d} per level.")
        else:
            note = ("\n\n    The scheme has fractions: integer inputs are computed and returned in float64,\n"
                    "    rounded as float products are (its common denominator is too large for an exact\n"
                    "    step).\n    ")
    step = "step" if kind == "exact" else "_step"
    promote = _PROMOTE[lib][kind]
    if lib == "numpy":
        head = _NUMPY_HEAD.format(n=n, m=m, p=p, r=int(scheme.rank), label=_ascii_label(scheme),
                                  float_promote=promote, levels=levels, dtype_note=note, step=step)
    else:
        head = _TORCH_HEAD.format(n=n, m=m, p=p, r=int(scheme.rank), label=_ascii_label(scheme),
                                  float_promote=promote, levels=levels, dtype_note=note or "\n    ",
                                  step=step)
    doc = (f'"""Generated by fastmm {__version__}: {_ascii_label(scheme)} scheme, ring {scheme.ring},\n'
           f"{slp.additions()} additions per level ({sharing_note(slp)}"
           f"), {slp.scalings()} scalings.{exact_counts}{_dropped_note(slp)} Do not edit.\n"
           '"""\n\n')
    return doc + head + "\n".join(body) + "\n"


SCALAR_LIMIT = 2**63  # numerators and denominators NumPy and PyTorch take as integer scalars


def _check_magnitudes(scheme: Scheme) -> None:
    """InputError before any code is written when a coefficient's numerator or denominator is
    past what NumPy and PyTorch scalars hold (the code would fail or overflow when called)."""
    for w in (scheme.Wa, scheme.Wb, scheme.Wc):
        if w.dtype != object:
            continue  # int64: below 2^62 by construction
        for x in w.flat:
            f = Fraction(x)
            big = max(abs(f.numerator), f.denominator)
            if big >= SCALAR_LIMIT:
                raise InputError(f"refusing to generate code: a coefficient of about "
                                 f"2^{big.bit_length() - 1} is beyond 2^63, the largest integer "
                                 "NumPy and PyTorch scalars hold")


def _dropped_note(slp: SLP) -> str:
    """A docstring line naming the dropped products ("M8 is left out (...)"), or ""."""
    if not slp.dropped:
        return ""
    names = ", ".join(_ident(x) for x in slp.dropped)
    verb = "is" if len(slp.dropped) == 1 else "are"
    return f"\n{names} {verb} left out (zero operand or unused in C: contributes nothing)."


def _ascii_label(scheme: Scheme) -> str:
    n, m, p = scheme.shape
    return f"<{int(n)},{int(m)},{int(p)};{int(scheme.rank)}>"


def numpy_source(scheme: Scheme, cse: bool = True) -> str:
    """Standalone NumPy module text defining ``matmul(A, B, levels=1, leaf=64)``."""
    return _source(scheme, "numpy", cse)


def torch_source(scheme: Scheme, cse: bool = True) -> str:
    """Standalone PyTorch module text defining ``matmul(A, B, levels=1, leaf=64)``."""
    return _source(scheme, "torch", cse)


def _load(source: str, what: str) -> Callable:
    namespace: dict = {"__name__": f"fastmm_generated_{what}"}
    # our own generated source (names and formatted numbers only), see the module docstring
    exec(compile(source, f"<fastmm generated {what}>", "exec"), namespace)  # noqa: S102
    fn = namespace["matmul"]
    fn.source = source
    return fn


def numpy_function(scheme: Scheme, cse: bool = True) -> Callable:
    """``matmul(A, B, levels=1, leaf=64)`` for NumPy arrays, compiled from `numpy_source`."""
    return _load(numpy_source(scheme, cse), "numpy")


def torch_function(scheme: Scheme, cse: bool = True) -> Callable:
    """``matmul(A, B, levels=1, leaf=64)`` for torch tensors, compiled from `torch_source`."""
    return _load(torch_source(scheme, cse), "torch")
