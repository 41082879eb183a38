"""The one validation layer for data from outside: files, foreign formats, command-line numbers.

Every reader goes through here, so the same bounds hold everywhere and every violation is one
SchemeFormatError/InputError line naming the file and the field. The bounds:

* coefficients: exact rationals p/q (in lowest terms) with |p| < 2^62 and 0 < q < 2^62, so
  every coefficient fits a signed 64-bit word; text is rejected *before* any big number is
  built (at most 64 characters per number, decimal exponents of at most 4 digits);
* numbers given as text or floats must be finite (NaN and infinities are refused everywhere);
* files: at most MAX_FILE_BYTES (32 MiB) are read, from regular files, pipes and devices alike
  (a FIFO without a writer reads as empty, /dev/zero as too large), JSON nested at most
  MAX_JSON_DEPTH (32) levels deep;
* arrays (npy, npz members): the header is read and checked before anything is allocated —
  at most MAX_ARRAY_ELEMENTS (2^22) entries, the data must be in the file, integer dtypes
  are converted exactly through Python integers (no wraparound: uint64 2^64-1 stays
  2^64-1 and is then refused by the coefficient bound), floats must be finite;
* schemes: verification builds the (n·m)×(m·p)×(n·p) Brent tensor over r terms, so a scheme
  is read only when n·m·m·p·n·p·r ≤ MAX_BRENT_WORK (2^31: ⟨8,8,8;343⟩ needs 9·10^7) and it
  has at most MAX_COEFFICIENTS (2^19 = 524,288) coefficients r·(nm + mp + np).

Nothing here imports torch or sympy.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
import tokenize
import zipfile
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from fastmm.errors import InputError, SchemeFormatError

COEFFICIENT_BITS = 62
COEFFICIENT_LIMIT = 2**COEFFICIENT_BITS  # |numerator| and denominator stay below this
MAX_NUMBER_CHARS = 64
MAX_EXPONENT_DIGITS = 4
MAX_FILE_BYTES = 32 * 2**20
MAX_JSON_DEPTH = 32
MAX_JSON_INT_DIGITS = 40  # integers in JSON files (metadata such as seeds included)
MAX_ARRAY_ELEMENTS = 2**22
MAX_BRENT_WORK = 2**31
# Brent work on big integers (a common denominator of thousands of bits), in units of one
# 64-bit multiply-add: each costs about (bits/64)^1.5 of those (fastmm.verify.check_big_work)
MAX_BIG_INTEGER_WORK = 2**28
MAX_COEFFICIENTS = 2**19  # r·(nm + mp + np) per scheme
MAX_SECONDS = 10**7  # time limits: about 115 days

_RATIONAL = re.compile(r"^\s*([+-]?)(\d+)\s*(?:/\s*(\d+))?\s*$", re.ASCII)
_DECIMAL = re.compile(r"^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?)(\d+))?\s*$", re.ASCII)
_SMALL_INT = re.compile(r"^[+-]?\d{1,18}$", re.ASCII)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 30 else text[:30] + "...")


# -- numbers -------------------------------------------------------------------------------


def check_coefficients(w: np.ndarray, key: str, refuse: Callable[[str], Exception],
                       bound_of: str = "scheme files") -> None:
    """Every coefficient of matrix `key` within COEFFICIENT_LIMIT (numerator and denominator), as
    every reader of scheme files demands; else `refuse(message)` is raised."""
    if w.dtype != object:
        if w.size == 0 or -COEFFICIENT_LIMIT < int(w.min()) and int(w.max()) < COEFFICIENT_LIMIT:
            return
    for (i, j), x in np.ndenumerate(w):
        f = Fraction(x)
        if abs(f.numerator) >= COEFFICIENT_LIMIT or f.denominator >= COEFFICIENT_LIMIT:
            shown = str(f) if len(str(f)) <= 30 else str(f)[:30] + "..."
            raise refuse(f"{key}[{i}][{j}] = {shown} is beyond the bound of {bound_of} "
                         f"(numerator and denominator below 2^{COEFFICIENT_BITS})")


def bounded_fraction(value: Fraction | int, where: str) -> int | Fraction:
    """An exact coefficient within the stated bound (an int when integral), or one error line."""
    if type(value) is int:  # the common case, without building a Fraction
        if -COEFFICIENT_LIMIT < value < COEFFICIENT_LIMIT:
            return value
    f = Fraction(value)
    if abs(f.numerator) >= COEFFICIENT_LIMIT or f.denominator >= COEFFICIENT_LIMIT:
        raise SchemeFormatError(f"{where}: coefficient {_shown(str(f))} is beyond the supported "
                                f"bound (numerator and denominator below 2^{COEFFICIENT_BITS})")
    return int(f) if f.denominator == 1 else f


def exact_int(value: Any) -> int:
    """A Python int from an int, a numpy integer or an integral Fraction (never int64 arithmetic)."""
    if isinstance(value, Fraction):
        if value.denominator != 1:
            raise ValueError(f"{value} is not an integer")
        return int(value.numerator)
    return int(value)


def exact(value: Any) -> Fraction:
    """A coefficient (int, numpy integer or Fraction) as a Fraction of Python ints, so products
    never overflow (Fraction(np.int64(x)) keeps an int64 numerator that wraps silently)."""
    if isinstance(value, Fraction):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not finite")
        return Fraction(float(value))
    return Fraction(int(value))


def parse_rational_text(text: str, where: str) -> int | Fraction | None:
    """'3', '-2', '1/2' (spaces allowed) within the bound; None if text is not of that form."""
    if _SMALL_INT.match(text):  # the common case, fast: at most 18 digits is below 2^62
        return int(text)
    if len(text) > MAX_NUMBER_CHARS:
        raise SchemeFormatError(f"{where}: number {_shown(text)} is longer than "
                                f"{MAX_NUMBER_CHARS} characters")
    match = _RATIONAL.match(text)
    if not match:
        return None
    sign, num, den = match.group(1), int(match.group(2)), int(match.group(3) or 1)
    if den == 0:
        raise SchemeFormatError(f"{where}: coefficient {text.strip()!r} divides by zero")
    return bounded_fraction(Fraction(-num if sign == "-" else num, den), where)


def parse_decimal_text(text: str, where: str) -> int | Fraction | None:
    """A decimal such as '0.25', '-1e3', '2.5E-2', exactly and within the bound; None if the text
    is not a decimal. The size is checked from the digits and the exponent before any number
    is built, so '1e999999999' costs nothing."""
    if _SMALL_INT.match(text):
        return int(text)
    if len(text) > MAX_NUMBER_CHARS:
        raise SchemeFormatError(f"{where}: number {_shown(text)} is longer than "
                                f"{MAX_NUMBER_CHARS} characters")
    match = _DECIMAL.match(text)
    if not match or not (match.group(2) or match.group(3)):
        return None
    sign, whole, frac, esign, exp = match.groups()
    frac = frac or ""
    if exp is not None and len(exp.lstrip("0")) > MAX_EXPONENT_DIGITS:
        raise SchemeFormatError(f"{where}: number {_shown(text.strip())} has an exponent beyond "
                                f"{MAX_EXPONENT_DIGITS} digits")
    scale = (-int(exp) if esign == "-" else int(exp or 0)) - len(frac)
    digits = (whole + frac).lstrip("0")
    if not digits:
        return 0
    stripped = digits.rstrip("0")
    scale += len(digits) - len(stripped)
    # value = stripped · 10^scale with stripped not divisible by 10
    # a fraction within the bound has a denominator 2^a·5^b below 2^62: at most 61 decimal places
    if scale > 0 and len(stripped) + scale > 19 or scale < -64:
        raise SchemeFormatError(f"{where}: coefficient {_shown(text.strip())} is beyond the "
                                f"supported bound (numerator and denominator below "
                                f"2^{COEFFICIENT_BITS})")
    num = int(stripped) * 10 ** max(scale, 0)
    value = Fraction(-num if sign == "-" else num, 10 ** max(-scale, 0))
    return bounded_fraction(value, where)


def finite_float(value: Any, what: str, low: float | None = None, high: float | None = None) -> float:
    """A finite float within [low, high] for command-line numbers (time limits, rates)."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a number, got {_shown(str(value))}") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be a finite number, got {value}")
    if low is not None and x < low or high is not None and x > high:
        rng = f"between {low:g} and {high:g}" if low is not None and high is not None else (
            f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise InputError(f"{what} must be {rng}, got {x:g}")
    return x


def time_limit(value: Any, what: str = "--time-limit") -> float:
    """A time limit in seconds: finite, positive, at most MAX_SECONDS."""
    x = finite_float(value, what, high=MAX_SECONDS)
    if x <= 0:
        raise InputError(f"{what} must be positive, got {x:g}")
    return x


def digits(value: int) -> str:
    """An integer for a message: its first 30 digits and how many there are, when it is longer
    (a 4,000-digit --index filled the terminal)."""
    text = str(value)
    return text if len(text) <= 30 else f"{text[:30]}... ({len(text.lstrip('-'))} digits)"


def bounded_int(value: Any, what: str, low: int | None = None, high: int | None = None) -> int:
    """An integer (not a bool, not a float) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{what} must be an integer, got {_shown(str(value))}")
    x = int(value)
    if low is not None and x < low or high is not None and x > high:
        raise InputError(f"{what} must be in {low}..{high}, got {digits(x)}")
    return x


# -- files ---------------------------------------------------------------------------------


def read_bytes(path: str | os.PathLike, limit: int = MAX_FILE_BYTES,
               error: type[InputError] = SchemeFormatError) -> bytes:
    """At most `limit` bytes of a file, pipe or device, or one error line saying why not.

    A FIFO is opened without blocking (no writer: it reads as empty), a directory or a
    socket is refused, and a source longer than `limit` (/dev/zero, a huge file) is refused
    after reading limit + 1 bytes."""
    text = os.fspath(path)  # as given: Path("") is ".", and Path("f.json/") drops the slash
    if not text:
        raise error("the file name is empty")
    path = text if isinstance(text, str) else os.fsdecode(text)  # named in messages as given
    try:
        fd = os.open(text, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{path}: is a directory, expected a file")
        if stat.S_ISSOCK(st.st_mode):
            raise error(f"{path}: is a socket, expected a file")
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise error(f"{path}: {st.st_size:,} bytes is larger than the limit of {limit:,}")
        if not stat.S_ISREG(st.st_mode):
            os.set_blocking(fd, True)  # a pipe with a writer: wait for its data, bounded below
        chunks, total = [], 0
        while total <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise error(f"{path}: more than the limit of {limit:,} bytes")
        if not total and stat.S_ISFIFO(st.st_mode):  # not "the file is empty": there is no file
            raise error(f"{path}: a pipe that gave no data (nothing was writing to it)")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, limit: int = MAX_FILE_BYTES,
              error: type[InputError] = SchemeFormatError) -> str:
    """A bounded UTF-8 text file (a leading BOM is dropped), or one error line."""
    data = read_bytes(path, limit, error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{path}: not a UTF-8 text file") from None


# -- JSON ----------------------------------------------------------------------------------


class JsonDecimal(float):
    """A JSON number with a fraction or exponent: a float that keeps the text as written
    (`.text`), so coefficients are read exactly from the decimal, not from its binary value."""

    text: str

    def __new__(cls, text: str) -> JsonDecimal:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj


def plain_json(obj: Any) -> Any:
    """Parsed JSON for storing again: JsonDecimal -> float, a non-finite one -> its text."""
    if isinstance(obj, JsonDecimal):
        return float(obj) if math.isfinite(obj) else obj.text
    if isinstance(obj, dict):
        return {k: plain_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain_json(v) for v in obj]
    return obj


_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
JSON_DEPTH_CHUNK = 1 << 20  # bytes scanned at once: memory stays a few MB whatever the file


def json_depth(text: str, chunk: int = JSON_DEPTH_CHUNK) -> int:
    """The deepest nesting of arrays/objects in JSON text (brackets inside strings skipped).

    Linear in time, and in memory only the UTF-8 bytes and one chunk's arrays (a backtracking
    regex over strings took 3.6 GB for one 30-million-character string). A quote ends or
    starts a string unless an odd run of backslashes precedes it; multi-byte UTF-8 sequences
    never hold a quote, backslash or bracket byte. Exact for valid JSON, and for the valid
    prefix of invalid JSON, which is all json.loads reads before it stops."""
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    depth = deepest = 0
    in_string = False
    run = 0  # backslashes ending the text scanned so far
    for start in range(0, len(raw), chunk):
        part = raw[start:start + chunk]
        plain = part != _BACKSLASH
        quotes = np.flatnonzero(part == _QUOTE)
        if len(quotes):  # keep those after an even run of backslashes (run: carried over)
            plain_at = np.flatnonzero(plain)  # holds every quote
            before = np.searchsorted(plain_at, quotes) - 1  # the last byte before it that is no \\
            last = np.where(before >= 0, plain_at[np.maximum(before, 0)], -1 - run)
            quotes = quotes[(quotes - 1 - last) % 2 == 0]
        brackets = np.flatnonzero(_OPEN[part])
        if len(brackets):
            opened = np.searchsorted(quotes, brackets) + in_string  # quotes before each bracket
            steps = _OPEN[part[brackets[opened % 2 == 0]]]
            if len(steps):
                levels = np.cumsum(steps, dtype=np.int64)
                deepest = max(deepest, depth + int(levels.max()))
                depth += int(levels[-1])
        in_string ^= bool(len(quotes) % 2)
        run = int(np.argmax(plain[::-1])) if plain.any() else run + len(part)
    return deepest


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise SchemeFormatError(f"integer {_shown(text)} has more than {MAX_JSON_INT_DIGITS} digits")
    return int(text)


def _json_constant(name: str) -> Any:
    raise SchemeFormatError(f"{name} is not a finite number")


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object whose keys are distinct: json keeps the last of two equal keys, so a file
    with a second "ring" or "Wa" would say one thing and be read as another."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise SchemeFormatError(f"the key {_shown(twice)} appears twice in one object")
    return out


def load_json(text: str, source: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse bounded JSON: nesting at most `max_depth`, integers of at most MAX_JSON_INT_DIGITS
    digits, NaN and Infinity refused; numbers with a fraction or exponent come back as
    JsonDecimal floats."""
    if len(text) > MAX_FILE_BYTES:
        raise SchemeFormatError(f"{source}: larger than the limit of {MAX_FILE_BYTES:,} bytes")
    if not text.strip():
        raise SchemeFormatError(f"{source}: the file is empty")
    depth = json_depth(text)
    if depth > max_depth:
        raise SchemeFormatError(f"{source}: JSON nested {depth} levels deep (the limit is {max_depth})")
    try:
        return json.loads(text, parse_float=JsonDecimal, parse_int=_json_int,
                          parse_constant=_json_constant, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise SchemeFormatError(f"{source}: not valid JSON "  # some of json's messages end in "at"
                                f"({exc.msg.removesuffix(' at')} at line {exc.lineno})") from None
    except SchemeFormatError as exc:
        raise SchemeFormatError(f"{source}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise SchemeFormatError(f"{source}: not valid JSON ({exc})") from None


def load_json_file(path: str | os.PathLike) -> Any:
    return load_json(read_text(path), str(path))


# -- arrays (npy / npz) ----------------------------------------------------------------------

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _npy_header(fp: io.BufferedIOBase, available: int, what: str) -> tuple[tuple, bool, np.dtype]:
    """Read and check an npy header; the data must fit the bound and the bytes available."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
    except (ValueError, EOFError, OSError) as exc:
        raise SchemeFormatError(f"{what}: not a readable npy array ({str(exc).splitlines()[0]})") from None
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise SchemeFormatError(f"{what}: not a readable npy array (unknown npy version "
                                f"{version[0]}.{version[1]})")
    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    try:
        shape, fortran, dtype = read(fp, max_header_size=10000)
    except EOFError:
        raise SchemeFormatError(f"{what}: not a readable npy array (the header is cut short)") from None
    # numpy's own messages here quote Python objects (<ast.Call object at 0x...>) or the raw
    # header; a token error (an unclosed bracket) is not even a ValueError
    except (ValueError, OSError, SyntaxError, tokenize.TokenError, TypeError, MemoryError, RecursionError):
        raise SchemeFormatError(f"{what}: not a readable npy array (its header is not a valid npy "
                                "header)") from None
    if not isinstance(shape, tuple) or any(not isinstance(d, int) or d < 0 for d in shape):
        raise SchemeFormatError(f"{what}: npy header has a bad shape {shape!r}")
    count = math.prod(shape)
    if count > MAX_ARRAY_ELEMENTS:
        raise SchemeFormatError(f"{what}: array of shape {shape} holds {count:,} entries, more than "
                                f"the limit of {MAX_ARRAY_ELEMENTS:,}")
    if not dtype.hasobject and count * dtype.itemsize > available:
        raise SchemeFormatError(f"{what}: the header claims {count * dtype.itemsize:,} bytes of data "
                                f"but the file holds {available:,}")
    return shape, fortran, dtype


def read_npy(data: bytes, what: str, allow_pickle: bool, pickle_refusal: str) -> np.ndarray:
    """An array from npy bytes, its header checked before anything is allocated."""
    fp = io.BytesIO(data)
    shape, fortran, dtype = _npy_header(fp, len(data), what)
    if dtype.hasobject and not allow_pickle:
        raise InputError(f"{what}: {pickle_refusal}")
    fp.seek(0)
    try:
        return np.lib.format.read_array(fp, allow_pickle=allow_pickle, max_header_size=10000)
    except Exception as exc:  # unpickling a trusted file can fail in any way
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemeFormatError(f"{what}: array cannot be read ({first})") from None


def read_npz(data: bytes, what: str, allow_pickle: bool,
             pickle_refusal: str) -> dict[str, Callable[[], np.ndarray]]:
    """Lazy loaders for the arrays of an npz held in `data` (each checked as in read_npy)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise SchemeFormatError(f"{what}: not a readable npz file ({exc})") from None
    if len(infos) > 4096:
        raise SchemeFormatError(f"{what}: holds {len(infos)} arrays, more than the limit of 4096")
    out: dict[str, Callable[[], np.ndarray]] = {}
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename

        def load(info: zipfile.ZipInfo = info, name: str = name) -> np.ndarray:
            where = f"{what}[{name}]"
            if info.file_size > MAX_FILE_BYTES:
                raise SchemeFormatError(f"{where}: {info.file_size:,} bytes uncompressed, more than "
                                        f"the limit of {MAX_FILE_BYTES:,}")
            try:
                with zf.open(info) as fh:
                    head = fh.read(min(info.file_size, 1 << 16))
                    # the header first: nothing more is read for a member that claims too much
                    _npy_header(io.BytesIO(head), info.file_size, where)
                    raw = head + fh.read(MAX_FILE_BYTES + 1 - len(head))
            # RuntimeError also covers zipfile's refusal of a member it cannot decode (unsupported
            # compression method or zip version, strong encryption): that error subclasses it
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
                raise SchemeFormatError(f"{where}: cannot be read ({exc})") from None
            if len(raw) > MAX_FILE_BYTES:
                raise SchemeFormatError(f"{where}: more than the limit of {MAX_FILE_BYTES:,} bytes")
            return read_npy(raw, where, allow_pickle, pickle_refusal)

        out[name] = load
    return out


def exact_array(arr: Any, what: str) -> np.ndarray:
    """A numeric array as an object array of exact, bounded coefficients (ints or Fractions).

    Integer dtypes of any width and signedness go through Python ints (no wraparound); floats
    must be finite and are read as their exact binary value; anything else is refused."""
    arr = np.asarray(arr)
    kind = arr.dtype.kind
    if arr.dtype.hasobject or kind not in "iuf":
        raise SchemeFormatError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if arr.size > MAX_ARRAY_ELEMENTS:
        raise SchemeFormatError(f"{what}: {arr.size:,} entries, more than the limit of "
                                f"{MAX_ARRAY_ELEMENTS:,}")
    if kind == "f":
        if arr.dtype.itemsize > 8:
            raise SchemeFormatError(f"{what}: dtype {arr.dtype} is not supported (use float64)")
        if not np.all(np.isfinite(arr)):
            raise SchemeFormatError(f"{what}: holds NaN or infinity")
        if arr.size and float(np.max(np.abs(arr))) >= COEFFICIENT_LIMIT:
            raise SchemeFormatError(f"{what}: a coefficient is beyond the supported bound "
                                    f"(|x| < 2^{COEFFICIENT_BITS})")
        vals = [bounded_fraction(Fraction(x), what) for x in np.ravel(arr).astype(np.float64).tolist()]
    else:
        flat = np.ravel(arr).tolist()  # Python ints, exactly, whatever the width and signedness
        if flat and (max(flat) >= COEFFICIENT_LIMIT or min(flat) <= -COEFFICIENT_LIMIT):
            bad = max(flat, key=abs)
            raise SchemeFormatError(f"{what}: coefficient {_shown(str(bad))} is beyond the supported "
                                    f"bound (numerator and denominator below 2^{COEFFICIENT_BITS})")
        vals = flat
    out = np.empty(len(vals), dtype=object)
    out[:] = vals
    return out.reshape(arr.shape)


# -- schemes -------------------------------------------------------------------------------


def check_scheme_size(n: int, m: int, p: int, rank: int, what: str) -> None:
    """Refuse a scheme whose exact verification would exceed MAX_BRENT_WORK."""
    count = rank * (n * m + m * p + n * p)
    if count > MAX_COEFFICIENTS:
        raise SchemeFormatError(f"{what}: ⟨{n},{m},{p};{rank}⟩ has {count:,} coefficients, more "
                                f"than the limit of {MAX_COEFFICIENTS:,}")
    work = (n * m) * (m * p) * (n * p) * max(rank, 1)  # rank 0 still costs one pass
    if work > MAX_BRENT_WORK:
        raise SchemeFormatError(f"{what}: ⟨{n},{m},{p};{rank}⟩ is too large to verify "
                                f"((nm)(mp)(np)·max(r, 1) = {work:,} > {MAX_BRENT_WORK:,})")
