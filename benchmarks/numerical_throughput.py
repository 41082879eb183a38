"""Raw speed of the batched numerical search: restart-sweeps per second, CPU against GPU.

One *restart-sweep* is one damped-ALS sweep (all three factors solved) or one Adam step of one
restart, exactly the step `fastmm search --method als|spn` runs inside its batch
(fastmm.search.numerical.Batch.step). This script times that step alone, for several batch sizes,
shapes and devices, so that CPU and GPU are compared on the same work in one table; the searches
themselves (rounding, exact checks, found or not) are measured by benchmarks/numerical_search.py.

    python benchmarks/numerical_throughput.py --device cpu --threads 2
    python benchmarks/numerical_throughput.py --device cuda --batch 64 1024 16384
    python benchmarks/numerical_throughput.py --merge OTHER.json    # add rows measured elsewhere

Rows accumulate in results/numerical_throughput.json (keyed by device, threads, shape, rank,
optimiser and batch); results/numerical_throughput.md is regenerated from all of them.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench_common import ArgumentParser, case_arg, positive_float, positive_int, read_merge

from fastmm.io import atomic_write_text
from fastmm.search.base import SearchTask

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ("2,3,3:15", "3,3,3:23", "2,4,5:32", "3,3,6:40")


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(shape: tuple[int, int, int], rank: int, optimizer: str, batch: int,
            device: torch.device, seconds: float) -> dict:
    """Time Batch.step on `batch` fitting restarts for about `seconds` (after a warm-up)."""
    import torch

    from fastmm.search.numerical import FIT, Batch, NumConfig

    task = SearchTask(*shape, rank=rank, ring="ZT", seed=0)
    cfg = NumConfig(batch=batch, optimizer=optimizer)
    gen = torch.Generator().manual_seed(0)
    b = Batch(task, cfg, device, gen)
    idx = torch.nonzero(b.phase == FIT).flatten()
    for _ in range(3):  # warm-up: kernels compiled, memory allocated
        b.step(idx, optimizer, "none", 1, 1.0)
    _sync(device)
    steps, t0 = 0, time.perf_counter()
    while True:
        for _ in range(5):
            b.step(idx, optimizer, "none", 1, 1.0)
        steps += 5
        _sync(device)
        wall = time.perf_counter() - t0
        if wall >= seconds:
            break
    return {"shape": list(shape), "rank": rank, "optimizer": optimizer, "batch": batch,
            "steps": steps, "seconds": round(wall, 3),
            "restart_sweeps_per_second": round(steps * batch / wall, 1),
            "ms_per_step": round(1000 * wall / steps, 3)}


def key(row: dict) -> str:
    n, m, p = row["shape"]
    return (f"{row['device']}|{row['threads']}|{n},{m},{p}:{row['rank']}|{row['optimizer']}"
            f"|{row['batch']}")


def write_markdown(path: Path, rows: list[dict]) -> None:
    by_work: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        work = (tuple(r["shape"]), r["rank"], r["optimizer"], r["batch"])
        label = f"cpu, {r['threads']} thread(s)" if r["device"] == "cpu" else "cuda"
        by_work.setdefault(work, {})[label] = r
    columns = sorted({c for d in by_work.values() for c in d}, key=lambda c: (not c.startswith("cpu"), c))
    cpu_cols = [c for c in columns if c.startswith("cpu")]
    lines = [
        "# Numerical search throughput: CPU against GPU",
        "",
        "Restart-sweeps per second of the batched step that `fastmm search --method als` (damped "
        "ALS: three batched linear solves per sweep) and `--method spn` (Adam) run, float64, timed "
        "alone by `benchmarks/numerical_throughput.py` (whole batches of fitting restarts, warm-up "
        "excluded, GPU synchronised before each reading). A restart of ⟨2,3,3;15⟩ needs a few "
        "hundred to 1200 sweeps to fit or be replaced, so restarts per second ≈ the figure here ÷ "
        "600–1200; the searches' own restarts per second, roundings and exact checks included, are "
        "in results/numerical_search.md. The CPU rows were measured with this machine's other jobs "
        "paused (SIGSTOP; the load average lags behind). Machines and commands below the tables.",
        "",
        "| shape | optimiser | batch | " + " | ".join(columns)
        + (" | GPU ÷ best CPU |" if cpu_cols and len(columns) > len(cpu_cols) else " |"),
        "|---|---|---|" + "---|" * len(columns)
        + ("---|" if cpu_cols and len(columns) > len(cpu_cols) else ""),
    ]
    for (shape, rank, opt, batch), cells in sorted(by_work.items()):
        vals = [cells.get(c, {}).get("restart_sweeps_per_second") for c in columns]
        line = (f"| ⟨{','.join(map(str, shape))};{rank}⟩ | {opt} | {batch} | "
                + " | ".join("—" if v is None else f"{v:,.0f}" for v in vals) + " |")
        if cpu_cols and len(columns) > len(cpu_cols):
            cpu = max((cells[c]["restart_sweeps_per_second"] for c in cpu_cols if c in cells), default=None)
            gpu = max((cells[c]["restart_sweeps_per_second"] for c in columns
                       if c not in cpu_cols and c in cells), default=None)
            line += f" {gpu / cpu:.1f}× |" if cpu and gpu else " — |"
        lines.append(line)
    lines += best_of_each(rows)
    lines += ["", "## Runs", ""]
    for run in sorted({(r["device"], r["threads"], r["machine"], r["command"], r["when"]) for r in rows}):
        who = f"cpu, {run[1]} torch thread(s)" if run[0] == "cpu" else "cuda"
        lines.append(f"- {who}: {run[2]}; `{run[3]}` ({run[4]})")
    path.write_text("\n".join(lines) + "\n")


def best_of_each(rows: list[dict]) -> list[str]:
    """Each device at its best batch (and thread count): what a user of that device gets."""
    best: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        slot = best.setdefault((tuple(r["shape"]), r["rank"], r["optimizer"]), {})
        old = slot.get(r["device"])
        if old is None or r["restart_sweeps_per_second"] > old["restart_sweeps_per_second"]:
            slot[r["device"]] = r
    both = {k: v for k, v in best.items() if "cpu" in v and "cuda" in v}
    if not both:
        return []
    lines = ["", "Each device at its best setting (one CPU process; `--workers 2` runs two such "
             "processes on the 2 cores, at most twice the CPU figure):", "",
             "| shape | optimiser | best CPU (batch, threads) | best GPU (batch) | GPU ÷ CPU |",
             "|---|---|---|---|---|"]
    for (shape, rank, opt), d in sorted(both.items()):
        c, g = d["cpu"], d["cuda"]
        lines.append(f"| ⟨{','.join(map(str, shape))};{rank}⟩ | {opt} | "
                     f"{c['restart_sweeps_per_second']:,.0f} ({c['batch']}, {c['threads']}) | "
                     f"{g['restart_sweeps_per_second']:,.0f} ({g['batch']}) | "
                     f"{g['restart_sweeps_per_second'] / c['restart_sweeps_per_second']:.0f}× |")
    return lines


def save(out: Path, new: list[dict]) -> None:
    path = out.with_suffix(".json")
    data = json.loads(path.read_text()) if path.exists() else {"rows": {}}
    for row in new:
        data["rows"][key(row)] = row
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    write_markdown(out.with_suffix(".md"), list(data["rows"].values()))


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1, help="torch CPU threads")
    ap.add_argument("--batch", type=positive_int, nargs="+", default=[64, 256, 1024, 4096])
    ap.add_argument("--shapes", type=case_arg, nargs="+", default=[case_arg(s) for s in SHAPES],
                    metavar="N,M,P:R")
    ap.add_argument("--optimizer", nargs="+", default=["als", "adam"], choices=("als", "adam"))
    ap.add_argument("--seconds", type=positive_float, default=2.0, help="timed seconds per row")
    ap.add_argument("--merge", metavar="JSON", help="add the rows of another run's JSON and exit")
    ap.add_argument("--out", default=str(ROOT / "results" / "numerical_throughput"),
                    help="output path without extension")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.merge:
        save(out, list(read_merge(ap, args.merge, "rows")["rows"].values()))
        print(f"merged {args.merge} into {out.with_suffix('.json')}")
        return 0
    import torch  # here: the arguments are checked (and --merge done) without it

    from fastmm.search.numerical import pick_device

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu"
    machine = (f"{name}, {platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}, torch {torch.__version__}, load "
               f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    command = "python benchmarks/numerical_throughput.py " + " ".join(
        argv if argv is not None else __import__("sys").argv[1:])
    rows = []
    for shape, rank in args.shapes:
        dims = ",".join(map(str, shape))
        for opt in args.optimizer:
            for batch in args.batch:
                row = measure(shape, rank, opt, batch, device, args.seconds)
                row.update(device=args.device, threads=args.threads if device.type == "cpu" else 0,
                           machine=machine, command=command.strip(),
                           when=time.strftime("%Y-%m-%d"))
                rows.append(row)
                print(f"{args.device} ⟨{dims};{rank}⟩ {opt} batch {batch}: "
                      f"{row['restart_sweeps_per_second']:,.0f} restart-sweeps/s "
                      f"({row['ms_per_step']} ms/step)", flush=True)
                save(out, [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
