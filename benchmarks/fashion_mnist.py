"""StrassenNets on real Fashion-MNIST: accuracy vs multiplications (the paper's Fig./Table, small).

One CIFAR-style ResNet at 28×28×1, trained with the same epoch budget as
  - full precision (dense, one 'full' stage of sum(epochs) epochs) — also the KD teacher;
  - ST versions (SPN convs, full-precision classifier) at r/c_out ∈ {2, 1, 0.5} with
    tile p = 1, plus p = 2 for r/c_out = 2, each without and with knowledge distillation;
  - the ternary-weight baselines the paper compares with, TWN and TTQ (every conv ternary,
    full-precision classifier, `fastmm train --quant twn|ttq`), with the ST runs' stages.
By default the ST runs train ternary from the first epoch (8 epochs at lr 0.1), then
fine-tune ã with the ternary weights frozen (1 epoch at lr 0.001), with KD λ = 0.3, T = 4:
at a 9-epoch budget this beat the paper's full → ternary → finetune stages in a GPU pilot
(results/fashion_mnist/pilot_gpu.md); `--stages full,ternary,finetune --epochs 5,3,1
--lr 0.1,0.01,0.001` runs the paper's stages.
Every run is a `fastmm train` subprocess with 1 thread; `--parallel` runs go at once.
Finished runs (final.json present) are skipped and killed ones resume from their last
checkpoint, so re-running the same command continues the experiment; a run directory made
by a different command (other model, width, subset or epochs) is an error, not reused.

    python benchmarks/fashion_mnist.py                 # run what is missing, then report
    python benchmarks/fashion_mnist.py --report-only   # table + plots from finished runs
    python benchmarks/fashion_mnist.py --only twn,ttq --merge   # add rows to an existing table
    python benchmarks/fashion_mnist.py --summarize results/fashion_mnist results/fashion_mnist/seed1 \\
        --results results/fashion_mnist/seeds        # mean ± spread over seeds

Writes table.md, table.json, accuracy_vs_mults.png and accuracy_vs_size.png into --results
(seeds.md, seeds.json and the two plots with --summarize). With --merge, rows of runs that
are not in --runs-dir (e.g. their checkpoints are on another machine) are kept from the
existing table.json and marked as reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    name: str
    r_ratio: float  # 0: dense full precision, or a ternary-weight baseline when quant is set
    tile: int = 1
    kd: bool = False
    quant: str | None = None  # "twn" / "ttq": every conv ternary-weight (fastmm.nn.ternary)

    @property
    def label(self) -> str:
        if self.quant:
            return self.quant.upper() + (" +KD" if self.kd else "")
        if self.r_ratio == 0:
            return "full precision"
        return f"ST r={self.r_ratio:g}c_out p={self.tile}" + (" +KD" if self.kd else "")

    @property
    def kind(self) -> str:
        return self.quant or ("st" if self.r_ratio else "fp")


def plan() -> list[Run]:
    runs = [Run("fp", 0.0)]
    configs = [(2.0, 1), (2.0, 2), (1.0, 1), (0.5, 1)]  # most expensive first
    for kd in (False, True):
        for r, p in configs:
            runs.append(Run(f"st-r{r:g}-p{p}" + ("-kd" if kd else ""), r, p, kd))
    runs += [Run("twn", 0.0, quant="twn"), Run("ttq", 0.0, quant="ttq")]  # the ternary baselines
    return runs


def start_priority(run: Run) -> tuple[float, int]:
    """Longest runs first (r, then 1/p), so two slots finish close together; ties: no-KD first.
    The ternary-weight baselines cost about what full precision costs."""
    cost = run.r_ratio / run.tile if run.r_ratio else 99.0 if run.quant is None else 1.5
    return (-cost, int(run.kd))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--runs-dir", default="runs/fmnist_t9")
    ap.add_argument("--results", default="results/fashion_mnist")
    ap.add_argument("--model", default="resnet8")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--train-subset", type=int, default=40000)
    ap.add_argument(
        "--stages",
        default="ternary,finetune",
        help="stages of the ST runs (the paper: full,ternary,finetune; results/fashion_mnist/pilot_gpu.md)",
    )
    ap.add_argument("--epochs", default="8,1", help="epochs of each ST stage; FP trains their sum")
    ap.add_argument("--lr", default="0.1,0.001", help="lr of each ST stage; FP uses the first")
    ap.add_argument("--kd-lambda", type=float, default=0.3, help="weight of the teacher's soft targets")
    ap.add_argument("--kd-temp", type=float, default=4.0, help="KD temperature T")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=2, help="runs at once (1 thread each)")
    ap.add_argument("--only", default=None, help="comma list of run names to run")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of the existing --results table.json whose runs are not in --runs-dir "
        "(marked as reused) and add or replace the rows of the runs that are",
    )
    ap.add_argument(
        "--summarize",
        nargs="+",
        metavar="DIR",
        default=None,
        help="mean ± spread over seeds from these result directories' table.json; "
        "writes seeds.md, seeds.json and the plots into --results",
    )
    return ap.parse_args(argv)


def train_command(run: Run, a: argparse.Namespace) -> list[str]:
    stage_epochs = [int(e) for e in a.epochs.split(",")]
    out = Path(a.runs_dir) / run.name
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "train",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        a.data_dir,
        "--model",
        a.model,
        "--width",
        f"{a.width:g}",
        "--batch-size",
        str(a.batch_size),
        "--seed",
        str(a.seed),
        "--train-subset",
        str(a.train_subset),
        "--threads",
        "1",
        "--eval-every",
        "0",
        "--out",
        str(out),
    ]
    if run.quant:  # the same stages, epochs and lr as the ST runs
        cmd += ["--quant", run.quant, "--lr", a.lr, "--stages", a.stages, "--epochs", a.epochs]
    elif run.r_ratio == 0:
        cmd += ["--lr", a.lr.split(",")[0], "--stages", "full", "--epochs", str(sum(stage_epochs))]
    else:
        cmd += [
            "--r-ratio",
            f"{run.r_ratio:g}",
            "--tile",
            str(run.tile),
            "--lr",
            a.lr,
            "--stages",
            a.stages,
            "--epochs",
            a.epochs,
        ]
    if run.kd:
        cmd += [
            "--kd-teacher",
            str(Path(a.runs_dir) / "fp" / "last.pt"),
            "--kd-lambda",
            f"{a.kd_lambda:g}",
            "--kd-temp",
            f"{a.kd_temp:g}",
        ]
    return cmd


def run_all(runs: list[Run], a: argparse.Namespace) -> None:
    runs_dir = Path(a.runs_dir)
    for r in runs:  # never mix runs of another configuration into this table
        saved = runs_dir / r.name / "command.txt"
        wanted = shlex.join(["python", "cli.py", *train_command(r, a)[2:]])
        if saved.exists() and saved.read_text().strip().replace(" --resume", "") != wanted:
            sys.exit(f"{saved.parent} was made by another command ({saved.read_text().strip()}); "
                     "choose another --runs-dir")
    pending = sorted(
        (r for r in runs if not (runs_dir / r.name / "final.json").exists()), key=start_priority
    )
    failed: set[str] = set()
    active: dict[str, tuple[subprocess.Popen, float]] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for r in runs:
        if r not in pending:
            print(f"[skip] {r.name}: finished", flush=True)
    while pending or active:
        for name, (proc, started) in list(active.items()):
            if proc.poll() is not None:
                del active[name]
                ok = proc.returncode == 0 and (runs_dir / name / "final.json").exists()
                if not ok:
                    failed.add(name)
                status = "done" if ok else f"FAILED (exit {proc.returncode})"
                print(
                    f"[{time.strftime('%H:%M:%S')}] {name}: {status} in {time.time() - started:.0f}s",
                    flush=True,
                )
        for r in list(pending):
            if len(active) >= a.parallel:
                break
            if r.kd and not (runs_dir / "fp" / "final.json").exists():
                if "fp" in failed or "fp" not in {p.name for p in pending} | set(active):
                    pending.remove(r)
                    failed.add(r.name)
                    print(f"{r.name}: skipped, the teacher run fp did not finish", flush=True)
                continue
            pending.remove(r)
            out = runs_dir / r.name
            out.mkdir(parents=True, exist_ok=True)
            cmd = train_command(r, a)
            if (out / "last.pt").exists():
                cmd.append("--resume")
            shown = ["python", "cli.py", *cmd[2:]]  # as typed from the repository root
            (out / "command.txt").write_text(shlex.join(shown) + "\n")
            log = open(out / "train.log", "a")
            print(f"[{time.strftime('%H:%M:%S')}] start {r.name}: {shlex.join(cmd)}", flush=True)
            active[r.name] = (
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
                time.time(),
            )
        time.sleep(2)
    if failed:
        print(f"failed or skipped: {', '.join(sorted(failed))}", flush=True)


SETUP_KEYS = ("model", "width", "train_subset", "stages_st", "epochs_st", "lr", "batch_size", "seed",
              "kd_lambda", "kd_temp")


def setup_of(a: argparse.Namespace) -> dict:
    return {
        "dataset": "fashion-mnist (real, 60k train / 10k test IDX files)",
        "data_dir": a.data_dir,
        "model": a.model,
        "width": a.width,
        "train_subset": a.train_subset,
        "stages_st": a.stages,
        "epochs_st": a.epochs,
        "lr": a.lr,
        "batch_size": a.batch_size,
        "seed": a.seed,
        "kd_lambda": a.kd_lambda,
        "kd_temp": a.kd_temp,
        "schedule": "cosine per stage",
        "test_images": 10000,
    }


def run_rows(runs: list[Run], a: argparse.Namespace) -> list[dict]:
    """One row per finished run in --runs-dir: accuracy, counts from its checkpoint, command."""
    import torch

    from fastmm.nn.checkpoint import load_checkpoint
    from fastmm.nn.count import count_model
    from fastmm.nn.train import model_from_checkpoint, summarize_run

    torch.set_num_threads(1)
    rows = []
    for r in runs:
        summary = summarize_run(Path(a.runs_dir) / r.name)
        if summary is None:
            continue
        model = model_from_checkpoint(load_checkpoint(Path(a.runs_dir) / r.name / "last.pt"))
        counts = count_model(model, (1, 28, 28))
        command = Path(a.runs_dir) / r.name / "command.txt"
        rows.append(
            {
                "name": r.name,
                "label": r.label,
                "r_ratio": r.r_ratio,
                "tile": r.tile,
                "kd": r.kd,
                "quant": r.quant,
                "test_acc": summary["test_acc"],
                "acc_by_stage": summary["acc_by_stage"],
                "mults": counts.mults,
                "mults_executed": counts.mults_executed,
                "mults_factored": counts.mults_factored,
                "adds": counts.adds_actual if counts.adds_actual is not None else counts.adds_dense,
                "adds_dense_bound": counts.adds_dense,
                "size_bits": counts.size_bits,
                "train_seconds": summary["seconds"],
                "epochs": summary["args"]["epochs"],
                "command": command.read_text().strip().replace(" --resume", "") if command.exists() else None,
            }
        )
    return rows


def merge_rows(new_rows: list[dict], table: Path, setup: dict) -> list[dict]:
    """The rows of an existing table.json that no new run replaces, marked "reused", plus the
    new rows, in plan order. Refuses a table made with other settings."""
    if not table.exists():
        return new_rows
    old = json.loads(table.read_text())
    differ = [k for k in SETUP_KEYS if k in old["setup"] and old["setup"][k] != setup[k]]
    if differ:
        sys.exit(f"{table} was made with other settings ({', '.join(differ)}); cannot merge into it")
    fresh = {row["name"] for row in new_rows}
    kept = [{**row, "reused": True} for row in old["runs"] if row["name"] not in fresh]
    order = {r.name: i for i, r in enumerate(plan())}
    return sorted(kept + new_rows, key=lambda row: order.get(row["name"], len(order)))


def report(runs: list[Run], a: argparse.Namespace) -> list[dict]:
    results = Path(a.results)
    setup = setup_of(a)
    rows = run_rows(runs, a)
    if a.merge:
        rows = merge_rows(rows, results / "table.json", setup)
    if not rows:
        print("no finished runs to report", flush=True)
        return rows
    results.mkdir(parents=True, exist_ok=True)
    (results / "table.json").write_text(json.dumps({"setup": setup, "runs": rows}, indent=2) + "\n")
    md = table_markdown(rows, a)
    (results / "table.md").write_text("\n".join(md))
    plot(rows, results, f"Fashion-MNIST, {a.model}, seed {a.seed}")
    print("\n".join(md), flush=True)
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def table_markdown(rows: list[dict], a: argparse.Namespace) -> list[str]:
    fp = next((row for row in rows if row["r_ratio"] == 0 and not row.get("quant")), None)
    reused = [row for row in rows if row.get("reused")]
    md = [
        f"# StrassenNets on Fashion-MNIST — {a.model} (width ×{a.width:g}), 28×28×1",
        "",
        f"Training: {a.train_subset} training images (seeded subset), full test set (10,000). "
        f"ST, TWN and TTQ runs: stages {a.stages} with epochs {a.epochs} and lr {a.lr}, cosine per "
        f"stage; full precision: one stage of {sum(int(e) for e in a.epochs.split(','))} epochs at lr "
        f"{a.lr.split(',')[0]}. SGD momentum 0.9, "
        f"wd 1e-4, batch {a.batch_size}, seed {a.seed}. KD: teacher = the full-precision run, "
        f"λ = {a.kd_lambda:g}, T = {a.kd_temp:g}. Multiplications per image by the paper's formula "
        "(1 + (r/c_out)/p²)·c_out·H_out·W_out per SPN conv + in·out for the classifier "
        "(`fastmm.nn.count`); TWN and TTQ (every conv ternary-weight, classifier full precision) "
        "by the paper's convention for them, as the dense convs they replace, and in the next "
        "column with the scale factored out of each sum (TWN: only the BN scale is left; TTQ: "
        "also Wn/Wp once per output). Additions use the nonzeros of the trained ternary weights; "
        "size: 2 bits per ternary weight, 32 per other parameter (and per TWN scale α).",
        "",
        "| model | KD | test acc. | mults | vs FP | mults, scale factored out | additions "
        "| size (KiB) | train time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        rel = f"{100 * (row['mults'] / fp['mults'] - 1):+.1f}%" if fp else "–"
        mark = " †" if row.get("reused") else ""
        md.append(
            f"| {row['label'].replace(' +KD', '')}{mark} | {'yes' if row['kd'] else 'no'} "
            f"| {_pct(row['test_acc'])} | {row['mults']:.4g} | {rel} "
            f"| {row.get('mults_factored', row['mults']):.4g} | {row['adds']:.4g} "
            f"| {row['size_bits'] / 8192:.1f} | {row['train_seconds'] / 60:.1f} min |"
        )
    if reused:
        md += [
            "",
            "† reused from an earlier run of the same settings (its row is kept from this "
            "table.json; its checkpoint is not re-read); its command is listed below as recorded.",
        ]
    md += ["", "Test accuracy after each stage:", ""]
    for row in rows:
        stages = ", ".join(f"{k} {_pct(v)}" for k, v in row["acc_by_stage"].items())
        md.append(f"- {row['name']}: {stages}")
    md += ["", "Commands (each run; `--resume` is added when continuing a killed run):", "", "```"]
    md += [row["command"] + ("   # † reused" if row.get("reused") else "") for row in rows if row["command"]]
    md += [
        "```",
        "",
        "Regenerate this table and the plots from the finished runs (`--merge` keeps the rows "
        "of runs not in --runs-dir from the existing table.json):",
        "",
        "```",
        f"python benchmarks/fashion_mnist.py --report-only{' --merge' if a.merge else ''} "
        f"--runs-dir {a.runs_dir} --results {a.results} --model {a.model} --width {a.width:g} "
        f"--seed {a.seed} --train-subset {a.train_subset} --stages {a.stages} --epochs {a.epochs} "
        f"--lr {a.lr} --kd-lambda {a.kd_lambda:g} --kd-temp {a.kd_temp:g}",
        "```",
        "",
    ]
    return md


# ----------------------------------------------------------------------------- plots

STYLE = {  # kind -> (marker, colour, legend)
    "fp": ("*", "black", "full precision"),
    "st": ("o", "tab:blue", "ST"),
    "st-kd": ("s", "tab:orange", "ST + KD"),
    "twn": ("^", "tab:green", "TWN"),
    "ttq": ("v", "tab:red", "TTQ"),
}


def _kind(row: dict) -> str:
    if row.get("quant"):
        return row["quant"]
    if row["r_ratio"] == 0:
        return "fp"
    return "st-kd" if row["kd"] else "st"


def _note(row: dict) -> str | None:
    return f"r={row['r_ratio']:g},p={row['tile']}" if row["r_ratio"] > 0 else None


def plot(rows: list[dict], results: Path, title: str) -> None:
    """accuracy_vs_mults.png and accuracy_vs_size.png; rows may carry "acc_spread" (error bars).

    TWN and TTQ appear twice on the multiplications axis: filled at the paper's count (as the
    dense convs), hollow with the scale factored out of the sums, joined by a dotted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    for key, xlabel, name in (
        ("mults", "multiplications per image (log scale)", "accuracy_vs_mults.png"),
        ("size_bits", "model size (KiB, log scale)", "accuracy_vs_size.png"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        seen = set()
        for row in rows:
            kind = _kind(row)
            marker, color, legend = STYLE[kind]
            x = row[key] / 8192 if key == "size_bits" else row[key]
            y = 100 * row["test_acc"]
            yerr = 100 * row["acc_spread"] if row.get("acc_spread") is not None else None
            ax.errorbar([x], [y], yerr=yerr, fmt=marker, color=color, capsize=3,
                        markersize=11 if kind == "fp" else 6, label=None if kind in seen else legend)
            seen.add(kind)
            if key == "mults" and row.get("quant"):
                xf = row["mults_factored"]
                ax.plot([xf], [y], marker, mfc="none", color=color, markersize=6)
                ax.plot([xf, x], [y, y], ":", color=color, linewidth=0.8)
            note = _note(row)
            if note:
                ax.annotate(note, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if key == "mults" and any(row.get("quant") for row in rows):
            ax.plot([], [], "o", mfc="none", color="grey", label="TWN/TTQ, scale factored out")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(results / name, dpi=150)
        plt.close(fig)


# ----------------------------------------------------------------------------- several seeds


def summarize_seeds(dirs: list[str], out: Path) -> list[dict]:
    """Mean and spread (half the range) of each run name over the table.json of several seeds'
    result directories; writes seeds.md, seeds.json and the two plots into `out`."""
    tables = [json.loads((Path(d) / "table.json").read_text()) for d in dirs]
    first = tables[0]["setup"]
    for d, t in zip(dirs, tables, strict=True):
        differ = [k for k in SETUP_KEYS if k != "seed" and k in t["setup"] and k in first
                  and t["setup"][k] != first[k]]
        if differ:
            sys.exit(f"{d}/table.json differs from {dirs[0]} in {', '.join(differ)}")
    order = {r.name: i for i, r in enumerate(plan())}
    by_name: dict[str, list[tuple[int, dict]]] = {}
    for t in tables:
        for row in t["runs"]:
            by_name.setdefault(row["name"], []).append((t["setup"]["seed"], row))
    rows = []
    for name in sorted(by_name, key=lambda n: order.get(n, len(order))):
        seeds = by_name[name]
        accs = [row["test_acc"] for _, row in seeds]
        base = seeds[0][1]
        rows.append({
            **{k: base.get(k) for k in ("name", "label", "r_ratio", "tile", "kd", "quant", "mults",
                                       "size_bits")},
            "mults_factored": base.get("mults_factored", base["mults"]),
            "seeds": [seed for seed, _ in seeds],
            "accs": accs,
            "test_acc": sum(accs) / len(accs),
            "acc_spread": (max(accs) - min(accs)) / 2 if len(accs) > 1 else None,
            "reused": [seed for seed, row in seeds if row.get("reused")],
        })
    out.mkdir(parents=True, exist_ok=True)
    (out / "seeds.json").write_text(json.dumps({"setup": first, "dirs": dirs, "runs": rows}, indent=2) + "\n")
    md = [
        f"# Fashion-MNIST, {first['model']}: mean over seeds",
        "",
        "Mean test accuracy and spread (± half the range) over the seeds' tables "
        f"({', '.join(f'{d}/table.md' for d in dirs)}), each with the settings and commands of "
        "its runs. Counts as there (TWN/TTQ multiplications: the paper's convention, then with the "
        "scale factored out).",
        "",
        "| model | KD | seeds | test acc. (mean ± spread) | per seed | mults | mults, scale factored out "
        "| size (KiB) |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        spread = f" ± {100 * row['acc_spread']:.2f}" if row["acc_spread"] is not None else ""
        per_seed = ", ".join(f"{s}: {_pct(acc)}" + (" †" if s in row["reused"] else "")
                             for s, acc in zip(row["seeds"], row["accs"], strict=True))
        md.append(
            f"| {row['label'].replace(' +KD', '')} | {'yes' if row['kd'] else 'no'} "
            f"| {len(row['seeds'])} | {_pct(row['test_acc'])}{spread} | {per_seed} "
            f"| {row['mults']:.4g} | {row['mults_factored']:.4g} | {row['size_bits'] / 8192:.1f} |"
        )
    md += [
        "",
        "† that seed's row was reused from an earlier run (see its table.md).",
        "",
        "Regenerate: `python benchmarks/fashion_mnist.py --summarize "
        f"{' '.join(dirs)} --results {out}`",
        "",
    ]
    (out / "seeds.md").write_text("\n".join(md))
    two = [row for row in rows if len(row["seeds"]) > 1]
    plot(two, out, f"Fashion-MNIST, {first['model']}: mean ± spread over seeds "
         f"{', '.join(str(s) for s in sorted({s for r in two for s in r['seeds']}))}")
    print("\n".join(md), flush=True)
    return rows


def main(argv=None) -> None:
    a = parse_args(argv)
    if a.summarize:
        summarize_seeds(a.summarize, Path(a.results))
        return
    runs = plan()
    if a.only:
        keep = set(a.only.split(","))
        teacher = any(r.kd for r in runs if r.name in keep)  # KD runs need the fp run
        runs = [r for r in runs if r.name in keep or (teacher and r.name == "fp")]
    if not a.report_only:
        if not Path(a.data_dir).is_dir():
            sys.exit(f"Fashion-MNIST not found in {a.data_dir}: apt-get install dataset-fashion-mnist")
        started = time.time()
        run_all(runs, a)
        print(f"all runs finished in {(time.time() - started) / 60:.1f} min", flush=True)
    report(runs, a)


if __name__ == "__main__":
    main()
