"""`fastmm train` stopped by a signal: SIGTERM and SIGHUP stop it as Ctrl-C does (the last
checkpoint kept, no temporary file left, exit 143 / 129), and a fresh run or --resume removes
the temporary files of fastmm's own atomic writes that a killed run left, and nothing else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint
from tests.nn.test_data import write_idx_dataset

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 20
ARGS = ["train", "--dataset", "fashion-mnist", "--model", "resnet8", "--width", "0.25", "--r-ratio", "1",
        "--stages", "full", "--epochs", str(EPOCHS), "--batch-size", "16", "--threads", "1", "--seed", "3"]
RUN_FILES = {T.CHECKPOINT, T.METRICS}


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fmnist")
    write_idx_dataset(directory, n_train=48, n_test=16)
    return directory


def fastmm(fmnist: Path, out: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from fastmm.cli import main; main()", *ARGS, "--data-dir", str(fmnist),
           "--out", str(out), *extra]
    return cmd, env


def start_and_signal(fmnist: Path, out: Path, sig: int) -> subprocess.Popen:
    """Start a training and send it `sig` once a few epochs are written (mid-training)."""
    cmd, env = fastmm(fmnist, out)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        metrics = out / T.METRICS
        if metrics.is_file() and metrics.read_text().count("\n") >= 2:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the training ended before the signal"
    proc.send_signal(sig)
    return proc


def epochs_written(out: Path) -> list[int]:
    return [json.loads(line)["global_epoch"] for line in (out / T.METRICS).read_text().splitlines()]


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_stop_signal_ends_training_cleanly_and_resume_completes(fmnist, tmp_path, name, code):
    out = tmp_path / "run"
    proc = start_and_signal(fmnist, out, getattr(signal, name))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1:] == ["interrupted"], err
    assert set(os.listdir(out)) == RUN_FILES  # no temporary file, no final.json
    done = load_checkpoint(out / T.CHECKPOINT)["global_epoch"]
    assert 1 <= done < EPOCHS
    cmd, env = fastmm(fmnist, out, "--resume")
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "test accuracy" in r.stdout, r.stderr
    assert r.stderr == ""
    assert set(os.listdir(out)) == RUN_FILES | {T.FINAL}
    assert epochs_written(out) == list(range(1, EPOCHS + 1))


# the exact temporary names of fastmm's atomic writes, as older versions' `save_checkpoint`
# (.last.pt.tmp<pid>) and `write_atomically` (mkstemp: .<name>.<8 of a-z 0-9 _>.tmp) make them
OURS = [f".{T.CHECKPOINT}.tmp4242", f".{T.CHECKPOINT}.tmp1", f".{T.CHECKPOINT}.ab_12cde.tmp",
        f".{T.METRICS}.k3_x9qab.tmp", f".{T.FINAL}.abcdefgh.tmp"]
# close but not ours: kept
OTHERS = [f".{T.CHECKPOINT}.tmp", f".{T.CHECKPOINT}.tmp12x", f"{T.CHECKPOINT}.tmp12",
          f".{T.CHECKPOINT}.tmp12.bak",
          f".{T.METRICS}.abc.tmp", f".{T.METRICS}.ABCDEFGH.tmp", f".{T.METRICS}.abcdefghi.tmp",
          f".{T.FINAL}.abcdefgh.tmp~", ".notes.txt.abcdefgh.tmp", "command.txt", "x.tmp"]


def plant(out: Path, outside: Path) -> None:
    for name in OURS + OTHERS:
        (out / name).write_bytes(b"partial")
    (out / f".{T.CHECKPOINT}.tmp77").mkdir()  # a directory of that name: not a file we wrote
    outside.write_text("keep me")
    (out / f".{T.METRICS}.linklink.tmp").symlink_to(outside)  # a link: not ours either


def assert_only_ours_removed(out: Path, outside: Path, run_files: set[str]) -> None:
    left = set(os.listdir(out))
    assert left == run_files | set(OTHERS) | {f".{T.CHECKPOINT}.tmp77", f".{T.METRICS}.linklink.tmp"}
    assert all((out / name).read_bytes() == b"partial" for name in OTHERS)
    assert outside.read_text() == "keep me"


def test_resume_after_a_kill_removes_only_the_temporary_files_fastmm_writes(fmnist, tmp_path):
    out = tmp_path / "run"
    proc = start_and_signal(fmnist, out, signal.SIGKILL)  # a kill leaves whatever was mid-write
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    outside = tmp_path / "outside.txt"
    plant(out, outside)
    torch.set_num_threads(1)
    cfg = T.TrainConfig(dataset="fashion-mnist", data_dir=str(fmnist), model="resnet8", width=0.25, r_ratio=1,
                        stages="full", epochs=EPOCHS, batch_size=16, threads=1, seed=3, out=str(out))
    T.train(cfg, resume=True)
    assert_only_ours_removed(out, outside, RUN_FILES | {T.FINAL})
    assert epochs_written(out) == list(range(1, EPOCHS + 1))


def test_a_fresh_run_removes_only_the_temporary_files_fastmm_writes(fmnist, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    outside = tmp_path / "outside.txt"
    plant(out, outside)  # a run killed before its first checkpoint, beside the user's own files
    torch.set_num_threads(1)
    cfg = T.TrainConfig(dataset="fashion-mnist", data_dir=str(fmnist), model="resnet8", width=0.25, r_ratio=1,
                        stages="full", epochs=1, batch_size=16, threads=1, out=str(out))
    T.train(cfg)
    assert_only_ours_removed(out, outside, RUN_FILES | {T.FINAL})
