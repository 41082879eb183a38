"""How many GF(2) schemes from flip walks become ZT / Z schemes, and by which lift?

Each seed walks the GF(2) flip graph (plain Python walk, deterministic) from the naive scheme
down to the rank asked, then samples schemes at that rank every FLIPS flips; each sample goes
through `fastmm.lift`'s stages: sign lifting (a ZT scheme that reduces to it), Hensel lifting
(a Z one), and for those Hensel lifts, changes of basis to a ZT scheme of the same rank
(fastmm.search.lift.frame_to_ternary). Every scheme counted is verified exactly.

    python benchmarks/lift_yield.py 2,2,3:11 3,3,3:23 --seeds 30 --samples 10 --out results/lift_yield.md
"""

from __future__ import annotations

import os
import platform
import time

from bench_common import ArgumentParser, case_arg, case_text, emit_report, positive_int

from fastmm.scheme import naive_scheme
from fastmm.search.flip import Walker, reduce_terms
from fastmm.search.lift import frame_to_ternary, hensel_lift, sign_lift, sign_system
from fastmm.search.terms import Terms, to_terms
from fastmm.verify import verify

Shape = tuple[int, int, int]


def samples(shape: Shape, rank: int, seed: int, count: int, flips: int) -> list[Terms]:
    """`count` GF(2) schemes of `rank` along one walk (none if the walk does not get there)."""
    naive = shape[0] * shape[1] * shape[2]
    w = Walker(reduce_terms(to_terms(naive_scheme(*shape))), seed, "python", naive)
    for _ in range(200):
        w.walk(2000, rank - 1, 3000, naive)
        if w.rank == rank:
            break
    out = []
    while w.rank == rank and len(out) < count:
        w.walk(flips, rank - 1, 10**9, rank)  # flips only: the rank stays
        out.append(w.terms())
    return out


def classify(shape: Shape, terms: Terms) -> dict[str, bool]:
    system, rhs, _ = sign_system(shape, terms)
    row = {"mod4": system.solve(rhs) is not None, "signs": False, "hensel": False, "framed": False}
    if sign_lift(shape, terms) is not None:
        row["signs"] = True
        return row
    got = hensel_lift(shape, terms)
    if got is None:
        return row
    row["hensel"] = True
    framed = frame_to_ternary(shape, *got)
    row["framed"] = framed is not None and verify(framed, use_sympy=False).ring == "ZT"
    return row


def main() -> None:
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="+", type=case_arg, help="n,m,p:rank")
    ap.add_argument("--seeds", type=positive_int, default=30)
    ap.add_argument("--samples", type=positive_int, default=10, help="schemes sampled per walk")
    ap.add_argument("--flips", type=positive_int, default=500, help="flips between samples")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    load0 = os.getloadavg()
    rows = []
    for shape, rank in args.cases:
        t0 = time.perf_counter()
        counts = {"samples": 0, "mod4": 0, "signs": 0, "hensel": 0, "framed": 0}
        for seed in range(args.seeds):
            for terms in samples(shape, rank, seed, args.samples, args.flips):
                counts["samples"] += 1
                for key, ok in classify(shape, terms).items():
                    counts[key] += ok
        counts["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append((shape, rank, counts))
        print(shape, rank, counts, flush=True)
    typed = " ".join(case_text(*c) for c in args.cases)
    lines = ["# Lifting GF(2) schemes: signs, Hensel, changes of basis", "",
             f"Command: `python benchmarks/lift_yield.py {typed} --seeds {args.seeds} "
             f"--samples {args.samples} --flips {args.flips}` ({os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}, load average {load0[0]:.2f} before, "
             f"{os.getloadavg()[0]:.2f} after).", "",
             "Schemes sampled along flip walks at the rank (plain Python walk from the naive scheme, seeds "
             f"0 to {args.seeds - 1}). *mod-4 solvable*: the sign equations have a solution (else no ZT "
             "scheme reduces to the sample); *sign lift*: a verified ZT scheme that reduces to it; of the "
             "rest, *Hensel*: a verified Z one; *framed to ZT*: of those, a verified ZT scheme of the same "
             "rank after changes of basis (`fastmm lift` runs all three; searches over ZT the first, "
             "and the others within a share of their time: `--option rescue`).", "",
             "| shape | samples | mod-4 solvable | sign lift | no sign lift | Hensel (Z) | framed to ZT | "
             "ZT in all | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for shape, rank, c in rows:
        rest = c["samples"] - c["signs"]
        lines.append(f"| ⟨{shape[0]},{shape[1]},{shape[2]};{rank}⟩ | {c['samples']} | {c['mod4']} | "
                     f"{c['signs']} | {rest} | {c['hensel']} | {c['framed']} | {c['signs'] + c['framed']} "
                     f"| {c['seconds']} |")
    emit_report(lines, args.out)


if __name__ == "__main__":
    main()
