"""Staged StrassenNets training (Tschannen et al. 2018) with resume, KD and torchrun.

Stages, in the paper's order:
  full      the SPN (or a dense model) in full precision;
  ternary   Wb, Wc quantized in the forward pass (TWN), straight-through gradients;
  finetune  Wb, Wc frozen as ternary; ã, BatchNorm and the classifier keep training.
The ternary-weight baselines (`quant` "twn" or "ttq", `fastmm.nn.ternary`) go through the
same stages with their conv kernels in place of Wb, Wc. Each stage has its own epoch
count, SGD optimizer (momentum 0.9) and learning-rate schedule (cosine or step, stepped
every iteration). One learning rate is used as lr, lr/10, lr/100 for full, ternary,
finetune, like the paper (0.1, 0.01, 0.001).

Determinism: the model is initialised from the seed; the data order of epoch e is
DistributedSampler(seed).set_epoch(e) and the augmentation of batch b on rank k is
drawn from generator(seed, e, k, b). A checkpoint is written atomically after every
epoch, so `resume` restarts at the next epoch boundary and — on the same machine and
thread count — ends with exactly the weights of an uninterrupted run.

This module is the loop. The configuration is `fastmm.nn.config`, the torchrun set-up
`fastmm.nn.distributed`, progress and metrics files `fastmm.nn.reporting`; their public
names are re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fastmm.errors import FastmmError, InputError
from fastmm.locks import BUSY, try_lock
from fastmm.nn import data as data_mod
from fastmm.nn.checkpoint import (
    fit_state_dict,
    load_checkpoint,
    require,
    rng_state,
    save_checkpoint,
    set_rng_state,
    state_dict_of,
)
from fastmm.nn.config import (  # noqa: F401  (re-exported)
    CHECKPOINT,
    FINAL,
    METRICS,
    MODEL_CHECKS,
    PLACE_CHECKS,
    RUN_CHECKS,
    SCHEDULES,
    STAGE_LR_FACTOR,
    STAGE_MODE,
    STAGES,
    STEP_MILESTONES,
    TrainConfig,
    check_batch_size,
    check_dataset_options,
    check_epochs,
    check_model,
    check_out_dir,
    checkpoint_args,
    config_from_checkpoint,
    flag,
    network_name,
    parse_per_stage,
    parse_stages,
    validate,
)
from fastmm.nn.distill import kd_loss
from fastmm.nn.distributed import Dist, init_distributed, launch_rank
from fastmm.nn.layers import SingleValueBatch
from fastmm.nn.reporting import (  # noqa: F401  (re-exported)
    Progress,
    append_metrics,
    epoch_line,
    remove_temporary_files,
    rewrite_metrics,
    summarize_run,
    write_atomically,
    write_final,
)
from fastmm.nn.ternary import has_unused_parameters
from fastmm.paths import same_file

# ----------------------------------------------------------------------------- model


def build_network(
    name: str,
    num_classes: int,
    in_channels: int,
    r_ratio: float = 0.0,
    tile: int = 1,
    groups: int = 1,
    width: float | None = None,
    quant: str | None = None,
) -> nn.Module:
    """The named ResNet: converted to SPN layers when r_ratio > 0, with ternary-weight
    convs when `quant` is "twn" or "ttq", dense otherwise."""
    from fastmm.nn.models import build_model

    kw = {"width": width} if width else {}
    try:
        model = build_model(name, num_classes=num_classes, in_channels=in_channels, quant=quant, **kw)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"cannot build model {name!r}: {exc}") from None
    if r_ratio > 0:
        from fastmm.nn.convert import strassenify

        try:
            model = strassenify(model, r_ratio, tile=tile, groups=groups)
        except (ValueError, TypeError) as exc:
            raise InputError(f"cannot convert {name!r} to SPN layers: {exc}") from None
        if groups > 1 and not grouped_convs(model, groups)[0]:
            raise InputError(f"groups {groups} divides the input channels of no conv of {name} "
                             f"(width {width or 1:g}): every layer would use g = 1")
    return model


def grouped_convs(model: nn.Module, groups: int) -> tuple[int, int]:
    """(SPN convs whose Wb has `groups` groups, all SPN convs) of a strassenified model."""
    from fastmm.nn.layers import SPNConv2d

    convs = [m for m in model.modules() if isinstance(m, SPNConv2d)]
    return sum(m.groups == groups for m in convs), len(convs)


def set_stage_mode(model: nn.Module, stage: str) -> None:
    """Put every SPN layer and ternary conv of `model` in the mode of `stage` (no-op if dense)."""
    from fastmm.nn.layers import set_mode

    set_mode(model, STAGE_MODE[stage])


# beside the weights; the stage fields say which stage's mode the model is rebuilt in
MODEL_FIELDS = ("args", "stage_name", "stage", "epoch", "global_epoch", "num_classes", "in_channels")
RESUME_FIELDS = ("args", "model", "stage", "epoch", "global_epoch", "rng")


def model_from_checkpoint(state: dict[str, Any], path: str | Path = "checkpoint") -> nn.Module:
    """Rebuild the network a checkpoint was trained as, with its weights and final mode.

    Checked as `fastmm count` checks it (the same weights lookup, settings bounds and fit):
    whatever does not fit is one InputError line naming `path`."""
    weights = state_dict_of(state, path)
    require(state, MODEL_FIELDS, path, "rebuild its model")
    args = checkpoint_args(state, path)
    cfg = TrainConfig.from_dict(args)
    try:
        stages = parse_stages(cfg.stages)
        epochs = check_epochs(parse_per_stage(cfg.epochs, len(stages), int, "epochs"))
    except InputError as exc:
        raise InputError(f"checkpoint {path} has unusable args: {exc}") from None
    check_run_point(state, path, stages, epochs)  # as resume checks it: the mode is the stage's
    with torch.device("meta"):  # shapes only: nothing is allocated before the weights fit
        model = build_network(cfg.model, args["num_classes"], args["in_channels"], cfg.r_ratio,
                              cfg.tile, cfg.groups, cfg.width, cfg.quant)
    fit_state_dict(model, weights, path, network_name(cfg.model, cfg.dataset, cfg.quant, cfg.r_ratio,
                                                       cfg.tile, cfg.groups))
    set_stage_mode(model, state["stage_name"])
    return model


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
        yield from _from_workers(loader)


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

        yield from _from_workers(DataLoader(
            Subset(ds, indices.tolist()), batch_size=batch_size, num_workers=workers
        ))


def _from_workers(loader):
    """The loader's batches, an InputError raised in a worker process as its own one line: torch
    re-raises it with the worker's whole traceback as its message."""
    try:
        yield from loader
    except InputError as exc:
        text = str(exc)
        if not text.startswith("Caught ") or "Traceback" not in text:
            raise
        last = text.rstrip().splitlines()[-1]  # "fastmm.errors.InputError: <the message>"
        _, found, message = last.partition(f"{type(exc).__name__}: ")
        raise type(exc)(message if found else last) from None


@torch.no_grad()
def evaluate(
    model: nn.Module, ds, batch_size: int = 500, d: Dist | None = None, workers: int = 0
) -> dict[str, float]:
    """Test loss and accuracy (top-1, and top-5 when there are more than 5 classes)."""
    d = d or Dist()
    model.eval()
    loss = correct = correct5 = count = 0.0
    top5 = False
    for x, y in eval_batches(ds, batch_size, d, workers):
        x, y = x.to(d.device), y.to(d.device)
        out = model(x)
        loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        top5 = out.shape[1] > 5
        if top5:
            correct5 += (out.topk(5, 1).indices == y[:, None]).any(1).sum().item()
        count += len(y)
    loss, correct, correct5, count = d.sum([loss, correct, correct5, count])
    result = {"loss": loss / max(count, 1), "acc": correct / max(count, 1), "count": int(count)}
    if top5:  # reported when it was measured, 0 included
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


# ----------------------------------------------------------------------------- training


def _load_teacher(path: str, d: Dist, num_classes: int, in_channels: int,
                  image_shape: list[int]) -> nn.Module:
    """The KD teacher of a checkpoint, refused unless it sees the images this run trains on
    (as many input channels, and the same size where its checkpoint records one) and scores as
    many classes. A ResNet takes images of any size, so a teacher of another size would run and
    teach badly."""
    state = load_checkpoint(path)
    teacher = model_from_checkpoint(state, path)
    _refuse_compressed_teacher(state, path)
    t_channels, t_classes = state["in_channels"], state["num_classes"]
    if (t_channels, t_classes) != (in_channels, num_classes):
        raise InputError(f"--kd-teacher {path} takes {t_channels}-channel images and has {t_classes} "
                         f"classes; this run's data has {in_channels}-channel images and {num_classes} "
                         "classes: train the teacher on the same dataset")
    t_shape = state.get("image_shape")
    if t_shape is not None and list(t_shape) != list(image_shape):
        shown = [_shown_size(x) for x in (t_shape, image_shape)]
        raise InputError(f"--kd-teacher {path} was trained on {shown[0]} images (channels × height × "
                         f"width); this run's are {shown[1]}: train the teacher on images of this size")
    teacher = teacher.to(d.device)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _refuse_compressed_teacher(state: dict[str, Any], path: str) -> None:
    """StrassenNets distils from the uncompressed full-precision model: a teacher with SPN layers,
    or with ternary weights (a TWN / TTQ run past its stage 'full'), is refused."""
    cfg = TrainConfig.from_dict(checkpoint_args(state, path))
    stage = state["stage_name"]
    if cfg.r_ratio > 0 or (cfg.quant and stage != "full"):
        name = network_name(cfg.model, cfg.dataset, cfg.quant, cfg.r_ratio, cfg.tile, cfg.groups)
        raise InputError(f"--kd-teacher {path} is {name} at stage {stage!r}, not a full-precision dense "
                         "model: the teacher is the uncompressed network (train it with --stages full, "
                         "without --r-ratio or --quant)")


def _resolve_config(cfg: TrainConfig, resume: bool,
                    given: Collection[str] | None = None) -> tuple[TrainConfig, dict | None]:
    """The config to run and the checkpoint to continue from (None: a fresh run).

    `given` names the settings typed now (the command line knows them); without it a setting
    counts as given where it differs from TrainConfig's default."""
    ckpt_path = Path(cfg.out) / CHECKPOINT
    if resume:
        _refuse_odd_run_files(Path(cfg.out), (CHECKPOINT,), links=False)
        if not ckpt_path.is_file():
            raise InputError(f"--resume: no run to resume in {cfg.out} (it holds no {CHECKPOINT}); "
                             "drop --resume to start one there")
        state = load_checkpoint(ckpt_path)
        require(state, RESUME_FIELDS, ckpt_path, "resume from it")
        saved = config_from_checkpoint(state, ckpt_path)
        # The run's own settings win; only where/how it runs may change on resume. A setting
        # given now that differs from the saved run is refused, not ignored.
        # where the data and the teacher live may change too (a project folder moved, another
        # machine's mount): typed again, the new place is used
        movable = tuple(PLACE_CHECKS)
        given = _given(cfg, given)
        # a teacher for a run trained without one, or another teacher while its own is still
        # where it was, is a clash, not a move
        if saved.kd_teacher is None or (cfg.kd_teacher is not None and isinstance(saved.kd_teacher, str)
                                        and Path(saved.kd_teacher).is_file()
                                        and not same_file(cfg.kd_teacher, saved.kd_teacher)):
            movable = tuple(n for n in movable if n != "kd_teacher")
        now = {n: getattr(cfg, n) for n in movable if n in ("out", "stop_after") or n in given}
        validate(dataclasses.replace(TrainConfig(stages=["full"]), **now))  # checked as typed, not as saved
        _check_places(saved, now, ckpt_path)
        saved = _checked_saved(dataclasses.replace(saved, **now), state, ckpt_path)
        check_dataset_options(saved.dataset, given)
        _refuse_odd_run_files(Path(cfg.out), (METRICS, FINAL), links=True)
        typed = [f.name for f in dataclasses.fields(TrainConfig) if f.name in given and f.name not in movable]
        clash = _clashes(saved, {n: getattr(cfg, n) for n in typed})
        if clash:
            told = ", ".join(f"{n}={v!r} (saved run: {getattr(saved, n)!r})" for n, v in clash.items())
            raise InputError(f"--resume continues {cfg.out} with its own settings; these differ: "
                             f"{told}; drop them or train into another --out")
        return saved, state
    cfg = validate(cfg)  # what is wrong with the settings comes before an existing run
    check_dataset_options(cfg.dataset, _given(cfg, given))
    _refuse_odd_run_files(Path(cfg.out), (CHECKPOINT,), links=False)
    if ckpt_path.is_file():
        raise InputError(
            f"{cfg.out} already holds a run; pass --resume to continue it or another --out"
        )
    # The files a run writes, there without its checkpoint: another run's results or the user's
    # own files, never written over (an empty metrics.jsonl is all a run killed in its first
    # epoch leaves, and holds nothing). Other files (a launcher's command.txt, logs) may be there.
    out = Path(cfg.out)
    metrics = out / METRICS
    taken = [p.name for p in (out / FINAL, metrics) if p.exists() or p.is_symlink()]
    if taken == [METRICS] and metrics.is_file() and not metrics.is_symlink() and metrics.stat().st_size == 0:
        taken = []
    if taken:
        raise InputError(f"--out {cfg.out} holds {' and '.join(taken)} but no {CHECKPOINT}: no run to "
                         "resume, and training would overwrite them; choose another --out")
    return cfg, None


def _given(cfg: TrainConfig, given: Collection[str] | None) -> Collection[str]:
    """The settings typed now: `given`, or without it those that differ from TrainConfig's defaults."""
    if given is not None:
        return given
    default = TrainConfig()
    return [f.name for f in dataclasses.fields(TrainConfig)
            if getattr(cfg, f.name) != getattr(default, f.name)]


def _check_places(saved: TrainConfig, now: dict[str, Any], path: Path) -> None:
    """The saved values that the settings `now` replace must still be of their kind: replaced, a
    tampered one would pass unseen (and a checkpoint that lies there may lie elsewhere)."""
    for name in now:
        try:
            PLACE_CHECKS[name](getattr(saved, name), flag(name))
        except InputError as exc:
            raise InputError(f"checkpoint {path} has unusable args: {exc}") from None


def _refuse_odd_run_files(out: Path, names: tuple[str, ...], links: bool) -> None:
    """The run files `names` in `out`, where they exist, must be regular files, and with `links`
    not symbolic links either: a run replaces its files whole and never writes through a link to
    a file elsewhere. Checked before anything is trained, so a run is not lost at its first save."""
    for name in names:
        path = out / name
        if links and path.is_symlink():
            raise InputError(f"--out {out}: {name} is a symbolic link, and a run writes its own files, "
                             "not through links: remove it or choose another --out")
        if path.exists() and not path.is_file():
            what = "a directory" if path.is_dir() else "not a regular file"
            raise InputError(f"--out {out}: {name} is {what}, where the run keeps its "
                             f"{'checkpoint' if name == CHECKPOINT else 'results'}: remove it or choose "
                             "another --out")


def _check_resumed_data(state: dict[str, Any], out: Path, cfg: TrainConfig, num_classes: int,
                        in_channels: int) -> None:
    """A resumed run's checkpoint must record the classes and input channels of its data: a run
    may move its data, not change it, and a checkpoint that says otherwise was not written by it."""
    saved = (state.get("num_classes", num_classes), state.get("in_channels", in_channels))
    if saved != (num_classes, in_channels):
        where = cfg.data_dir or data_mod.default_data_dir(cfg.dataset)
        raise InputError(f"--resume: {out / CHECKPOINT} records {saved[1]}-channel images of {saved[0]} "
                         f"classes; the {cfg.dataset} data in {where} has {in_channels}-channel images "
                         f"of {num_classes} classes: give the run's data with --data-dir")


def _image_shape(ds, cfg: TrainConfig) -> list[int]:
    """[channels, height, width] of a split's images (ImageNet: the crop size)."""
    if isinstance(ds, data_mod.TensorImageDataset):
        return [int(n) for n in ds.images.shape[1:]]
    return [ds.in_channels, cfg.image_size, cfg.image_size]


def _shown_size(shape) -> str:
    """An image shape as messages show it: "1 × 28 × 28" (channels × height × width)."""
    return " × ".join(map(str, shape))


def _clashes(saved: TrainConfig, typed: dict[str, Any]) -> dict[str, Any]:
    """The typed settings that differ from the (validated) saved run's, each normalised in the saved
    run's context on its own: a value that does not fit it there (--r-ratio 0 for a StrassenNet's
    stages) differs; a value out of every bound is its own error."""
    checks = {**MODEL_CHECKS, **RUN_CHECKS, "model": check_model}
    clash = {}
    for name, value in typed.items():
        if name in checks and value is not None:
            checks[name](value, flag(name))
        if name == "epochs":  # each value in its bounds, however many stages the saved run has
            check_epochs(parse_per_stage(value, None, int, "epochs"))
        try:
            value = getattr(validate(dataclasses.replace(saved, **{name: value})), name)
        except InputError:
            pass
        if not _same_setting(_acting(name, value), _acting(name, getattr(saved, name))):
            clash[name] = value
    return clash


def _acting(name: str, value: Any) -> Any:
    """A setting as it acts: a width of None is the model's own width, 1."""
    return 1.0 if name == "width" and value is None else value


def _same_setting(a: Any, b: Any) -> bool:
    """Equal, floats (and lists of them, the per-stage lr) up to rounding: a run that stored
    0.1 * 0.1 = 0.010000000000000002 agrees with 0.01 typed again."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_setting, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def _checked_saved(saved: TrainConfig, state: dict[str, Any], path: Path) -> TrainConfig:
    """The saved run's settings validated like new ones, and its place in them (stage, epoch)."""
    try:
        saved = validate(saved)
    except InputError as exc:
        raise InputError(f"checkpoint {path} has unusable args: {exc}") from None
    check_run_point(state, path, saved.stages, saved.epochs)
    stage, epoch, name = state["stage"], state["epoch"], saved.stages[state["stage"]]
    if epoch < saved.epochs[stage]:  # the stage goes on with its own optimizer and schedule
        require(state, ("optimizer", "scheduler"), path, f"resume its stage {name!r} mid-way")
    for key, form in (("optimizer", _optimizer_form), ("scheduler", _scheduler_form)):
        why = form(state[key]) if key in state else None
        if why:
            raise InputError(f"checkpoint {path} has an unusable {key} state: {why}")
    return saved


def check_run_point(state: dict[str, Any], path: str | Path, stages: list[str], epochs: list[int]) -> None:
    """A checkpoint's place (stage, epoch, global_epoch, stage_name) must be a point of the run of
    `stages` and `epochs` (its args, normalised): resume goes on from it, and resume, evaluate and
    a KD teacher rebuild the model in that stage's mode (a tampered stage_name would evaluate a
    finished run's ternary layers in full precision)."""
    stage, epoch, total = state["stage"], state["epoch"], state["global_epoch"]
    inside = (all(type(n) is int for n in (stage, epoch, total))
              and 0 <= stage < len(stages) and 0 <= epoch <= epochs[stage])
    if not inside or total < 0:
        raise InputError(f"checkpoint {path} is at stage {stage!r:.30}, epoch {epoch!r:.30}: not a point "
                         "of its run")
    # the epochs before it, which seed the data order of the next: one more or less is another run
    before = sum(epochs[:stage]) + epoch
    if total != before:
        raise InputError(f"checkpoint {path} is at epoch {epoch} of stage {stage}, {before} epochs into "
                         f"its run, but counts {total}")
    name = state.get("stage_name", stages[stage])
    if name not in STAGES:
        raise InputError(f"checkpoint {path} has an unknown stage {name!r:.30}")
    if name != stages[stage]:
        raise InputError(f"checkpoint {path} is at stage {stage} of its run ({stages[stage]!r}) but "
                         f"names it {name!r}")


def _optimizer_form(opt: dict[str, Any]) -> str | None:
    """What keeps a saved optimizer state from being one of torch's (None: its form is one): torch
    loads it without asking, and fails deep inside on a field of another kind."""
    groups, per_param = opt.get("param_groups"), opt.get("state")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return "'param_groups' is not a list of settings"
    if not all(isinstance(g.get("params"), list) and all(type(i) is int for i in g["params"])
               for g in groups):
        return "a group's 'params' is not a list of parameter numbers"
    if not isinstance(per_param, dict) or not all(
            type(k) is int and isinstance(v, dict)  # torch 2.0 keeps a None buffer at momentum 0
            and all(isinstance(n, str) and isinstance(b, torch.Tensor | None) for n, b in v.items())
            for k, v in per_param.items()):
        return "'state' is not a dict of each parameter's buffers (tensors)"
    return None


# the fields of a LambdaLR's state and their types (lists: of their items); torch sets them as they are
_SCHEDULER_FIELDS: dict[str, type] = {"last_epoch": int, "_step_count": int, "_is_initial": bool,
                                      "_get_lr_called_within_step": bool}
_SCHEDULER_LISTS: dict[str, type] = {"base_lrs": float, "_last_lr": float, "lr_lambdas": type(None)}


def _scheduler_form(sched: dict[str, Any]) -> str | None:
    """What keeps a saved schedule from being a LambdaLR's (None: its form is one): a field of
    another type breaks the first step, or the run's learning rates, deep inside torch."""
    for key, kind in _SCHEDULER_FIELDS.items():
        if key in sched and type(sched[key]) is not kind:
            return f"{key} {sched[key]!r:.30} is not {'an' if kind is int else 'a'} {kind.__name__}"
    for key, kind in _SCHEDULER_LISTS.items():
        if key in sched and not (isinstance(sched[key], list) and all(type(v) is kind for v in sched[key])):
            return f"{key} {sched[key]!r:.30} is not a list of {'None' if kind is type(None) else 'floats'}"
    return None


def _restore(model: nn.Module, state: dict[str, Any], path: Path) -> None:
    """Put a resumed run's weights and random-number state back (one InputError if unusable)."""
    fit_state_dict(model, state_dict_of(state, path), path, "the model of its run", assign=False)
    try:
        set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError):
        raise InputError(f"checkpoint {path} has an unusable random-number state ('rng')") from None


def _restore_optimizer(opt, sched, state: dict[str, Any], path: Path, most_steps: int) -> None:
    """Put the stage's optimizer and schedule back; one InputError if they are not this model's
    or the schedule is past `most_steps` (a step per image of every epoch of the stage so far).

    torch checks only the number of parameters: a momentum buffer of another shape would load and
    break the first step, and a NaN one poison the run (one with no data, on the meta device, is
    refused by the loading itself)."""
    unusable = InputError(f"checkpoint {path} has an unusable optimizer or scheduler state")
    # the settings of a freshly built optimizer and schedule are the run's own
    fresh = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    base_lrs = list(sched.base_lrs)
    try:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError):
        raise unusable from None
    why = _optimizer_misfit(opt)
    if why:
        raise InputError(f"checkpoint {path} has an unusable optimizer state: {why}")
    why = _settings_misfit(opt, sched, fresh, base_lrs, most_steps)
    if why:
        raise InputError(f"checkpoint {path}: optimizer state does not match its run's settings: {why}")


_SETTINGS = ("initial_lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "betas", "eps")


def _settings_misfit(opt, sched, fresh: list[dict[str, Any]], base_lrs: list[float],
                     most_steps: int) -> str | None:
    """What in a loaded optimizer and schedule differs from the run's own settings (`fresh`, the
    param groups of the optimizer built for them, and `base_lrs`, its schedule's): a momentum,
    weight decay or learning rate that the epoch lines would not show (None: all of it agrees).
    The current lr is only bounded by the stage's: both schedules scale it by a factor in [0, 1],
    and the factor depends on the batches per epoch, which another number of processes changes."""

    def same(a: Any, b: Any) -> bool:  # of one type: a tensor or a True stands for no float
        return type(a) is type(b) and (a == b or (type(a) is float and math.isclose(a, b, rel_tol=1e-9)))

    if not (isinstance(sched.base_lrs, list) and len(sched.base_lrs) == len(base_lrs)
            and all(map(same, sched.base_lrs, base_lrs))):
        return f"base_lrs {sched.base_lrs!r:.60} (the run's: {base_lrs})"
    if type(sched.last_epoch) is not int or not 0 <= sched.last_epoch <= most_steps:
        return f"scheduler step {sched.last_epoch!r:.30} (the run's: at most {most_steps})"
    for group, own in zip(opt.param_groups, fresh, strict=True):
        lr, top = group.get("lr"), own["initial_lr"]
        if type(lr) is not float or not 0 <= lr <= top * (1 + 1e-9):
            return f"lr {lr!r:.30} (the run's: at most {top!r})"
        for key in _SETTINGS:  # not torch's own flags (fused, foreach...): a loaded state fills
            if key in own and not same(group.get(key), own[key]):  # those in by its version
                return f"{key} {group.get(key)!r:.30} (the run's: {own[key]!r})"
    return None


def _optimizer_misfit(opt) -> str | None:
    """What in the optimizer's state does not fit its parameters (None: all of it fits)."""
    for group in opt.param_groups:
        for p in group["params"]:
            for name, value in opt.state.get(p, {}).items():
                if not isinstance(value, torch.Tensor):
                    continue
                if value.shape != p.shape:
                    return (f"its {name} of shape {list(value.shape)} does not fit a parameter of "
                            f"shape {list(p.shape)}")
                if not bool(torch.isfinite(value).all()):  # torch has cast it to the parameter's dtype
                    return f"its {name} holds NaN or infinity"
    return None


@contextlib.contextmanager
def _memory_is_an_error() -> Iterator[None]:
    """torch's failed allocations (RuntimeError) as one line, exit 1: the model is too big here."""
    try:
        yield
    except RuntimeError as exc:
        if isinstance(exc, torch.cuda.OutOfMemoryError) or "can't allocate memory" in str(exc):
            raise FastmmError("out of memory: try a smaller --width, --r-ratio, --tile or "
                              "--batch-size") from None
        raise


def _train_epoch(net, opt, sched, teacher, train_ds, cfg, global_epoch, d, progress, desc):
    """One pass over this rank's batches; returns (Σ loss·n, correct, count) over all ranks."""
    net.train()
    loss_sum = correct = count = 0.0
    for x, y in train_batches(train_ds, cfg, global_epoch, d):
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        try:
            logits = net(x)
        except (SingleValueBatch, ValueError) as exc:
            if not isinstance(exc, SingleValueBatch) and "more than 1 value per channel" not in str(exc):
                raise
            raise InputError(f"a training batch of {len(y)} image(s) of {tuple(x.shape[1:])} leaves one "
                             "value per channel at a BatchNorm layer: BatchNorm needs two or more; use a "
                             "larger --batch-size (or larger images)") from None
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
            raise FastmmError(f"training diverged: the loss became {value} in {desc}; try a lower --lr")
        loss_sum += value * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
        progress.advance(value)
    return d.sum([loss_sum, correct, count])


def train(cfg: TrainConfig, resume: bool = False, given: Collection[str] | None = None) -> dict[str, Any]:
    """Run (or resume) the staged training described by `cfg`; return the final metrics.

    `given`: on resume, the names of the settings typed again (see `_resolve_config`)."""
    with _memory_is_an_error():
        return _train(cfg, resume, given)


def _made_dirs(path: Path) -> list[Path]:
    """Make `path` and its missing parents; the directories this call made, deepest first."""
    made = []
    for where in (*reversed(path.parents), path):
        if not where.is_dir():
            with contextlib.suppress(FileExistsError):  # made by another process: not ours
                where.mkdir()
                made.append(where)
    return made[::-1]


@contextlib.contextmanager
def _run_lock(out: Any) -> Iterator[None]:
    """Hold an exclusive lock on --out (flock on the directory: no file is made) while the run
    lives, so that a second `fastmm train` into it is refused: the check for an existing run sees
    last.pt only after the first epoch, and two runs would write over each other's files.

    Only rank 0 takes it: it is the one process of a torchrun that writes into --out (the others
    only read last.pt). The directory is made here; what this made is removed again if the run
    fails before writing into it. Where the file system has no locks, the run goes on unlocked;
    an --out that cannot be a directory is left to the run's own checks."""
    if launch_rank() != 0 or not isinstance(out, str) or not out.strip():
        yield
        return
    path, made, fd = Path(out), [], None
    with contextlib.suppress(InputError, OSError, ValueError):  # ValueError: a NUL in the path
        check_out_dir(out)
        made = _made_dirs(path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if fd is not None:
            got = try_lock(fd)  # None: a file system without locks, go on unlocked
            busy = got is False
            if got:
                try:  # another run that removed the directory it made between our open and our lock
                    held, now = os.fstat(fd), os.stat(path)
                    busy = (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino)
                except OSError as exc:
                    busy = exc.errno in (*BUSY, errno.ENOENT)
            if busy:
                made = []  # not ours to remove: another run has it
                raise InputError(f"another fastmm train is using {out}; wait for it to end or give "
                                 "another --out")
        yield
    except BaseException:
        for where in made:  # only the empty ones: a run that wrote nothing leaves nothing behind
            try:
                where.rmdir()
            except OSError:
                break
        raise
    finally:
        if fd is not None:
            os.close(fd)


def _train(cfg: TrainConfig, resume: bool, given: Collection[str] | None) -> dict[str, Any]:
    with _run_lock(cfg.out):
        return _locked_train(cfg, resume, given)


def _locked_train(cfg: TrainConfig, resume: bool, given: Collection[str] | None) -> dict[str, Any]:
    cfg, state = _resolve_config(cfg, resume, given)
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT
    cfg = validate(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    d = init_distributed(cfg.device)
    if cfg.batch_size % d.world:  # it is the global batch: each rank takes an equal share of it
        raise InputError(f"--batch-size {cfg.batch_size} does not split evenly over {d.world} processes: "
                         f"give a multiple of {d.world}")
    if cfg.device == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

    train_ds = data_mod.load_dataset(
        cfg.dataset, cfg.data_dir, True, cfg.train_subset, cfg.seed, cfg.image_size
    )
    test_ds = data_mod.load_dataset(
        cfg.dataset, cfg.data_dir, False, None, cfg.seed, cfg.image_size
    )
    if train_ds.classes != test_ds.classes:  # ImageNet: labels are folder indices, so the folders must agree
        only = min(set(train_ds.classes) ^ set(test_ds.classes))
        raise InputError(f"{cfg.dataset}: the training and test splits have different class folders "
                         f"({only!r} is in only one); their labels would not match")
    if len(train_ds) < d.world:  # DistributedSampler would give some rank no image: an empty epoch
        raise InputError(f"{cfg.dataset}: {len(train_ds)} training image(s) for {d.world} processes: "
                         "each process needs at least one")
    if cfg.train_subset and cfg.train_subset > len(train_ds) and d.main:
        print(f"note: --train-subset {cfg.train_subset:,}: {cfg.dataset} has {len(train_ds):,} training "
              f"images; training on all of them", file=sys.stderr, flush=True)
    num_classes = max(train_ds.num_classes, test_ds.num_classes)
    in_channels = train_ds.in_channels
    image_shape = _image_shape(train_ds, cfg)
    if image_shape != _image_shape(test_ds, cfg):
        shown = [_shown_size(_image_shape(ds, cfg)) for ds in (train_ds, test_ds)]
        raise InputError(f"{cfg.dataset}: the training images are {shown[0]} (channels × height × width) "
                         f"but the test images are {shown[1]}; both splits must have one size")
    if state is not None:
        _check_resumed_data(state, out, cfg, num_classes, in_channels)
    saved_shape = state.get("image_shape", image_shape) if state is not None else image_shape
    if not isinstance(saved_shape, list | tuple) or list(saved_shape) != image_shape:
        # the data may move, not change: a ResNet runs on images of any size, and would go on
        # training the run's model on images it was not trained on
        shown = [_shown_size(x) if isinstance(x, list | tuple) else f"{x!r:.30}"
                 for x in (saved_shape, image_shape)]
        where = cfg.data_dir or data_mod.default_data_dir(cfg.dataset)
        raise InputError(f"--resume: {out} was trained on {shown[0]} images (channels × height × width); "
                         f"the images in {where} are {shown[1]}: give the run's data with --data-dir")

    torch.manual_seed(data_mod.derive_seed(cfg.seed, 0x40DE1))
    model = build_network(
        cfg.model, num_classes, in_channels, cfg.r_ratio, cfg.tile, cfg.groups, cfg.width, cfg.quant
    ).to(d.device)
    teacher = (_load_teacher(cfg.kd_teacher, d, num_classes, in_channels, image_shape)
               if cfg.kd_teacher else None)

    stage_index, epoch_in_stage, global_epoch = 0, 0, 0
    if d.main:  # what an earlier run that a signal or a kill stopped mid-write left
        remove_temporary_files(out)
    if state is not None:
        _restore(model, state, ckpt_path)
        stage_index, epoch_in_stage = state["stage"], state["epoch"]
        global_epoch = state["global_epoch"]
        if d.main:
            dropped = rewrite_metrics(out / METRICS, global_epoch, state.get("metrics"))
            if dropped:
                print(f"warning: {out / METRICS}: dropped {dropped} line(s) that are not epoch records "
                      f"(the checkpoint is the record of the run)", file=sys.stderr, flush=True)
    elif d.main:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(out / METRICS, b"")
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
                # whatever the number of processes, an epoch is at most a step per image
                _restore_optimizer(opt, sched, state, ckpt_path, state["epoch"] * max(1, len(train_ds)))
            state = None
            net = d.wrap(model, find_unused=has_unused_parameters(model))
            while epoch_in_stage < cfg.epochs[stage_index]:
                if cfg.stop_after is not None and global_epoch >= cfg.stop_after:
                    stopped = True
                    break
                started = time.time()
                lr = opt.param_groups[0]["lr"]
                desc = f"{stage} {epoch_in_stage + 1}/{cfg.epochs[stage_index]}"
                progress.start(desc, steps)
                loss_sum, correct, count = _train_epoch(
                    net, opt, sched, teacher, train_ds, cfg, global_epoch, d, progress, desc
                )
                epoch_in_stage += 1
                global_epoch += 1
                stage_end = epoch_in_stage == cfg.epochs[stage_index]
                if stage_end or (cfg.eval_every and epoch_in_stage % cfg.eval_every == 0):
                    d.share_buffers(model)  # rank 0's BatchNorm statistics: the ones its checkpoint saves
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
                            "image_shape": image_shape,
                        },
                    )
                    append_metrics(out, last_metrics)
                    progress.line(epoch_line(desc, last_metrics))
                d.barrier()
            if stopped:
                break
    except BaseException:  # Ctrl-C, SIGTERM, SIGHUP (raised as KeyboardInterrupt) or a failure:
        if d.main:  # the last checkpoint stands, and no half-written file stays behind
            remove_temporary_files(out)
        raise
    finally:
        progress.close()
    result = {"stopped": stopped, "global_epoch": global_epoch, **(last_metrics or {})}
    if not stopped and d.main:
        write_final(out, {"args": cfg.to_dict(), **result})
    d.barrier()
    d.close()
    return result


def evaluate_checkpoint(
    path: str | Path, data_dir: str | None = None, device: str = "cpu", batch_size: int = 500
) -> dict[str, Any]:
    """Accuracy of a checkpoint's model on its dataset's test split."""
    batch_size = check_batch_size(batch_size)
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    state = load_checkpoint(path)
    model = model_from_checkpoint(state, path)
    cfg = config_from_checkpoint(state, path)
    test_ds = data_mod.load_dataset(
        cfg.dataset, data_dir or cfg.data_dir, False, None, cfg.seed, cfg.image_size
    )
    shape = state.get("image_shape")
    if shape is not None and _image_shape(test_ds, cfg) != shape:
        got = _shown_size(_image_shape(test_ds, cfg))
        raise InputError(f"the model in {path} was trained on {_shown_size(shape)} images "
                         f"(channels × height × width); the {cfg.dataset} test images are {got}")
    classes = state["num_classes"]
    top = int(test_ds.labels.max()) if len(test_ds.labels) else -1
    if top >= classes:
        raise InputError(f"the {cfg.dataset} test data has label {top}, but the model in {path} has "
                         f"{classes} classes")
    with _memory_is_an_error():
        result = evaluate(model.to(device), test_ds, batch_size, Dist(0, 1, torch.device(device)))
    return {
        "dataset": cfg.dataset,
        "model": cfg.model,
        "r_ratio": cfg.r_ratio,
        "quant": cfg.quant,
        "stage": state["stage_name"],
        **result,
    }
