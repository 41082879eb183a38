"""`--method pool`: flip-graph walks from constructed starting points, descending rank by rank
through pools of schemes (after Arai, Ichikawa & Hukushima's adaptive flip graph, 2024).

Plain walks from the naive scheme stall a few ranks above the best known ones for ⟨3,3,4⟩,
⟨3,4,4⟩ and ⟨4,4,4⟩. This method differs from `flip` in three ways:

1. Starting points. Besides the naive scheme it builds schemes from smaller ones: direct
   sums along each dimension (⟨3,3,4⟩ = ⟨3,3,2;15⟩ ⊕ ⟨3,3,2;15⟩ = rank 30) and Kronecker
   products (⟨4,4,4⟩ = Strassen ⊗ Strassen = rank 49), each part taken from the catalogue
   (or built the same way, recursively), projections of the catalogue entries one larger in
   each dimension (the meta flip graph's move down: drop one slice, then the terms that
   vanish; the direct sum with a naive slice is its move up), plus the catalogue entry of
   the shape itself or a permutation — unless `exclude_catalog_shapes` hides it (a benchmark
   then measures what is *found*, not looked up).
2. Pools. For each rank r it keeps up to `pool_size` distinct schemes (as GF(2) term sets).
   An *attempt* takes a member of the pool at the current level r and walks at most
   `limit` steps (the plateau limit of the attempt; plus transitions allowed up to r+`plus`)
   until the rank drops; the scheme reached joins the pool of its rank. A walk that ends at
   rank r without a drop is kept as a sideways member (diversity at the level). The search
   moves down a level once the next pool is full, or after `level_attempts` attempts if it
   holds anything. It never moves *to* the target rank: GF(2) schemes there that fail to lift
   often share a flip component in which none lifts. Over ZT and Z only schemes that lift
   join a pool at all (`liftable_pools`), so every descent starts inside liftable territory.
   On big shapes far from their records that stalls instead: with `liftable_pools` False the
   pools hold GF(2) schemes and each new lowest rank is lifted on the way (and checkpointed),
   which took ⟨5,5,6⟩ over ZT from 117 to 114 and 112, where liftable pools had stayed at 117.
3. Adaptive limits and restarts. When a level yields nothing in `level_attempts` attempts the
   limit doubles (up to `max_limit`); once the limit is at its maximum and the level still
   stalls `stalls` times, the search restarts from the next starting point with fresh pools.
   The rotation holds the lowest-rank construction and the best ones with a naive part, one per
   direction the slice is added along (a sum of two optimal schemes can be a trap: ⟨3,3,2;15⟩ ⊕
   ⟨3,3,2;15⟩ = 30 stalls at 30 where ⟨3,3,3;23⟩ ⊕ ⟨3,3,1;9⟩ = 32 walks down to a liftable 29;
   benchmarks/walk_drops.py measures it per shape); seed s begins at place s.

Walks are flip.py's own (`Walker`: C, numba or plain Python, the same GF(2) walk); schemes at or
below the target are lifted to ZT / Z with lift.py (sign lifting, Hensel for Z), and an
unliftable one is walked on at its rank (flips keep the rank) and lifted again every
`lift_every` steps. Over Z2 no lifting is needed. With `walk` "ternary" (ZT and Z) the pools
hold ternary schemes and walk with ternary.py's walk (Perminov's ternary flip graph): every
scheme a walk reaches is valid over ZT, so nothing is lifted and nothing is lost to schemes
that do not lift. Ternary pools took ⟨4,5,6⟩ from ⟨4,5,5;77⟩ ⊕p a naive slice (97) to 93 where
GF(2) pools had stayed at 97, but on small shapes they are much slower (⟨3,3,4;29⟩: 0 of 3 in
120 s against 3 of 3, benchmarks/pool_walks.py), so GF(2) walks are the default.
Deterministic for a given seed.

Options (task.options): exclude_catalog_shapes, constructions (False: naive start only),
start (a Scheme: the one start, instead of the constructions), starts (extra Schemes), max_starts,
start_index (first start of the rotation; default: the seed), pool_size, plus, plateau, limit, max_limit,
level_attempts, stalls, lift_every, chunk, backend, liftable_pools, walk ("gf2" or "ternary"),
meta (the share of attempts on a stalling level that go through a larger shape: extend by a
naive slice, walk, project a slice away; default 0.5), ternary_polish (GF(2) pools over ZT / Z:
walk each lifted scheme at or below the best rank, up to pool_size per rank, this many steps
over ZT, plus transitions up to 4 above its rank; what it reaches lower becomes the best and
joins the pools; default 0, off).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastmm.errors import InputError
from fastmm.scheme import Scheme, naive_scheme, ring_serves
from fastmm.search import flip_c, flip_py
from fastmm.search.base import (
    Progress,
    Reporter,
    SearchOutcome,
    SearchTask,
    StopFlag,
    check_walk_options,
    valid_rank_note,
)
from fastmm.search.checkpoint import BestSaver
from fastmm.search.flip import Walker, choose_backend, reduce_terms
from fastmm.search.lift import RESCUE_SHARE, Rescue
from fastmm.search.starts import Start, Stopped, starting_points
from fastmm.search.terms import Terms, gf2_tensor_ok, term_set_key, to_scheme, to_terms

Shape = tuple[int, int, int]

POOL_MIN_VOLUME = 13  # choose_method: plain flip walks below this volume (n·m·p)


def choose_method(task: SearchTask) -> str:
    """The method `--method auto` should run: plain walks for tiny shapes and GF(2), pools otherwise.

    For n·m·p ≤ 12 a plain-Python flip walk from the naive scheme finds the best-known ranks
    in milliseconds, less than reading the catalogue to build starting points costs. Over GF(2)
    nothing has to lift, which is what pools are for, and restarted walks from the naive
    scheme reach ⟨4,4,4;47⟩ (274 s, seed 11) where pools from Strassen⊗Strassen stayed at 49.
    """
    n, m, p = task.shape
    if task.ring == "Z2":
        return "flip"
    return "flip" if n * m * p < POOL_MIN_VOLUME else "pool"


# -- the search ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Walks:
    """How a pool holds and walks its schemes: GF(2) term sets, lifted on the way, or ternary
    ones (valid over ZT at every step). The functions take and give that kind of terms."""

    name: str
    walker: type
    to_terms: Callable
    to_scheme: Callable  # (shape, terms) -> Scheme
    reduce: Callable
    key: Callable  # the same for the same terms in any order
    sums_ok: Callable  # (shape, terms) -> the terms sum to the tensor (mod 2, or exactly)


def gf2_walks() -> Walks:
    return Walks("gf2", Walker, to_terms, to_scheme, reduce_terms, term_set_key, gf2_tensor_ok)


def ternary_walks() -> Walks:
    from fastmm.search import ternary, ternary_py

    def exact(shape: Shape, terms) -> bool:
        from fastmm.verify import verify

        return verify(ternary_py.to_scheme(shape, terms), use_sympy=False).ok

    return Walks("ternary", ternary.Walker, ternary_py.to_terms, ternary_py.to_scheme,
                 ternary.reduce_terms, lambda terms: tuple(sorted(zip(*terms, strict=True))), exact)


class _Pools:
    """Distinct schemes per rank, at most `size` each (the first ones found stay)."""

    def __init__(self, size: int, key: Callable = term_set_key):
        self.size = size
        self.key = key
        self.members: dict[int, list[Terms]] = {}
        self.keys: dict[int, set[tuple]] = {}

    def add(self, terms: Terms) -> bool:
        r = len(terms[0])
        keys = self.keys.setdefault(r, set())
        members = self.members.setdefault(r, [])
        k = self.key(terms)
        if k in keys or len(members) >= self.size:
            return False
        keys.add(k)
        members.append(terms)
        return True

    def at(self, r: int) -> list[Terms]:
        return self.members.get(r, [])

    def full(self, r: int) -> bool:
        return len(self.at(r)) >= self.size

    def lowest(self) -> int:
        return min(r for r, ms in self.members.items() if ms)


def run(task: SearchTask, report: Reporter, should_stop: StopFlag) -> SearchOutcome:
    """Pooled, level-by-level flip walks from constructed starting points (module docstring)."""
    t0 = time.perf_counter()
    shape = task.shape
    ring = task.ring
    opts = task.options
    if ring not in ("ZT", "Z", "Z2"):
        raise InputError(f"the pool method searches over ZT, Z or Z2, not {ring!r}")
    walk_kind = opts.get("walk", "gf2")
    check_walk_options("pool", {"walk": walk_kind})  # the one check of its value (callers may skip it)
    if walk_kind == "ternary" and ring == "Z2":
        raise InputError("ternary pools search over ZT or Z (valid over Z2 too): use walk=gf2 for --ring Z2")
    walks = ternary_walks() if walk_kind == "ternary" else gf2_walks()
    # GF(2) pools over ZT / Z: lifted schemes at or below the best rank are walked on over ZT (`polish`)
    polish_steps = int(opts.get("ternary_polish", 0))
    if polish_steps and (walks.name == "ternary" or ring == "Z2"):
        raise InputError("ternary_polish walks a GF(2) pool's lifted schemes over ZT: it needs walk=gf2 "
                         "and --ring ZT or Z")
    to_scheme, to_terms, reduce_terms = walks.to_scheme, walks.to_terms, walks.reduce
    deadline = t0 + task.time_limit if task.time_limit else None

    def stopping() -> bool:
        return should_stop() or (deadline is not None and time.perf_counter() >= deadline)

    exclude = list(opts.get("exclude_catalog_shapes", ()))
    max_starts = int(opts.get("max_starts", 2))
    try:
        given = opts.get("start")
        if given is not None:  # the user's scheme is the one start (its pools, levels, restarts)
            if not isinstance(given, Scheme) or given.shape != shape:
                raise InputError(f"the start scheme must be a Scheme of shape {shape}")
            starts = [Start(given.rank, given.label(), given)]
        else:
            starts = starting_points(shape, ring, exclude, bool(opts.get("constructions", True)), stopping)
        for extra in opts.get("starts", ()):
            if not isinstance(extra, Scheme) or extra.shape != shape:
                raise InputError(f"every start scheme must be a Scheme of shape {shape}")
            starts.append(Start(extra.rank, "given", extra))
        starts.sort(key=lambda s: s.rank)
        usable = usable_starts(shape, starts, max_starts, stopping, walks)
    except Stopped:
        return SearchOutcome(scheme=None, steps=0, seconds=time.perf_counter() - t0,
                             stopped="stopped", seed=task.seed)
    if not usable:
        raise InputError(f"no starting point for {shape} is valid modulo 2" if walks.name == "gf2" else
                         f"no starting point for {shape} is a ternary scheme")
    # restarts (and parallel seeds) rotate through the best few constructions (naive only when
    # nothing beats it). The lowest-rank sum of two optimal parts can be a trap (⟨3,3,2;15⟩ ⊕
    # ⟨3,3,2;15⟩ = 30 stalls at 30, ⟨3,3,3;23⟩ ⊕ ⟨3,3,1;9⟩ = 32 walks down to 29 in seconds),
    # so the next places go to the best constructions with a naive part, one per slice direction.
    rotation = usable[:1]
    rotation += [u for u in usable[1:] if _loose(u[0])]
    rotation += [u for u in usable[1:] if u not in rotation][: max(max_starts - len(rotation), 0)]

    ternary_backend = None  # the ternary walk's, for ternary pools and polishes
    if walks.name == "ternary" or polish_steps:
        from fastmm.search.ternary import choose_backend as choose_ternary_backend

        ternary_backend = choose_ternary_backend(task)
    backend = ternary_backend if walks.name == "ternary" else choose_backend(task, flip_c.load)
    fast = backend in ("c", "numba")
    size = max(len(rotation[0][1][0]) / 27, 1.0)  # walks scale with the rank (3x3x3: 1)
    pool_size = int(opts.get("pool_size", 8))
    plus = int(opts.get("plus", 2))
    plateau = int(opts.get("plateau", int(20_000 * size**2) if fast else 2_000))
    limit0 = int(opts.get("limit", int(200_000 * size**2) if fast else 20_000))
    max_limit = int(opts.get("max_limit", int(10_000_000 * size**3) if fast else 400_000))
    level_attempts = int(opts.get("level_attempts", 2 * pool_size))
    stalls_max = int(opts.get("stalls", 1))
    lift_every = int(opts.get("lift_every", 20_000 if fast else 500))
    chunk = int(opts.get("chunk", 200_000 if fast else 3_000))

    liftable_only = ring != "Z2" and walks.name == "gf2" and bool(opts.get("liftable_pools", True))

    rng = random.Random(task.seed)
    state = {"steps": 0, "attempts": 0, "restarts": 0, "record": 10**9, "last": t0, "limit": limit0,
             "unliftable": 0, "polishes": 0, "polished": 0, "polish_steps": 0}
    prov = {"method": "pool", "seed": task.seed, "backend": backend}
    if walks.name != "gf2":
        prov["walk"] = walks.name
    if polish_steps:
        prov["ternary_polish"] = polish_steps
    if opts.get("constructions", True) and given is None:
        from fastmm.catalog import catalog_fingerprint

        prov["catalog"] = catalog_fingerprint()  # the starts depend on it
    how = {"start": rotation[0][0].how}

    # best valid scheme so far: the best start valid in the ring; where and when it was found
    # (a restart may have moved on to another start since)
    best: Scheme | None = None
    best_found: dict = {}
    for st, terms in usable:
        if ring == "Z2" or _valid_in(st.scheme, ring):
            best = to_scheme(shape, terms) if ring == "Z2" else st.scheme
            best_found.update(start=st.how, found_after_s=0.0)
            break
    if best is None and ring != "Z2":  # starts valid modulo 2 only: progress never shows their rank as valid
        best = naive_scheme(*shape)
        best_found.update(start="naive", found_after_s=0.0)
    lifted_ranks: dict[int, int] = {}  # rank -> lift attempts spent there for `best`
    polished_at: dict[int, int] = {}  # rank -> ternary polishes started from lifted schemes of it

    def meta(s: Scheme, **extra) -> Scheme:
        info = dict(prov, start=how["start"], steps=state["steps"], attempts=state["attempts"],
                    meta_down=state.get("meta_down", 0),
                    restarts=state["restarts"], unliftable=state["unliftable"],
                    seconds=round(time.perf_counter() - t0, 3))
        # the lowest rank walked to (GF(2): lifted or not; None before any walk)
        info[f"{walks.name}_low"] = state["record"] if state["record"] < 10**9 else None
        if rescue.tried:  # schemes without a sign lift given to Hensel + frames, and made ZT
            info.update(rescue_tried=rescue.tried, rescued=rescue.rescued)
        if polish_steps:  # ternary polishes: how many, how many went lower, their steps
            info.update(polishes=state["polishes"], polished=state["polished"],
                        polish_steps=state["polish_steps"])
        info.update(extra)
        return s.with_meta(provenance=info)

    def outcome(found: Scheme | None, stopped: str) -> SearchOutcome:
        gf2_saver.settle(best.rank if best is not None else None)
        gf2_saver.close()
        return SearchOutcome(
            scheme=meta(found) if found is not None else None,
            best=meta(best, **best_found) if found is None and best is not None else None,
            steps=state["steps"], restarts=state["restarts"], seconds=time.perf_counter() - t0,
            stopped=stopped, seed=task.seed, mod2=gf2_saver.low(best))

    current: dict = {"pools": None}  # the pools of the current restart, for progress reports

    def tick(level: int, rank: int, walk: str = "walk") -> None:
        gf2_saver.settle(best.rank if best is not None else None)
        gf2_saver.flush()
        now = time.perf_counter()
        if now - state["last"] >= 0.25:
            state["last"] = now
            held = current["pools"].members if current["pools"] is not None else {}
            sizes = " ".join(f"{r}:{len(ms)}" for r, ms in sorted(held.items())[:3] if ms)
            shown, note = valid_rank_note(best.rank if best is not None else None,
                                          min(state["record"], rank),
                                          f"level {level} (limit {state['limit']:,}), {walk} at "
                                          f"{rank}, pools {sizes} ({backend})")
            report(Progress(rank=shown, steps=state["steps"], restarts=state["restarts"],
                            elapsed=now - t0, note=note))

    # over ZT, schemes without a sign lift: Hensel + frames within a share of the time
    rescue = Rescue(float(opts.get("rescue", RESCUE_SHARE)), stopping)

    def try_lift(terms: Terms) -> tuple[Scheme, str] | None:
        if ring == "Z2":
            return to_scheme(shape, terms), "gf2"
        if walks.name == "ternary":  # valid over ZT as it stands
            return to_scheme(shape, terms).with_meta(ring=ring), "ternary"
        return rescue.lift(shape, terms, ring, seed=task.seed * 7919 + state["steps"])

    def keep_if_better(got: tuple[Scheme, str] | None) -> None:
        nonlocal best
        if got is None:
            return
        polished = None
        r = got[0].rank
        if polish_steps and (best is None or r <= best.rank) and polished_at.get(r, 0) < pool_size:
            polished_at[r] = polished_at.get(r, 0) + 1  # new bests and ties, a pool's worth per rank
            polished = polish(got[0])
        if polished is not None:
            got = (polished, got[1] + " + ternary polish")
            if current["pools"] is not None:  # GF(2) walks go on from it, below their level
                polished_terms = reduce_terms(to_terms(polished))
                current["pools"].add(polished_terms)
                checkpoint_member(polished_terms, polished)  # a kill keeps it (`--resume`)
        if best is None or got[0].rank < best.rank:
            best = got[0]
            prov["lift"] = got[1]
            best_found.update(start=how["start"], found_after_s=round(time.perf_counter() - t0, 3))
            if ckpt_dir and not liftable_only:  # pools of GF(2) schemes: a kill keeps the best lifted
                from fastmm.search.checkpoint import save_pool

                save_pool(ckpt_dir, task.seed, [best])

    def polish(scheme: Scheme) -> Scheme | None:
        """A ternary walk (plus transitions up to START_PLUS above its rank) from a lifted scheme
        at or below the best rank, for `ternary_polish` steps: the lowest-rank ZT scheme it
        reaches below its start, or None. Walks over ZT move on from freshly lifted schemes where
        GF(2) pools stall (the GF(2) pools' ⟨5,5,6;112⟩ walked to 110 over ZT); a Z lift with
        larger coefficients is left as it is."""
        from fastmm.search import ternary, ternary_py

        try:
            terms = ternary.reduce_terms(ternary_py.to_terms(scheme))
        except ValueError:
            return None
        r0 = len(terms[0])
        room = r0 + ternary.START_PLUS
        walker = ternary.Walker(terms, flip_py.seed_state(task.seed * 1_000_037 + state["attempts"]),
                                ternary_backend, room)
        walker.stop = stopping
        state["polishes"] += 1
        low, done = None, 0
        while done < polish_steps and not stopping():
            tick(r0, walker.rank, "ternary polish")
            goal = (low.rank if low is not None else r0) - 1
            step = walker.walk(min(chunk, polish_steps - done), max(goal, task.rank), ternary.PLATEAU,
                               room)
            done += step
            state["steps"] += step
            state["polish_steps"] += step
            if walker.rank <= goal:
                low = ternary_py.to_scheme(shape, walker.terms()).with_meta(ring=ring)
                if low.rank <= task.rank:
                    break
        state["polished"] += low is not None
        return low

    def lower_record(terms: Terms) -> None:
        """The lowest rank walked to; over ZT / Z a new lowest GF(2) scheme below `best` is kept
        on disk (`--resume`) whether or not it lifts."""
        r = len(terms[0])
        if r < state["record"] and keep_gf2 and (best is None or r < best.rank):
            gf2_saver.offer(to_scheme(shape, terms))
        state["record"] = min(state["record"], r)

    def note_record(terms: Terms) -> None:
        """A GF(2) scheme below the best valid rank: remember it and lift it for `best` (20 per rank)."""
        r = len(terms[0])
        lower_record(terms)
        if liftable_only:
            return  # admissible() lifts it before it may join a pool
        if best is not None and r >= best.rank:
            return
        if lifted_ranks.get(r, 0) >= 20:  # sign lifting costs milliseconds
            return
        lifted_ranks[r] = lifted_ranks.get(r, 0) + 1
        keep_if_better(try_lift(terms))

    ckpt_dir = opts.get("checkpoint_dir")
    saved = {"level": None, "schemes": {}, "t": 0.0}

    def lift_low(low: Scheme) -> bool:
        """The GF(2) low about to be written: lifted, it may become the best."""
        got = try_lift(to_terms(low))
        keep_if_better(got)
        return got is not None

    keep_gf2 = ring != "Z2" and walks.name == "gf2"
    gf2_saver = BestSaver(ckpt_dir if keep_gf2 else None, task.seed, gf2=True, lift=lift_low)

    def checkpoint_member(terms: Terms, valid: Scheme | None) -> None:
        """Keep the lowest pool level on disk (throttled) so `--resume` can restart from it."""
        if not ckpt_dir or valid is None:
            return
        r = len(terms[0])
        if saved["level"] is None or r < saved["level"]:
            saved["level"], saved["schemes"] = r, {}
        if r != saved["level"] or len(saved["schemes"]) >= pool_size:
            return
        saved["schemes"][walks.key(terms)] = valid
        now = time.perf_counter()
        if len(saved["schemes"]) == 1 or now - saved["t"] >= 2.0:
            from fastmm.search.checkpoint import save_pool

            saved["t"] = now
            save_pool(ckpt_dir, task.seed, list(saved["schemes"].values()))

    def admissible(terms: Terms) -> bool:
        """Over ZT / Z only schemes that lift join a pool (and improve `best` on the way).

        Descents from a GF(2) scheme that does not lift tend to stay in components where
        nothing lifts: one ⟨3,4,4;38⟩ run lifted 4,057 GF(2) schemes of rank 38 (and its
        rank-39 ancestors) and every mod-4 sign system was unsolvable.
        """
        if not liftable_only:
            if ring == "Z2" or walks.name == "ternary":
                checkpoint_member(terms, to_scheme(shape, terms))
            return True
        got = try_lift(terms)
        if got is None:
            state["unliftable"] += 1
            return False
        keep_if_better(got)
        checkpoint_member(terms, got[0])
        return True

    # one bounded walk; returns ("found", Scheme) | ("down", Terms) | ("side", Terms) | ("none", None)
    def attempt(member: Terms, level: int, budget: int) -> tuple[str, object]:
        seed = flip_py.seed_state(task.seed * 1_000_003 + state["attempts"])
        state["attempts"] += 1
        walker = walks.walker(member, seed, backend, level + plus)
        walker.stop = stopping  # long pieces (a huge chunk or limit) end at the time limit
        plus_limit = level + plus
        done = 0
        lift_due = level > task.rank  # members at or below the target were lifted already
        while done < budget:
            if stopping():
                return "stop", None
            r = walker.rank
            tick(level, r)
            if r <= task.rank:
                if lift_due:
                    terms = walker.terms()
                    lower_record(terms)
                    got = try_lift(terms)
                    if got is not None:
                        prov["lift"] = got[1]
                        return "found", got[0]
                lift_due = True
                # flips keep the rank: walk on to other schemes of this rank, lift again
                step = walker.walk(min(lift_every, budget - done), r - 1, plateau, plus_limit)
            else:
                goal = level - 1 if level > task.rank else task.rank
                step = walker.walk(min(chunk, budget - done), goal, plateau, plus_limit)
                if walker.rank <= goal and walker.rank < level:
                    state["steps"] += step
                    terms = walker.terms()
                    if walker.rank > task.rank:
                        note_record(terms)
                        return "down", terms
                    lift_due = True
                    done += step
                    continue
            state["steps"] += step
            done += step
        if walker.rank < level:
            return "down", walker.terms()
        return ("side", walker.terms()) if walker.rank == level else ("none", None)

    meta_rate = float(opts.get("meta", 0.5))
    meta_axes = [a for a, d in zip("nmp", shape, strict=True)
                 if max(x * y for x, y in itertools.combinations(
                     [d + 1 if b == a else e for b, e in zip("nmp", shape, strict=True)], 2)) <= 63]

    def meta_attempt(member: Terms, level: int, budget: int) -> tuple[str, object]:
        """The meta flip graph (Arai et al. 2024; Kauers & Wood 2025): extend the scheme by one
        naive slice along an axis, walk in the larger shape, project each slice away in turn and
        keep the lowest-rank result (any slice works: the other indices are relabelled)."""
        axis = meta_axes[rng.randrange(len(meta_axes))]
        i = "nmp".index(axis)
        slab = [1 if k == i else d for k, d in enumerate(shape)]
        slab_ring = "Z2" if walks.name == "gf2" else "ZT"
        big = to_scheme(shape, member).direct_sum(naive_scheme(*slab).with_meta(ring=slab_ring), axis)
        big_terms = reduce_terms(to_terms(big))
        big_rank = len(big_terms[0])
        seed = flip_py.seed_state(task.seed * 1_000_033 + state["attempts"])
        state["attempts"] += 1
        walker = walks.walker(big_terms, seed, backend, big_rank + plus)
        walker.stop = stopping
        done, result = 0, ("none", None)
        while done < budget:
            if stopping():
                return "stop", None
            tick(level, level)
            step = walker.walk(min(chunk, budget - done), 0, plateau, big_rank + plus)
            done += step
            state["steps"] += step
            if walker.rank >= big_rank:
                continue
            walked = to_scheme(big.shape, walker.terms())
            for k in range(big.shape[i]):
                terms = reduce_terms(to_terms(walked.project(axis, k)))
                r = len(terms[0])
                if r < level and walks.sums_ok(shape, terms):
                    state["meta_down"] = state.get("meta_down", 0) + 1
                    if r <= task.rank:
                        got = try_lift(terms)
                        if got is not None:
                            prov["lift"] = got[1]
                            return "found", got[0]
                    note_record(terms)
                    return "down", terms
                if r == level and result[0] == "none" and walks.sums_ok(shape, terms):
                    result = ("side", terms)
        return result

    # a start whose own terms cancelled in the reduction (a user's --start with a repeated or
    # opposite pair): its lift, not the start as given, is the best so far
    for st, terms in usable:
        if len(terms[0]) < min(st.scheme.rank, best.rank if best is not None else 10**9):
            keep_if_better(try_lift(terms))

    # quick exit: a start already at the target and valid in the ring
    if best is not None and best.rank <= task.rank:
        prov["lift"] = "start"
        return outcome(best, "found")

    while True:  # restarts
        # seeds take turns in the rotation, so parallel workers start from different constructions
        first = int(opts.get("start_index", task.seed))
        st, start_terms = rotation[(first + state["restarts"]) % len(rotation)]
        how["start"] = st.how
        pools = _Pools(pool_size, walks.key)
        current["pools"] = pools
        pools.add(start_terms)
        state["record"] = min(state["record"], len(start_terms[0]))
        level = len(start_terms[0])
        limit = limit0
        stalls = 0
        tries = 0
        while True:  # levels
            state["limit"] = limit
            if stopping():
                return outcome(None, "stopped")
            # Below the target only lifting is left to do. Without liftable_pools, unliftable
            # schemes at the target stay in the pools: half the attempts walk on from them
            # (lifting as they go), half make fresh descents from the level above.
            here = level
            if level > task.rank:
                done = [r for r in pools.members if r <= task.rank and pools.at(r)]
                if done and rng.random() < 0.5:
                    here = min(done)
            members = pools.at(here)
            member = members[rng.randrange(len(members))]
            # a stalling level (walks at their longest) also tries moves through a larger shape
            through = meta_axes and limit >= max_limit and here > task.rank and rng.random() < meta_rate
            kind, got = (meta_attempt if through else attempt)(member, here, limit)
            tries += 1
            if kind == "stop":
                return outcome(None, "stopped")
            if kind == "found":
                return outcome(got, "found")  # type: ignore[arg-type]
            if kind in ("down", "side") and admissible(got):  # type: ignore[arg-type]
                pools.add(got)  # type: ignore[arg-type]
            if best is not None and best.rank <= task.rank:  # a ternary polish reached the target
                return outcome(best, "found")
            below = [r for r in pools.members if task.rank < r < level and pools.at(r)]
            nxt = max(below) if below else None
            if nxt is not None and (pools.full(nxt) or tries >= level_attempts):
                level, tries, stalls = nxt, 0, 0
                continue
            if tries >= level_attempts:  # the level stalls: longer walks, then a restart
                tries = 0
                if limit < max_limit:
                    limit = min(2 * limit, max_limit)
                else:
                    stalls += 1
                    if stalls >= stalls_max:
                        break
        state["restarts"] += 1


def _loose(st: Start) -> bool:
    """A construction with a naive part (not the naive scheme itself)."""
    return "naive" in st.how and not st.how.startswith("naive")


def usable_starts(shape: Shape, starts: list[Start], max_starts: int,
                  stopping: Callable[[], bool], walks: Walks | None = None) -> list[tuple[Start, Terms]]:
    """(start, terms) for the starts a search will use (GF(2) terms, or ternary ones with `walks`
    ternary: then only exact ternary schemes qualify), lowest rank first: the `max_starts`
    lowest, and for each way of adding a naive slice (⊕n, ⊕m, ⊕p) the lowest-rank construction
    made that way. Which slice lets walks descend depends on the shape (benchmarks/walk_drops.py:
    ⟨4,5,6⟩ from ⟨4,5,5⟩ ⊕p a naive slice drops at once, from ⟨4,4,6⟩ ⊕m one it stays put)."""
    walks = walks or gf2_walks()
    usable: list[tuple[Start, Terms]] = []
    kinds: set[str] = set()
    for st in starts:
        kind = st.axis if _loose(st) else None
        if len(usable) >= max_starts and (kind is None or kind in kinds):
            continue
        if stopping():
            raise Stopped
        scheme = st.scheme
        if scheme is None:
            continue
        try:  # a start of 40,000 terms takes a minute to reduce: within the time limit
            terms = walks.reduce(walks.to_terms(scheme), stopping)
        except ValueError:
            continue  # fractions (no reduction modulo 2), or outside ZT for a ternary walk
        if stopping():
            raise Stopped
        if walks.sums_ok(shape, terms):
            usable.append((st, terms))
            if kind is not None:
                kinds.add(kind)
    return usable


def _valid_in(scheme: Scheme, ring: str) -> bool:
    from fastmm.verify import verify

    if not ring_serves(scheme.coefficient_ring, ring) and not (ring == "Z2" and scheme.is_integral):
        return False
    if ring != "Z2" and scheme.ring == "Z2":  # a GF(2) scheme serves ZT / Z only if exact over Z
        scheme = scheme.with_meta(ring=scheme.coefficient_ring)
    return verify(scheme, use_sympy=False).ok
