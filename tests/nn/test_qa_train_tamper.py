"""QA on `fastmm train`: a tampered checkpoint on --resume (classes, stage name, --out, optimizer and
schedule), the bound on epochs, --image-size and --workers for a dataset they do not act on, and a
compressed KD teacher. Each refusal is one `error:` line, exit 2, with the run's files as they were."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fastmm.errors import InputError
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint, rng_state, save_checkpoint
from fastmm.nn.config import MAX_EPOCHS
from tests.hostile.contract import run_cli, snapshot
from tests.nn import test_cli_bad_input
from tests.nn.test_cli_bad_input import TINY, refused, stopped_after_one_epoch

fmnist = test_cli_bad_input.fmnist  # the fixture: a tiny Fashion-MNIST folder, once per module
SPN = [*TINY, "--r-ratio", "1", "--stages", "full,ternary", "--epochs", "2"]


@pytest.fixture(scope="module")
def stopped_run(fmnist, tmp_path_factory) -> Path:
    """An SPN run stopped after epoch 1 of 2 of its stage 'full': a checkpoint with optimizer state."""
    return stopped_after_one_epoch(fmnist, tmp_path_factory, SPN)


def tampered_run(run: Path, tmp_path: Path, tamper: Callable[[dict], None]) -> Path:
    """A copy of `run` whose checkpoint `tamper` changed (written as `fastmm train` writes one)."""
    copied = Path(shutil.copytree(run, tmp_path / "run"))
    state = load_checkpoint(copied / T.CHECKPOINT)
    tamper(state)
    save_checkpoint(copied / T.CHECKPOINT, {k: v for k, v in state.items() if k not in ("format", "version")})
    return copied


def _group(s: dict) -> dict:
    return s["optimizer"]["param_groups"][0]


def _at_stage_end(s: dict) -> None:  # the stage 'full' done: its optimizer is not loaded again
    s.update(epoch=2, global_epoch=2)
    s["optimizer"]["state"] = 5


TAMPERED = [
    (lambda s: s.update(num_classes=1_000_000), "records 1-channel images of 1000000 classes; the "
     "fashion-mnist data in"),
    (lambda s: s.update(num_classes=2), "records 1-channel images of 2 classes"),
    (lambda s: s.update(in_channels=3), "records 3-channel images of 10 classes"),
    (lambda s: s.update(stage_name="bogus"), "has an unknown stage 'bogus'"),
    (lambda s: s.update(stage_name="ternary"), "is at stage 0 of its run ('full') but names it 'ternary'"),
    (lambda s: s.update(global_epoch=7), "is at epoch 1 of stage 0, 1 epochs into its run, but counts 7"),
    (lambda s: s["args"].update(out=5), "has unusable args: --out must be text, got 5"),
    (lambda s: s["args"].update(epochs=[10**12, 2]), "has unusable args: --epochs must be at most 100000 per "
     "stage, got 1000000000000"),
    (lambda s: s.pop("optimizer"), "lacks 'optimizer': cannot resume its stage 'full' mid-way"),
    (lambda s: s["optimizer"].update(state="x"), "unusable optimizer state: 'state' is not a dict of each "
     "parameter's buffers"),
    (lambda s: s["optimizer"]["state"][0].update(momentum_buffer="x"), "unusable optimizer state: 'state' is "
     "not a dict"),
    (lambda s: _group(s).update(params="x"), "unusable optimizer state: a group's 'params' is not a list"),
    (lambda s: s["optimizer"].update(param_groups={}),
     "unusable optimizer state: 'param_groups' is not a list"),
    (_at_stage_end, "unusable optimizer state: 'state' is not a dict"),
    (lambda s: s["scheduler"].update(_step_count="x"),
     "unusable scheduler state: _step_count 'x' is not an int"),
    (lambda s: s["scheduler"].update(_last_lr="x"), "unusable scheduler state: _last_lr 'x' is not a list"),
    (lambda s: s["scheduler"].update(last_epoch=10**6, _step_count=10**6 + 1),
     "scheduler step 1000000 (the run's: at most 32)"),
]


@pytest.mark.parametrize("tamper, message", TAMPERED)
def test_resume_refuses_a_tampered_checkpoint_and_leaves_the_run_as_it_was(stopped_run, tmp_path, tamper,
                                                                           message):
    run = tampered_run(stopped_run, tmp_path, tamper)
    before = snapshot(run)
    refused(run_cli("train", "--resume", "--out", run), message)
    assert snapshot(run) == before


def test_resume_of_an_untampered_copy_goes_on(stopped_run, tmp_path):
    run = tampered_run(stopped_run, tmp_path, lambda s: None)
    r = run_cli("train", "--resume", "--out", run, "--stop-after", "2")
    assert r.rc == 0, r.err
    assert load_checkpoint(run / T.CHECKPOINT)["global_epoch"] == 2


# ----------------------------------------------------------------------------- epochs


@pytest.mark.parametrize("epochs", [str(MAX_EPOCHS + 1), str(10**12), f"1,{10**12}"])
def test_epochs_beyond_the_bound_are_refused(fmnist, tmp_path, epochs):
    out = tmp_path / "run"
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--r-ratio", "1", "--stages", "full,ternary",
                "--epochs", epochs, "--out", out)
    refused(r, f"--epochs must be at most 100000 per stage, got {max(int(e) for e in epochs.split(','))}")
    assert not out.exists()


def test_epochs_at_the_bound_are_taken():
    assert T.validate(T.TrainConfig(stages=["full"], epochs=MAX_EPOCHS)).epochs == [MAX_EPOCHS]


def test_resume_refuses_epochs_beyond_the_bound_as_such(stopped_run, tmp_path):
    run = tampered_run(stopped_run, tmp_path, lambda s: None)
    before = snapshot(run)
    refused(run_cli("train", "--resume", "--out", run, "--epochs", str(10**12)),
            "--epochs must be at most 100000 per stage, got 1000000000000")
    assert snapshot(run) == before


# ----------------------------------------------------------------------------- ImageNet-only options


@pytest.mark.parametrize("options, message", [
    (["--image-size", "224"], "--image-size: ImageNet only"),  # the default, typed: still refused
    (["--workers", "0"], "--workers: ImageNet only"),
    (["--workers", "2", "--image-size", "32"], "--image-size and --workers: ImageNet only"),
])
def test_imagenet_only_options_typed_for_fashion_mnist_are_refused(fmnist, tmp_path, options, message):
    out = tmp_path / "run"
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--stages", "full", *options, "--out", out)
    refused(r, message)
    assert not out.exists()


def test_imagenet_only_options_are_refused_on_resume_and_in_the_api(stopped_run, fmnist, tmp_path):
    run = tampered_run(stopped_run, tmp_path, lambda s: None)
    before = snapshot(run)
    refused(run_cli("train", "--resume", "--out", run, "--workers", "2"), "--workers: ImageNet only")
    assert snapshot(run) == before
    cfg = T.TrainConfig(data_dir=str(fmnist), stages=["full"], image_size=32, out=str(tmp_path / "api"))
    with pytest.raises(InputError, match="--image-size: ImageNet only"):
        T.train(cfg)


# ----------------------------------------------------------------------------- KD teacher


def teacher_state(r_ratio: float = 0.0, quant: str | None = None, stage: str = "full") -> dict:
    """What `fastmm train` writes for a tiny Fashion-MNIST run (built, not trained)."""
    stages = "full" if r_ratio == 0 and quant is None else "full,ternary"
    cfg = T.validate(T.TrainConfig(model="resnet8", width=0.25, r_ratio=r_ratio, quant=quant, stages=stages,
                                   out="unused-out"))
    torch.manual_seed(0)
    model = T.build_network("resnet8", 10, 1, r_ratio, width=0.25, quant=quant)
    return {"args": cfg.to_dict(), "model": model.state_dict(), "stage": cfg.stages.index(stage),
            "stage_name": stage, "epoch": 1, "global_epoch": cfg.stages.index(stage) + 1,  # one of its run
            "rng": rng_state(), "metrics": None,
            "num_classes": 10, "in_channels": 1, "image_shape": [1, 28, 28]}


@pytest.mark.parametrize("teacher, message", [
    (dict(r_ratio=1.0), "is resnet8 (r-ratio 1, tile 1, groups 1, fashion-mnist) at stage 'full', not a "
     "full-precision dense model"),
    (dict(quant="twn", stage="ternary"), "is resnet8 (TWN, fashion-mnist) at stage 'ternary', not a "
     "full-precision dense model"),
])
def test_a_compressed_kd_teacher_is_refused(fmnist, tmp_path, teacher, message):
    path = tmp_path / "t" / T.CHECKPOINT
    path.parent.mkdir()
    save_checkpoint(path, teacher_state(**teacher))
    out = tmp_path / "run"
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--r-ratio", "1", "--stages", "full",
                "--kd-teacher", path, "--out", out)
    refused(r, f"--kd-teacher {path} {message}")
    assert not out.exists()


def test_a_ternary_weight_run_still_at_its_stage_full_teaches(fmnist, tmp_path):
    # its convs are full precision until the stage 'ternary': the uncompressed network
    path = tmp_path / "t" / T.CHECKPOINT
    path.parent.mkdir()
    save_checkpoint(path, teacher_state(quant="twn"))
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--r-ratio", "1", "--stages", "full",
                "--kd-teacher", path, "--out", tmp_path / "run")
    assert r.rc == 0, r.err
