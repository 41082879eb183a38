"""How often the batched ALS fit succeeds, per restart and per sweep, under given options.

Each case runs `--seeds` batches of 64 restarts in collect mode (every restart to its end, none
replaced), fit only: no frames, rounding or exact stages, so the figures are about the
optimiser alone. *fitted per restart* = restarts whose residual reached the fit tolerance / 64
per seed; *fits per M sweeps* = fits per million restart-sweeps spent (what a search that
replaces restarts gets for its time). Rows with `redraw=0` are the rule before re-draws.

    python benchmarks/fit_rate.py --out results/fit_rate
    python benchmarks/fit_rate.py --case 2,3,3:15 --case "2,3,3:15:redraw=0" --seeds 2
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import ArgumentParser, BadArgument, case_arg, code_version, parse_options, positive_int  # noqa: E402

from fastmm.io import atomic_write_text  # noqa: E402

DEFAULT_CASES = [
    "2,3,3:15", "2,3,3:15:redraw=0", "2,3,3:15:ridge_steps=300,fit_steps=500",
    "2,3,4:20", "2,3,4:20:redraw=0", "2,3,4:20:ridge_steps=300,fit_steps=500",
    "3,3,3:23", "3,3,3:23:redraw=0", "3,3,3:23:ridge_steps=300,fit_steps=500",
]
FIT_ONLY = {"collect": True, "frames": False, "simplify_steps": 10, "blowup": 1e9}


def parse_case(text: str) -> tuple[tuple[int, int, int], int, dict]:
    """"n,m,p:rank[:key=value,...]" -> (shape, rank, options); values read as JSON."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise BadArgument(f"a case is n,m,p:rank[:key=value,...], got {text!r}")
    shape, rank = case_arg(":".join(parts[:2]))
    options = parse_options(parts[2].split(",") if len(parts) == 3 and parts[2] else [], "a case option")
    return shape, rank, options


def run_case(text: str, seeds: int) -> dict:
    import torch

    from fastmm.search.base import SearchTask
    from fastmm.search.numerical import NumConfig, NumericalSearch

    shape, rank, options = parse_case(text)
    torch.set_num_threads(1)
    fitted = restarts = sweeps = redraws = 0
    start = time.perf_counter()
    for seed in range(seeds):
        task = SearchTask(*shape, rank=rank, ring="Q", seed=1000 + seed, time_limit=3600)
        cfg = NumConfig.from_options({**FIT_ONLY, **options})
        search = NumericalSearch(task, cfg, "als", lambda p: None, lambda: False)
        search.run()
        c = search.count
        fitted, restarts, sweeps, redraws = (fitted + c.fitted, restarts + c.restarts,
                                              sweeps + c.steps, redraws + c.redrawn)
    return {"case": text, "shape": list(shape), "rank": rank, "options": options, "seeds": seeds,
            "restarts": restarts, "fitted": fitted, "redraws": redraws, "sweeps": sweeps,
            "fitted_per_restart": round(fitted / restarts, 4),
            "fits_per_million_sweeps": round(fitted / sweeps * 1e6, 1),
            "seconds": round(time.perf_counter() - start, 1)}


def write_report(rows: list[dict], out: Path, command: str) -> None:
    load = os.getloadavg()
    lines = ["# ALS fit rate: per restart and per sweep", "",
             f"Command: `{command}` (code {code_version()}); {platform.machine()}, {os.cpu_count()} "
             f"cores, Python {platform.python_version()}, one torch thread; load average "
             f"{load[0]:.2f} at the end (other work shared the machine: the seconds are upper "
             "bounds, the counts are exact and repeat for a seed on this machine).", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             "| shape;rank | options | seeds × 64 | fitted per restart | fits per M sweeps | re-draws "
             "| s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        n, m, p = r["shape"]
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults"
        lines.append(f"| ⟨{n},{m},{p};{r['rank']}⟩ | {opts} | {r['seeds']} | "
                     f"{r['fitted']}/{r['restarts']} = {r['fitted_per_restart']:.3f} | "
                     f"{r['fits_per_million_sweeps']:g} | {r['redraws']} | {r['seconds']} |")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    doc = {"command": command, "rows": rows}
    atomic_write_text(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="n,m,p:rank[:key=value,...] (repeatable)")
    ap.add_argument("--seeds", type=positive_int, default=None, help="batches per case (default 10 for "
                    "⟨2,3,3⟩, 4 for the others)")
    ap.add_argument("--out", default="results/fit_rate", help="output path without extension")
    args = ap.parse_args(argv)
    cases = args.case or DEFAULT_CASES
    try:
        parsed = [parse_case(c) for c in cases]
    except ValueError as exc:
        ap.error(str(exc))
    rows = []
    for text, (shape, _, _) in zip(cases, parsed, strict=True):
        seeds = args.seeds or (10 if shape == (2, 3, 3) else 4)
        rows.append(run_case(text, seeds))
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    command = "python benchmarks/fit_rate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_report(rows, Path(args.out), command.strip())
    print(f"wrote {args.out}.md and {args.out}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
