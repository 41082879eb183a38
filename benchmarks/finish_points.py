"""How often `fastmm finish` turns a fitted point into an exact scheme, point by point.

    python benchmarks/finish_points.py results/numerical_points/2x4x5-r32-fitted.json --time-limit 240

Each point of the file is finished on its own (fastmm.api.finish with --point K), with the time
limit per point; per point: found or not, ring, seconds, frame orders tried, isolated and
rational endpoints, and the scheme's coefficient set. Rows are written as they come
(results/finish_points.json and .md), so a killed run keeps what it measured.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from bench_common import ArgumentParser, code_version, positive_float  # noqa: E402

from fastmm.api import finish  # noqa: E402
from fastmm.errors import InputError, SearchFailed  # noqa: E402
from fastmm.io import atomic_write_text  # noqa: E402
from fastmm.search.exactify import load_points  # noqa: E402


def write(out: Path, doc: dict) -> None:
    atomic_write_text(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
    rows = doc["rows"]
    found = [r for r in rows if r["found"]]
    lines = ["# Exact schemes from fitted points (`fastmm finish`)", "",
             f"Points: `{doc['points']}`; command: `{doc['command']}` (code {doc.get('code', '?')}); "
             f"{doc['machine']}; "
             f"time limit {doc['time_limit']:g} s per point, load {doc['load']}. "
             f"**{len(found)} of {len(rows)} points finished to an exact, verified scheme.**", "",
             "| point | found | ring | s | frame orders | isolated | rational | coefficients |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['point']} | {'yes' if r['found'] else 'no'} | {r.get('ring', '')} | "
                     f"{r['seconds']} | {r.get('frames', '—')} | {r.get('isolated', '—')} | "
                     f"{r.get('rational', '—')} | {r.get('coefficients', '')} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("points")
    ap.add_argument("--time-limit", type=positive_float, default=240.0, help="seconds per point")
    ap.add_argument("--ring", default="Q", type=str.upper, choices=("Q", "Z", "ZT"))
    ap.add_argument("--out", default=str(ROOT / "results" / "finish_points"))
    args = ap.parse_args(argv)
    try:
        n = len(load_points(args.points))
    except InputError as exc:
        ap.error(str(exc))
    out = Path(args.out)
    typed = sys.argv[1:] if argv is None else argv
    doc = {"points": args.points, "time_limit": args.time_limit,
           "command": "python benchmarks/finish_points.py " + " ".join(typed),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
           "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "code": code_version(), "rows": []}
    for k in range(1, n + 1):
        t0 = time.perf_counter()
        lines: list[str] = []
        row = {"point": k}
        try:
            s = finish(args.points, ring=args.ring, point=k, time_limit=args.time_limit,
                       progress=lines.append)
            vals = sorted({x for w in (s.Wa, s.Wb, s.Wc) for x in w.flat}, key=float)
            row.update(found=True, ring=s.ring, coefficients=" ".join(str(x) for x in vals))
        except SearchFailed as exc:
            row.update(found=False, why=str(exc))
        tried = [line for line in lines if line.startswith("frame ")]
        row.update(seconds=round(time.perf_counter() - t0, 1), frames=len(tried),
                   isolated=sum("isolated" in line and "not isolated" not in line for line in tried),
                   rational=sum(line.endswith("rational") and "not rational" not in line for line in tried))
        doc["rows"].append(row)
        doc["load"] += f" → {' '.join(f'{x:.2f}' for x in os.getloadavg())}" if k == n else ""
        write(out, doc)
        print(f"point {k}: {'found ' + row.get('ring', '') if row['found'] else 'not found'} "
              f"in {row['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
