"""What every search method receives and returns; the runner adds workers, time limits and I/O.

A method is a function `run(task, report, should_stop) -> SearchOutcome` living in its own
module of fastmm.search and registered in METHODS. It must:

* return as soon as it has a scheme of rank <= task.rank valid in task.ring, or when
  `should_stop()` is true (time limit, Ctrl-C, another worker won) — returning the best
  valid scheme it has (any rank) in `best`;
* call `report(Progress(...))` now and then (about every 0.1–0.5 s) so the user sees work;
* be deterministic for a given task (seed included).

The runner verifies every scheme a method returns before it is shown or written.
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastmm.scheme import Scheme

SEARCH_RINGS = ("ZT", "Z", "Z2")


@dataclass(frozen=True)
class SearchTask:
    n: int
    m: int
    p: int
    rank: int  # target: stop at a scheme of this rank or lower
    ring: str = "ZT"  # ZT: coefficients in {-1,0,1}; Z: integers; Z2: valid modulo 2 only
    seed: int = 0
    time_limit: float | None = None  # seconds; None = until stopped
    options: dict = field(default_factory=dict)  # method-specific knobs

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n, self.m, self.p)


@dataclass
class Progress:
    rank: int  # lowest rank of a valid scheme (in the searched ring) reached so far
    steps: int = 0  # method-defined unit of work (flips, SGD steps, ...)
    restarts: int = 0
    elapsed: float = 0.0
    note: str = ""
    # a scheme of rank <= the target, valid in the ring, reported while the search goes on
    # (--minimize additions: the one found, then each with fewer additions) so that the caller
    # can keep it before the search ends; None in ordinary reports
    scheme: Scheme | None = None


class SearchClock:
    """Elapsed time, the stop conditions (time limit, `should_stop`) and throttled progress
    reports of one search: `poll(...)` reports at most every `every` seconds and is true once
    the search must end (`stopped` then says why: "time" or "stopped")."""

    def __init__(self, task: SearchTask, report: Reporter, should_stop: StopFlag,
                 every: float = 0.25):  # seconds between progress reports
        self.task, self.report, self.should_stop, self.every = task, report, should_stop, every
        self.start = time.perf_counter()
        self.stopped: str | None = None
        self._last_report = -1.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def expired(self) -> bool:
        """Whether the search must end now (sets `stopped`); no report (for long inner loops)."""
        if self.task.time_limit is not None and self.elapsed >= self.task.time_limit:
            self.stopped = "time"
        elif self.should_stop():
            self.stopped = "stopped"
        return self.stopped is not None

    def poll(self, steps: int, restarts: int, note: str) -> bool:
        self.expired()
        now = self.elapsed
        if now - self._last_report >= self.every or self.stopped:
            self._last_report = now
            self.report(Progress(rank=self.task.rank, steps=steps, restarts=restarts, elapsed=now,
                                 note=note))
        return self.stopped is not None


@dataclass
class SearchOutcome:
    scheme: Scheme | None  # rank <= task.rank and valid in task.ring, or None
    best: Scheme | None = None  # lowest-rank valid scheme seen (may be above the target)
    steps: int = 0
    restarts: int = 0
    seconds: float = 0.0
    stopped: str = "found"  # "found" | "time" | "stopped" | "restarts" (max_restarts used up)
    seed: int = 0
    # searches over ZT / Z walking over GF(2): the lowest scheme below `best` that is valid modulo
    # 2 only (the walk's lift found no scheme reducing to it), or None
    mod2: Scheme | None = None

    @property
    def best_rank(self) -> int | None:
        s = self.scheme or self.best
        return s.rank if s is not None else None


Reporter = Callable[[Progress], None]
StopFlag = Callable[[], bool]
MethodFn = Callable[[SearchTask, Reporter, StopFlag], SearchOutcome]

# method name -> "module:function" (imported lazily so `search` pays only for what it uses)
METHODS: dict[str, str] = {
    "als": "fastmm.search.als:run",
    "flip": "fastmm.search.flip:run",
    "pool": "fastmm.search.pool:run",
    "spn": "fastmm.search.spn:run",
    "ternary": "fastmm.search.ternary:run",
    "symmetric": "fastmm.search.symmetric:run",
}


# the task.options each walk method reads (tests/search/test_options.py checks the lists against
# the code); als and spn check theirs against their config classes when they start
# (exclude_catalog_shapes: only pool reads the catalogue; the others honour it by never reading it)
_ANY_WALK = frozenset({"minimize", "minimize_seconds", "checkpoint_dir", "starts", "backend", "device",
                       "chunk", "plateau", "plus_limit", "exclude_catalog_shapes"})
WALK_OPTIONS: dict[str, frozenset[str]] = {
    "flip": _ANY_WALK | {"start", "restart_steps", "kicks", "lift_every", "lift_tries", "sample_every",
                         "rescue"},
    "pool": _ANY_WALK | {"start", "constructions", "max_starts", "start_index",
                         "pool_size", "plus", "limit", "max_limit", "level_attempts", "stalls",
                         "lift_every", "liftable_pools", "meta", "walk", "ternary_polish", "rescue"},
    "ternary": _ANY_WALK | {"start", "restart_steps"},
    "symmetric": _ANY_WALK | {"start", "cubes", "restart_steps", "lift_every", "group", "liftable"},
}


# the walk options that are counts (name -> least value) and the others that are plain values
_WALK_COUNTS = {"plateau": 1, "restart_steps": 1, "kicks": 0, "lift_every": 1, "lift_tries": 1,
                "sample_every": 1, "chunk": 1, "plus_limit": 0, "pool_size": 1, "plus": 0, "limit": 1,
                "max_limit": 1, "level_attempts": 1, "stalls": 1, "max_starts": 1, "start_index": 0,
                "ternary_polish": 0}
_WALK_SHARES = {"meta", "rescue"}  # in [0, 1]
_WALK_FLAGS = {"constructions", "liftable_pools", "liftable"}


CUBE_GROUPINGS = ("pairs", "consecutive", "singles", "one")  # the symmetric walk's named `cubes`
CUBES_FORM = (f"must be a count ≥ 1, one of {', '.join(CUBE_GROUPINGS)}, or 0-based index groups "
              "such as [[0,1],[2,3]]")


def cubes_option_ok(value: object) -> bool:
    """The symmetric walk's `cubes` in a form it reads: a count, a name in CUBE_GROUPINGS or lists
    of indices (their range is checked against n by symmetric.cube_groups)."""
    def whole(x: object) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if whole(value):
        return 1 <= value < 2**31
    if isinstance(value, str):
        return value in CUBE_GROUPINGS
    return isinstance(value, list | tuple) and bool(value) and all(
        isinstance(g, list | tuple) and g and all(whole(i) for i in g) for g in value)


def cube_count_error(n: int, count: object) -> str | None:
    """Why `cubes` given as a count cannot serve ⟨n,n,n⟩ (None if it can): there is at most one
    cube per diagonal index, so a count above n was silently run as n singles."""
    if isinstance(count, int) and not isinstance(count, bool) and not 1 <= count <= n:
        return (f"cubes: ⟨{n},{n},{n}⟩ has {n} diagonal indices, so a count of cube groups must be "
                f"in 1..{n}, got {count}")
    return None


def walk_size_limits(options: dict, shape: tuple[int, int, int]) -> dict[str, int]:
    """The most each count that sizes a walk's arrays may be for `shape`: plus_limit (the rank a
    plus transition may reach: the walk allocates that many term slots), pool's `plus` (room
    above a level, the same) and flip's `kicks` (plus transitions in a row). A walk never needs
    more terms than the naive scheme, n·m·p, or its own start; larger values only allocated
    gigabytes (plus_limit=200000000: 4.7 GB and past the time limit) or ran out of memory."""
    n, m, p = shape
    naive = n * m * p
    start = options.get("start")
    top = max(naive, start.rank if isinstance(start, Scheme) else 0)
    return {"plus_limit": top, "plus": naive, "kicks": naive}


def check_walk_sizes(method: str, options: dict, shape: tuple[int, int, int]) -> None:
    """One InputError for a count too large for `shape` (walk_size_limits; the cube count of the
    symmetric walk at most n), before any array is allocated."""
    from fastmm.errors import InputError

    n, m, p = shape
    for name, most in walk_size_limits(options, shape).items():
        value = options.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > most:
            what = "n·m·p, the naive rank" if most == n * m * p else "the start scheme's rank"
            raise InputError(f"{method} option {name} must be at most {most} for ⟨{n},{m},{p}⟩ "
                             f"({what}: a walk never needs more terms), got {value!r}")
    if method == "symmetric" and n == m == p:
        why = cube_count_error(n, options.get("cubes"))
        if why is not None:
            raise InputError(f"{method} option {why}")


def check_walk_options(method: str, options: dict, shape: tuple[int, int, int] | None = None) -> None:
    """One InputError naming any option the walk method `method` would not read (a typo would
    otherwise be ignored without a word), or a count, share or flag of the wrong type or range
    (with `shape`, also a count too large for it: check_walk_sizes)."""
    from fastmm.errors import InputError

    known = WALK_OPTIONS.get(method)
    if known is None:
        return
    unknown = sorted(str(k) for k in options if k not in known)
    if unknown:  # checkpoint_dir and starts are set by resume (--resume), never given by hand
        shown = sorted(known - {"checkpoint_dir", "starts"})
        raise InputError(f"unknown {method} option(s): {', '.join(unknown)} (known: {', '.join(shown)})")
    for name, value in options.items():
        # an int of any size is a number (math.isfinite overflows on one past a float's range)
        number = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value))
        if name in _WALK_COUNTS and not (number and value == int(value)
                                         and _WALK_COUNTS[name] <= value < 2**62):
            raise InputError(f"{method} option {name} must be a whole number ≥ {_WALK_COUNTS[name]}, "
                             f"got {value!r}")
        if name in _WALK_SHARES and not (number and 0 <= value <= 1):
            raise InputError(f"{method} option {name} must be a number in [0, 1], got {value!r}")
        if name in _WALK_FLAGS and not isinstance(value, bool):
            raise InputError(f"{method} option {name} must be true or false, got {value!r}")
        if name == "exclude_catalog_shapes" and not (
                isinstance(value, list | tuple) and all(
                    isinstance(x, list | tuple) and len(x) == 3
                    and all(isinstance(d, int) and not isinstance(d, bool) for d in x) for x in value)):
            raise InputError(f"{method} option {name} must be a list of shapes [n, m, p], got {value!r}")
        # before any checkpoint is written; an array's `in` would be numpy's ambiguous truth value
        if name == "backend" and not (isinstance(value, str) and value in ("c", "numba", "python")):
            raise InputError(f"unknown walk backend {value!r} (c, numba or python)")
        if name == "walk" and not (isinstance(value, str) and value in ("gf2", "ternary")):
            raise InputError(f"{method} option walk must be gf2 or ternary, got {value!r}")
        if name == "cubes" and not cubes_option_ok(value):
            raise InputError(f"{method} option cubes {CUBES_FORM}; got {value!r}")
        if name == "checkpoint_dir" and not isinstance(value, str | os.PathLike):
            raise InputError(f"{method} option {name} must be a directory path, got {value!r}")
        if name == "minimize_seconds" and not (number and value > 0):
            raise InputError(f"{method} option {name} must be a positive number, got {value!r}")
    if shape is not None:
        check_walk_sizes(method, options, shape)


def saved_schemes(task: SearchTask, fits: Callable[[Scheme], bool]) -> list[Scheme]:
    """The schemes the checkpoint saved (options "starts", verified on reading) of this shape
    that `fits` and do not already answer the task (a rank above the target, or valid modulo 2
    only: a GF(2) scheme that did not lift)."""
    from fastmm.scheme import scheme_serves

    return [s for s in task.options.get("starts", ()) if isinstance(s, Scheme) and s.shape == task.shape
            and fits(s) and not (s.rank <= task.rank and scheme_serves(s, task.ring))]


def resumed_start(task: SearchTask, fits: Callable[[Scheme], bool]) -> Scheme | None:
    """The scheme a `--resume`d walk goes on from: of `saved_schemes(task, fits)`, one of the
    lowest rank (valid beyond Z2 first; the seed picks among equals, so parallel workers spread
    out). None when there is none or the user gave `--start`: the walk starts afresh, and a
    search that is done finds new schemes with its fresh seeds (`--distinct`)."""
    if task.options.get("start") is not None:
        return None
    saved = saved_schemes(task, fits)
    if not saved:
        return None
    low = min(s.rank for s in saved)
    lowest = [s for s in saved if s.rank == low]
    lowest = [s for s in lowest if s.ring != "Z2"] or lowest  # a lifted one before a GF(2) one
    return lowest[task.seed % len(lowest)]


def method_function(name: str) -> MethodFn:
    """The method's run function; a missing optional dependency is one clear error."""
    from fastmm.errors import FastmmError

    target = METHODS[name]
    module, func = target.split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise FastmmError(f"--method {name} needs PyTorch: pip install 'fastmm[nn]' "
                              "(pip install torch==2.13.0 takes the CPU build)") from None
        raise


def valid_rank_note(best_valid: int | None, mod2_low: int, note: str) -> tuple[int, str]:
    """(rank, note) for a progress report of a GF(2) walk: the rank is that of the best scheme
    valid in the searched ring; a lower GF(2) rank that did not lift goes into the note, as
    "mod 2 R". `best_valid` None shows the walk's own rank: right for Z2 walks, where every
    scheme of the walk is valid (walks over ZT and Z pass the best valid scheme they have, the
    naive one when they start from a scheme valid modulo 2 only)."""
    if best_valid is None:
        return mod2_low, note
    if mod2_low < best_valid:
        note = f"{note}, mod 2 {mod2_low}"
    return best_valid, note
