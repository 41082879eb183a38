"""QA round 80 on the DNN backend: a resumed run on images of another size, tampered settings,
optimizer and scheduler states of a checkpoint, the modes (train / eval) that strassenify and
count_model leave, non-persistent buffers in count_model, and --width 1 for a run at the model's
own width."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint, save_checkpoint
from fastmm.nn.convert import strassenify
from fastmm.nn.count import count_model
from fastmm.nn.models import build_model
from fastmm.nn.ternary import ternarize
from tests.hostile.contract import run_cli
from tests.nn import test_cli_bad_input
from tests.nn.test_cli_bad_input import TINY, refused, stopped_after_one_epoch, write_state
from tests.nn.test_data import write_idx_dataset

fmnist = test_cli_bad_input.fmnist  # the fixture: a tiny Fashion-MNIST folder, once per module
good_state = test_cli_bad_input.good_state  # the fixture: what `fastmm train` writes
SPN = [*TINY, "--r-ratio", "1", "--stages", "full", "--epochs", "2"]


@pytest.fixture(scope="module")
def stopped_run(fmnist, tmp_path_factory) -> Path:
    """An SPN run of two epochs stopped after the first: a checkpoint with optimizer state."""
    return stopped_after_one_epoch(fmnist, tmp_path_factory, SPN)


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


# ----------------------------------------------------------------------------- resume: image size


def test_resume_refuses_data_of_another_image_size(stopped_run, tmp_path):
    run = copy_run(stopped_run, tmp_path)
    before = (run / T.CHECKPOINT).read_bytes()
    write_idx_dataset(tmp_path / "fm20", n_train=32, n_test=20, size=20)
    r = run_cli("train", "--resume", "--out", run, "--data-dir", tmp_path / "fm20")
    refused(r, "was trained on 1 × 28 × 28 images (channels × height × width); the images in")
    assert "are 1 × 20 × 20" in r.err
    assert (run / T.CHECKPOINT).read_bytes() == before  # image_shape not rewritten
    assert load_checkpoint(run / T.CHECKPOINT)["image_shape"] == [1, 28, 28]
    # the data may move: a folder of images of the run's size is taken, and the run goes on
    write_idx_dataset(tmp_path / "moved", n_train=32, n_test=20)
    r = run_cli("train", "--resume", "--out", run, "--data-dir", tmp_path / "moved")
    assert r.rc == 0, r.err
    assert load_checkpoint(run / T.CHECKPOINT)["global_epoch"] == 2


# ----------------------------------------------------------------------------- tampered settings


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("epochs", [None], "--epochs must be a whole number or a comma list of whole numbers; got [None]"),
        ("epochs", [3.7], "--epochs must be a whole number or a comma list of whole numbers; got [3.7]"),
        ("lr", [None], "--lr must be a number or a comma list of numbers; got [None]"),
        ("stages", 5, "--stages must be a comma list of full, ternary, finetune; got 5"),
        ("stages", None, "--stages must be a comma list of full, ternary, finetune; got None"),
        ("kd_teacher", 5, "--kd-teacher must be text, got 5"),
    ],
)
def test_resume_refuses_tampered_args_in_one_line(good_state, tmp_path, key, value, message):
    path = write_state(tmp_path / "run" / T.CHECKPOINT, {**good_state,
                                                           "args": {**good_state["args"], key: value}})
    r = run_cli("train", "--resume", "--out", path.parent)
    refused(r, f"checkpoint {path} has unusable args: {message}")


@pytest.mark.parametrize("settings", [dict(epochs=[None]), dict(lr=[None]), dict(stages=5),
                                      dict(stages=None), dict(epochs=[3.7]), dict(kd_teacher=5),
                                      # an array raised numpy's "truth value ... ambiguous" ValueError
                                      dict(device=np.array(["cpu", "cuda"]))])
def test_validate_refuses_settings_of_the_wrong_type(settings):
    with pytest.raises(InputError):
        T.validate(T.TrainConfig(**{"stages": ["full"], **settings}))


def test_epochs_must_be_whole_numbers():
    with pytest.raises(InputError, match=r"--epochs must be a whole number .*; got \[3\.7\]"):
        T.validate(T.TrainConfig(stages=["full"], epochs=[3.7]))
    assert T.validate(T.TrainConfig(stages=["full"], epochs=[3.0])).epochs == [3]


# ----------------------------------------------------------------------------- train / eval modes


def test_strassenify_keeps_the_mode_of_each_replaced_module():
    torch.manual_seed(0)
    model = build_model("resnet8", width=0.25).eval()
    strassenify(model, 1.0)
    assert not any(m.training for m in model.modules())
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():  # inference does not depend on the batch
        torch.testing.assert_close(model(x)[:2], model(x[:2]))
    # a model in training with one conv in eval: that conv's replacement alone is in eval
    model = build_model("resnet8", width=0.25).train()
    model.conv1.eval()
    strassenify(model, 1.0, convert_classifier=True)
    assert not any(m.training for m in model.conv1.modules())
    assert all(m.training for name, m in model.named_modules() if not name.startswith("conv1"))
    assert not strassenify(nn.Conv2d(2, 4, 3).eval(), 1.0).bn.training


def test_ternarize_keeps_the_mode_of_each_replaced_conv():
    model = ternarize(build_model("resnet8", width=0.25).eval(), "ttq")
    assert not any(m.training for m in model.modules())


def test_count_model_leaves_each_module_in_its_own_mode():
    model = strassenify(build_model("resnet8", width=0.25), 1.0).train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()  # frozen BatchNorm, as in fine-tuning
    modes = {name: m.training for name, m in model.named_modules()}
    count_model(model, (3, 16, 16))
    assert {name: m.training for name, m in model.named_modules()} == modes


class Scaled(nn.Module):
    """A conv whose output is scaled by a buffer that a state_dict does not hold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.register_buffer("scale", torch.full((1,), 2.0), persistent=False)

    def forward(self, x):
        return self.conv(x) * self.scale


def test_count_model_counts_a_model_with_a_non_persistent_buffer():
    count = count_model(Scaled(), (1, 5, 5))
    assert [layer.name for layer in count.layers] == ["conv"]
    assert count.full_params == 2 * 9 + 2


# ----------------------------------------------------------------------------- resume: width


def test_resume_with_width_1_continues_a_run_at_the_models_own_width(fmnist, tmp_path):
    dense = ["--model", "resnet8", "--batch-size", "16", "--threads", "1", "--stages", "full",
             "--epochs", "2", "--out", tmp_path / "run"]
    r = run_cli("train", "--data-dir", fmnist, *dense, "--stop-after", "1")
    assert r.rc == 0, r.err
    r = run_cli("train", "--resume", "--out", tmp_path / "run", "--width", "1")
    assert r.rc == 0, r.err
    assert load_checkpoint(tmp_path / "run" / T.CHECKPOINT)["global_epoch"] == 2
    refused(run_cli("train", "--resume", "--out", tmp_path / "run", "--width", "0.5"),
            "these differ: width=0.5 (saved run: None)")


# ----------------------------------------------------------------------------- resume: optimizer


def _tamper_momentum(s):
    s["optimizer"]["param_groups"][0]["momentum"] = -5.0


def _tamper_maximize(s):
    s["optimizer"]["param_groups"][0]["maximize"] = True


def _tamper_lr(s):
    s["optimizer"]["param_groups"][0]["lr"] = 1e6


def _tamper_base_lrs(s):
    s["scheduler"]["base_lrs"] = [1e6]


@pytest.mark.parametrize("tamper, why", [
    (_tamper_momentum, "momentum -5.0 (the run's: 0.9)"),
    (_tamper_maximize, "maximize True (the run's: False)"),
    (_tamper_lr, "lr 1000000.0 (the run's: at most 0.1)"),
    (_tamper_base_lrs, "base_lrs [1000000.0] (the run's: [0.1])"),
])
def test_resume_refuses_an_optimizer_state_that_does_not_match_its_run(stopped_run, tmp_path, tamper, why):
    run = copy_run(stopped_run, tmp_path)
    state = load_checkpoint(run / T.CHECKPOINT)
    tamper(state)
    save_checkpoint(run / T.CHECKPOINT, state)
    r = run_cli("train", "--resume", "--out", run)
    refused(r, f"checkpoint {run / T.CHECKPOINT}: optimizer state does not match its run's settings: {why}")



def test_stages_may_be_a_tuple():
    # helper-85: a tuple (STAGES itself) was refused once lists were no longer made of it
    from fastmm.nn.config import STAGES

    assert T.validate(T.TrainConfig(stages=STAGES, r_ratio=1)).stages == list(STAGES)
    assert T.validate(T.TrainConfig(stages=("full",))).stages == ["full"]


def _tamper_fused(s):
    s["optimizer"]["param_groups"][0]["fused"] = False  # as an older torch's state loads


def test_resume_ignores_torchs_own_optimizer_flags(stopped_run, tmp_path):
    run = copy_run(stopped_run, tmp_path)
    state = load_checkpoint(run / T.CHECKPOINT)
    _tamper_fused(state)
    save_checkpoint(run / T.CHECKPOINT, state)
    r = run_cli("train", "--resume", "--out", run)
    assert r.rc == 0, r.err
