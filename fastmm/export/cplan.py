"""What the C emitter prints, as validated data: exact coefficients, their C literals, and the
straight-line program of one recursion level with aliases, dead code and dead products (a zero
operand, or no use in C) removed.

Split from fastmm.export.c (which prints) so that each stays readable. Imports no torch.

Coefficients reach C only through `c_number`: a Python or NumPy integer or a Fraction (never
text, floats or bools), rounded once, exactly, to the nearest double or float and written as
the shortest literal that reads back as that value. A coefficient whose magnitude is outside
float's normal range [2^-126, 2^128) is refused with an InputError (one generated file holds
both the double and the float code), so the compiler never sees an overflowing constant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from numbers import Integral

import numpy as np

from fastmm.errors import FastmmError, InputError
from fastmm.export.slp import SLP
from fastmm.scheme import Scheme

Coef = int | Fraction
# (significant bits, smallest normal exponent, largest exponent) of IEEE double and float
_FORMATS = {"double": (53, -1022, 1023), "float": (24, -126, 127)}
_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?")


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


def _binary_exponent(x: Fraction) -> int:
    """e with 2^e <= x < 2^(e+1), for x > 0."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e - 1 if x < Fraction(2) ** e else e


def _round_bits(x: Fraction, bits: int) -> Fraction:
    """x > 0 rounded to `bits` significant bits, ties to even, exactly."""
    shift = Fraction(2) ** (_binary_exponent(x) - bits + 1)
    return round(x / shift) * shift  # round() of a Fraction: half to even


def rounded(x: Coef, ctype: str) -> Fraction:
    """`x` rounded to the nearest `ctype` value, exactly; InputError when float cannot hold it.

    The range is float's for both types (normal numbers, no overflow once rounded to
    float): one generated file holds both.
    """
    value = Fraction(exact_coefficient(x))
    if value == 0:
        return value
    _, emin, emax = _FORMATS["float"]
    if not Fraction(2) ** emin <= _round_bits(abs(value), _FORMATS["float"][0]) < Fraction(2) ** (emax + 1):
        raise InputError(
            f"refusing to generate code: coefficient of magnitude about 2^{_binary_exponent(abs(value))} "
            f"is outside the range of float (2^{emin} to 2^{emax + 1})"
        )
    result = _round_bits(abs(value), _FORMATS[ctype][0])
    return result if value > 0 else -result


def c_number(x: object, ctype: str) -> str:
    """C literal for an exact coefficient: ``3.0``, ``-0.3333333333333333``, ``0.33333334f``."""
    value = rounded(exact_coefficient(x), ctype)
    if ctype == "float":
        text = str(np.float32(float(value)))  # exact: the value has 24 significant bits
        suffix = "f"
    else:
        text, suffix = repr(float(value)), ""
    # formatted from a float by Python itself; checked once more before it reaches C
    if not _LITERAL.fullmatch(text) or not ("." in text or "e" in text):
        raise FastmmError(f"refusing to generate code: bad literal {text!r}")
    return text + suffix


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
    too_big_to_share: bool = False  # built without sharing: beyond the shared-subexpression limit


def plan_for(scheme: Scheme, cse: bool = True) -> Plan:
    """The Plan of a scheme: fastmm.export.slp's straight-line program, renamed for C."""
    from fastmm.export.slp import build_slp

    return _plan_from_slp(scheme, build_slp(scheme, cse=cse, drop_dead=True))


def _plan_from_slp(scheme: Scheme, slp: SLP) -> Plan:
    """Rename an fastmm.export.slp.SLP into the Plan's names (inputs by flat index, temporaries x_*)."""
    names: dict[str, str] = {}
    names.update({x: f"a{i}" for i, x in enumerate(slp.a.inputs)})
    names.update({x: f"b{i}" for i, x in enumerate(slp.b.inputs)})
    names.update({x: f"m{i}" for i, x in enumerate(slp.c.inputs)})
    names.update({op.target: f"c{i}" for i, op in enumerate(slp.c.outputs)})

    def rename(x: str) -> str:
        return names.get(x) or "x_" + x

    plan = Plan(*slp.shape, too_big_to_share=slp.too_big_to_share)
    if tuple(slp.shape) != scheme.shape or slp.rank + len(slp.dropped) != scheme.rank:
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


def needed(roots: list[str], defs: dict[str, list[tuple[Coef, str]]]) -> list[str]:
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
class Level:
    """What one level of the driver does, ready to print."""

    a_defs: dict[str, list[tuple[Coef, str]]]
    b_defs: dict[str, list[tuple[Coef, str]]]
    c_defs: dict[str, list[tuple[Coef, str]]]
    a_stored: list[str]  # temporaries that get a buffer (product operands)
    b_stored: list[str]
    products: list[tuple[Fraction, str, str]]  # (scale, A operand, B operand), nonzero only
    product_index: dict[str, int]  # original product name -> index in `products`


def _used_by_c(c_defs: dict[str, list[tuple[Coef, str]]], outputs: int) -> set[str]:
    """Every name the C outputs read, directly or through C temporaries."""
    return {src for name in needed([f"c{k}" for k in range(outputs)], c_defs) for _, src in c_defs[name]}


def level_of(plan: Plan) -> Level:
    """The Level of a plan: products through aliases, dead products (a zero operand or no use in
    C) dropped, stored operands."""
    a_defs, b_defs, c_defs = _resolve(plan.a_ops), _resolve(plan.b_ops), _resolve(plan.c_ops)
    used = _used_by_c(c_defs, plan.n * plan.p)
    products: list[tuple[Fraction, str, str]] = []
    index: dict[str, int] = {}
    for t, (ca, asrc, cb, bsrc) in enumerate(plan.products):
        ra, rb = _alias(asrc, a_defs), _alias(bsrc, b_defs)
        if ra is None or rb is None or exact_coefficient(ca) == 0 or exact_coefficient(cb) == 0:
            continue  # a zero product contributes nothing
        if f"m{t}" not in used:
            continue  # nor does one that no C block reads
        scale = Fraction(exact_coefficient(ca)) * Fraction(exact_coefficient(cb)) * ra[0] * rb[0]
        index[f"m{t}"] = len(products)
        products.append((scale, ra[1], rb[1]))
    # references to zero products vanish from the C side
    zero = {f"m{t}" for t in range(len(plan.products))} - set(index)
    c_defs = {k: [(c, s) for c, s in v if s not in zero] for k, v in c_defs.items()}
    a_stored = list(dict.fromkeys(a for _, a, _ in products if a in a_defs))
    b_stored = list(dict.fromkeys(b for _, _, b in products if b in b_defs))
    return Level(a_defs, b_defs, c_defs, a_stored, b_stored, products, index)
