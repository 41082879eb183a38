"""Other tools' scheme formats: AlphaTensor (npz/npy), Perminov's JSON, fast-matmul text.

Conventions (each tested by a round trip and by a hand-made file):

* AlphaTensor (Fawzi et al. 2022): factors u, v, w of shapes (n·m, r), (m·p, r), (p·n, r)
  with T[i·m+j, j·p+k, k·n+i] = Σ_t u[i·m+j,t]·v[j·p+k,t]·w[k·n+i,t]: the third factor is
  indexed by Cᵀ, so Wc[i·p+k, t] = w[k·n+i, t]. Read from: an npz with arrays "u", "v", "w"
  (what we write, plus "shape" = [n, m, p]); the published dict-style npz
  (``factorizations_r.npz``: key "n,m,p" → [u, v, w], an object array when the factors
  differ in shape — choose the key with `key`); or an npy holding [u, v, w]. Object arrays
  need pickle, and unpickling can run code: refused unless allow_pickle=True. We write
  plain numeric arrays only (int64, or float64 for dyadic fractions), never pickle.
  (n, m, p) comes from "shape"/the key, else from the factor sizes: n² = (nm)(pn)/(mp).
  The format has no field saying "modulo 2 only" (AlphaTensor keeps GF(2) factorizations in
  files of their own), so a Z2 scheme is refused on export (InputError, exit 2), as for
  fast-matmul, rather than written as factors that read back as a wrong real algorithm; the
  Perminov format and fastmm's own JSON carry the marker. Import with z2=True (--z2).
* Perminov (FastMatrixMultiplication, flip-graph tools): a JSON object
  ``{"n": [n, m, p], "m": rank, "z2": bool, "u": [r rows of n·m], "v": [r rows of m·p],
  "w": [r rows of p·n], "multiplications": [...], "elements": [...]}``; w rows are indexed
  by Cᵀ (w[t][k·n+i]) as in AlphaTensor. Assumptions: the shape may also be given as
  "dimension": [n, m, p] or as integers "n", "m", "p" (then the rank is len(u)); "m" is
  the rank when "n" is a list; "z2": true marks a GF(2) scheme; coefficients are integers,
  "p/q" strings or decimal numbers (read exactly); the text fields are not parsed on reading
  (u, v, w are the data; lists whose length contradicts them are refused) and are
  regenerated on writing; the "reduced" format (u_fresh…) is
  not read.
* fast-matmul (Benson & Ballard, codegen/algorithms/*): three coefficient matrices U, V, W
  as whitespace-separated rows, separated by lines starting with "#" (a leading "#" line is
  a comment). U is (n·m)×r, V is (m·p)×r, W is (n·p)×r; rows index A, B and C row-major
  (W by C, not Cᵀ). Coefficients are integers, decimals or p/q, read exactly. Its
  "eliminated" files (common subexpressions as new variables) add substitution blocks for A, B
  and C (extra rows of U and V, extra columns of W); they are read back into plain U, V, W.
* exp and maple (Kauers & Moosbauer, Arai et al., Perminov's .m files; fastmm.export.flips):
  one product per line as (a11 + a22)*(b11 + b22)*(c22), or a Maple list {{A, B, Cᵀ}, ...}; the
  third factor indexed by Cᵀ (c_ki is C[i][k]), as in AlphaTensor. A Z2 scheme is written with
  a "# ring: Z2" comment line that these readers take as the modulo-2 claim.

A claim of "valid modulo 2 only" ("z2": true, or z2=True / --z2) is judged on the coefficients
as written (`modulo_2_claim`): a scheme they make exact over the integers keeps them and is
labelled by its true ring, with a note in its provenance (`fastmm import` prints it);
only a scheme that is not exact as written is taken modulo 2 (ring Z2, signs dropped).

Readers return unverified schemes; `import_scheme` verifies (fastmm.verify.verified_copy)
before anything is written, and names the failing entries when a scheme is wrong.

Length: a little over 450 lines: three foreign formats, each with its reader and writer and
its stated index convention, kept together so the conventions can be compared (the flip-graph
formats, with their expression parser, are fastmm.export.flips).
"""

from __future__ import annotations

import io
import json
import math
import re
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from fastmm.errors import InputError, SchemeError, SchemeFormatError, VerificationError
from fastmm.export.slp import exact
from fastmm.formulas import linear_combination
from fastmm.io import MAX_DIM, coefficient_json, coefficient_rows, parse_coefficient, read_text_file
from fastmm.scheme import Scheme, as_coefficients
from fastmm.validate import (
    MAX_COEFFICIENTS,
    NPY_MAGIC,
    ZIP_MAGICS,
    JsonDecimal,
    bounded_fraction,
    check_coefficients,
    check_scheme_size,
    exact_array,
    load_json,
    parse_decimal_text,
    parse_rational_text,
    read_bytes,
    read_npy,
    read_npz,
)
from fastmm.verify import brent_report, uses_big_names, verified_copy

FORMATS = ("alphatensor", "perminov", "fast-matmul", "exp", "maple")  # exp, maple: fastmm.export.flips
_TOKEN = re.compile(r"\S+")
_PARAMETER = re.compile(r"-?[a-hj-z][1-9i]*")  # gen.py parse_coeff: a letter, then i / power digits
PICKLE_REFUSAL = ("this file holds Python objects; loading it can run code; "
                  "re-run with --allow-pickle if you trust the file")


# -- index conventions ---------------------------------------------------------------------


def _wc_from_ct(w: np.ndarray, n: int, p: int) -> np.ndarray:
    """(p·n)×r factor indexed by Cᵀ (k·n+i) -> Wc (n·p)×r indexed by C (i·p+k)."""
    r = w.shape[1]
    return w.reshape(p, n, r).transpose(1, 0, 2).reshape(n * p, r)


def _ct_from_wc(wc: np.ndarray, n: int, p: int) -> np.ndarray:
    r = wc.shape[1]
    return wc.reshape(n, p, r).transpose(1, 0, 2).reshape(p * n, r)


def _shape_from_sizes(nm: int, mp: int, pn: int, what: str) -> tuple[int, int, int]:
    """Solve n·m, m·p, p·n for (n, m, p)."""
    if min(nm, mp, pn) <= 0 or (nm * pn) % mp:
        raise SchemeFormatError(f"{what}: factor sizes {nm}, {mp}, {pn} fit no matrix shape")
    n = math.isqrt(nm * pn // mp)
    if n == 0 or n * n * mp != nm * pn or nm % n or pn % n:
        raise SchemeFormatError(f"{what}: factor sizes {nm}, {mp}, {pn} fit no matrix shape")
    m, p = nm // n, pn // n
    if m * p != mp:
        raise SchemeFormatError(f"{what}: factor sizes {nm}, {mp}, {pn} fit no matrix shape")
    return n, m, p


def _check_dims(shape: tuple[int, int, int], what: str) -> None:
    for d in shape:
        if not isinstance(d, int) or isinstance(d, bool) or not 0 < d <= MAX_DIM:
            shown = json.dumps(d) if isinstance(d, bool | None) else repr(d)  # true, not True
            raise SchemeFormatError(f"{what}: dimension {shown} is not an integer in 1..{MAX_DIM}")


def _exact_array(arr: np.ndarray, what: str) -> np.ndarray:
    """Numeric array -> exact, bounded coefficients (fastmm.validate.exact_array: integer dtypes
    through Python ints, floats finite and read as their exact binary value)."""
    return exact_array(arr, what)


# -- AlphaTensor ---------------------------------------------------------------------------


def _factors_scheme(u: Any, v: Any, w: Any, what: str, shape: tuple[int, int, int] | None,
                    ring: str) -> Scheme:
    raw = []
    for name, x in (("u", u), ("v", v), ("w", w)):
        x = np.asarray(x)
        if x.ndim != 2:
            raise SchemeFormatError(f"{what}: factor {name} must be 2-dimensional, got shape {x.shape}")
        raw.append(x)
    # sizes first, so nothing is converted for a huge file
    if shape is not None:
        _check_dims(shape, what)
        check_scheme_size(*shape, raw[0].shape[1], what)
    total = sum(x.size for x in raw)
    if total > MAX_COEFFICIENTS:
        raise SchemeFormatError(f"{what}: {total:,} coefficients, more than the limit of "
                                f"{MAX_COEFFICIENTS:,}")
    u, v, w = (_exact_array(x, f"{what}: factor {name}") for name, x in zip("uvw", raw, strict=True))
    if not (u.shape[1] == v.shape[1] == w.shape[1]):
        raise SchemeFormatError(f"{what}: factors have different ranks "
                                f"{u.shape[1]}, {v.shape[1]}, {w.shape[1]}")
    if u.shape[1] == 0:  # as the other formats: empty factors are bad input, not a failing scheme
        raise SchemeFormatError(f"{what}: the factors hold no products (rank 0)")
    if shape is None:
        shape = _shape_from_sizes(u.shape[0], v.shape[0], w.shape[0], what)
    _check_dims(shape, what)
    n, m, p = shape
    if (u.shape[0], v.shape[0], w.shape[0]) != (n * m, m * p, p * n):
        raise SchemeFormatError(f"{what}: factor sizes {u.shape[0]}, {v.shape[0]}, {w.shape[0]} "
                                f"do not match <{n},{m},{p}>")
    check_scheme_size(n, m, p, u.shape[1], what)
    try:
        scheme = Scheme(n, m, p, as_coefficients(u.T), as_coefficients(v.T),
                        as_coefficients(_wc_from_ct(w, n, p)), ring="" if ring == "Z2" else ring)
        return modulo_2_claim(scheme, Z2_OPTION) if ring == "Z2" else scheme
    except ValueError as exc:
        raise SchemeFormatError(f"{what}: {exc}") from None


def _parse_key(key: str) -> tuple[int, int, int]:
    parts = key.replace("x", ",").split(",")
    if len(key) > 32 or len(parts) != 3 or not all(x.strip().isascii() and x.strip().isdigit()
                                                  for x in parts):
        shown = key if len(key) <= 32 else key[:32] + "..."
        raise InputError(f"key {shown!r} is not of the form N,M,P")
    return tuple(int(x) for x in parts)  # type: ignore[return-value]


def load_alphatensor(path: str | Path, allow_pickle: bool = False, key: str | None = None,
                     ring: str = "") -> Scheme:
    """Read AlphaTensor factors (see the module docstring); not verified here. The file is
    recognised by its first bytes (npy or zip), every array header is checked before anything
    is allocated (fastmm.validate.read_npy), and object arrays need allow_pickle."""
    path = Path(path)
    src = str(path)
    data = read_bytes(path)
    if data.startswith(NPY_MAGIC):  # .npy: [u, v, w]
        scheme = _from_triple(read_npy(data, src, allow_pickle, PICKLE_REFUSAL), src, None, ring)
        return _keyed(scheme, key, src, "holds one factorization ([u, v, w])")
    if not data.startswith(ZIP_MAGICS):
        raise SchemeFormatError(f"{src}: not an npy/npz file (AlphaTensor factors are read from "
                                "numpy .npz or .npy files)")
    arrays = read_npz(data, src, allow_pickle, PICKLE_REFUSAL)
    names = list(arrays)
    if {"u", "v", "w"} <= set(names):
        shape = None
        if "shape" in names:
            arr = arrays["shape"]()
            if arr.shape != (3,) or arr.dtype.kind not in "iu":
                raise SchemeFormatError(f"{src}: 'shape' must hold three integers")
            shape = tuple(int(x) for x in arr.tolist())
        u, v, w = (arrays[k]() for k in ("u", "v", "w"))
        return _keyed(_factors_scheme(u, v, w, src, shape, ring), key, src,
                      "holds one factorization (arrays u, v, w)")
    if not names:
        raise SchemeFormatError(f"{src}: the npz holds no arrays")
    factors = {"u", "v", "w"} & set(names)
    if factors and key is None:  # a factorization missing a factor, not several factorizations
        missing = ", ".join(sorted({"u", "v", "w"} - factors))
        raise SchemeFormatError(f"{src}: holds the factor arrays {', '.join(sorted(factors))} but "
                                f"not {missing} (a factorization needs u, v and w)")
    if key is None:
        if len(names) != 1:
            shown = ", ".join(sorted(names)[:8]) + (" ..." if len(names) > 8 else "")
            raise InputError(f"{src}: holds {len(names)} factorizations ({shown}); "
                             "choose one with --key N,M,P")
        key = names[0]
    try:
        wanted = _parse_key(key)
    except InputError as exc:
        raise InputError(f"{src}: {exc}") from None
    # the member named exactly so, else the one member whose name gives the same shape
    matches = [key] if key in names else [k for k in names if _safe_key(k) == wanted]
    if not matches:
        raise InputError(f"{src}: no factorization for {key!r}")
    if len(matches) > 1:
        shown = ", ".join(repr(k) for k in matches[:4]) + (" ..." if len(matches) > 4 else "")
        raise InputError(f"{src}: {len(matches)} factorizations are of the shape {key!r} ({shown}); "
                         "give one of their names exactly with --key")
    return _from_triple(arrays[matches[0]](), f"{src}[{matches[0]}]", wanted, ring)


def _keyed(scheme: Scheme, key: str | None, src: str, holds: str) -> Scheme:
    """A file of one factorization: a key, if given, must name its shape (never be ignored)."""
    if key is None:
        return scheme
    try:
        wanted = _parse_key(key)
    except InputError as exc:
        raise InputError(f"{src}: {exc}") from None
    if wanted != scheme.shape:
        n, m, p = scheme.shape
        raise InputError(f"{src}: {holds}, of ⟨{n},{m},{p}⟩; --key {key} names another shape")
    return scheme


def _safe_key(k: str) -> tuple[int, int, int] | None:
    try:
        return _parse_key(k)
    except InputError:
        return None


def _from_triple(arr: np.ndarray, what: str, shape: tuple[int, int, int] | None,
                 ring: str) -> Scheme:
    if arr.dtype == object:
        if arr.shape != (3,):
            raise SchemeFormatError(f"{what}: expected [u, v, w], got an object array of shape {arr.shape}")
        if not all(isinstance(x, np.ndarray) for x in arr):
            raise SchemeFormatError(f"{what}: factors must be numeric arrays")
        u, v, w = arr
        if any(x.dtype == object for x in (u, v, w)):
            raise SchemeFormatError(f"{what}: factors must be numeric arrays")
    else:
        if arr.ndim != 3 or arr.shape[0] != 3:
            raise SchemeFormatError(f"{what}: expected [u, v, w], got an array of shape {arr.shape}")
        u, v, w = arr
    return _factors_scheme(u, v, w, what, shape, ring)


def alphatensor_arrays(scheme: Scheme) -> dict[str, np.ndarray]:
    """u, v, w (AlphaTensor convention) and shape, as plain numeric arrays (not for Z2 schemes)."""
    if scheme.ring == "Z2":
        raise InputError(f"{scheme.label()} is valid modulo 2 only; the AlphaTensor format has no "
                         "way to say so (use --to perminov, which keeps the marker)")
    n, m, p = scheme.shape
    mats = [scheme.Wa.T, scheme.Wb.T, _ct_from_wc(scheme.Wc, n, p)]
    out: dict[str, np.ndarray] = {}
    for name, mat in zip(("u", "v", "w"), mats, strict=True):
        vals = [exact(x) for x in mat.flat]
        if all(f.denominator == 1 for f in vals):
            if any(abs(f) >= 2**62 for f in vals):
                raise InputError(f"{scheme.label()}: coefficients beyond 2^62 (what fastmm reads back)")
            arr = np.array([int(f) for f in vals], dtype=np.int64)
        else:
            if any(f.denominator & (f.denominator - 1) or Fraction(float(f)) != f for f in vals):
                raise InputError(f"{scheme.label()}: a coefficient is not exactly representable "
                                 "in a float64 array (AlphaTensor format holds numbers, not fractions)")
            arr = np.array([float(f) for f in vals], dtype=np.float64)
        out[name] = arr.reshape(mat.shape)
    out["shape"] = np.array([n, m, p], dtype=np.int64)
    return out


def alphatensor_bytes(scheme: Scheme) -> bytes:
    """An npz (no pickle) with u, v, w and shape."""
    buf = io.BytesIO()
    np.savez(buf, **alphatensor_arrays(scheme))
    return buf.getvalue()


# -- Perminov JSON -------------------------------------------------------------------------


def _json_coef(value: Any, where: str) -> int | Fraction:
    if isinstance(value, float) and not isinstance(value, bool):
        text = value.text if isinstance(value, JsonDecimal) else repr(value)
        if not math.isfinite(value) and not isinstance(value, JsonDecimal):
            raise SchemeFormatError(f"{where}: coefficient {text} is not finite")
        exact_value = parse_decimal_text(text, where)  # the decimal as written, exactly
        if exact_value is None:
            raise SchemeFormatError(f"{where}: coefficient {text} is not a number")
        return exact_value
    return parse_coefficient(value, where)


def _json_rows(data: dict, key: str, rows: int | None, cols: int, what: str) -> list[list]:
    return coefficient_rows(data, key, rows, cols, f"{cols} coefficients per row", _json_coef)


def perminov_scheme(data: Any, what: str = "<json>") -> Scheme:
    """A Scheme from a parsed Perminov-style JSON object; not verified here."""
    try:
        return _perminov_scheme(data, what)
    except SchemeFormatError as exc:
        if str(exc).startswith(what):
            raise
        raise SchemeFormatError(f"{what}: {exc}") from None


def _perminov_scheme(data: Any, what: str) -> Scheme:
    if not isinstance(data, dict):
        raise SchemeFormatError(f"{what}: top level must be a JSON object")
    if "u_fresh" in data:
        raise SchemeFormatError(f"{what}: the reduced format (u_fresh, ...) is not supported; "
                                "use the full scheme file")
    rank = None
    if isinstance(data.get("n"), list):
        shape = data["n"]
        if "m" in data:  # the rank: an integer, as the entries of "n" are
            rank = data["m"]
            if isinstance(rank, bool) or not isinstance(rank, int):
                raise SchemeFormatError(f"{what}: \"m\" (the rank) must be an integer, "
                                        f"got {json.dumps(rank)[:40]}")
    elif isinstance(data.get("dimension"), list):
        shape = data["dimension"]
    elif all(isinstance(data.get(k), int) for k in ("n", "m", "p")):
        shape = [data["n"], data["m"], data["p"]]
    else:
        raise SchemeFormatError(f"{what}: no shape: expected \"n\": [n, m, p], "
                                "\"dimension\": [n, m, p] or integers \"n\", \"m\", \"p\"")
    if len(shape) != 3:
        raise SchemeFormatError(f"{what}: shape must have three entries, got {json.dumps(shape)[:60]}")
    _check_dims(tuple(shape), what)
    n, m, p = shape
    if isinstance(data.get("u"), list):
        check_scheme_size(n, m, p, len(data["u"]), what)
    u = _json_rows(data, "u", None, n * m, what)
    r = len(u)
    if rank is not None and rank != r:
        raise SchemeFormatError(f"{what}: \"m\" says rank {json.dumps(rank)} but u has {r} rows")
    if r == 0:
        raise SchemeFormatError(f"{what}: u has no rows")
    v = _json_rows(data, "v", r, m * p, what)
    w = _json_rows(data, "w", r, p * n, what)
    z2 = data.get("z2", False)
    if not isinstance(z2, bool):
        raise SchemeFormatError(f"{what}: \"z2\" must be true or false")
    _check_text_fields(data, r, n * p, what)
    wc = _wc_from_ct(np.array(w, dtype=object).T, n, p)
    try:
        scheme = Scheme(n, m, p, as_coefficients(u), as_coefficients(v), as_coefficients(wc))
        return modulo_2_claim(scheme, 'its "z2": true') if z2 else scheme
    except ValueError as exc:
        raise SchemeFormatError(f"{what}: {exc}") from None


Z2_OPTION = "the z2 option (--z2)"


def modulo_2_claim(scheme: Scheme, source: str) -> Scheme:
    """The claim "valid modulo 2 only" made by `source` (the file's "z2": true, or Z2_OPTION) on
    `scheme`, read as written. When these integer coefficients make the scheme exact over the
    integers the claim is untrue: they are kept, labelled by their own ring (ZT or Z), and the
    provenance's "note" says so (import is a conversion: it writes the truest label); the same
    when only their reduction modulo 2 is exact (it is kept, labelled ZT). Otherwise the scheme
    is taken modulo 2 (ring Z2: signs dropped; SchemeError for fractions). One or two exact
    Brent evaluations."""
    from fastmm.io import untrue_modulo_2_claim

    untrue = untrue_modulo_2_claim(*scheme.shape, scheme.Wa, scheme.Wb, scheme.Wc)
    if untrue is None:
        return scheme.with_meta(ring="Z2")
    exact, how = untrue
    note = (f"imported over {exact}, not as Z2: {source} claims validity modulo 2 only, "
            f"but the scheme {how} is exact over {exact}")
    if how.startswith("reduced"):
        mod2 = scheme.with_meta(ring="Z2")  # its 0/1 coefficients, exact over ZT
        return Scheme(*scheme.shape, mod2.Wa, mod2.Wb, mod2.Wc, ring=exact,
                      provenance={**scheme.provenance, "note": note})
    return scheme.with_meta(ring=exact, provenance={**scheme.provenance, "note": note})


def _check_text_fields(data: dict, rank: int, entries: int, what: str) -> None:
    """The formulas are not parsed (u, v, w are the data), but a file whose "multiplications" or
    "elements" list disagrees with them in length contradicts itself and is refused."""
    for key, want in (("multiplications", rank), ("elements", entries)):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise SchemeFormatError(f"{what}: \"{key}\" must be a list of formulas")
        if len(items) != want:
            raise SchemeFormatError(f"{what}: \"{key}\" lists {len(items)} formulas but u, v, w "
                                    f"give {want}")


def perminov_text(scheme: Scheme) -> str:
    """Perminov's full scheme format, rows one per line."""
    n, m, p = scheme.shape
    big = uses_big_names(scheme)
    a_names = [_lower_name("a", i, j, big) for i in range(n) for j in range(m)]
    b_names = [_lower_name("b", j, k, big) for j in range(m) for k in range(p)]
    m_names = [f"m{t + 1}" for t in range(scheme.rank)]
    mults = [f"m{t + 1} = ({linear_combination(scheme.Wa[t], a_names, '-', '*')}) * "
             f"({linear_combination(scheme.Wb[t], b_names, '-', '*')})" for t in range(scheme.rank)]
    elems = [f"{_lower_name('c', i, k, big)} = "
             f"{linear_combination(scheme.Wc[i * p + k], m_names, '-', '*')}"
             for i in range(n) for k in range(p)]
    w = _ct_from_wc(scheme.Wc, n, p).T
    head = {"n": [n, m, p], "m": scheme.rank, "z2": scheme.ring == "Z2"}
    lines = ["{"]
    for k, val in head.items():
        lines.append(f"    {json.dumps(k)}: {json.dumps(val)},")
    for k, items in (("multiplications", mults), ("elements", elems)):
        body = ",\n        ".join(json.dumps(s, ensure_ascii=False) for s in items)
        lines.append(f'    "{k}": [\n        {body}\n    ],')
    for idx, (k, mat) in enumerate((("u", scheme.Wa), ("v", scheme.Wb), ("w", w))):
        rows = [json.dumps([coefficient_json(x) for x in row]) for row in mat]
        body = ",\n        ".join(rows)
        lines.append(f'    "{k}": [\n        {body}\n    ]' + ("," if idx < 2 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _lower_name(letter: str, i: int, j: int, big: bool) -> str:
    return f"{letter}{i + 1}_{j + 1}" if big else f"{letter}{i + 1}{j + 1}"


def load_perminov(path: str | Path) -> Scheme:
    path = Path(path)
    return perminov_scheme(load_json(read_text_file(path), str(path)), str(path))


# -- fast-matmul text ----------------------------------------------------------------------


def _fm_coef(tok: str, where: str) -> int | Fraction:
    """An integer, p/q or exact decimal within fastmm.validate's bound (the size of a decimal is
    checked from its digits and exponent before any number is built), or fast-matmul's own forms
    (codegen/gen.py parse_coeff): a trailing `i` inverts ("3i" = 1/3, "-2i" = −1/2) and a
    trailing digit k after them raises to the k-th power ("2i2" = 1/4)."""
    value = parse_rational_text(tok, where) if "/" in tok else parse_decimal_text(tok, where)
    if value is None and "/" not in tok:
        value = _fm_form(tok, where)
    if value is None or "/" in tok and tok.strip() != tok:
        shown = tok if len(tok) <= 30 else tok[:30] + "..."
        if _PARAMETER.fullmatch(tok):
            raise SchemeFormatError(f"{where}: {shown!r} is a parameter, as in fast-matmul's approximate "
                                    "(border-rank) algorithms: only exact schemes can be read")
        raise SchemeFormatError(f"{where}: {shown!r} is not a number")
    return value


def _fm_form(tok: str, where: str) -> int | Fraction | None:
    """fast-matmul's `-x`, `xi` (1/x) and `xk` (x to a digit k ≥ 1); None for anything else, such
    as the single-letter parameters of its approximate algorithms. tok is at most 64 characters
    (parse_decimal_text refused longer ones), so the recursion is shallow."""
    if len(tok) < 2:
        return None
    if tok[0] == "-":
        inner = _fm_coef_or_none(tok[1:], where)
        return None if inner is None else -inner
    if tok[-1] == "i":
        inner = _fm_coef_or_none(tok[:-1], where)
        if inner == 0:
            raise SchemeFormatError(f"{where}: coefficient {tok!r} divides by zero")
        return None if inner is None else bounded_fraction(1 / Fraction(inner), where)
    if tok[-1] in "123456789" and not tok[-2].isdigit() and tok[-2] not in ".eE+-":
        inner = _fm_coef_or_none(tok[:-1], where)
        return None if inner is None else bounded_fraction(Fraction(inner) ** int(tok[-1]), where)
    return None


def _fm_coef_or_none(tok: str, where: str) -> int | Fraction | None:
    value = parse_decimal_text(tok, where)
    return value if value is not None else _fm_form(tok, where)


MAX_FM_BLOCKS = 64  # '#'-separated blocks of a fast-matmul file: 6 at most, blank ones besides


def fast_matmul_scheme(text: str, what: str = "<text>") -> Scheme:
    """A Scheme from fast-matmul's U # V # W text; not verified here."""
    # as codegen/gen.py's read_coeffs: a '#' line ends a block that holds any line, so a block of
    # blank lines only is an empty placeholder (an eliminated file without A substitutions)
    blocks: list[list[list[int | Fraction]]] = [[]]
    seen = False  # the current block holds a line, blank or not
    count = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#"):
            if seen:
                blocks.append([])
                seen = False
            continue
        if len(blocks) > MAX_FM_BLOCKS:  # a line in one block too many (11 million took a gigabyte)
            raise SchemeFormatError(f"{what}: more than {MAX_FM_BLOCKS} blocks separated by "
                                    "'#' lines (U, V, W and at most three substitutions)")
        seen = True
        if not s:
            continue
        # lazily, so one enormous line is refused without splitting all of it
        row = [tok.group() for tok in islice(_TOKEN.finditer(s), MAX_COEFFICIENTS - count + 1)]
        count += len(row)
        if count > MAX_COEFFICIENTS:
            raise SchemeFormatError(f"{what}: more than {MAX_COEFFICIENTS:,} coefficients (the limit)")
        blocks[-1].append([_fm_coef(tok, f"{what} line {lineno}") for tok in row])
    filled = [i for i, b in enumerate(blocks) if b]
    if len(filled) < 3:
        raise SchemeFormatError(f"{what}: expected three matrices U, V, W separated by '#' lines "
                                f"(then at most three substitution blocks), found {len(filled)} blocks")
    u, v, w = (blocks[i] for i in filled[:3])  # empty blocks before W are only blank lines
    subs = blocks[filled[2] + 1:]  # after W the place counts: A's, B's, C's substitutions
    while subs and not subs[-1]:
        subs.pop()
    if len(subs) > 3:
        raise SchemeFormatError(f"{what}: expected three matrices U, V, W separated by '#' lines "
                                f"(then at most three substitution blocks), found {3 + len(subs)} blocks")
    sub_a, sub_b, sub_c = ([b or None for b in subs] + [None, None, None])[:3]
    extra = len(sub_c) if sub_c else 0  # W's columns past the rank: fast-matmul's M_X products
    widths = {len(row) for b in (u, v) for row in b} | {len(row) - extra for row in w}
    if len(widths) != 1:
        raise SchemeFormatError(f"{what}: rows have different lengths {sorted(widths)} "
                                "(every row holds one coefficient per product)"
                                + (f", past W's {extra} substituted products" if extra else ""))
    # the shape and size from the block sizes first: substituting costs rows × products (a 1 MB
    # file of no matrix shape took 14 s before it was refused)
    sizes = (_substituted_rows(u, sub_a, "U", what), _substituted_rows(v, sub_b, "V", what), len(w))
    n, m, p = _shape_from_sizes(*sizes, what)  # n·p = p·n: W size is symmetric
    _check_dims((n, m, p), what)
    check_scheme_size(n, m, p, widths.pop(), what)
    u = _substituted(u, sub_a, "U", what)
    v = _substituted(v, sub_b, "V", what)
    w = _outputs(w, sub_c, what)
    wa = np.array(u, dtype=object).T
    wb = np.array(v, dtype=object).T
    wc = np.array(w, dtype=object)
    try:
        return Scheme(n, m, p, as_coefficients(wa), as_coefficients(wb), as_coefficients(wc))
    except ValueError as exc:
        raise SchemeFormatError(f"{what}: {exc}") from None


def _substituted_rows(rows: list[list], sub: list[list] | None, name: str, what: str) -> int:
    """The rows U (or V) has once `sub` is substituted (see _substituted); the block checked."""
    if sub is None:
        return len(rows)
    sizes = sorted({len(row) for row in sub})
    d = sizes[0]
    if len(sizes) > 1 or len(rows) != d + len(sub):
        raise SchemeFormatError(f"{what}: the substitution block for {name} does not fit it: {name} has "
                                f"{len(rows)} rows, the block {len(sub)} rows of "
                                f"{' and '.join(map(str, sizes))} coefficients")
    return d


def _substituted(rows: list[list], sub: list[list] | None, name: str, what: str) -> list[list]:
    """U (or V) of an "eliminated" file (fast-matmul's codegen/subexpr_elim.py) written back over
    the matrix entries alone. Its rows past the d = n·m entries are new variables X_i, and
    substitution row i (d coefficients) says X_i = Σ_e sub[i][e]·A_e; gen.py reads block 4 as
    A's substitutions and block 5 as B's, and so does this."""
    if sub is None:
        return rows
    d = _substituted_rows(rows, sub, name, what)
    out = [list(row) for row in rows[:d]]
    for var, coeffs in zip(rows[d:], sub, strict=True):
        for e, c in enumerate(coeffs):
            if c:
                out[e] = [a + c * x for a, x in zip(out[e], var, strict=True)]
    return out


def _outputs(w: list[list], sub: list[list] | None, what: str) -> list[list]:
    """W of an eliminated file with a third substitution block: its columns past the rank r are
    new products M_X_j = Σ_t sub[j][t]·M_t (sums of products that several entries of C share),
    written back over the r products."""
    if sub is None:
        return w
    r = len(w[0]) - len(sub)
    if {len(row) for row in sub} != {r}:
        raise SchemeFormatError(f"{what}: the substitution block for W does not fit it: its rows must "
                                f"hold one coefficient per product ({r})")
    return [[row[t] + sum((row[r + j] * sub[j][t] for j in range(len(sub)) if sub[j][t]), 0)
             for t in range(r)] for row in w]


def _fm_out(x: Any) -> str:
    """A coefficient as fast-matmul's parser reads it exactly: an integer, a terminating decimal
    (written digit by digit, never through a float), or ±1/N as "Ni" / "-Ni"; InputError for
    the others (2/3 has no form there)."""
    f = exact(x)
    if f.denominator == 1:
        return str(f.numerator)
    d = f.denominator
    for q in (2, 5):
        while d % q == 0:
            d //= q
    if d == 1:  # a terminating decimal
        digits = 0
        while (f * 10**digits).denominator != 1:
            digits += 1
        scaled = abs(f.numerator) * 10**digits // f.denominator
        whole, frac = divmod(scaled, 10**digits)
        return f"{'-' if f < 0 else ''}{whole}.{frac:0{digits}d}"
    if abs(f.numerator) == 1:
        return f"{'-' if f < 0 else ''}{f.denominator}i"
    raise InputError(f"coefficient {f} cannot be written in the fast-matmul format (integers, "
                     f"decimals and 1/N as 'Ni' only): use --to perminov or fastmm's own JSON")


def fast_matmul_text(scheme: Scheme) -> str:
    """U # V # W, one row per matrix entry (row-major), one column per product."""
    if scheme.ring == "Z2":
        raise InputError(f"{scheme.label()} is valid modulo 2 only; fast-matmul computes over the "
                         "reals and has no way to say so")
    n, m, p = scheme.shape
    lines = [f"# <{n},{m},{p};{scheme.rank}> exported by fastmm: U (A entries) # V (B entries) "
             "# W (C entries), row-major, one column per product"]
    try:
        for idx, mat in enumerate((scheme.Wa.T, scheme.Wb.T, scheme.Wc)):
            if idx:
                lines.append("#")
            lines += [" ".join(_fm_out(x) for x in row) for row in mat]
    except InputError as exc:
        raise InputError(f"{scheme.label()}: {exc}") from None
    return "\n".join(lines) + "\n"


def load_fast_matmul(path: str | Path) -> Scheme:
    path = Path(path)
    return fast_matmul_scheme(read_text_file(path), str(path))


# -- import with verification --------------------------------------------------------------


def guess_format(path: str | Path) -> str:
    """The foreign format `path` is in, told from its content (fastmm.io.foreign_format_guess, and
    a JSON object with Perminov's u, v, w for "perminov"); InputError when it cannot be told, or
    when the file is a fastmm scheme already."""
    import os

    from fastmm.io import foreign_format_guess

    fmt = foreign_format_guess(path) if os.path.isfile(path) else None
    if fmt is not None:
        return fmt
    text = read_text_file(path)  # its own errors: no such file, a directory, not UTF-8 text, too big
    if not os.path.isfile(path):  # a pipe, read now: the importer could not read it again
        raise InputError(f"{path} is not a regular file (a pipe?): its format cannot be told without "
                         f"reading it; name it with --from {'|'.join(FORMATS)}")
    try:
        data = load_json(text, str(path))
    except SchemeFormatError:
        data = None
    if isinstance(data, dict) and {"u", "v", "w"} <= data.keys():
        return "perminov"
    if isinstance(data, dict) and data.get("format") == "fastmm.scheme":
        raise InputError(f"{path} is a fastmm scheme file already: fastmm verify, show and export read it")
    raise InputError(f"{path}: cannot tell which tool's format it is in: name it with --from "
                     f"{'|'.join(FORMATS)}")


def read_foreign(path: str | Path, fmt: str, allow_pickle: bool = False, key: str | None = None,
                 z2: bool = False) -> Scheme:
    """Parse a file of another tool into a Scheme (not verified); fmt "auto": told from its
    content (guess_format)."""
    if fmt == "auto":
        fmt = guess_format(path)
    if fmt == "alphatensor":  # the claim is judged on the factors as written (modulo_2_claim)
        return load_alphatensor(path, allow_pickle=allow_pickle, key=key, ring="Z2" if z2 else "")
    if fmt in FORMATS:  # options of one format must never be silently ignored by another
        for flag, given in (("--key", key is not None), ("--allow-pickle", allow_pickle)):
            if given:
                raise InputError(f"{flag} applies to --from alphatensor only (a {fmt} file holds one "
                                 "scheme and no Python objects)")
    if fmt == "perminov":
        s = load_perminov(path)
    elif fmt == "fast-matmul":
        s = load_fast_matmul(path)
    elif fmt in ("exp", "maple"):  # the claim of a "# ring: Z2" line is judged there
        from fastmm.export.flips import load_exp, load_maple

        s = load_exp(path) if fmt == "exp" else load_maple(path)
    else:
        raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)}, or auto)")
    if z2 and s.ring != "Z2" and "note" not in s.provenance:  # a "z2": true file was judged already
        s = modulo_2_claim(s, Z2_OPTION)
    return s


def import_scheme(path: str | Path, fmt: str, allow_pickle: bool = False, key: str | None = None,
                  z2: bool = False) -> Scheme:
    """Read and verify; raises VerificationError naming the failing entries."""
    try:
        scheme = read_foreign(path, fmt, allow_pickle=allow_pickle, key=key, z2=z2)
    except SchemeError as exc:
        if str(exc).startswith(f"{path}:"):
            raise
        raise SchemeError(f"{path}: {exc}") from None
    try:
        checked = verified_copy(scheme)  # the sympy proof within its size limit (verify.verify)
    except VerificationError as exc:
        hint = ""
        if scheme.ring != "Z2" and scheme.is_integral and brent_report(scheme, 2).ok:
            hint = " (it is valid modulo 2: re-run with --z2 to import it as a GF(2) scheme)"
        raise VerificationError(f"{path}: {exc}{hint}") from None
    provenance = {"method": "import", "from": fmt, "source": Path(path).name}
    note = scheme.provenance.get("note")
    if note is not None:  # a modulo-2 claim the coefficients contradict: kept in the file
        provenance["note"] = note  # (the import command says it once on stderr)
    return checked.with_meta(provenance=provenance)


def export_foreign(scheme: Scheme, fmt: str) -> str | bytes:
    """Text (perminov, fast-matmul, exp, maple) or bytes (alphatensor npz) of a verified scheme, within the
    coefficient bound that fastmm's readers (and its scheme files) hold to, so it reads back."""
    for key, w in (("Wa", scheme.Wa), ("Wb", scheme.Wb), ("Wc", scheme.Wc)):
        check_coefficients(w, key, lambda message: InputError(f"{scheme.label()}: {message}"),
                           bound_of="what fastmm reads back")
    if fmt == "alphatensor":
        return alphatensor_bytes(scheme)
    if fmt == "perminov":
        return perminov_text(scheme)
    if fmt == "fast-matmul":
        return fast_matmul_text(scheme)
    if fmt in ("exp", "maple"):
        from fastmm.export.flips import exp_text, maple_text

        return exp_text(scheme) if fmt == "exp" else maple_text(scheme)
    raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
