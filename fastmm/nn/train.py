"""Staged StrassenNets training (Tschannen et al. 2018) with resume, KD and torchrun.

Stages, in the paper's order:
  full      the SPN (or a dense model) in full precision;
  ternary   Wb, Wc quantized in the forward pass (TWN), straight-through gradients;
  finetune  Wb, Wc frozen as ternary; ã, BatchNorm and the classifier keep training.
Each stage has its own epoch count, SGD optimizer (momentum 0.9) and learning-rate
schedule (cosine or step, stepped every iteration). One learning rate is used as
lr, lr/10, lr/100 for full, ternary, finetune, like the paper (0.1, 0.01, 0.001).

Determinism: the model is initialised from the seed; the data order of epoch e is
DistributedSampler(seed).set_epoch(e) and the augmentation of batch b on rank k is
drawn from generator(seed, e, k, b). A checkpoint is written atomically after every
epoch, so `resume` restarts at the next epoch boundary and — on the same machine and
thread count — ends with exactly the weights of an uninterrupted run.

Distributed: started under torchrun (WORLD_SIZE > 1) it uses DistributedDataParallel
with gloo on CPU and nccl on CUDA; `batch_size` is the global batch, split across ranks.
Rank 0 alone writes checkpoints, metrics and progress.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import data as data_mod
from fastmm.nn.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from fastmm.nn.distill import kd_loss
from fastmm.spn import Mode

STAGES = ("full", "ternary", "finetune")
STAGE_MODE = {"full": Mode.FULL, "ternary": Mode.TERNARY, "finetune": Mode.FROZEN}
STAGE_LR_FACTOR = {"full": 1.0, "ternary": 0.1, "finetune": 0.01}
SCHEDULES = ("cosine", "step")
STEP_MILESTONES = (0.6, 0.8)  # ×0.1 at 60% and 80% of a stage (the paper's 150, 200 of 250)
CHECKPOINT = "last.pt"
METRICS = "metrics.jsonl"
FINAL = "final.json"


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in every checkpoint as a plain dict."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    model: str = "resnet20"
    width: float | None = None
    r_ratio: float = 0.0
    tile: int = 1
    groups: int = 1
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    epochs: list[int] | int | str = 1  # per stage: one value for all, or one per stage
    lr: list[float] | float | str = 0.1  # one value: lr, lr/10, lr/100 for full/ternary/finetune
    schedule: str = "cosine"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    eval_batch_size: int = 500
    eval_every: int = 1  # test every N epochs; 0: only at the end of each stage
    kd_teacher: str | None = None
    kd_lambda: float = 0.5
    kd_temp: float = 1.0
    out: str = "runs/run"
    device: str = "cpu"
    seed: int = 0
    train_subset: int | None = None
    workers: int = 0
    image_size: int = 224
    threads: int | None = None
    stop_after: int | None = None  # stop after this many epochs in total (tests, time slicing)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


# ----------------------------------------------------------------------------- arguments


def parse_stages(text: str | list[str]) -> list[str]:
    stages = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    if not stages or any(s not in STAGES for s in stages):
        raise InputError(f"--stages must be a comma list of {', '.join(STAGES)}; got {text!r}")
    if len(set(stages)) != len(stages) or stages != sorted(stages, key=STAGES.index):
        raise InputError(f"--stages must keep the order full,ternary,finetune; got {text!r}")
    return stages


def parse_per_stage(text: str | float | list, n: int, kind: type, name: str) -> list:
    """One value for every stage, or a comma list with one value per stage."""
    if isinstance(text, list | tuple):
        items = list(text)
    else:
        items = [s.strip() for s in str(text).split(",")]
    try:
        values = [kind(v) for v in items]
    except ValueError:
        raise InputError(
            f"--{name} must be a number or a comma list of numbers; got {text!r}"
        ) from None
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise InputError(f"--{name} has {len(values)} values for {n} stages")
    return values


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check a config and normalise it; raise InputError with one clear line."""
    if cfg.dataset not in data_mod.DATASETS:
        raise InputError(
            f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(data_mod.DATASETS)}"
        )
    cfg.stages = parse_stages(cfg.stages)
    cfg.epochs = parse_per_stage(cfg.epochs, len(cfg.stages), int, "epochs")
    if any(e < 0 for e in cfg.epochs):
        raise InputError("--epochs must be ≥ 0")
    single = not isinstance(cfg.lr, list | tuple) and "," not in str(cfg.lr)
    lrs = parse_per_stage(cfg.lr, len(cfg.stages), float, "lr")
    cfg.lr = (
        [lr * STAGE_LR_FACTOR[s] for lr, s in zip(lrs, cfg.stages, strict=True)] if single else lrs
    )
    if any(not (lr > 0) for lr in cfg.lr):
        raise InputError("--lr must be positive")
    if cfg.r_ratio < 0:
        raise InputError("--r-ratio must be ≥ 0 (0: a dense full-precision model)")
    if cfg.r_ratio == 0 and cfg.stages != ["full"]:
        raise InputError(
            "a dense model (--r-ratio 0) trains only the stage 'full'; pass --stages full"
        )
    if cfg.tile < 1 or cfg.groups < 1:
        raise InputError("--tile and --groups must be ≥ 1")
    if cfg.schedule not in SCHEDULES:
        raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}")
    if cfg.eval_every < 0:
        raise InputError("--eval-every must be ≥ 0")
    if cfg.batch_size < 1 or cfg.eval_batch_size < 1:
        raise InputError("--batch-size must be ≥ 1")
    if not (0.0 <= cfg.kd_lambda <= 1.0) or cfg.kd_temp <= 0:
        raise InputError("--kd-lambda must be in [0, 1] and --kd-temp > 0")
    if cfg.device not in ("cpu", "cuda"):
        raise InputError("--device must be cpu or cuda")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    if cfg.train_subset is not None and cfg.train_subset < 1:
        raise InputError("--train-subset must be ≥ 1")
    if cfg.kd_teacher is not None and not Path(cfg.kd_teacher).is_file():
        raise InputError(f"--kd-teacher: checkpoint not found: {cfg.kd_teacher}")
    return cfg


# ----------------------------------------------------------------------------- model


def build_network(
    name: str,
    num_classes: int,
    in_channels: int,
    r_ratio: float = 0.0,
    tile: int = 1,
    groups: int = 1,
    width: float | None = None,
) -> nn.Module:
    """The named ResNet, converted to SPN layers when r_ratio > 0."""
    from fastmm.nn.models import build_model

    kw = {"width": width} if width else {}
    try:
        model = build_model(name, num_classes=num_classes, in_channels=in_channels, **kw)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"cannot build model {name!r}: {exc}") from None
    if r_ratio > 0:
        from fastmm.nn.convert import strassenify

        try:
            model = strassenify(model, r_ratio, tile=tile, groups=groups)
        except (ValueError, TypeError) as exc:
            raise InputError(f"cannot convert {name!r} to SPN layers: {exc}") from None
    return model


def set_stage_mode(model: nn.Module, stage: str) -> None:
    """Put every SPN layer of `model` in the mode of `stage` (no-op for dense models)."""
    from fastmm.nn.layers import set_mode

    set_mode(model, STAGE_MODE[stage])


def model_from_checkpoint(state: dict[str, Any]) -> nn.Module:
    """Rebuild the network a checkpoint was trained as, with its weights and final mode."""
    cfg = TrainConfig.from_dict(state["args"])
    model = build_network(
        cfg.model,
        state["num_classes"],
        state["in_channels"],
        cfg.r_ratio,
        cfg.tile,
        cfg.groups,
        cfg.width,
    )
    model.load_state_dict(state["model"])
    set_stage_mode(model, state["stage_name"])
    return model


# ----------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()


def init_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, torch.device(device))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local)
        return Dist(dist.get_rank(), dist.get_world_size(), torch.device("cuda", local))
    return Dist(dist.get_rank(), dist.get_world_size(), torch.device("cpu"))


# ----------------------------------------------------------------------------- data loops


def train_batches(ds, cfg: TrainConfig, epoch: int, d: Dist):
    """Yield this rank's (x, y) batches of epoch `epoch`, deterministic from the seed."""
    from torch.utils.data import DataLoader, DistributedSampler

    per_rank = max(1, cfg.batch_size // d.world)
    sampler = DistributedSampler(
        ds, num_replicas=d.world, rank=d.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    drop_last = len(sampler) >= per_rank
    if isinstance(ds, data_mod.TensorImageDataset):
        indices = torch.tensor(list(sampler), dtype=torch.int64)
        n = (len(indices) // per_rank) * per_rank if drop_last else len(indices)
        for b, start in enumerate(range(0, n, per_rank)):
            gen = data_mod.generator(cfg.seed, epoch, d.rank, b)
            yield ds.batch(indices[start : start + per_rank], gen)
    else:
        ds.set_epoch(epoch)
        loader = DataLoader(
            ds, batch_size=per_rank, sampler=sampler, num_workers=cfg.workers, drop_last=drop_last
        )
        yield from loader


def num_train_batches(ds, cfg: TrainConfig, d: Dist) -> int:
    per_rank = max(1, cfg.batch_size // d.world)
    n = len(ds) // d.world
    return n // per_rank if n >= per_rank else 1


def eval_batches(ds, batch_size: int, d: Dist, workers: int = 0):
    indices = torch.arange(d.rank, len(ds), d.world)
    if isinstance(ds, data_mod.TensorImageDataset):
        for start in range(0, len(indices), batch_size):
            yield ds.batch(indices[start : start + batch_size])
    else:
        from torch.utils.data import DataLoader, Subset

        yield from DataLoader(
            Subset(ds, indices.tolist()), batch_size=batch_size, num_workers=workers
        )


@torch.no_grad()
def evaluate(
    model: nn.Module, ds, batch_size: int = 500, d: Dist | None = None, workers: int = 0
) -> dict[str, float]:
    """Test loss and accuracy (top-1, and top-5 when there are more than 5 classes)."""
    d = d or Dist()
    model.eval()
    loss = correct = correct5 = count = 0.0
    for x, y in eval_batches(ds, batch_size, d, workers):
        x, y = x.to(d.device), y.to(d.device)
        out = model(x)
        loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        if out.shape[1] > 5:
            correct5 += (out.topk(5, 1).indices == y[:, None]).any(1).sum().item()
        count += len(y)
    loss, correct, correct5, count = d.sum([loss, correct, correct5, count])
    result = {"loss": loss / max(count, 1), "acc": correct / max(count, 1), "count": int(count)}
    if correct5:
        result["top5"] = correct5 / max(count, 1)
    return result


# ----------------------------------------------------------------------------- optimizer


def make_optimizer(model: nn.Module, cfg: TrainConfig, stage_index: int, steps: int):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(
        params, lr=cfg.lr[stage_index], momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    total = max(1, cfg.epochs[stage_index] * steps)
    if cfg.schedule == "cosine":

        def factor(t: int) -> float:
            return 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
    else:

        def factor(t: int) -> float:
            return 0.1 ** sum(t >= m * total for m in STEP_MILESTONES)

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


# ----------------------------------------------------------------------------- progress


class Progress:
    """rich progress bars on a terminal, one plain line per epoch otherwise (rank 0 only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = enabled and sys.stdout.isatty()
        self._bar = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeRemainingColumn(),
            )
            self._bar.start()

    def start(self, description: str, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task(description, total=total, loss=float("nan"))

    def advance(self, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, loss=loss)

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# ----------------------------------------------------------------------------- training


def _load_teacher(path: str, d: Dist) -> nn.Module:
    teacher = model_from_checkpoint(load_checkpoint(path)).to(d.device)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def summarize_run(out: str | Path) -> dict[str, Any] | None:
    """A finished run's final test accuracy, test accuracy at the end of each stage and
    training seconds, read from its final.json and metrics lines; None if it has not finished."""
    out = Path(out)
    if not (out / FINAL).is_file():
        return None
    acc_by_stage: dict[str, float] = {}
    seconds = 0.0
    for line in (out / METRICS).read_text().splitlines():
        rec = json.loads(line)
        seconds += rec.get("seconds", 0.0)
        if rec.get("test_acc") is not None:
            acc_by_stage[rec["stage"]] = rec["test_acc"]
    final = json.loads((out / FINAL).read_text())
    return {"test_acc": final["test_acc"], "acc_by_stage": acc_by_stage, "seconds": round(seconds, 1),
            "args": final["args"]}


def _rewrite_metrics(path: Path, done: int, last: dict | None) -> None:
    """Keep the metric lines of the epochs the checkpoint holds (drop a killed epoch's)."""
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("global_epoch", 0) <= done:
                records.append(rec)
    if last is not None and (not records or records[-1].get("global_epoch") != done):
        records.append(last)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) the staged training described by `cfg`; return the final metrics."""
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT
    state = None
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        saved = TrainConfig.from_dict(state["args"])
        # The run's own settings win; only where/how it runs may change on resume.
        for name in ("device", "workers", "threads", "stop_after", "data_dir"):
            setattr(saved, name, getattr(cfg, name))
        cfg = saved
    elif not resume and ckpt_path.is_file():
        raise InputError(
            f"{out} already holds a run; pass --resume to continue it or another --out"
        )
    cfg = validate(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    d = init_distributed(cfg.device)
    if cfg.device == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

    train_ds = data_mod.load_dataset(
        cfg.dataset, cfg.data_dir, True, cfg.train_subset, cfg.seed, cfg.image_size
    )
    test_ds = data_mod.load_dataset(
        cfg.dataset, cfg.data_dir, False, None, cfg.seed, cfg.image_size
    )
    num_classes = max(train_ds.num_classes, test_ds.num_classes)
    in_channels = train_ds.in_channels

    torch.manual_seed(data_mod.derive_seed(cfg.seed, 0x40DE1))
    model = build_network(
        cfg.model, num_classes, in_channels, cfg.r_ratio, cfg.tile, cfg.groups, cfg.width
    ).to(d.device)
    teacher = _load_teacher(cfg.kd_teacher, d) if cfg.kd_teacher else None

    stage_index, epoch_in_stage, global_epoch = 0, 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        stage_index, epoch_in_stage = state["stage"], state["epoch"]
        global_epoch = state["global_epoch"]
        set_rng_state(state["rng"])
        if d.main:
            _rewrite_metrics(out / METRICS, global_epoch, state.get("metrics"))
    elif d.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / METRICS).write_text("")
    d.barrier()

    steps = num_train_batches(train_ds, cfg, d)
    progress = Progress(d.main)
    last_metrics = state.get("metrics") if state else None
    stopped = False
    try:
        while stage_index < len(cfg.stages):
            stage = cfg.stages[stage_index]
            if epoch_in_stage >= cfg.epochs[stage_index]:
                stage_index, epoch_in_stage = stage_index + 1, 0
                state = None
                continue
            set_stage_mode(model, stage)
            opt, sched = make_optimizer(model, cfg, stage_index, steps)
            if state is not None and state["stage"] == stage_index and "optimizer" in state:
                opt.load_state_dict(state["optimizer"])
                sched.load_state_dict(state["scheduler"])
            state = None
            net: nn.Module = model
            if d.world > 1:
                from torch.nn.parallel import DistributedDataParallel as DDP

                net = DDP(
                    model,
                    device_ids=[d.device.index] if d.device.type == "cuda" else None,
                    find_unused_parameters=False,  # frozen Wb, Wc have requires_grad False
                )
            while epoch_in_stage < cfg.epochs[stage_index]:
                if cfg.stop_after is not None and global_epoch >= cfg.stop_after:
                    stopped = True
                    break
                started = time.time()
                lr = opt.param_groups[0]["lr"]
                desc = f"{stage} {epoch_in_stage + 1}/{cfg.epochs[stage_index]}"
                progress.start(desc, steps)
                net.train()
                loss_sum = correct = count = 0.0
                for x, y in train_batches(train_ds, cfg, global_epoch, d):
                    x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
                    logits = net(x)
                    if teacher is not None:
                        with torch.no_grad():
                            t_logits = teacher(x)
                        loss = kd_loss(logits, y, t_logits, cfg.kd_lambda, cfg.kd_temp)
                    else:
                        loss = F.cross_entropy(logits, y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    value = loss.item()
                    if not math.isfinite(value):
                        raise FloatingPointError(f"training loss became {value} in {desc}")
                    loss_sum += value * len(y)
                    correct += (logits.argmax(1) == y).sum().item()
                    count += len(y)
                    progress.advance(value)
                loss_sum, correct, count = d.sum([loss_sum, correct, count])
                epoch_in_stage += 1
                global_epoch += 1
                stage_end = epoch_in_stage == cfg.epochs[stage_index]
                if stage_end or (cfg.eval_every and epoch_in_stage % cfg.eval_every == 0):
                    test = evaluate(model, test_ds, cfg.eval_batch_size, d, cfg.workers)
                else:
                    test = {"loss": None, "acc": None}
                last_metrics = {
                    "stage": stage,
                    "stage_index": stage_index,
                    "epoch": epoch_in_stage,
                    "epochs": cfg.epochs[stage_index],
                    "global_epoch": global_epoch,
                    "lr": lr,
                    "train_loss": loss_sum / max(count, 1),
                    "train_acc": correct / max(count, 1),
                    "test_loss": test["loss"],
                    "test_acc": test["acc"],
                    "seconds": round(time.time() - started, 3),
                }
                if "top5" in test:
                    last_metrics["test_top5"] = test["top5"]
                if d.main:
                    save_checkpoint(
                        ckpt_path,
                        {
                            "args": cfg.to_dict(),
                            "model": model.state_dict(),
                            "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(),
                            "stage": stage_index,
                            "stage_name": stage,
                            "epoch": epoch_in_stage,
                            "global_epoch": global_epoch,
                            "rng": rng_state(),
                            "metrics": last_metrics,
                            "num_classes": num_classes,
                            "in_channels": in_channels,
                        },
                    )
                    with open(out / METRICS, "a") as f:
                        f.write(json.dumps(last_metrics) + "\n")
                    progress.line(
                        f"{desc}  loss {last_metrics['train_loss']:.4f}  "
                        f"train {100 * last_metrics['train_acc']:.2f}%  "
                        + (f"test {100 * test['acc']:.2f}%  " if test["acc"] is not None else "")
                        + f"lr {lr:.3g}  "
                        f"{last_metrics['seconds']:.1f}s"
                    )
                d.barrier()
            if stopped:
                break
    finally:
        progress.close()
    result = {"stopped": stopped, "global_epoch": global_epoch, **(last_metrics or {})}
    if not stopped and d.main:
        (out / FINAL).write_text(json.dumps({"args": cfg.to_dict(), **result}, indent=2) + "\n")
    d.barrier()
    return result


def evaluate_checkpoint(
    path: str | Path, data_dir: str | None = None, device: str = "cpu", batch_size: int = 500
) -> dict[str, Any]:
    """Accuracy of a checkpoint's model on its dataset's test split."""
    state = load_checkpoint(path)
    cfg = TrainConfig.from_dict(state["args"])
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    test_ds = data_mod.load_dataset(
        cfg.dataset, data_dir or cfg.data_dir, False, None, cfg.seed, cfg.image_size
    )
    model = model_from_checkpoint(state).to(device)
    result = evaluate(model, test_ds, batch_size, Dist(0, 1, torch.device(device)))
    return {
        "dataset": cfg.dataset,
        "model": cfg.model,
        "r_ratio": cfg.r_ratio,
        "stage": state["stage_name"],
        **result,
    }
