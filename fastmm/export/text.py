"""Formulas of a scheme as plain text, Markdown and LaTeX (and the shared program as text).

All three show the scheme itself — one line per product M_t and per C block, block names
A11…, exact coefficients (fractions stay fractions: 1/2, \\tfrac{1}{2}). A Z2 scheme says
"valid modulo 2 only" in every format. `slp_text` shows the straight-line program the code
emitters use (with shared temporaries unless cse=False; products that contribute nothing are
left out there, as in the code, and named in a comment). The formulas show the scheme as written,
such products included (``M8 = 0·(B11 + B12)``).
"""

from __future__ import annotations

from fractions import Fraction

from fastmm.export.slp import build_slp, exact, sharing_note
from fastmm.formulas import c_lines, is_sum, product_lines
from fastmm.scheme import RING_NAMES, Scheme
from fastmm.verify import uses_big_names

Z2_BANNER = "valid modulo 2 only (GF(2) scheme)"


def _summary(scheme: Scheme, ascii_only: bool = False) -> str:
    n, m, p = scheme.shape
    ring = RING_NAMES[scheme.ring].replace("—", "--") if ascii_only else RING_NAMES[scheme.ring]
    return (f"<{n},{m},{p};{scheme.rank}> scheme: A is {n}x{m}, B is {m}x{p}, "
            f"{scheme.rank} multiplications, ring {scheme.ring} ({ring})")


def text(scheme: Scheme, ascii_only: bool = False) -> str:
    """Plain text: '# summary', then M lines and C lines (fastmm.formulas)."""
    minus, times = ("-", "*") if ascii_only else ("−", "·")
    lines = [f"# {_summary(scheme, ascii_only)}"]
    if scheme.ring == "Z2":
        lines.append(f"# {Z2_BANNER}")
    lines += product_lines(scheme, minus, times)
    lines += c_lines(scheme, minus, times)
    return "\n".join(lines) + "\n"


def markdown(scheme: Scheme, ascii_only: bool = False) -> str:
    """A Markdown section: summary, banner (Z2), products and C blocks as bullet lists (the
    formulas use - and * always; ascii_only: the heading reads <n,m,p;r> and the ring name too)."""
    n, m, p = scheme.shape
    left, right = ("<", ">") if ascii_only else ("⟨", "⟩")
    lines = [f"### {left}{n},{m},{p};{scheme.rank}{right}", "", _summary(scheme, ascii_only) + ".", ""]
    if scheme.ring == "Z2":
        lines += [f"> **{Z2_BANNER[0].upper() + Z2_BANNER[1:]}.**", ""]
    lines += ["Products:", ""]
    lines += [f"- `{line}`" for line in product_lines(scheme, "-", "*")]
    lines += ["", "Result blocks:", ""]
    lines += [f"- `{line}`" for line in c_lines(scheme, "-", "*")]
    return "\n".join(lines) + "\n"


def _latex_name(letter: str, i: int, j: int, big: bool) -> str:
    return f"{letter}_{{{i + 1},{j + 1}}}" if big else f"{letter}_{{{i + 1}{j + 1}}}"


def _latex_coef(c: Fraction) -> str:
    """Magnitude of a coefficient: '' for 1, '2', '\\tfrac{1}{2}'."""
    mag = abs(c)
    if mag == 1:
        return ""
    if mag.denominator == 1:
        return f"{mag.numerator} "
    return f"\\tfrac{{{mag.numerator}}}{{{mag.denominator}}} "


def _latex_sum(coefs, names: list[str]) -> str:
    parts: list[str] = []
    for c, name in zip(coefs, names, strict=True):
        f = exact(c)
        if f == 0:
            continue
        body = _latex_coef(f) + name
        if not parts:
            parts.append(f"-{body}" if f < 0 else body)
        else:
            parts.append(f"{'-' if f < 0 else '+'} {body}")
    return " ".join(parts) if parts else "0"


def latex(scheme: Scheme, ascii_only: bool = False) -> str:
    """An align* environment (amsmath), one line per product and per C block (ASCII but for the
    ring name of a Z2 scheme in the summary comment, which ascii_only spells with --)."""
    n, m, p = scheme.shape
    big = uses_big_names(scheme)
    an = [_latex_name("A", i, j, big) for i in range(n) for j in range(m)]
    bn = [_latex_name("B", j, k, big) for j in range(m) for k in range(p)]
    mn = [f"M_{{{t + 1}}}" for t in range(scheme.rank)]
    lines = [f"% {_summary(scheme, ascii_only)}", "% needs \\usepackage{amsmath}"]
    if scheme.ring == "Z2":
        lines.append(f"% {Z2_BANNER}")
        lines.append("\\noindent\\textbf{Valid modulo 2 only} (GF(2) scheme).")
    rows = []
    for t in range(scheme.rank):
        a = _latex_sum(scheme.Wa[t], an)
        b = _latex_sum(scheme.Wb[t], bn)
        a = f"({a})" if is_sum(scheme.Wa[t]) else a
        b = f"({b})" if is_sum(scheme.Wb[t]) else b
        rows.append(f"M_{{{t + 1}}} &= {a} \\, {b}")
    for i in range(n):
        for k in range(p):
            rows.append(f"{_latex_name('C', i, k, big)} &= {_latex_sum(scheme.Wc[i * p + k], mn)}")
    lines.append("\\begin{align*}")
    lines += [row + " \\\\" for row in rows[:-1]] + rows[-1:]
    lines.append("\\end{align*}")
    return "\n".join(lines) + "\n"


def slp_text(scheme: Scheme, cse: bool = True) -> str:
    """The straight-line program the code emitters run (products that contribute nothing left
    out, and named in a comment), one operation per line, with its addition count: ASCII
    throughout, as the program's own - and * are."""
    slp = build_slp(scheme, cse, drop_dead=True)
    lines = [f"# {_summary(scheme, ascii_only=True)}"]
    if scheme.ring == "Z2":
        lines.append(f"# {Z2_BANNER}")
    if slp.dropped:
        lines.append(f"# left out, as in the generated code: {', '.join(slp.dropped)} "
                     "(zero operand or unused in C: contributes nothing)")
    lines.append(f"# {slp.additions()} additions, {slp.scalings()} scalings per level "
                 f"({sharing_note(slp)})")
    lines += slp.lines()
    return "\n".join(lines) + "\n"


def formulas(scheme: Scheme, fmt: str, ascii_only: bool = False) -> str:
    """Dispatch on 'text' | 'markdown' | 'latex'; ascii_only: every line ASCII."""
    if fmt == "text":
        return text(scheme, ascii_only)
    if fmt == "markdown":
        return markdown(scheme, ascii_only)
    if fmt == "latex":
        return latex(scheme, ascii_only)
    raise ValueError(f"unknown formula format {fmt!r}")


__all__ = ["Z2_BANNER", "formulas", "latex", "markdown", "slp_text", "text"]
