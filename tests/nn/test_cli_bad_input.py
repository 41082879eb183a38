"""Hostile input to `fastmm train`, `evaluate` and `count`: exit 2, one `error:` line, no
traceback, and nothing written where the command refused (the bounds of fastmm.nn.config)."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import torch

from fastmm.nn import data
from fastmm.nn import train as T
from fastmm.nn.checkpoint import rng_state, save_checkpoint
from tests.hostile.contract import Result, assert_clean, changed, run_cli, snapshot
from tests.nn.test_data import write_idx_dataset, write_imagenet_dataset

TINY = ["--model", "resnet8", "--width", "0.25", "--batch-size", "16", "--threads", "1"]


def refused(r: Result, message: str) -> None:
    """Exit 2 with exactly one `error:` line that says `message`."""
    assert_clean(r, allowed=(2,))
    assert message in r.err, r.err


def stopped_after_one_epoch(fmnist: Path, tmp_path_factory, args: list[str]) -> Path:
    """A run of `args` on the tiny Fashion-MNIST folder stopped after its first epoch (the
    checkpoint then holds optimizer state): what the resume tests tamper with."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    r = run_cli("train", "--data-dir", fmnist, *args, "--out", out, "--stop-after", "1")
    assert r.rc == 0, r.err
    return out


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fmnist")
    write_idx_dataset(directory, n_train=32, n_test=20)
    return directory


@pytest.fixture(scope="module")
def good_state(fmnist) -> dict:
    """What `fastmm train` writes for a tiny SPN run (built, not trained: only its form matters)."""
    cfg = T.validate(T.TrainConfig(data_dir=str(fmnist), model="resnet8", width=0.25, r_ratio=1.0,
                                   stages="full", out=str(fmnist / "unused")))
    torch.manual_seed(0)
    model = T.build_network("resnet8", 10, 1, 1.0, width=0.25)
    return {"args": cfg.to_dict(), "model": model.state_dict(), "stage": 0, "stage_name": "full",
            "epoch": 1, "global_epoch": 1, "rng": rng_state(), "metrics": None,
            "num_classes": 10, "in_channels": 1}


def write_state(path: Path, state: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, state)
    return path


# ----------------------------------------------------------------------------- count


@pytest.mark.parametrize(
    "args, message",
    [
        (["--r-ratio", "1e15"], "--r-ratio must be in (0, 64], got 1e+15"),
        (["--r-ratio", "1e300"], "--r-ratio must be in (0, 64]"),
        (["--r-ratio", "nan"], "--r-ratio must be in (0, 64]"),
        (["--r-ratio", "0"], "--r-ratio must be in (0, 64]"),
        (["--width", "1e300"], "--width must be in (0, 16], got 1e+300"),
        (["--width", "1e6"], "--width must be in (0, 16]"),
        (["--width", "0"], "--width must be in (0, 16]"),
        (["--width", "nan"], "--width must be in (0, 16]"),
        (["--tile", "65"], "--tile must be in 1..64"),
        (["--groups", str(10**18)], "--groups must be in 1..8192"),
    ],
)
def test_count_refuses_out_of_bounds_settings(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    refused(run_cli("count", "--model", "resnet20", *args), message)
    assert not any(tmp_path.iterdir())


def test_count_at_the_bounds_still_counts():
    # --groups 8192 is within the bounds but divides no conv of resnet8 (refused as train refuses it,
    # not as out of bounds); 1024 divides the widest conv's input channels at width 16
    r = run_cli("count", "--model", "resnet8", "--width", "16", "--r-ratio", "64", "--tile", "64",
                "--groups", "1024")
    assert r.rc == 0 and "StrassenNet" in r.out, r.err
    refused(run_cli("count", "--model", "resnet8", "--width", "16", "--r-ratio", "64", "--tile", "64",
                    "--groups", "8192"), "groups 8192 divides the input channels of no conv of resnet8")


# ----------------------------------------------------------------------------- train


@pytest.mark.parametrize(
    "args, message",
    [
        (["--r-ratio", "1e300"], "--r-ratio must be in [0, 64], got 1e+300"),
        (["--r-ratio", "1e15"], "--r-ratio must be in [0, 64]"),
        (["--r-ratio", "nan"], "--r-ratio must be in [0, 64], got nan"),
        (["--width", "1e300"], "--width must be in (0, 16]"),
        (["--width", "0"], "--width must be in (0, 16], got 0"),
        (["--width", "nan"], "--width must be in (0, 16]"),
        (["--tile", "100000", "--r-ratio", "1"], "--tile must be in 1..64"),
        (["--threads", "-1"], "--threads must be in 1..1024, got -1"),
        (["--threads", str(10**9)], "--threads must be in 1..1024"),
        (["--momentum", "-1"], "--momentum must be in [0, 1), got -1"),
        (["--momentum", "nan"], "--momentum must be in [0, 1), got nan"),
        (["--weight-decay", "-1"], "--weight-decay must be in [0, 1], got -1"),
        (["--weight-decay", "nan"], "--weight-decay must be in [0, 1], got nan"),
        (["--lr", "1e300"], "--lr must be positive and at most 10"),
        (["--lr", "nan"], "--lr must be positive and at most 10 (per stage), got nan"),
        (["--lr", "inf"], "--lr must be positive"),
        (["--kd-temp", "nan"], "--kd-temp must be in (0, 100]"),
        (["--seed", "-1"], "--seed must be in 0..4611686018427387903, got -1"),
        (["--stop-after", "-1"], "--stop-after must be in 0.."),
    ],
)
def test_train_refuses_bad_numbers_before_writing(fmnist, tmp_path, args, message):
    before = snapshot(tmp_path)
    refused(run_cli("train", "--data-dir", fmnist, *TINY, "--out", tmp_path / "run", *args), message)
    assert not changed(before, snapshot(tmp_path))


def test_train_out_must_be_a_directory(fmnist, tmp_path):
    (tmp_path / "f").write_text("keep me")
    before = snapshot(tmp_path)
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--out", tmp_path / "f")
    refused(r, f"--out {tmp_path / 'f'}: exists and is not a directory")
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--out", tmp_path / "f" / "sub")
    refused(r, f"{tmp_path / 'f'} is not a directory")
    assert not changed(before, snapshot(tmp_path))


def test_resume_without_args_is_one_line(good_state, fmnist, tmp_path):
    state = copy.copy(good_state)
    del state["args"]
    write_state(tmp_path / "run" / T.CHECKPOINT, state)
    before = snapshot(tmp_path)
    r = run_cli("train", "--data-dir", fmnist, "--resume", "--out", tmp_path / "run")
    refused(r, "lacks 'args': cannot resume from it")
    assert not changed(before, snapshot(tmp_path))


def test_resume_with_unusable_args_is_one_line(good_state, fmnist, tmp_path):
    state = copy.copy(good_state)
    state["args"] = {**state["args"], "width": 1e300}
    write_state(tmp_path / "run" / T.CHECKPOINT, state)
    before = snapshot(tmp_path)
    r = run_cli("train", "--data-dir", fmnist, "--resume", "--out", tmp_path / "run")
    refused(r, "has unusable args: width must be in (0, 16], got 1e+300")
    assert not changed(before, snapshot(tmp_path))


# a saved run whose settings differ from the click defaults (--model resnet20, --r-ratio 0, --batch-size 128)
SAVED = ["--model", "resnet8", "--width", "0.25", "--r-ratio", "1", "--batch-size", "64", "--epochs", "1,1,1",
         "--threads", "1"]


@pytest.fixture(scope="module")
def saved_run(fmnist, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("saved") / "run"
    r = run_cli("train", "--data-dir", fmnist, *SAVED, "--out", run, "--stop-after", "1")
    assert r.rc == 0 and "continue with --resume" in r.out, r.err
    return run


def files(run: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run directory: its bytes and modification time."""
    return {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in sorted(run.iterdir())}


@pytest.mark.parametrize(
    "args, told",
    [
        (["--model", "resnet20"], "model='resnet20' (saved run: 'resnet8')"),
        (["--batch-size", "128"], "batch_size=128 (saved run: 64)"),
        (["--r-ratio", "0"], "r_ratio=0.0 (saved run: 1.0)"),
    ],
)
def test_resume_refuses_a_typed_value_that_is_the_default_but_not_the_saved_one(saved_run, args, told):
    """Typed is what the command line holds, not what differs from click's default."""
    before = files(saved_run)
    r = run_cli("train", "--resume", "--out", saved_run, *args)
    refused(r, f"--resume continues {saved_run} with its own settings; these differ: {told}")
    assert files(saved_run) == before


def test_resume_accepts_the_saved_values_typed_again(saved_run, tmp_path):
    run = shutil.copytree(saved_run, tmp_path / "run")
    r = run_cli("train", "--resume", "--out", run, *SAVED, "--stop-after", "2")
    assert r.rc == 0 and "stopped after 2 epochs" in r.out, r.err


def test_resume_with_nothing_to_resume_says_so(fmnist, tmp_path):
    before = snapshot(tmp_path)
    r = run_cli("train", "--out", tmp_path / "nonexist", "--resume", "--data-dir", fmnist)
    refused(r, f"--resume: no run to resume in {tmp_path / 'nonexist'} (it holds no last.pt)")
    assert not changed(before, snapshot(tmp_path))


@pytest.mark.parametrize("where", ["no data", "existing run", "resumed run"])
def test_an_unknown_model_is_reported_first(saved_run, tmp_path, where):
    """Before missing data, before an existing run, and before comparing with the saved run."""
    args = {"no data": ["--data-dir", tmp_path / "empty", "--out", tmp_path / "run"],
            "existing run": ["--out", saved_run],
            "resumed run": ["--resume", "--out", saved_run]}[where]
    before = snapshot(saved_run.parent), snapshot(tmp_path)
    refused(run_cli("train", "--model", "resnet9", *args),
            "unknown model 'resnet9'; choose one of: resnet8, resnet20")
    assert (snapshot(saved_run.parent), snapshot(tmp_path)) == before


def _with_label(source: Path, target: Path, split: str, value: int) -> Path:
    """A copy of the IDX dataset `source` with label 3 of `split` set to `value`."""
    shutil.copytree(source, target)
    path = target / f"{split}-labels-idx1-ubyte.gz"
    labels = data.read_idx(path).copy()
    labels[3] = value
    data.write_idx(path, labels)
    return path


@pytest.mark.parametrize("split, value", [("train", 255), ("t10k", 200)])
def test_train_refuses_labels_outside_the_classes(fmnist, tmp_path, split, value):
    path = _with_label(fmnist, tmp_path / "data", split, value)
    before = snapshot(tmp_path)
    r = run_cli("train", "--data-dir", tmp_path / "data", *TINY, "--out", tmp_path / "run")
    refused(r, f"{path}: label {value} (item 3) is outside 0..9: fashion-mnist has 10 classes")
    assert not changed(before, snapshot(tmp_path))


def test_evaluate_refuses_labels_outside_the_classes(saved_run, fmnist, tmp_path):
    path = _with_label(fmnist, tmp_path / "data", "t10k", 200)
    r = run_cli("evaluate", saved_run / T.CHECKPOINT, "--data-dir", tmp_path / "data")
    refused(r, f"{path}: label 200 (item 3) is outside 0..9")


def test_evaluate_refuses_labels_the_checkpoint_has_no_class_for(good_state, fmnist, tmp_path):
    """A checkpoint with fewer classes than the data's labels (as older runs on a subset wrote)."""
    torch.manual_seed(0)
    state = {**good_state, "num_classes": 3,
             "model": T.build_network("resnet8", 3, 1, 1.0, width=0.25).state_dict()}
    path = write_state(tmp_path / "three.pt", state)
    r = run_cli("evaluate", path, "--data-dir", fmnist)
    refused(r, f"the fashion-mnist test data has label 9, but the model in {path} has 3 classes")


def test_imagenet_splits_with_other_class_folders_are_refused(tmp_path):
    write_imagenet_dataset(tmp_path / "i", per_class=1, size=(20, 20))
    (tmp_path / "i" / "val" / "n02").rename(tmp_path / "i" / "val" / "n09")
    r = run_cli("train", "--dataset", "imagenet", "--data-dir", tmp_path / "i", "--model", "resnet18",
                "--width", "0.125", "--image-size", "16", "--out", tmp_path / "run")
    refused(r, "imagenet: the training and test splits have different class folders ('n02' is in only one)")
    assert not (tmp_path / "run").exists()


def test_a_diverging_run_is_one_line_exit_1(fmnist, tmp_path, monkeypatch):
    def nan_loss(*args, **kwargs):
        return torch.nn.functional.mse_loss(args[0], torch.zeros_like(args[0])) * float("nan")

    monkeypatch.setattr(T.F, "cross_entropy", nan_loss)
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--out", tmp_path / "run")
    assert_clean(r, allowed=(1,))
    assert "training diverged: the loss became nan" in r.err


# ----------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("size", ["0", "-1"])
def test_evaluate_refuses_a_batch_size_below_1(good_state, tmp_path, size):
    path = write_state(tmp_path / "ok.pt", good_state)
    before = snapshot(tmp_path)
    r = run_cli("evaluate", path, "--batch-size", size)
    refused(r, f"--batch-size must be in 1..1048576, got {size}")
    assert not changed(before, snapshot(tmp_path))


def _without(key: str):
    return lambda s: s.pop(key)


def _set_arg(key: str, value):
    return lambda s: s.__setitem__("args", {**s["args"], key: value})


def _set_weight(key: str, value: torch.Tensor):
    return lambda s: s.__setitem__("model", {**s["model"], key: value})


def _map_first_weight(make):
    """Replace the first weight w of the model by make(w)."""
    def change(s: dict) -> None:
        first = next(iter(s["model"]))
        s["model"] = {**s["model"], first: make(s["model"][first])}

    return change


# (change, what evaluate and count --checkpoint both say)
DAMAGED = {
    "no model": (_without("model"), "holds no state_dict (expected a 'model' entry)"),
    "r_ratio text": (_set_arg("r_ratio", "x"), "has unusable args: r_ratio must be a number, got 'x'"),
    "width 1e300": (_set_arg("width", 1e300), "has unusable args: width must be in (0, 16], got 1e+300"),
    "r_ratio 1e15": (_set_arg("r_ratio", 1e15), "has unusable args: r_ratio must be in [0, 64]"),
    "tile huge": (_set_arg("tile", 10**9), "has unusable args: tile must be in 1..64"),
    "model not text": (_set_arg("model", 5), "has unusable args: model must be text"),
    "num_classes huge": (lambda s: s.__setitem__("num_classes", 10**12), "num_classes must be in 1.."),
    "unexpected weight": (_set_weight("conv1.weight", torch.zeros(3)), "unexpected: conv1.weight"),
    "wrong shape": (_map_first_weight(lambda w: torch.zeros(3)), "wrong shape"),
    "integer weight": (_map_first_weight(lambda w: torch.zeros_like(w, dtype=torch.int64)),
                       "wrong dtype or layout"),
    "NaN weight": (_map_first_weight(lambda w: w * float("nan")), "NaN or infinity in"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_evaluate_and_count_refuse_a_damaged_checkpoint_alike(good_state, tmp_path, case):
    state, (change, message) = copy.copy(good_state), DAMAGED[case]
    change(state)
    path = write_state(tmp_path / "bad.pt", state)
    before = snapshot(tmp_path)
    evaluated, counted = run_cli("evaluate", path), run_cli("count", "--checkpoint", path)
    refused(evaluated, message)
    refused(counted, message)
    assert evaluated.err == counted.err
    assert not changed(before, snapshot(tmp_path))


def test_evaluate_needs_the_args_count_can_do_without(good_state, tmp_path):
    state = copy.copy(good_state)
    del state["args"]
    path = write_state(tmp_path / "bad.pt", state)
    refused(run_cli("evaluate", path), "lacks 'args': cannot rebuild its model")
    refused(run_cli("count", "--checkpoint", path), "--model is required")


def test_evaluate_a_good_checkpoint_still_works(good_state, tmp_path):
    r = run_cli("evaluate", write_state(tmp_path / "ok.pt", good_state), "--batch-size", "7")
    assert r.rc == 0 and "on 20 images" in r.out, r.err
