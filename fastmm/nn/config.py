"""Training configuration: the run's settings as one dataclass, and their validation.

A `TrainConfig` is everything that defines a run; it is stored in every checkpoint as a
plain dict, so a resumed run or a KD teacher is rebuilt from exactly these settings.
`validate` normalises the per-stage values and raises InputError with one line. This
module imports torch only to ask whether CUDA is there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fastmm.errors import InputError
from fastmm.nn import data as data_mod
from fastmm.nn.ternary import QUANTIZERS
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
    quant: str | None = None  # "twn" / "ttq": ternary-weight convs instead of SPN layers
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
    if cfg.quant is not None:
        cfg.quant = str(cfg.quant).lower()
        if cfg.quant not in QUANTIZERS:
            raise InputError(f"--quant must be one of {', '.join(QUANTIZERS)}; got {cfg.quant!r}")
        if cfg.r_ratio > 0:
            raise InputError("--quant and --r-ratio exclude each other (ternary convs or SPN layers)")
    if cfg.r_ratio == 0 and cfg.quant is None and cfg.stages != ["full"]:
        raise InputError(
            "a dense model (--r-ratio 0, no --quant) trains only the stage 'full'; pass --stages full"
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
