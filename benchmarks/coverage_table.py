"""Coverage: which best-known ranks does `fastmm search` reach, and how fast, without look-ups?

For every shape (default: the ten shapes n ≤ m ≤ p ≤ 4) this runs the search `--seeds` times
(run k uses seeds k·W .. k·W+W-1 on W = `--workers` processes, stopping at the first success),
each with `--time-limit` seconds, towards the best-known rank over `--ring`. The shape's own
catalogue entry is hidden (`exclude_catalog_shapes`), so a scheme is *found*; entries of other
shapes may serve as building blocks (sums, products). Every scheme a run returns is verified
exactly and offered to the catalogue (`add_to_catalog` keeps only improvements).

Rows are written after every run to results/coverage.json and results/coverage.md (a re-run
of a shape replaces that shape's row and keeps the others), with the exact command.

    python benchmarks/coverage_table.py                                  # ten shapes, 3 runs each
    python benchmarks/coverage_table.py --shapes 3,3,4 3,4,4 --seeds 3 --time-limit 600 --workers 2
    python benchmarks/coverage_table.py --shapes 4,4,4 --ring Z2 --time-limit 600 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

from bench_common import ArgumentParser, nonnegative_int, positive_float, positive_int, shape_arg

import fastmm
from fastmm.api import choose_method
from fastmm.catalog import add_to_catalog, catalog_table, load_catalog_scheme
from fastmm.errors import SearchFailed
from fastmm.io import atomic_write_text
from fastmm.known_ranks import best_known_rank, best_known_source, canonical

ROOT = Path(__file__).resolve().parent.parent

Shape = tuple[int, int, int]
TEN = [(2, 2, 2), (2, 2, 3), (2, 2, 4), (2, 3, 3), (2, 3, 4), (2, 4, 4),
       (3, 3, 3), (3, 3, 4), (3, 4, 4), (4, 4, 4)]


def load_rows(path: Path) -> dict:
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    return {"rows": []}


def row_key(row: dict) -> tuple:
    return tuple(row["shape"]), row["ring"]


def summarize(row: dict) -> None:
    """Fill the summary fields of a row from its runs."""
    runs = row["runs"]
    ok = [r for r in runs if r["found"]]
    reached = [r["rank"] for r in runs if r["rank"] is not None]
    row["reached"] = min(reached) if reached else None
    row["successes"] = len(ok)
    row["seeds_tried"] = sum(len(r["seeds"]) for r in runs)
    row["median_seconds_success"] = round(statistics.median(r["seconds"] for r in ok), 2) if ok else None
    # all runs, a failure counted at its full time: an upper bound on the median time to success
    row["median_seconds_all"] = round(statistics.median(r["seconds"] for r in runs), 2) if runs else None


def write_md(path: Path, data: dict) -> None:
    lines = [
        "# Coverage: best-known ranks reached by `fastmm search`",
        "",
        *catalogue_lines(),
        "## Timed searches",
        "",
        "Each shape searched without its own catalogue entry (other shapes' entries may be",
        "used as building blocks). A run uses W worker processes on seeds k·W..k·W+W−1 and stops",
        "at the first success; time is wall-clock on the machine below, which was shared with",
        "other heavy jobs (load average recorded per row).",
        "",
        "| shape | ring | best known | reached | successes / runs | seeds tried | median s (successes) "
        "| median s (all runs) | limit s | workers | method | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(data["rows"], key=lambda r: (r["ring"] != "ZT", r["shape"])):
        n, m, p = row["shape"]
        reached = row["reached"]
        mark = "" if reached is None else (" ✓" if reached <= row["best_known"] else "")
        med = row["median_seconds_success"]
        lines.append(
            f"| ⟨{n},{m},{p}⟩ | {row['ring']} | {row['best_known']} | {reached}{mark} | "
            f"{row['successes']} / {len(row['runs'])} | {row['seeds_tried']} | "
            f"{'—' if med is None else med} | {row['median_seconds_all']} | {row['time_limit']} | "
            f"{row['workers']} | {row['method']} | {row['load']} |")
    lines += ["", "Runs (seeds, result, seconds, start construction):", ""]
    for row in sorted(data["rows"], key=lambda r: (r["ring"] != "ZT", r["shape"])):
        n, m, p = row["shape"]
        for r in row["runs"]:
            lines.append(f"- ⟨{n},{m},{p}⟩ {row['ring']} seeds {r['seeds'][0]}..{r['seeds'][-1]}: "
                         f"{'found' if r['found'] else 'not found'}, rank {r['rank']}, "
                         f"{r['seconds']} s, start {r.get('start')}")
    lines += ["", "Commands:", ""]
    for row in data["rows"]:
        lines.append(f"- ⟨{','.join(map(str, row['shape']))}⟩ {row['ring']}: `{row['command']}`")
    lines += ["", f"Machine: {data.get('machine', '')}", ""]
    atomic_write_text(path, "\n".join(lines))


def save(out: Path, data: dict) -> None:
    atomic_write_text(out.with_suffix(".json"), json.dumps(data, indent=1, ensure_ascii=False))
    write_md(out.with_suffix(".md"), data)


def one_run(shape: Shape, ring: str, target: int, seed: int, args: argparse.Namespace) -> dict:
    """One `fastmm.search` call (W workers) without the shape's own catalogue entry."""
    t0 = time.perf_counter()
    last = [time.perf_counter()]

    def progress(index: int, p) -> None:
        now = time.perf_counter()
        if args.verbose and now - last[0] >= 15:
            last[0] = now
            print(f"  [{now - t0:6.0f} s] worker {index}: rank {p.rank}, {p.steps:,} steps, "
                  f"{p.restarts} restarts, {p.note}", flush=True)

    found = True
    try:  # verified by the library before it is returned, best-so-far included
        scheme = fastmm.search(shape, target, ring=ring, method=args.method, seed=seed,
                               time_limit=args.time_limit, workers=args.workers, sympy=False,
                               options={"exclude_catalog_shapes": [shape]}, on_progress=progress,
                               command="benchmarks/coverage_table.py")
    except SearchFailed as exc:
        scheme, found = exc.best, False
    seconds = time.perf_counter() - t0
    run = {"seeds": list(range(seed, seed + args.workers)), "found": False, "rank": None,
           "seconds": round(seconds, 2)}
    if scheme is None:
        return run
    prov = dict(scheme.provenance)
    run.update(rank=scheme.rank, found=found and scheme.rank <= target, start=prov.get("start"),
               winning_seed=prov.get("seed"), steps=prov.get("steps"), verified_ring=scheme.ring)
    prov.update(seconds=round(seconds, 2), benchmark="benchmarks/coverage_table.py")
    run["catalog_added"] = add_to_catalog(scheme.with_meta(provenance=prov))
    return run


def catalogue_lines() -> list[str]:
    """Every shape up to 6: the best-known ZT rank (and where it comes from), the catalogue's ZT
    entry and how fastmm found it (method, seconds, command from the file's provenance), and
    lower-rank entries in weaker rings (Z, Z2) beside it."""
    rows, _ = catalog_table()
    rows = [r for r in rows if r["best_ZT"] is not None]  # the tabulated shapes
    zt = {tuple(r["shape"]): r["by_ring"].get("ZT") for r in rows}
    at = sum(zt[tuple(r["shape"])] is not None and zt[tuple(r["shape"])] <= r["best_ZT"] for r in rows)
    lines = ["## The catalogue: all shapes n ≤ m ≤ p ≤ 6", "",
             f"{at} of {len(rows)} shapes at the best-known ZT rank (`fastmm catalog`). Every entry was "
             "found by fastmm (a search, or sums, products and projections of its own schemes "
             "seeded only from Strassen and Laderman) and verified exactly. *Other rings* lists "
             "entries of lower rank that are valid only over Z (larger integer coefficients) or "
             "modulo 2. *Seconds* is the search's time; for a best-so-far found by a run that "
             "went on, “X of Y” means found after X s of a Y s run.", "",
             "| shape | best known ZT | source | catalogue ZT | gap | other rings | how | seconds "
             "| command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        shape = tuple(r["shape"])
        rank = zt[shape]
        s = load_catalog_scheme(shape, "ZT") if rank is not None else None
        prov = s.provenance if s is not None else {}
        how = prov.get("method", "")
        if prov.get("start"):
            how += f" from {prov['start']}"
        elif prov.get("expression"):
            how += f" {prov['expression']}"
        cmd = prov.get("command", "")
        others = ", ".join(f"{ring} {k}" for ring, k in r["by_ring"].items()
                           if ring != "ZT" and (rank is None or k < rank))
        gap = rank - r["best_ZT"] if rank is not None else ""
        secs = prov.get("seconds", "")
        if "found_after_s" in prov:  # a best-so-far: when it was found, and how long the run was
            secs = f"{prov['found_after_s']} of {secs}"
        lines.append(f"| ⟨{','.join(map(str, shape))}⟩ | {r['best_ZT']} | {best_known_source(shape)} | "
                     f"{rank if rank is not None else '—'} | {gap} | {others} | {how} | "
                     f"{secs} | {'`' + cmd + '`' if cmd else ''} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", type=shape_arg, nargs="+", default=list(TEN), metavar="N,M,P")
    ap.add_argument("--seeds", type=positive_int, default=3, help="runs per shape")
    ap.add_argument("--time-limit", type=positive_float, default=600.0, help="seconds per run")
    ap.add_argument("--workers", type=positive_int, default=1)
    ap.add_argument("--ring", default="ZT", choices=["ZT", "Z", "Z2"])
    ap.add_argument("--method", default="auto", help="auto: what `fastmm search` would choose")
    ap.add_argument("--rank", type=positive_int, default=None, help="target rank (default: best known)")
    ap.add_argument("--stop-after", type=nonnegative_int, default=0,
                    help="stop a shape after this many successes (0: run all seeds)")
    ap.add_argument("--verbose", action="store_true", help="print progress every 15 s")
    ap.add_argument("--out", default=str(ROOT / "results" / "coverage"))
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the Markdown from the catalogue and the recorded runs; search nothing")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.report_only:
        save(out, load_rows(out.with_suffix(".json")))
        return 0
    given = argv or sys.argv[1:]
    command = "python benchmarks/coverage_table.py " + " ".join(shlex.quote(a) for a in given)
    for given_shape in args.shapes:
        shape = canonical(given_shape)
        best = best_known_rank(shape, args.ring)
        target = args.rank or best
        row = {"shape": list(shape), "ring": args.ring, "best_known": best, "target": target,
               "time_limit": args.time_limit, "workers": args.workers,
               "method": choose_method(shape, target, args.ring)
               if args.method == "auto" else args.method,
               "command": command, "load": round(os.getloadavg()[0], 1), "runs": []}
        for k in range(args.seeds):
            run = one_run(shape, args.ring, target, k * args.workers, args)
            row["runs"].append(run)
            summarize(row)
            data = load_rows(out.with_suffix(".json"))  # another coverage run may have written
            data["rows"] = [r for r in data["rows"] if row_key(r) != row_key(row)] + [row]
            data["machine"] = f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}"
            save(out, data)
            kept = "updated" if run.get("catalog_added") else "kept"
            print(f"⟨{shape[0]},{shape[1]},{shape[2]}⟩ {args.ring} run {k}: "
                  f"{'found' if run['found'] else 'not found'} rank {run['rank']} in {run['seconds']} s "
                  f"(start {run.get('start')}, catalogue {kept})", flush=True)
            if args.stop_after and row["successes"] >= args.stop_after:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
