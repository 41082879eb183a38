"""The schemes a site shows: the catalogue's entries and any extra scheme files, each verified.

A scheme that cannot be read, fails the Brent equations or claims a ring its coefficients do not
fit is left out, with one warning line. A path named by the caller (the catalogue folder, each
extra file or folder) that does not exist, is not the kind asked for or cannot be opened is bad
input: InputError before any scheme is read, as is a named path that is not a str or os.PathLike.
Each file is one scheme however often it is named (by resolved path: through the catalogue folder
and an extra file or folder, a symlink). Each kept scheme gets a `slug`, the stem of its page and
download names: only [A-Za-z0-9._-], unique, and chosen from the input alone (deterministic).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fastmm.arguments import shown
from fastmm.catalog import check_catalog_dir, scan_catalog
from fastmm.errors import FastmmError, InputError
from fastmm.io import load_scheme
from fastmm.scheme import Scheme
from fastmm.verify import uses_big_names, verify

_RING_ORDER = {"ZT": 0, "Z": 1, "Q": 2}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SiteScheme:
    """One verified scheme and where it came from."""

    slug: str
    scheme: Scheme  # its ring is the one it was verified in
    origin: str  # "catalogue" or "file"
    name: str  # the file's name (no folders: pages must not depend on where the input lives)
    check: str  # how the build re-checked it, e.g. "exact integer Brent equations"


def _slug(stem: str, taken: set[str]) -> str:
    base = _UNSAFE.sub("-", stem).strip("-.")[:80] or "scheme"
    slug, k = base, 2
    while slug.lower() in taken:  # case-insensitive: some file systems fold case
        slug, k = f"{base}-{k}", k + 1
    taken.add(slug.lower())
    return slug


def _checked(path: Path) -> tuple[Scheme | None, str, str]:
    """(scheme with its verified ring, how it was checked, "") or (None, "", why it is left out)."""
    try:
        scheme = load_scheme(path)
        verdict = verify(scheme, use_sympy=False)
    except (FastmmError, ValueError) as exc:  # e.g. fractions in a scheme labelled Z2
        return None, "", f"{path.name}: {exc}"
    if not verdict.ok:
        label_problem = getattr(verdict, "label_problem", None)  # newer Verdicts name a bad ring label
        lines = [label_problem] if label_problem else []
        lines += verdict.report.lines(uses_big_names(scheme), limit=2)
        return None, "", f"{path.name}: {scheme.label()} fails verification ({'; '.join(lines)})"
    declared = scheme.ring
    if declared in _RING_ORDER and _RING_ORDER[verdict.ring] > _RING_ORDER[declared]:
        return None, "", f"{path.name}: declares ring {declared} but its coefficients need {verdict.ring}"
    # listed under the ring it verified in (the smallest), with the record of this check: the
    # file's own is a claim anyone can write (a forged one was shown and put in files/). Without
    # its time, so that the same input builds the same bytes.
    record = {k: v for k, v in verdict.record().items() if k != "at"}
    return scheme.with_meta(ring=verdict.ring, verified=record), record["brent"], ""


def named_path(value: object, what: str) -> Path:
    """A path the caller named: a str or os.PathLike, not empty (it would mean the current folder),
    without a NUL character (the OS would raise ValueError); InputError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise InputError(f"{what}: a path is a str or os.PathLike, got {shown(value)}")
    name = os.fspath(value)
    if not isinstance(name, str):  # a PathLike of bytes
        raise InputError(f"{what}: a path is a str or os.PathLike of str, got {shown(value)}")
    if not name:
        raise InputError(f"{what}: empty path")
    if "\0" in name:
        raise InputError(f"{what}: the path contains a NUL character")
    return Path(name)


def named_paths(files: object) -> list[Path]:
    """The extra scheme files or folders as Paths: one path (a str or os.PathLike is one path,
    never its characters), an iterable of paths, or None for none; InputError otherwise."""
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    elif isinstance(files, (bytes, bytearray)) or not isinstance(files, Iterable):
        raise InputError(f"schemes: a path or a list of paths (str or os.PathLike), got {shown(files)}")
    return [named_path(f, "scheme file") for f in files]


def _check_exists(path: Path, what: str) -> None:
    """InputError unless `path` exists and can be looked up: a symlink loop "cannot be used" (as
    FASTMM_CATALOG's), not "does not exist" (Path.exists() is False on ELOOP)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be used ({exc.strerror or exc})") from None


def _check_folder(directory: Path, what: str) -> None:
    """InputError unless `directory` is a folder whose entries can be listed."""
    _check_exists(directory, what)
    if not directory.is_dir():
        raise InputError(f"{what} {directory} is not a folder")
    try:
        with os.scandir(directory) as entries:
            next(entries, None)
    except OSError as exc:
        raise InputError(f"{what} {directory} cannot be read ({exc.strerror or exc})") from None


def _check_named(path: Path) -> None:
    """InputError unless `path` is a folder that can be listed or a file that can be opened."""
    if path.is_dir():
        _check_folder(path, "scheme folder")
        return
    _check_exists(path, "scheme file")
    try:  # without blocking: a FIFO with no writer must not hang the build
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)))
    except OSError as exc:
        raise InputError(f"scheme file {path} cannot be read ({exc.strerror or exc})") from None


def _key(path: Path) -> Path:
    """The path a file is known by: symlinks and "..", resolved as far as they go."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: reading it fails later, with a warning
        return Path(os.path.abspath(path))


def _expand(files: Iterable[Path], seen: set[Path]) -> tuple[list[Path], list[str]]:
    """Files as given, a folder as its *.json files (sorted); each file once, and none whose
    resolved path is in `seen` (the catalogue's, or named before). A warning line for each folder
    that holds no *.json file."""
    out: list[Path] = []
    warnings: list[str] = []
    for path in files:
        found = sorted(path.glob("*.json")) if path.is_dir() else [path]
        if not found:
            warnings.append(f"scheme folder {path} holds no .json files")
        for p in found:
            key = _key(p)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out, warnings


def collect_schemes(catalog: str | Path | None = None,
                    files: Iterable[str | Path] | str | Path | None = (),
                    ) -> tuple[list[SiteScheme], list[str]]:
    """Every verified scheme of the catalogue folder (default: the shipped one), then of `files`
    (scheme files or folders of them; one str or path is one of them), and one warning line per
    file left out. A file is read once however often it is named (the same resolved path through
    the catalogue and `files`, a symlink, a folder and a file in it). Every named path is checked
    first (InputError: not a path, missing, not a folder where one is needed, unreadable)."""
    directory = named_path(catalog, "catalogue folder") if catalog is not None else None
    named = named_paths(files)
    if directory is None:  # FASTMM_CATALOG's or the shipped one, checked as every command checks it
        directory = check_catalog_dir()
    else:
        _check_folder(directory, "catalogue folder")
    for path in named:
        _check_named(path)
    entries, problems = scan_catalog(directory)
    # a file of the catalogue folder is the catalogue's (an entry, or skipped with a warning) however
    # often it is named again
    extra, warnings = _expand(named, {_key(p) for p in directory.glob("*.json")})
    warnings = list(problems) + warnings
    items: list[SiteScheme] = []
    taken: set[str] = set()
    # scan_catalog verified these; they are read and checked again because a file can change
    for path, origin in [(e.path, "catalogue") for e in entries] + [(p, "file") for p in extra]:
        scheme, how, problem = _checked(path)
        if scheme is None:
            warnings.append(f"left out: {problem}")
            continue
        items.append(SiteScheme(_slug(path.stem, taken), scheme, origin, path.name, how))
    return items, warnings
