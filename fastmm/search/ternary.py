"""`--method ternary`: flip-graph random walks directly over ZT (Perminov 2025), no lifting.

The walk lives in ternary_py.py (plain Python, the reference), flip_c.py with csrc/ternwalk.c
(C) and ternary_kernels.py (numba), the same walk step for step. The C walk is the default
wherever a C compiler (or a library built before) is at hand: it loads in about a millisecond
and walks 2.7-3.6 times as fast as numba (steps per CPU second, ⟨3,4,5⟩ from rank 48 and
⟨5,5,6⟩ from 110); without it numba walks, plain Python tiny shapes. Every coefficient stays
in {-1, 0, 1}, so the schemes the walk reaches are exact ZT schemes: there is nothing to lift,
only to convert and verify. This module runs restarts, time limits and progress reports, and
returns a SearchOutcome (see fastmm.search.base).

Options (task.options): start (a ZT Scheme to walk from instead of the naive one), backend
("c" | "numba" | "python"), plateau, restart_steps, chunk, plus_limit (default: the naive rank from
the naive scheme, the start's rank + START_PLUS from a given start).

From a good start the plus transitions are what moves the walk: a walk at its start's rank
with no room above it only flips. From the catalogue's ⟨5,5,6;112⟩ with plus transitions up
to 116 a ternary walk reached ⟨5,5,6;110⟩ (the best known rank) in 148 s, where GF(2) pools
from the same 112 had stayed there for 600 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastmm.errors import InputError
from fastmm.scheme import Scheme, naive_scheme, scheme_serves
from fastmm.search import flip, flip_c, flip_py, ternary_py
from fastmm.search.base import (
    Progress,
    Reporter,
    SearchOutcome,
    SearchTask,
    StopFlag,
    check_walk_sizes,
    resumed_start,
)
from fastmm.search.checkpoint import BestSaver
from fastmm.search.flip import BaseWalker, warm_numba
from fastmm.search.ternary_py import TernaryTerms, to_scheme, to_terms

_KERNEL = None
START_PLUS = 4  # default room for plus transitions above a given start's rank
PLATEAU = 20_000  # flips between plus transitions, C and numba walks (as flip.py's)


def load_kernel():
    """The numba ternary walk, loaded from numba's cache (compiled on first use) and warmed up."""
    global _KERNEL
    if _KERNEL is None:
        import numpy as np

        from fastmm.search import ternary_kernels

        one = np.ones(2, dtype=np.int64)
        zero = np.zeros(2, dtype=np.int64)
        warm_numba(lambda: ternary_kernels.walk(one.copy(), one.copy(), one.copy(), zero.copy(),
                                                zero.copy(), zero.copy(),
                                                np.array([1, 0], dtype=np.int64),
                                                np.zeros(1, dtype=np.uint64), 1, 0, 10, 0))
        _KERNEL = ternary_kernels.walk
    return _KERNEL


class Walker(BaseWalker):
    """One ternary random walk (six factor arrays: mask and sign of a, b and c)."""

    load = staticmethod(load_kernel)
    load_c = staticmethod(flip_c.load_ternary)
    python_walk = staticmethod(ternary_py.walk)


def choose_backend(task: SearchTask) -> str:
    """"c", "numba" or "python" for the ternary walk (flip.choose_backend): options["backend"],
    else the C walk wherever it loads and the factors fit an int64, else numba (plain Python for
    tiny shapes or without numba)."""
    return flip.choose_backend(task, flip_c.load_ternary, c_max_volume=None)


def reduce_terms(terms: TernaryTerms, stop: Callable[[], bool] | None = None) -> TernaryTerms:
    """Apply every reduction (zero factors, two factors shared up to sign) to a list of terms;
    `stop` (a search's deadline) may end it early, leaving fewer reductions done."""
    F = [list(f) for f in terms]
    r = len(F[0])
    r = ternary_py._settle(F, r, list(range(r)), stop)
    return tuple(f[:r] for f in F)  # type: ignore[return-value]


def checked(scheme: Scheme) -> Scheme:
    """The scheme itself after the exact Brent check over ZT; a failure is an internal bug."""
    from fastmm.verify import verify

    v = verify(scheme, use_sympy=False)
    if not (v.ok and v.ring == "ZT"):
        raise AssertionError(f"internal error: the ternary walk produced an invalid scheme "
                             f"{scheme.label()}: " + "; ".join(v.report.lines(False, limit=3)))
    return scheme


def run(task: SearchTask, report: Reporter, should_stop: StopFlag) -> SearchOutcome:
    """Random ternary flip-graph walks until a ZT scheme of rank <= task.rank is found."""
    t0 = time.perf_counter()
    shape = task.shape
    n, m, p = shape
    opts = task.options
    if task.ring == "Z2":
        raise InputError("the ternary method searches over ZT (valid over Z too), not Z2: "
                         "use --method flip for --ring Z2")
    if task.ring not in ("ZT", "Z"):
        raise InputError(f"the ternary method searches over ZT or Z, not {task.ring!r}")
    check_walk_sizes("ternary", opts, shape)  # before any array is allocated
    resumed = resumed_start(task, lambda s: scheme_serves(s, "ZT"))
    start = opts.get("start") or resumed or naive_scheme(n, m, p)
    if not isinstance(start, Scheme) or start.shape != shape:
        raise InputError(f"the start scheme must be a Scheme of shape {shape}")
    deadline = t0 + task.time_limit if task.time_limit is not None else None

    def stopping() -> bool:  # looked at between pieces of a long walk
        return should_stop() or (deadline is not None and time.perf_counter() >= deadline)

    try:  # a start of 40,000 terms takes a minute to reduce: within the time limit
        start_terms = reduce_terms(to_terms(start), stopping)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    start_scheme = to_scheme(shape, start_terms)
    from fastmm.verify import verify

    if not verify(start_scheme, use_sympy=False).ok:
        raise InputError(f"the start scheme {start.label()} is not a valid ZT scheme")

    backend = choose_backend(task)
    fast = backend in ("c", "numba")
    r0 = len(start_terms[0])
    size = max(r0 / 27, 1.0)
    # as in flip.py: a constant plateau (20,000 flips between plus transitions), longer walks
    # before a restart for bigger tensors
    plateau = int(opts.get("plateau", PLATEAU if fast else 5_000))
    restart_steps = int(opts.get("restart_steps", int(3_000_000 * size**3) if fast else 300_000))
    chunk = int(opts.get("chunk", 200_000 if fast else max(100, int(3_000 / size))))
    given = opts.get("start") is not None or resumed is not None
    plus_limit = int(opts.get("plus_limit", r0 + START_PLUS if given else r0))
    prov = {"method": "ternary", "seed": task.seed, "backend": backend, "plus_limit": plus_limit}
    if opts.get("start") is not None:
        prov["start"] = start.label()
    elif resumed is not None:
        prov["start"] = f"{start.label()} saved in the --resume directory"
    steps = 0
    restarts = 0
    last_report = t0
    best = start_scheme  # the lowest-rank scheme seen (valid ZT)
    saver = BestSaver(opts.get("checkpoint_dir"), task.seed)  # --resume: kept while it walks

    def outcome(stopped: str) -> SearchOutcome:
        info = dict(prov, steps=steps, restarts=restarts, seconds=round(time.perf_counter() - t0, 3))
        s = checked(best).with_meta(provenance=info)
        found = s.rank <= task.rank
        return SearchOutcome(
            scheme=s if found else None, best=None if found else s,
            steps=steps, restarts=restarts, seconds=time.perf_counter() - t0,
            stopped="found" if found else stopped, seed=task.seed,
        )

    if best.rank <= task.rank:
        return outcome("found")
    while True:
        walker = Walker(start_terms, flip_py.seed_state(task.seed) + restarts, backend, plus_limit)
        walker.stop = stopping
        since_restart = 0  # steps since this walk's last new low
        walk_low = walker.rank
        while since_restart < restart_steps:
            now = time.perf_counter()
            if should_stop():
                return outcome("stopped")
            if deadline is not None and now >= deadline:
                return outcome("time")
            if now - last_report >= 0.25:
                last_report = now
                report(Progress(rank=best.rank, steps=steps, restarts=restarts, elapsed=now - t0,
                                note=f"rank {walker.rank} ({backend})"))
            done = walker.walk(chunk, max(task.rank, best.rank - 1), plateau, plus_limit)
            steps += done
            since_restart += done
            if walker.rank < walk_low:
                walk_low, since_restart = walker.rank, 0
            if walker.rank < best.rank:
                best = to_scheme(shape, walker.terms())
                if best.rank <= task.rank:
                    return outcome("found")
                saver.offer(best)
            saver.flush()
        restarts += 1
