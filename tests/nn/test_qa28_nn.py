"""QA round 28 on `fastmm train`, `evaluate` and `count`: run files replaced atomically and never
written through links, damaged checkpoints and metrics lines, worker errors, --groups and
image sizes. Each failure is one `error:` line, exit 2, with the run's files as they were."""

from __future__ import annotations

import copy
import errno
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import reporting
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint, save_checkpoint
from fastmm.nn.convert import strassenify
from fastmm.nn.count import compare
from tests.hostile.contract import assert_clean, changed, run_cli, snapshot
from tests.nn import test_cli_bad_input
from tests.nn.test_cli_bad_input import TINY, good_state, refused, write_state  # noqa: F401 (fixture)
from tests.nn.test_data import write_imagenet_dataset

DENSE = [*TINY, "--stages", "full", "--epochs", "2"]
fmnist = test_cli_bad_input.fmnist  # the fixture: a tiny Fashion-MNIST folder, once per module


@pytest.fixture(scope="module")
def saved_run(fmnist, tmp_path_factory) -> Path:
    """A dense run stopped after the first of its 2 epochs: last.pt (with the stage's optimizer
    state) and one metrics line."""
    run = tmp_path_factory.mktemp("saved") / "run"
    r = run_cli("train", "--data-dir", fmnist, *DENSE, "--out", run, "--stop-after", "1")
    assert r.rc == 0 and "stopped after 1 epochs" in r.out, r.err
    return run


@pytest.fixture
def run(saved_run, tmp_path) -> Path:
    return shutil.copytree(saved_run, tmp_path / "run", symlinks=True)


def resume(run: Path, *args: str):
    return run_cli("train", "--resume", "--out", run, *args)


# ----------------------------------------------------------------------------- 1, 2: run files


@pytest.mark.parametrize("name", [T.METRICS, T.FINAL])
def test_resume_refuses_a_symlinked_run_file_and_leaves_its_target_alone(run, tmp_path, name):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(victim)
    before = snapshot(tmp_path)
    r = resume(run)
    refused(r, f"--out {run}: {name} is a symbolic link, and a run writes its own files, not through links")
    assert victim.read_text() == "the user's own file\n"
    assert not changed(before, snapshot(tmp_path))


def test_write_atomically_replaces_a_link_never_its_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    (tmp_path / T.METRICS).symlink_to(victim)
    reporting.append_metrics(tmp_path, {"global_epoch": 1})
    assert victim.read_text() == "keep\n"
    assert not (tmp_path / T.METRICS).is_symlink()
    assert (tmp_path / T.METRICS).read_text() == '{"global_epoch": 1}\n'


def _limited_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (3 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_a_resume_that_cannot_write_keeps_every_metrics_line(run):
    """`ulimit -f 3`: the metrics file (over 3 kB) was truncated in place and its epochs lost."""
    line = (run / T.METRICS).read_text()
    (run / T.METRICS).write_text(line * 20)
    before = (run / T.METRICS).read_bytes()
    assert len(before) > 3 * 1024
    r = subprocess.run([sys.executable, "-m", "fastmm", "train", "--resume", "--out", str(run)],
                       capture_output=True, text=True, preexec_fn=_limited_file_size, timeout=60)
    assert r.returncode == 1 and r.stderr == f"error: {run / T.METRICS}: File too large\n", r.stderr
    assert (run / T.METRICS).read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == [T.CHECKPOINT, T.METRICS]  # no temporary left


def _refuse_replace(*args):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_metrics_writes_lose_no_line(tmp_path, monkeypatch):
    path = tmp_path / T.METRICS
    path.write_text('{"global_epoch": 1}\n{"global_epoch": 2}\n')
    monkeypatch.setattr(reporting.os, "replace", _refuse_replace)
    with pytest.raises(OSError, match="No space left"):
        reporting.append_metrics(tmp_path, {"global_epoch": 3})
    with pytest.raises(OSError, match="No space left"):
        reporting.rewrite_metrics(path, 1, None)
    with pytest.raises(OSError, match="No space left"):
        reporting.write_final(tmp_path, {"test_acc": 0.5})
    assert path.read_text() == '{"global_epoch": 1}\n{"global_epoch": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [T.METRICS]


def test_rewritten_files_keep_their_permissions(tmp_path):
    path = tmp_path / T.METRICS
    path.write_text('{"global_epoch": 1}\n')
    path.chmod(0o640)
    reporting.append_metrics(tmp_path, {"global_epoch": 2})
    assert (path.stat().st_mode & 0o777) == 0o640


# ----------------------------------------------------------------------------- 3: last.pt a directory


def test_a_fresh_run_refuses_a_directory_named_last_pt_before_training(fmnist, tmp_path):
    (tmp_path / "run" / T.CHECKPOINT).mkdir(parents=True)
    before = snapshot(tmp_path)
    r = run_cli("train", "--data-dir", fmnist, *DENSE, "--out", tmp_path / "run")
    refused(r, f"--out {tmp_path / 'run'}: last.pt is a directory, where the run keeps its checkpoint")
    assert not changed(before, snapshot(tmp_path))


def test_resume_refuses_a_directory_named_last_pt(tmp_path):
    (tmp_path / "run" / T.CHECKPOINT).mkdir(parents=True)
    refused(resume(tmp_path / "run"), "last.pt is a directory")


# ----------------------------------------------------------------------------- 4: meta tensors


def _meta_first_weight(state: dict) -> dict:
    state = copy.copy(state)
    first = next(iter(state["model"]))
    state["model"] = {**state["model"], first: state["model"][first].to("meta")}
    return state


def test_evaluate_count_and_kd_refuse_a_checkpoint_with_meta_tensors(good_state, fmnist, tmp_path):  # noqa: F811
    path = write_state(tmp_path / "meta.pt", _meta_first_weight(good_state))
    message = "no data (meta or non-CPU tensors): conv1.Wb"
    refused(run_cli("evaluate", path), message)
    refused(run_cli("count", "--checkpoint", path), message)
    out = tmp_path / "student"
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--r-ratio", "1", "--kd-teacher", path, "--out", out)
    refused(r, message)


# ----------------------------------------------------------------------------- 5: metrics lines


@pytest.mark.parametrize("bad", [b"5", b"null", b"[1]", b'{"global_epoch": "x"}', b'{"global_epoch": true}',
                                 b"\xff\xfe", b'{"global_epoch": 1, "stage": "fu'])
def test_resume_drops_metrics_lines_that_are_not_records_with_a_warning(run, bad):
    good = (run / T.METRICS).read_bytes()
    (run / T.METRICS).write_bytes(bad + b"\n" + good + bad + b"\n")
    r = resume(run, "--stop-after", "1")
    assert_clean(r, allowed=(0,))
    assert r.err == (f"warning: {run / T.METRICS}: dropped 2 line(s) that are not epoch records "
                     "(the checkpoint is the record of the run)\n")
    assert (run / T.METRICS).read_bytes() == good


def test_summarize_run_skips_lines_that_are_not_records(tmp_path):
    (tmp_path / T.METRICS).write_bytes(b'\xff\n[1]\n{"global_epoch": 1, "stage": "full", "test_acc": 0.5, '
                                       b'"seconds": 2.0}\n')
    reporting.write_final(tmp_path, {"test_acc": 0.5, "args": {}})
    assert reporting.summarize_run(tmp_path) == {"test_acc": 0.5, "acc_by_stage": {"full": 0.5},
                                                 "seconds": 2.0, "args": {}}


# ----------------------------------------------------------------------------- 6: optimizer state


def _set_momentum(run: Path, make) -> None:
    state = load_checkpoint(run / T.CHECKPOINT)
    slot = next(iter(state["optimizer"]["state"]))
    slot = state["optimizer"]["state"][slot]
    slot["momentum_buffer"] = make(slot["momentum_buffer"])
    save_checkpoint(run / T.CHECKPOINT, {k: v for k, v in state.items() if k not in ("format", "version")})


@pytest.mark.parametrize("make, message", [
    (lambda m: torch.zeros(1), "momentum_buffer of shape [1] does not fit a parameter of shape [4, 1, 3, 3]"),
    (lambda m: m * float("nan"), "its momentum_buffer holds NaN or infinity"),
    (lambda m: m.to("meta"), "has an unusable optimizer or scheduler state"),
])
def test_resume_refuses_an_optimizer_state_that_does_not_fit_the_model(run, make, message):
    _set_momentum(run, make)
    before = snapshot(run)
    refused(resume(run), f"checkpoint {run / T.CHECKPOINT} has an unusable optimizer")
    assert message in resume(run).err
    assert not changed(before, snapshot(run))


# ----------------------------------------------------------------------------- 7, 8: ImageNet images


@pytest.fixture
def imagenet(tmp_path) -> Path:
    write_imagenet_dataset(tmp_path / "in")
    return tmp_path / "in"


IMAGENET = ["--dataset", "imagenet", "--model", "resnet8", "--width", "0.25", "--batch-size", "4",
            "--threads", "1", "--image-size", "8"]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_an_unreadable_image_is_one_line_with_or_without_workers(imagenet, tmp_path, workers):
    bad = imagenet / "train" / "n01" / "zz_bad.JPEG"
    bad.write_bytes(b"not an image")
    r = run_cli("train", "--data-dir", imagenet, *IMAGENET, "--workers", workers, "--out", tmp_path / "o")
    refused(r, f"error: cannot read image {bad}: cannot identify image file")
    assert "Caught" not in r.err and "worker" not in r.err


@pytest.mark.parametrize("limit", [100, 1000])  # images of 1200 pixels: PIL errs past 2·limit, warns past it
def test_an_image_past_the_decompression_bomb_limit_is_one_line(imagenet, tmp_path, monkeypatch, limit):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    r = run_cli("train", "--data-dir", imagenet, *IMAGENET, "--out", tmp_path / "o")
    refused(r, "pixels, PIL's limit against decompression bombs")
    assert r.err.startswith(f"error: cannot read image {imagenet / 'train'}/")
    assert f".png: more than {limit:,} pixels" in r.err


# ----------------------------------------------------------------------------- 9: --groups


def test_groups_that_divide_no_conv_no_longer_inflate_r():
    plain, grouped = compare("resnet8", "cifar10", 1), compare("resnet8", "cifar10", 1, groups=8192)
    assert grouped.spn.ternary_params == plain.spn.ternary_params == 92_848
    assert grouped.grouped == (0, 9)
    # the command line counts a g that some convs take, saying where; one that none take is refused
    r = run_cli("count", "--model", "resnet8", "--groups", "32")
    assert r.rc == 0 and "g = 32 in 4 of 9 convs, g = 1 in the others" in " ".join(r.out.split()), r.out
    refused(run_cli("count", "--model", "resnet8", "--groups", "8192"),
            "groups 8192 divides the input channels of no conv of resnet8 (width 1): every layer would use "
            "g = 1")


def test_count_refuses_groups_that_divide_no_conv_as_train_does():
    r = run_cli("count", "--model", "resnet8", "--dataset", "mnist", "--r-ratio", "1", "--groups", "3",
                "--width", "0.25")
    refused(r, "groups 3 divides the input channels of no conv of resnet8 (width 0.25): every layer would "
               "use g = 1")
    assert r.out == ""


def test_a_layer_that_g_does_not_divide_keeps_its_own_r():
    model = strassenify(nn.ModuleList([nn.Conv2d(3, 3, 3), nn.Conv2d(4, 3, 3)]), 1, groups=2)
    assert [(m.groups, m.r) for m in model] == [(1, 3), (2, 4)]  # only a grouped layer rounds r up


def test_groups_that_round_r_past_the_cap_are_refused():
    with pytest.raises(InputError, match=r"groups=128 rounds its hidden width up to r=128, more than 64·c"):
        strassenify(nn.Conv2d(128, 1, 3), 1, groups=128)


def test_train_refuses_groups_that_divide_no_conv(fmnist, tmp_path):
    r = run_cli("train", "--data-dir", fmnist, *TINY, "--r-ratio", "1", "--groups", "8192", "--out",
                tmp_path / "o")
    refused(r, "groups 8192 divides the input channels of no conv of resnet8 (width 0.25): every layer would "
               "use g = 1")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- 10: count's image size


def test_count_checkpoint_counts_at_the_image_size_it_was_trained_on(good_state, tmp_path):  # noqa: F811
    state = copy.copy(good_state)
    state["args"] = {**state["args"], "dataset": "imagenet", "image_size": 16}
    state.update(in_channels=3, num_classes=3, image_shape=[3, 16, 16])
    model = T.build_network("resnet8", 3, 3, 1.0, width=0.25)
    state["model"] = model.state_dict()
    r = run_cli("count", "--checkpoint", write_state(tmp_path / "in16.pt", state))
    assert r.rc == 0 and "resnet8 on imagenet (16×16×3, 3 classes)" in r.out, r.err + r.out
    del state["image_shape"]  # older checkpoints: an ImageNet run's image_size
    r = run_cli("count", "--checkpoint", write_state(tmp_path / "old.pt", state))
    assert r.rc == 0 and "resnet8 on imagenet (16×16×3, 3 classes)" in r.out, r.err + r.out


def test_count_refuses_an_image_shape_of_other_channels(good_state, tmp_path):  # noqa: F811
    state = {**good_state, "image_shape": [3, 28, 28]}
    refused(run_cli("count", "--checkpoint", write_state(tmp_path / "c.pt", state)),
            "has image_shape [3, 28, 28] for a model of 1-channel images")


# ----------------------------------------------------------------------------- 11: SPN-only options


@pytest.mark.parametrize("args, message", [
    (["--quant", "twn", "--tile", "2", "--stages", "full,ternary"],
     "--quant trains ternary-weight convs; --tile 2: SPN layers only"),
    (["--quant", "ttq", "--groups", "2", "--stages", "ternary"], "--groups 2: SPN layers only"),
    (["--quant", "twn", "--stages", "full"], "--quant twn with --stages full trains full-precision convs"),
    (["--tile", "7", "--groups", "5"],
     "--tile 7, --groups 5: SPN layers only, and a dense model (--r-ratio 0) has none"),
])
def test_train_refuses_options_that_would_change_nothing(fmnist, tmp_path, args, message):
    r = run_cli("train", "--data-dir", fmnist, *TINY, *args, "--out", tmp_path / "o")
    refused(r, message)
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- 12: truncated checkpoints


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_a_truncated_checkpoint_is_not_a_checkpoint(saved_run, tmp_path, fraction):
    data = (saved_run / T.CHECKPOINT).read_bytes()
    path = tmp_path / "t.pt"
    path.write_bytes(data[: int(len(data) * fraction)])
    message = f"cannot read checkpoint {path}: not a PyTorch checkpoint (damaged, truncated, or another kind"
    refused(run_cli("evaluate", path), message)
    refused(run_cli("count", "--checkpoint", path), message)


# ----------------------------------------------------------------------------- 13: model names


def test_model_names_are_stored_in_lower_case_and_compared_so_on_resume(fmnist, run, tmp_path):
    state = load_checkpoint(run / T.CHECKPOINT)
    state["args"]["model"] = "RESNET8"  # as runs stored the name typed before
    save_checkpoint(run / T.CHECKPOINT, {k: v for k, v in state.items() if k not in ("format", "version")})
    r = resume(run, "--model", "resnet8", "--stop-after", "1")
    assert_clean(r, allowed=(0,))
    r = resume(run, "--model", "ResNet8", "--stop-after", "1")
    assert_clean(r, allowed=(0,))
    out = tmp_path / "fresh"
    r = run_cli("train", "--data-dir", fmnist, *DENSE, "--model", "RESNET8", "--out", out,
                "--stop-after", "1")
    assert r.rc == 0, r.err
    assert load_checkpoint(out / T.CHECKPOINT)["args"]["model"] == "resnet8"
