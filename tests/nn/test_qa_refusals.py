"""Inputs QA found accepted or crashing: each is now one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import data
from fastmm.nn import train as T
from fastmm.nn.checkpoint import rng_state, save_checkpoint
from fastmm.nn.convert import strassenify
from fastmm.nn.layers import SPNConv2d, SPNLinear
from tests.hostile.contract import assert_clean, run_cli, snapshot
from tests.nn.test_cli_bad_input import TINY, refused
from tests.nn.test_data import write_idx_dataset


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fmnist")
    write_idx_dataset(directory, n_train=16, n_test=10)
    return directory


def fake_state(dataset: str, in_channels: int, classes: int, image_shape=None) -> dict:
    """What `fastmm train` writes for a tiny dense run (built, not trained)."""
    cfg = T.validate(T.TrainConfig(dataset=dataset, model="resnet8", width=0.25, stages="full",
                                   out="unused-out"))
    torch.manual_seed(0)
    model = T.build_network("resnet8", classes, in_channels, 0.0, width=0.25)
    state = {"args": cfg.to_dict(), "model": model.state_dict(), "stage": 0, "stage_name": "full",
             "epoch": 1, "global_epoch": 1, "rng": rng_state(), "metrics": None,
             "num_classes": classes, "in_channels": in_channels}
    if image_shape is not None:
        state["image_shape"] = image_shape
    return state


def train_args(fmnist, out) -> list[str]:
    return ["train", "--data-dir", fmnist, "--out", out, "--stages", "full", *TINY]


# ----------------------------------------------------------------------------- train


@pytest.mark.parametrize("channels, classes", [(3, 10), (1, 5)])
def test_kd_teacher_of_another_dataset_is_refused_before_anything_is_written(
        fmnist, tmp_path, channels, classes):
    teacher = tmp_path / "t" / "last.pt"
    teacher.parent.mkdir()
    save_checkpoint(teacher, fake_state("cifar10" if channels == 3 else "fashion-mnist", channels, classes))
    out = tmp_path / "run"
    r = run_cli(*train_args(fmnist, out), "--kd-teacher", teacher)
    refused(r, "--kd-teacher")
    assert f"takes {channels}-channel images and has {classes} classes" in r.err
    assert not out.exists()


def test_kd_teacher_trained_on_images_of_another_size_is_refused(fmnist, tmp_path):
    teacher = tmp_path / "t" / "last.pt"
    teacher.parent.mkdir()
    save_checkpoint(teacher, fake_state("fashion-mnist", 1, 10, image_shape=[1, 32, 32]))
    out = tmp_path / "run"
    r = run_cli(*train_args(fmnist, out), "--kd-teacher", teacher)
    refused(r, "--kd-teacher")
    assert "was trained on 1 × 32 × 32 images" in r.err and "this run's are 1 × 28 × 28" in r.err
    assert not out.exists()


def test_empty_out_is_refused(fmnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(run_cli(*train_args(fmnist, "")), "--out must name a run directory")
    assert not any(tmp_path.iterdir())


def test_zero_epochs_are_refused(fmnist, tmp_path):
    out = tmp_path / "run"
    refused(run_cli(*train_args(fmnist, out), "--epochs", "0"), "--epochs must be at least 1")
    r = run_cli("train", "--data-dir", fmnist, "--out", out, "--r-ratio", "1", "--epochs", "1,0,1", *TINY)
    refused(r, "--epochs must be at least 1")
    assert not out.exists()


def test_out_with_user_files_but_no_checkpoint_is_refused(fmnist, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "final.json").write_text("mine\n")
    (out / "metrics.jsonl").write_text("mine too\n")
    before = snapshot(out)
    refused(run_cli(*train_args(fmnist, out)), "holds final.json and metrics.jsonl but no last.pt")
    assert snapshot(out) == before
    (out / "final.json").unlink()
    refused(run_cli(*train_args(fmnist, out)), "holds metrics.jsonl but no last.pt")


def test_out_with_other_files_or_an_empty_metrics_file_still_trains(fmnist, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "command.txt").write_text("python cli.py train ...\n")  # what the benchmark scripts write
    (out / "metrics.jsonl").write_text("")  # all a run killed in its first epoch leaves
    r = run_cli(*train_args(fmnist, out))
    assert_clean(r, allowed=(0,))
    assert (out / "last.pt").is_file() and (out / "command.txt").read_text().startswith("python")


# ----------------------------------------------------------------------------- data


@pytest.mark.parametrize("images", [
    np.linspace(-500, 500, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4),
    np.array([[[1.0, np.nan], [3.0, 4.0]]] * 2),
    np.full((2, 4, 4), -3, dtype=np.int16),
    np.full((2, 4, 4), 300, dtype=np.int32),
    np.full((2, 4, 4), 2.5),
])
def test_idx_images_outside_0_255_are_refused(tmp_path, images):
    data.write_idx(tmp_path / "train-images-idx3-ubyte", images)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(len(images), np.uint8))
    with pytest.raises(InputError, match="train-images-idx3-ubyte: pixel value .* not an integer in 0..255"):
        data.load_idx_split(tmp_path, True)


def test_idx_images_of_other_types_with_pixel_values_load(tmp_path):
    data.write_idx(tmp_path / "train-images-idx3-ubyte", np.full((2, 3, 3), 255.0, np.float32))
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    images, _ = data.load_idx_split(tmp_path, True)
    assert images.dtype == torch.uint8 and int(images.min()) == 255


def _replace_split(directory: Path, prefix: str, images: np.ndarray) -> None:
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"):
        (directory / name).unlink()
    data.write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
    data.write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(len(images), np.uint8))


@pytest.mark.parametrize("prefix, images, message", [
    ("train", np.zeros((0, 28, 28), np.uint8), "the training split has no images"),
    ("t10k", np.zeros((0, 28, 28), np.uint8), "the test split has no images"),
    ("train", np.zeros((4, 0, 0), np.uint8), "the training images are 0×0 pixels"),
    ("t10k", np.zeros((4, 14, 14), np.uint8), "but the test images are 1 × 14 × 14"),
])
def test_empty_or_mismatched_splits_are_refused_by_train(tmp_path, prefix, images, message):
    directory = tmp_path / "d"
    write_idx_dataset(directory, n_train=16, n_test=10)
    _replace_split(directory, prefix, images)
    out = tmp_path / "run"
    refused(run_cli(*train_args(directory, out)), message)
    assert not out.exists()


def test_evaluate_refuses_empty_test_data_and_images_of_another_size(tmp_path):
    ckpt = tmp_path / "r" / "last.pt"
    ckpt.parent.mkdir()
    directory = tmp_path / "d"
    write_idx_dataset(directory, n_train=4, n_test=4, size=14)
    save_checkpoint(ckpt, fake_state("fashion-mnist", 1, 10, image_shape=[1, 28, 28]))
    refused(run_cli("evaluate", ckpt, "--data-dir", directory), "trained on 1 × 28 × 28 images")
    save_checkpoint(ckpt, fake_state("fashion-mnist", 1, 10, image_shape=[1, 14, 14]))
    assert_clean(run_cli("evaluate", ckpt, "--data-dir", directory), allowed=(0,))
    _replace_split(directory, "t10k", np.zeros((0, 14, 14), np.uint8))
    refused(run_cli("evaluate", ckpt, "--data-dir", directory), "the test split has no images")


def test_gzip_idx_is_not_decompressed_past_its_declared_size(tmp_path, monkeypatch):
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 1, 2, 2)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(header + bytes(4) + bytes(20_000_000), mtime=0))
    read = []
    real_open = gzip.open

    def counting_open(*args, **kw):
        f = real_open(*args, **kw)
        real_read = f.read
        f.read = lambda n=-1: read.append(n) or real_read(n)
        return f

    monkeypatch.setattr(gzip, "open", counting_open)
    with pytest.raises(InputError, match="IDX data has more than 4 bytes, the header says 4"):
        data.read_idx(path)
    assert read == [4, 12, 4, 1]  # magic, sizes, the data, then 1 byte more: never the whole stream
    path.write_bytes(gzip.compress(header + bytes([1, 2, 3, 4]), mtime=0))
    assert data.read_idx(path).tolist() == [[[1, 2], [3, 4]]]


# ----------------------------------------------------------------------------- evaluate


def test_top5_of_zero_is_reported():
    labels = torch.zeros(6, dtype=torch.int64)
    ds = data.TensorImageDataset(torch.zeros(6, 1, 2, 2, dtype=torch.uint8), labels, (0.0,), (1.0,),
                                 classes=10)

    class Worst(nn.Module):  # class 0 always scores lowest
        def forward(self, x):
            return torch.arange(10.0).expand(len(x), 10)

    result = T.evaluate(Worst(), ds)
    assert result["acc"] == 0 and result["top5"] == 0.0


# ----------------------------------------------------------------------------- layers


def test_strassenify_checks_every_layer_before_converting_any():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, dilation=2))
    with pytest.raises(InputError, match="dilated"):
        strassenify(m, 1.0)
    assert type(m[0]) is nn.Conv2d and type(m[1]) is nn.Conv2d


def test_strassenify_a_bare_linear_with_convert_classifier():
    assert isinstance(strassenify(nn.Linear(3, 4), 1.0, convert_classifier=True), SPNLinear)
    assert type(strassenify(nn.Linear(3, 4), 1.0)) is nn.Linear


@pytest.mark.parametrize("make, message", [
    (lambda: SPNConv2d(3, 4, 3, r=2.7), "r must be an integer"),
    (lambda: SPNConv2d(3, 4, 3, r="5"), "r must be an integer"),
    (lambda: SPNConv2d(3, 4, 3, tile=True), "tile must be an integer"),
    (lambda: SPNConv2d(3, 4, 3, groups=1.0), "groups must be an integer"),
    (lambda: SPNConv2d(4.0, 4, 3), "in_channels must be an integer"),
    (lambda: SPNConv2d(4, 4, 3.0), "kernel_size must be an int"),
    (lambda: SPNLinear("4", 4), "in_features must be an integer"),
    (lambda: SPNLinear(4, 4, r_ratio="2"), "r-ratio must be a number"),
    (lambda: SPNLinear(4, 4, r_ratio=True), "r-ratio must be a number"),
    (lambda: strassenify(nn.Conv2d(3, 4, 3), "1"), "r-ratio must be a number"),
])
def test_layer_arguments_of_the_wrong_type_are_input_errors(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_layer_arguments_of_integer_types_still_work():
    assert SPNConv2d(3, 4, 3, r=np.int64(6)).r == 6
    assert SPNLinear(3, 4, r_ratio=np.float32(0.5)).r == 2


# ----------------------------------------------------------------------------- count


@pytest.mark.parametrize("state_args, options, message", [
    (("fashion-mnist", 1, 10), ["--quant", "twn"], "--quant twn contradicts checkpoint"),
    (("fashion-mnist", 1, 10), ["--dataset", "cifar10"], "--dataset cifar10 contradicts checkpoint"),
    (("fashion-mnist", 1, 10), ["--model", "resnet20"], "--model resnet20 contradicts checkpoint"),
])
def test_count_refuses_options_that_contradict_the_checkpoint(tmp_path, state_args, options, message):
    path = tmp_path / "dense.pt"
    state = fake_state(*state_args)
    save_checkpoint(path, state)
    refused(run_cli("count", "--checkpoint", path, *options), message)


def test_count_refuses_a_dataset_of_other_channels_than_the_checkpoint(tmp_path):
    state = fake_state("fashion-mnist", 1, 10)
    del state["args"]["dataset"]
    path = tmp_path / "x.pt"
    save_checkpoint(path, state)
    refused(run_cli("count", "--checkpoint", path, "--dataset", "cifar10"), "1-channel images")
