"""Staged training, KD, checkpoints and resume, torchrun, and the train/evaluate commands."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastmm.cli import main
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint
from fastmm.nn.distill import kd_loss
from tests.nn.test_data import write_cifar_dataset, write_idx_dataset, write_imagenet_dataset

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": "resnet8", "width": 0.25, "batch_size": 16, "eval_batch_size": 64, "threads": 1}


def run_cli(args, capsys):
    """Run `fastmm ARGS` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop what earlier steps printed
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fmnist")
    write_idx_dataset(directory, n_train=64, n_test=30)
    return directory


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / T.METRICS).read_text().splitlines()]


def assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a / T.CHECKPOINT), load_checkpoint(b / T.CHECKPOINT)
    assert sa["model"].keys() == sb["model"].keys()
    for key in sa["model"]:
        assert torch.equal(sa["model"][key], sb["model"][key]), key
    assert sa["global_epoch"] == sb["global_epoch"]


# ----------------------------------------------------------------------------- KD loss


def test_kd_loss_on_hand_values():
    student = torch.tensor([[1.0, 0.0]])
    teacher = torch.tensor([[0.0, 1.0]])
    y = torch.tensor([0])
    hard = math.log(1 + math.exp(-1))  # −log softmax([1, 0])[0]
    # T = 2: q = softmax([0, .5]), p = softmax([.5, 0]); KL(q‖p) = Σ q (log q − log p)
    q = [1 / (1 + math.exp(0.5)), 1 / (1 + math.exp(-0.5))]
    p = q[::-1]
    kl = sum(qi * (math.log(qi) - math.log(pi)) for qi, pi in zip(q, p, strict=True))
    expected = 0.5 * hard + 0.5 * 4 * kl
    assert kd_loss(student, y, teacher, 0.5, 2.0).item() == pytest.approx(expected, rel=1e-6)
    assert kd_loss(student, y, teacher, 0.0, 2.0).item() == pytest.approx(hard, rel=1e-6)
    # T = 1: q = softmax([0, 1]), p = softmax([1, 0]): KL = (q1 − q0)·1
    q0, q1 = 1 / (1 + math.e), math.e / (1 + math.e)
    assert kd_loss(student, y, teacher, 0.3, 1.0).item() == pytest.approx(
        0.7 * hard + 0.3 * (q1 - q0), rel=1e-6
    )


def test_kd_loss_is_zero_when_the_student_matches_the_teacher():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 1])
    assert kd_loss(logits, y, logits.clone(), 1.0, 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_has_the_gradients_of_the_cross_entropy_form():
    from fastmm.nn.distill import soft_cross_entropy

    torch.manual_seed(3)
    teacher, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    student = torch.randn(5, 4, requires_grad=True)
    kd_loss(student, y, teacher, 0.4, 4.0).backward()
    kl_grad = student.grad.clone()
    student.grad = None
    ce_form = 0.6 * torch.nn.functional.cross_entropy(student, y) + 0.4 * 16 * soft_cross_entropy(
        torch.softmax(teacher / 4, dim=1), student / 4
    )
    ce_form.backward()
    assert torch.allclose(kl_grad, student.grad, atol=1e-7)


def test_kd_loss_has_no_teacher_gradient():
    teacher = torch.randn(3, 4, requires_grad=True)
    student = torch.randn(3, 4, requires_grad=True)
    kd_loss(student, torch.tensor([0, 1, 2]), teacher).backward()
    assert teacher.grad is None and student.grad is not None


# ----------------------------------------------------------------------------- training


def test_staged_spn_training_lowers_the_loss(fmnist, tmp_path):
    cfg = T.TrainConfig(
        dataset="fashion-mnist",
        data_dir=str(fmnist),
        r_ratio=1.0,
        epochs="4,2,1",
        lr=0.1,
        out=str(tmp_path / "run"),
        **TINY,
    )
    result = T.train(cfg)
    rows = metrics(tmp_path / "run")
    assert [r["stage"] for r in rows] == ["full"] * 4 + ["ternary"] * 2 + ["finetune"]
    assert [r["lr"] for r in rows if r["epoch"] == 1] == pytest.approx([0.1, 0.01, 0.001])
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    final = json.loads((tmp_path / "run" / T.FINAL).read_text())
    assert final["test_acc"] == result["test_acc"] == rows[-1]["test_acc"]
    state = torch.load(tmp_path / "run" / T.CHECKPOINT, weights_only=True)
    assert {"model", "optimizer", "scheduler", "stage", "epoch", "rng", "args"} <= state.keys()
    assert state["stage_name"] == "finetune" and state["args"]["epochs"] == [4, 2, 1]


def test_finetune_stage_keeps_ternary_weights_fixed(fmnist, tmp_path):
    from fastmm.nn.layers import spn_layers

    common = dict(dataset="mnist", data_dir=str(fmnist), r_ratio=0.5, lr=0.1, **TINY)
    T.train(T.TrainConfig(epochs="1,1,2", stop_after=2, out=str(tmp_path / "a"), **common))
    T.train(T.TrainConfig(epochs="1,1,2", out=str(tmp_path / "b"), **common))
    a = T.model_from_checkpoint(load_checkpoint(tmp_path / "a" / T.CHECKPOINT))
    b = T.model_from_checkpoint(load_checkpoint(tmp_path / "b" / T.CHECKPOINT))
    for la, lb in zip(spn_layers(a), spn_layers(b), strict=True):
        assert torch.equal(la.weights()[0], lb.weights()[0])  # ternary Wb unchanged
        assert torch.equal(la.weights()[1], lb.weights()[1])
    assert any(
        not torch.equal(la.a_tilde, lb.a_tilde)
        for la, lb in zip(spn_layers(a), spn_layers(b), strict=True)
    )


def test_cifar10_training_lowers_the_loss(tmp_path):
    write_cifar_dataset(tmp_path / "c", per_batch=16, n_test=20)
    cfg = T.TrainConfig(
        dataset="cifar10",
        data_dir=str(tmp_path / "c"),
        stages="full",
        epochs=5,
        lr=0.05,
        out=str(tmp_path / "run"),
        **TINY,
    )
    T.train(cfg)
    rows = metrics(tmp_path / "run")
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_imagenet_training_lowers_the_loss(tmp_path):
    write_imagenet_dataset(tmp_path / "i", per_class=8, size=(36, 36))
    cfg = T.TrainConfig(
        dataset="imagenet",
        data_dir=str(tmp_path / "i"),
        stages="full",
        epochs=5,
        lr=0.05,
        out=str(tmp_path / "run"),
        image_size=32,
        **{**TINY, "model": "resnet18", "width": 0.125},
    )
    T.train(cfg)
    rows = metrics(tmp_path / "run")
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert "test_top5" not in rows[-1]  # 3 classes: no top-5


def test_resume_equals_an_uninterrupted_run_bit_for_bit(fmnist, tmp_path):
    common = dict(
        dataset="fashion-mnist", data_dir=str(fmnist), r_ratio=1.0, tile=2, epochs="2,2,1", **TINY
    )
    T.train(T.TrainConfig(out=str(tmp_path / "straight"), **common))
    # interrupted mid-stage (after epoch 1 of full), then mid-ternary (after epoch 3)
    assert T.train(T.TrainConfig(out=str(tmp_path / "cut"), stop_after=1, **common))["stopped"]
    assert (
        T.train(T.TrainConfig(out=str(tmp_path / "cut"), stop_after=3, **common), resume=True)[
            "global_epoch"
        ]
        == 3
    )
    T.train(T.TrainConfig(out=str(tmp_path / "cut"), **common), resume=True)
    assert_same_weights(tmp_path / "straight", tmp_path / "cut")
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in metrics(tmp_path / "cut")]
    assert strip == [
        {k: v for k, v in r.items() if k != "seconds"} for r in metrics(tmp_path / "straight")
    ]


def test_resume_after_sigkill(fmnist, tmp_path):
    args = [
        "train",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        fmnist,
        "--model",
        "resnet8",
        "--width",
        "0.25",
        "--r-ratio",
        "1",
        "--epochs",
        "3,2,1",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--seed",
        "5",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    code = "from fastmm.cli import main; main()"
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args), "--out", killed],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (killed / T.CHECKPOINT).exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (killed / T.CHECKPOINT).exists()
    assert load_checkpoint(killed / T.CHECKPOINT)["global_epoch"] >= 1
    cfg = dict(
        dataset="fashion-mnist", data_dir=str(fmnist), r_ratio=1.0, epochs="3,2,1", seed=5, **TINY
    )
    T.train(T.TrainConfig(out=str(killed), **cfg), resume=True)
    T.train(T.TrainConfig(out=str(tmp_path / "straight"), **cfg))
    assert_same_weights(killed, tmp_path / "straight")
    assert [r["global_epoch"] for r in metrics(killed)] == [1, 2, 3, 4, 5, 6]


def test_knowledge_distillation_from_a_dense_teacher(fmnist, tmp_path, capsys):
    T.train(
        T.TrainConfig(
            dataset="fashion-mnist",
            data_dir=str(fmnist),
            stages="full",
            epochs=2,
            out=str(tmp_path / "teacher"),
            **TINY,
        )
    )
    teacher = tmp_path / "teacher" / T.CHECKPOINT
    code, out, err = run_cli(
        [
            "train",
            "--data-dir",
            fmnist,
            "--model",
            "resnet8",
            "--width",
            "0.25",
            "--r-ratio",
            "0.5",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--kd-teacher",
            teacher,
            "--kd-lambda",
            "0.7",
            "--kd-temp",
            "2",
            "--out",
            tmp_path / "student",
        ],
        capsys,
    )
    assert code == 0, err
    assert "test accuracy" in out
    args = load_checkpoint(tmp_path / "student" / T.CHECKPOINT)["args"]
    assert args["kd_teacher"] == str(teacher) and args["kd_lambda"] == 0.7


def test_evaluate_reports_the_final_accuracy(fmnist, tmp_path, capsys):
    T.train(
        T.TrainConfig(
            dataset="fashion-mnist",
            data_dir=str(fmnist),
            r_ratio=1.0,
            epochs="1,1,1",
            out=str(tmp_path / "run"),
            **TINY,
        )
    )
    final = json.loads((tmp_path / "run" / T.FINAL).read_text())
    code, out, _ = run_cli(["evaluate", tmp_path / "run" / T.CHECKPOINT, "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["acc"] == pytest.approx(final["test_acc"]) and result["count"] == 30
    code, out, _ = run_cli(["evaluate", tmp_path / "run" / T.CHECKPOINT], capsys)
    assert code == 0 and "accuracy" in out and "finetune" in out


def test_torchrun_two_processes_gloo(fmnist, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(ROOT / "cli.py"),
        "train",
        "--data-dir",
        str(fmnist),
        "--model",
        "resnet8",
        "--width",
        "0.25",
        "--r-ratio",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "ddp"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("test accuracy") == 1, proc.stdout  # QA-138: once per rank before
    rows = metrics(tmp_path / "ddp")
    assert [r["stage"] for r in rows] == ["full", "ternary", "finetune"]
    assert (tmp_path / "ddp" / T.FINAL).exists()
    assert load_checkpoint(tmp_path / "ddp" / T.CHECKPOINT)["stage_name"] == "finetune"


def test_torchrun_ttq_trains_every_stage_and_reports_the_saved_models_accuracy(fmnist, tmp_path, capsys):
    """QA-140: TTQ's unused scales in stage full stopped DDP at its first step, and each rank scored
    its share of the test set with its own BatchNorm statistics, not the ones last.pt saves."""
    from fastmm.nn.train import evaluate_checkpoint

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "cli.py"), "train", "--data-dir", str(fmnist), "--model", "resnet8", "--width", "0.25",
           "--quant", "ttq", "--epochs", "1,1,1", "--batch-size", "16", "--threads", "1",
           "--out", str(tmp_path / "ttq")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["stage"] for r in metrics(tmp_path / "ttq")] == ["full", "ternary", "finetune"]
    final = json.loads((tmp_path / "ttq" / T.FINAL).read_text())
    again = evaluate_checkpoint(str(tmp_path / "ttq" / T.CHECKPOINT))
    assert again["loss"] == pytest.approx(final["test_loss"], rel=1e-6)  # summed in another order
    assert again["acc"] == final["test_acc"]


@pytest.mark.parametrize("extra, message", [
    ({"batch_size": 15}, "--batch-size 15 does not split evenly over 2 processes: give a multiple of 2"),
    ({"train_subset": 1}, "1 training image(s) for 2 processes: each process needs at least one"),
])
def test_two_ranks_refuse_a_batch_they_cannot_share(fmnist, tmp_path, monkeypatch, extra, message):
    """QA-140: 33 over two ranks trained with 32, 3 with 2; one image left a rank an empty epoch."""
    from fastmm.errors import InputError
    from fastmm.nn.distributed import Dist

    monkeypatch.setattr(T, "init_distributed", lambda device: Dist(0, 2))
    cfg = T.TrainConfig(dataset="fashion-mnist", data_dir=str(fmnist), epochs="1", stages="full",
                        out=str(tmp_path / "run"), **{**TINY, **extra})
    with pytest.raises(InputError) as err:
        T.train(cfg)
    assert message in str(err.value)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "1,2"], "--epochs has 2 values for 3 stages"),
        (["--stages", "full,bogus"], "--stages must be a comma list"),
        (["--stages", "finetune,full"], "keep the order"),
        (["--lr", "-1"], "--lr must be positive"),
        (["--lr", "fast"], "--lr must be a number"),
        (["--r-ratio", "-1"], "--r-ratio must be"),
        (["--model", "vgg11"], "vgg11"),
        (["--kd-teacher", "/nonexistent/t.pt"], "--kd-teacher: checkpoint not found"),
        (["--kd-lambda", "2"], "--kd-lambda must be in [0, 1]"),
        (["--eval-every", "-1"], "--eval-every"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(fmnist, tmp_path, capsys, extra, message):
    args = ["train", "--data-dir", fmnist, "--r-ratio", "1", "--out", tmp_path / "r", *extra]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_dense_model_with_ternary_stages_is_refused(fmnist, tmp_path, capsys):
    code, _, err = run_cli(
        ["train", "--data-dir", fmnist, "--stages", "full,ternary", "--out", tmp_path / "r"], capsys
    )
    assert code == 2 and "--stages full" in err


def test_missing_fashion_mnist_data_exit_2(tmp_path, capsys):
    code, _, err = run_cli(
        ["train", "--data-dir", tmp_path / "none", "--out", tmp_path / "r"], capsys
    )
    assert code == 2
    assert str(tmp_path / "none") in err and "apt-get install dataset-fashion-mnist" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "dataset, hint",
    [
        ("cifar10", "data_batch_1"),
        ("imagenet", "train/<class>"),
        ("mnist", "t10k-labels-idx1-ubyte"),
    ],
)
def test_missing_data_for_each_dataset(tmp_path, capsys, dataset, hint):
    code, _, err = run_cli(
        ["train", "--dataset", dataset, "--data-dir", tmp_path, "--out", tmp_path / "r"], capsys
    )
    assert code == 2 and hint in err and str(tmp_path) in err and err.count("\n") == 1


def test_unknown_dataset_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_cli(["train", "--dataset", "svhn", "--out", tmp_path / "r"], capsys)
    assert code == 2 and "svhn" in err


def test_existing_run_needs_resume(fmnist, tmp_path, capsys):
    T.train(
        T.TrainConfig(
            data_dir=str(fmnist), stages="full", epochs=1, out=str(tmp_path / "r"), **TINY
        )
    )
    code, _, err = run_cli(["train", "--data-dir", fmnist, "--out", tmp_path / "r"], capsys)
    assert code == 2 and "--resume" in err


def test_cli_resume_needs_only_the_run_directory(fmnist, tmp_path, capsys):
    """`fastmm train --resume --out RUN`: the saved run's settings (StrassenNet stages, epochs,
    data) hold for everything not typed again; a typed option that differs is still refused."""
    run = tmp_path / "spn"
    first = ["train", "--data-dir", fmnist, "--model", "resnet8", "--width", "0.25", "--r-ratio", "1",
             "--epochs", "1,2,1", "--batch-size", "16", "--threads", "1", "--out", run]
    code, out, err = run_cli([*first, "--stop-after", "1"], capsys)
    assert code == 0, err
    assert "continue with --resume" in out
    code, out, err = run_cli(["train", "--resume", "--out", run, "--epochs", "3"], capsys)
    assert code == 2 and "epochs=[3, 3, 3] (saved run: [1, 2, 1])" in err
    code, out, err = run_cli(["train", "--resume", "--out", run, "--threads", "1"], capsys)
    assert code == 0, err
    assert "test accuracy" in out
    stages = [json.loads(x)["stage"] for x in (run / "metrics.jsonl").read_text().splitlines()
              if "stage" in json.loads(x)]
    assert sorted(set(stages)) == ["finetune", "full", "ternary"]


def test_cuda_unavailable_is_a_usage_error(fmnist, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, _, err = run_cli(
        ["train", "--data-dir", fmnist, "--device", "cuda", "--out", tmp_path / "r"], capsys
    )
    assert code == 2 and "no CUDA device" in err


def test_evaluate_missing_or_foreign_checkpoint(tmp_path, capsys):
    code, _, err = run_cli(["evaluate", tmp_path / "missing.pt"], capsys)
    assert code == 2 and "checkpoint not found" in err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    code, _, err = run_cli(["evaluate", tmp_path / "junk.pt"], capsys)
    assert code == 2 and "cannot read checkpoint" in err and err.count("\n") == 1
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    code, _, err = run_cli(["evaluate", tmp_path / "other.pt"], capsys)
    assert code == 2 and "not a fastmm training checkpoint" in err


def test_cli_import_does_not_load_torch():
    code = "import sys, fastmm.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_resume_with_other_settings_is_refused_not_ignored(fmnist, tmp_path):
    from fastmm.errors import InputError

    common = dict(dataset="fashion-mnist", data_dir=str(fmnist), r_ratio=1.0, tile=1, epochs="1,1,1",
                  **TINY)
    assert T.train(T.TrainConfig(out=str(tmp_path / "run"), stop_after=1, **common))["stopped"]
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(InputError, match=r"these differ: lr=\[0\.5, 0\.05, 0\.005\] \(saved run: \[0\.1, "):
        T.train(T.TrainConfig(out=str(tmp_path / "run"), **{**common, "lr": "0.5"}), resume=True)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before  # the run was left as it was
