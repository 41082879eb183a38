"""QA round 30 on the DNN backend: run settings stored as absolute paths, batches of one image,
CIFAR-10 labels checked before they are converted, counts of a checkpoint still at the stage
'full', negative BatchNorm variances, exclusive temporary names for checkpoints, and library
arguments that were accepted or failed deep inside torch."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import data as data_mod
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint
from fastmm.nn.convert import strassenify
from fastmm.nn.count import compare, count_model
from fastmm.nn.layers import SPNConv2d, SPNLinear, set_mode, to_exact
from tests.hostile.contract import assert_clean, run_cli
from tests.nn import test_cli_bad_input
from tests.nn.test_cli_bad_input import TINY, refused, write_state
from tests.nn.test_data import write_cifar_dataset, write_idx_dataset

fmnist = test_cli_bad_input.fmnist  # the fixture: a tiny Fashion-MNIST folder, once per module
good_state = test_cli_bad_input.good_state  # the fixture: what `fastmm train` writes
SPN = [*TINY, "--r-ratio", "1", "--stages", "full", "--epochs", "1"]


def run_in(cwd: Path, *args):
    """`fastmm ARGS` run from the directory `cwd` (relative paths are the user's there)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return run_cli(*args)
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def spn_run(fmnist, tmp_path_factory) -> Path:
    """A one-epoch SPN run (stage 'full') trained with a relative --data-dir."""
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(fmnist, home / "data")
    r = run_in(home, "train", "--data-dir", "data", *SPN, "--out", "run")
    assert r.rc == 0, r.err
    return home / "run"


@pytest.fixture(scope="module")
def fp_run(spn_run) -> Path:
    """A one-epoch dense full-precision run beside `spn_run`: a KD teacher."""
    r = run_in(spn_run.parent, "train", "--data-dir", "data", *TINY, "--stages", "full", "--out", "fp")
    assert r.rc == 0, r.err
    return spn_run.parent / "fp"


# ----------------------------------------------------------------------------- paths


def test_a_checkpoint_stores_the_data_directory_as_an_absolute_path(spn_run, tmp_path):
    args = load_checkpoint(spn_run / T.CHECKPOINT)["args"]
    assert Path(args["data_dir"]).is_absolute()
    assert Path(args["data_dir"]) == (spn_run.parent / "data").resolve()
    # evaluated from a directory that holds other data under the same relative name: its own data
    elsewhere = tmp_path / "elsewhere"
    write_idx_dataset(elsewhere / "data", n_train=8, n_test=7, seed=5)
    r = run_in(elsewhere, "evaluate", spn_run / T.CHECKPOINT, "--json")
    assert r.rc == 0, r.err
    assert json.loads(r.out)["count"] == 20  # the fixture's 20 test images, not the 7 here


def test_a_kd_teacher_is_stored_absolute_so_the_run_resumes_from_anywhere(fp_run, fmnist, tmp_path):
    home = fp_run.parent
    r = run_in(home, "train", "--data-dir", "data", *SPN, "--epochs", "2", "--kd-teacher", "fp/last.pt",
                "--out", "kd", "--stop-after", "1")
    assert r.rc == 0, r.err
    assert load_checkpoint(home / "kd" / T.CHECKPOINT)["args"]["kd_teacher"] == str(
        (home / "fp" / T.CHECKPOINT).resolve())
    other = tmp_path / "other"
    other.mkdir()
    r = run_in(other, "train", "--resume", "--out", home / "kd")
    assert r.rc == 0, r.err
    # the same teacher typed again, relative to where it is typed: the same setting, not a clash
    r = run_in(home, "train", "--resume", "--out", "kd", "--kd-teacher", "./fp/last.pt")
    assert_clean(r, allowed=(0,))


def test_a_name_too_long_for_the_file_system_is_bad_input(fmnist, tmp_path):
    long = tmp_path / ("a" * 300)
    for args in (["train", "--data-dir", fmnist, *SPN, "--out", long],
                 ["train", "--data-dir", long, *SPN, "--out", tmp_path / "r"],
                 ["train", "--resume", "--out", long]):
        r = run_cli(*args)
        assert_clean(r, allowed=(2,))
        assert "too long" in r.err, r.err


# ----------------------------------------------------------------------------- batches of one


def test_a_batch_of_one_image_that_reaches_a_1x1_map_is_one_clear_error(tmp_path):
    data = tmp_path / "tiny"
    write_idx_dataset(data, n_train=4, n_test=4, size=4)
    r = run_cli("train", "--data-dir", data, *TINY[:4], "--batch-size", "1", "--stages", "full",
                "--epochs", "1", "--out", tmp_path / "run")
    refused(r, "use a larger --batch-size")
    assert not (tmp_path / "run" / T.CHECKPOINT).exists()


def test_spn_conv_refuses_one_value_per_hidden_channel_in_training_mode():
    layer = SPNConv2d(3, 4, 3, padding=1)
    with pytest.raises(InputError, match="one value per hidden channel"):
        layer(torch.randn(1, 3, 1, 1))
    assert layer(torch.randn(2, 3, 1, 1)).shape == (2, 4, 1, 1)
    assert layer.eval()(torch.randn(1, 3, 1, 1)).shape == (1, 4, 1, 1)


@pytest.mark.parametrize("shape", [(2, 5, 8, 8), (3, 8), (2, 1, 3, 8, 8)])
def test_spn_conv_names_the_input_shape_it_takes(shape):
    with pytest.raises(InputError, match=r"takes inputs of shape \(N, 3, H, W\)"):
        SPNConv2d(3, 4, 3, padding=1)(torch.randn(*shape))


# ----------------------------------------------------------------------------- CIFAR-10 labels


def _cifar_with_labels(tmp_path: Path, labels) -> Path:
    directory = tmp_path / "cifar"
    write_cifar_dataset(directory)
    batch = directory / "cifar-10-batches-py" / "test_batch"
    with open(batch, "rb") as f:
        entry = pickle.load(f, encoding="bytes")  # the test's own file
    entry[b"labels"] = labels(len(entry[b"labels"]))
    with open(batch, "wb") as f:
        pickle.dump(entry, f, protocol=2)
    return batch


@pytest.mark.parametrize("labels", [
    lambda n: ["a"] * n, lambda n: [None] * n, lambda n: [[1, 2]] + [[1]] * (n - 1),
    lambda n: [2**70] * n, lambda n: 5, lambda n: [3.7] * n, lambda n: [True] * n,
    lambda n: np.zeros((n, 1), dtype=np.int64), lambda n: {1: 2},
], ids=["text", "none", "ragged", "huge", "scalar", "float", "bool", "column", "dict"])
def test_cifar_labels_must_be_a_list_of_integers(tmp_path, labels):
    batch = _cifar_with_labels(tmp_path, labels)
    with pytest.raises(InputError, match="CIFAR-10"):
        data_mod.read_cifar_batch(batch)


def test_integer_cifar_labels_still_read(tmp_path):
    batch = _cifar_with_labels(tmp_path, lambda n: list(range(n)))
    _, labels = data_mod.read_cifar_batch(batch)
    assert labels.dtype == np.int64 and labels.tolist() == list(range(len(labels)))


# ----------------------------------------------------------------------------- count, evaluate


def test_count_of_a_full_stage_checkpoint_does_not_count_its_float_weights(spn_run):
    r = run_cli("count", "--checkpoint", spn_run / T.CHECKPOINT)
    assert r.rc == 0, r.err
    assert "checkpoint's ternary nonzeros" not in r.out
    assert "stage 'full'" in r.out


def test_count_refuses_spn_options_for_a_ternary_weight_checkpoint(good_state, tmp_path):
    state = dict(good_state, args=dict(good_state["args"], quant="ttq", r_ratio=0.0))
    state["model"] = T.build_network("resnet8", 10, 1, 0.0, width=0.25, quant="ttq").state_dict()
    path = write_state(tmp_path / "ttq" / T.CHECKPOINT, state)
    refused(run_cli("count", "--checkpoint", path, "--convert-classifier"), "SPN layers only")


def test_a_negative_batchnorm_variance_is_refused(good_state, tmp_path):
    model = {k: (torch.full_like(v, -1.0) if k.endswith("running_var") else v)
             for k, v in good_state["model"].items()}
    path = write_state(tmp_path / "neg" / T.CHECKPOINT, dict(good_state, model=model))
    refused(run_cli("evaluate", path), "negative BatchNorm variance")


def test_contradictory_quant_and_r_ratio_args_are_refused_by_evaluate(good_state, fmnist, tmp_path):
    path = write_state(tmp_path / "q" / T.CHECKPOINT,
                       dict(good_state, args=dict(good_state["args"], quant="twn")))
    refused(run_cli("evaluate", path, "--data-dir", fmnist), "exclude each other")


# ----------------------------------------------------------------------------- checkpoint writes


def test_save_checkpoint_never_writes_through_a_planted_link(good_state, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    run = tmp_path / "run"
    run.mkdir()
    for name in (f".{T.CHECKPOINT}.tmp{os.getpid()}", f".{T.CHECKPOINT}.tmp"):
        (run / name).symlink_to(victim)
    write_state(run / T.CHECKPOINT, good_state)
    assert victim.read_text() == "keep me"
    assert not (run / T.CHECKPOINT).is_symlink()
    assert load_checkpoint(run / T.CHECKPOINT)["stage_name"] == "full"


# ----------------------------------------------------------------------------- library arguments


def test_compare_refuses_zero_classes_and_channels():
    for kw in ({"num_classes": 0}, {"in_channels": 0}):
        with pytest.raises(InputError, match="must be an integer >= 1"):
            compare("resnet8", "cifar10", 1.0, **kw)


@pytest.mark.parametrize("shape", [(3, -1, 32), (1, 32, 32), (3, 0, 4), (), (3, 32.0, 32)])
def test_count_model_refuses_images_that_do_not_fit(shape):
    from fastmm.nn.models import build_model

    with pytest.raises(InputError):
        count_model(build_model("resnet8", num_classes=10, in_channels=3), shape)


def test_strassenify_and_layers_take_booleans_and_the_r_ratio_bound():
    with pytest.raises(InputError, match="convert_classifier"):
        strassenify(nn.Sequential(nn.Linear(4, 2)), 1.0, convert_classifier="no")
    with pytest.raises(InputError, match=r"\(0, 64\]"):
        strassenify(nn.Conv2d(3, 4, 3), 64.1)
    for make in (lambda: SPNConv2d(3, 4, 3, bias="no"), lambda: SPNLinear(3, 4, bias="no")):
        with pytest.raises(InputError, match="bias must be True or False"):
            make()


@pytest.mark.parametrize("call", [lambda: set_mode("x", "full"), lambda: to_exact("x"),
                                  lambda: count_model("x", (3, 32, 32))])
def test_model_functions_refuse_what_is_not_a_module(call):
    with pytest.raises(InputError, match="torch.nn.Module"):
        call()


def test_a_kd_run_resumes_after_its_folder_moves_with_the_teacher_typed_again(fp_run, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(fp_run.parent / "data", project / "data")
    shutil.copytree(fp_run, project / "teacher")
    r = run_in(project, "train", "--data-dir", "data", *SPN, "--epochs", "2", "--kd-teacher",
               "teacher/last.pt", "--out", "kd", "--stop-after", "1")
    assert r.rc == 0, r.err
    moved = tmp_path / "moved"
    project.rename(moved)
    r = run_in(moved, "train", "--resume", "--out", "kd")
    refused(r, "give its new place with --kd-teacher")
    r = run_in(moved, "train", "--resume", "--out", "kd", "--data-dir", "data",
               "--kd-teacher", "teacher/last.pt")
    assert r.rc == 0, r.err


def test_true_among_integer_cifar_labels_is_refused(tmp_path):
    batch = _cifar_with_labels(tmp_path, lambda n: [True] + [3] * (n - 1))
    with pytest.raises(InputError, match="not True/False"):
        data_mod.read_cifar_batch(batch)


def test_count_of_a_ternary_weight_checkpoint_at_the_stage_full(fmnist, tmp_path):
    run = tmp_path / "twn"
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--quant", "twn", "--stages", "full,ternary",
                "--epochs", "1", "--stop-after", "1", "--out", run)
    assert r.rc == 0, r.err
    r = run_cli("count", "--checkpoint", run / T.CHECKPOINT, "--keep-classifier")
    assert r.rc == 0, r.err
    assert "checkpoint's ternary nonzeros" not in r.out and "stage 'full'" in r.out


def test_resume_refuses_a_teacher_the_run_never_had_or_another_one(fp_run, fmnist, tmp_path):
    plain = tmp_path / "plain"
    r = run_cli("train", "--data-dir", fmnist, *SPN, "--epochs", "2", "--stop-after", "1", "--out", plain)
    assert r.rc == 0, r.err
    refused(run_cli("train", "--resume", "--out", plain, "--kd-teacher", fp_run / T.CHECKPOINT),
            "differ")
    other = tmp_path / "other-teacher"
    shutil.copytree(fp_run, other)
    kd = tmp_path / "kd"
    r = run_cli("train", "--data-dir", fmnist, *SPN, "--epochs", "2", "--stop-after", "1",
                "--kd-teacher", fp_run / T.CHECKPOINT, "--out", kd)
    assert r.rc == 0, r.err
    refused(run_cli("train", "--resume", "--out", kd, "--kd-teacher", other / T.CHECKPOINT), "differ")


def test_a_zero_dimensional_true_among_cifar_labels_is_refused(tmp_path):
    batch = _cifar_with_labels(tmp_path, lambda n: [np.array(True)] + [3] * (n - 1))
    with pytest.raises(InputError, match="not True/False"):
        data_mod.read_cifar_batch(batch)
