"""How often does a GF(2) flip walk lower the rank at all, per shape and starting point?

The pools stall on the shapes behind the frontier (⟨2,5,6⟩, ⟨2,6,6⟩, ⟨3,4,6⟩, …) at the rank of
their construction. This measures the cause directly: K independent walks of the search's own
kernel (flips, reductions, plus transitions up to the start's rank + PLUS, a plus transition
after PLATEAU flips without a drop) from each starting point, N steps each, and reports how
many walks went below the start's rank and the lowest rank reached. Deterministic per seed.

    python benchmarks/walk_drops.py 2,4,5 2,4,6 3,4,5 3,4,6 --steps 2e7 --walks 4 \
        --out results/walk_drops.md
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from pathlib import Path

from bench_common import ArgumentParser, nonnegative_int, positive_int, shape_arg

from fastmm.paths import write_atomic
from fastmm.scheme import naive_scheme
from fastmm.search import flip_c, flip_py
from fastmm.search.base import SearchTask
from fastmm.search.flip import Walker, choose_backend
from fastmm.search.pool import usable_starts
from fastmm.search.starts import starting_points
from fastmm.search.terms import Terms, to_terms

Shape = tuple[int, int, int]


def walk_lows(terms, steps: int, walks: int, plus: int, plateau: int, backend: str,
              seed: int) -> list[int]:
    """The lowest rank each of `walks` walks reached within `steps` steps."""
    r0 = len(terms[0])
    lows = []
    for k in range(walks):
        w = Walker(terms, flip_py.seed_state(seed * 1_000_003 + k), backend, r0 + plus)
        low, done = r0, 0
        while done < steps:
            # stop at each new low so that a walk that climbs back is still counted by its low
            done += w.walk(min(steps - done, 1_000_000), low - 1, plateau, r0 + plus)
            low = min(low, w.rank)
        lows.append(low)
    return lows


def starts_for(shape: Shape, count: int) -> list[tuple[str, Terms]]:
    """The naive scheme and the starts a pool search would rotate through: the `count`
    lowest-rank constructions and the lowest-rank one with a naive slice in each direction,
    built from the catalogue's other shapes (the shape's own entry is left out)."""
    naive = (f"naive⟨{shape[0]},{shape[1]},{shape[2]}⟩", to_terms(naive_scheme(*shape)))
    built = sorted(starting_points(shape, "ZT", exclude=[shape]), key=lambda s: s.rank)
    chosen = usable_starts(shape, [s for s in built if not s.how.startswith("naive")], count,
                           lambda: False)
    return [naive] + [(st.how, terms) for st, terms in chosen]


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shapes", nargs="+", type=shape_arg, help="n,m,p")
    ap.add_argument("--steps", type=positive_int, default=20_000_000, help="steps per walk (2e7 allowed)")
    ap.add_argument("--walks", type=positive_int, default=4, help="walks per starting point")
    ap.add_argument("--constructions", type=nonnegative_int, default=2,
                    help="how many of the pool's lowest-rank starts to walk from, besides the naive "
                         "scheme and the best construction with a naive slice in each direction")
    ap.add_argument("--plus", type=nonnegative_int, default=3,
                    help="plus transitions up to start rank + this")
    ap.add_argument("--plateau", type=positive_int, default=20_000)
    ap.add_argument("--seed", type=nonnegative_int, default=0)
    ap.add_argument("--out", type=Path, help="write the table as Markdown here")
    args = ap.parse_args(argv)
    steps = args.steps
    backend = choose_backend(SearchTask(2, 2, 2, rank=7, ring="Z2"), flip_c.load)
    load0 = os.getloadavg()
    t_all = time.time()
    rows = []
    for shape in args.shapes:
        for how, terms in starts_for(shape, args.constructions):
            t0 = time.time()
            lows = walk_lows(terms, steps, args.walks, args.plus, args.plateau, backend, args.seed)
            r0 = len(terms[0])
            dropped = sum(low < r0 for low in lows)
            dist = ", ".join(f"{r}×{c}" for r, c in sorted(Counter(lows).items()))
            row = (f"| ⟨{shape[0]},{shape[1]},{shape[2]}⟩ | {how} | {r0} | {dropped}/{len(lows)} | "
                   f"{min(lows)} | {dist} | {time.time() - t0:.1f} |")
            print(row, flush=True)
            rows.append(row)
    load1 = os.getloadavg()
    cmd = "python benchmarks/walk_drops.py " + " ".join(",".join(map(str, s)) for s in args.shapes) + \
        f" --steps {args.steps:g} --walks {args.walks} --constructions {args.constructions}" \
        f" --plus {args.plus} --plateau {args.plateau} --seed {args.seed}"
    head = [
        "# Do flip walks lower the rank? (per shape and starting point)", "",
        f"{args.walks} GF(2) walks of {steps:,} steps from each start ({backend} kernel; plus "
        f"transitions up to the start's rank + {args.plus}, one after {args.plateau:,} flips "
        "without a drop). *Dropped*: walks that went below the start's rank.", "",
        f"Command: `{cmd}`; {platform.machine()}, {os.cpu_count()} cores; load average "
        f"{' '.join(f'{x:.2f}' for x in load0)} → {' '.join(f'{x:.2f}' for x in load1)}; "
        f"{time.time() - t_all:.0f} s in all.", "",
        "| shape | start | start rank | dropped | lowest | lowest per walk | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    if args.out:
        write_atomic(args.out, "\n".join(head + rows) + "\n", make_parents=True)
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
