"""C code from a scheme: the scheme-dependent layer over a hand-written C runtime.

The runtime (fastmm/export/runtime/fastmm_runtime.h and .c, package data) holds everything
that does not depend on the scheme: the BLAS entry points, the workspace, threads for the
additions, streaming stores and the recursion driver with its peeling (see the header).
fastmm.export.build compiles it once and links it into each scheme's library.
`emit_scheme_c` prints only what depends on the scheme, for double (suffix ``_d``) and float
(``_s``):

* ``fastmm_kernel_<t>``: one n×m · m×p product over scalars, straight from the program;
* ``pass_<t>_a``, ``pass_<t>_b``, ``pass_<t>_c``: the fused additions of one level. One pass
  over the A blocks forms every A-side operand a product needs (shared subexpressions live
  in registers), one does the same for B, and one pass over the products writes every C
  block; the runtime splits their rows between threads (``fastmm_pass_<t>``);
* ``level_<t>``: one level over blocks (the passes and the block products, each by
  ``fastmm_rec_<t>``), the scheme's descriptor, and ``fastmm_matmul_<t>``, which hands both
  to the runtime's driver.

`emit_c` writes the header, the runtime and the scheme part as one self-contained file (what
``fastmm export --to c`` prints): ``cc -O3 -fPIC -shared -pthread file.c``.

Products that contribute nothing (an identically zero operand, or a column of Wc that is all
zero) are left out (fastmm.export.slp, ``drop_dead``; fastmm.export.cplan.level_of): the header
comment counts the block products actually computed.

Safety: coefficients reach the source only through fastmm.export.cplan.c_number, which
accepts Python or NumPy integers and Fractions, rounds them exactly and refuses magnitudes
that float cannot hold. No text from a scheme file (provenance, names) is copied into it.

Size limit: the code grows with the program. ⟨8,8,8;343⟩ (Strassen cubed) takes about 2 s to
generate (the shared-subexpression search of fastmm.export.slp included), 1 MB of C and about
30 s of gcc -O3 (once; the library is cached). Schemes of more than MAX_RANK = 1024 products
per level are refused (InputError) rather than left to compile for many minutes.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from fastmm.errors import FastmmError, InputError, VerificationError
from fastmm.export.cplan import Coef, Level, c_number, exact_coefficient, level_of, needed, plan_for
from fastmm.scheme import Scheme

__all__ = ["c_number", "checked_scheme", "emit_c", "emit_scheme_c", "plan_for", "runtime_text"]

BLAS_INT_TYPES = ("int64_t", "int32_t")
RUNTIME_HEADER, RUNTIME_SOURCE = "fastmm_runtime.h", "fastmm_runtime.c"
INCLUDE_RUNTIME = f'#include "{RUNTIME_HEADER}"'
MAX_RANK = 1024  # products per level; beyond it the C and its compile grow past minutes
_CTYPES = {"d": "double", "s": "float"}


def runtime_text(name: str) -> str:
    """The text of a runtime file (RUNTIME_HEADER or RUNTIME_SOURCE) shipped with the package."""
    if name not in (RUNTIME_HEADER, RUNTIME_SOURCE):
        raise ValueError(f"no runtime file {name!r}")
    return resources.files("fastmm.export").joinpath("runtime", name).read_text(encoding="utf-8")


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




# -- pieces of C ---------------------------------------------------------------
class _Pass:
    """One fused pass: computes every value in `stored` from `inputs`, reading each input once.

    inputs: input name -> (C expression of its block's first element, its row stride);
    stored: value name -> (C expression of its first element, its row stride).
    `function` is the pass over a range of rows; `call` runs it from the level.
    """

    def __init__(self, name: str, t: str, defs: dict[str, list[tuple[Coef, str]]],
                 inputs: dict[str, tuple[str, str]], stored: dict[str, tuple[str, str]]) -> None:
        self.name, self.t, self.ctype = name, t, _CTYPES[t]
        self.defs, self.inputs, self.stored = defs, inputs, stored
        self.order = needed(list(stored), defs)
        used: set[str] = set()
        for target in self.order:
            for _, src in defs[target]:
                if src not in defs:
                    if src not in inputs:
                        raise FastmmError(f"refusing to generate code: SLP refers to unknown {src!r}")
                    used.add(src)
        used.update(s for s in stored if s not in defs)  # a stored input is a plain copy
        self.used = [s for s in inputs if s in used]

    def _vector(self, src: str) -> str:
        return "w" + _ident(src)[1:] if src in self.defs else f"x_{src}"

    def _scalar(self, src: str) -> str:
        return _ident(src) if src in self.defs else f"p_{src}[j]"

    def function(self) -> list[str]:
        t, ctype, defs = self.t, self.ctype, self.defs
        width = 2 if t == "d" else 4  # elements per 16-byte vector
        f = [f"static void *{self.name}(void *arg)", "{",
             "    const fastmm_part *part = (const fastmm_part *)arg;",
             f"    const fastmm_io_{t} *io = (const fastmm_io_{t} *)part->io;",
             "    const int64_t cols = io->cols;",
             "#if FASTMM_HAVE_STREAM", "    const int nt = io->stream;", "#endif",
             "    for (int64_t i = part->row0; i < part->row1; i++) {"]
        for q, src in enumerate(self.used):
            f.append(f"        const {ctype} *restrict p_{src} = io->in[{q}] + i * io->in_ld[{q}];")
        for k, name in enumerate(self.stored):
            f.append(f"        {ctype} *restrict q{k} = io->out[{k}] + i * io->out_ld[{k}];"
                     f"  /* {_ident(name)} */")
        # streaming (non-temporal) stores for big blocks: no read-for-ownership of the targets
        aligned = " | ".join(f"(uintptr_t)q{k}" for k in range(len(self.stored)))
        f += ["        int64_t j = 0;", "#if FASTMM_HAVE_STREAM",
              f"        if (nt && (({aligned}) & 15) == 0) {{",
              f"            for (; j + {width} <= cols; j += {width}) {{"]
        for src in self.used:
            f.append(f"                const fastmm_v{t} x_{src} = fastmm_load{t}(p_{src} + j);")
        for name in self.order:
            f.append(f"                const fastmm_v{t} {self._vector(name)} = "
                     f"{_expr(defs[name], self._vector, ctype)};")
        for k, name in enumerate(self.stored):
            f.append(f"                fastmm_stream{t}(q{k} + j, {self._vector(name)});")
        f += ["            }", "        }", "#endif", "        for (; j < cols; j++) {"]
        for name in self.order:
            f.append(f"            const {ctype} {_ident(name)} = {_expr(defs[name], self._scalar, ctype)};")
        for k, name in enumerate(self.stored):
            f.append(f"            q{k}[j] = {self._scalar(name)};")
        f += ["        }", "    }", "#if FASTMM_HAVE_STREAM",
              "    if (nt) _mm_sfence();  /* per thread: streaming stores are weakly ordered */",
              "#endif", "    return NULL;", "}", ""]
        return f

    def call(self, rows: str, cols: str) -> list[str]:
        ctype = self.ctype
        ins = [self.inputs[s] for s in self.used]
        outs = list(self.stored.values())
        return [
            "    {",
            f"        const {ctype} *in[] = {_initializer([p for p, _ in ins])};",
            f"        const int64_t in_ld[] = {_initializer([ld for _, ld in ins], 16)};",
            f"        {ctype} *out[] = {_initializer([p for p, _ in outs])};",
            f"        const int64_t out_ld[] = {_initializer([ld for _, ld in outs], 16)};",
            f"        fastmm_io_{self.t} io = {{in, in_ld, out, out_ld, {cols}, 0}};",
            f"        fastmm_pass_{self.t}({self.name}, &io, {rows});",
            "    }",
        ]


def _initializer(items: list[str], per_line: int = 4) -> str:
    """``{x, y, ...}`` with at most `per_line` items on a line."""
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{" + ",\n            ".join(lines) + "}"


def _kernel(scheme: Scheme, lv: Level, t: str) -> list[str]:
    """fastmm_kernel_<t>: C = A·B for one n×m by m×p product of scalars."""
    ctype = _CTYPES[t]
    n, m, p = scheme.shape
    out = [f"/* C = A*B for one {n}x{m} by {m}x{p} product over scalars. */",
           f"void fastmm_kernel_{t}(const {ctype} *restrict A, int64_t lda,",
           f"                       const {ctype} *restrict B, int64_t ldb,",
           f"                       {ctype} *restrict C, int64_t ldc)", "{"]

    def entry(src: str) -> str:
        idx = int(src[1:])
        return f"A[{idx // m} * lda + {idx % m}]" if src[0] == "a" else f"B[{idx // p} * ldb + {idx % p}]"

    for defs, stored in ((lv.a_defs, lv.a_stored), (lv.b_defs, lv.b_stored)):
        for name in needed(list(stored), defs):
            expr = _expr(defs[name], lambda s, d=defs: _ident(s) if s in d else entry(s), ctype)
            out.append(f"    const {ctype} {_ident(name)} = {expr};")
    for q, (scale, asrc, bsrc) in enumerate(lv.products):
        av = _ident(asrc) if asrc in lv.a_defs else entry(asrc)
        bv = _ident(bsrc) if bsrc in lv.b_defs else entry(bsrc)
        sc = "" if scale == 1 else f"{c_number(scale, ctype)} * "
        out.append(f"    const {ctype} mm{q} = {sc}{av} * {bv};")

    def cvar(src: str) -> str:
        return _ident(src) if src in lv.c_defs else f"mm{lv.product_index[src]}"

    for name in needed([f"c{k}" for k in range(n * p)], lv.c_defs):
        if not name.startswith("c"):
            out.append(f"    const {ctype} {_ident(name)} = {_expr(lv.c_defs[name], cvar, ctype)};")
    for k in range(n * p):
        out.append(f"    C[{k // p} * ldc + {k % p}] = {_expr(lv.c_defs.get(f'c{k}', []), cvar, ctype)};")
    if not lv.products:
        out.append("    (void)A; (void)B; (void)lda; (void)ldb;")
    return out + ["}", ""]


def _products_loop(lv: Level, t: str, nm: int, mp: int, m: int, p: int) -> list[str]:
    """The level's block products as a loop over a table, not one call each: gcc's dead-store
    elimination is quadratic in the calls of one block (the naive ⟨8,8,8;512⟩ compiled in 42 s of
    CPU, 35 of them in that pass). Operand code c < nm is block (c / m, c % m) of A, else the
    stored operand c - nm (the same for B with mp and p); scale 1 multiplies alpha exactly."""
    ctype = _CTYPES[t]
    a_slot = {name: q for q, name in enumerate(lv.a_stored)}
    b_slot = {name: q for q, name in enumerate(lv.b_stored)}
    codes_a = [str(nm + a_slot[a] if a in a_slot else int(a[1:])) for _, a, _ in lv.products]
    codes_b = [str(mp + b_slot[b] if b in b_slot else int(b[1:])) for _, _, b in lv.products]
    scales = [c_number(scale, ctype) for scale, _, _ in lv.products]
    return [
        f"    /* products, each by recursion or gemm. Operand code c < {nm}: block (c / {m}, c % {m}) of A,",
        f"       else the stored operand c - {nm}; for B, c < {mp}: block (c / {p}, c % {p}). */",
        f"    static const int32_t code_a[] = {_initializer(codes_a, 16)};",
        f"    static const int32_t code_b[] = {_initializer(codes_b, 16)};",
        f"    static const {ctype} scale[] = {_initializer(scales, 8)};",
        f"    for (int64_t q = 0; q < {len(lv.products)}; q++) {{",
        "        const int64_t ca = code_a[q], cb = code_b[q];",
        f"        const {ctype} *pa = ca < {nm} ? A + (ca / {m}) * bm * lda + (ca % {m}) * bk "
        f": TA + (ca - {nm}) * sa;",
        f"        const {ctype} *pb = cb < {mp} ? B + (cb / {p}) * bk * ldb + (cb % {p}) * bn "
        f": TB + (cb - {mp}) * sb;",
        f"        fastmm_rec_{t}(s, bm, bk, bn, alpha * scale[q], pa, ca < {nm} ? lda : bk, pb,",
        f"                     cb < {mp} ? ldb : bn, MM + q * sc, bn, levels, cutoff, rest);",
        "    }",
    ]


def _level_c(scheme: Scheme, lv: Level, t: str) -> list[str]:
    """The fused passes, level_<t>, the scheme descriptor and fastmm_matmul_<t>."""
    ctype = _CTYPES[t]
    n, m, p = scheme.shape
    na, nb, nprod = len(lv.a_stored), len(lv.b_stored), len(lv.products)
    head = [f"/* C[0:{n}bm, 0:{p}bn] = alpha*A*B through one level of the scheme. */",
            f"static void level_{t}(const fastmm_scheme_{t} *s, int64_t bm, int64_t bk, int64_t bn,",
            f"                    {ctype} alpha, const {ctype} *A, int64_t lda, const {ctype} *B,",
            f"                    int64_t ldb, {ctype} *C, int64_t ldc, int levels, int64_t cutoff,",
            f"                    {ctype} *work)", "{"]
    passes: list[str] = []
    if nprod == 0:
        body = ["    (void)s; (void)bk; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb;",
                "    (void)levels; (void)cutoff; (void)work;",
                f"    for (int64_t i = 0; i < {n} * bm; i++)",
                f"        for (int64_t j = 0; j < {p} * bn; j++) C[i * ldc + j] = {c_number(0, ctype)};"]
    else:
        body = ["    const size_t sa = fastmm_round((size_t)bm * (size_t)bk);",
                "    const size_t sb = fastmm_round((size_t)bk * (size_t)bn);",
                "    const size_t sc = fastmm_round((size_t)bm * (size_t)bn);",
                f"    {ctype} *TA = work, *TB = work + {na} * sa, *MM = TB + {nb} * sb;",
                f"    {ctype} *rest = MM + {nprod} * sc;  /* the children's workspace */"]
        body += ["    (void)TA;"] * (not na) + ["    (void)TB;"] * (not nb)
        a_blocks = {f"a{i * m + j}": (f"A + {i} * bm * lda + {j} * bk", "lda")
                    for i in range(n) for j in range(m)}
        b_blocks = {f"b{j * p + k}": (f"B + {j} * bk * ldb + {k} * bn", "ldb")
                    for j in range(m) for k in range(p)}
        a_ops = {name: (f"TA + {q} * sa", "bk") for q, name in enumerate(lv.a_stored)}
        b_ops = {name: (f"TB + {q} * sb", "bn") for q, name in enumerate(lv.b_stored)}
        for side, defs, blocks, ops, rows, cols in (("a", lv.a_defs, a_blocks, a_ops, "bm", "bk"),
                                                    ("b", lv.b_defs, b_blocks, b_ops, "bk", "bn")):
            if ops:
                ps = _Pass(f"pass_{t}_{side}", t, defs, blocks, ops)
                passes += ps.function()
                body += [f"    /* {side.upper()} side: every stored operand in one pass over the blocks */",
                         *ps.call(rows, cols)]
        body += _products_loop(lv, t, n * m, m * p, m, p)
        c_defs = {**lv.c_defs, **{f"c{k}": lv.c_defs.get(f"c{k}", []) for k in range(n * p)}}
        ps = _Pass(f"pass_{t}_c", t, c_defs,
                   {name: (f"MM + {q} * sc", "bn") for name, q in lv.product_index.items()},
                   {f"c{k}": (f"C + {k // p} * bm * ldc + {k % p} * bn", "ldc") for k in range(n * p)})
        passes += ps.function()
        body += ["    /* C side: every output block in one pass over the products */", *ps.call("bm", "bn")]
    return passes + head + body + [
        "}", "",
        f"static const fastmm_scheme_{t} scheme_{t} = {{{n}, {m}, {p}, {na}, {nb}, {nprod}, level_{t}}};",
        "",
        f"int fastmm_matmul_{t}(int64_t M, int64_t K, int64_t N, {ctype} alpha, const {ctype} *A,",
        f"                     int64_t lda, const {ctype} *B, int64_t ldb, {ctype} *C, int64_t ldc,",
        "                     int levels, int64_t cutoff)", "{",
        f"    return fastmm_drive_{t}(&scheme_{t}, M, K, N, alpha, A, lda, B, ldb, C, ldc, levels, cutoff);",
        "}", ""]


# -- the generated file --------------------------------------------------------
def checked_scheme(scheme: Scheme) -> Scheme:
    """Refuse schemes whose coefficients are not validated numbers, Z2-only schemes and invalid ones."""
    for w in (scheme.Wa, scheme.Wb, scheme.Wc):
        for x in np.asarray(w).flat:
            exact_coefficient(x)
    if scheme.ring == "Z2":  # a scheme the format cannot hold: bad input (exit 2), as for every format
        raise InputError(
            f"{scheme.label()} is valid modulo 2 only; floating-point code would compute a wrong product"
        )
    from fastmm.verify import verify

    verdict = verify(scheme, use_sympy=False)
    if not verdict.ok:
        lines = verdict.report.lines(limit=3)
        raise VerificationError(f"{scheme.label()} fails verification: " + "; ".join(lines))
    return scheme


def emit_scheme_c(scheme: Scheme, cse: bool = True) -> str:
    """The scheme-dependent C (double and float) of `scheme`, over the runtime header."""
    if scheme.rank > MAX_RANK:
        raise InputError(f"refusing to generate code: {scheme.label()} has {scheme.rank} products "
                         f"per level, more than the {MAX_RANK} C export supports")
    scheme = checked_scheme(scheme)
    plan = plan_for(scheme, cse=cse)
    lv = level_of(plan)
    n, m, p = scheme.shape
    live = set(scheme.live_terms())
    dead = [f"M{t + 1:d}" for t in range(scheme.rank) if t not in live]
    left_out = (f" {', '.join(dead)} {'is' if len(dead) == 1 else 'are'} left out (zero operand or "
                "unused in C: contributes nothing)." if dead else "")
    if plan.too_big_to_share:
        left_out += " No sharing: too large for the shared-subexpression search."
    out = [f"/* fastmm generated code: <{n:d},{m:d},{p:d};{scheme.rank:d}> scheme, "
           f"{len(lv.products):d} block products per level.{left_out}",
           f"   Everything else is the runtime: {RUNTIME_HEADER}, {RUNTIME_SOURCE}. */",
           INCLUDE_RUNTIME, ""]
    for t in _CTYPES:
        out += _kernel(scheme, lv, t) + _level_c(scheme, lv, t)
    return "\n".join(out)


def emit_c(scheme: Scheme, blas_int: str = "int64_t", cse: bool = True) -> str:
    """One self-contained C file: the runtime header and source, then `emit_scheme_c`.

    blas_int is the integer type of the CBLAS gemm the library will be given
    (``int64_t`` for numpy's bundled scipy-openblas64, ``int32_t`` for a classic BLAS).
    """
    if blas_int not in BLAS_INT_TYPES:
        raise ValueError(f"blas_int must be one of {BLAS_INT_TYPES}")
    scheme_part = emit_scheme_c(scheme, cse=cse)
    pieces = [f"/* fastmm: one self-contained file ({RUNTIME_HEADER}, {RUNTIME_SOURCE}, then the scheme).",
              "   Build (C11: aligned_alloc): cc -O3 -fPIC -shared -pthread (-std=c11, not c99).",
              "   Call fastmm_set_blas((void *)dgemm, (void *)sgemm)",
              f"   once with CBLAS gemm functions whose integer arguments are {blas_int} (e.g. numpy's",
              "   scipy_cblas_dgemm64_; -DFASTMM_BLAS_INT=int32_t or int64_t says otherwise), then",
              "   fastmm_matmul_d / fastmm_matmul_s. */",
              "#ifndef FASTMM_BLAS_INT", f"#define FASTMM_BLAS_INT {blas_int}", "#endif", ""]
    for text in (runtime_text(RUNTIME_HEADER), runtime_text(RUNTIME_SOURCE), scheme_part):
        pieces += [line for line in text.splitlines() if line != INCLUDE_RUNTIME]
    return "\n".join(pieces) + "\n"
