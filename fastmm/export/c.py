"""C code from a scheme: a scalar kernel and a recursive BLAS-backed driver.

The generated source holds, for double (suffix ``_d``) and float (suffix ``_s``):

* ``fastmm_kernel_<t>(A, lda, B, ldb, C, ldc)``: one n×m · m×p product over scalars
  (C = A·B), straight from the straight-line program;
* ``fastmm_matmul_<t>(M, K, N, alpha, A, lda, B, ldb, C, ldc, levels, cutoff)``:
  C = alpha·A·B for any sizes, row-major with leading dimensions. Each level splits the
  largest part divisible by (n, m, p) into blocks and applies the scheme; leftover strips
  are peeled off and handled by gemm updates (no padded copies). After ``levels`` levels,
  or when a block would be smaller than ``cutoff`` in some dimension, gemm does the rest.
  Returns 0, or -1 when a temporary could not be allocated.
* ``fastmm_set_blas(dgemm, sgemm)``: the CBLAS gemm entry points (row-major, 64- or
  32-bit integers as chosen at generation), passed in at load time so the code calls
  the very BLAS numpy uses (see fastmm.export.build).

Additions are "write-once": at each level one fused pass over the A blocks forms every
A-side temporary that a product needs (shared subexpressions live in registers), one
pass over the B blocks does the same, and one pass over the products writes every C
block. Big passes split their rows between plain pthreads that are joined (no OpenMP,
whose spinning workers would fight the BLAS's: REFERENCES §5); `fastmm_set_threads`.

Safety: coefficients reach the source only through `c_number`, which accepts Python or
NumPy integers and Fractions and refuses anything else. No text from a scheme file
(provenance, names) is ever copied into the program.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from numbers import Integral

import numpy as np

from fastmm.errors import FastmmError, VerificationError
from fastmm.export.slp import SLP
from fastmm.scheme import Scheme

Coef = int | Fraction
BLAS_INT_TYPES = ("int64_t", "int32_t")
_CTYPES = {"d": "double", "s": "float"}


# -- validated numbers ------------------------------------------------------
def exact_coefficient(x: object) -> Coef:
    """An int or Fraction from a validated coefficient; anything else (text, float, bool) is refused."""
    if isinstance(x, bool):
        raise FastmmError(f"refusing to generate code: coefficient {x!r} is a bool, not a number")
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else x
    if isinstance(x, int | np.integer) and isinstance(x, Integral):
        return int(x)
    raise FastmmError(
        f"refusing to generate code: coefficient of type {type(x).__name__} is not an integer "
        "or a fraction"
    )


def c_number(x: object, ctype: str) -> str:
    """C literal for an exact coefficient: ``3.0``, ``-1.0`` or ``(1.0/3.0)`` (``f`` suffix for float)."""
    value = exact_coefficient(x)
    suffix = "f" if ctype == "float" else ""
    frac = Fraction(value)
    num, den = frac.numerator, frac.denominator
    assert isinstance(num, int) and isinstance(den, int)  # formatted from ints only, never text
    if den == 1:
        return f"{num:d}.0{suffix}"
    return f"({num:d}.0{suffix}/{den:d}.0{suffix})"


# -- the straight-line program, in the form the emitter needs ---------------
@dataclass
class Plan:
    """A straight-line program for one scheme level.

    Names: inputs ``a<i*m+j>`` / ``b<j*p+k>``, products ``m<t>``, outputs ``c<i*p+k>``,
    temporaries anything else. ``a_ops``/``b_ops`` define temporaries over inputs and earlier
    temporaries; product t multiplies ``ca·a_src`` by ``cb·b_src`` (a source is an input or
    temporary); ``c_ops`` define temporaries and outputs over products and temporaries.
    Outputs missing from ``c_ops`` are zero. Built from fastmm.export.slp by `plan_for`.
    """

    n: int
    m: int
    p: int
    a_ops: list[tuple[str, list[tuple[Coef, str]]]] = field(default_factory=list)
    b_ops: list[tuple[str, list[tuple[Coef, str]]]] = field(default_factory=list)
    products: list[tuple[Coef, str, Coef, str]] = field(default_factory=list)
    c_ops: list[tuple[str, list[tuple[Coef, str]]]] = field(default_factory=list)


def plan_for(scheme: Scheme, cse: bool = True) -> Plan:
    """The Plan of a scheme: fastmm.export.slp's straight-line program, renamed for C."""
    from fastmm.export.slp import build_slp

    return _plan_from_slp(scheme, build_slp(scheme, cse=cse))


def _plan_from_slp(scheme: Scheme, slp: SLP) -> Plan:
    """Rename an fastmm.export.slp.SLP into the Plan's names (inputs by flat index, temporaries x_*)."""
    names: dict[str, str] = {}
    names.update({x: f"a{i}" for i, x in enumerate(slp.a.inputs)})
    names.update({x: f"b{i}" for i, x in enumerate(slp.b.inputs)})
    names.update({x: f"m{i}" for i, x in enumerate(slp.c.inputs)})
    names.update({op.target: f"c{i}" for i, op in enumerate(slp.c.outputs)})

    def rename(x: str) -> str:
        return names.get(x) or "x_" + x

    plan = Plan(*slp.shape)
    if tuple(slp.shape) != scheme.shape or slp.rank != scheme.rank:
        raise FastmmError("straight-line program does not match the scheme")
    for phase, ops in ((slp.a, plan.a_ops), (slp.b, plan.b_ops), (slp.c, plan.c_ops)):
        for op in phase.ops:
            ops.append((rename(op.target),
                        [(exact_coefficient(c), rename(src)) for src, c in op.terms]))
    for _mt, lt, rt in slp.products:
        plan.products.append((1, rename(lt), 1, rename(rt)))
    return plan


# -- normalisation: aliases, dead code, zero products ------------------------
def _resolve(ops: list[tuple[str, list[tuple[Coef, str]]]]) -> dict[str, list[tuple[Coef, str]]]:
    """Temporaries by name with validated coefficients, zero terms dropped, repeats merged."""
    out: dict[str, list[tuple[Coef, str]]] = {}
    for target, terms in ops:
        merged: dict[str, Fraction] = {}
        for coef, src in terms:
            merged[src] = merged.get(src, Fraction(0)) + Fraction(exact_coefficient(coef))
        out[target] = [(exact_coefficient(c), s) for s, c in merged.items() if c != 0]
    return out


def _alias(name: str, defs: dict[str, list[tuple[Coef, str]]]) -> tuple[Fraction, str] | None:
    """(c, src) when `name` is c·src for an input or stored value; None when it is zero."""
    scale = Fraction(1)
    while name in defs:
        terms = defs[name]
        if not terms:
            return None
        if len(terms) != 1:
            return scale, name
        c, name = terms[0]
        scale *= Fraction(c)
    return scale, name


def _needed(roots: list[str], defs: dict[str, list[tuple[Coef, str]]]) -> list[str]:
    """Temporaries that `roots` depend on, in definition order."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in defs and name not in seen:
            seen.add(name)
            stack.extend(src for _, src in defs[name])
    return [name for name in defs if name in seen]


@dataclass
class _Level:
    """What one level of the driver does, ready to print."""

    a_defs: dict[str, list[tuple[Coef, str]]]
    b_defs: dict[str, list[tuple[Coef, str]]]
    c_defs: dict[str, list[tuple[Coef, str]]]
    a_stored: list[str]  # temporaries that get a buffer (product operands)
    b_stored: list[str]
    products: list[tuple[Fraction, str, str]]  # (scale, A operand, B operand), nonzero only
    product_index: dict[str, int]  # original product name -> index in `products`


def _level(plan: Plan) -> _Level:
    a_defs, b_defs, c_defs = _resolve(plan.a_ops), _resolve(plan.b_ops), _resolve(plan.c_ops)
    products: list[tuple[Fraction, str, str]] = []
    index: dict[str, int] = {}
    for t, (ca, asrc, cb, bsrc) in enumerate(plan.products):
        ra, rb = _alias(asrc, a_defs), _alias(bsrc, b_defs)
        if ra is None or rb is None or exact_coefficient(ca) == 0 or exact_coefficient(cb) == 0:
            continue  # a zero product contributes nothing
        scale = Fraction(exact_coefficient(ca)) * Fraction(exact_coefficient(cb)) * ra[0] * rb[0]
        index[f"m{t}"] = len(products)
        products.append((scale, ra[1], rb[1]))
    # references to zero products vanish from the C side
    zero = {f"m{t}" for t in range(len(plan.products))} - set(index)
    c_defs = {k: [(c, s) for c, s in v if s not in zero] for k, v in c_defs.items()}
    a_stored = list(dict.fromkeys(a for _, a, _ in products if a in a_defs))
    b_stored = list(dict.fromkeys(b for _, _, b in products if b in b_defs))
    return _Level(a_defs, b_defs, c_defs, a_stored, b_stored, products, index)


# -- printing ----------------------------------------------------------------
def _expr(terms: list[tuple[Coef, str]], var, ctype: str) -> str:
    """`x0 - x3 + 2.0*v1`; an empty sum is 0."""
    parts: list[str] = []
    for coef, src in terms:
        c = exact_coefficient(coef)
        name = var(src)
        if c == 1:
            parts.append(f"+ {name}")
        elif c == -1:
            parts.append(f"- {name}")
        else:
            parts.append(f"+ {c_number(c, ctype)} * {name}")
    if not parts:
        return c_number(0, ctype)
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _ident(name: str) -> str:
    """C identifier for an SLP name: letters, digits and underscores only."""
    out = "".join(ch if ch.isalnum() else "_" for ch in name)
    if not out.isascii() or not out.replace("_", "").isalnum():
        raise FastmmError(f"refusing to generate code: bad SLP name {name!r}")
    return "v_" + out


def _fused_pass(
    funcs: list[str],
    body: list[str],
    ctype: str,
    fname: str,
    rows: str,
    cols: str,
    defs: dict[str, list[tuple[Coef, str]]],
    inputs: dict[str, tuple[str, str]],
    stored: dict[str, tuple[str, str]],
    indent: str = "    ",
) -> None:
    """One pass computing every value in `stored` from `inputs`, reading each input once.

    Appends the pass as a function `fname` over a range of rows to `funcs` (so that
    fastmm_run can split the rows between threads) and its call to `body`.
    inputs: input name -> (C expression of its block's first element, its row stride).
    stored: value name -> (C expression of its first element, its row stride).
    """
    order = _needed(list(stored), defs)
    used_inputs: list[str] = []
    for name in order:
        for _, src in defs[name]:
            if src not in defs and src not in used_inputs:
                if src not in inputs:
                    raise FastmmError(f"refusing to generate code: SLP refers to unknown {src!r}")
                used_inputs.append(src)
    for name in stored:
        if name not in defs:  # a stored value that is an input itself (plain copy)
            if name not in used_inputs:
                used_inputs.append(name)
    used_inputs.sort(key=lambda s: list(inputs).index(s))
    t = "d" if ctype == "double" else "s"
    width = 2 if ctype == "double" else 4
    f = funcs
    f.append(f"static void *{fname}(void *arg)")
    f.append("{")
    f.append("    const fastmm_part *part = (const fastmm_part *)arg;")
    f.append(f"    const fastmm_io_{t} *io = (const fastmm_io_{t} *)part->io;")
    f.append("    const int64_t cols = io->cols;")
    f.append("#if FASTMM_HAVE_STREAM")
    f.append("    const int nt = io->stream;")
    f.append("#endif")
    f.append("    for (int64_t i = part->row0; i < part->row1; i++) {")
    for q, src in enumerate(used_inputs):
        f.append(f"        const {ctype} *restrict p_{src} = io->in[{q}] + i * io->in_ld[{q}];")
    for k, name in enumerate(stored):
        f.append(f"        {ctype} *restrict q{k} = io->out[{k}] + i * io->out_ld[{k}];"
                 f"  /* {_ident(name)} */")
    f.append("        int64_t j = 0;")
    # streaming (non-temporal) stores for big blocks: no read-for-ownership of the targets
    aligned = " | ".join(f"(uintptr_t)q{k}" for k in range(len(stored)))
    f.append("#if FASTMM_HAVE_STREAM")
    f.append(f"        if (nt && (({aligned}) & 15) == 0) {{")
    f.append(f"            for (; j + {width} <= cols; j += {width}) {{")

    def vvar(src: str) -> str:
        return "w" + _ident(src)[1:] if src in defs else f"x_{src}"

    for src in used_inputs:
        f.append(f"                const fastmm_v{t} x_{src} = fastmm_load{t}(p_{src} + j);")
    for name in order:
        f.append(f"                const fastmm_v{t} {vvar(name)} = {_expr(defs[name], vvar, ctype)};")
    for k, name in enumerate(stored):
        f.append(f"                fastmm_stream{t}(q{k} + j, {vvar(name)});")
    f.append("            }")
    f.append("        }")
    f.append("#endif")
    f.append("        for (; j < cols; j++) {")

    def var(src: str) -> str:
        return _ident(src) if src in defs else f"p_{src}[j]"

    for name in order:
        f.append(f"            const {ctype} {_ident(name)} = {_expr(defs[name], var, ctype)};")
    for k, name in enumerate(stored):
        f.append(f"            q{k}[j] = {var(name)};")
    f.append("        }")
    f.append("    }")
    f.append("#if FASTMM_HAVE_STREAM")
    f.append("    if (nt) _mm_sfence();  /* per thread: streaming stores are weakly ordered */")
    f.append("#endif")
    f.append("    return NULL;")
    f.append("}")
    f.append("")
    i2 = indent + "    "
    body.append(f"{indent}{{")
    body.append(f"{i2}fastmm_io_{t} io;")
    for q, src in enumerate(used_inputs):
        ptr, ld = inputs[src]
        body.append(f"{i2}io.in[{q}] = {ptr};")
        body.append(f"{i2}io.in_ld[{q}] = {ld};")
    for k, (ptr, ld) in enumerate(stored.values()):
        body.append(f"{i2}io.out[{k}] = {ptr};")
        body.append(f"{i2}io.out_ld[{k}] = {ld};")
    body.append(f"{i2}io.cols = {cols};")
    body.append(f"{i2}const size_t bytes = (size_t)({rows}) * (size_t)({cols}) * sizeof({ctype});")
    body.append(f"{i2}io.stream = bytes >= fastmm_stream_min;")
    body.append(f"{i2}fastmm_run({fname}, &io, {rows}, bytes);")
    body.append(f"{indent}}}")


def _pass_io_sizes(scheme: Scheme, lv: _Level) -> tuple[int, int]:
    """Largest numbers of inputs and outputs of one fused pass (sizes of fastmm_io_*)."""
    n, m, p = scheme.shape
    max_in = max(n * m, m * p, len(lv.products), 1)
    max_out = max(len(lv.a_stored), len(lv.b_stored), n * p, 1)
    return max_in, max_out


def _emit_typed(scheme: Scheme, lv: _Level, t: str) -> list[str]:
    ctype = _CTYPES[t]
    n, m, p = scheme.shape
    gemm = f"fastmm_{t}gemm"
    one, zero = c_number(1, ctype), c_number(0, ctype)
    out: list[str] = []

    # (a) scalar kernel
    out.append(f"/* C = A·B for one {n}x{m} by {m}x{p} product over scalars. */")
    out.append(f"void fastmm_kernel_{t}(const {ctype} *restrict A, int64_t lda,")
    out.append(f"                       const {ctype} *restrict B, int64_t ldb,")
    out.append(f"                       {ctype} *restrict C, int64_t ldc)")
    out.append("{")

    def kvar_in(src: str) -> str:
        side, idx = src[0], int(src[1:])
        if side == "a":
            return f"A[{idx // m} * lda + {idx % m}]"
        return f"B[{idx // p} * ldb + {idx % p}]"

    a_needed = _needed(list(lv.a_stored), lv.a_defs)
    b_needed = _needed(list(lv.b_stored), lv.b_defs)
    for defs, names in ((lv.a_defs, a_needed), (lv.b_defs, b_needed)):
        for name in names:
            expr = _expr(defs[name], lambda s, d=defs: _ident(s) if s in d else kvar_in(s), ctype)
            out.append(f"    const {ctype} {_ident(name)} = {expr};")
    for q, (scale, asrc, bsrc) in enumerate(lv.products):
        av = _ident(asrc) if asrc in lv.a_defs else kvar_in(asrc)
        bv = _ident(bsrc) if bsrc in lv.b_defs else kvar_in(bsrc)
        sc = "" if scale == 1 else f"{c_number(scale, ctype)} * "
        out.append(f"    const {ctype} mm{q} = {sc}{av} * {bv};")

    def cvar(src: str) -> str:
        if src in lv.c_defs:
            return _ident(src)
        return f"mm{lv.product_index[src]}"

    c_needed = _needed([f"c{k}" for k in range(n * p)], lv.c_defs)
    for name in c_needed:
        if not name.startswith("c"):
            out.append(f"    const {ctype} {_ident(name)} = {_expr(lv.c_defs[name], cvar, ctype)};")
    for k in range(n * p):
        i, kk = divmod(k, p)
        expr = _expr(lv.c_defs.get(f"c{k}", []), cvar, ctype)
        out.append(f"    C[{i} * ldc + {kk}] = {expr};")
    if not lv.products:
        out.append("    (void)A; (void)B; (void)lda; (void)ldb;")
    out.append("}")
    out.append("")

    # (b) one level over blocks, the peeling recursion, and the public driver
    na, nb, nprod = len(lv.a_stored), len(lv.b_stored), len(lv.products)
    out.append(f"static void rec_{t}(int64_t M, int64_t K, int64_t N, {ctype} alpha,")
    out.append(f"                   const {ctype} *A, int64_t lda, const {ctype} *B, int64_t ldb,")
    out.append(f"                   {ctype} *C, int64_t ldc, int levels, int64_t cutoff, {ctype} *work);")
    out.append("")
    out.append("/* Workspace (elements) of one level's temporaries; regions are 64-byte aligned. */")
    out.append(f"static size_t own_{t}(int64_t bm, int64_t bk, int64_t bn)")
    out.append("{")
    out.append(f"    return {na} * fastmm_round((size_t)bm * (size_t)bk) + "
               f"{nb} * fastmm_round((size_t)bk * (size_t)bn)")
    out.append(f"         + {nprod} * fastmm_round((size_t)bm * (size_t)bn);")
    out.append("}")
    out.append("")
    out.append("/* Workspace of a whole recursion: this level's plus one child's (children run in turn). */")
    out.append(f"static size_t need_{t}(int64_t M, int64_t K, int64_t N, int levels, int64_t cutoff)")
    out.append("{")
    out.append(f"    const int64_t bm = M / {n}, bk = K / {m}, bn = N / {p};")
    out.append("    if (M <= 0 || N <= 0 || K <= 0 || levels <= 0 || bm < cutoff || bk < cutoff "
               "|| bn < cutoff)")
    out.append("        return 0;")
    out.append(f"    return own_{t}(bm, bk, bn) + need_{t}(bm, bk, bn, levels - 1, cutoff);")
    out.append("}")
    out.append("")
    before_level, out = out, []
    passes: list[str] = []  # the fused passes, emitted before the level that calls them
    out.append(f"/* C[0:{n}bm, 0:{p}bn] = alpha·A·B through one level of the scheme. */")
    out.append(f"static void level_{t}(int64_t bm, int64_t bk, int64_t bn, {ctype} alpha,")
    out.append(f"                    const {ctype} *A, int64_t lda, const {ctype} *B, int64_t ldb,")
    out.append(f"                    {ctype} *C, int64_t ldc, int levels, int64_t cutoff, {ctype} *work)")
    out.append("{")
    if nprod == 0:
        out.append("    (void)bk; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb;")
        out.append("    (void)levels; (void)cutoff; (void)work;")
        out.append("    for (int64_t i = 0; i < " + f"{n} * bm; i++)")
        out.append(f"        for (int64_t j = 0; j < {p} * bn; j++) C[i * ldc + j] = {zero};")
        out.append("}")
    else:
        out.append("    const size_t sa = fastmm_round((size_t)bm * (size_t)bk);")
        out.append("    const size_t sb = fastmm_round((size_t)bk * (size_t)bn);")
        out.append("    const size_t sc = fastmm_round((size_t)bm * (size_t)bn);")
        out.append(f"    {ctype} *TA = work, *TB = work + {na} * sa, *MM = TB + {nb} * sb;")
        out.append(f"    {ctype} *rest = MM + {nprod} * sc;  /* the children's workspace */")
        if not na:
            out.append("    (void)TA;")
        if not nb:
            out.append("    (void)TB;")
        a_blocks = {f"a{i * m + j}": f"A + {i} * bm * lda + {j} * bk" for i in range(n) for j in range(m)}
        b_blocks = {f"b{j * p + k}": f"B + {j} * bk * ldb + {k} * bn" for j in range(m) for k in range(p)}
        if na:
            out.append("    /* A side: every stored temporary in one pass over the A blocks */")
            _fused_pass(passes, out, ctype, f"pass_{t}_a", "bm", "bk", lv.a_defs,
                        {name: (ptr, "lda") for name, ptr in a_blocks.items()},
                        {name: (f"TA + {q} * sa", "bk") for q, name in enumerate(lv.a_stored)})
        if nb:
            out.append("    /* B side */")
            _fused_pass(passes, out, ctype, f"pass_{t}_b", "bk", "bn", lv.b_defs,
                        {name: (ptr, "ldb") for name, ptr in b_blocks.items()},
                        {name: (f"TB + {q} * sb", "bn") for q, name in enumerate(lv.b_stored)})
        out.append("    /* products, each by recursion or gemm */")
        for q, (scale, asrc, bsrc) in enumerate(lv.products):
            if asrc in lv.a_defs:
                aptr, ald = f"TA + {lv.a_stored.index(asrc)} * sa", "bk"
            else:
                aptr, ald = a_blocks[asrc], "lda"
            if bsrc in lv.b_defs:
                bptr, bld = f"TB + {lv.b_stored.index(bsrc)} * sb", "bn"
            else:
                bptr, bld = b_blocks[bsrc], "ldb"
            al = "alpha" if scale == 1 else f"alpha * {c_number(scale, ctype)}"
            out.append(f"    rec_{t}(bm, bk, bn, {al}, {aptr}, {ald}, "
                       f"{bptr}, {bld}, MM + {q} * sc, bn, levels, cutoff, rest);")
        out.append("    /* C side: every output block in one pass over the products */")
        c_inputs = {name: (f"MM + {q} * sc", "bn") for name, q in lv.product_index.items()}
        c_all = dict(lv.c_defs)
        for k in range(n * p):
            c_all.setdefault(f"c{k}", [])
        _fused_pass(passes, out, ctype, f"pass_{t}_c", "bm", "bn", c_all, c_inputs,
                    {f"c{k}": (f"C + {k // p} * bm * ldc + {k % p} * bn", "ldc")
                     for k in range(n * p)})
        out.append("}")
    out = before_level + passes + out
    out.append("")
    out.append(f"static void rec_{t}(int64_t M, int64_t K, int64_t N, {ctype} alpha,")
    out.append(f"                   const {ctype} *A, int64_t lda, const {ctype} *B, int64_t ldb,")
    out.append(f"                   {ctype} *C, int64_t ldc, int levels, int64_t cutoff, {ctype} *work)")
    out.append("{")
    out.append("    if (M <= 0 || N <= 0) return;")
    out.append("    if (K <= 0) {")
    out.append("        for (int64_t i = 0; i < M; i++)")
    out.append(f"            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = {zero};")
    out.append("        return;")
    out.append("    }")
    out.append(f"    const int64_t bm = M / {n}, bk = K / {m}, bn = N / {p};")
    out.append("    if (levels <= 0 || bm < cutoff || bk < cutoff || bn < cutoff) {")
    out.append(f"        {gemm}(M, N, K, alpha, A, lda, B, ldb, {zero}, C, ldc);")
    out.append("        return;")
    out.append("    }")
    out.append(f"    const int64_t M0 = {n} * bm, K0 = {m} * bk, N0 = {p} * bn;")
    out.append(f"    level_{t}(bm, bk, bn, alpha, A, lda, B, ldb, C, ldc, levels - 1, cutoff, work);")
    out.append("    /* peeling: the leftover inner strip, right strip and bottom strip */")
    out.append(f"    if (K0 < K)\n        {gemm}(M0, N0, K - K0, alpha, A + K0, lda, B + K0 * ldb, ldb, "
               f"{one}, C, ldc);")
    out.append(f"    if (N0 < N)\n        {gemm}(M0, N - N0, K, alpha, A, lda, B + N0, ldb, "
               f"{zero}, C + N0, ldc);")
    out.append(f"    if (M0 < M)\n        {gemm}(M - M0, N, K, alpha, A + M0 * lda, lda, B, ldb, "
               f"{zero}, C + M0 * ldc, ldc);")
    out.append("}")
    out.append("")
    out.append("/* C = alpha·A·B (M×K times K×N, row-major, leading dimensions lda, ldb, ldc).")
    out.append("   Returns 0; -1 when the workspace could not be allocated; -2 without a BLAS. */")
    out.append(f"int fastmm_matmul_{t}(int64_t M, int64_t K, int64_t N, {ctype} alpha,")
    out.append(f"                     const {ctype} *A, int64_t lda, const {ctype} *B, int64_t ldb,")
    out.append(f"                     {ctype} *C, int64_t ldc, int levels, int64_t cutoff)")
    out.append("{")
    out.append(f"    if (!blas_{t}gemm) return -2;  /* fastmm_set_blas was not called */")
    out.append("    if (cutoff < 1) cutoff = 1;")
    out.append(f"    const size_t elems = need_{t}(M, K, N, levels, cutoff);")
    out.append("    int owned = 0;")
    out.append(f"    {ctype} *work = NULL;")
    out.append("    if (elems) {")
    out.append(f"        work = ({ctype} *)fastmm_workspace(elems * sizeof({ctype}), &owned);")
    out.append("        if (!work) return -1;")
    out.append("    }")
    out.append(f"    rec_{t}(M, K, N, alpha, A, lda, B, ldb, C, ldc, levels, cutoff, work);")
    out.append("    if (elems) fastmm_workspace_done(work, owned);")
    out.append("    return 0;")
    out.append("}")
    out.append("")
    return out


def _check_coefficients(scheme: Scheme) -> None:
    for w in (scheme.Wa, scheme.Wb, scheme.Wc):
        for x in np.asarray(w).flat:
            exact_coefficient(x)


def checked_scheme(scheme: Scheme) -> Scheme:
    """Refuse schemes whose coefficients are not validated numbers, Z2-only schemes and invalid ones."""
    _check_coefficients(scheme)
    if scheme.ring == "Z2":
        raise FastmmError(
            f"{scheme.label()} is valid modulo 2 only; floating-point code would compute a wrong product"
        )
    from fastmm.verify import verify

    verdict = verify(scheme, use_sympy=False)
    if not verdict.ok:
        lines = verdict.report.lines(limit=3)
        raise VerificationError(f"{scheme.label()} fails verification: " + "; ".join(lines))
    return scheme


def emit_c(scheme: Scheme, blas_int: str = "int64_t", cse: bool = True) -> str:
    """C source (double and float) for `scheme`; see the module docstring for the functions.

    blas_int is the integer type of the CBLAS gemm the library will be given
    (``int64_t`` for numpy's bundled scipy-openblas64, ``int32_t`` for a classic BLAS).
    """
    if blas_int not in BLAS_INT_TYPES:
        raise ValueError(f"blas_int must be one of {BLAS_INT_TYPES}")
    scheme = checked_scheme(scheme)
    plan = plan_for(scheme, cse=cse)
    lv = _level(plan)
    n, m, p = scheme.shape
    r = scheme.rank
    head = [
        f"/* fastmm generated code: <{n:d},{m:d},{p:d};{r:d}> scheme, "
        f"{len(lv.products):d} block products per level.",
        "   Use: call fastmm_set_blas((void *)dgemm, (void *)sgemm) once with CBLAS gemm functions",
        f"   whose integer arguments are {blas_int} (e.g. numpy's scipy_cblas_dgemm64_), then",
        "   fastmm_matmul_d / fastmm_matmul_s. Build: cc -O3 -fPIC -shared -pthread. No OpenMP: the",
        "   BLAS threads the products; big additions split their rows between joined pthreads. */",
        "#include <stdint.h>",
        "#include <stdlib.h>",
        "#ifdef __linux__",
        "#include <sys/mman.h>",
        "#endif",
        "",
        "/* Non-temporal stores for blocks of at least fastmm_stream_min bytes (SSE2; define",
        "   FASTMM_NO_STREAM to turn them off): temporaries bigger than the caches are written",
        "   without first being read. */",
        "#if defined(__SSE2__) && !defined(FASTMM_NO_STREAM)",
        "#include <emmintrin.h>",
        "#define FASTMM_HAVE_STREAM 1",
        "typedef double fastmm_vd __attribute__((vector_size(16)));",
        "typedef float fastmm_vs __attribute__((vector_size(16)));",
        "static inline fastmm_vd fastmm_loadd(const double *p) { return (fastmm_vd)_mm_loadu_pd(p); }",
        "static inline fastmm_vs fastmm_loads(const float *p) { return (fastmm_vs)_mm_loadu_ps(p); }",
        "static inline void fastmm_streamd(double *p, fastmm_vd v) { _mm_stream_pd(p, (__m128d)v); }",
        "static inline void fastmm_streams(float *p, fastmm_vs v) { _mm_stream_ps(p, (__m128)v); }",
        "#else",
        "#define FASTMM_HAVE_STREAM 0",
        "#endif",
        "#ifndef FASTMM_STREAM_MIN",
        "#define FASTMM_STREAM_MIN ((size_t)16 << 20)",
        "#endif",
        "static size_t fastmm_stream_min = FASTMM_STREAM_MIN;",
        "",
        "/* Block size in bytes from which temporaries are written with streaming stores. */",
        "void fastmm_set_stream_min(size_t bytes)",
        "{",
        "    fastmm_stream_min = bytes;",
        "}",
        "",
        "#define FASTMM_ROW_MAJOR 101",
        "#define FASTMM_NO_TRANS 111",
        f"typedef {blas_int} fastmm_blas_int;",
        "typedef void (*fastmm_dgemm_fn)(int, int, int, fastmm_blas_int, fastmm_blas_int,",
        "    fastmm_blas_int, double, const double *, fastmm_blas_int, const double *,",
        "    fastmm_blas_int, double, double *, fastmm_blas_int);",
        "typedef void (*fastmm_sgemm_fn)(int, int, int, fastmm_blas_int, fastmm_blas_int,",
        "    fastmm_blas_int, float, const float *, fastmm_blas_int, const float *,",
        "    fastmm_blas_int, float, float *, fastmm_blas_int);",
        "static fastmm_dgemm_fn blas_dgemm;",
        "static fastmm_sgemm_fn blas_sgemm;",
        "",
        "/* The CBLAS gemm functions (row-major interface); returns 0. */",
        "int fastmm_set_blas(void *dgemm, void *sgemm)",
        "{",
        "    blas_dgemm = (fastmm_dgemm_fn)dgemm;",
        "    blas_sgemm = (fastmm_sgemm_fn)sgemm;",
        "    return 0;",
        "}",
        "",
        "/* Element counts rounded up to whole 64-byte lines (16 floats, 8 doubles). */",
        "static size_t fastmm_round(size_t elems)",
        "{",
        "    return (elems + 15) / 16 * 16;",
        "}",
        "",
        "static void *fastmm_alloc(size_t bytes)",
        "{",
        "    const size_t align = bytes >= ((size_t)1 << 22) ? ((size_t)1 << 21) : 64;",
        "    const size_t rounded = (bytes + align - 1) / align * align;",
        "    void *p = aligned_alloc(align, rounded ? rounded : align);",
        "#if defined(__linux__) && defined(MADV_HUGEPAGE)",
        "    if (p && align > 64) madvise(p, rounded, MADV_HUGEPAGE);",
        "#endif",
        "    return p;",
        "}",
        "",
        "/* One workspace kept between calls (first-touch page faults are paid once); a",
        "   concurrent caller that finds it busy gets a private allocation instead. */",
        "static void *ws_ptr;",
        "static size_t ws_bytes;",
        "static char ws_busy;",
        "",
        "static void *fastmm_workspace(size_t bytes, int *owned)",
        "{",
        "    if (!__atomic_test_and_set(&ws_busy, __ATOMIC_ACQUIRE)) {",
        "        if (ws_bytes < bytes) {",
        "            free(ws_ptr);",
        "            ws_ptr = fastmm_alloc(bytes);",
        "            ws_bytes = ws_ptr ? bytes : 0;",
        "        }",
        "        if (ws_ptr) {",
        "            *owned = 0;",
        "            return ws_ptr;",
        "        }",
        "        __atomic_clear(&ws_busy, __ATOMIC_RELEASE);",
        "    }",
        "    *owned = 1;",
        "    return fastmm_alloc(bytes);",
        "}",
        "",
        "static void fastmm_workspace_done(void *p, int owned)",
        "{",
        "    if (owned)",
        "        free(p);",
        "    else",
        "        __atomic_clear(&ws_busy, __ATOMIC_RELEASE);",
        "}",
        "",
        "/* Threads for the block additions: the fused passes split their rows between up to",
        "   fastmm_threads threads (0: one per online CPU) for blocks of at least",
        "   fastmm_parallel_min bytes. Plain pthreads that are joined, never spinning, so they",
        "   do not fight the BLAS threads, which are idle while the additions run. */",
        "#if (defined(__unix__) || defined(__APPLE__)) && !defined(FASTMM_NO_THREADS)",
        "#include <pthread.h>",
        "#include <unistd.h>",
        "#define FASTMM_HAVE_THREADS 1",
        "#else",
        "#define FASTMM_HAVE_THREADS 0",
        "#endif",
        "#define FASTMM_MAX_THREADS 64",
        "#ifndef FASTMM_PARALLEL_MIN",
        "#define FASTMM_PARALLEL_MIN ((size_t)4 << 20)",
        "#endif",
        "static int fastmm_threads;",
        "static size_t fastmm_parallel_min = FASTMM_PARALLEL_MIN;",
        "",
        "/* Threads for the additions (n <= 0: one per online CPU). */",
        "void fastmm_set_threads(int n)",
        "{",
        "    fastmm_threads = n > 0 ? n : 0;",
        "}",
        "",
        "/* Block size in bytes from which a pass is split between threads. */",
        "void fastmm_set_parallel_min(size_t bytes)",
        "{",
        "    fastmm_parallel_min = bytes;",
        "}",
        "",
        "static int fastmm_thread_count(void)",
        "{",
        "    long n = fastmm_threads;",
        "#if FASTMM_HAVE_THREADS",
        "    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);",
        "#endif",
        "    if (n < 1) n = 1;",
        "    return n > FASTMM_MAX_THREADS ? FASTMM_MAX_THREADS : (int)n;",
        "}",
        "",
        "/* The rows [row0, row1) of one pass; io points to the pass's typed block pointers. */",
        "typedef struct {",
        "    const void *io;",
        "    int64_t row0, row1;",
        "} fastmm_part;",
        "",
        "/* Runs fn over `rows` rows, split between threads when the blocks are big; a thread",
        "   that cannot be started leaves its rows to the caller. */",
        "static void fastmm_run(void *(*fn)(void *), const void *io, int64_t rows, size_t bytes)",
        "{",
        "    int nth = bytes >= fastmm_parallel_min ? fastmm_thread_count() : 1;",
        "    if (nth > rows) nth = rows > 0 ? (int)rows : 1;",
        "    fastmm_part part[FASTMM_MAX_THREADS];",
        "    for (int k = 0; k < nth; k++) {",
        "        part[k].io = io;",
        "        part[k].row0 = rows * k / nth;",
        "        part[k].row1 = rows * (k + 1) / nth;",
        "    }",
        "#if FASTMM_HAVE_THREADS",
        "    pthread_t tid[FASTMM_MAX_THREADS];",
        "    int started[FASTMM_MAX_THREADS];",
        "    for (int k = 1; k < nth; k++)",
        "        started[k] = pthread_create(&tid[k], NULL, fn, &part[k]) == 0;",
        "    fn(&part[0]);",
        "    for (int k = 1; k < nth; k++) {",
        "        if (started[k])",
        "            pthread_join(tid[k], NULL);",
        "        else",
        "            fn(&part[k]);",
        "    }",
        "#else",
        "    for (int k = 0; k < nth; k++) fn(&part[k]);",
        "#endif",
        "}",
        "",
        "/* Frees the kept workspace (when no call is using it); returns 0, or -1 if busy. */",
        "int fastmm_release_workspace(void)",
        "{",
        "    if (__atomic_test_and_set(&ws_busy, __ATOMIC_ACQUIRE)) return -1;",
        "    free(ws_ptr);",
        "    ws_ptr = NULL;",
        "    ws_bytes = 0;",
        "    __atomic_clear(&ws_busy, __ATOMIC_RELEASE);",
        "    return 0;",
        "}",
        "",
    ]
    max_in, max_out = _pass_io_sizes(scheme, lv)
    for t, ctype in _CTYPES.items():
        head += [
            f"/* The blocks one fused {ctype} pass reads and writes (first element, row stride). */",
            "typedef struct {",
            f"    const {ctype} *in[{max_in:d}];",
            f"    int64_t in_ld[{max_in:d}];",
            f"    {ctype} *out[{max_out:d}];",
            f"    int64_t out_ld[{max_out:d}];",
            "    int64_t cols;",
            "    int stream;",
            f"}} fastmm_io_{t};",
            "",
            f"static void fastmm_{t}gemm(int64_t M, int64_t N, int64_t K, {ctype} alpha,",
            f"                          const {ctype} *A, int64_t lda, const {ctype} *B, int64_t ldb,",
            f"                          {ctype} beta, {ctype} *C, int64_t ldc)",
            "{",
            "    if (M <= 0 || N <= 0) return;",
            f"    blas_{t}gemm(FASTMM_ROW_MAJOR, FASTMM_NO_TRANS, FASTMM_NO_TRANS, (fastmm_blas_int)M,",
            "               (fastmm_blas_int)N, (fastmm_blas_int)K, alpha, A, (fastmm_blas_int)lda, B,",
            "               (fastmm_blas_int)ldb, beta, C, (fastmm_blas_int)ldc);",
            "}",
            "",
        ]
    body: list[str] = []
    for t in _CTYPES:
        body += _emit_typed(scheme, lv, t)
    return "\n".join(head + body)
