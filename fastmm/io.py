"""Reading and writing scheme files (format "fastmm.scheme", version 1), strictly and atomically.

Every problem with a file becomes one SchemeFormatError line naming the file and the field.
Coefficients are integers or strings "p/q" (also "-3"); integral floats such as 1.0 are
accepted, anything else (text, bool, null, 0.5) is rejected. Numerators and denominators stay
below 2^62, the file below 32 MiB, the nesting below 32 levels (fastmm.validate states the bounds).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from fastmm.errors import InputError, SchemeFormatError
from fastmm.scheme import RINGS, Scheme, as_coefficients
from fastmm.validate import (
    MAX_FILE_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_INT_DIGITS,
    NPY_MAGIC,
    ZIP_MAGICS,
    JsonDecimal,
    bounded_fraction,
    check_coefficients,
    check_scheme_size,
    load_json,
    parse_decimal_text,
    parse_rational_text,
    plain_json,
    read_text,
)

FORMAT = "fastmm.scheme"
VERSION = 1
MAX_DIM = 64  # n, m, p in files; searches have their own, smaller limit


def parse_coefficient(value: Any, where: str) -> int | Fraction:
    """An exact coefficient from JSON within the bound of fastmm.validate, or SchemeFormatError."""
    if isinstance(value, bool) or value is None:
        raise SchemeFormatError(f"{where}: coefficient {json.dumps(value)} is not a number")
    if isinstance(value, int):
        return bounded_fraction(value, where)
    if isinstance(value, float):
        text = value.text if isinstance(value, JsonDecimal) else repr(value)
        if not math.isfinite(value) and not isinstance(value, JsonDecimal):
            raise SchemeFormatError(f"{where}: coefficient {text} is not finite")
        exact_value = parse_decimal_text(text, where)
        if exact_value is None:
            raise SchemeFormatError(f"{where}: coefficient {text} is not a number")
        if isinstance(exact_value, int):
            return exact_value
        raise SchemeFormatError(f"{where}: coefficient {text} is not exact; write fractions as \"p/q\"")
    if isinstance(value, str):
        exact_value = parse_rational_text(value, where)
        if exact_value is None:
            shown = value if len(value) <= 30 else value[:30] + "..."
            raise SchemeFormatError(f"{where}: coefficient {shown!r} is not an integer or p/q fraction")
        return exact_value
    raise SchemeFormatError(f"{where}: coefficient of type {type(value).__name__} is not a number")


def coefficient_rows(data: dict, key: str, rows: int | None, cols: int, what: str,
                     parse: Callable[[Any, str], Any] | None = None) -> list[list]:
    """data[key] as `rows` (any number if None) lists of `cols` exact coefficients, or one
    SchemeFormatError line naming the field; `parse` reads one coefficient (default
    parse_coefficient). Shared by fastmm's own files and the importers of other formats.
    Locations are 0-based, as the JSON is indexed: Wa[2][3] is data["Wa"][2][3]."""
    parse = parse or parse_coefficient
    mat = data.get(key)
    if not isinstance(mat, list):
        raise SchemeFormatError(f"field {key!r} is missing or not a list ({what})")
    if rows is not None and len(mat) != rows:
        raise SchemeFormatError(f"{key} has {len(mat)} rows, expected {rows} ({what})")
    out = []
    for i, row in enumerate(mat):
        if not isinstance(row, list) or len(row) != cols:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise SchemeFormatError(f"{key}[{i}] has {got} entries, expected {cols} ({what})")
        out.append([parse(v, f"{key}[{i}][{j}]") for j, v in enumerate(row)])
    return out


def _matrix(data: dict, key: str, rows: int, cols: int, what: str) -> np.ndarray:
    out = coefficient_rows(data, key, rows, cols, what)
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype=np.int64)
    return as_coefficients(out)


def _positive_int(value: Any, what: str, limit: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        shown = value.text if isinstance(value, JsonDecimal) else json.dumps(value)[:30]
        raise SchemeFormatError(f"{what} must be a positive integer, got {shown}")
    if limit is not None and value > limit:
        raise SchemeFormatError(f"{what} = {value} exceeds the supported limit of {limit}")
    return value


def scheme_from_dict(data: Any) -> Scheme:
    """Build a Scheme from the parsed JSON object, checking every field."""
    if not isinstance(data, dict):
        raise SchemeFormatError("top level must be a JSON object")
    if "format" not in data and "shape" not in data:
        raise SchemeFormatError(
            "not a fastmm scheme file (no \"format\" or \"shape\"); for other tools' files use "
            "`fastmm import FILE --from alphatensor|perminov|fast-matmul|exp|maple`"
        )
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise SchemeFormatError(
            f"format is {fmt!r}, expected {FORMAT!r} (use `fastmm import` for other tools)"
        )
    version = data.get("version", VERSION)
    if type(version) is not int or version != VERSION:  # true and 1.0 equal 1 in Python, not here
        raise SchemeFormatError(f"version {version!r} is not supported (this fastmm reads version {VERSION})")
    shape = data.get("shape")
    if not isinstance(shape, list) or len(shape) != 3:
        raise SchemeFormatError(f"shape must be a list [n, m, p], got {json.dumps(shape)}")
    n, m, p = (_positive_int(x, f"shape[{i}]", MAX_DIM) for i, x in enumerate(shape))
    wa_rows = data.get("Wa")
    r = len(wa_rows) if isinstance(wa_rows, list) else None
    if "rank" in data:
        r = _positive_int(data["rank"], "rank")
    if r is None:
        raise SchemeFormatError("field 'Wa' is missing or not a list")
    if r == 0:  # no "rank" field and no rows: what `save` refuses to write
        raise SchemeFormatError("field 'Wa' has no rows: a scheme file holds at least one product")
    check_scheme_size(n, m, p, r, "shape and rank")
    wa = _matrix(data, "Wa", r, n * m, f"rank × n·m = {r}×{n * m}")
    wb = _matrix(data, "Wb", r, m * p, f"rank × m·p = {r}×{m * p}")
    wc = _matrix(data, "Wc", n * p, r, f"n·p × rank = {n * p}×{r}")
    ring = data.get("ring", "")
    if ring not in ("",) + RINGS:
        raise SchemeFormatError(f"ring {ring!r} is not one of {', '.join(RINGS)}")
    provenance = plain_json(data["provenance"]) if isinstance(data.get("provenance"), dict) else {}
    verified = plain_json(data["verified"]) if isinstance(data.get("verified"), dict) else None
    if ring == "Z2":
        _check_modulo_2_claim(n, m, p, wa, wb, wc)
    try:
        return Scheme(n, m, p, wa, wb, wc, ring=ring, provenance=provenance, verified=verified)
    except ValueError as exc:
        raise SchemeFormatError(str(exc)) from None


def _check_modulo_2_claim(n: int, m: int, p: int, wa, wb, wc) -> None:
    """A Z2 label says "valid modulo 2 only" and keeps coefficients modulo 2, so signs written in
    the file are dropped on reading. If the scheme as written (with its signs, or of 0s and 1s
    read as integers), or what is kept of it (its 0/1 reduction), is exact over the integers,
    that label is untrue: refuse it (as a wrong label is refused elsewhere) and say which ring
    is true. One or two exact Brent evaluations."""
    untrue = untrue_modulo_2_claim(n, m, p, wa, wb, wc)
    if untrue is not None:
        exact, how = untrue
        raise SchemeFormatError(f'ring "Z2" claims validity modulo 2 only, but the scheme {how} is exact '
                                f'over {exact}: label it "{exact}"'
                                + (" with those 0/1 coefficients" if how.startswith("reduced") else ""))


def untrue_modulo_2_claim(n: int, m: int, p: int, wa, wb, wc) -> tuple[str, str] | None:
    """(ring, how) when a "valid modulo 2 only" claim on these coefficients is untrue: the scheme
    as written is exact over `ring` (ZT or Z), or, when it is not but has entries other than
    0 and 1, its reduction modulo 2 (what a Z2 label keeps of it) is exact over ZT. None when the
    claim holds (and for fractions, which no Z2 label holds)."""
    exact = exact_as_written(n, m, p, wa, wb, wc)
    signed = any(x < 0 for w in (wa, wb, wc) for x in np.asarray(w).flat)
    if exact is not None:
        return exact, "as written (with its signs)" if signed else "as written"
    mats = [np.asarray(w) for w in (wa, wb, wc)]
    if any(not isinstance(x, int | np.integer) for w in mats for x in w.flat):
        return None  # fractions: Scheme refuses them under a Z2 label
    if all(((w == 0) | (w == 1)).all() for w in mats):
        return None  # the reduction is what was written: checked above
    reduced = [np.array([int(x) % 2 for x in w.flat], dtype=np.int64).reshape(w.shape) for w in mats]
    exact = exact_as_written(n, m, p, *reduced)
    return (exact, "reduced modulo 2 (what a Z2 label keeps of it)") if exact else None


def exact_as_written(n: int, m: int, p: int, wa, wb, wc) -> str | None:
    """The ring (ZT or Z) over which these integer coefficients, read as integers (not modulo 2),
    make an exact scheme, or None when they do not: a "valid modulo 2 only" claim on them is true
    only if None. None for fractions too (no Z2 label holds them: Scheme says so). One exact
    Brent evaluation."""
    try:
        as_written = Scheme(n, m, p, wa, wb, wc)
    except ValueError:
        return None
    if as_written.ring == "Q":
        return None
    from fastmm.verify import brent_report

    return as_written.ring if brent_report(as_written, None).ok else None


def true_label(scheme: Scheme) -> Scheme:
    """A scheme labelled Z2 whose coefficients are exact over the integers as written, labelled
    with that ring (ZT or Z); any other scheme as it is. `save`, `export` and `matmul` say what
    such a scheme computes, not "valid modulo 2 only"."""
    if scheme.ring == "Z2" and exact_as_written(*scheme.shape, scheme.Wa, scheme.Wb, scheme.Wc):
        return scheme.with_meta(ring=scheme.coefficient_ring)
    return scheme


def _written_label(scheme: Scheme) -> tuple[str, dict]:
    """The ring and "verified" record a file holds for `scheme`: its own, except that a scheme
    labelled Z2 whose coefficients (0 and 1) are exact over the integers is written with its true
    ring and a record of that check, since in a file Z2 says "valid modulo 2 only" and fastmm
    refuses to read that label there (so every file fastmm writes, checkpoints included, loads)."""
    true = true_label(scheme)
    if true is not scheme:
        from fastmm.verify import verify

        return true.ring, verify(true, use_sympy=False).record()
    return scheme.ring, scheme.verified or {}


def coefficient_json(x: Any) -> int | str:
    """An exact coefficient as JSON: an int, or the string \"p/q\"."""
    f = Fraction(x)
    return int(f) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def scheme_to_dict(scheme: Scheme) -> dict:
    """The JSON object of a scheme file (README, "Scheme files": rows of Wa, Wb; rows of Wc
    indexed by C row-major). A scheme labelled Z2 that is exact over the integers is written with
    its true ring (_written_label)."""
    ring, record = _written_label(scheme)
    return {
        "format": FORMAT,
        "version": VERSION,
        "shape": list(scheme.shape),
        "rank": scheme.rank,
        "ring": ring,
        "Wa": [[coefficient_json(x) for x in row] for row in scheme.Wa],
        "Wb": [[coefficient_json(x) for x in row] for row in scheme.Wb],
        "Wc": [[coefficient_json(x) for x in row] for row in scheme.Wc],
        "verified": record,
        "provenance": scheme.provenance,
    }


def check_writable(scheme: Scheme) -> None:
    """Raise InputError unless `loads` would read back what `dumps` writes: the reader's bounds
    (MAX_DIM, fastmm.validate's size, coefficient, integer and nesting limits) and plain JSON
    in provenance and verified (dicts with string keys, lists, strings, finite numbers,
    true/false/null). Every writer of scheme files goes through `dumps`, so none writes a file
    that fastmm then refuses."""
    label = scheme.label()

    def refuse(why: str) -> InputError:
        return InputError(f"cannot write {label}: {why}")

    for name, d in zip("nmp", scheme.shape, strict=True):
        if d > MAX_DIM:
            raise refuse(f"{name} = {d} exceeds the limit of {MAX_DIM} of scheme files")
    try:
        check_scheme_size(*scheme.shape, scheme.rank, "too large for a scheme file")
    except SchemeFormatError as exc:
        raise refuse(str(exc)) from None
    if scheme.rank < 1:
        raise refuse("a scheme file holds at least one product")
    for key, w in (("Wa", scheme.Wa), ("Wb", scheme.Wb), ("Wc", scheme.Wc)):
        check_coefficients(w, key, refuse)
    for key in ("provenance", "verified"):
        _check_json_value(getattr(scheme, key) or {}, key, 2, refuse)


def _check_json_value(value: Any, where: str, depth: int, refuse: Callable[[str], InputError]) -> None:
    """`value` sits `depth` levels deep in the file (provenance's own object is level 2)."""
    if isinstance(value, dict | list | tuple) and depth > MAX_JSON_DEPTH:
        raise refuse(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise refuse(f"{where} has the key {k!r} of type {type(k).__name__}; JSON keys are strings")
            _check_json_value(v, f"{where}[{k!r}]", depth + 1, refuse)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json_value(v, f"{where}[{i}]", depth + 1, refuse)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int):
        if abs(value) >= 10**MAX_JSON_INT_DIGITS:
            raise refuse(f"{where} is an integer of more than {MAX_JSON_INT_DIGITS} digits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise refuse(f"{where} is {value}, not a finite number")
    else:
        raise refuse(f"{where} is of type {type(value).__name__}, which a JSON file cannot hold")


def dumps(scheme: Scheme) -> str:
    """The scheme file's text (see check_writable: InputError if fastmm could not read it back).
    Compact JSON: one line per coefficient row, so files stay readable and diffable."""
    check_writable(scheme)
    d = scheme_to_dict(scheme)
    lines = ["{"]
    keys = list(d)
    for idx, key in enumerate(keys):
        comma = "," if idx < len(keys) - 1 else ""
        if key in ("Wa", "Wb", "Wc"):
            rows = [json.dumps(row, separators=(",", ":")) for row in d[key]]
            body = ",\n    ".join(rows)
            lines.append(f'  "{key}": [\n    {body}\n  ]{comma}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(d[key], sort_keys=True, allow_nan=False)}{comma}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:  # ASCII: json.dumps escapes the rest
        raise InputError(f"cannot write {scheme.label()}: the file would be larger than the limit "
                         f"of {MAX_FILE_BYTES:,} bytes")
    return text


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text so that readers see either the old file or the whole new one, never a part."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target (see
    fastmm.paths.write_atomic: a symlink is followed, a special file is never replaced; missing
    parent folders are created). Raises fastmm.paths.OutputError with one line."""
    from fastmm.paths import write_atomic

    write_atomic(path, data, make_parents=True)


def save_scheme(scheme: Scheme, path: str | os.PathLike) -> None:
    """Write a scheme file atomically. Callers verify first (see verify.verified_copy). A scheme
    that fastmm could not read back is refused (InputError) before anything is written."""
    atomic_write_text(path, dumps(scheme))


def loads(text: str, source: str = "<string>") -> Scheme:
    return _scheme_from_json(load_json(text, source), source)


def _scheme_from_json(data: Any, source: str) -> Scheme:
    """scheme_from_dict, its error naming `source`."""
    try:
        return scheme_from_dict(data)
    except SchemeFormatError as exc:
        raise SchemeFormatError(f"{source}: {exc}") from None


def read_text_file(path: str | os.PathLike) -> str:
    """A UTF-8 text file's content (bounded, see fastmm.validate.read_text), or one
    SchemeFormatError line saying why it cannot be read."""
    return read_text(path)


def load_scheme(path: str | os.PathLike) -> Scheme:
    """Read and check a scheme file (it is not verified here: see fastmm.verify). A file that is
    not JSON but looks like another tool's format says which `fastmm import --from` reads it."""
    try:
        data = load_json(read_text_file(path), str(path))
    except SchemeFormatError as exc:
        fmt = foreign_format_guess(path)
        if fmt is None:
            raise
        raise SchemeFormatError(f"{exc}; it looks like {_FOREIGN_NAMES[fmt]} file: read it with "
                                f"`fastmm import FILE --from {fmt}`") from None
    return _scheme_from_json(data, str(path))


_EXP_LINE = re.compile(r"[\sabc0-9()+\-*/]+")  # (a11 + a22)*(b11)*(c22)/3, (0)*(b11)*(c11), a33 b33 c33
_EXP_VARIABLE = re.compile(r"(?<![a-z0-9])[abc][1-9][1-9](?![0-9])")
# fast-matmul: rows of numbers, where fastmm writes ±1/N as `Ni` (and 1/N^K as `NiK`)
_NUMBER = r"[-+]?(?:[0-9]+i[0-9]*|[0-9./]+)"
_NUMBERS_LINE = re.compile(rf"\s*{_NUMBER}(?:\s+{_NUMBER})*\s*")
_FOREIGN_NAMES = {"alphatensor": "an AlphaTensor npy/npz", "maple": "a Maple (.m)",
                  "exp": "a Kauers–Moosbauer .exp", "fast-matmul": "a fast-matmul"}


def foreign_format_guess(path: str | os.PathLike) -> str | None:
    """Which foreign format a file that is not a fastmm scheme looks like, from its first 4 KB:
    "alphatensor" (npy/npz), "maple" ({{...), "exp" ((a11 + ...)*(...)*(...)), "fast-matmul"
    (rows of numbers), or None. Only a hint for an error message: the importer checks the file."""
    try:
        if not os.path.isfile(path):  # a pipe read here could not be read again by the importer
            return None
        with open(path, "rb") as fp:
            head = fp.read(4096)
    except (OSError, ValueError):
        return None
    if head.startswith(NPY_MAGIC) or head.startswith(ZIP_MAGICS):
        return "alphatensor"
    lines = [x.strip() for x in head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()]
    lines = [x for x in lines if x and not x.startswith("#")]
    if not lines:
        return None
    first = lines[0]
    if re.sub(r"\s", "", first).startswith("{{") and '"' not in first:  # '"': broken JSON, not Maple
        return "maple"
    if _NUMBERS_LINE.fullmatch(first) and any(ch.isdigit() for ch in first):
        return "fast-matmul"
    if _EXP_LINE.fullmatch(first) and _EXP_VARIABLE.search(first):
        return "exp"
    return None
