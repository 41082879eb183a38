"""The flip-graph community's scheme formats: Kauers & Moosbauer's `.exp` products and Maple `.m` lists.

Both index the third factor by Cᵀ, as AlphaTensor and Perminov do: a scheme is
Σ_t (Σ A_t,ij·a_ij)·(Σ B_t,jk·b_jk)·(Σ C_t,ki·c_ki), so c_ki is the coefficient of the output
entry C[i][k] (Wc[i·p+k, t]). The convention is fixed, for square shapes too: nothing is guessed.

* exp (jakobmoosbauer/flips, mkauers/matrix-multiplication): one product per line, such as
  ``(a11 + a22)*(b11 + b22)*(c22)`` or ``(3*(2*a11 - a12))*(-b11 + b14)*(-6*c11 + 3*c21)/9``.
  Variables a_ij (A is n×m), b_jk (B is m×p) and c_ki, each index one digit 1..9; the shape is
  the largest index of each dimension, and the two letters sharing a dimension must agree on it.
  A line is read by a small parser (no eval) of + - * / and parentheses over integers and these
  variables (a space between two factors multiplies, as in Mathematica's output: Moosbauer's
  ``(a11 + a55) (b11 + b55) (c11 + c55)``, ``2 b31``, ``a33 b33 c33``), and must come to
  (number)·(form in a's)·(form in b's)·(form in c's): a number that multiplies a single form
  belongs to it (``3*(2*a11 - a12)`` is that A factor), what multiplies
  or divides the product of forms (the trailing ``/9``) goes into the C factor. Blank lines and
  '#' lines are skipped. A product with an all-zero factor has that factor written ``(0)``.
  Writing: integer coefficients as ``3*a11``, ``-a12``; a product with fractions as Kauers does,
  its C factor made integral with a trailing ``/D`` and an integral A factor of content N > 1 as
  ``(N*(...))``; an A or B factor holding fractions as ``(N*(...)/M)``, so that every file reads
  back to the identical Wa, Wb, Wc (Kauers's ⟨2,5,7;55⟩ of tests/data/foreign comes back byte for byte).
* maple (Kauers's `.m`, Perminov's schemes/**/*.m): a Maple list of products, each
  ``{A as n rows of m, B as m rows of p, C as p rows of n}`` (C transposed, as above); entries
  integers or fractions p/q; whitespace anywhere and Maple's '#' comments. Written one product
  per line. The two files of one scheme in Kauers's repository spread each product's number
  over its factors differently (the .m keeps fractions in B, the .exp moves them to C): they
  read to the same products, not always the same Wa, Wb, Wc.

Neither format says "valid modulo 2 only" (Perminov's .m files of GF(2) schemes do not): import
those with --z2. fastmm writes a Z2 scheme with the first line ``# ring: Z2 (valid modulo 2
only)``, a comment to Maple, and these readers take that comment (on any line) as the claim, as Perminov's
``"z2": true`` (fastmm.export.formats.modulo_2_claim).

Bounds: the file as every reader (fastmm.validate); at most MAX_PRODUCTS products; exp lines of
at most MAX_LINE_CHARS characters, parentheses nested at most MAX_DEPTH deep and at most
MAX_TOKENS numbers, variables, signs and parentheses in a file; Maple files of at most
MAX_MAPLE_ITEMS list items and MAX_COEFFICIENTS numbers; coefficients within the bound of
fastmm.validate at every step.
Readers return unverified schemes; fastmm.export.formats.import_scheme verifies them.
"""

from __future__ import annotations

import re
from fractions import Fraction
from itertools import islice
from math import gcd, lcm
from pathlib import Path

import numpy as np

from fastmm.errors import InputError, SchemeFormatError
from fastmm.export.formats import _check_dims, modulo_2_claim
from fastmm.formulas import linear_combination
from fastmm.io import read_text_file
from fastmm.scheme import Scheme, as_coefficients
from fastmm.validate import (
    COEFFICIENT_LIMIT,
    MAX_COEFFICIENTS,
    bounded_fraction,
    check_scheme_size,
    exact,
    parse_rational_text,
)

MAX_LINE_CHARS = 1 << 16  # a dense ⟨9,9,9⟩ product with 19-digit coefficients is about 7,000
MAX_DEPTH = 32  # parentheses in one exp line; Kauers's files nest two deep
MAX_TOKENS = 2**19  # numbers, variables, signs, parentheses in an exp file (a dense ⟨6,6,6;153⟩: 66,000)
MAX_MAPLE_ITEMS = 2 * MAX_COEFFICIENTS  # '{' and ',' in one Maple file: each number follows one
MAX_PRODUCTS = 2**14  # products in one file: a scheme of rank above n·m·p is no use, and the Brent
# work bound (fastmm.validate.MAX_BRENT_WORK) leaves n·m·p ≤ 1290 for such ranks
Z2_LINE = "# ring: Z2 (valid modulo 2 only)"
_Z2_MARK = re.compile(r"#\s*ring\s*:\s*Z2\b.*")
Z2_SOURCE = "its '# ring: Z2' line"
_EXP_TOKEN = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_]\w*)|(\S))")
_MAPLE_TOKEN = re.compile(r"\s*([{},]|[+-]?\s*[0-9]+(?:\s*/\s*[0-9]+)?|\S)")  # "- 1 / 2" is one number
_MAPLE_COMMENT = re.compile(r"#[^\n]*")
_MAPLE_OTHER = re.compile(r"[^0-9{},/+\-\s]")  # what no Maple list of numbers holds
_Form = dict[tuple[int, int], int | Fraction]  # (first index, second index) -> coefficient


# -- exp: the parser -----------------------------------------------------------------------


class _Value:
    """What a piece of a line comes to: a number times forms in distinct letters. A single form
    takes the number in (scale 1), unless it is zero: `(0)*(b11)` keeps b11 for a dead product."""

    __slots__ = ("scale", "forms")

    def __init__(self, scale: int | Fraction, forms: dict[str, _Form]):
        self.scale, self.forms = scale, forms


class _Line:
    """One exp line, parsed by recursive descent into a _Value (errors name the line)."""

    def __init__(self, text: str, where: str):
        self.where = where
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, column)
        for match in _EXP_TOKEN.finditer(text):
            kind = "num" if match.group(1) else "name" if match.group(2) else "op"
            tok = match.group(match.lastindex)
            if kind == "op" and tok not in "+-*/()":
                raise self.error(f"unexpected {tok!r} at column {match.start(match.lastindex) + 1} "
                                 "(a product is written with + - * / ( ), integers and a_ij, b_jk, c_ki)")
            self.tokens.append((kind, tok, match.start(match.lastindex) + 1))
        self.pos = 0
        self.depth = 0

    def error(self, message: str) -> SchemeFormatError:
        return SchemeFormatError(f"{self.where}: {message}")

    def parse(self) -> _Value:
        value = self._sum()
        if self.pos < len(self.tokens):
            _, tok, col = self.tokens[self.pos]
            if tok == ")":
                raise self.error(f"unbalanced parentheses: ')' at column {col} closes nothing")
            raise self.error(f"unexpected {tok!r} at column {col}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _sum(self) -> _Value:
        value = self._product()
        while (op := self._peek()) in ("+", "-"):
            self.pos += 1
            value = self._add(value, self._product(), -1 if op == "-" else 1)
        return value

    def _product(self) -> _Value:
        value = self._signed()
        while True:
            op = self._peek()
            if op in ("*", "/"):
                self.pos += 1
                right = self._signed()
                value = self._times(value, right) if op == "*" else self._divided(value, right)
            elif op == "(" or op is not None and self.tokens[self.pos][0] != "op":
                value = self._times(value, self._atom())  # Mathematica's juxtaposition: 2 b31, (..) (..)
            else:
                return value

    def _signed(self) -> _Value:
        sign = 1
        while (op := self._peek()) in ("+", "-"):  # a loop, so a million minus signs cost no stack
            self.pos += 1
            sign = -sign if op == "-" else sign
        value = self._atom()
        return value if sign == 1 else self._scaled(value, -1)

    def _atom(self) -> _Value:
        if self.pos >= len(self.tokens):
            raise self.error("the line ends where a number, a variable or '(' was expected")
        kind, tok, col = self.tokens[self.pos]
        self.pos += 1
        if kind == "num":
            return _Value(self._bound(parse_rational_text(tok, self.where)), {})
        if kind == "name":
            letter, index = _variable(tok, self.where)
            return _Value(1, {letter: {index: 1}})
        if tok != "(":
            raise self.error(f"unexpected {tok!r} at column {col}")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"parentheses nested more than {MAX_DEPTH} deep")
        value = self._sum()
        if self._peek() != ")":
            raise self.error(f"unbalanced parentheses: '(' at column {col} is never closed"
                             if self.pos >= len(self.tokens) else
                             f"unexpected {self._peek()!r} at column {self.tokens[self.pos][2]}")
        self.pos += 1
        self.depth -= 1
        return value

    def _bound(self, x: int | Fraction) -> int | Fraction:
        if type(x) is int and -COEFFICIENT_LIMIT < x < COEFFICIENT_LIMIT:  # the common case, quickly
            return x
        return bounded_fraction(x, self.where)

    def _normal(self, scale: int | Fraction, forms: dict[str, _Form]) -> _Value:
        if len(forms) == 1 and scale not in (0, 1):
            ((letter, form),) = forms.items()
            return _Value(1, {letter: {k: self._bound(v * scale) for k, v in form.items()}})
        return _Value(scale, forms)

    def _scaled(self, x: _Value, k: int | Fraction) -> _Value:
        return self._normal(self._bound(x.scale * k), x.forms)

    def _times(self, x: _Value, y: _Value) -> _Value:
        same = sorted(x.forms.keys() & y.forms.keys())
        if same:
            raise self.error(f"a product of two linear forms in the {same[0]}'s (each line is one product: "
                             "a form in a's, one in b's and one in c's)")
        return self._normal(self._bound(x.scale * y.scale), {**x.forms, **y.forms})

    def _divided(self, x: _Value, y: _Value) -> _Value:
        if y.forms:
            raise self.error("a division by a variable (only by a number)")
        if y.scale == 0:
            raise self.error("a division by zero")
        return self._scaled(x, Fraction(1) / y.scale)

    def _add(self, x: _Value, y: _Value, sign: int) -> _Value:
        if not x.forms and not y.forms:
            return _Value(self._bound(x.scale + sign * y.scale), {})
        if len(x.forms) == 1 and x.forms.keys() == y.forms.keys():
            # a parsed value is used once, so the left form is extended in place: a sum of k
            # terms costs k steps, not k²
            ((letter, form),), fy = x.forms.items(), next(iter(y.forms.values()))
            if x.scale != 1:  # zero: (0*a11 + a12)
                form = {k: self._bound(v * x.scale) for k, v in form.items()}
            k = sign * y.scale
            for key, v in fy.items():
                form[key] = self._bound(form.get(key, 0) + k * v)
            return _Value(1, {letter: form})
        if not x.forms or not y.forms:
            raise self.error("a number added to a linear form (the forms have no constant term)")
        raise self.error("a sum of products, or of forms in different letters (each line is one product: "
                         "a form in a's, one in b's and one in c's)")


def _variable(tok: str, where: str) -> tuple[str, tuple[int, int]]:
    letter, digits = tok[0], tok[1:]
    shown = tok if len(tok) <= 20 else tok[:20] + "..."
    if letter not in "abc" or not digits.isascii() or not digits.isdigit():
        raise SchemeFormatError(f"{where}: unknown variable {shown!r} (the variables are a_ij, b_jk and "
                                "c_ki, written a11, b23, c31)")
    if len(digits) != 2 or "0" in digits:
        raise SchemeFormatError(f"{where}: {shown!r}: the indices are single digits 1..9 (a_ij written "
                                "a{i}{j}); larger shapes cannot be written in this format")
    return letter, (int(digits[0]), int(digits[1]))


# -- exp: the reader -----------------------------------------------------------------------


def exp_scheme(text: str, what: str = "<exp>") -> Scheme:
    """A Scheme from the text of an .exp file (see the module docstring); not verified here."""
    terms: list[tuple[int, dict[str, _Form]]] = []  # (line number, {letter: form})
    z2 = False
    tokens = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            z2 = z2 or bool(_Z2_MARK.fullmatch(s))
            continue
        where = f"{what} line {lineno}"
        if len(s) > MAX_LINE_CHARS:
            raise SchemeFormatError(f"{where}: longer than {MAX_LINE_CHARS:,} characters")
        if len(terms) >= MAX_PRODUCTS:
            raise SchemeFormatError(f"{what}: more than {MAX_PRODUCTS:,} products (the limit)")
        parsed = _Line(s, where)
        tokens += len(parsed.tokens)
        if tokens > MAX_TOKENS:
            raise SchemeFormatError(f"{what}: more than {MAX_TOKENS:,} numbers, variables, signs and "
                                    "parentheses (the limit)")
        terms.append((lineno, _factors(parsed.parse(), where)))
    if not terms:
        raise SchemeFormatError(f"{what}: no products (an .exp file holds one product per line)")
    n, m, p = _exp_shape(terms, what)
    _check_dims((n, m, p), what)
    r = len(terms)
    check_scheme_size(n, m, p, r, what)
    wa = np.zeros((r, n * m), dtype=object)
    wb = np.zeros((r, m * p), dtype=object)
    wc = np.zeros((n * p, r), dtype=object)
    for t, (_, forms) in enumerate(terms):
        for (i, j), v in forms["a"].items():
            wa[t, (i - 1) * m + j - 1] = v
        for (j, k), v in forms["b"].items():
            wb[t, (j - 1) * p + k - 1] = v
        for (k, i), v in forms["c"].items():
            wc[(i - 1) * p + k - 1, t] = v
    try:
        scheme = Scheme(n, m, p, as_coefficients(wa), as_coefficients(wb), as_coefficients(wc))
    except ValueError as exc:
        raise SchemeFormatError(f"{what}: {exc}") from None
    return modulo_2_claim(scheme, Z2_SOURCE) if z2 else scheme


def _factors(value: _Value, where: str) -> dict[str, _Form]:
    """The three forms of a parsed line, the leftover number put into the C factor; a letter
    missing beside a zero number is an all-zero factor (a dead product written `(0)`)."""
    missing = [x for x in "abc" if x not in value.forms]
    if missing and value.scale != 0:
        lacks = "only a number" if len(missing) == 3 else " and ".join(f"no {x}'s" for x in missing)
        raise SchemeFormatError(f"{where}: not a product of a form in a's, one in b's and one in c's "
                                f"({lacks})")
    forms = {x: value.forms.get(x, {}) for x in "abc"}
    if not missing:
        forms["c"] = {k: bounded_fraction(v * value.scale, where) for k, v in forms["c"].items()}
    return forms


# each dimension is indexed by two letters: a_ij and c_ki both run i over the rows of A and C
_DIMENSIONS = {"n": ("a", "c", "rows of A and C"), "m": ("a", "b", "columns of A, rows of B"),
               "p": ("b", "c", "columns of B and C")}
_PLACES = {"a": ("n", "m"), "b": ("m", "p"), "c": ("p", "n")}


def _exp_shape(terms: list[tuple[int, dict[str, _Form]]], what: str) -> tuple[int, int, int]:
    """(n, m, p) from the largest indices. The two letters of a dimension must agree on it; where
    they do not, the first variable beyond the other letter's largest index names its line."""
    largest: dict[tuple[str, str], tuple[int, int, str]] = {}  # (dim, letter) -> (index, line, name)
    for lineno, forms in terms:
        for letter, form in forms.items():
            for index in form:
                for dim, value in zip(_PLACES[letter], index, strict=True):
                    if value > largest.get((dim, letter), (0,))[0]:
                        largest[dim, letter] = (value, lineno, f"{letter}{index[0]}{index[1]}")
    for letter in "abc":
        if (_PLACES[letter][0], letter) not in largest:
            raise SchemeFormatError(f"{what}: no product has a {letter}, so there is no shape")
    shape = {d: min(largest[d, x][0], largest[d, y][0]) for d, (x, y, _) in _DIMENSIONS.items()}
    for dim, (x, y, meaning) in _DIMENSIONS.items():
        for letter, other in ((x, y), (y, x)):
            value, lineno, name = largest[dim, letter]
            if value > shape[dim]:
                raise SchemeFormatError(
                    f"{what} line {lineno}: {name} is outside the shape: it needs {dim} ≥ {value} "
                    f"({meaning}), the {other}'s give {dim} = {shape[dim]} (c_ki is C[i][k]: the third "
                    "factor is indexed by Cᵀ)")
    return shape["n"], shape["m"], shape["p"]


def load_exp(path: str | Path) -> Scheme:
    path = Path(path)
    return exp_scheme(read_text_file(path), str(path))


# -- exp: the writer -----------------------------------------------------------------------


def _content(row: list[Fraction]) -> Fraction:
    """The positive number whose quotient of `row` is integral with coprime entries (0 for zero)."""
    nums = [f.numerator for f in row if f]
    if not nums:
        return Fraction(0)
    return Fraction(gcd(*nums), lcm(*(f.denominator for f in row if f)))


def _combination(row: list[Fraction], names: list[str]) -> str:
    return linear_combination([int(f) for f in row], names, "-", "*")


def _scaled_factor(row: list[Fraction], names: list[str]) -> str:
    """`row` as a self-contained factor: integral rows as they are, a row with fractions as
    (N*(primitive)/M) with the sign of its first coefficient in N, so it reads back exactly."""
    if all(f.denominator == 1 for f in row):
        return f"({_combination(row, names)})"
    c = _content(row)
    c = c if next(f for f in row if f) > 0 else -c
    body = _combination([f / c for f in row], names)
    if sum(1 for f in row if f) > 1:
        body = f"({body})"
    head = {1: "", -1: "-"}.get(c.numerator, f"{c.numerator}*")
    return f"({head}{body}/{c.denominator})"


def _integral_with_content(row: list[Fraction], names: list[str]) -> str:
    """An integral A factor of a product with fractions, as Kauers writes it: (N*(primitive))."""
    c = _content(row)
    if c <= 1 or sum(1 for f in row if f) < 2:
        return f"({_combination(row, names)})"
    c = c if next(f for f in row if f) > 0 else -c
    return f"({c.numerator}*({_combination([f / c for f in row], names)}))"


def _exp_line(a: list[Fraction], b: list[Fraction], c: list[Fraction], names: tuple[list[str], ...]) -> str:
    """One product; c is indexed as the c names are (Cᵀ row-major: c11, c12, ..., c21, ...)."""
    an, bn, cn = names
    rows = (a, b, c)
    if all(f.denominator == 1 for row in rows for f in row):
        return "*".join(f"({_combination(row, nm)})" for row, nm in zip(rows, names, strict=True))
    if not (any(a) and any(b) and any(c)):  # a dead product: (0) and self-contained factors
        return "*".join(_scaled_factor(row, nm) if any(row) else "(0)"
                        for row, nm in zip(rows, names, strict=True))
    left = _integral_with_content(a, an) if all(f.denominator == 1 for f in a) else _scaled_factor(a, an)
    d = lcm(*(f.denominator for f in c))
    tail = f"({_combination([f * d for f in c], cn)})" + (f"/{d}" if d > 1 else "")
    return f"{left}*{_scaled_factor(b, bn)}*{tail}"


def _exp_names(scheme: Scheme) -> tuple[list[str], list[str], list[str]]:
    n, m, p = scheme.shape
    if max(n, m, p) > 9:
        raise InputError(f"{scheme.label()}: the exp format names entries by single digits (a11 .. a99), "
                         "so shapes beyond 9 cannot be written: use --to maple")
    return ([f"a{i + 1}{j + 1}" for i in range(n) for j in range(m)],
            [f"b{j + 1}{k + 1}" for j in range(m) for k in range(p)],
            [f"c{k + 1}{i + 1}" for k in range(p) for i in range(n)])


def exp_text(scheme: Scheme) -> str:
    """One product per line, in Kauers's style; reads back (exp_scheme) to the identical scheme."""
    names = _exp_names(scheme)
    wa, wb = scheme.Wa, scheme.Wb
    wct = _ct_rows(scheme)
    lines = [Z2_LINE] if scheme.ring == "Z2" else []
    for t in range(scheme.rank):
        lines.append(_exp_line([exact(x) for x in wa[t]], [exact(x) for x in wb[t]], wct[t], names))
    text = "\n".join(lines) + "\n"
    # products made integral can pass the coefficient bound the reader checks at every step (a
    # C factor λ/5, −λ/7 with λ near 2^61 is 7λ, −5λ over 35): such a file is refused, not written
    try:
        back = exp_scheme(text)
    except SchemeFormatError as exc:
        raise InputError(f"{scheme.label()}: as exp text, its products made integral would not read back "
                         f"({str(exc).removeprefix('<exp> ')}): use --to maple") from None
    if any(not np.array_equal(x, y) for x, y in zip((back.Wa, back.Wb, back.Wc),
                                                     (scheme.Wa, scheme.Wb, scheme.Wc), strict=True)):
        raise InputError(f"{scheme.label()}: its exp text would not read back to the same scheme: "
                         "use --to maple")
    return text


def _ct_rows(scheme: Scheme) -> list[list[Fraction]]:
    """Per product, its C column in Cᵀ row-major order: entry k·n+i is Wc[i·p+k]."""
    n, _, p = scheme.shape
    wc = scheme.Wc
    return [[exact(wc[i * p + k, t]) for k in range(p) for i in range(n)] for t in range(scheme.rank)]


# -- maple ---------------------------------------------------------------------------------


def maple_scheme(text: str, what: str = "<maple>") -> Scheme:
    """A Scheme from a Maple list {{A, B, Cᵀ}, ...} (see the module docstring); not verified here."""
    top, z2 = _maple_lists(text, what)
    if not top:
        raise SchemeFormatError(f"{what}: the list holds no products")
    if len(top) > MAX_PRODUCTS:
        raise SchemeFormatError(f"{what}: more than {MAX_PRODUCTS:,} products (the limit)")
    n = m = p = 0
    wa, wb, wct = [], [], []
    for t, term in enumerate(top, 1):
        where = f"{what}: product {t}"
        if not isinstance(term, list) or len(term) != 3:
            raise SchemeFormatError(f"{where} is not a list of three matrices {{A, B, C}}")
        a, b, ct = (_maple_matrix(x, f"{where}: its {name}") for x, name in zip(term, "ABC", strict=True))
        sizes = (len(a), len(a[0]), len(b), len(b[0]), len(ct), len(ct[0]))
        if sizes[1] != sizes[2] or sizes[3] != sizes[4] or sizes[5] != sizes[0]:
            raise SchemeFormatError(f"{where}: A is {sizes[0]}×{sizes[1]}, B {sizes[2]}×{sizes[3]} and C "
                                    f"{sizes[4]}×{sizes[5]}: they fit no shape (A is n×m, B m×p, C "
                                    "written transposed, p×n)")
        if t == 1:
            n, m, p = sizes[0], sizes[1], sizes[3]
            _check_dims((n, m, p), what)
            check_scheme_size(n, m, p, len(top), what)
        elif (sizes[0], sizes[1], sizes[3]) != (n, m, p):
            raise SchemeFormatError(f"{where} is of ⟨{sizes[0]},{sizes[1]},{sizes[3]}⟩ (A {sizes[0]}×"
                                    f"{sizes[1]}, B {sizes[2]}×{sizes[3]}), product 1 of ⟨{n},{m},{p}⟩")
        wa.append([x for row in a for x in row])
        wb.append([x for row in b for x in row])
        wct.append(ct)
    r = len(top)
    wc = np.zeros((n * p, r), dtype=object)
    for t, ct in enumerate(wct):
        for k in range(p):
            for i in range(n):
                wc[i * p + k, t] = ct[k][i]
    try:
        scheme = Scheme(n, m, p, as_coefficients(wa), as_coefficients(wb), as_coefficients(wc))
    except ValueError as exc:
        raise SchemeFormatError(f"{what}: {exc}") from None
    return modulo_2_claim(scheme, Z2_SOURCE) if z2 else scheme


def _maple_matrix(x: object, where: str) -> list[list]:
    """Rows of numbers (the lists go four deep at most: a row holds no list), all of one length."""
    if not isinstance(x, list) or not x or not all(isinstance(row, list) and row for row in x):
        raise SchemeFormatError(f"{where} is not a list of rows")
    widths = sorted({len(row) for row in x})
    if len(widths) > 1:
        raise SchemeFormatError(f"{where} has rows of different lengths {widths}")
    return x  # type: ignore[return-value]


def _maple_lists(text: str, what: str) -> tuple[list, bool]:
    """The nested lists of a Maple file (four levels: products, matrices, rows, numbers), read by
    a tokenizer and a stack, no eval, with numbers within fastmm.validate's bound; and whether a
    comment makes the modulo-2 claim (Z2_LINE). The text is checked in bulk first (its
    characters, its size in list items), so the loop over the tokens stays lean."""
    z2 = False
    if "#" in text:  # Maple comments run to the end of the line; blanked, so lines keep their numbers
        z2 = any(_Z2_MARK.fullmatch(c.strip()) for c in _MAPLE_COMMENT.findall(text))
        text = _MAPLE_COMMENT.sub("", text)

    def error(pos: int, message: str) -> SchemeFormatError:
        return SchemeFormatError(f"{what} line {text.count(chr(10), 0, pos) + 1}: {message}")

    bad = _MAPLE_OTHER.search(text)
    if bad:
        shown = bad.group() if bad.group().isprintable() else ascii(bad.group())
        raise error(bad.start(), f"unexpected {shown!r} (a Maple list of integers and fractions p/q)")
    if text.count("{") + text.count(",") > MAX_MAPLE_ITEMS:
        raise SchemeFormatError(f"{what}: more than {MAX_MAPLE_ITEMS:,} list items (the limit)")
    tokens = _MAPLE_TOKEN.findall(text)
    stack: list[list] = []
    top: list | None = None
    want_item = True  # after '{' or ',': an item (or, after '{', the '}' of an empty list)
    count = 0
    for idx, tok in enumerate(tokens):
        if tok == "{":
            if top is not None:
                raise error(_token_start(text, idx), "'{' after the list has ended")
            if stack and not want_item:
                raise error(_token_start(text, idx), "a ',' is missing before '{'")
            if len(stack) == 4:
                raise error(_token_start(text, idx), "lists nested more than 4 deep (products, matrices, "
                                                     "rows, numbers)")
            stack.append([])
            want_item = True
        elif tok == ",":
            if not stack or want_item:
                raise error(_token_start(text, idx), "unexpected ','")
            want_item = True
        elif tok == "}":
            if not stack:
                raise error(_token_start(text, idx), "'}' closes nothing")
            if want_item and stack[-1]:
                raise error(_token_start(text, idx), "',' before '}'")
            done = stack.pop()
            want_item = False
            if stack:
                stack[-1].append(done)
            else:
                top = done
        elif tok[-1] in "0123456789":  # a number: the token pattern ends every number in a digit
            if not stack or not want_item:
                raise error(_token_start(text, idx), "a number outside the list" if not stack else
                            "a ',' is missing before a number")
            count += 1
            if count > MAX_COEFFICIENTS:
                raise SchemeFormatError(f"{what}: more than {MAX_COEFFICIENTS:,} coefficients (the limit)")
            tok = "".join(tok.split())
            if len(tok) < 19 and "/" not in tok:  # at most 18 digits: below the bound, quickly
                stack[-1].append(int(tok))
            else:
                try:
                    stack[-1].append(parse_rational_text(tok, what))
                except SchemeFormatError as exc:  # the line is counted only now, not for every number
                    raise error(_token_start(text, idx), str(exc).removeprefix(f"{what}: ")) from None
            want_item = False
        else:  # a sign or '/' on its own
            raise error(_token_start(text, idx), f"unexpected {tok!r} (a Maple list of integers and "
                                                 "fractions p/q)")
    if stack:
        raise error(len(text), f"the file ends inside a list ({len(stack)} '{{' never closed)")
    if top is None:
        raise SchemeFormatError(f"{what}: no list (a Maple file holds {{{{A, B, C}}, ...}})")
    return top, z2


def _token_start(text: str, idx: int) -> int:
    """Where token idx begins (only when an error names its line)."""
    return next(islice(_MAPLE_TOKEN.finditer(text), idx, None)).start(1)


def _maple_number(x: object) -> str:
    f = exact(x)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _maple_rows(rows: list[list]) -> str:
    return "{" + ", ".join("{" + ", ".join(_maple_number(x) for x in row) + "}" for row in rows) + "}"


def maple_text(scheme: Scheme) -> str:
    """{{A, B, Cᵀ}, ...}, one product per line; reads back (maple_scheme) to the identical scheme."""
    n, m, p = scheme.shape
    wa, wb = scheme.Wa, scheme.Wb
    wct = _ct_rows(scheme)
    terms = []
    for t in range(scheme.rank):
        a = [list(wa[t, i * m:(i + 1) * m]) for i in range(n)]
        b = [list(wb[t, j * p:(j + 1) * p]) for j in range(m)]
        ct = [wct[t][k * n:(k + 1) * n] for k in range(p)]
        terms.append("{" + ", ".join(_maple_rows(x) for x in (a, b, ct)) + "}")
    head = Z2_LINE + "\n" if scheme.ring == "Z2" else ""
    return head + "{" + ",\n ".join(terms) + "}\n"


def load_maple(path: str | Path) -> Scheme:
    path = Path(path)
    return maple_scheme(read_text_file(path), str(path))
