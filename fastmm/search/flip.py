"""`--method flip`: flip-graph random walks over GF(2), lifted to ZT / Z (Kauers & Moosbauer 2022).

The walk itself lives in flip_py.py (plain Python, the reference), flip_c.py with
csrc/flipwalk.c (C) and flip_kernels.py (numba), the same walk step for step; lifting lives in
lift.py. This module runs restarts, time limits, progress reports and lifting, and returns a
SearchOutcome (see fastmm.search.base).

The C walk is the default up to n·m·p = 60 wherever a C compiler (or a library built before) is
at hand: it loads in about a millisecond, where importing numba and loading its cached kernel
take ~0.5 s, more than a whole small search. Bigger shapes walk with numba, a little faster
there; without either, in plain Python.

Options (task.options): start (a Scheme to walk from instead of the naive one),
minimize="additions" (keep walking at the target rank and return the scheme with the fewest
additions; every scheme the walk visits at that rank is scored by its plain addition count
and the cheapest ones are lifted and counted exactly), backend ("c" | "numba" | "python"),
plateau, restart_steps, lift_every, lift_tries, sample_every, chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastmm.errors import InputError
from fastmm.scheme import Scheme, naive_scheme, scheme_serves
from fastmm.search import flip_c, flip_py
from fastmm.search.base import (
    Progress,
    Reporter,
    SearchOutcome,
    SearchTask,
    StopFlag,
    check_walk_sizes,
    resumed_start,
    saved_schemes,
    valid_rank_note,
)
from fastmm.search.checkpoint import BestSaver
from fastmm.search.lift import RESCUE_SHARE, Rescue, residual
from fastmm.search.terms import Terms, gf2_tensor_ok, plain_additions_terms, to_scheme, to_terms

PYTHON_MAX_VOLUME = 12  # without the C walk: n·m·p up to which plain Python beats loading numba
# n·m·p up to which the C walk is the default. The C and numba walks are equally fast at 27 and
# 48 terms, but on an AVX-512 CPU numba's scans beat the C build's AVX2 ones by 5-10% from 64
# terms on, where searches run long enough that numba's ~0.5 s load no longer counts.
C_MAX_VOLUME = 60
MAX_BITS_NUMBA = 63  # factor bitmasks must fit an int64 (the C and numba walks)
BACKENDS = ("c", "numba", "python")
# term slots scanned by one piece of a walk that looks at its stop flag (BaseWalker.stop):
# measured here, the compiled walks scan ~600 million slots a second (⟨3,3,3⟩ 24M steps/s,
# ⟨6,6,6⟩ 3M), plain Python ~3 million, so a piece takes well under 0.1 s
PIECE_SLOTS = {"c": 2**25, "numba": 2**25, "python": 2**18}


def walk_piece(backend: str, cap: int) -> int:
    """Steps of one piece of a long walk over `cap` term slots (PIECE_SLOTS)."""
    return max(64, PIECE_SLOTS.get(backend, 2**18) // max(cap, 1))


def walk_in_pieces(walk: Callable[[int], int], steps: int, piece: int, finished: Callable[[], bool]) -> int:
    """walk(k) (k steps at most, returns those done) called in pieces of `piece` steps until
    `steps` are done or finished() (the target reached, a stop request); returns the steps done."""
    done = 0
    while True:
        done += walk(min(piece, steps - done))
        if done >= steps or finished():
            return done


_KERNEL = None


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def warm_numba(call) -> None:
    """Run `call` (a first numba kernel call: loads it from numba's cache or compiles it).

    numba's first call imports its whole typing registry, and with it `scipy.linalg` only to
    check for a BLAS that these integer kernels never use; that import alone costs ~0.5–1 s.
    While the kernel loads, `scipy.linalg` is marked unavailable (unless something imported it
    already) and the mark is removed afterwards, so later imports of scipy are unaffected.
    """
    import sys

    blocked = "scipy.linalg" not in sys.modules and "numba.np.arraymath" not in sys.modules
    if blocked:
        sys.modules["scipy.linalg"] = None  # type: ignore[assignment]
    try:
        call()
    finally:
        if blocked and sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]


def load_kernel():
    """The numba GF(2) walk, loaded from numba's cache (compiled on first use) and warmed up."""
    global _KERNEL
    if _KERNEL is None:
        import numpy as np

        from fastmm.search import flip_kernels

        one = np.ones(2, dtype=np.int64)
        warm_numba(lambda: flip_kernels.walk(one.copy(), one.copy(), one.copy(),
                                             np.array([1, 0], dtype=np.int64),
                                             np.zeros(1, dtype=np.uint64), 1, 0, 10, 0))
        _KERNEL = flip_kernels.walk
    return _KERNEL


class BaseWalker:
    """One random walk: the factor arrays, rank, plateau counter and generator state.

    Subclasses name their numba kernel loader and plain-Python walk; the kernel takes the
    factor arrays (three for GF(2) terms, six for ternary ones) followed by the shared state.
    A subclass with a C walk names its loader too (`load_c`: a flip_c.Kernel or None).
    """

    load = staticmethod(load_kernel)
    load_c = None
    python_walk = staticmethod(flip_py.walk)

    def __init__(self, terms, seed: int, backend: str, plus_limit: int):
        self.backend = backend
        # looked at between pieces of a long walk (the time limit, Ctrl-C): one compiled call of
        # --option chunk=10**12 steps ran for hours, deaf to both; None: one call per walk
        self.stop: StopFlag | None = None
        r = len(terms[0])
        cap = max(r, plus_limit) + 2
        if backend in ("c", "numba"):
            import numpy as np

            cap = -(-cap // 8) * 8  # both compiled walks scan whole blocks of 8 slots

            self.F = [np.zeros(cap, dtype=np.int64) for _ in terms]
            for f, src in zip(self.F, terms, strict=True):
                f[:r] = src
            self.st = np.array([r, 0], dtype=np.int64)
            self.rng = np.array([flip_py.seed_state(seed)], dtype=np.uint64)
            if backend == "numba":
                self._kernel = self.load()
            else:
                self._c = self.load_c() if self.load_c is not None else None
                if self._c is None:
                    raise InputError("the C walk is not available (it needs a C compiler)")
                self._scratch = np.empty(cap, dtype=np.int64)
                # the arrays never move: their addresses are taken once
                self._c_args = (*(f.ctypes.data for f in self.F), cap,
                                self._scratch.ctypes.data, self.st.ctypes.data,
                                self.rng.ctypes.data)
        else:
            self.F = [list(src) + [0] * (cap - r) for src in terms]
            self.st = [r, 0]
            self.rng = [flip_py.seed_state(seed)]
        self.cap = cap

    @property
    def rank(self) -> int:
        return int(self.st[0])

    def walk(self, steps: int, target: int, plateau: int, plus_limit: int) -> int:
        """Up to `steps` steps, stopping at rank <= target; returns the steps done. With `stop`
        set, in pieces of walk_piece steps, looking at `stop` between them (the walk is the
        same step for step: its whole state lives in the arrays)."""
        # a plus transition writes its new term into slot r < plus_limit: never past the arrays
        # (a kick asks for rank + kicks, more than they may hold: it wrote over the heap)
        plus_limit = min(plus_limit, self.cap)
        if self.stop is None:
            return self._walk(steps, target, plateau, plus_limit)
        return walk_in_pieces(lambda k: self._walk(k, target, plateau, plus_limit), steps,
                              walk_piece(self.backend, self.cap),
                              lambda: self.rank <= target or self.stop())

    def _walk(self, steps: int, target: int, plateau: int, plus_limit: int) -> int:
        if self.backend == "c":
            return self._c.walk(*self._c_args, steps, target, plateau, plus_limit)
        if self.backend == "numba":
            return int(self._kernel(*self.F, self.st, self.rng, steps, target, plateau, plus_limit))
        return self.python_walk(self.F, self.st, self.rng, steps, target, plateau, plus_limit)

    def terms(self):
        r = self.rank
        return tuple([int(x) for x in f[:r]] for f in self.F)


class Walker(BaseWalker):
    """The GF(2) walk, with `polish` for --minimize additions."""

    load_c = staticmethod(flip_c.load)

    def polish(self, steps: int, nc: int, best_cost: int) -> tuple[int, int, Terms | None]:
        """Flips only, for up to `steps` steps: (steps done, best plain cost, its terms or None)."""
        r = self.rank
        if self.backend in ("c", "numba"):
            import numpy as np

            A, B, C = self.F
            best = [np.zeros_like(A) for _ in range(3)]
            cost = np.array([best_cost], dtype=np.int64)
            if self.backend == "c":
                done = self._c.polish(*(f.ctypes.data for f in (A, B, C, self.st, self.rng)),
                                      steps, nc, *(f.ctypes.data for f in (*best, cost)))
            else:
                from fastmm.search import flip_kernels

                done = flip_kernels.polish(A, B, C, self.st, self.rng, steps, nc, *best, cost)
        else:
            best = [[0] * len(f) for f in self.F]
            cost = [best_cost]
            done = flip_py.polish(self.F, self.st, self.rng, steps, nc, best, cost)
        if int(cost[0]) >= best_cost:
            return int(done), best_cost, None
        A, B, C = ([int(x) for x in f[:r]] for f in best)
        return int(done), int(cost[0]), (A, B, C)


def reduce_terms(terms: Terms, stop: Callable[[], bool] | None = None) -> Terms:
    """Apply every reduction (zero factors, two shared factors) to a list of terms; `stop` (a
    search's deadline) may end it early, leaving fewer reductions done (the same tensor)."""
    F = [list(f) for f in terms]
    r = len(F[0])
    r = flip_py._settle(F, r, list(range(r)), stop)
    A, B, C = (f[:r] for f in F)
    return A, B, C


def check_backend(choice: object, load_c: Callable[[], object | None]) -> str:
    """A walk backend the user named, checked: a known one, whose compiled walk is at hand
    (`load_c` loads the C version of the walk, None when it cannot be had)."""
    if choice not in BACKENDS:
        raise InputError(f"unknown walk backend {choice!r} (c, numba or python)")
    if choice == "c" and load_c() is None:
        raise InputError("the c backend needs a C compiler: apt-get install gcc, or set CC")
    if choice == "numba" and not numba_available():
        raise InputError("the numba backend needs numba: pip install numba")
    return str(choice)


def factor_entries(shape: tuple[int, int, int]) -> int:
    """Entries of a scheme's largest factor (A n×m, B m×p, C n×p): the compiled walks hold at
    most MAX_BITS_NUMBA (one bit each in an int64)."""
    n, m, p = shape
    return max(n * m, m * p, n * p)


def choose_backend(task: SearchTask, load_c: Callable[[], object | None] | None = None,
                   c_max_volume: int | None = C_MAX_VOLUME) -> str:
    """"c", "numba" or "python" for a walk: options["backend"] (checked), else the fastest that loads.

    load_c loads the walk's C version (flip_c.load for GF(2) terms, flip_c.load_ternary for
    ternary ones), compiled on its first use ever (a fraction of a second, then cached); None:
    the walk has no C version here, so never "c". Shapes past c_max_volume walk with numba if
    it is installed (None: C wherever it loads). Without the C walk tiny shapes walk in plain
    Python and the rest with numba, if installed.
    """
    choice = task.options.get("backend")
    n, m, p = task.shape
    fits = factor_entries(task.shape) <= MAX_BITS_NUMBA
    if choice is not None:
        if choice in ("c", "numba") and not fits:
            raise InputError(f"the {choice} walk handles factors of at most {MAX_BITS_NUMBA} entries")
        if choice == "c" and load_c is None:
            raise InputError("this walk has no c backend (the flip, pool and ternary walks do)")
        return check_backend(choice, load_c or flip_c.load)
    if not fits:
        return "python"
    volume = n * m * p
    if c_max_volume is not None and volume > c_max_volume and numba_available():
        return "numba"
    if load_c is not None and load_c() is not None:
        return "c"
    if volume <= PYTHON_MAX_VOLUME or not numba_available():
        return "python"
    return "numba"


def _additions(scheme: Scheme) -> int:
    try:
        from fastmm.export.slp import count_additions  # written in parallel; optional
    except ImportError:
        from fastmm.metrics import plain_additions

        return plain_additions(scheme)
    return int(count_additions(scheme))


def _exact_ok(scheme: Scheme) -> bool:
    if not scheme.is_integral or any(w.dtype == object for w in (scheme.Wa, scheme.Wb, scheme.Wc)):
        from fastmm.verify import brent_report

        return brent_report(scheme).ok
    return not residual(scheme.shape, scheme.Wa, scheme.Wb, scheme.Wc).any()


def _fits(scheme_ring: str, ring: str) -> bool:
    return {"ZT": scheme_ring == "ZT", "Z": scheme_ring in ("ZT", "Z"), "Z2": True}[ring]


def run(task: SearchTask, report: Reporter, should_stop: StopFlag) -> SearchOutcome:
    """Random flip-graph walks until a scheme of rank <= task.rank valid in task.ring is found."""
    t0 = time.perf_counter()
    shape = task.shape
    n, m, p = shape
    opts = task.options
    if task.ring not in ("ZT", "Z", "Z2"):
        raise InputError(f"the flip method searches over ZT, Z or Z2, not {task.ring!r}")
    check_walk_sizes("flip", opts, shape)  # before any array is allocated
    resumed = resumed_start(task, lambda s: s.is_integral)  # integer schemes hold modulo 2
    start = opts.get("start") or resumed or naive_scheme(n, m, p)
    if not isinstance(start, Scheme) or start.shape != shape:
        raise InputError(f"the start scheme must be a Scheme of shape {shape}")
    budget = task.time_limit
    if budget is None and opts.get("minimize") == "additions":
        budget = float(opts.get("minimize_seconds", 10.0))
    deadline = t0 + budget if budget is not None else None

    def stopping() -> bool:  # looked at between pieces of a long walk
        return should_stop() or (deadline is not None and time.perf_counter() >= deadline)

    try:  # a start of 40,000 terms takes a minute to reduce: within the time limit
        start_terms = reduce_terms(to_terms(start), stopping)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not gf2_tensor_ok(shape, start_terms):
        raise InputError(f"the start scheme {start.label()} is not valid modulo 2")

    backend = choose_backend(task, flip_c.load)
    fast = backend in ("c", "numba")
    r0 = len(start_terms[0])
    # bigger tensors need longer walks (3x3x3: 3M steps without a new low before a restart),
    # but not longer plateaus: ⟨4,4,4⟩ from the naive scheme reaches 49 in about 14 s with
    # 5,000 or 20,000 flips between plus transitions and is still at 51-52 after 100 s with
    # 112,000
    size = max(r0 / 27, 1.0)
    plateau = int(opts.get("plateau", 20_000 if fast else 5_000))
    restart_steps = int(opts.get("restart_steps", int(3_000_000 * size**3) if fast else 300_000))
    kicks = int(opts.get("kicks", 2))  # plus transitions that move a walk off an unliftable scheme
    # lifting is linear algebra in Python whose cost grows fast with the shape; spacing the
    # attempts by steps (not seconds) keeps runs deterministic for a seed
    lift_every = int(opts.get("lift_every", int(20_000 * size**4) if fast else 500))
    lift_tries = int(opts.get("lift_tries", 3))  # failed lifts at the target before a restart
    # steps per call between checks of the stop flag (a Python step costs ~r, a scored one ~r²)
    sample_every = int(opts.get("sample_every", 100_000 if fast else max(20, int(2_000 / size**2))))
    chunk = int(opts.get("chunk", 200_000 if fast else max(100, int(3_000 / size))))
    plus_limit = int(opts.get("plus_limit", r0))
    minimize = opts.get("minimize") == "additions"
    prov = {"method": "flip", "seed": task.seed, "backend": backend}
    if opts.get("start") is not None:
        prov["start"] = start.label()
    elif resumed is not None:
        prov["start"] = f"{start.label()} saved in the --resume directory"
    ring = task.ring
    steps = 0
    restarts = 0
    last_report = t0

    def meta(s: Scheme, **extra) -> Scheme:
        info = dict(prov, steps=steps, restarts=restarts,
                    seconds=round(time.perf_counter() - t0, 3), **extra)
        if rescue.tried:  # schemes without a sign lift given to Hensel + frames, and made ZT
            info.update(rescue_tried=rescue.tried, rescued=rescue.rescued)
        return s.with_meta(provenance=info)

    # over ZT, schemes without a sign lift: Hensel + frames within a share of the time
    rescue = Rescue(float(opts.get("rescue", RESCUE_SHARE)), stopping)

    def lifted(terms: Terms, salt: int) -> tuple[Scheme, str] | None:
        if ring == "Z2":
            return to_scheme(shape, terms), "gf2"
        return rescue.lift(shape, terms, ring, seed=task.seed * 7919 + salt)

    # the best valid scheme so far (any rank): the start, when it is valid in the ring
    best: Scheme | None = None
    if ring == "Z2":
        best = to_scheme(shape, start_terms)
    elif _fits(start.coefficient_ring, ring) and _exact_ok(start):
        best = start
    # resumed from a GF(2) scheme that did not lift: the best valid one saved (above the target)
    # stays the best
    saved = min(saved_schemes(task, lambda s: scheme_serves(s, ring)), key=lambda s: s.rank, default=None)
    if saved is not None and (best is None or saved.rank < best.rank):
        best = saved
    if best is None and ring != "Z2":  # a start valid modulo 2 only: progress never shows its rank as valid
        best = naive_scheme(n, m, p)
    record = r0  # lowest GF(2) rank seen
    saver = BestSaver(opts.get("checkpoint_dir"), task.seed)  # --resume: kept while it walks
    # over ZT / Z, the lowest GF(2) scheme below `best` (it did not lift, or not yet) is kept too

    def lift_low(low: Scheme) -> bool:
        """The GF(2) low about to be written: lifted, it becomes the best (and is saved as such)."""
        nonlocal best
        got = lifted(to_terms(low), steps)
        if got is None:
            return False
        if best is None or got[0].rank < best.rank:
            best = got[0]
            saver.offer(best)
        return True

    gf2_saver = BestSaver(opts.get("checkpoint_dir"), task.seed, gf2=True, lift=lift_low)
    found: Scheme | None = None  # with minimize: the scheme with the fewest additions
    found_adds = found_plain = 0
    polishing = False  # minimize: a scheme at the target rank is in hand; walk on at that rank

    def outcome(stopped: str) -> SearchOutcome:
        gf2_saver.settle(best.rank if best is not None else None)
        gf2_saver.close()  # may lift it: `best` first
        saver.close()
        sch = found
        if sch is None and best is not None and best.rank <= task.rank:
            sch = best
        b = best if sch is None else None
        return SearchOutcome(
            scheme=meta(sch) if sch is not None else None,
            best=meta(b) if b is not None else None,
            steps=steps, restarts=restarts, seconds=time.perf_counter() - t0,
            stopped=stopped, seed=task.seed, mod2=gf2_saver.low(best),
        )

    while True:
        walker = Walker(start_terms, flip_py.seed_state(task.seed) + restarts, backend, plus_limit)
        walker.stop = stopping
        since_restart = 0  # steps since this walk's last new low
        walk_low = walker.rank
        since_lift = lift_every  # lift at once the first time the target is reached
        since_best = 10 * lift_every  # and lift a new lowest rank above the target at once
        failed_lifts = 0
        while (since_restart < restart_steps and failed_lifts < lift_tries) or polishing:
            now = time.perf_counter()
            if should_stop():
                return outcome("stopped")
            if deadline is not None and now >= deadline:
                return outcome("time")
            if now - last_report >= 0.25:
                last_report = now
                shown, note = valid_rank_note(best.rank if best is not None else None, record,
                                              f"walk at {walker.rank} ({backend})")
                report(Progress(rank=shown, steps=steps, restarts=restarts, elapsed=now - t0,
                                note=note))
            r = walker.rank
            at_target = r <= task.rank
            if polishing and r == found.rank:
                # minimize: walk by flips at this rank, scoring every scheme visited
                done, cost, terms = walker.polish(sample_every, n * p, found_plain)
                steps += done
                if terms is not None:
                    got = lifted(terms, steps)
                    if got is not None:
                        adds = _additions(got[0])
                        found_plain = cost
                        if adds < found_adds:
                            found, found_adds, best = got[0], adds, got[0]
                            prov["lift"] = got[1]
                record = min(record, walker.rank)
                continue
            if at_target and since_lift >= lift_every:
                since_lift = 0
                terms = walker.terms()
                got = lifted(terms, steps)
                if got is None:
                    failed_lifts += 1
                    if failed_lifts >= lift_tries and kicks:
                        # leave this part of the flip graph: rank + kicks, then walk down again
                        walker.walk(kicks, -1, 1, r + kicks)
                        failed_lifts = 0
                else:
                    found = best = got[0]
                    prov["lift"] = got[1]
                    if not minimize:
                        return outcome("found")
                    found_adds = _additions(found)
                    found_plain = plain_additions_terms(shape, terms)
                    polishing = True
                    continue
            elif not at_target and r < (best.rank if best is not None else r + 1) \
                    and since_best >= 10 * lift_every:
                since_best = 0
                got = lifted(walker.terms(), steps)
                if got is not None:
                    best = got[0]
                    saver.offer(best)
            saver.flush()
            gf2_saver.settle(best.rank if best is not None else None)
            gf2_saver.flush()
            if at_target:
                # walk on at this rank (flips keep it) to reach other schemes to lift
                todo = lift_every
                stop_rank = r - 1
                pl = 0 if polishing else plus_limit
            else:
                todo = chunk
                stop_rank = max(task.rank, record - 1)
                pl = plus_limit
            done = walker.walk(todo, stop_rank, plateau, pl)
            steps += done
            since_restart += done
            since_lift += done
            since_best += done
            if walker.rank < walk_low:
                walk_low, since_restart = walker.rank, 0
            if walker.rank < record:
                record = walker.rank
                if ring == "Z2" and (best is None or record < best.rank):
                    best = to_scheme(shape, walker.terms())
                    saver.offer(best)
                elif ring != "Z2" and (best is None or record < best.rank):
                    gf2_saver.offer(to_scheme(shape, walker.terms()))
        restarts += 1
