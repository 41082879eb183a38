"""Drive long frontier searches: every shape behind its best-known rank, round after round.

Each attempt is one real `fastmm search N M P --rank R` process (whatever the user would run),
with its catalogue pointed at a working copy (FASTMM_CATALOG), so one shape's improvement
becomes the next shape's building block. A scheme an attempt writes (found, or the best rank
it reached, saved verified) goes through `add_to_catalog`, which keeps only improvements.
State lives on disk: the working catalogue and a JSON-lines log; killing the driver loses at
most the attempt in flight, and starting it again continues (seeds continue from the log).

    python benchmarks/frontier.py --work runs/frontier --time-limit 300 --rounds 20 \
        [--shapes 3,4,5 4,4,5] [--workers 1] [--checkout DIR]

With `--method ternary` each attempt walks over ZT from the shape's entry in the working
catalogue (`--start`, plus transitions up to its rank + 4): how ⟨5,5,6;110⟩ was reached from
the 112 that pools had stalled on.

`--checkout` runs the searches from another checkout (a git worktree), so editing this one
does not disturb a run of hours. `python benchmarks/frontier.py --merge runs/frontier` copies
the working catalogue's improvements into the shipped catalogue; `--report runs/frontier`
writes every logged attempt to results/frontier_attempts.md, and `--import-report
results/frontier_attempts.md` rebuilds the log from it on a machine without runs/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_common import ArgumentParser, nonnegative_int, positive_float, positive_int, shape_arg

from fastmm.catalog import CatalogEntry, add_to_catalog, catalog_dir, scan_catalog
from fastmm.errors import FastmmError
from fastmm.io import atomic_write_text, load_scheme
from fastmm.known_ranks import BEST_KNOWN

Shape = tuple[int, int, int]


def gaps(catalog: Path, shapes: list[Shape], ring: str = "ZT") -> dict[Shape, int]:
    """shape -> rank held in `catalog` for each shape still above its best-known rank."""
    out = {}
    for shape in shapes:
        entry = held_entry(catalog, shape, ring)
        held = entry.rank if entry is not None else shape[0] * shape[1] * shape[2]
        if held > BEST_KNOWN[shape][ring]:
            out[shape] = held
    return out


def held_entry(catalog: Path, shape: Shape, ring: str = "ZT") -> CatalogEntry | None:
    """The lowest-rank entry for `shape` over `ring` in `catalog` (None when there is none);
    scan_catalog reads each file once per version, so asking shape by shape costs nothing."""
    entries, _ = scan_catalog(catalog)
    held = [e for e in entries if e.shape == shape and e.ring == ring]
    return min(held, key=lambda e: (e.rank, e.path.name)) if held else None


def log_lines(log: Path) -> list[dict]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    return out


def append(log: Path, record: dict) -> None:
    with log.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def attempt(shape: Shape, rank: int, seed: int, args, work: Path) -> dict:
    """One search process; returns its log record (improvements included)."""
    found = work / "found" / f"{shape[0]}x{shape[1]}x{shape[2]}-seed{seed}"
    found.mkdir(parents=True, exist_ok=True)
    out = found / "found.json"
    cli = [sys.executable, str(Path(args.checkout) / "cli.py")] if args.checkout else \
        [sys.executable, "-m", "fastmm"]
    cmd = cli + ["search", *map(str, shape), "--rank", str(rank), "--ring", "ZT",
                 "--method", args.method, "--seed", str(seed), "--time-limit", str(args.time_limit),
                 "--workers", str(args.workers), "--quiet", "--no-sympy", "--out", str(out),
                 "--resume", str(found / "checkpoint")]  # keeps GF(2) lows that do not lift
    if args.method == "ternary":
        start = held_entry(work / "catalog", shape)
        if start is not None:
            cmd += ["--start", str(start.path.resolve())]
    for option in getattr(args, "option", None) or []:
        cmd += ["--option", option]
    env = dict(os.environ, FASTMM_CATALOG=str((work / "catalog").resolve()))
    if args.checkout:
        env["PYTHONPATH"] = str(Path(args.checkout).resolve())
    t0, started = time.time(), time.strftime("%F %T")
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=args.time_limit * 2 + 300)
        rc, err = proc.returncode, proc.stderr.strip().splitlines()[-1:] or [""]
    except subprocess.TimeoutExpired:
        rc, err = -1, ["driver timeout"]
    record = {"shape": list(shape), "target": rank, "seed": seed, "rc": rc,
              "seconds": round(time.time() - t0, 1), "stderr": err[0][:600], "added": [],
              "command": " ".join(["fastmm"] + cmd[len(cli):]), "start": started}
    # the search's results, and the GF(2) schemes below them that did not lift (Z2 entries)
    for path in sorted(found.glob("*.json")) + sorted(found.glob("checkpoint/gf2-seed*.json")):
        try:
            scheme = load_scheme(path)
            if path.name.startswith("gf2-seed"):
                record["gf2_low"] = min(record.get("gf2_low", scheme.rank), scheme.rank)
                scheme = with_search_command(scheme, record["command"])
            if add_to_catalog(scheme, work / "catalog"):
                record["added"].append(scheme.rank)
        except FastmmError as exc:
            record["stderr"] += f" | {path.name}: {exc}"
    return record


def with_search_command(scheme, command: str):
    """A GF(2) low as the walk saved it (seed and status only) with the command of the attempt
    that walked to it: each attempt has its own checkpoint folder, so that command found it."""
    from fastmm import __version__

    prov = {"method": "gf2-low", "search_method": "pool", "version": __version__,
            **scheme.provenance, "command": command}
    return scheme.with_meta(provenance=prov)


SEED_WINDOW = 1000  # the seeds of one driver: --first-seed F continues within [F, F + 1000)


def run(args) -> int:
    work = Path(args.work)
    (work / "catalog").mkdir(parents=True, exist_ok=True)
    if not any((work / "catalog").glob("*.json")):
        for f in catalog_dir().glob("*.json"):
            shutil.copy2(f, work / "catalog" / f.name)
    log = work / "log.jsonl"
    shapes = list(args.shapes) if args.shapes else \
        sorted(BEST_KNOWN, key=lambda s: (s[0] * s[1] * s[2], s))
    seeds: dict[Shape, int] = {}
    first = args.first_seed
    for r in log_lines(log):  # the next seed of a shape: past every seed logged in this driver's window
        if first <= r["seed"] < first + SEED_WINDOW:
            shape = tuple(r["shape"])
            seeds[shape] = max(seeds.get(shape, first), r["seed"] + 1)
    for rnd in range(args.rounds):
        todo = gaps(work / "catalog", shapes)
        if not todo:
            print("every shape is at its best-known rank", flush=True)
            return 0
        print(f"round {rnd}: {len(todo)} shapes behind: "
              + ", ".join(f"{s}:{r}" for s, r in todo.items()), flush=True)
        for shape in list(todo):
            held = gaps(work / "catalog", [shape]).get(shape)
            if held is None:
                continue
            target = BEST_KNOWN[shape]["ZT"]
            seed = seeds.get(shape, first)
            seeds[shape] = seed + args.workers
            record = attempt(shape, target, seed, args, work)
            record["held_before"] = held
            append(log, record)
            print(f"{time.strftime('%T')} {shape} held {held} target {target} seed {seed}: rc "
                  f"{record['rc']} in {record['seconds']} s, added {record['added']} "
                  f"{record['stderr'][:160]}", flush=True)
    return 0


def merge(work: Path, target: Path | None) -> int:
    """Copy the working catalogue's improvements into the shipped one (or `target`)."""
    added = 0
    for path in sorted((work / "catalog").glob("*.json")):
        scheme = load_scheme(path)
        if add_to_catalog(scheme, target):
            print(f"added {path.name}")
            added += 1
    print(f"{added} entries added")
    return 0


def reached(record: dict) -> int | None:
    """The rank an attempt reached: its target when it succeeded, else the best rank it names."""
    if record.get("rc") == 0:
        return record.get("target")
    match = re.search(r"best rank reached (\d+)", record.get("stderr", ""))
    return int(match.group(1)) if match else None


def mod2_low(record: dict) -> int | None:
    """The rank of a GF(2) scheme below what it reached that did not lift (kept by `--resume`)."""
    if isinstance(record.get("gf2_low"), int):
        return record["gf2_low"]
    match = re.search(r"rank (\d+) valid modulo 2 only", record.get("stderr", ""))
    return int(match.group(1)) if match else None


def reached_cell(record: dict) -> str:
    got, low = reached(record), mod2_low(record)
    return f"{got or '—'}" + (f" (mod 2: {low})" if low is not None else "")


def report(work: Path, out: Path) -> int:
    """Every logged attempt, per shape and one by one, as Markdown (nothing is left out)."""
    records = [r for r in log_lines(work / "log.jsonl") if "shape" in r]
    by_shape: dict[tuple, list[dict]] = {}
    for r in records:
        by_shape.setdefault(tuple(r["shape"]), []).append(r)
    lines = ["# Frontier attempts", "",
             f"Every attempt logged in {work}/log.jsonl by `python benchmarks/frontier.py` (and the "
             "single searches added to it by hand, marked *by hand*): one real `fastmm search` "
             "process each, its seconds of wall-clock time on the 2-core machine (shared with other "
             "work: the attempts ran at low priority or beside other searches), the rank it reached "
             "(verified) and what it added to the catalogue. Regenerate with "
             f"`python benchmarks/frontier.py --report {work}`. Searches run outside this log (the "
             "C3-symmetric run that found ⟨5,5,5;93⟩, earlier `--workers 2` runs, the ring Z "
             "entries) are in results/coverage.md and the README.", "",
             "| shape | best known | attempts | seconds | lowest reached | catalogue ranks added |",
             "|---|---|---|---|---|---|"]
    for shape in sorted(by_shape):
        rs = by_shape[shape]
        got = [x for x in (reached(r) for r in rs) if x is not None]
        lows = [x for x in (mod2_low(r) for r in rs) if x is not None]
        lowest = f"{min(got) if got else '—'}" + (f" (mod 2: {min(lows)})" if lows else "")
        added = sorted({a for r in rs for a in r.get("added", [])}, reverse=True)
        lines.append(f"| ⟨{shape[0]},{shape[1]},{shape[2]}⟩ | {BEST_KNOWN.get(shape, {}).get('ZT', '')} "
                     f"| {len(rs)} | {sum(round(r.get('seconds', 0)) for r in rs):,} "
                     f"| {lowest} | {', '.join(map(str, added)) or '—'} |")
    lines += ["", "## One by one", "", "| start | shape | seed | s | reached | added | command |",
              "|---|---|---|---|---|---|---|"]
    for r in records:
        shape = "⟨" + ",".join(map(str, r["shape"])) + "⟩"
        hand = " (*by hand*)" if r.get("by") == "hand" else ""
        lines.append(f"| {r.get('start', '')} | {shape} | {r.get('seed', '')} | {r.get('seconds', 0):.0f} "
                     f"| {reached_cell(r)} | {', '.join(map(str, r.get('added', []))) or '—'} "
                     f"| `{r.get('command', '')}`{hand} |")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}: {len(records)} attempts on {len(by_shape)} shapes")
    return 0


def import_report(md: Path, work: Path) -> int:
    """Rebuild WORK/log.jsonl from a report's one-by-one table (runs/ is not in git: on a new
    machine this keeps the history, and the seeds continue past every seed already tried)."""
    log = work / "log.jsonl"
    if log_lines(log):
        print(f"error: {log} already holds attempts; not replaced", file=sys.stderr)
        return 2
    records = []
    for line in md.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[0]):
            continue
        start, shape, seed, seconds, got, added, command = cells[:7]
        target = re.search(r"--rank (\d+)", command)
        if target is None:
            continue
        target_rank = int(target.group(1))
        low = re.search(r" \(mod 2: (\d+)\)$", got)
        got = got[:low.start()] if low else got
        ok = got == str(target_rank)
        record = {"shape": [int(x) for x in shape.strip("⟨⟩").split(",")], "target": target_rank,
                  "seed": int(seed or 0), "rc": 0 if ok else 1, "seconds": float(seconds),
                  "stderr": ("" if ok or got == "—" else f"best rank reached {got}")
                  + (f"; it keeps a scheme of rank {low.group(1)} valid modulo 2 only" if low else ""),
                  "added": [] if added == "—" else [int(a) for a in added.split(",")],
                  "command": command.split("`")[1] if "`" in command else command, "start": start}
        if "*by hand*" in line:
            record["by"] = "hand"
        records.append(record)
    atomic_write_text(log, "".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {log}: {len(records)} attempts from {md}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="runs/frontier")
    ap.add_argument("--shapes", type=shape_arg, nargs="*",
                    help="n,m,p with n ≤ m ≤ p (default: every tabulated shape)")
    ap.add_argument("--time-limit", type=positive_float, default=300.0)
    ap.add_argument("--rounds", type=positive_int, default=10)
    ap.add_argument("--workers", type=positive_int, default=1)
    ap.add_argument("--method", default="pool")
    ap.add_argument("--first-seed", type=nonnegative_int, default=0,
                    help=f"this driver's seeds: from here, past those logged below it + {SEED_WINDOW} "
                         "(drivers on the same shapes at once: first seeds that far apart)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="passed to every search as --option KEY=VALUE (e.g. liftable_pools=false)")
    ap.add_argument("--checkout", default=None, help="run the searches from this checkout")
    ap.add_argument("--merge", metavar="WORK", help="merge WORK/catalog into the shipped catalogue")
    ap.add_argument("--into", type=Path, default=None, help="with --merge: the catalogue to merge into")
    ap.add_argument("--report", metavar="WORK", help="write every attempt logged in WORK as Markdown")
    ap.add_argument("--report-out", type=Path, default=Path("results/frontier_attempts.md"))
    ap.add_argument("--import-report", type=Path, metavar="MD",
                    help="rebuild --work's log from a report written by --report, then exit")
    args = ap.parse_args(argv)
    untabulated = [s for s in args.shapes or [] if s not in BEST_KNOWN]
    if untabulated:
        ap.error(f"--shapes: no best-known rank for ⟨{','.join(map(str, untabulated[0]))}⟩ (a tabulated "
                 "shape n,m,p with n ≤ m ≤ p, as fastmm.known_ranks lists them)")
    if args.import_report:
        return import_report(args.import_report, Path(args.work))
    if args.merge:
        return merge(Path(args.merge), args.into)
    if args.report:
        return report(Path(args.report), args.report_out)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
