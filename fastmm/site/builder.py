"""`build_site`: the whole static site, written into a fresh folder that then replaces OUTDIR.

Layout: index.html, style.css, site.js, schemes/<slug>.html, files/<slug>.{json,c},
files/<slug>-numpy.py, files/<slug>-torch.py, and .fastmm-site (a marker listing the files the
build wrote, so a rebuild only ever replaces a folder this function made, and only those files:
anything else in it, such as .git, CNAME or .nojekyll, is moved into the new site unchanged).
An OUTDIR that is a symlink is followed: the site replaces its target and the link stays. Output
depends on the input alone: sorted, no build time, no absolute paths, so two builds from the same
catalogue are byte-identical and diffs show what changed. Worker processes (`workers`, at most
fastmm.api.MAX_WORKERS, as for a search, and never more than there are schemes) change the time,
never the bytes. Once the new site is in place, an old one that cannot be removed (an immutable
file in it) is a warning naming the hidden folder left beside OUTDIR, not a failed build.

One build of an OUTDIR at a time: the writes and the swap hold a lock (flock on a hidden
.OUTDIR.lock beside it, removed at the end; the kernel releases it when a build dies), and a second
build is refused in one line. A build killed between the swap's steps (SIGKILL, a power cut)
leaves its hidden temporaries beside OUTDIR; the next build puts back what they hold of the user's
(.git, CNAME, ...) before it builds, or names the folder in a warning where that is not clear-cut.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastmm.api import MAX_WORKERS
from fastmm.arguments import positive_int
from fastmm.errors import FastmmError, InputError
from fastmm.known_ranks import canonical
from fastmm.locks import try_lock
from fastmm.paths import OutputError, resolve_target
from fastmm.site.assets import SITE_JS, STYLE_CSS
from fastmm.site.facts import SchemeFacts, equivalences, scheme_facts
from fastmm.site.pages import index_page, scheme_page, scheme_title
from fastmm.site.sources import collect_schemes, named_path
from fastmm.site.table import rank_rows
from fastmm.site.workers import parallel_map, signals_held

MARKER = ".fastmm-site"
_MARKER_HEAD = "made by `fastmm site`; a rebuild replaces the files listed below and keeps anything else"


@dataclass
class SiteReport:
    """What a build did: pages and files written, schemes left out, and where the time went."""

    outdir: Path
    schemes: int = 0
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (slug, seconds), top 3


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


class _Stranded(OutputError):
    """A failed replacement that could not be undone: the temporary folders hold user files."""


def _check_outdir(outdir: Path, shown: Path) -> None:
    """InputError unless the site can replace `outdir` (symlinks resolved; `shown` as given):
    a folder that is missing, empty or an earlier site, in a folder that can be written."""
    if outdir.exists():
        if not outdir.is_dir():
            raise InputError(f"{shown} exists and is not a folder")
        if any(outdir.iterdir()) and not (outdir / MARKER).is_file():
            raise InputError(f"{shown} is not empty and was not made by `fastmm site`; "
                             "choose a new or empty folder")
    folder = next(p for p in outdir.parents if p.exists())  # missing ones are made
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder: cannot build {shown} there")
    # temporaries go beside outdir, and a rebuild moves the entries it keeps out of outdir
    for d in (folder, outdir) if outdir.exists() else (folder,):
        if not os.access(d, os.W_OK | os.X_OK):
            try:
                why = "read-only file system" if os.statvfs(d).f_flag & os.ST_RDONLY else "permission denied"
            except OSError:
                why = "permission denied"
            raise InputError(f"{d} is not writable ({why}): cannot build {shown} there")


def _written_before(outdir: Path) -> set[str]:
    """The files ("/"-separated paths) the build that made the site `outdir` wrote."""
    try:
        lines = (outdir / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    if len(lines) > 1:
        return {MARKER, *lines[1:]}
    # a marker without the list (sites made before it had one): the fixed layout of those builds
    written = {MARKER, "index.html", "style.css", "site.js"}
    for sub, ends in (("schemes", (".html",)), ("files", (".json", ".c", "-numpy.py", "-torch.py"))):
        written.update(f"{sub}/{p.name}" for p in (outdir / sub).glob("*")
                       if p.name.endswith(ends) and p.is_file())
    return written


def _kept(outdir: Path) -> list[str]:
    """Entries of the site `outdir` its build did not write (a folder as a whole when its build
    wrote nothing in it), as "/"-separated paths."""
    written = _written_before(outdir)
    holding = {"/".join(w.split("/")[:i]) for w in written for i in range(1, w.count("/") + 1)}
    kept: list[str] = []

    def walk(rel_dir: str) -> None:
        with os.scandir(outdir / rel_dir) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if rel in holding and is_dir:
                    walk(rel)
                elif rel not in written or is_dir:
                    kept.append(rel)

    walk("")
    return kept


def _clashes(fresh: Path, rel: str) -> bool:
    """Whether the new site already has `rel`, or a file where `rel` needs a folder."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        prefix = fresh.joinpath(*parts[:i])
        if os.path.lexists(prefix) and not prefix.is_dir():
            return True
    return os.path.lexists(fresh / rel)


def _remove_old(old: Path) -> str | None:
    """Remove the folder holding the replaced site, as much of it as can be; None, or the warning
    line naming what is left (the new site is in place: that is no reason to fail the build)."""
    errors: list[BaseException] = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(old, onexc=lambda _f, _p, exc: errors.append(exc))
    else:  # onerror: deprecated from 3.12 on
        shutil.rmtree(old, onerror=lambda _f, _p, info: errors.append(info[1]))
    if not errors and not os.path.lexists(old):
        return None
    why = next((e.strerror for e in errors if isinstance(e, OSError) and e.strerror), None) or "unknown error"
    return f"the new site is in place, but the old one could not be removed ({why}): delete {old} by hand"


def _replace_dir(fresh: Path, outdir: Path, shown: Path) -> str | None:
    """Move `fresh` to `outdir`; an existing outdir must be empty or an earlier site, whose
    entries its build did not write are moved into the new site unchanged. Returns a warning line
    when the new site is in place but the old one's leftovers could not be removed."""
    if not outdir.exists():
        os.replace(fresh, outdir)
        return None
    _check_outdir(outdir, shown)  # again: the folder may have changed during the build
    kept = _kept(outdir)
    clashes = [rel for rel in kept if _clashes(fresh, rel)]
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise InputError(f"{shown} holds {', '.join(clashes[:3])}{more}, not made by `fastmm site`, "
                         "where the new site writes its own files; move them away and build again")
    with signals_held():  # a second Ctrl-C while putting things back lost the user's files
        return _swap(fresh, outdir, shown, kept)


def _short(name: str) -> str:
    """A temporary folder's stem from a site's name: at most 64 bytes on disk (a name near the
    file system's 255-byte limit, plus ".new-" and mkdtemp's random suffix, was too long)."""
    return os.fsdecode(os.fsencode(name)[:64])


@contextlib.contextmanager
def _locked(outdir: Path, shown: Path) -> Iterator[None]:
    """Hold OUTDIR's lock (flock on .OUTDIR.lock in its folder, which must exist) while building
    it; InputError if another `fastmm site` holds it. The file is removed on the way out; where the
    file system has no locks the build goes on unlocked (as a --resume search does)."""
    path = outdir.parent / f".{_short(outdir.name)}.lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot build {shown}: {exc.strerror or exc}") from exc
        got = try_lock(fd)
        if got is False:
            os.close(fd)
            raise InputError(f"another `fastmm site` is building {shown}; wait for it to end and "
                             "build again") from None
        if got is None:
            break  # a file system without locks
        try:  # the build before removed the file as this one opened it: lock the new one
            st, held = os.stat(path), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still held: a build that opened it meanwhile takes a new one
        os.close(fd)


def _leftovers(outdir: Path) -> list[Path]:
    """The hidden temporaries of `_swap` beside `outdir`: what a killed build of it left."""
    pattern = re.compile(re.escape(f".{_short(outdir.name)}") + r"\.(?:new|old)-[a-z0-9_]{8}")
    try:
        with os.scandir(outdir.parent) as entries:
            return sorted(Path(e.path) for e in entries
                          if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _put_back(folder: Path, site: Path, outdir: Path, shown: Path) -> str | None:
    """Move the entries of the site `site` (in the leftover `folder`) that its build did not
    write back into the site `outdir` where it lacks them, then remove `folder`; None, or the
    warning line saying what was put back or what is left there."""
    kept = _kept(site) if (site / MARKER).is_file() else [e.name for e in site.iterdir()]
    if kept and not (outdir / MARKER).is_file():
        stuck = kept
    else:
        stuck = [rel for rel in kept if _clashes(outdir, rel)]
        for rel in kept:
            if rel not in stuck:
                (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(site / rel, outdir / rel)
    if stuck:
        more = f" and {len(stuck) - 3} more" if len(stuck) > 3 else ""
        return (f"an interrupted build left {', '.join(stuck[:3])}{more} in {folder}, which {shown} "
                "cannot take back: move them by hand")
    shutil.rmtree(folder)
    if not kept:
        return None
    more = f" and {len(kept) - 3} more" if len(kept) > 3 else ""
    return f"put back {', '.join(kept[:3])}{more} into {shown}, from {folder} (left by an interrupted build)"


def _recover(outdir: Path, shown: Path) -> list[str]:
    """Undo what a build of `outdir` killed during `_swap` left beside it (called with the lock
    held, so no other build is using them): the old site back in place of a missing `outdir`, the
    user's entries back into it, the temporaries removed. One warning line per folder that held
    something of the user's or could not be dealt with; the folder is left where it is unclear."""
    found = _leftovers(outdir)
    if found and outdir.name != _short(outdir.name):  # the cut name may be another site's
        return [f"{f} may hold files of an interrupted build of {shown} or of a site of a similar "
                "name: move what you need from it and delete it" for f in found]
    warnings: list[str] = []
    old = {f for f in found if f.name[-13:-8] == ".old-"}  # else .new-: a fresh site
    olds = [f / "site" for f in old if (f / "site").is_dir()]
    try:
        if len(olds) == 1 and not os.path.lexists(outdir):  # killed between the two renames
            os.replace(olds[0], outdir)
    except OSError as exc:
        warnings.append(f"could not put back {olds[0]} as {shown} ({exc.strerror or exc}): move it by hand")
    for folder in found:
        try:
            names = {e.name for e in folder.iterdir()}
            if folder not in old:
                line = _put_back(folder, folder, outdir, shown)
            elif names == {"site"} and not (folder / "site" / MARKER).is_file():
                # a replaced site whose removal stopped part way (its marker gone first): only
                # files of its build are left, the user's went into the new site (QA-132: they
                # were then named as an interrupted build's, to be moved back by hand)
                line = _remove_old(folder)
            elif names == {"site"}:  # the replaced site: what the user added to it went into the new one
                line = _put_back(folder, folder / "site", outdir, shown)
            elif not names:  # made, or emptied above
                line = None
                folder.rmdir()
            else:
                line = f"{folder} holds more than an interrupted build left there: move what you need by hand"
        except OSError as exc:
            line = (f"could not clear {folder}, left by an interrupted build ({exc.strerror or exc}): "
                    "move what you need from it by hand")
        if line is not None:
            warnings.append(line)
    return warnings


def _swap(fresh: Path, outdir: Path, shown: Path, kept: list[str]) -> str | None:
    """`_replace_dir`'s moves, with the stop signals held (a failure puts everything back)."""
    old = Path(tempfile.mkdtemp(prefix=f".{_short(outdir.name)}.old-", dir=outdir.parent))
    # the kept entries go into the new site first, while the old one is still served: then the
    # site is missing only between the two renames below (moving 3,000 kept files away first
    # left no index.html for as long)
    try:
        for rel in kept:
            (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(outdir / rel, fresh / rel)
        os.replace(outdir, old / "site")
        os.replace(fresh, outdir)
    except BaseException:
        try:  # put every entry back where it was
            if (old / "site").exists():
                os.replace(old / "site", outdir)
            for rel in reversed(kept):  # by what is where, not by a list of what moved
                if os.path.lexists(fresh / rel) and not os.path.lexists(outdir / rel):
                    os.replace(fresh / rel, outdir / rel)
            os.rmdir(old)
        except OSError as exc:
            raise _Stranded(f"could not replace {shown} nor put it back ({exc.strerror or exc}): its "
                            f"contents are in {old / 'site'} and {fresh}") from exc
        raise
    return _remove_old(old)


def _nothing_to_show(outdir: Path, warnings: list[str]) -> str:
    """The one line refusing a build without a single verified scheme."""
    if not warnings:
        why = "the inputs hold no scheme files"
    else:
        first = warnings[0] if len(warnings[0]) <= 160 else warnings[0][:160] + "..."
        why = f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}, the first: {first}"
    return f"no verified scheme to build a site from ({why}); {outdir} was left as it was"


def _all_facts(items: list, workers: int) -> list[SchemeFacts]:
    workers = min(workers, len(items))  # never a process without a scheme to work on
    if workers <= 1:
        return [scheme_facts(it) for it in items]
    return parallel_map(scheme_facts, items, workers)  # an interrupt ends and reaps the workers


def _write_site(files: dict[str, str], outdir: Path, shown: Path) -> str | None:
    """Write `files` into a fresh folder beside `outdir` and put it in its place (`_replace_dir`)."""
    try:
        fresh = Path(tempfile.mkdtemp(prefix=f".{_short(outdir.name)}.new-", dir=outdir.parent))
    except OSError as exc:
        raise OutputError(f"cannot build {shown}: {exc.strerror or exc}") from exc
    try:
        for rel in sorted(files):
            _write(fresh, rel, files[rel])
        os.chmod(fresh, 0o755)  # mkdtemp makes it private; a site is meant to be served
        return _replace_dir(fresh, outdir, shown)
    except BaseException as exc:
        if not isinstance(exc, _Stranded):
            shutil.rmtree(fresh, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, FastmmError):  # never the temporary's name
            raise OutputError(f"cannot build {shown}: {exc.strerror or exc}") from exc
        raise


def build_site(outdir: str | Path, catalog: str | Path | None = None,
               schemes: Iterable[str | Path] | str | Path | None = (), workers: int = 1) -> SiteReport:
    """Build the site for the catalogue folder (default: the shipped one) plus extra scheme files
    or folders `schemes`. Every scheme is verified; one that fails is left out with a warning.
    A named path that is missing or unreadable, or inputs without a single verified scheme, are an
    InputError raised before anything is written: `outdir` is never replaced then. So is an
    `outdir` whose folder cannot be written, and arguments of the wrong type (`schemes` may be one
    str or path, or several; `workers` an integer from 1 to MAX_WORKERS). A symlink `outdir` is
    followed; entries of an earlier site that its build did not write (.git, CNAME, ...) are kept in
    the new one. A file named twice (through `catalog` and `schemes`) is one scheme."""
    workers = positive_int(workers, "workers", MAX_WORKERS)
    outdir = named_path(outdir, "outdir")
    start = time.perf_counter()
    shown = Path(os.path.abspath(outdir))  # as given, for messages
    outdir = resolve_target(shown)  # a symlink's target is replaced, never the link
    if outdir.is_symlink():
        raise InputError(f"{shown} is a symlink loop")
    if outdir == Path.cwd() or outdir in Path.cwd().parents:
        raise InputError(f"{shown} holds the current folder; build the site into a folder of its own")
    _check_outdir(outdir, shown)
    items, warnings = collect_schemes(catalog, schemes)
    if not items:  # never replace a site with an empty one
        raise InputError(_nothing_to_show(shown, warnings))
    rows = rank_rows(items)
    facts = _all_facts(items, workers)
    eqs = equivalences(items)
    names = {it.slug: f"{scheme_title(it)}, {it.slug}" for it in items}
    row_of = {(r.shape, r.ring): r for r in rows}

    files = {"index.html": index_page(rows, items), "style.css": STYLE_CSS, "site.js": SITE_JS}
    for it, f in zip(items, facts, strict=True):
        files[f"schemes/{it.slug}.html"] = scheme_page(
            it, row_of.get((canonical(it.scheme.shape), it.scheme.ring)), f, eqs[it.slug], names)
        for d in f.downloads:
            if d.text is not None:
                files[f"files/{d.filename}"] = d.text
    files[MARKER] = "\n".join([_MARKER_HEAD, *sorted(files)]) + "\n"
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot build {shown}: {exc.strerror or exc}") from exc
    with _locked(outdir, shown):
        warnings = [*warnings, *_recover(outdir, shown)]
        leftover = _write_site(files, outdir, shown)
    slowest = sorted(((it.slug, f.seconds) for it, f in zip(items, facts, strict=True)),
                     key=lambda x: -x[1])[:3]
    if leftover is not None:
        warnings = [*warnings, leftover]
    return SiteReport(shown, len(items), len(files), warnings, time.perf_counter() - start, slowest)
