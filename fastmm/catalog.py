"""The shipped catalogue of verified schemes: fastmm/data/catalog/<n>x<m>x<p>-rank<r>-<ring>.json.

One file per canonical shape (n ≤ m ≤ p) and ring, in fastmm's scheme file format (README, "Scheme files").
Searches start from it and `add_to_catalog` keeps only improvements. Every file is checked
when read (exact Brent equations, no sympy, for speed): a file that is malformed, names a
shape/rank/ring its contents do not have, or fails verification is reported (a
`CatalogWarning`, and on the `fastmm catalog` command's stderr) and never used.

Ring strength: a ZT or Z scheme also serves Z, Q and Z2 (integers reduce modulo 2), a Q
scheme serves Q only, a Z2 scheme serves Z2 only. The directory is the package's own
`data/catalog` (package data, so a wheel carries it), or `$FASTMM_CATALOG`.

Only regular files are read, and at most fastmm.validate's MAX_FILE_BYTES of each: a FIFO, a
device, a folder, a dangling or looping symlink and a name that is not canonical (n ≤ m ≤ p)
are skipped with a warning line each, never opened. One rule for the catalogue folder
(`check_catalog_dir`), the same for every command and library call: one that does not exist,
is not a folder or cannot be read is an InputError (one line naming it, and FASTMM_CATALOG when
the variable chose it; exit 2) before any work, for whatever reads the catalogue (`fastmm
catalog`, `show`, `search`, `site`, `catalog_scheme`...). What adds to it (`add_to_catalog`,
`fastmm finish --catalog`) makes a missing folder, but not a missing parent folder (a typo
must not become a tree of new folders), and refuses, before any work, a folder it could not
write (a read-only mount). It writes entries as regular files in the folder only: a symlink
under an entry's name is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fastmm.errors import FastmmError, InputError, VerificationError
from fastmm.io import dumps, load_scheme
from fastmm.known_ranks import BEST_KNOWN, canonical
from fastmm.paths import unmakeable_folder, write_atomic
from fastmm.scheme import RING_SERVES, RINGS, Scheme
from fastmm.validate import read_bytes
from fastmm.verify import verify

Shape = tuple[int, int, int]
SERVES = RING_SERVES
_STRENGTH = RINGS  # tie-break order when ranks are equal (strongest first)
# entry_filename's spelling only: ASCII digits without leading zeros (a "02x2x2" or an Arabic-Indic
# digit would read the same scheme twice)
_NAME = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)x([1-9][0-9]*)-rank([1-9][0-9]*)-(ZT|Z|Q|Z2)\.json$")


class CatalogWarning(UserWarning):
    """A catalogue file was skipped (malformed, mislabelled or failing verification)."""


@dataclass(frozen=True)
class CatalogEntry:
    shape: Shape  # canonical: n ≤ m ≤ p
    rank: int
    ring: str
    path: Path


def catalog_dir() -> Path:
    env = os.environ.get("FASTMM_CATALOG")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("fastmm") / "data" / "catalog"))


def _described(directory: Path | None) -> tuple[Path, str]:
    """The catalogue folder and how a message names it (saying where it came from)."""
    if directory is not None:
        directory = Path(directory)
        return directory, f"the catalogue folder {directory}"
    directory = catalog_dir()
    if os.environ.get("FASTMM_CATALOG"):
        return directory, f"the catalogue folder {directory} (FASTMM_CATALOG)"
    return directory, f"the catalogue folder {directory}"


def _folder_problem(directory: Path, create: bool = False) -> str | None:
    """Why `directory` cannot be the catalogue, or None. With `create` (what adds to it), it must
    be writable, and a missing one is fine if its parent folder exists and is writable
    (add_to_catalog makes it); without, it must exist and be listable."""
    try:
        st = directory.stat()
    except FileNotFoundError:
        if directory.is_symlink():
            return "is a symbolic link to a missing folder"
        if not create:
            return "does not exist"
        why = unmakeable_folder(directory)
        if why is None and not os.access(directory.parent, os.W_OK | os.X_OK):  # a read-only mount too
            why = f"directory {directory.parent} is not writable"
        return None if why is None else f"does not exist and cannot be made: {why}"
    except OSError as exc:
        return f"cannot be used ({exc.strerror or exc})"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    try:
        with os.scandir(directory) as found:
            next(found, None)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if create and not os.access(directory, os.W_OK | os.X_OK):  # a read-only mount too, even for root
        return "cannot be written"
    return None


def check_catalog_dir(directory: Path | None = None, create: bool = False) -> Path:
    """The catalogue folder (default: catalog_dir()), or InputError in one line naming it (and
    FASTMM_CATALOG when it comes from there) when it does not exist (unless `create`, for what
    adds to it: then its parent folder must), is not a folder or cannot be read; with `create`,
    also when it (or the parent it would be made in) cannot be written (a read-only mount), so
    that `finish --catalog` says so before its work. Nothing is created here."""
    directory, named = _described(directory)
    problem = _folder_problem(directory, create)
    if problem is not None:
        raise InputError(f"{named} {problem}")
    return directory


def _not_a_file(path: Path) -> str | None:
    """Why `path` is not a regular file to read, or None. It is never opened: a FIFO would block
    and a device (/dev/zero) never ends."""
    try:
        st = path.stat()
    except OSError as exc:
        if path.is_symlink():
            if exc.errno == errno.ELOOP:
                return "a symbolic link loop"
            if exc.errno == errno.ENOENT:
                return "a symbolic link to a missing file"
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        kind = "a folder"
    elif stat.S_ISFIFO(st.st_mode):
        kind = "a FIFO"
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        kind = "a device"
    elif stat.S_ISSOCK(st.st_mode):
        kind = "a socket"
    else:
        kind = "something else"
    return f"is {kind}, not a regular file"


def entry_filename(shape: Shape, rank: int, ring: str) -> str:
    n, m, p = canonical(shape)
    return f"{n}x{m}x{p}-rank{rank}-{ring}.json"


# (path, mtime_ns, size) -> (entry or None, problem or None): a file is verified once per
# process unless it changes
_SCAN_CACHE: dict[tuple[str, str, int, int], tuple[CatalogEntry | None, str | None]] = {}


def _check_file(path: Path) -> tuple[Scheme | None, str | None]:
    """Load and verify one catalogue file; (scheme, None) or (None, why it is skipped)."""
    match = _NAME.match(path.name)
    if not match:
        return None, f"{path.name}: name is not <n>x<m>x<p>-rank<r>-<ring>.json"
    shape = tuple(int(x) for x in match.group(1, 2, 3))
    rank, ring = int(match.group(4)), match.group(5)
    if shape != canonical(shape):
        return None, (f"{path.name}: the shape is not in canonical order n ≤ m ≤ p "
                      f"(entries are stored permuted to it, as {entry_filename(shape, rank, ring)})")
    kind = _not_a_file(path)
    if kind is not None:
        return None, f"{path.name}: {kind}"
    try:
        scheme = load_scheme(path)
    except FastmmError as exc:
        return None, str(exc)
    if scheme.shape != shape or scheme.rank != rank or scheme.ring != ring:
        return None, (f"{path.name}: contents are {scheme.label()} over {scheme.ring}, "
                      f"not what the file name says")
    verdict = verify(scheme, use_sympy=False)
    if not verdict.ok:
        lines = verdict.report.lines(limit=2)
        return None, f"{path.name}: fails verification ({'; '.join(lines)})"
    if ring != "Z2" and verdict.ring != ring:
        return None, f"{path.name}: coefficients lie in {verdict.ring}, not {ring}"
    return scheme.with_meta(verified=verdict.record()), None  # this check's, not the file's claim


_LOADED: dict[tuple[str, int, int], tuple[Scheme | None, str | None]] = {}


def _checked(path: Path) -> tuple[Scheme | None, str | None]:
    """_check_file, remembered per (path, mtime, size): a changed file is verified again."""
    kind = _not_a_file(path)
    if kind is not None:
        return None, f"{path.name}: {kind}"
    try:
        st = path.stat()
    except OSError as exc:  # removed since it was looked at
        return None, f"{path.name}: cannot be read ({exc.strerror or exc})"
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED[key] = _check_file(path)
    return _LOADED[key]


_NAMES_CACHE: dict[tuple[str, int], list[CatalogEntry]] = {}


def _names(directory: Path) -> list[CatalogEntry]:
    """Entries from the file names alone, remembered per version of the directory (adding,
    removing or renaming a file changes its mtime): one search asks for them ~150 times."""
    try:
        key = (str(directory.resolve()), directory.stat().st_mtime_ns)
    except OSError:
        return []
    if key not in _NAMES_CACHE:
        entries = []
        for path in sorted(directory.glob("*.json")):
            match = _NAME.match(path.name)
            if match:
                shape = tuple(int(x) for x in match.group(1, 2, 3))
                if shape == canonical(shape):
                    entries.append(CatalogEntry(shape, int(match.group(4)), match.group(5), path))
        _NAMES_CACHE[key] = entries
    return list(_NAMES_CACHE[key])


def _scanned(path: Path) -> tuple[CatalogEntry | None, str | None]:
    """_check_file of a regular file, remembered per (name, resolved path, mtime, size): the verdict
    depends on the name too (a link named for another shape is judged by its own name)."""
    try:
        st = path.stat()
        key = (str(path.absolute()), str(path.resolve()), st.st_mtime_ns, st.st_size)
    except (OSError, RuntimeError) as exc:  # replaced or removed since it was looked at
        return None, f"{path.name}: cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if key not in _SCAN_CACHE:
        scheme, problem = _check_file(path)
        entry = None
        if scheme is not None:
            entry = CatalogEntry(scheme.shape, scheme.rank, scheme.ring, path)
        _SCAN_CACHE[key] = (entry, problem)
    return _SCAN_CACHE[key]


def scan_catalog(directory: Path | None = None, check: bool = True) -> tuple[list[CatalogEntry], list[str]]:
    """Every valid entry, and one line per skipped file.

    check=False reads the file names only (shape, rank, ring): what a search needs to pick its
    building blocks, at no cost per file; the one it loads is verified then. The catalogue
    (directory None: FASTMM_CATALOG's or the shipped one) must be a folder: InputError otherwise
    (check_catalog_dir). A folder named by the caller that does not exist holds nothing.
    """
    directory = check_catalog_dir() if directory is None else Path(directory)
    entries: list[CatalogEntry] = []
    problems: list[str] = []
    if not directory.is_dir():
        return entries, problems
    if not check:
        return _names(directory), problems
    for path in sorted(directory.glob("*.json")):
        if _not_a_file(path) is not None:  # not opened, not remembered: _check_file says why
            entry, problem = None, _check_file(path)[1]
        else:
            entry, problem = _scanned(path)
        if entry is not None:
            entries.append(entry)
        if problem is not None:
            problems.append(f"catalogue entry skipped: {problem}")
    return entries, problems


def catalog_entries(directory: Path | None = None) -> list[CatalogEntry]:
    """Valid entries; each skipped file is reported as a CatalogWarning."""
    entries, problems = scan_catalog(directory)
    for line in problems:
        warnings.warn(line, CatalogWarning, stacklevel=2)
    return entries


def catalog_fingerprint(directory: Path | None = None) -> str:
    """16 hex digits of sha256 over the name and bytes of every entry file: a pool search builds
    its starts from the catalogue, so its provenance names the catalogue it saw (a command
    reproduces a result only with that catalogue; git history holds every version)."""
    digest = hashlib.sha256()
    for entry in _names(directory or catalog_dir()):
        body = b"unreadable"  # what scan_catalog skips: not a regular file, larger than the limit
        if _not_a_file(entry.path) is None:
            with contextlib.suppress(InputError):
                body = read_bytes(entry.path)
        digest.update(entry.path.name.encode() + b"\0" + hashlib.sha256(body).digest())
    return digest.hexdigest()[:16]


def catalog_candidates(shape: Shape, ring: str, exclude_shapes: Iterable[Shape] = ()) -> list[CatalogEntry]:
    """Entries usable for `shape` over `ring`, best first, read from the file names alone
    (not verified: load_catalog_scheme verifies what it returns)."""
    excluded = {canonical(tuple(s)) for s in exclude_shapes}
    want = canonical(tuple(shape))
    if want in excluded:
        return []
    found = [e for e in scan_catalog(check=False)[0] if e.shape == want and ring in SERVES[e.ring]]
    return sorted(found, key=lambda e: (e.rank, _STRENGTH.index(e.ring)))


def best_catalog_rank(shape: Shape, ring: str = "ZT") -> int | None:
    """Lowest catalogued rank usable over `ring` for any permutation of `shape`, or None."""
    for entry in catalog_candidates(shape, ring):
        scheme, problem = _checked(entry.path)  # only this shape's files are verified
        if scheme is not None:
            return entry.rank
        warnings.warn(f"catalogue entry skipped: {problem}", CatalogWarning, stacklevel=2)
    return None


def load_catalog_scheme(shape: Shape, ring: str = "ZT",
                        exclude_shapes: Iterable[Shape] = ()) -> Scheme | None:
    """The best catalogued scheme usable over `ring`, permuted to exactly `shape`; None if none.

    `exclude_shapes` hides entries for those shapes (any permutation), so a benchmark can ask
    how well a shape is covered without its own entry. A scheme served as Z2 from an integer
    entry is reduced modulo 2, with a "verified" record of its check modulo 2.
    """
    for entry in catalog_candidates(shape, ring, exclude_shapes):
        scheme, problem = _checked(entry.path)  # verified once per version of the file
        if scheme is None:
            warnings.warn(f"catalogue entry skipped: {problem}", CatalogWarning, stacklevel=2)
            continue
        if ring == "Z2" and scheme.ring != "Z2":  # the entry's record is for its own ring
            scheme = scheme.with_meta(ring="Z2")
            scheme = scheme.with_meta(verified=verify(scheme, use_sympy=False).record())
        # a new scheme on every call (permuted returns the remembered one itself for the
        # catalogued shape), with copies of its provenance and verified record
        return scheme.permuted(tuple(shape)).with_meta(provenance=scheme.provenance,
                                                       verified=scheme.verified, ring=scheme.ring)
    return None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise writers (search workers adding results at the same time) by locking the
    directory itself, so no lock file is left behind."""
    try:
        directory.mkdir(exist_ok=True)  # never its parents (check_catalog_dir said they exist)
    except OSError as exc:  # a parent gone since, no permission
        raise InputError(f"the catalogue folder {directory} cannot be created "
                         f"({exc.strerror or exc})") from None
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the other writer; EINTR is retried by Python
        except OSError:
            pass  # a file system without locks (ENOLCK): go on unlocked, each write is atomic anyway
        yield
    finally:
        os.close(fd)  # releases the lock


def _dominates(rank_a: int, ring_a: str, rank_b: int, ring_b: str) -> bool:
    """Entry a makes b useless: no higher rank, and usable wherever b is."""
    return rank_a <= rank_b and set(SERVES[ring_b]) <= set(SERVES[ring_a])


def add_to_catalog(scheme: Scheme, directory: Path | None = None) -> bool:
    """Verify `scheme` and store it if no catalogued entry is at least as good; True if stored.

    "At least as good" = rank no higher and usable over every ring the new one serves, so a
    Z2 rank-47 scheme is added beside a ZT rank-49 one, a Z rank-49 one is not. Entries the
    new scheme makes useless are removed. Writes are atomic and serialised by a lock on the folder.
    Raises VerificationError if the scheme is invalid, and InputError (before verifying) if the
    catalogue folder is not a folder or cannot be written (a missing one is created, but not a
    missing parent folder). An entry is always written as a regular file in the folder: a symlink
    under its name (one the scan skipped: dangling, or to a file that is not that entry) is
    replaced by the new file, and the file it pointed to is left as it was.
    """
    directory = check_catalog_dir(directory, create=True)
    verdict = verify(scheme, use_sympy=False)
    if not verdict.ok:
        lines = verdict.report.lines(limit=3)
        raise VerificationError(f"{scheme.label()} fails verification: " + "; ".join(lines))
    ring = verdict.ring
    stored = scheme.with_meta(ring=ring, verified=verdict.record())
    shape = canonical(scheme.shape)
    if stored.shape != shape:
        stored = stored.permuted(shape).with_meta(provenance=dict(stored.provenance),
                                                  verified=stored.verified, ring=ring)
    with _locked(directory):
        entries, _ = scan_catalog(directory)
        same = [e for e in entries if e.shape == shape]
        if any(_dominates(e.rank, e.ring, stored.rank, ring) for e in same):
            return False
        # a symlink under the entry's name is replaced, never written through: the scan judged it
        # by what it points to and found no entry at least as good there, and nothing outside the
        # folder is ever changed
        write_atomic(directory / entry_filename(shape, stored.rank, ring), dumps(stored), follow_links=False)
        for e in same:
            if _dominates(stored.rank, ring, e.rank, e.ring):
                e.path.unlink(missing_ok=True)
    return True


def catalog_table(max_dim: int = 6) -> tuple[list[dict], list[str]]:
    """Rows for `fastmm catalog`: every tabulated shape n ≤ m ≤ p ≤ max_dim and every other shape
    up to max_dim the catalogue holds (best-known ranks None, status "no record tabulated"), and
    the problems.

    The catalogue column shows the lowest-rank entry (ties: strongest ring); status compares
    it with the best known rank over that entry's ring. InputError when the catalogue folder does
    not exist or is not a folder (a typo in FASTMM_CATALOG must not read as "35 missing").
    """
    entries, problems = scan_catalog(check_catalog_dir())
    rows = []
    # the tabulated shapes, and any other the catalogue holds (⟨1,2,2⟩, a user's ⟨2,2,7⟩): those
    # were left out of the listing without a word, though `catalog_scheme` and the site use them
    untabulated = {e.shape for e in entries} - set(BEST_KNOWN)
    unknown = {"ZT": None, "Z": None, "Q": None, "Z2": None}
    for shape in sorted(set(BEST_KNOWN) | untabulated):
        if max(shape) > max_dim:
            continue
        n, m, p = shape
        best = BEST_KNOWN.get(shape, unknown)
        mine = sorted((e for e in entries if e.shape == shape),
                      key=lambda e: (e.rank, _STRENGTH.index(e.ring)))
        row = {
            "shape": list(shape), "naive": n * m * p, "best_ZT": best["ZT"], "best_Z2": best["Z2"],
            "catalog_rank": None, "catalog_ring": None, "file": None, "status": "missing", "gap": None,
        }
        row["by_ring"] = {ring: min(e.rank for e in mine if e.ring == ring)
                          for ring in _STRENGTH if any(e.ring == ring for e in mine)}
        row["best_Q"] = best["Q"]
        if mine:
            e = mine[0]
            gap = None if best[e.ring] is None else e.rank - best[e.ring]
            status = "no record tabulated" if gap is None else "best known reached" if gap <= 0 else "gap"
            row.update(catalog_rank=e.rank, catalog_ring=e.ring, file=e.path.name, gap=gap, status=status)
        rows.append(row)
    return rows, problems


def find_in_catalog(scheme: Scheme):
    """Compare a scheme with the catalogue entry of its shape, rank and ring (the label: `fastmm
    show` passes the scheme labelled by the ring it verified in).

    Returns (entry, EquivalenceResult) or None when no such entry exists; for `fastmm show`.
    """
    from fastmm.equivalence import equivalent

    ring = scheme.ring
    for entry in catalog_candidates(scheme.shape, ring):
        if entry.rank != scheme.rank:
            continue
        other, _ = _check_file(entry.path)
        if other is None:
            continue
        if ring == "Z2" and other.ring != "Z2":  # compare over GF(2)
            other = other.with_meta(ring="Z2")
        return entry, equivalent(other, scheme)  # as the file holds it: the transform acts on that file
    return None


# `fastmm.catalog(...)` is the public API function (fastmm.api.catalog); see fastmm/_callable.py.
from fastmm._callable import make_callable  # noqa: E402

make_callable(__name__, "catalog")
