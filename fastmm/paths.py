"""Output paths: checked before the work starts, written atomically, never lost after a search.

* `check_output_path(path)` refuses, with one InputError line, what could never be written as a
  regular file: an empty name, a directory, a path under a file, a missing parent directory,
  an unwritable directory, a name too long for the file system, a FIFO, device or socket. A
  symlink is followed (the file it points to is written, the link stays); a loop is refused.
* `write_atomic(path, data)` writes a temporary file with a short fixed-length name
  (".fastmm-", 8 random characters from tempfile.mkstemp, ".tmp"; so any name the file
  system allows works) next to the symlink-resolved target, fsyncs it and renames it over
  the target: readers see the old file or the whole new one, and a special file is never
  replaced. Failures (full disk, permissions) are one OutputError line. With
  `follow_links=False` (files a command owns: catalogue entries, checkpoint files) a symlink
  at the path is replaced by the new regular file, never written through: nothing outside the
  folder changes.
* `save_with_fallback(scheme, path)` is for results that took work to make: when the intended
  write fails, the scheme goes to a fallback file (current directory, then the temporary
  directory, then home), one warning line on stderr names the failure and the fallback, and
  the fallback path is returned. Only when every place fails is OutputError raised.
  `save_bytes_with_fallback` does the same for any payload; `rescue` writes the fallback file
  alone, for callers that report the failure themselves; `write_or_rescue` is the commands'
  form (import's and search's rule): the result in a fallback file and one OutputError line
  naming it (exit 1).
* `unmakeable_folder(path)` says why a folder a command would make (--resume DIR, a catalogue
  folder) cannot be: only the last folder of a path is ever made, never a missing parent.

Nothing here imports numpy, torch or sympy.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

from fastmm.errors import FastmmError, InputError


class OutputError(FastmmError, OSError):
    """An output file could not be written (exit 1); an OSError too, for callers that catch those."""


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _special_kind(mode: int) -> str | None:
    return next((name for test, name in _KINDS if test(mode)), None)


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def resolve_target(path: str | os.PathLike) -> Path:
    """The file a write to `path` really changes: symlinks followed, made absolute."""
    path = Path(os.path.abspath(os.fspath(path)))
    try:
        return path.resolve(strict=False)
    except (RuntimeError, OSError) as exc:  # a symlink loop
        raise InputError(f"{path}: cannot be resolved ({getattr(exc, 'strerror', None) or exc})") from None


def check_output_path(path: str | os.PathLike, what: str = "output",
                      inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """The file a result will be written to (a symlink's target), or one InputError line.
    `inputs`: files the command reads, which its output must not replace (a scheme overwritten
    by its own C code, a points file by the scheme finished from it)."""
    target = _check_output_path(path, what)
    for given in inputs:
        if same_file(target, given):
            raise InputError(f"{what} {os.fspath(path)}: is the input file {os.fspath(given)}; write the "
                             "result to another file")
    return target


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether both paths exist and name one file (links followed); False when either cannot be read."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def unmakeable_folder(folder: str | os.PathLike) -> str | None:
    """Why the folder `folder` could not be made, or None (it exists, or its parent directory
    does). Commands make the last folder of a path they are given (--resume DIR, a catalogue
    folder), never the folders above it: a typo there must be said, not made into new folders."""
    path = Path(folder)
    if path.is_dir() or path.parent.is_dir():
        return None
    for anc in [*reversed(path.parent.parents), path.parent]:  # say exactly which part is wrong
        if os.path.lexists(anc) and not anc.is_dir():
            return f"{anc} is not a directory"
    return f"directory {path.parent} does not exist"


def _check_output_path(path: str | os.PathLike, what: str) -> Path:
    text = os.fspath(path)
    if not text or not text.strip():
        raise InputError(f"{what}: the file name is empty")
    if "\0" in text:
        raise InputError(f"{what}: the file name contains a NUL character")
    if text == "-":  # export, import and combine print with -o - (they never get here with it)
        raise InputError(f"{what} -: this writes a file, not standard output; give a file name "
                         "(./- for a file named '-')")
    given = Path(text)
    if text.endswith(os.sep) or given.name in ("", ".", ".."):
        raise InputError(f"{what} {text}: is a directory, expected a file name")
    try:
        try:  # what the path names after every link, magic ones (/dev/stdout) included
            kind = _special_kind(os.stat(given).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            kind = None
        except RuntimeError:  # a symlink loop, reported below
            kind = None
        if kind is not None:
            raise InputError(f"{what} {text}: is {kind}, not a regular file "
                             "(fastmm writes regular files only)")
        if given.is_symlink():
            target = resolve_target(given)
            if target.is_symlink():  # still a link after resolving: a loop
                raise InputError(f"{what} {text}: is a symlink loop")
        else:
            target = Path(os.path.abspath(text))
        if len(os.fsencode(target)) >= 4096:
            raise InputError(f"{what} {text}: the path is longer than the system allows")
        parent = target.parent
        if not parent.exists():
            for anc in reversed(target.parents):  # say exactly which part is wrong
                if anc.exists() and not anc.is_dir():
                    raise InputError(f"{what} {text}: {anc} is a file, not a directory")
            tilde = ' ("~" is not expanded here: give the home directory\'s path)' if text[:1] == "~" else ""
            raise InputError(f"{what} {text}: directory {parent} does not exist{tilde}")
        if not parent.is_dir():
            raise InputError(f"{what} {text}: {parent} is not a directory")
        name_max = _name_max(parent)
        if len(os.fsencode(target.name)) > name_max:
            raise InputError(f"{what} {text}: the file name is longer than the {name_max} bytes "
                             "the file system allows")
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise InputError(f"{what} {text}: is a directory, expected a file name")
            kind = _special_kind(st.st_mode)
            if kind is not None:
                raise InputError(f"{what} {text}: is {kind}, not a regular file "
                                 "(fastmm writes regular files only)")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{what} {text}: directory {parent} is not writable")
    except OSError as exc:
        raise InputError(f"{what} {text}: cannot be used ({exc.strerror or exc})") from None
    return target


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


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


def write_atomic(path: str | os.PathLike, data: bytes | str, make_parents: bool = False,
                 exclusive: bool = False, follow_links: bool = True) -> Path:
    """Write `data` (str as UTF-8) to `path` atomically; returns the file written (the symlink's
    target when `path` is a symlink). Raises OutputError with one line. `exclusive`: the file
    must not exist yet (FileExistsError otherwise; the complete file is hard-linked into place,
    so two processes never take the same name). `follow_links=False`: a symlink at `path` is
    replaced by the new file (its target is left alone; the folders above are still followed)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    shown = os.fspath(path)
    try:
        if follow_links:
            target = resolve_target(path)
        else:
            given = Path(os.path.abspath(shown))
            target = resolve_target(given.parent) / given.name
    except InputError as exc:
        raise OutputError(f"cannot write {shown}: {exc}") from None
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = os.stat(target) if follow_links else os.lstat(target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):  # not followed: the link itself is replaced
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {shown}: is a directory")
        if st is not None and _special_kind(st.st_mode):
            raise OutputError(f"cannot write {shown}: is {_special_kind(st.st_mode)}, not a regular file")
        fd, tmp = tempfile.mkstemp(prefix=".fastmm-", suffix=".tmp", dir=target.parent)
    except OutputError:
        raise
    except (OSError, ValueError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
        raise OutputError(f"cannot write {shown}: {reason}") from None
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would: the
        # replaced file's, or 0666 less the umask
        mode = (st.st_mode & 0o7777) if st is not None else (0o666 & ~_umask())
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            _link_new(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, FileExistsError) and exclusive:
            raise
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {shown}: {_reason(exc)}") from None
        raise
    return target


def _link_new(tmp: str, target: Path) -> None:
    """Put the finished file `tmp` at `target` unless something is there (FileExistsError)."""
    try:
        os.link(tmp, target)  # atomic, and fails if target exists
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network and FAT file systems): reserve the name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def write_new(base: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` atomically to `base`, or `stem-2.ext`, `stem-3.ext`... beside it: the first
    name that is free, taken atomically, so that nothing is overwritten even when several
    processes write at once. Raises OutputError with one line."""
    base = Path(base)
    for k in range(1, 100_000):
        path = base if k == 1 else base.with_name(f"{base.stem}-{k}{base.suffix}")
        if path.is_symlink() or path.exists():
            continue
        try:
            write_atomic(path, data, exclusive=True)
            return path  # as named (relative names stay relative in messages)
        except FileExistsError:
            continue
    raise OutputError(f"cannot write {base}: 100,000 names beside it are taken")


def fallback_dirs() -> list[Path]:
    """Where a rescued result goes, in order: the current directory, the temporary directory, home."""
    out: list[Path] = []
    for get in (Path.cwd, lambda: Path(tempfile.gettempdir()), Path.home):
        try:
            d = get().resolve()
        except (OSError, RuntimeError, KeyError):
            continue
        if d not in out:
            out.append(d)
    return out


def rescue(data: bytes | str, stem: str = "fastmm-result", suffix: str = ".json") -> Path:
    """Write `data` to a new fallback file (see fallback_dirs) and return it; OutputError when
    no fallback location is writable."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    tried = []
    for d in fallback_dirs():
        candidate = d / f"{stem}-rescued-{stamp}-{os.getpid()}{suffix}"
        k = 2
        while candidate.exists():
            candidate = d / f"{stem}-rescued-{stamp}-{os.getpid()}-{k}{suffix}"
            k += 1
        try:
            return write_atomic(candidate, data)
        except OutputError:
            tried.append(str(d))
    raise OutputError(f"no fallback location was writable either ({', '.join(tried)})")


def _write_else_rescue(write, data: bytes | str, stem: str, suffix: str) -> tuple[Path, str | None]:
    """`write()`, or else `data` in a fallback file (`rescue`): (the file written, why the intended
    write failed or None). OutputError naming both failures when no fallback is writable either."""
    try:
        return write(), None
    except OutputError as exc:
        problem = str(exc)
    try:
        return rescue(data, stem, suffix), problem
    except OutputError as exc:
        raise OutputError(f"{problem}; {exc}") from None


def save_bytes_with_fallback(data: bytes | str, path: str | os.PathLike, stem: str = "fastmm-result",
                             suffix: str = ".json", what: str = "result") -> Path:
    """Write `data` to `path`, or else to a fallback file named in one warning line on stderr;
    returns the file written. OutputError only when no fallback location is writable either."""
    written, problem = _write_else_rescue(lambda: write_atomic(path, data), data, stem, suffix)
    if problem is not None:
        message = f"warning: {problem}; the {what} was saved to {written} instead"
        print(" ".join(message.splitlines()), file=sys.stderr, flush=True)
    return written


def write_or_rescue(write, data: bytes | str, stem: str = "fastmm-result", suffix: str = ".json",
                    what: str = "verified scheme") -> Path:
    """`write()` (it writes `data` where the user asked and returns the file) for a result that
    took work to make; when it fails (OutputError: a full disk), `data` goes to a fallback file
    (`rescue`) and OutputError says both in one line (exit 1), as import and search do. The
    OutputError names no fallback only when no fallback location is writable either."""
    written, problem = _write_else_rescue(write, data, stem, suffix)
    if problem is not None:
        raise OutputError(f"{problem}; the {what} was saved to {written} instead")
    return written


def scheme_stem(scheme) -> str:
    n, m, p = scheme.shape
    return f"fastmm-{n}x{m}x{p}-rank{scheme.rank}-{scheme.ring}"


def save_with_fallback(scheme, path: str | os.PathLike) -> Path:
    """Write a (verified) Scheme as a fastmm scheme file to `path`, or to a fallback file
    (see save_bytes_with_fallback); returns where it went."""
    from fastmm.io import dumps

    return save_bytes_with_fallback(dumps(scheme), path, stem=scheme_stem(scheme), suffix=".json",
                                    what="scheme")
