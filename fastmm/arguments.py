"""Checks of the library's arguments: one rule for every function of fastmm.api (and the CLI).

An integer is an int or a numpy integer (not a bool, not a float such as 7.0, not text), a number
of seconds is any finite positive real number but a bool, a shape is a tuple, list or 1-D array of
three positive integers, a flag is True or False. Every check raises InputError with one line that
names the argument and shows what it got.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from typing import Any

from fastmm.errors import InputError
from fastmm.scheme import RINGS, Scheme
from fastmm.validate import MAX_EXPONENT_DIGITS, MAX_NUMBER_CHARS, digits

SEARCH_MAX_DIM = 8  # n·m, m·p and n·p fit in one 64-bit word in the flip-graph kernels

Shape = tuple[int, int, int]


def scheme_arg(scheme: Any, what: str) -> Scheme:
    if not isinstance(scheme, Scheme):
        raise InputError(f"{what}() takes a fastmm Scheme, not {type(scheme).__name__}")
    return scheme


def path_arg(path: Any, what: str) -> str | os.PathLike:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise InputError(f"{what}: a file name is a str or path, not {type(path).__name__}")
    name = os.fspath(path)
    if not name:
        raise InputError(f"{what}: the file name is empty")
    if ("\0" if isinstance(name, str) else b"\0") in name:  # the OS would raise ValueError
        raise InputError(f"{what}: the file name contains a NUL character")
    return path


def ring_arg(ring: Any, what: str, allowed: tuple[str, ...] = RINGS) -> str:
    """A ring name (ZT, Z, Q, Z2; any case) or InputError, which lists the rings `allowed` where
    the caller takes fewer (the caller refuses the others itself)."""
    if not isinstance(ring, str) or ring.upper() not in RINGS:
        raise InputError(f"{what}: unknown ring {ring!r} (choose from {', '.join(allowed)})")
    return ring.upper()


def flag(value: Any, what: str, name: str) -> bool:
    """A true/false argument: bool (or numpy bool); "no" or 0 must not pass for a choice."""
    value = plain_number(value)  # a numpy bool as bool
    if isinstance(value, bool):
        return value
    raise InputError(f"{what}: {name} must be True or False, got {shown(value)}")


# One rule for numbers in every argument of the API: an integer is an int or a numpy integer
# (not a bool, not a float such as 7.0, not text: fastmm.Scheme's dimensions follow the same rule),
# a number of seconds is any real number but a bool, and a shape is a tuple, list or 1-D array of
# three integers (not a set or a dict, which have no order). The command line parses its text first.

def shown(value: Any) -> str:
    """repr(value) on one line and at most 60 characters, with its type where that is not plain
    (an error message stays one line and says why 7.0 or '7' is not an integer)."""
    text = repr(value)
    if "\n" in text:
        text = " ".join(text.split())
    if len(text) > 60:
        text = text[:57] + "..."
    if type(value) in (int, type(None)) or text.startswith("np."):  # np.int64(3) says its type
        return text
    return f"{text} ({type(value).__name__})"


def integer(value: Any, what: str, kind: str = "an integer") -> int:
    """An int or numpy integer as an int (bools, floats and text are refused), or InputError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{what} must be {kind}, got {shown(value)}")
    return int(value)


def positive_int(value: Any, what: str, upper: int | None = None) -> int:
    value = integer(value, what, "a positive integer")
    if value <= 0:
        raise InputError(f"{what} must be a positive integer, got {value}")
    if upper is not None and value > upper:
        raise InputError(f"{what} = {digits(value)} is above the limit of {upper}")
    return value


SEED_LIMIT = 2**62  # every seed (search, lift, bench) is below it: a search's workers add to theirs
SEED_LIMIT_TEXT = "2^62"  # SEED_LIMIT as messages write it


def check_seed(seed: Any) -> int:
    """A seed: an integer in [0, SEED_LIMIT), or InputError."""
    kind = f"an integer in [0, {SEED_LIMIT_TEXT})"
    value = integer(seed, "the seed", kind)
    if not 0 <= value < SEED_LIMIT:
        raise InputError(f"the seed must be {kind}, got {value}")
    return value


def plain_number(value: Any) -> Any:
    """A numpy scalar as its Python number (bool, int or float); anything else unchanged."""
    import sys

    np = sys.modules.get("numpy")  # a numpy scalar means numpy is imported already
    if np is not None and isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    return value


def check_time_limit(seconds: Any) -> float:
    """A finite, positive real number of seconds (nan, inf, negatives, bools and text are refused)."""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise InputError(f"the time limit must be a number of seconds, got {shown(seconds)}")
    try:
        t = float(seconds)
    except OverflowError:  # an int beyond any float (10**400)
        t = math.inf
    if not math.isfinite(t) or t <= 0:
        raise InputError(f"the time limit must be a finite positive number of seconds, got {shown(seconds)}")
    return t


def plain_number_text(text: str) -> bool:
    """Whether typed text may be read as a number: ASCII, without '_' separators, within the
    bounds scheme files hold numbers to (MAX_NUMBER_CHARS characters, an exponent of at most
    MAX_EXPONENT_DIGITS digits). Python's int() and float() also read other scripts' digits ('٣'
    is 3) and digit groups ('1_0' is 10), which scheme files refuse and a user typing them did
    not mean as those numbers."""
    if not (text.isascii() and "_" not in text and len(text.strip()) <= MAX_NUMBER_CHARS):
        return False
    exponent = re.search(r"[eE][+-]?0*(\d+)", text)
    return exponent is None or len(exponent.group(1)) <= MAX_EXPONENT_DIGITS


def parse_time_limit(text: str) -> float:
    """The command line's --time-limit text as checked seconds ("300", "1e3"; not "nan")."""
    try:
        if not plain_number_text(text):
            raise ValueError
        seconds = float(text)
    except ValueError:
        raise InputError(f"the time limit must be a number of seconds, got {text!r}") from None
    return check_time_limit(seconds)


def is_sequence(value: Any) -> bool:
    """A tuple, list or other ordered sequence, or a 1-D array; not text, a set or a dict."""
    if isinstance(value, (str, bytes, bytearray)):
        return False
    return isinstance(value, Sequence) or getattr(value, "ndim", None) == 1


def check_shape(shape: Sequence[int], limit: int = SEARCH_MAX_DIM, beyond: str | None = None) -> Shape:
    """(n, m, p) as positive integers of at most `limit`, or InputError; `beyond` says what the
    limit is (by default the search limit)."""
    if not is_sequence(shape) or len(shape) != 3:
        raise InputError(f"a shape is three positive integers (n, m, p) in a tuple or list, "
                         f"got {shown(shape)}")
    if beyond is None:
        beyond = f"the search limit of {limit} per dimension (use products and sums of smaller schemes)"
    out = []
    for name, value in zip("NMP", shape, strict=True):
        v = positive_int(value, name)
        if v > limit:
            raise InputError(f"{name} = {digits(v)} is beyond {beyond}")
        out.append(v)
    return tuple(out)  # type: ignore[return-value]


def impossible_rank(shape: Shape, rank: int, ring: str | None = None) -> str | None:
    """Why no scheme of this rank exists (over `ring`: a proven lower bound above it), or None."""
    from fastmm.known_ranks import proven_lower_bound

    bound, why = proven_lower_bound(shape, ring)
    if rank >= bound:
        return None
    n, m, p = shape
    return f"no ⟨{n},{m},{p}⟩ scheme of rank {rank} exists: rank ≥ {bound} is proven ({why})"


def check_rank(shape: Shape, rank: Any, ring: str | None = None) -> int:
    """A positive rank not below a proven lower bound (FastmmError: no search can succeed)."""
    r = positive_int(rank, "the rank")
    why = impossible_rank(shape, r, ring)
    if why is not None:
        raise InputError(f"{why}; no search was run")
    return r
