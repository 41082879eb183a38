"""Search checkpoints: `fastmm search ... --resume DIR` continues after Ctrl-C, a crash or a reboot.

A checkpoint directory holds

    checkpoint.json   what is searched (shape, ring, method, symmetry), the seeds used, the next
                      seed, the best rank reached, the progress last seen;
    best.json         the best verified scheme so far (a fastmm scheme file), written while
                      the walk runs: every save_pool that beats it replaces it;
    pool-seed<S>.json the members of the lowest pool level of seed S (pool method), or the
                      best scheme of seed S so far (flip, ternary, symmetric walks: BestSaver),
                      written while the walk runs;
    checkpoint.lock   an empty file whose flock serialises the writes of best.json and
                      checkpoint.json between the search and its worker processes.

The directory itself is locked (flock) by the search that uses it, for the search's lifetime:
a second search in the same directory is refused, and leaves it as it was.

Every file is written atomically (temporary file, fsync, rename), so a search killed at any
moment (SIGKILL included) leaves the previous complete version of each file. A symlink under one
of these names is replaced by the file, never written through (`_write_text`): a checkpoint
never changes anything outside DIR. best.json is only
ever replaced by a verified scheme of lower rank, or of its rank with no more additions (a
scheme still being minimized), unless it is missing, of another shape or fails verification;
checkpoint.json's best_rank follows it. Resuming loads
best.json and the pool members as starting points of new seeds. A directory that belongs to
another shape, ring, method or checkpoint version is refused and left as it was.

Nothing is written until the search starts: `Checkpoint.open` only reads and checks (and locks
a directory that exists), so a request refused afterwards leaves no trace. A new directory is
made then, but never its parent: one that does not exist is refused by `open`. The seeds of every
run are reserved (`reserve`) before the run starts, so no later resume repeats one.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fastmm import __version__
from fastmm.arguments import SEED_LIMIT, SEED_LIMIT_TEXT
from fastmm.errors import FastmmError, InputError
from fastmm.io import dumps, load_scheme, scheme_from_dict, scheme_to_dict
from fastmm.locks import try_lock, wait_lock
from fastmm.paths import OutputError, resolve_target, unmakeable_folder, write_atomic
from fastmm.scheme import Scheme
from fastmm.validate import load_json, read_text

FORMAT = "fastmm.search-checkpoint"
VERSION = 1
STATE = "checkpoint.json"
BEST = "best.json"
LOCK = "checkpoint.lock"
POOL_PREFIX = "pool-seed"
GF2_PREFIX = "gf2-seed"  # a walk's lowest GF(2) scheme that did not (yet) lift, labelled Z2
MAX_STATE_BYTES = 1 << 20
MAX_POOL_BYTES = 64 << 20
STORED_SEED_LIMIT = 2 * SEED_LIMIT  # seeds a file may hold (read back with room to spare)


class Checkpoint:
    """One checkpoint directory (see the module docstring)."""

    def __init__(self, directory: Path, state: dict, resumed: bool):
        self.directory = directory
        self.state = state
        self.resumed = resumed
        self._last_progress = 0.0
        self._starts: list[Scheme] | None = None
        self._paths: dict[int, Path] = {}  # id of a saved scheme -> the file it came from
        self._lock: int | None = None  # the locked directory's descriptor while this search runs
        self.written = False  # the directory and its checkpoint.json exist for this search
        self._reserved = False  # this search's first seeds are recorded
        self.write_error: str | None = None  # the first write that failed once the search ran
        self.ignored = 0  # saved schemes starts() dropped
        self._before: dict | None = None  # the state before this search reserved seeds (`undo`)
        self._made_dir = False  # this search made DIR (it did not exist)
        self._before_text: str | None = None  # checkpoint.json as it was then, for `undo`
        self._before_names: set[str] = set()  # and the files DIR held then

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | Path, request) -> Checkpoint:
        """Check DIR for `request` (a fastmm.api.SearchRequest): InputError if DIR is not a
        checkpoint of this search or another search holds it. Nothing in DIR is written (a
        directory that exists is locked; a new one is made when the search starts)."""
        d = Path(directory)
        what = _identity(request)
        if d.exists() and not d.is_dir():
            raise InputError(f"--resume {d}: not a directory")
        if d.is_symlink() and not d.exists():
            try:
                os.stat(d)
                why = "a symlink the search cannot follow"
            except OSError as exc:
                why = ("a symlink loop" if exc.errno == errno.ELOOP else
                       f"a symlink to {os.readlink(d)}, which does not exist")
            raise InputError(f"--resume {d}: {why}")
        fresh = {"format": FORMAT, "version": VERSION, "fastmm": __version__, **what,
                 "rank": request.rank, "seeds_used": [], "next_seed": None, "best_rank": None,
                 "status": "new", "progress": {}, "created": _now(), "updated": _now()}
        if not d.is_dir():  # made when the search starts: DIR itself, never the folders above it
            why = unmakeable_folder(d)
            if why is not None:
                raise InputError(f"--resume {d}: {why}")
            return cls(d, fresh, resumed=False)
        cp = cls(d, fresh, resumed=False)
        locked = cp._take_lock(False)
        try:
            if not os.access(d, os.W_OK | os.X_OK):  # a read-only mount or directory: refused now,
                raise InputError(f"--resume {d}: the directory cannot be written; give another one")
            state_path = d / STATE
            if not state_path.exists():
                if any(x.name != LOCK and not _is_temp(x.name) for x in d.iterdir()):
                    raise InputError(f"--resume {d}: the directory is not empty and holds no {STATE}; "
                                     "give a new or empty directory")
                if locked:
                    cp._drop_stale_temps()
                return cp
            state = _read_state(state_path)
            _check_identity(d, state, what)
            _check_best_shape(d, state)
            if locked:  # only in a directory this search takes: a refused one is left as it was
                cp._drop_stale_temps()
        except BaseException:
            cp.close()
            raise
        state["rank"] = request.rank
        # the best rank is what best.json holds, verified: checkpoint.json's number lags it after a
        # kill between the two writes, and one edited by hand would make finish() prune GF(2) lows
        state["best_rank"] = _best_rank(d, state)
        cp.state, cp.resumed, cp.written = state, True, True
        return cp

    def check_for(self, request) -> None:
        """InputError unless this checkpoint is of `request`'s search (shape, ring, method,
        symmetry): a Checkpoint opened for one search and handed to another."""
        _check_identity(self.directory, self.state, _identity(request))
        self.state["rank"] = request.rank

    def _take_lock(self, made: bool) -> bool:
        """Lock DIR (flock on the directory: no file is made) for this search's lifetime;
        InputError if another search holds it. `made`: this search has just created DIR. False
        where the file system has no locks (the search goes on unlocked)."""
        d = self.directory
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise InputError(f"--resume {d}: cannot open the directory ({exc.strerror})") from None

        held = try_lock(fd)
        if held is False:
            os.close(fd)
            when = "started in it at the same time" if made else "is using it"
            raise InputError(f"--resume {d}: another fastmm search {when}; wait for it to end or "
                             "give another directory") from None
        self._lock = fd  # also where the file system has no locks (held is None): kept, unlocked
        return held is True

    def _drop_stale_temps(self, age: float = 60.0) -> None:
        """Remove what killed writes left in DIR (write_atomic's .fastmm-*.tmp files). No other
        search writes there while this one holds DIR's lock; a file another command may still
        be writing (an -o into DIR) is younger than `age` seconds, and is left alone."""
        now = time.time()
        for x in self.directory.iterdir():
            try:
                if _is_temp(x.name) and not x.is_symlink() and x.is_file() and \
                        now - x.stat().st_mtime > age:
                    x.unlink()
            except OSError:
                pass

    def close(self) -> None:
        """Release the lock (also released when the process ends, however it ends)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def owns(self, path: str | os.PathLike) -> bool:
        """Is `path` one of the files this checkpoint writes (checkpoint.json, best.json,
        pool-seed*.json, gf2-seed*.json)? A result written there would be overwritten."""
        try:
            target, home = resolve_target(path), resolve_target(self.directory)
        except InputError:
            return False
        name = target.name
        return target.parent == home and (name in (STATE, BEST, LOCK) or (
            name.startswith((POOL_PREFIX, GF2_PREFIX)) and name.endswith(".json")))

    # -- what the search needs ------------------------------------------------------------------
    def first_seed(self, seed: int) -> int:
        """The first seed of this run: the user's on a new checkpoint, the next fresh one on a
        resume (InputError when none is left). Nothing is reserved yet: see `reserve`."""
        nxt = self.state.get("next_seed")
        if not self.resumed or nxt is None:
            return seed
        if nxt >= SEED_LIMIT:
            raise InputError(f"--resume {self.directory}: no fresh seed is left (the seeds up to "
                             f"{nxt - 1} were used, and a seed is below {SEED_LIMIT_TEXT}); give a new "
                             "directory")
        return int(nxt)

    def has_fresh_seed(self) -> bool:
        """Can a later run continue this checkpoint (a next seed below SEED_LIMIT)?"""
        nxt = self.state.get("next_seed")
        return nxt is None or nxt < SEED_LIMIT

    def reserve(self, first: int, count: int) -> None:
        """Record seeds first, ..., first+count-1 as used, before they run (the first write of a
        new checkpoint: a directory that cannot take it is bad input, InputError)."""
        if self._before is None:
            self._before = copy.deepcopy(self.state)
            try:  # an existing checkpoint.json as it is on disk, to put back byte for byte
                self._before_text = (self.directory / STATE).read_text() if self.written else None
                self._before_names = {x.name for x in self.directory.iterdir()} if self.written else set()
            except OSError:
                self._before_text = None
        used = set(self.state.get("seeds_used", [])) | set(range(first, first + count))
        self.state["seeds_used"] = sorted(used)
        self.state["next_seed"] = max(first + count, self.state.get("next_seed") or 0)
        self.state["status"] = "running"
        if not self.written:
            self._create()
        try:
            self._save_state()
        except OutputError as exc:
            if not self._reserved:  # before this search ran at all
                raise InputError(f"--resume {self.directory}: {exc}") from None
            self.write_error = self.write_error or str(exc)
        self._reserved = True

    def _create(self) -> None:
        """Make the new directory and lock it (InputError if that fails)."""
        d = self.directory
        self._made_dir = not d.exists()
        try:
            d.mkdir(exist_ok=True)  # not its parents (checked in `open`)
        except OSError as exc:
            raise InputError(f"--resume {d}: cannot create the directory ({exc.strerror})") from None
        if self._lock is None:
            self._take_lock(True)
        if (d / STATE).exists():  # another search made it between our check and now
            self.close()
            raise InputError(f"--resume {d}: another fastmm search started in it at the same time; "
                             "give another directory")
        self.written = True

    def starts(self) -> list[Scheme]:
        """Verified schemes saved in DIR (best.json, pool members) of the searched shape, as DIR
        held them when first asked: read and verified once, for the options and the summary."""
        if self._starts is not None:
            return self._starts
        from fastmm.verify import verify

        shape = tuple(self.state["shape"])
        out: list[Scheme] = []
        self.ignored = 0  # saved schemes of another shape or that do not verify (edited by hand?)
        paths = [self.directory / BEST] + sorted(self.directory.glob(f"{POOL_PREFIX}*.json")) + \
            sorted(self.directory.glob(f"{GF2_PREFIX}*.json"))
        for path in paths:
            if not path.exists():
                continue
            for scheme in _read_schemes(path):
                if scheme.shape == shape and verify(scheme, use_sympy=False).ok:
                    out.append(scheme)
                    self._paths[id(scheme)] = path
                else:
                    self.ignored += 1
        self._starts = out
        return out

    def saved_in(self, scheme: Scheme) -> Path:
        """The file of DIR that held `scheme` (one of `starts()`), or DIR itself."""
        return self._paths.get(id(scheme), self.directory)

    def task_options(self) -> dict:
        # absolute: a dask worker resolves a relative path against its own working directory
        opts: dict = {"checkpoint_dir": os.path.abspath(self.directory)}
        starts = self.starts()
        if starts:
            opts["starts"] = starts
        return opts

    def describe(self, start_given: bool = False) -> str:
        """Seeds used, the best rank saved (best.json or a pool level of a killed run) and how
        many schemes the search will start from. `start_given`: the walks start from a --start
        scheme, not from what the checkpoint saved."""
        from fastmm.scheme import scheme_serves

        s = self.state
        saved = self.starts()
        # the ranks of schemes that verify: a rank the header claims without one is not shown
        ring = str(s.get("ring"))
        valid = [x.rank for x in saved if scheme_serves(x, ring)]
        best = min(valid, default="none yet")
        text = f"{_count_of(len(s.get('seeds_used', [])), 'seed')} used, best rank {best}"
        mod2 = [x for x in saved if x.ring == "Z2" and ring != "Z2"]  # valid modulo 2 only
        low = min(mod2, key=lambda x: x.rank, default=None)
        if low is not None and (not valid or low.rank < min(valid)):
            where = self._paths.get(id(low))
            # flip walks start from it, pools take it as a start, symmetric walks where it splits
            # into their orbits; ternary walks do not
            goes_on = s.get("method") in ("flip", "pool") and s.get("symmetry") is None
            if start_given:
                goes_on = False
            elif s.get("symmetry") == "t2":
                from fastmm.search.transpose_symmetric import splits, walk_shape

                wshape = walk_shape(tuple(s.get("shape", low.shape)))
                goes_on = wshape is not None and splits(low, wshape)
            elif s.get("symmetry") is not None:
                from fastmm.search.symmetric import splits

                goes_on = splits(low, 6 if s.get("symmetry") == "c3j" else 3)
            text += (f" (a scheme of rank {low.rank} valid modulo 2 only"
                     + (f", {where.name}" if where is not None else "")
                     + ("; the walks go on from it" if goes_on else "") + ")")
        text += f", {_count_of(len(saved), 'saved scheme')}"
        if self.ignored:
            text += (f"; {self.ignored} saved scheme(s) ignored: another shape, or they fail "
                     "verification")
        return text

    def gf2_low(self) -> tuple[int, Path] | None:
        """The lowest-rank GF(2) scheme the walks kept (gf2-seed*.json), when it is below the
        best valid rank saved: (rank, path); None otherwise."""
        from fastmm.verify import verify

        low: tuple[int, Path] | None = None
        for path in sorted(self.directory.glob(f"{GF2_PREFIX}*.json")):
            try:
                scheme = load_scheme(path)
            except FastmmError:
                continue
            if scheme.shape != tuple(self.state["shape"]) or scheme.ring != "Z2" or \
                    (low is not None and scheme.rank >= low[0]) or not verify(scheme, use_sympy=False).ok:
                continue
            low = (scheme.rank, path)
        best = self.state.get("best_rank")
        if low is None or (isinstance(best, int) and best <= low[0]) or self.state.get("ring") == "Z2":
            return None
        return low

    # -- recording ------------------------------------------------------------------------------
    def record_best(self, scheme: Scheme, same_rank: bool = False, check: bool = False) -> None:
        """Keep `scheme` (verified; `check`: verify it first, see `offer_best`) as best.json if
        it beats the stored one: a lower rank, or (`same_rank`) its rank with no more additions
        (a scheme still being minimized, or its final form). A stored best.json that is missing,
        of another shape or that fails verification is replaced whatever the rank; a better one
        is never replaced."""
        try:
            if not self.written:
                self._create()
            if offer_best(self.directory, scheme, same_rank, check=check):
                self.state["best_rank"] = scheme.rank
        except (OutputError, InputError) as exc:  # the scheme itself was written elsewhere: go on
            self.write_error = self.write_error or str(exc)
            return
        self._write()

    def note_progress(self, worker: int, progress) -> None:
        """Note a worker's progress in checkpoint.json, every few seconds at most."""
        now = time.monotonic()
        if self.written and now - self._last_progress >= 5.0:
            self._last_progress = now
            self.state["progress"][str(worker)] = {"rank": progress.rank, "steps": progress.steps,
                                                   "note": progress.note}
            self._write()

    def undo(self) -> bool:
        """Put DIR back as it was before this search, which was refused (bad input, exit 2) after it
        reserved its seeds but before it found or saved anything (a check inside a method, a full
        disk at the first write): a new checkpoint's files go (and DIR, if this search made it), an
        existing one gets its state back. False, and nothing is touched, once anything was saved."""
        if self._before is None or not self.written:
            return False
        d = self.directory
        own = {STATE, LOCK}
        try:
            names = {x.name for x in d.iterdir() if not _is_temp(x.name)}
        except OSError:
            return False
        disk = _peek_state(d / STATE)
        saved_best = isinstance(disk, dict) and disk.get("best_rank") != self._before.get("best_rank")
        if saved_best or names - own - self._before_names:  # new pools, best.json: the search ran
            return False
        try:
            if self.resumed:
                if self._before_text is None:  # it could not be read then: nothing to put back
                    return False
                self.state = self._before
                with _locked(d):
                    _write_text(d / STATE, self._before_text)
            else:
                for name in (STATE, LOCK):
                    (d / name).unlink(missing_ok=True)
                self.close()
                if self._made_dir:
                    d.rmdir()
                self.written = False
        except OSError:
            return False
        self._before = None
        return True

    def finish(self, status: str) -> None:
        """The search ended ("found", "stopped" or "interrupted"); nothing is written for a
        search that never started (it was refused). GF(2) files no longer below the best valid
        rank are removed: a valid scheme as low exists, and resumed walks would start from them."""
        if self.written:
            self.state["status"] = status
            self._write()
            self._prune_gf2()

    def _prune_gf2(self) -> None:
        best = _best_rank(self.directory, self.state)
        if not best:
            return
        for path in self.directory.glob(f"{GF2_PREFIX}*.json"):
            try:
                if load_scheme(path).rank >= best:
                    path.unlink()
            except (FastmmError, OSError):
                continue  # unreadable: Checkpoint.starts ignores it already

    def _save_state(self) -> None:
        with _locked(self.directory):
            # best.json's: the walks' save_pool (worker processes too) replace it as they go
            self.state["best_rank"] = _best_rank(self.directory, self.state)
            self.state["updated"] = _now()
            _write_text(self.directory / STATE, json.dumps(self.state, indent=1) + "\n")

    def _write(self) -> None:
        """Writes after the first: a failure (a full disk) must not cost the search or what it
        found, so it is remembered (`write_error`) for the command to report."""
        try:
            self._save_state()
        except OutputError as exc:
            self.write_error = self.write_error or str(exc)


WALK_METHODS = ("flip", "pool", "ternary", "symmetric")  # the methods whose state a checkpoint keeps


def open_for_search(directory: str | os.PathLike, request) -> Checkpoint:
    """`--resume DIR` (the library's `resume=`) checked and locked for `request` (a
    fastmm.api.SearchRequest): InputError for the numerical methods, whose restarts keep no state,
    and for a directory `Checkpoint.open` refuses. Nothing is written yet."""
    try:
        text = os.fspath(directory)
    except TypeError:
        text = None
    if not isinstance(text, str):
        raise InputError(f"--resume: a directory name is text, got {directory!r}")
    if not text.strip():
        raise InputError("--resume: the directory name is empty")
    if "\0" in text:
        raise InputError("--resume: the directory name contains a NUL character")
    if request.method not in WALK_METHODS:
        raise InputError(f"--resume works with the walk methods ({', '.join(WALK_METHODS)}), not "
                         f"--method {request.method}: its restarts keep no state; run it again with "
                         "another --seed")
    try:
        return Checkpoint.open(text, request)
    except (OSError, ValueError) as exc:  # a name the system refuses (too long...)
        why = getattr(exc, "strerror", None) or exc
        raise InputError(f"--resume {text}: cannot be used ({why})") from None


class Watched:
    """A search's progress callback that keeps its checkpoint as it runs: each report noted,
    the seeds of each run reserved before they run (`seeds_starting`, which the runner looks
    for), and a scheme a report carries (`--minimize additions`: at the target rank, still
    improving) verified and offered as best.json. Then calls the caller's own callback."""

    def __init__(self, checkpoint: Checkpoint, on_progress: Callable | None = None):
        self.checkpoint, self.on_progress = checkpoint, on_progress

    def __call__(self, worker: int, progress) -> None:
        self.checkpoint.note_progress(worker, progress)
        if progress.scheme is not None:
            self.checkpoint.record_best(progress.scheme, same_rank=True, check=True)
        if self.on_progress is not None:
            self.on_progress(worker, progress)

    def seeds_starting(self, first: int, count: int) -> None:
        self.checkpoint.reserve(first, count)
        inner = getattr(self.on_progress, "seeds_starting", None)
        if inner is not None:
            inner(first, count)


def save_pool(directory: str | Path, seed: int, schemes: list[Scheme]) -> bool:
    """Write the lowest pool level of one seed (called from inside a search, throttled), and
    the lowest-rank one of `schemes` to best.json (with checkpoint.json's best_rank) if it
    verifies and beats the stored best (see `offer_best`), so that a search killed at any moment
    leaves its best scheme in best.json. A write that fails (a full disk) returns False: the
    search goes on, the previous files stay."""
    data = {"format": "fastmm.pool-checkpoint", "version": VERSION,
            "schemes": [scheme_to_dict(s) for s in schemes]}
    try:
        _write_text(Path(directory) / f"{POOL_PREFIX}{seed}.json", json.dumps(data) + "\n")
    except OutputError:
        return False
    if not schemes:
        return True
    try:
        offer_best(directory, min(schemes, key=lambda s: s.rank), check=True,
                   note={"seed": seed, "status": "the best so far, saved while the search ran"})
    except (OutputError, InputError):
        return False
    return True


def save_gf2_low(directory: str | Path | None, seed: int, schemes: list[Scheme]) -> bool:
    """Keep a walk's new lowest GF(2) scheme of a search over ZT or Z, one that has not lifted,
    as DIR/gf2-seed<S>.json: a scheme file labelled Z2 (valid modulo 2 only), verified modulo 2,
    so that no rank reached is lost. `--resume` walks on from it, and `fastmm show` or `verify`
    read it as any scheme. The caller offers only new lows, so each write replaces a higher one.
    False when nothing was written."""
    if directory is None or not schemes:
        return False
    from fastmm.verify import verify

    scheme = min(schemes, key=lambda s: s.rank).with_meta(ring="Z2")
    verdict = verify(scheme, use_sympy=False)
    if not verdict.ok:  # a walk's bug, never a file
        return False
    note = {"seed": seed, "status": "the lowest GF(2) rank walked to over ZT or Z; the search's lift "
            "(signs, Hensel for Z) found no scheme reducing to it (fastmm lift may try harder)"}
    scheme = scheme.with_meta(verified=verdict.record(), provenance={**scheme.provenance, **note})
    try:
        _write_text(Path(directory) / f"{GF2_PREFIX}{seed}.json", dumps(scheme))
    except (OutputError, InputError):
        return False
    return True


def offer_best(directory: str | Path, scheme: Scheme, same_rank: bool = False, check: bool = False,
               note: dict | None = None) -> bool:
    """Write `scheme` to DIR/best.json, and its rank to DIR/checkpoint.json's best_rank, if it beats
    the stored best.json: a lower rank, or (`same_rank`) the same rank with no more additions
    (fastmm.export.slp.count_additions, what --minimize additions counts). A best.json that is
    missing, unreadable, of another shape or that fails verification is replaced. `check`:
    verify `scheme` first (a walk's scheme; a scheme that fails is not written, one that passes
    is written with its "verified" record and `note` added to its provenance). The decision and
    the writes hold DIR's lock (several worker processes may offer at once); every write is
    atomic. True when best.json was replaced; OutputError when a write failed."""
    d = Path(directory)
    ring = _searched_ring(d)
    stored = _stored_best(d, scheme.shape, ring)
    if stored is not None and not _beats(scheme, stored, same_rank):
        return False  # the usual case, decided without the lock: a better one is kept
    if check:
        from fastmm.verify import verify

        verdict = verify(scheme, use_sympy=False)
        if not verdict.ok:
            return False
        scheme = scheme.with_meta(verified=verdict.record(), provenance={**scheme.provenance, **(note or {})})
    with _locked(d):
        stored = _stored_best(d, scheme.shape, ring)  # another process may have written one meanwhile
        if stored is not None and not _beats(scheme, stored, same_rank):
            return False
        _write_text(d / BEST, dumps(scheme))
        state = _peek_state(d / STATE)
        if state is not None:
            state["best_rank"] = scheme.rank
            state["updated"] = _now()
            _write_text(d / STATE, json.dumps(state, indent=1) + "\n")
    return True


def _beats(scheme: Scheme, stored: Scheme, same_rank: bool) -> bool:
    if scheme.rank != stored.rank:
        return scheme.rank < stored.rank
    return same_rank and _additions(scheme) <= _additions(stored)


def _additions(scheme: Scheme) -> int:
    """Additions as --minimize additions counts them (fastmm.export.slp.count_additions; 0.15 s
    for ⟨6,6,6;161⟩, and only same-rank offers count them)."""
    from fastmm.export.slp import count_additions

    return int(count_additions(scheme))


_STORED: dict[str, tuple[tuple, Scheme | None]] = {}  # best.json path -> (its stat, verified scheme)


def _check_best_shape(directory: Path, state: dict) -> None:
    """InputError when DIR/best.json is a verified scheme of another shape than checkpoint.json
    says: the directory is another search's (its checkpoint.json edited?), and resuming would
    replace that result. A best.json that is damaged or fails verification is replaced as usual,
    and so is a symlink (replaced, never written through: its target loses nothing)."""
    if (directory / BEST).is_symlink():
        return
    scheme = _verified_best(directory)  # read once: _best_rank finds it in the cache
    if scheme is None or scheme.shape == tuple(state["shape"]):
        return
    n, m, p = scheme.shape
    raise InputError(f"--resume {directory}: its {BEST} is a verified ⟨{n},{m},{p}⟩ scheme, not one of the "
                     f"shape {STATE} names; the directory was left as it was")


def _best_rank(directory: Path, state: dict) -> int | None:
    """The rank of DIR/best.json if it is a verified scheme of the checkpoint's shape, else None."""
    try:
        shape = tuple(state["shape"])
    except (KeyError, TypeError):
        return None
    stored = _stored_best(directory, shape, state.get("ring"))
    return stored.rank if stored is not None else None


def _searched_ring(directory: Path) -> str | None:
    """The ring checkpoint.json says the search is over (None where it cannot be read)."""
    state = _peek_state(directory / STATE)
    ring = state.get("ring") if state is not None else None
    return ring if isinstance(ring, str) else None


def _stored_best(directory: Path, shape: tuple, ring: str | None = None) -> Scheme | None:
    """DIR/best.json if it holds a scheme of `shape` that verifies and, where the searched `ring`
    is known, is valid in it, else None (QA-130: a scheme valid modulo 2 only, put there by hand,
    counted as a ZT search's best and kept every valid scheme above its rank out)."""
    from fastmm.scheme import scheme_serves

    scheme = _verified_best(directory)
    if scheme is None or scheme.shape != tuple(shape):
        return None
    if ring is not None and ring in ("ZT", "Z", "Z2", "Q") and not scheme_serves(scheme, ring):
        return None
    return scheme


def _verified_best(directory: Path) -> Scheme | None:
    """DIR/best.json if it holds a scheme (of any shape) that verifies, else None. Read and
    verified again only when the file changed (each write is a rename: a new inode)."""
    path = directory / BEST
    try:
        st = os.stat(path)
    except OSError:
        return None
    sig = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    key = str(path)
    cached = _STORED.get(key)
    if cached is not None and cached[0] == sig:
        scheme = cached[1]
    else:
        from fastmm.verify import verify

        try:
            scheme = load_scheme(path)
            if not verify(scheme, use_sympy=False).ok:
                scheme = None
        except (FastmmError, OSError, ValueError, TypeError):  # damaged or edited by hand
            scheme = None
        _STORED[key] = (sig, scheme)
    return scheme


@contextlib.contextmanager
def _locked(directory: Path, wait: float = 10.0) -> Iterator[None]:
    """DIR's write lock (flock on DIR/checkpoint.lock), held for a few file writes. Where locks
    do not work (or the holder is stuck past `wait` seconds) the writes go on unlocked: each is
    atomic anyway."""
    lock = Path(directory) / LOCK
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW  # never created or opened elsewhere
    try:
        try:
            fd = os.open(lock, flags, 0o666)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            lock.unlink()  # a symlink under the lock's name: replaced by the lock file, as DIR's files are
            fd = os.open(lock, flags, 0o666)
    except OSError:
        yield
        return
    try:
        wait_lock(fd, wait)  # held, or not after `wait` seconds, or no locks: the writes go on
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_text(path: Path, text: str) -> None:
    """Write one of DIR's files atomically (OutputError in one line). A symlink at `path` is
    replaced, not followed: a best.json linked to a file outside DIR leaves that file as it was."""
    write_atomic(path, text, make_parents=True, follow_links=False)


_TEMP = re.compile(r"\.fastmm-[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp's 8 characters


def _is_temp(name: str) -> bool:
    """A temporary file of fastmm.paths.write_atomic: ".fastmm-", mkstemp's 8 characters, ".tmp"."""
    return _TEMP.fullmatch(name) is not None


def _peek_state(path: Path) -> dict | None:
    """checkpoint.json as it is on disk, or None where it is missing or unreadable."""
    try:
        state = load_json(read_text(path, limit=MAX_STATE_BYTES), str(path))
    except (FastmmError, OSError):
        return None
    return state if isinstance(state, dict) and state.get("format") == FORMAT else None


def _identity(request) -> dict:
    """What a checkpoint must match to be continued by `request` (a fastmm.api.SearchRequest)."""
    return {"shape": list(request.shape), "ring": request.ring, "method": request.method,
            "symmetry": request.symmetry}


def _check_identity(directory: Path, state: dict, what: dict) -> None:
    for key, want in what.items():
        got = state.get(key)
        if key == "symmetry" and got is None and state.get("method") == "symmetric":
            continue  # written before --method symmetric recorded its group (c3 or c3j): either goes on
        if got != want:
            raise InputError(f"--resume {directory}: the checkpoint is for {key} {_shown(got)}, "
                             f"not {_shown(want)}; the directory was left as it was")


class BestSaver:
    """A walk's best valid scheme kept on disk while it runs (pool-seed<S>.json, read back by
    `--resume`; with `gf2`, its lowest GF(2) scheme that did not lift, gf2-seed<S>.json),
    written at most every `every` seconds: a kill loses at most that much, `close` loses nothing."""

    def __init__(self, directory: str | Path | None, seed: int, every: float = 2.0, gf2: bool = False,
                 lift: Callable[[Scheme], bool] | None = None):
        self.directory, self.seed, self.every, self.gf2 = directory, seed, every, gf2
        self.write = save_gf2_low if gf2 else save_pool
        # gf2: the walk's own lift, tried once before a scheme is written as one that did not lift
        # (true when it lifted: the walk took the lifted scheme as its best, nothing is written)
        self.lift = lift
        self.pending: Scheme | None = None
        # gf2: the lowest scheme that did not lift, kept in memory with or without a directory
        # (the search's outcome carries it, so a search without --resume loses it neither)
        self.kept: Scheme | None = None
        # a GF(2) low usually lifts at once (or the walk goes lower): the first one waits `every` too
        self.last = time.monotonic() if gf2 else float("-inf")

    def offer(self, scheme: Scheme | None) -> None:
        if scheme is not None and (self.directory is not None or self.gf2):
            self.pending = scheme
            self.flush()

    def flush(self) -> None:
        """Write the pending scheme if one waits and the last write is `every` seconds old."""
        if self.pending is None or time.monotonic() - self.last < self.every:
            return
        self.close()

    def settle(self, rank: int | None) -> None:
        """The walk's best valid scheme has `rank` (None: none yet): a pending GF(2) scheme no
        lower is not worth keeping."""
        if rank is not None and self.pending is not None and self.pending.rank >= rank:
            self.pending = None

    def close(self) -> None:
        """Write the pending scheme now (the walk ends)."""
        if self.pending is not None:
            pending, self.pending, self.last = self.pending, None, time.monotonic()
            if self.lift is None or not self.lift(pending):
                if self.gf2:
                    self.kept = pending
                if self.directory is not None:
                    self.write(self.directory, self.seed, [pending])

    def low(self, best: Scheme | None) -> Scheme | None:
        """gf2: the kept scheme when it is below `best` (the walk's best valid scheme), else None."""
        kept = self.kept
        return kept if kept is not None and (best is None or kept.rank < best.rank) else None


def _shown(value) -> str:
    """A checkpoint field in a message: None (no symmetry) as none."""
    return "none" if value is None else repr(value)


def _read_state(path: Path) -> dict:
    try:  # the validation layer: regular files only, bounded size and depth, finite numbers
        state = load_json(read_text(path, limit=MAX_STATE_BYTES), str(path))
    except FastmmError as exc:
        raise InputError(f"--resume: {path} is not a readable checkpoint ({exc}); "
                         "the directory was left as it was") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"--resume: {path} is not a fastmm search checkpoint")
    if state.get("version") != VERSION:
        raise InputError(f"--resume: {path} is checkpoint version {state.get('version')!r}; this "
                         f"fastmm reads version {VERSION}")
    seeds = state.get("seeds_used")
    nxt = state.get("next_seed")
    if not isinstance(seeds, list) or not all(_count(s, STORED_SEED_LIMIT) for s in seeds) or \
            not (nxt is None or _count(nxt, STORED_SEED_LIMIT + 1)):
        raise InputError(f"--resume: {path} has malformed seeds; the directory was left as it was")
    if seeds and (nxt is None or nxt <= max(seeds)):  # fastmm keeps next_seed past every used seed
        raise InputError(f"--resume: {path} has malformed seeds (next_seed {nxt!r} is not past the "
                         f"used seed {max(seeds)}, so a seed would run twice); the directory was left "
                         "as it was")
    best = state.get("best_rank")
    if not (best is None or (_count(best) and best > 0)):
        raise InputError(f"--resume: {path} has a malformed best_rank ({best!r}); the directory "
                         "was left as it was")
    if not isinstance(state.get("progress"), dict):
        state["progress"] = {}  # only informative: a damaged note is started afresh
    return state


def _count(x: object, limit: int = SEED_LIMIT) -> bool:
    """A seed or a rank as a checkpoint may hold it: a non-negative int below `limit` (not a bool)."""
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < limit


def _count_of(k: int, thing: str) -> str:
    """'1 seed', '2 seeds'."""
    return f"{k} {thing}{'' if k == 1 else 's'}"


def _read_schemes(path: Path) -> list[Scheme]:
    """Schemes in a best.json or pool file; a damaged file is an error naming it."""
    try:
        if path.name == BEST or path.name.startswith(GF2_PREFIX):
            return [load_scheme(path)]
        data = load_json(read_text(path, limit=MAX_POOL_BYTES), str(path))
        if isinstance(data, dict) and isinstance(data.get("schemes"), list):
            return [scheme_from_dict(d) for d in data["schemes"]]
        problem = "not a pool checkpoint"
    except FastmmError as exc:
        problem = f"not readable ({exc})"
    raise InputError(f"--resume: {path} is {problem}; the directory was left as it was")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
