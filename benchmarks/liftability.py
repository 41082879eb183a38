"""How often do GF(2) schemes of a given rank lift to ZT or Z?

Pools over ZT keep only schemes that lift, so a shape whose walks reach a low GF(2) rank that
never lifts stalls one rank above it. This walks from the catalogue's scheme for the shape down
to RANK over GF(2) (restarted walks of the search's own C / numba kernel), collects distinct
schemes of that rank, and sorts each into: sign-liftable (a ZT scheme with the same support
exists and was found), sign system solvable but no exact lift found, Hensel-liftable to Z only,
or not liftable at all (the mod-4 sign system has no solution, so no ZT lift exists).

    python benchmarks/liftability.py 3 3 6 43 --seconds 150
"""

from __future__ import annotations

import argparse
import time

from fastmm.catalog import load_catalog_scheme
from fastmm.search import flip_c, flip_py
from fastmm.search.base import SearchTask
from fastmm.search.flip import Walker, choose_backend
from fastmm.search.lift import hensel_lift, sign_lift, sign_system
from fastmm.search.terms import term_set_key, to_terms


def classify(shape: tuple[int, int, int], terms) -> str:
    system, rhs, _ = sign_system(shape, terms)
    if system.solve(rhs) is not None:  # only then can sign lifting succeed
        return "ZT" if sign_lift(shape, terms) is not None else "signs solvable, no exact lift found"
    return "Z only" if hensel_lift(shape, terms) is not None else "none"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("m", type=int)
    ap.add_argument("p", type=int)
    ap.add_argument("rank", type=int)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--per-walk", type=int, default=20, help="schemes sampled per walk that arrives")
    args = ap.parse_args(argv)
    shape = (args.n, args.m, args.p)
    start = load_catalog_scheme(shape, "ZT")
    if start is None:
        ap.error(f"the catalogue has no ZT scheme for {shape}")
    terms = to_terms(start)
    plus = start.rank + 2
    backend = choose_backend(SearchTask(*shape, args.rank, "ZT"), flip_c.load)
    seen: set = set()
    counts: dict[str, int] = {}
    walks = arrived = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.seconds:
        walks += 1
        walker = Walker(terms, flip_py.seed_state(walks), backend, plus)
        steps = 0
        while walker.rank > args.rank and steps < 300_000_000 and time.monotonic() - t0 < args.seconds:
            steps += walker.walk(1_000_000, args.rank, 50_000, plus)
        if walker.rank != args.rank:
            continue
        arrived += 1
        for _ in range(args.per_walk):  # flips keep the rank: sample schemes along the way
            walker.walk(20_000, args.rank - 1, 10**9, args.rank)
            if walker.rank != args.rank:
                break
            got = walker.terms()
            key = term_set_key(got)
            if key in seen:
                continue
            seen.add(key)
            kind = classify(shape, got)
            counts[kind] = counts.get(kind, 0) + 1
    n, m, p = shape
    print(f"⟨{n},{m},{p}⟩ from the catalogue's rank {start.rank}: {walks} walks, {arrived} reached "
          f"GF(2) rank {args.rank}, {len(seen)} distinct schemes in {time.monotonic() - t0:.0f} s "
          f"({backend} walk)")
    for kind in ("ZT", "signs solvable, no exact lift found", "Z only", "none"):
        print(f"  {kind}: {counts.get(kind, 0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
