"""Success, speed and rings of the batched numerical searches (`--method als`, batched `spn`).

Each case runs independent searches (seeds 0..N-1) through fastmm.search.runner.run_search, one
torch thread per search process, re-verifies every result exactly, and records per search:
found or not, seconds to the verified scheme, initialisations drawn (restarts), restarts per
second, restarts that reached the fit, roundings sent to the exact check and how many failed,
and the ring of the result. Results accumulate in results/numerical_search.json (one entry per
case, each with the command that produced it); results/numerical_search.md is regenerated
from all of them.

    python benchmarks/numerical_search.py --case als-233             # ⟨2,3,3;15⟩ × 20 seeds
    python benchmarks/numerical_search.py --case adam-234 --seeds 4
    python benchmarks/numerical_search.py --list
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from bench_common import (  # noqa: E402
    ArgumentParser,
    code_version,
    nonnegative_int,
    parse_options,
    positive_float,
    positive_int,
    read_merge,
)

from fastmm.io import atomic_write_text, scheme_to_dict  # noqa: E402
from fastmm.search.base import SearchTask  # noqa: E402
from fastmm.search.runner import run_search  # noqa: E402
from fastmm.verify import verify  # noqa: E402

# name -> (shape, rank, ring, method, options, seeds, seconds per search, workers, what it shows)
CASES: dict[str, tuple] = {
    "als-222": ((2, 2, 2), 7, "ZT", "als", {}, 20, 60.0, 1, "Strassen by ALS"),
    "als-233": ((2, 3, 3), 15, "ZT", "als", {}, 20, 120.0, 1,
                "target: ≥ 80% of restarts succeed (20 seeds); per search and per restart below"),
    "als-233-q": ((2, 3, 3), 15, "Q", "als", {}, 10, 120.0, 1, "ring Q allowed"),
    "adam-233": ((2, 3, 3), 15, "ZT", "spn", {"engine": "batched"}, 10, 120.0, 1,
                 "the paper's optimiser (Adam), batched"),
    "adam-234": ((2, 3, 4), 20, "ZT", "spn", {"engine": "batched"}, 6, 120.0, 1,
                 "target: half the searches within 2 min by Adam"),
    "als-234": ((2, 3, 4), 20, "ZT", "als", {}, 6, 120.0, 1, "ALS on the same target"),
    "als-333": ((3, 3, 3), 23, "ZT", "als", {}, 10, 600.0, 1,
                "target: 3 of 10 within 10 min with --workers 2 (run here with 1 worker)"),
    "als-245-q": ((2, 4, 5), 32, "Q", "als", {"batch": 128, "ridge_steps": 1500, "fit_steps": 3000},
                  1, 900.0, 1,
                  "headline: ⟨2,4,5;32⟩ over Q (AlphaEvolve 2025)"),
    "als-245-q-b": ((2, 4, 5), 32, "Q", "als",
                    {"batch": 128, "init_std": 0.3, "damping": 0.01, "ridge": 3e-3,
                     "ridge_steps": 1500, "fit_steps": 3000},
                    1, 1200.0, 1, "headline, second attempt: smaller init, damping and ridge"),
    "als-233-each": ((2, 3, 3), 15, "ZT", "als", {"collect": True}, 20, 600.0, 1,
                     "target: ≥ 80% of restarts succeed (20 seeds); one batch of 64 restarts per "
                     "seed, each run to its end (collect mode), so success per restart is exact"),
    "als-233-each-refit": ((2, 3, 3), 15, "ZT", "als", {"collect": True, "refit": 16, "redraw": 16}, 20,
                           600.0, 1, "target: ≥ 80% of restarts succeed (20 seeds), collect mode; a fit "
                           "that neither the frames nor the pull to the grid made ternary re-draws two "
                           "thirds of its terms and fits again (refit, up to 16 times; re-draws of "
                           "stuck fits up to 16)"),
    "als-233-each-noframes": ((2, 3, 3), 15, "ZT", "als", {"collect": True, "frames": False}, 20, 600.0,
                              1, "the same restarts without the frames stage (the method before it)"),
    "als-233-q-each": ((2, 3, 3), 15, "Q", "als", {"collect": True}, 20, 600.0, 1,
                       "per restart with ring Q allowed (collect mode)"),
    "als-234-each": ((2, 3, 4), 20, "ZT", "als", {"collect": True}, 4, 900.0, 1,
                     "per restart on ⟨2,3,4;20⟩ (collect mode)"),
    "als-234-each-noframes": ((2, 3, 4), 20, "ZT", "als", {"collect": True, "frames": False}, 4, 900.0,
                              1, "the same without the frames stage"),
    "als-336-q": ((3, 3, 6), 40, "Q", "als", {"batch": 64, "ridge_steps": 1500, "fit_steps": 3000},
                  1, 600.0, 1,
                  "stretch: ⟨3,3,6;40⟩ over Q (Smirnov 2013)"),
}


def run_case(name: str, seeds: int, time_limit: float, workers: int, first_seed: int,
             catalog: bool = False, extra: dict | None = None) -> dict:
    shape, rank, ring, method, options, _, _, _, note = CASES[name]
    options = {**options, **(extra or {})}
    rows = []
    for seed in range(first_seed, first_seed + seeds):
        task = SearchTask(*shape, rank=rank, ring=ring, seed=seed * max(workers, 1),
                          time_limit=time_limit, options=dict(options))
        t0 = time.perf_counter()
        summary = run_search(task, method, workers=workers)
        wall = time.perf_counter() - t0
        out = summary.outcome
        restarts = sum(o.restarts for o in summary.outcomes)
        seconds = max((o.seconds for o in summary.outcomes), default=wall)
        counters = [getattr(o, "counters", None) for o in summary.outcomes]
        row = {"seed": task.seed, "found": out.scheme is not None, "seconds": round(wall, 2),
               "restarts": restarts,
               "verified_restarts": sum(c.found for c in counters if c),
               "restarts_per_second": round(restarts / seconds, 2) if seconds else None,
               "finished": sum(c.replaced + c.found for c in counters if c),
               "fitted": sum(c.fitted for c in counters if c),
               "roundings_checked": sum(c.candidates for c in counters if c),
               "roundings_failed": sum(c.roundings_failed for c in counters if c),
               "q_schemes_rejected_for_ring": sum(c.other_ring for c in counters if c),
               "short_by_one": sum(c.short_by_one for c in counters if c),
               "redrawn": sum(getattr(c, "redrawn", 0) for c in counters if c),
               "refitted": sum(getattr(c, "refitted", 0) for c in counters if c),
               "restart_sweeps": sum(c.steps for c in counters if c)}
        row["restart_sweeps_per_second"] = round(row["restart_sweeps"] / seconds, 1) if seconds else None
        if out.scheme is not None:
            s = out.scheme
            v = verify(s, use_sympy=True)  # independent exact re-check, sympy proof included
            row.update(verified=v.ok, ring=v.ring or s.ring, rank=s.rank,
                       rounding=s.provenance.get("rounding", ""),
                       denominators=sorted({int(getattr(x, "denominator", 1))
                                            for w in (s.Wa, s.Wb, s.Wc) for x in w.flat}))
            if ring == "Q" or v.ring == "Q":
                row["scheme"] = scheme_to_dict(s.with_meta(verified=v.record()))
            if catalog:  # only improvements are kept; flip-graph pools start from the catalogue
                from fastmm.catalog import add_to_catalog

                row["added_to_catalog"] = add_to_catalog(s)
        rows.append(row)
        print(f"{name} seed {task.seed}: {'found ' + row.get('ring', '') if row['found'] else 'not found'}"
              f" in {wall:.1f} s, {restarts} restarts ({row['restarts_per_second']}/s), "
              f"{row['fitted']} fitted, {row['roundings_checked']} roundings checked, "
              f"{row['roundings_failed']} failed", flush=True)
    ok = [r for r in rows if r["found"] and r.get("verified")]
    total_restarts = sum(r["restarts"] for r in rows)
    finished = sum(r.get("finished", 0) for r in rows)
    each = bool(options.get("collect"))  # every restart ran to its end: count them all
    hits = sum(r["verified_restarts"] for r in rows) if each else len(ok)
    times = [r["seconds"] for r in ok]
    return {
        "case": name, "note": note, "shape": list(shape), "rank": rank, "ring": ring,
        "method": method, "options": options, "seeds": seeds, "time_limit": time_limit,
        "workers": workers, "found": len(ok),
        "success_per_search": f"{len(ok)}/{seeds}",
        "success_per_restart": round(hits / total_restarts, 4) if total_restarts else None,
        "success_per_finished_restart": round(hits / finished, 4) if finished else None,
        "verified_restarts": hits if each else None,
        "restarts": total_restarts,
        "median_restarts_per_second": round(statistics.median([r["restarts_per_second"] for r in rows
                                                               if r["restarts_per_second"]] or [0]), 2),
        "median_restart_sweeps_per_second": round(statistics.median(
            [r["restart_sweeps_per_second"] for r in rows if r.get("restart_sweeps_per_second")] or [0]), 1),
        "median_seconds_to_verified": round(statistics.median(times), 2) if times else None,
        "max_seconds_to_verified": round(max(times), 2) if times else None,
        "total_seconds": round(sum(r["seconds"] for r in rows), 1),
        "rings": sorted({r["ring"] for r in ok}),
        "runs": rows,
    }


def _cell(x) -> str:
    return "—" if x is None else str(x)


def cpu_against_gpu(cases: dict) -> list[str]:
    """The cases run on both devices, side by side (same case, options as named)."""
    groups: dict[str, list[str]] = {}
    for key in cases:
        groups.setdefault(key.split("@")[0].split(",")[0], []).append(key)
    both = {b: keys for b, keys in groups.items() if any("@cuda" in k for k in keys)
            and any("@cuda" not in k for k in keys)}
    if not both:
        return []
    lines = ["", "## CPU against GPU", "",
             "The same cases on the 2-core CPU (one search process) and on the GPU named in each "
             "case's section. *restart-sweeps/s* is the raw speed; *restarts/s* counts "
             "initialisations drawn (a batch of 1024 draws 1024 at once, so it overstates a search "
             "that stops early); the exact stages (frames, rounding, sympy) run on the CPU in "
             "both.", "",
             "| case | device | searches found | median restarts/s | median restart-sweeps/s "
             "| median s to verified | fitted | limit s |",
             "|---|---|---|---|---|---|---|---|"]
    for base in sorted(both):
        for key in sorted(both[base], key=lambda k: ("@cuda" in k, k)):
            c = cases[key]
            lines.append(f"| {key} | {'GPU' if '@cuda' in key else 'CPU'} | {c['success_per_search']} | "
                         f"{c['median_restarts_per_second']} | "
                         f"{_cell(c.get('median_restart_sweeps_per_second'))} | "
                         f"{_cell(c['median_seconds_to_verified'])} | "
                         f"{sum(r['fitted'] for r in c['runs'])} | {c['time_limit']:g} |")
    return lines


def write_markdown(path: Path, data: dict) -> None:
    lines = [
        "# Numerical search: batched ALS / Adam, rounding, exact finishing",
        "",
        "Every figure comes from `benchmarks/numerical_search.py` (command per case below); every "
        "result was re-verified exactly (integer/rational Brent equations and a sympy proof) "
        "before it was counted. One torch thread per search process, float64, on the CPU unless the "
        "case's name ends in @cuda (then on the GPU named in its section; `,batch=N` and other "
        "suffixes are options overridden by `--option`); *restart-sweeps/s* = optimiser steps "
        "summed over the batch per second (the raw speed, whatever was found). "
        "*restarts* = initialisations drawn (a batch holds 64 at once; stalled ones are replaced "
        "inside the batch); *success per restart* = schemes found / initialisations drawn, and / "
        "initialisations finished (found or replaced; a search stops at its first scheme with the "
        "rest of its batch unfinished); in the *-each cases (collect mode) every one of the 64 "
        "restarts of a seed runs to its end (verified or given up, none replaced), so success per "
        "restart = verified restarts / 64 exactly; "
        "*fitted* = restarts whose residual reached the fit tolerance; *roundings checked* = "
        "rounded points whose float residual vanished and that went to the exact check; *failed* = "
        "those the exact check refused (never written; the search went on); *re-draws* = times a "
        "stuck restart re-drew terms (— = not recorded); *one short* = restarts "
        "given up while fitting whose residual T − fit is numerically of rank one (a scheme of rank "
        "r + 1 with one product missing: the usual dead end; counted since 2026-12-04, — before). "
        "The machine was shared "
        "(a flip-graph search on one of the 2 cores throughout, other developers' jobs besides: "
        "see the load column), so wall times are upper bounds.",
        "",
        "Method (fastmm/search/numerical.py): a batch of 64 restarts (Gaussian init, std 0.5); "
        "fit by damped ALS (μ = 0.1) with a ridge 0.01·‖X‖² for the first 600 sweeps, then none; "
        "restarts above residual 0.1 when the ridge ends, or not below 1e-6 after 1200 sweeps, are "
        "stuck: since 2026-12-04 (code f309a76) a stuck restart re-draws two thirds of its terms at "
        "random and fits again, at most 4 times, before it is replaced (the rows before that "
        "replaced it at once; `--option redraw=0` is the old rule); a fitted restart is polished "
        "(ALS without ridge towards residual 1e-26, then 6 "
        "Gauss–Newton steps where rank·(nm+mp+np) ≤ 1500) and moved "
        "along its GL orbit to the frames of its own rank-one directions (fastmm/search/frames.py), "
        "then snapped (grids 1 and 1/2, exact Q schemes rebalanced by diagonal scalings); if none "
        "verifies, it is rescaled (max|Wa[t]| = max|Wb[t]| = 1) every sweep and pulled "
        "towards the integer grid with a weight growing ×1.02 per sweep; every 10 sweeps they are "
        "rounded (grids 1, and 1/2, 1/4 for ring Q), with Wc also re-solved exactly over Q given the "
        "rounded Wa, Wb (sympy DomainMatrix). `spn` engine=batched (fastmm.search.spn.BATCHED_ADAM): "
        "the same loop with Adam: lr 0.05 scaled by the residual (lr·clamp(√res/0.1, 0.001, 1)), "
        "a ridge 1e-3 for 400 steps, fit to 1e-5 within 6000 steps, then the grid pull (×1.01 per "
        "step) with Adam at lr 0.01.",
        "",
        "| case | target | ring asked | searches found | success per restart (drawn / finished) "
        "| median restarts/s | median restart-sweeps/s | median s to verified | max s "
        "| rings of results | limit s "
        "| load (start → end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(data["cases"]):
        c = data["cases"][name]
        n, m, p = c["shape"]
        lines.append(
            f"| {name} | ⟨{n},{m},{p};{c['rank']}⟩ | {c['ring']} | {c['success_per_search']} | "
            f"{c['success_per_restart']} / {_cell(c.get('success_per_finished_restart'))} | "
            f"{round(c['median_restarts_per_second'], 2)} | "
            f"{_cell(c.get('median_restart_sweeps_per_second'))} | "
            f"{_cell(c['median_seconds_to_verified'])} | {_cell(c['max_seconds_to_verified'])} | "
            f"{', '.join(c['rings']) or '—'} | {c['time_limit']:g} | {c['load']} |")
    lines += cpu_against_gpu(data["cases"])
    lines += ["", "## Against the issue's targets", ""]
    for name in sorted(data["cases"]):
        c = data["cases"][name]
        n, m, p = c["shape"]
        tried = (f"{c['restarts']} restarts in {c['total_seconds']} s over {c['seeds']} search(es), "
                 f"{sum(r['fitted'] for r in c['runs'])} fitted"
                 + (f", {sum(r['short_by_one'] for r in c['runs'])} given up one product short"
                    if all('short_by_one' in r for r in c['runs']) else ""))
        lines.append(f"- {name} (⟨{n},{m},{p};{c['rank']}⟩ over {c['ring']}; {c['note']}): found by "
                     f"{c['success_per_search']} searches within {c['time_limit']:g} s — {tried}.")
    for name in sorted(data["cases"]):
        c = data["cases"][name]
        n, m, p = c["shape"]
        lines += ["", f"## {name}: ⟨{n},{m},{p};{c['rank']}⟩ over {c['ring']}, `--method {c['method']}`"
                  f" {json.dumps(c['options']) if c['options'] else ''}", "",
                  f"{c['note']}. Command: `{c['command']}` (code {c.get('code', 'before 2026-12-04')});"
                  f" {c['workers']} worker process(es) "
                  f"per search; {c['machine']}; load average "
                  f"{c['load']}; {c['total_seconds']} s in all.", "",
                  "| seed | found | ring | s | restarts | restarts/s | fitted | re-draws | one short "
                  "| roundings checked | failed | Q schemes refused (ring ZT/Z asked) | rounding |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in c["runs"]:
            lines.append(
                f"| {r['seed']} | {'yes' if r['found'] else 'no'} | {r.get('ring', '')} | "
                f"{r['seconds']} | {r['restarts']} | {r['restarts_per_second']} | {r['fitted']} | "
                f"{r.get('redrawn', '—')} | {r.get('short_by_one', '—')} | {r['roundings_checked']} | "
                f"{r['roundings_failed']} | "
                f"{r['q_schemes_rejected_for_ring']} | {r.get('rounding', '')} |")
    path.write_text("\n".join(lines) + "\n")


def case_key(name: str, extra: dict) -> str:
    """The case's name, with the device and any overridden options: als-233@cuda,batch=1024."""
    device = extra.get("device", "cpu")
    rest = [f"{k}={v}" for k, v in sorted(extra.items()) if k != "device"]
    return name + ("@cuda" if device == "cuda" else "") + ("," + ",".join(rest) if rest else "")


def machine_line(device: str) -> str:
    line = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if device == "cuda":
        import torch

        line += f", {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return line


def store(out: Path, key: str, result: dict) -> None:
    """Add one case to the JSON (atomically, under a lock: cases may run side by side) and
    regenerate the Markdown from all of them."""
    path = out.with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(tempfile.gettempdir()) / f"{out.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {"cases": {}}
        data["cases"][key] = result
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
        write_markdown(out.with_suffix(".md"), data)


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", default=[], help="case name (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--seeds", type=positive_int, default=None,
                    help="searches per case (default: the case's)")
    ap.add_argument("--first-seed", type=nonnegative_int, default=0)
    ap.add_argument("--time-limit", type=positive_float, default=None, help="seconds per search")
    ap.add_argument("--workers", type=positive_int, default=None, help="processes per search")
    ap.add_argument("--catalog", action="store_true",
                    help="offer every verified result to the catalogue (kept only if it improves it)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None,
                    help="run the searches on this device (recorded in the case's name)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="override a search option, e.g. batch=1024 (recorded in the case's name)")
    ap.add_argument("--merge", metavar="JSON", help="add the cases of another run's JSON and exit")
    ap.add_argument("--out", default=str(ROOT / "results" / "numerical_search"),
                    help="output path without extension")
    args = ap.parse_args(argv)
    try:
        extra = parse_options(args.option)
    except ValueError as exc:
        ap.error(str(exc))
    if args.device:
        extra["device"] = args.device
    if args.merge:
        other = read_merge(ap, args.merge, "cases")["cases"]
        for key, result in other.items():
            store(Path(args.out), key, result)
        print(f"merged {len(other)} case(s) from {args.merge}")
        return 0
    if args.list or not args.case:
        for name, c in CASES.items():
            print(f"{name}: ⟨{','.join(map(str, c[0]))};{c[1]}⟩ {c[2]} --method {c[3]} {c[4] or ''} "
                  f"× {c[5]} seeds, {c[6]:g} s — {c[8]}")
        return 0
    out = Path(args.out)
    path = out.with_suffix(".json")
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    code = code_version()  # the code this process loaded (later commits do not change it)
    unknown = [name for name in args.case if name not in CASES]
    if unknown:  # every case checked before the first runs
        ap.error(f"unknown case {unknown[0]!r} (see --list)")
    for name in args.case:
        _, _, _, _, _, seeds, limit, workers, _ = CASES[name]
        load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
        result = run_case(name, args.seeds or seeds, args.time_limit or limit,
                          args.workers or workers, args.first_seed, args.catalog, extra)
        result["load"] = f"{load0} → {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        result["command"] = f"python benchmarks/numerical_search.py {argv_text}".strip()
        result["code"] = code
        result["machine"] = machine_line(extra.get("device", "cpu"))
        store(out, case_key(name, extra), result)
    print(f"wrote {path} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
