"""The ternary walk in C against numba, side by side: the same start, seed and number of steps
on both, repeated; both must end in the same state (all six arrays, st and rng). Reports steps
per second by wall clock and by process CPU time (steadier on a shared machine).

    python benchmarks/ternary_speed.py [--steps 10000000] [--repeats 3]

Starts: the catalogue's ⟨3,4,5;48⟩ and ⟨5,5,6;110⟩, plus transitions up to rank + 4, plateau
20,000 (the defaults of a walk from a given start).
"""

from __future__ import annotations

import os
import time

import numpy as np
from bench_common import ArgumentParser, positive_int

from fastmm.catalog import catalog_dir
from fastmm.io import load_scheme
from fastmm.search import flip_c
from fastmm.search.ternary import PLATEAU, START_PLUS, Walker
from fastmm.search.ternary_py import to_terms

STARTS = ("3x4x5-rank48-ZT.json", "5x5x6-rank110-ZT.json")


def span(values: list[float]) -> str:
    return f"{min(values) / 1e6:.2f}-{max(values) / 1e6:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=positive_int, default=10_000_000)
    ap.add_argument("--repeats", type=positive_int, default=3)
    args = ap.parse_args(argv)
    if flip_c.load_ternary() is None:
        print("no C compiler: nothing to compare")
        return 1
    print("load average before:", os.getloadavg())
    for name in STARTS:
        terms = to_terms(load_scheme(catalog_dir() / name))
        limit = len(terms[0]) + START_PLUS
        Walker(terms, 0, "numba", limit).walk(10, 0, PLATEAU, limit)  # numba compiled and loaded
        wall: dict[str, list[float]] = {"numba": [], "c": []}
        cpu: dict[str, list[float]] = {"numba": [], "c": []}
        for _ in range(args.repeats):
            ends = {}
            for backend in ("numba", "c"):
                walker = Walker(terms, 7, backend, limit)
                t0, c0 = time.perf_counter(), time.process_time()
                done = walker.walk(args.steps, 0, PLATEAU, limit)
                wall[backend].append(done / (time.perf_counter() - t0))
                cpu[backend].append(done / (time.process_time() - c0))
                ends[backend] = [f.copy() for f in walker.F] + [walker.st.copy(), walker.rng.copy()]
            if not all(np.array_equal(a, b) for a, b in zip(ends["numba"], ends["c"], strict=True)):
                raise SystemExit(f"{name}: the C and numba walks ended in different states")
        print(f"{name}: plus_limit {limit}, {args.steps:,} steps x {args.repeats}, end rank "
              f"{int(ends['c'][6][0])}, end states equal")
        for label, speeds in (("wall", wall), ("cpu", cpu)):
            ratios = [c / n for c, n in zip(speeds["c"], speeds["numba"], strict=True)]
            print(f"  {label}: numba {span(speeds['numba'])} M steps/s, C {span(speeds['c'])} M steps/s, "
                  f"C/numba {min(ratios):.2f}-{max(ratios):.2f}")
    print("load average after:", os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
