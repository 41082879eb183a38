"""Training configuration: the run's settings as one dataclass, and their validation.

A `TrainConfig` is everything that defines a run; it is stored in every checkpoint as a
plain dict, so a resumed run or a KD teacher is rebuilt from exactly these settings.
`validate` normalises the per-stage values and raises InputError with one line. This
module imports torch only to ask whether CUDA is there.

The bounds below are the one place where the settings of a network are checked: `fastmm
train`, `fastmm evaluate` and `fastmm count` use them for the command line and for the
settings stored in a checkpoint (`checkpoint_args`, `config_from_checkpoint`). Values beyond
them only build absurd models (10^15-entry tensors and more) or diverge at once:

* width (channel multiplier) in (0, MAX_WIDTH = 16]: ResNet-18 at 16 has 8192 channels in
  its last stage (wide ResNets use up to 10);
* r_ratio (hidden width r = r_ratio·c_out) in [0, MAX_R_RATIO = 64], 0 meaning a dense
  model where that is allowed (the paper uses r ≤ 4·c_out);
* tile p in 1..MAX_TILE = 64 (the paper uses 1, 2) and groups g in 1..MAX_GROUPS = 8192
  (at most 512·16; layers whose c_in g does not divide use g = 1); both shape SPN layers and
  are refused for a dense or ternary-weight run, as --quant is for one of the stage full only;
* lr in (0, MAX_LR = 10] per stage, momentum in [0, 1), weight decay in [0, 1], KD
  λ in [0, 1] and temperature in (0, MAX_KD_TEMP = 100], all finite;
* seed in 0..MAX_SEED = 2^62 − 1 (as `fastmm search`), threads in 1..MAX_THREADS = 1024,
  loader workers in 0..MAX_WORKERS = 256,
  batch sizes in 1..MAX_BATCH = 2^20, image size in 1..MAX_IMAGE_SIZE = 4096, at most
  MAX_CLASSES = 2^20 classes and MAX_IN_CHANNELS = 64 input channels;
* epochs per stage in 1..MAX_EPOCHS = 100000 (the paper trains 250; a bound keeps the schedule's
  step counts and the data seeds of a run within reach).

--image-size and --workers act on ImageNet only (the other datasets are read into memory at their
own size): `check_dataset_options` refuses them, typed, for another dataset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fastmm.arguments import plain_number_text
from fastmm.errors import InputError
from fastmm.nn import data as data_mod
from fastmm.nn.layers import MAX_R_RATIO, MAX_TILE
from fastmm.nn.models import MODELS
from fastmm.nn.ternary import QUANTIZERS
from fastmm.spn import Mode
from fastmm.validate import bounded_int

STAGES = ("full", "ternary", "finetune")
STAGE_MODE = {"full": Mode.FULL, "ternary": Mode.TERNARY, "finetune": Mode.FROZEN}
# one --lr becomes lr / 10**k per stage: divided, not multiplied by 0.1, so 0.1 gives 0.01 and
# 0.001 as typed (0.1 * 0.1 is 0.010000000000000002, which a retyped --lr 0.1,0.01,0.001 would miss)
STAGE_LR_DIVISOR = {"full": 1, "ternary": 10, "finetune": 100}
STAGE_LR_FACTOR = {stage: 1 / divisor for stage, divisor in STAGE_LR_DIVISOR.items()}
SCHEDULES = ("cosine", "step")
STEP_MILESTONES = (0.6, 0.8)  # ×0.1 at 60% and 80% of a stage (the paper's 150, 200 of 250)
CHECKPOINT = "last.pt"
METRICS = "metrics.jsonl"
FINAL = "final.json"

MAX_WIDTH = 16.0
MAX_GROUPS = 8192
MAX_LR = 10.0
MAX_KD_TEMP = 100.0
MAX_SEED = 2**62 - 1
MAX_THREADS = 1024
MAX_WORKERS = 256
MAX_BATCH = 2**20
MAX_IMAGE_SIZE = 4096
MAX_COUNT = 2**31 - 1  # epochs in total (--stop-after), images (--train-subset)
MAX_EPOCHS = 100_000  # per stage
MAX_CLASSES = 2**20
MAX_IN_CHANNELS = 64


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
    stages = [s.strip() for s in text.split(",")] if isinstance(text, str) else text
    if not isinstance(stages, list | tuple) or not stages or any(s not in STAGES for s in stages):
        raise InputError(f"--stages must be a comma list of {', '.join(STAGES)}; got {text!r}")
    stages = list(stages)  # a tuple (STAGES itself) is as good as a list
    if len(set(stages)) != len(stages) or stages != sorted(stages, key=STAGES.index):
        raise InputError(f"--stages must keep the order full,ternary,finetune; got {text!r}")
    return stages


def parse_per_stage(text: str | float | list, n: int | None, kind: type, name: str) -> list:
    """One value for every stage, or a comma list with one value per stage (`kind` int: whole
    numbers, 3.0 taken as 3 but 3.7 refused, not cut); `n` None: as many values as given."""
    if isinstance(text, list | tuple):
        items = list(text)
    else:
        items = [s.strip() for s in str(text).split(",")]
    try:
        if kind is int and any(isinstance(v, float) and not v.is_integer() for v in items):
            raise ValueError
        if any(isinstance(v, str) and not plain_number_text(v) for v in items):  # '٣', '1_0'
            raise ValueError
        values = [kind(v) for v in items]
    except (ValueError, TypeError, OverflowError):
        number = "whole number" if kind is int else "number"
        raise InputError(
            f"--{name} must be a {number} or a comma list of {number}s; got {text!r:.60}"
        ) from None
    if n is None:
        return values
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise InputError(f"--{name} has {len(values)} values for {n} stages")
    return values


# ----------------------------------------------------------------------------- checks


def _shown(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 30 else text[:30] + "..."


def bounded_real(value: Any, what: str, low: float, high: float, *,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite number (not a bool, not text) in the interval from low to high, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{what} must be a number, got {_shown(value)}")
    x = float(value) if -1e308 < value < 1e308 else math.inf
    above = low < x if low_open else low <= x
    below = x < high if high_open else x <= high
    if not (math.isfinite(x) and above and below):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InputError(f"{what} must be in {interval}, got {_shown(value)}")
    return x


def check_width(value: Any, what: str = "--width") -> float | None:
    """The channel-width multiplier: None (the model's own) or in (0, MAX_WIDTH]."""
    return None if value is None else bounded_real(value, what, 0, MAX_WIDTH, low_open=True)


def check_r_ratio(value: Any, what: str = "--r-ratio", dense: bool = True) -> float:
    """r/c_out of the SPN layers in (0, MAX_R_RATIO]; 0 (a dense model) too when `dense`."""
    return bounded_real(value, what, 0, MAX_R_RATIO, low_open=not dense)


def check_tile(value: Any, what: str = "--tile") -> int:
    return bounded_int(value, what, 1, MAX_TILE)


def check_groups(value: Any, what: str = "--groups") -> int:
    return bounded_int(value, what, 1, MAX_GROUPS)


def check_batch_size(value: Any, what: str = "--batch-size") -> int:
    return bounded_int(value, what, 1, MAX_BATCH)


def check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be text, got {_shown(value)}")
    return value


def check_device(value: Any, what: str = "--device") -> str:
    if not (isinstance(value, str) and value in ("cpu", "cuda")):
        raise InputError(f"{what} must be cpu or cuda, got {_shown(value)}")
    return value


def check_epochs(epochs: list[int]) -> list[int]:
    """Epochs per stage (whole numbers, parsed), each in 1..MAX_EPOCHS."""
    if any(e < 1 for e in epochs):
        raise InputError(f"--epochs must be at least 1 for every stage, got {min(epochs)}")
    if any(e > MAX_EPOCHS for e in epochs):
        raise InputError(f"--epochs must be at most {MAX_EPOCHS} per stage, got {_shown(max(epochs))}")
    return epochs


def check_model(value: Any, what: str = "--model") -> str:
    """A model name `build_model` knows (checked before any data is read), in lower case: names
    are case-insensitive, and a run stores and compares the one spelling."""
    if check_text(value, what).lower() not in MODELS:
        raise InputError(f"unknown model {value!r}; choose one of: {', '.join(MODELS)}")
    return value.lower()


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    return lambda value, what: None if value is None else check(value, what)


def _ints(low: int, high: int) -> Callable[[Any, str], int]:
    return lambda value, what: bounded_int(value, what, low, high)


def _reals(low: float, high: float, **open_ends: bool) -> Callable[[Any, str], float]:
    return lambda value, what: bounded_real(value, what, low, high, **open_ends)


# what rebuilds a checkpoint's network and data: checked by count, evaluate, KD and resume alike
MODEL_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "model": check_text,
    "dataset": check_text,
    "data_dir": _optional(check_text),
    "quant": _optional(check_text),
    "width": check_width,
    "r_ratio": check_r_ratio,
    "tile": check_tile,
    "groups": check_groups,
    "seed": _ints(0, MAX_SEED),
    "image_size": _ints(1, MAX_IMAGE_SIZE),
    "num_classes": _ints(1, MAX_CLASSES),
    "in_channels": _ints(1, MAX_IN_CHANNELS),
}

# the other numbers of a run
RUN_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "momentum": _reals(0, 1, high_open=True),
    "weight_decay": _reals(0, 1),
    "kd_lambda": _reals(0, 1),
    "kd_temp": _reals(0, MAX_KD_TEMP, low_open=True),
    "batch_size": check_batch_size,
    "eval_batch_size": check_batch_size,
    "eval_every": _ints(0, MAX_COUNT),
    "workers": _ints(0, MAX_WORKERS),
    "threads": _optional(_ints(1, MAX_THREADS)),
    "train_subset": _optional(_ints(1, MAX_COUNT)),
    "stop_after": _optional(_ints(0, MAX_COUNT)),
}

# where a run lives and runs: given again on resume, these replace the saved ones, which must still
# be of their kind (a checkpoint whose --out is a number has been tampered with)
PLACE_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "out": check_text,
    "device": check_device,
    "data_dir": _optional(check_text),
    "kd_teacher": _optional(check_text),
    "workers": RUN_CHECKS["workers"],
    "threads": RUN_CHECKS["threads"],
    "stop_after": RUN_CHECKS["stop_after"],
    "eval_batch_size": RUN_CHECKS["eval_batch_size"],
}

IMAGENET_ONLY = ("image_size", "workers")  # the other datasets are tensors in memory, at their own size


def flag(name: str) -> str:
    """The command-line option of a setting: r_ratio -> --r-ratio."""
    return "--" + name.replace("_", "-")


def checked_args(args: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """A checkpoint's stored settings with every one that rebuilds its model checked against the
    bounds of the command line (absent or None ones are left to the caller's defaults)."""
    out = dict(args)
    for key, check in MODEL_CHECKS.items():
        if out.get(key) is not None:
            try:
                out[key] = check(out[key], key)
            except InputError as exc:
                raise InputError(f"checkpoint {path} has unusable args: {exc}") from None
    if out.get("quant") and (out.get("r_ratio") or 0) > 0:  # as `fastmm train` refuses them
        raise InputError(f"checkpoint {path} has unusable args: quant {out['quant']!r:.20} and r_ratio "
                         f"{out['r_ratio']:g} exclude each other (ternary convs or SPN layers)")
    return out


def checkpoint_args(state: Any, path: str | Path) -> dict[str, Any]:
    """The settings stored in a loaded checkpoint, checked: its 'args' ({} if none) with the
    num_classes / in_channels that `fastmm train` writes beside them."""
    if not isinstance(state, dict):
        return {}
    args = dict(state["args"]) if isinstance(state.get("args"), dict) else {}
    for key in ("num_classes", "in_channels"):
        if state.get(key) is not None:
            args[key] = state[key]
    return checked_args(args, path)


def config_from_checkpoint(state: dict[str, Any], path: str | Path) -> TrainConfig:
    """The TrainConfig stored in a training checkpoint's 'args', its model settings checked."""
    if not isinstance(state.get("args"), dict):
        raise InputError(f"checkpoint {path} has no 'args' (the settings of the run that wrote it)")
    return TrainConfig.from_dict(checkpoint_args(state, path))


def network_name(model: str, dataset: str, quant: str | None = None, r_ratio: float = 0.0,
                 tile: int = 1, groups: int = 1) -> str:
    """How `fastmm count`, `evaluate` and `train` name a network in their messages."""
    if quant:
        return f"{model} ({quant.upper()}, {dataset})"
    if r_ratio > 0:
        return f"{model} (r-ratio {r_ratio:g}, tile {tile}, groups {groups}, {dataset})"
    return f"{model} (dense, {dataset})"


def check_dataset_options(dataset: str, given: Collection[str]) -> None:
    """Refuse --image-size and --workers typed for a dataset they do not act on (all but ImageNet)."""
    typed = [flag(name) for name in IMAGENET_ONLY if name in given]
    if typed and dataset != "imagenet":
        them = "it" if len(typed) == 1 else "them"
        raise InputError(f"{' and '.join(typed)}: ImageNet only; {dataset} images are read into memory "
                         f"at their own size, without loader processes: drop {them}")


def check_out_dir(out: str | Path) -> None:
    """--out must be a directory or a path that can become one (no file on the way)."""
    path = Path(out)
    for where in (path, *path.parents):
        if where.is_dir():
            return
        if where.exists() or where.is_symlink():
            what = "exists and is not a directory" if where == path else f"{where} is not a directory"
            raise InputError(f"--out {out}: {what}")


def _check_lrs(lrs: list[float]) -> None:
    for lr in lrs:
        if not (0 < lr <= MAX_LR):  # NaN fails too
            raise InputError(f"--lr must be positive and at most {MAX_LR:g} (per stage), got {lr:g}")


def _check_numbers(cfg: TrainConfig) -> None:
    """Every scalar setting within its bounds (normalised: ints stay ints, reals become floats)."""
    for name, check in {**MODEL_CHECKS, **RUN_CHECKS}.items():
        if name not in ("num_classes", "in_channels"):
            setattr(cfg, name, check(getattr(cfg, name), flag(name)))


def _check_spn_options(cfg: TrainConfig) -> None:
    """--tile and --groups shape SPN layers and --quant acts from the stage 'ternary' on: given
    where they change nothing they are refused, as `fastmm count` refuses them, not ignored."""
    spn_only = [f"{flag(n)} {getattr(cfg, n)}" for n in ("tile", "groups") if getattr(cfg, n) != 1]
    if spn_only and cfg.quant is not None:
        raise InputError(f"--quant trains ternary-weight convs; {', '.join(spn_only)}: SPN layers only")
    if spn_only and cfg.r_ratio == 0:
        raise InputError(f"{', '.join(spn_only)}: SPN layers only, and a dense model (--r-ratio 0) has "
                         "none; pass --r-ratio or drop them")
    if cfg.quant is not None and cfg.stages == ["full"]:
        raise InputError(f"--quant {cfg.quant} with --stages full trains full-precision convs (the "
                         "weights become ternary from the stage 'ternary' on); add ternary to --stages "
                         "or drop --quant")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check a config and normalise it; raise InputError with one clear line."""
    if cfg.dataset not in data_mod.DATASETS:
        raise InputError(
            f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(data_mod.DATASETS)}"
        )
    cfg.model = check_model(cfg.model)
    _check_numbers(cfg)
    check_text(cfg.out, "--out")
    if not cfg.out.strip():
        raise InputError("--out must name a run directory, got an empty path")
    check_out_dir(cfg.out)
    cfg.stages = parse_stages(cfg.stages)
    cfg.epochs = check_epochs(parse_per_stage(cfg.epochs, len(cfg.stages), int, "epochs"))
    single = not isinstance(cfg.lr, list | tuple) and "," not in str(cfg.lr)
    lrs = parse_per_stage(cfg.lr, len(cfg.stages), float, "lr")
    _check_lrs(lrs)
    cfg.lr = (
        [lr / STAGE_LR_DIVISOR[s] for lr, s in zip(lrs, cfg.stages, strict=True)] if single else lrs
    )
    if cfg.quant is not None:
        cfg.quant = cfg.quant.lower()
        if cfg.quant not in QUANTIZERS:
            raise InputError(f"--quant must be one of {', '.join(QUANTIZERS)}; got {cfg.quant!r}")
        if cfg.r_ratio > 0:
            raise InputError("--quant and --r-ratio exclude each other (ternary convs or SPN layers)")
    if cfg.r_ratio == 0 and cfg.quant is None and cfg.stages != ["full"]:
        raise InputError(
            "a dense model (--r-ratio 0, no --quant) trains only the stage 'full'; pass --stages full"
        )
    _check_spn_options(cfg)
    if cfg.schedule not in SCHEDULES:
        raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}")
    check_device(cfg.device)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    if cfg.kd_teacher is not None and not Path(check_text(cfg.kd_teacher, "--kd-teacher")).is_file():
        raise InputError(f"--kd-teacher: checkpoint not found: {cfg.kd_teacher} (moved? on --resume, "
                         "give its new place with --kd-teacher)")
    # the checkpoint stores the run's settings: paths as absolute ones, so that `evaluate` and
    # `--resume` from another directory use the same data and teacher
    if cfg.kd_teacher is not None:
        cfg.kd_teacher = str(Path(cfg.kd_teacher).resolve())
    if cfg.data_dir is not None:
        cfg.data_dir = str(Path(cfg.data_dir).resolve())
    return cfg
