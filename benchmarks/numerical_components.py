"""Which kinds of scheme the numerical search lands on, and which of them flip walks reach over ZT.

The ALS search over Q (collect mode: every restart of one batch runs to its end) finishes most
restarts of ⟨2,3,3;15⟩ with an exact scheme, but only some of those become ternary. This script
sorts every scheme it finishes by an invariant of equivalence (the multiset of the matrix ranks
of each term's three factors, fastmm.equivalence.invariants' "factor_ranks": changes of basis
and term scalings keep it) and by its ring, and sorts ZT schemes found by flip walks over ZT the
same way. A kind of scheme that ALS reaches and flip walks never do is one that rounding cannot
turn ternary (the measurement does not prove that no ternary member exists).

    python benchmarks/numerical_components.py 2,3,3:15 --seeds 5 --flip-seeds 200 \\
        --out results/numerical_components.md
"""

from __future__ import annotations

import collections
import os
import platform
import time

from bench_common import (
    ArgumentParser,
    case_arg,
    case_text,
    emit_report,
    parse_options,
    positive_float,
    positive_int,
)

import fastmm
from fastmm.equivalence import invariants
from fastmm.scheme import Scheme
from fastmm.search.base import SearchTask
from fastmm.verify import verify

Shape = tuple[int, int, int]


def kind(scheme: Scheme) -> str:
    """'6×(1,1,1) 6×(1,1,2) 3×(2,2,2)': how many terms have factors of these matrix ranks."""
    return " ".join(f"{count}×({','.join(map(str, ranks))})"
                    for ranks, count in invariants(scheme)["factor_ranks"])


def als_schemes(shape: Shape, rank: int, seed: int, seconds: float,
                options: dict) -> tuple[list[Scheme], dict]:
    """Every scheme one collect-mode ALS search over Q finishes, each verified; its counters."""
    from fastmm.search.numerical import run_numerical  # here: arguments are checked without torch

    task = SearchTask(*shape, rank, ring="Q", seed=seed, time_limit=seconds,
                      options={"collect": True, **options})
    out = run_numerical(task, lambda _: None, lambda: False, "als")
    found = out.collected  # type: ignore[attr-defined]
    for s in found:
        if not verify(s, use_sympy=False):  # the search verified it; a failure here is a bug
            raise SystemExit(f"error: ALS seed {seed} returned a scheme that does not verify")
    c = out.counters  # type: ignore[attr-defined]
    return found, {"restarts": c.restarts, "fitted": c.fitted}


def main() -> None:
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", type=case_arg, help="n,m,p:rank")
    ap.add_argument("--seeds", type=positive_int, default=5, help="ALS searches (one batch of restarts each)")
    ap.add_argument("--flip-seeds", type=positive_int, default=200, help="ZT flip walks")
    ap.add_argument("--seconds", type=positive_float, default=600.0, help="limit per ALS search")
    ap.add_argument("--option", action="append", default=[], help="ALS option KEY=VALUE (JSON value)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    shape, rank = args.case
    try:
        options = parse_options(args.option)
    except ValueError as exc:
        ap.error(str(exc))
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    als: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    totals = collections.Counter()
    for seed in range(args.seeds):
        found, counts = als_schemes(shape, rank, seed, args.seconds, options)
        totals.update(counts)
        totals["finished"] += len(found)
        for s in found:
            als[kind(s)][s.coefficient_ring] += 1
        print(f"ALS seed {seed}: {len(found)} exact of {counts['restarts']} restarts "
              f"({counts['fitted']} fitted)", flush=True)
    als_seconds = time.perf_counter() - t0
    flips: collections.Counter = collections.Counter()
    gf2: collections.Counter = collections.Counter()  # kinds over GF(2): matrix ranks modulo 2
    t1 = time.perf_counter()
    for seed in range(args.flip_seeds):
        s = fastmm.search(shape, rank, ring="ZT", method="flip", seed=seed, sympy=False, time_limit=60)
        flips[kind(s)] += 1
        s = fastmm.search(shape, rank, ring="Z2", method="flip", seed=seed, sympy=False, time_limit=60)
        gf2[kind(s)] += 1
    flip_seconds = time.perf_counter() - t1
    kinds = sorted(set(als) | set(flips) | set(gf2),
                   key=lambda k: -(sum(als[k].values()) + flips[k] + gf2[k]))
    unreached = sum(sum(als[k].values()) for k in kinds if not flips[k])
    n, m, p = shape
    opts = "".join(f" --option {o}" for o in args.option)
    lines = [f"# Kinds of ⟨{n},{m},{p};{rank}⟩ schemes: ALS over Q against flip walks over ZT", "",
             f"Command: `python benchmarks/numerical_components.py {case_text(shape, rank)} "
             f"--seeds {args.seeds} "
             f"--flip-seeds {args.flip_seeds} --seconds {args.seconds:g}{opts}` ({os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}, load average {load0[0]:.2f} before, "
             f"{os.getloadavg()[0]:.2f} after; ALS {als_seconds:.0f} s, flip walks "
             f"{flip_seconds:.0f} s).", "",
             f"ALS: `fastmm search {n} {m} {p} --rank {rank} --ring Q --method als --seed S` in collect "
             f"mode (seeds 0 to {args.seeds - 1}, every restart of a batch run to its end): "
             f"{totals['restarts']} restarts, {totals['fitted']} fitted, {totals['finished']} finished "
             f"with an exact scheme. Flip walks: `fastmm search {n} {m} {p} --rank {rank} --ring ZT "
             f"--method flip --seed S` and the same with `--ring Z2` (GF(2) walks; their kinds count "
             f"matrix ranks modulo 2), seeds 0 to {args.flip_seeds - 1}. *Kind*: how many terms have "
             "factors of these matrix ranks (an invariant of equivalence).", "",
             "| kind | ALS: ZT | ALS: Z | ALS: Q | flip walks (ZT) | flip walks (GF(2)) |",
             "|---|---|---|---|---|---|"]
    for k in kinds:
        a = als[k]
        lines.append(f"| {k} | {a['ZT']} | {a['Z']} | {a['Q']} | {flips[k]} | {gf2[k]} |")
    share = unreached / totals["restarts"] if totals["restarts"] else 0.0
    lines += ["", f"{unreached} of the {totals['finished']} exact ALS schemes ({share:.1%} of the "
              f"{totals['restarts']} restarts) are of kinds that no flip walk reached over ZT."]
    emit_report(lines, args.out)


if __name__ == "__main__":
    main()
