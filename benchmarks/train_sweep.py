"""Run a grid of `fastmm train` configurations side by side and tabulate their test accuracy.

A pilot tool for choosing the settings of an experiment (KD weight and temperature,
epochs per stage, learning rates) before the experiment itself runs. The grid is a JSON
list of {"name": ..., "args": "..."} entries; every run gets `--common` plus its own
args plus `--seed S` for each of `--seeds`, and writes to RUNS_DIR/NAME-sS.

    python benchmarks/train_sweep.py --grid grid.json --common "--dataset fashion-mnist ..." \\
        --seeds 0,1 --parallel 8 --device cuda --deadline 480 --results sweep

Runs start in grid order; after `--deadline` seconds none is started and the ones still
running are stopped, so a time-boxed machine always gets a table of what finished.
Finished runs (final.json present) are reused. Writes RESULTS.json and RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import ArgumentParser, nonnegative_int, number_list, positive_int

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments, the grid read and every run's arguments split: bad input is one line, exit 2."""
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", required=True, help="JSON list of {name, args}")
    ap.add_argument("--common", default="", help="arguments every run gets")
    ap.add_argument("--seeds", type=number_list(nonnegative_int), default="0", help="e.g. 0,1")
    ap.add_argument("--parallel", type=positive_int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=positive_int, default=1)
    ap.add_argument("--runs-dir", default="runs/sweep")
    ap.add_argument("--deadline", type=float, default=None, help="seconds; then stop everything")
    ap.add_argument("--results", default="runs/sweep/sweep", help="path stem of .json/.md")
    a = ap.parse_args(argv)
    try:
        a.grid_entries = load_grid(a.grid)
        for what, text in [("--common", a.common)] + [(f"grid entry {g['name']!r}", g.get("args", ""))
                                                      for g in a.grid_entries]:
            try:
                shlex.split(text)
            except ValueError as exc:
                raise ValueError(f"{what}: cannot split {text!r} into arguments ({exc})") from None
    except ValueError as exc:
        ap.error(str(exc))
    return a


def load_grid(path: str) -> list[dict]:
    """The grid file's entries, or ValueError with one line."""
    try:
        grid = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--grid {path}: {exc}") from None
    if not isinstance(grid, list) or not all(
        isinstance(g, dict) and isinstance(g.get("name"), str) and isinstance(g.get("args", ""), str)
        for g in grid
    ):
        raise ValueError(f"--grid {path}: expected a JSON list of {{'name': str, 'args': str}}")
    return grid


def main(argv=None) -> None:
    a = parse_args(argv)
    grid = a.grid_entries
    seeds = a.seeds
    runs_dir = Path(a.runs_dir)
    jobs = []
    for entry in grid:
        for seed in seeds:
            out = runs_dir / f"{entry['name']}-s{seed}"
            cmd = [sys.executable, str(ROOT / "cli.py"), "train", *shlex.split(a.common),
                   *shlex.split(entry.get("args", "")), "--seed", str(seed), "--device", a.device,
                   "--threads", str(a.threads), "--out", str(out)]
            jobs.append((out, cmd))
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    pending = [(out, cmd) for out, cmd in jobs if not (out / "final.json").exists()]
    active: dict[Path, tuple[subprocess.Popen, float]] = {}
    failed: list[str] = []
    while pending or active:
        late = a.deadline is not None and time.time() - t0 > a.deadline
        for out, (proc, started) in list(active.items()):
            if late and proc.poll() is None:
                proc.terminate()
                proc.wait()
            if proc.poll() is not None:
                del active[out]
                ok = (out / "final.json").exists()
                if not ok and not late:
                    failed.append(out.name)
                print(f"[{time.time() - t0:6.0f}s] {out.name}: "
                      f"{'done' if ok else f'FAILED (exit {proc.returncode})'} "
                      f"in {time.time() - started:.0f}s", flush=True)
                if not ok and (out / "train.log").exists():
                    print("  " + "\n  ".join((out / "train.log").read_text().splitlines()[-5:]))
        if late:
            print(f"deadline: {len(pending)} runs not started", flush=True)
            break
        while pending and len(active) < a.parallel:
            out, cmd = pending.pop(0)
            out.mkdir(parents=True, exist_ok=True)
            if (out / "last.pt").exists():
                cmd = [*cmd, "--resume"]
            (out / "command.txt").write_text(shlex.join(["python", "cli.py", *cmd[2:]]) + "\n")
            with open(out / "train.log", "a") as log:  # the child keeps its own copy
                active[out] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                                stderr=subprocess.STDOUT), time.time())
        time.sleep(1)
    report(grid, seeds, runs_dir, a)
    if failed:
        sys.exit(f"{len(failed)} run(s) failed: {', '.join(failed)} (see their train.log)")


def report(grid: list[dict], seeds: list[int], runs_dir: Path, a: argparse.Namespace) -> None:
    from fastmm.nn.train import summarize_run

    rows = []
    for entry in grid:
        per_seed = {s: summarize_run(runs_dir / f"{entry['name']}-s{s}") for s in seeds}
        done = {s: {k: v for k, v in r.items() if k != "args"} for s, r in per_seed.items() if r}
        accs = [r["test_acc"] for r in done.values()]
        rows.append({
            "name": entry["name"],
            "args": entry.get("args", ""),
            "runs": {str(s): r for s, r in done.items()},
            "mean_acc": statistics.mean(accs) if accs else None,
        })
    stem = Path(a.results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    setup = {"common": a.common, "seeds": seeds, "device": a.device, "threads": a.threads}
    stem.with_suffix(".json").write_text(json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n")
    md = [f"Common arguments: `{a.common}`; device {a.device}; seeds {','.join(map(str, seeds))}.", "",
          "| name | args | mean test acc. | per seed | by stage (seed " + str(seeds[0]) + ") | s/run |",
          "|---|---|---:|---|---|---:|"]
    for row in rows:
        runs = row["runs"]
        per_seed = ", ".join(f"{100 * r['test_acc']:.2f}" for r in runs.values())
        first = runs.get(str(seeds[0]))
        stages = ", ".join(f"{k} {100 * v:.2f}" for k, v in first["acc_by_stage"].items()) if first else ""
        secs = statistics.mean(r["seconds"] for r in runs.values()) if runs else 0
        mean = f"{100 * row['mean_acc']:.2f}%" if row["mean_acc"] is not None else "–"
        md.append(f"| {row['name']} | `{row['args']}` | {mean} | {per_seed} | {stages} | {secs:.0f} |")
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md), flush=True)


if __name__ == "__main__":
    main()
