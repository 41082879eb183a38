"""Helpers the benchmark scripts share: their argument parser and the checks of their arguments,
the code a run measured, and reading another run's file.

Bad input is one line `error: ...` on stderr and exit 2, before any work (the rule of `fastmm`'s
commands): every script builds its parser with `ArgumentParser` and reads its values with the
`type=` functions below (one per kind of argument), so a malformed shape or a count of 0 is
refused by `parse_args` itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with the project's rule for bad input: one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "error: " + " ".join(str(message).split()) + "\n")


class BadArgument(argparse.ArgumentTypeError, ValueError):
    """A value refused with its reason: argparse prints the message (`argument --seeds: ...`);
    callers that parse text themselves may catch it as a ValueError."""


def _integer(text: str) -> int | None:
    """Typed text as an integer ("12", "2e7"), or None: ASCII digits only (fastmm's rule for typed
    numbers: no "_" groups, no other scripts' digits), a float form only where it is whole."""
    from fastmm.arguments import plain_number_text

    text = text.strip()
    if not plain_number_text(text):
        return None
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value == int(value) else None


def positive_int(text: str) -> int:
    """A count (seeds, repeats, steps, a batch size, workers): an integer ≥ 1."""
    value = _integer(text)
    if value is None or value < 1:
        raise BadArgument(f"expected a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """A first seed or a seed: an integer ≥ 0."""
    value = _integer(text)
    if value is None or value < 0:
        raise BadArgument(f"expected an integer ≥ 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """Seconds (a time limit, a timed span): a finite number > 0."""
    from fastmm.arguments import plain_number_text

    try:
        if not plain_number_text(text):
            raise ValueError
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise BadArgument(f"expected a finite number > 0, got {text!r}")
    return value


def shape_arg(text: str) -> tuple[int, int, int]:
    """"n,m,p" (or "nxmxp"): three positive integers within the search's limit per dimension."""
    from fastmm.arguments import SEARCH_MAX_DIM

    parts = text.replace("x", ",").split(",")
    dims = [_integer(x) for x in parts]
    if len(dims) != 3 or any(d is None or d < 1 for d in dims):
        raise BadArgument(f"a shape is n,m,p (three positive integers), got {text!r}")
    if max(dims) > SEARCH_MAX_DIM:  # type: ignore[type-var]
        raise BadArgument(f"a shape's dimensions are at most {SEARCH_MAX_DIM} (the search limit), "
                          f"got {text!r}")
    return tuple(dims)  # type: ignore[return-value]


def case_arg(text: str) -> tuple[tuple[int, int, int], int]:
    """"n,m,p:rank" -> (shape, rank), the rank a positive integer."""
    dims, sep, rank_text = text.partition(":")
    rank = _integer(rank_text) if sep and ":" not in rank_text else None
    if rank is None or rank < 1:
        raise BadArgument(f"a case is n,m,p:rank (rank a positive integer), got {text!r}")
    return shape_arg(dims), rank


def case_text(shape: tuple[int, int, int], rank: int) -> str:
    """(shape, rank) as a case is typed: "n,m,p:rank"."""
    return ",".join(map(str, shape)) + f":{rank}"


def number_list(item: Callable[[str], int]) -> Callable[[str], list[int]]:
    """A comma-separated list of numbers of one kind ("1024,2048" with positive_int)."""

    def parse(text: str) -> list[int]:
        values = [item(x) for x in text.split(",")] if text.strip() else []
        if not values:
            raise BadArgument(f"expected a comma-separated list, got {text!r}")
        return values

    parse.__name__ = f"{item.__name__}_list"
    return parse


def choice_list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A comma-separated list of names out of `choices` ("float64,float32")."""

    def parse(text: str) -> list[str]:
        names = [x.strip() for x in text.split(",")]
        bad = [x for x in names if x not in choices]
        if bad or not text.strip():
            raise BadArgument(f"expected a comma-separated list of {', '.join(choices)}, got {text!r}")
        return names

    return parse


def check_outputs(ap: argparse.ArgumentParser, out: str, suffixes: tuple[str, ...],
                  what: str = "--out") -> None:
    """The files `out` + each suffix (an output path without extension), checked before any work
    (fastmm.paths.check_output_path: not a directory, not under a file, a writable folder, ...);
    missing folders above them are allowed where they can be made (the scripts write with parents
    made). One line and exit 2 where one cannot be written."""
    from fastmm.errors import InputError
    from fastmm.paths import check_output_path

    try:
        paths = [Path(out).with_suffix(suffix) for suffix in suffixes]
    except ValueError:  # "" or "."
        ap.error(f"{what} {out!r}: not a file name")
    for path in paths:
        target = Path(os.path.abspath(path))
        if not target.parent.exists():
            have = next(a for a in target.parents if os.path.lexists(a))  # "/" exists
            if not have.is_dir():
                ap.error(f"{what} {path}: {have} is a file, not a directory")
            if not os.access(have, os.W_OK | os.X_OK):
                ap.error(f"{what} {path}: cannot make folders in {have} (permission denied)")
            continue
        try:
            check_output_path(path, what)
        except InputError as exc:
            ap.error(str(exc))


def code_version() -> str:
    """`git describe` of the checkout (FASTMM_CODE where the tree travelled without .git)."""
    if os.environ.get("FASTMM_CODE"):
        return os.environ["FASTMM_CODE"]
    try:
        run = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True)
    except OSError:
        return "unknown"
    return run.stdout.strip() or "unknown"


def parse_options(pairs: list[str], flag: str = "--option") -> dict:
    """KEY=VALUE pairs; values are read as JSON where they parse (numbers, true/false)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} wants KEY=VALUE, not {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def read_merge(ap: argparse.ArgumentParser, path: str, key: str) -> dict:
    """Another run's results JSON holding a `key` mapping, or one line and exit 2."""
    try:
        data = json.loads(Path(path).read_text())
        data[key].items()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        ap.error(f"--merge {path}: not a results file of this benchmark ({type(exc).__name__})")
    return data


def emit_report(lines: list[str], out: str | None) -> None:
    """A Markdown report: written atomically to `out` (if given) and printed."""
    from fastmm.paths import write_atomic

    text = "\n".join(lines) + "\n"
    if out:
        write_atomic(Path(out), text)
    print(text)
