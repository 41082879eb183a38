"""Wall-clock cost of StrassenNets layers in PyTorch on this machine (CPU, float32).

For one ResNet at Fashion-MNIST size (1×28×28, batch 128) it times
  - a training step (forward, backward, SGD step) of the dense model and of the ST
    models in each stage's mode (full, ternary, frozen = finetune), and
  - inference (eval, no_grad) of the dense model and of the ST models with frozen
    ternary layers, before and after `to_exact()` folds the scales into ã.
Minimum over --reps repetitions after warm-up (least disturbed by other load);
ratios are ST / dense on the same batch.
The SPN layers run as ordinary float convolutions, so fewer multiplications do not
mean less time here: the timing shows the training overhead of the SPN form, not the
speed of a ternary kernel.

    python benchmarks/nn_speed.py            # writes results/nn_speed.{json,md}
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_common import ArgumentParser, positive_float, positive_int  # noqa: E402

from fastmm.nn.layers import to_exact  # noqa: E402
from fastmm.nn.models import MODELS  # noqa: E402
from fastmm.nn.train import build_network, set_stage_mode  # noqa: E402

CONFIGS = [(2.0, 1), (1.0, 1), (0.5, 1), (2.0, 2)]


def median_time(fn, reps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)  # the least disturbed run: the machine is shared


def train_step_time(model, x, y, reps: int) -> float:
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    model.train()

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return median_time(step, reps)


def infer_time(model, x, reps: int) -> float:
    model.eval()

    def run():
        with torch.no_grad():
            model(x)

    return median_time(run, reps)


def main(argv=None) -> None:
    ap = ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet8", choices=sorted(MODELS))
    ap.add_argument("--width", type=positive_float, default=1.0)
    ap.add_argument("--batch-size", type=positive_int, default=128)
    ap.add_argument("--threads", type=positive_int, default=1)
    ap.add_argument("--reps", type=positive_int, default=7)
    ap.add_argument("--out", default="results/nn_speed")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]
    x = torch.randn(a.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch_size,))

    dense = build_network(a.model, 10, 1, 0.0, width=a.width)
    dense_train = train_step_time(dense, x, y, a.reps)
    dense_infer = infer_time(dense, x, a.reps)
    rows = [{"model": "dense", "r_ratio": 0, "tile": 1, "train_full_s": dense_train, "infer_s": dense_infer}]
    for r, p in CONFIGS:
        # dense timed again right before each ST model, so a change in the machine's load
        # between configurations does not skew the ratios
        base_train = train_step_time(dense, x, y, a.reps)
        base_infer = infer_time(dense, x, a.reps)
        torch.manual_seed(0)
        m = build_network(a.model, 10, 1, r, p, 1, a.width)
        row = {
            "model": f"ST r={r:g}c_out p={p}",
            "r_ratio": r,
            "tile": p,
            "dense_train_s": base_train,
            "dense_infer_s": base_infer,
        }
        for stage in ("full", "ternary", "finetune"):
            set_stage_mode(m, stage)
            row[f"train_{stage}_s"] = train_step_time(m, x, y, a.reps)
        set_stage_mode(m, "finetune")
        row["infer_s"] = infer_time(m, x, a.reps)
        m.eval()
        with torch.no_grad():
            before = m(x)
        to_exact(m)
        with torch.no_grad():
            row["exact_max_abs_diff"] = float((m(x) - before).abs().max())
        row["infer_exact_s"] = infer_time(m, x, a.reps)
        for key in ("train_full", "train_ternary", "train_finetune", "infer", "infer_exact"):
            base = base_train if key.startswith("train") else base_infer
            row[f"{key}_ratio"] = row[f"{key}_s"] / base
        rows.append(row)
        print(row, flush=True)
    rows[0]["train_full_ratio"] = rows[0]["infer_ratio"] = 1.0

    setup = {
        "model": a.model,
        "width": a.width,
        "input": [a.batch_size, 1, 28, 28],
        "threads": a.threads,
        "reps": a.reps,
        "cores": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or None,
    }
    out = ROOT / a.out if not Path(a.out).is_absolute() else Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n")
    ms = lambda s: f"{1000 * s:.0f} ms"  # noqa: E731
    md = [
        f"# StrassenNets layer speed — {a.model} (width ×{a.width:g}), batch {a.batch_size}×1×28×28, "
        f"{a.threads} thread(s), torch {torch.__version__} CPU",
        "",
        f"Machine: {os.cpu_count()} cores shared with other work; 1-minute load average "
        f"{load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (ratios are "
        "more trustworthy than absolute times when the load is above the core count).",
        "",
        "Training step = forward + backward + SGD step; ratio = time / the dense model's time "
        "measured right before that row (dense_train_s, dense_infer_s in nn_speed.json; the dense "
        "row is the first such measurement). "
        "Inference = eval mode, no_grad; 'frozen' uses the ternary Wb, Wc with TWN scales, "
        "'exact' after `to_exact()` (Wb, Wc ∈ {−1,0,1}, scales folded into ã). Minimum of "
        f"{a.reps} runs (shared machine). The SPN layers run as float convolutions "
        "(no ternary kernel), so the "
        "times show the overhead of the SPN form (wider hidden layer, hidden BatchNorm, "
        "two convolutions per layer), not the saving in multiplications.",
        "",
        "| model | train full | train ternary | train finetune | inference frozen | inference exact |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["r_ratio"] == 0:
            md.append(
                f"| dense | {ms(row['train_full_s'])} (1.00×) | – | – | {ms(row['infer_s'])} (1.00×) | – |"
            )
            continue
        cells = [
            f"{ms(row[f'train_{s}_s'])} ({row[f'train_{s}_ratio']:.2f}×)"
            for s in ("full", "ternary", "finetune")
        ]
        cells += [
            f"{ms(row['infer_s'])} ({row['infer_ratio']:.2f}×)",
            f"{ms(row['infer_exact_s'])} ({row['infer_exact_ratio']:.2f}×)",
        ]
        md.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    md += [
        "",
        "Regenerate: `python benchmarks/nn_speed.py "
        f"--model {a.model} --width {a.width:g} --batch-size {a.batch_size} "
        f"--threads {a.threads} --reps {a.reps}`",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
