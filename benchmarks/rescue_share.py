"""Does the rescue (Hensel + frames for GF(2) schemes without a sign lift) slow searches that
never needed it? Side by side, as a user runs them: `fastmm search` processes with `--option
rescue=0` and with the default share, alternating per seed so that both see the same load.

The shape's own catalogue entry is hidden (as benchmarks/coverage_table.py does), so every
scheme is found. Each process's wall time counts its whole run; a scheme it writes is read back
and verified exactly. Reports medians and successes per setting and the ratio of medians.

    python benchmarks/rescue_share.py --shapes 2,3,4:20 3,3,4:29 --seeds 6 --time-limit 120 \\
        --out results/rescue_share.md
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import (
    ArgumentParser,
    case_arg,
    case_text,
    code_version,
    emit_report,
    positive_float,
    positive_int,
)

SETTINGS = {"off": ["--option", "rescue=0"], "default": []}


def run_once(shape: tuple[int, int, int], rank: int, seed: int, extra: list[str], limit: float,
             workers: int) -> dict:
    """One whole `fastmm search` process: seconds, whether a verified scheme came back, and the
    rescue counts its provenance names."""
    from fastmm.io import load_scheme
    from fastmm.verify import verify

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "found.json"
        hide = json.dumps([list(shape)])
        cmd = [sys.executable, "-m", "fastmm", "search", *map(str, shape), "--rank", str(rank),
               "--seed", str(seed), "--time-limit", str(limit), "--workers", str(workers), "-q",
               "--no-sympy", "--out", str(out), "--option", f"exclude_catalog_shapes={hide}", *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        seconds = time.perf_counter() - t0
        ok, prov = False, {}
        if proc.returncode == 0 and out.exists():
            scheme = load_scheme(out)
            ok = scheme.rank <= rank and verify(scheme, use_sympy=False).ok
            prov = scheme.provenance
        return {"seed": seed, "seconds": round(seconds, 3), "found": ok,
                "rescue_tried": prov.get("rescue_tried", 0), "rescued": prov.get("rescued", 0)}


def main() -> int:
    ap = ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", type=case_arg, nargs="+", default=[((2, 3, 4), 20), ((3, 3, 4), 29)],
                    help="n,m,p:rank")
    ap.add_argument("--seeds", type=positive_int, default=6)
    ap.add_argument("--time-limit", type=positive_float, default=120.0)
    ap.add_argument("--workers", type=positive_int, default=1)
    ap.add_argument("--out", help="the Markdown report (written atomically)")
    args = ap.parse_args()

    load_before = os.getloadavg()[0]
    rows: list[str] = []
    for shape, rank in args.shapes:
        dims = ",".join(map(str, shape))
        runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
        for seed in range(args.seeds):  # alternate: both settings see the same load
            for name, extra in SETTINGS.items():
                result = run_once(shape, rank, seed, extra, args.time_limit, args.workers)
                runs[name].append(result)
                print(f"⟨{dims}⟩ seed {seed} rescue {name}: {result}", flush=True)
        med = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
        found = {name: sum(r["found"] for r in rs) for name, rs in runs.items()}
        rescued = sum(r["rescued"] for r in runs["default"])
        tried = sum(r["rescue_tried"] for r in runs["default"])
        rows.append(f"| ⟨{dims};{rank}⟩ | {found['off']}/{args.seeds} | {med['off']:.2f} | "
                    f"{found['default']}/{args.seeds} | {med['default']:.2f} | "
                    f"{med['default'] / med['off']:.2f}× | {tried} / {rescued} |")
    typed = " ".join(case_text(*c) for c in args.shapes)
    lines = [
        "# The rescue's cost on searches that do not need it",
        "",
        f"Command: `python benchmarks/rescue_share.py --shapes {typed} --seeds {args.seeds} "
        f"--time-limit {args.time_limit:g} --workers {args.workers}` (code {code_version()}; "
        f"{os.cpu_count()} CPUs; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after).",
        "",
        "Whole `fastmm search` processes (the shape's own catalogue entry hidden), `--option "
        "rescue=0` and the default share alternating per seed; medians of wall seconds over all "
        "seeds (a run that fails counts its time limit).",
        "",
        "| search | found, rescue off | median s | found, default | median s | default / off | "
        "rescue tried / rescued |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    emit_report(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
