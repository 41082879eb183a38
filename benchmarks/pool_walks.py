"""Pools that walk over GF(2) (the default) against pools that walk over ZT (`walk=ternary`) and
GF(2) pools whose lifted schemes are walked on over ZT (`ternary_polish`), side by side: the
same shapes, seeds and time limit, the kinds alternating seed by seed so that all see the same
machine load. Each search starts from fastmm's constructions without the shape's own catalogue
entry (the library's default), as a user's search does.

    python benchmarks/pool_walks.py --shapes 3,3,4:29 2,4,4:26 --seeds 4 --time-limit 120
    python benchmarks/pool_walks.py --shapes 2,3,5:25 --walks gf2 polish --polish-steps 20000000

Prints one JSON line per search (shape, seed, walk, rank found or null, seconds) and a summary
per shape and walk.
"""

from __future__ import annotations

import json
import time

from bench_common import ArgumentParser, case_arg, positive_float, positive_int

import fastmm
from fastmm.errors import SearchFailed

WALKS = ("gf2", "ternary", "polish")


def walk_options(walk: str, polish_steps: int) -> dict:
    """The pool options of one kind of walk."""
    if walk == "polish":
        return {"walk": "gf2", "ternary_polish": polish_steps}
    return {"walk": walk}


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", type=case_arg, nargs="+", required=True, metavar="N,M,P:RANK")
    ap.add_argument("--seeds", type=positive_int, default=4)
    ap.add_argument("--time-limit", type=positive_float, default=120.0)
    ap.add_argument("--walks", nargs="+", choices=WALKS, default=["gf2", "ternary"])
    ap.add_argument("--polish-steps", type=positive_int, default=20_000_000,
                    help="ternary steps per lifted scheme for the polish kind")
    args = ap.parse_args(argv)
    for shape, rank in args.shapes:
        dims = ",".join(map(str, shape))
        found: dict[str, list[float]] = {w: [] for w in args.walks}
        for seed in range(args.seeds):
            for walk in args.walks:
                t0 = time.perf_counter()
                try:
                    got = fastmm.search(shape, rank, method="pool", seed=seed,
                                        time_limit=args.time_limit, sympy=False,
                                        options=walk_options(walk, args.polish_steps)).rank
                except SearchFailed:
                    got = None
                seconds = round(time.perf_counter() - t0, 2)
                if got is not None:
                    found[walk].append(seconds)
                print(json.dumps({"shape": shape, "seed": seed, "walk": walk, "found": got,
                                  "seconds": seconds}), flush=True)
        for walk in args.walks:
            times = found[walk]
            span = f" ({min(times)}–{max(times)} s)" if times else ""
            print(f"⟨{dims};{rank}⟩ {walk}: {len(times)} of {args.seeds} within {args.time_limit:g} s{span}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
