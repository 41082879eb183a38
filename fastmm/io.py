"""Reading and writing scheme files (format "fastmm.scheme", version 1), strictly and atomically.

Every problem with a file becomes one SchemeFormatError line naming the file and the field.
Coefficients are integers or strings "p/q" (also "-3"); integral floats such as 1.0 are
accepted, anything else (text, bool, null, 0.5) is rejected.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from fastmm.errors import SchemeFormatError
from fastmm.scheme import RINGS, Scheme, as_coefficients

FORMAT = "fastmm.scheme"
VERSION = 1
MAX_DIM = 64  # n, m, p in files; searches have their own, smaller limit
_FRACTION = re.compile(r"^\s*([+-]?\d+)\s*(?:/\s*(\d+))?\s*$")


def parse_coefficient(value: Any, where: str) -> int | Fraction:
    """An exact coefficient from JSON, or SchemeFormatError."""
    if isinstance(value, bool) or value is None:
        raise SchemeFormatError(f"{where}: coefficient {json.dumps(value)} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise SchemeFormatError(f"{where}: coefficient {value!r} is not exact; write fractions as \"p/q\"")
    if isinstance(value, str):
        match = _FRACTION.match(value)
        if not match or len(value) > 100:
            shown = value if len(value) <= 30 else value[:30] + "..."
            raise SchemeFormatError(f"{where}: coefficient {shown!r} is not an integer or p/q fraction")
        num, den = int(match.group(1)), int(match.group(2) or 1)
        if den == 0:
            raise SchemeFormatError(f"{where}: coefficient {value!r} divides by zero")
        f = Fraction(num, den)
        return int(f) if f.denominator == 1 else f
    raise SchemeFormatError(f"{where}: coefficient of type {type(value).__name__} is not a number")


def coefficient_rows(data: dict, key: str, rows: int | None, cols: int, what: str,
                     parse: Callable[[Any, str], Any] | None = None) -> list[list]:
    """data[key] as `rows` (any number if None) lists of `cols` exact coefficients, or one
    SchemeFormatError line naming the field; `parse` reads one coefficient (default
    parse_coefficient). Shared by fastmm's own files and the importers of other formats."""
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
            raise SchemeFormatError(f"{key} row {i + 1} has {got} entries, expected {cols} ({what})")
        out.append([parse(v, f"{key}[{i + 1}][{j + 1}]") for j, v in enumerate(row)])
    return out


def _matrix(data: dict, key: str, rows: int, cols: int, what: str) -> np.ndarray:
    out = coefficient_rows(data, key, rows, cols, what)
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype=np.int64)
    return as_coefficients(out)


def _positive_int(value: Any, what: str, limit: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SchemeFormatError(f"{what} must be a positive integer, got {json.dumps(value)}")
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
            "`fastmm import FILE --from alphatensor|perminov|fast-matmul`"
        )
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise SchemeFormatError(
            f"format is {fmt!r}, expected {FORMAT!r} (use `fastmm import` for other tools)"
        )
    version = data.get("version", VERSION)
    if version != VERSION:
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
    wa = _matrix(data, "Wa", r, n * m, f"rank × n·m = {r}×{n * m}")
    wb = _matrix(data, "Wb", r, m * p, f"rank × m·p = {r}×{m * p}")
    wc = _matrix(data, "Wc", n * p, r, f"n·p × rank = {n * p}×{r}")
    ring = data.get("ring", "")
    if ring not in ("",) + RINGS:
        raise SchemeFormatError(f"ring {ring!r} is not one of {', '.join(RINGS)}")
    provenance = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    verified = data.get("verified") if isinstance(data.get("verified"), dict) else None
    try:
        return Scheme(n, m, p, wa, wb, wc, ring=ring, provenance=provenance, verified=verified)
    except ValueError as exc:
        raise SchemeFormatError(str(exc)) from None


def coefficient_json(x: Any) -> int | str:
    """An exact coefficient as JSON: an int, or the string \"p/q\"."""
    f = Fraction(x)
    return int(f) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def scheme_to_dict(scheme: Scheme) -> dict:
    """The JSON object of DESIGN.md (rows of Wa, Wb; rows of Wc indexed by C row-major)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "shape": list(scheme.shape),
        "rank": scheme.rank,
        "ring": scheme.ring,
        "Wa": [[coefficient_json(x) for x in row] for row in scheme.Wa],
        "Wb": [[coefficient_json(x) for x in row] for row in scheme.Wb],
        "Wc": [[coefficient_json(x) for x in row] for row in scheme.Wc],
        "verified": scheme.verified or {},
        "provenance": scheme.provenance,
    }


def dumps(scheme: Scheme) -> str:
    """Compact JSON: one line per coefficient row, so files stay readable and diffable."""
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
            lines.append(f"  {json.dumps(key)}: {json.dumps(d[key], sort_keys=True)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask sets it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text so that readers see either the old file or the whole new one, never a part."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would: the
        # replaced file's, or 0666 less the umask
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_scheme(scheme: Scheme, path: str | os.PathLike) -> None:
    """Write a scheme file atomically. Callers verify first (see verify.verified_copy)."""
    atomic_write_text(path, dumps(scheme))


def loads(text: str, source: str = "<string>") -> Scheme:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemeFormatError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return scheme_from_dict(data)
    except SchemeFormatError as exc:
        raise SchemeFormatError(f"{source}: {exc}") from None


def read_text_file(path: str | os.PathLike) -> str:
    """A UTF-8 text file's content, or one SchemeFormatError line saying why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemeFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SchemeFormatError(f"{path}: is a directory, expected a scheme file") from None
    except UnicodeDecodeError:
        raise SchemeFormatError(f"{path}: not a text file") from None
    except OSError as exc:
        raise SchemeFormatError(f"{path}: cannot read ({exc.strerror})") from None


def load_scheme(path: str | os.PathLike) -> Scheme:
    """Read and check a scheme file (it is not verified here: see fastmm.verify)."""
    return loads(read_text_file(path), str(path))
