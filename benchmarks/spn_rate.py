"""Success rate and time to a verified scheme of `fastmm search --method spn --engine single`.

For each shape and each seed 0..N-1 this runs the SPN search until it finds a scheme (or
the per-seed time limit) on one thread, re-verifies the result exactly (integer Brent
equations), and records the restarts it took. Restart 0 of seed s is the same computation
as a single restart with that seed, so

    success rate per restart = schemes found / restarts run (over all seeds)
    time to a verified scheme = wall-clock seconds of one whole search (restarts included)

Writes results/spn_search.json and results/spn_search.md (with the command that produced them).

    python benchmarks/spn_rate.py          # ⟨2,2,2;7⟩ × 20, ⟨2,2,3;11⟩ × 10, ⟨2,3,3;15⟩ × 3 (30 s)
    python benchmarks/spn_rate.py --shape 2,3,3:15 --seeds 5
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from bench_common import ArgumentParser, case_arg, positive_float, positive_int  # noqa: E402

from fastmm.metrics import factor_rank_invariant, format_invariant  # noqa: E402
from fastmm.reference import strassen  # noqa: E402
from fastmm.search.base import SearchTask  # noqa: E402
from fastmm.verify import verify  # noqa: E402

# (shape, rank, seeds, seconds per seed); ⟨2,3,3;15⟩ is a stretch check, kept short
DEFAULT_SHAPES = [((2, 2, 2), 7, 20, 120.0), ((2, 2, 3), 11, 10, 120.0), ((2, 3, 3), 15, 3, 30.0)]


def measure(shape: tuple[int, int, int], rank: int, seeds: int, time_limit: float) -> dict:
    from fastmm.search.spn import run  # here: arguments are checked without torch

    rows = []
    strassen_inv = factor_rank_invariant(strassen())
    for seed in range(seeds):
        task = SearchTask(*shape, rank=rank, seed=seed, time_limit=time_limit,
                          options={"engine": "single"})
        t0, c0 = time.perf_counter(), time.process_time()
        out = run(task, lambda _p: None, lambda: False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        row = {"seed": seed, "found": out.scheme is not None, "restarts": out.restarts,
               "steps": out.steps, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
               "stopped": out.stopped}
        if out.scheme is not None:
            s = out.scheme
            row["verified"] = verify(s, use_sympy=False).ok  # independent exact re-check
            row["ring"] = s.ring
            row["rank"] = s.rank
            row["stage"] = s.provenance.get("stage", "")
            inv = factor_rank_invariant(s)
            row["invariant"] = format_invariant(inv)
            if shape == (2, 2, 2) and rank == 7:
                row["strassen_invariant"] = inv == strassen_inv
        rows.append(row)
        print(f"⟨{shape[0]},{shape[1]},{shape[2]};{rank}⟩ seed {seed}: "
              f"{'found' if row['found'] else row['stopped']} in {wall:.2f} s (cpu {cpu:.2f} s), "
              f"{out.restarts} restart(s)", flush=True)
    ok = [r for r in rows if r["found"] and r["verified"]]
    restarts = sum(r["restarts"] for r in rows)
    first_try = sum(1 for r in ok if r["restarts"] == 1)
    times = [r["seconds"] for r in ok]
    cpu = [r["cpu_seconds"] for r in ok]
    return {
        "shape": list(shape), "rank": rank, "seeds": seeds, "time_limit": time_limit,
        "found": len(ok), "restarts": restarts,
        "success_per_restart": round(len(ok) / restarts, 4) if restarts else None,
        "first_restart_success": f"{first_try}/{seeds}",
        "median_seconds_to_verified": round(statistics.median(times), 3) if times else None,
        "max_seconds_to_verified": round(max(times), 3) if times else None,
        "median_cpu_seconds_to_verified": round(statistics.median(cpu), 3) if cpu else None,
        "median_steps": statistics.median([r["steps"] for r in ok]) if ok else None,
        "stages": {st: sum(1 for r in ok if r["stage"] == st) for st in sorted({r["stage"] for r in ok})},
        "runs": rows,
    }


def write_markdown(path: Path, data: dict) -> None:
    lines = [
        "# `--method spn --engine single`: success rate and time to a verified scheme",
        "",
        f"Command: `{data['command']}`  ",
        f"Machine: {data['machine']}; one torch thread per search; "
        f"load average at start {data['load_start']}, at end {data['load_end']} "
        "(other work shared the cores: wall times are upper bounds; CPU seconds of the "
        "search process are the steadier figure).",
        "",
        "Recipe (fastmm/search/spn.py): fit with the exact tensor loss (= expected loss on "
        "Gaussian random products) and a small L2 → slowly growing L1 penalty → rescale each "
        "term to max|Wa[t]| = max|Wb[t]| = 1 and round (every 50 steps) → when near ternary "
        "but not exact, TWN + straight-through ternary fine-tune → exact Brent check; "
        "restart from a new seed-derived initialisation on failure.",
        "",
        "| shape | seeds (limit s) | found | restarts | success / restart | first-restart success "
        "| median s to verified (wall) | median CPU s | max wall s | median steps "
        "| found by stage |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in data["shapes"]:
        n, m, p = s["shape"]
        stages = ", ".join(f"{k}: {v}" for k, v in s["stages"].items())
        lines.append(
            f"| ⟨{n},{m},{p};{s['rank']}⟩ | {s['seeds']} ({s['time_limit']:g}) | "
            f"{s['found']} | {s['restarts']} | "
            f"{s['success_per_restart']} | {s['first_restart_success']} | "
            f"{s['median_seconds_to_verified']} | {s['median_cpu_seconds_to_verified']} | "
            f"{s['max_seconds_to_verified']} | "
            f"{s['median_steps']} | {stages} |")
    lines += ["", "A restart cut short by the time limit counts as a failed restart."]
    for s in data["shapes"]:
        n, m, p = s["shape"]
        lines += ["", f"## ⟨{n},{m},{p};{s['rank']}⟩ per seed", "",
                  "| seed | found | restarts | steps | wall s | CPU s | stage "
                  "| factor-rank invariant |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in s["runs"]:
            inv = r.get("invariant", "")
            if r.get("strassen_invariant"):
                inv += " (= Strassen)"
            lines.append(f"| {r['seed']} | {'yes' if r['found'] else r['stopped']} | "
                         f"{r['restarts']} | {r['steps']} | {r['seconds']} | {r['cpu_seconds']} | "
                         f"{r.get('stage', '')} | {inv} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=case_arg, action="append", default=[],
                    help="N,M,P:RANK (repeatable); default ⟨2,2,2;7⟩, ⟨2,2,3;11⟩ and ⟨2,3,3;15⟩")
    ap.add_argument("--seeds", type=positive_int, default=None,
                    help="seeds per shape (default 20 for ⟨2,2,2;7⟩, 10 for others)")
    ap.add_argument("--time-limit", type=positive_float, default=None,
                    help="seconds per seed (default 120; 30 for the default ⟨2,3,3;15⟩)")
    ap.add_argument("--out", default=str(ROOT / "results" / "spn_search"),
                    help="output path without extension")
    args = ap.parse_args(argv)
    shapes = [(*s, args.seeds or 10, args.time_limit or 120.0) for s in args.shape] or [
        (sh, r, args.seeds or k, args.time_limit or t) for sh, r, k, t in DEFAULT_SHAPES]
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = [measure(sh, r, k, t) for sh, r, k, t in shapes]
    from fastmm.search.spn import SPNConfig
    data = {
        "command": "python benchmarks/spn_rate.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_start": load_start,
        "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "config": {k: v for k, v in SPNConfig().__dict__.items()},
        "shapes": results,
    }
    data["command"] = data["command"].strip()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    write_markdown(out.with_suffix(".md"), data)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
