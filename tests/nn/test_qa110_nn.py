"""QA 110: half-precision TWN/TTQ scales, per-stage learning rates on resume, one run per --out,
the hidden BatchNorm after to_exact, tampered stage fields on evaluate, and the bounds of an
explicit hidden width r and of the tile."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear, set_mode, to_exact
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint, save_checkpoint
from fastmm.nn.config import MAX_TILE as CONFIG_MAX_TILE
from fastmm.nn.layers import MAX_TILE
from fastmm.nn.ternary import TTQConv2d, ttq_quantize
from fastmm.spn import twn_quantize
from tests.hostile.contract import run_cli, snapshot
from tests.nn import test_cli_bad_input
from tests.nn.test_cli_bad_input import TINY, refused

fmnist = test_cli_bad_input.fmnist  # the fixture: a tiny Fashion-MNIST folder, once per module
SPN = [*TINY, "--r-ratio", "1", "--epochs", "1"]  # the three stages, one epoch each


def _signs(n: int, dtype: torch.dtype = torch.half) -> torch.Tensor:
    """±1 of `dtype`, n of them: |W| sums to n, beyond fp16's 65504 for n > 65504."""
    return torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(dtype)


# ----------------------------------------------------------------------------- float16


def test_twn_scale_of_a_large_half_weight_is_finite():
    q, alpha = twn_quantize(_signs(70_000))  # Σ|W| = 70 000 > 65 504
    assert alpha.dtype == torch.half and alpha.item() == 1.0
    assert int(q.count_nonzero()) == 70_000


def test_half_spn_linear_stays_finite_in_ternary_mode_and_after_to_exact():
    torch.manual_seed(0)
    layer = SPNLinear(300, 256, dtype=torch.half).eval()  # Wb: 76 800 entries
    with torch.no_grad():
        layer.Wb.copy_(_signs(layer.Wb.numel()).view_as(layer.Wb))
    set_mode(layer, "ternary")
    x = torch.randn(4, 300, dtype=torch.half)
    y = layer(x)
    assert torch.isfinite(y).all()
    to_exact(layer)
    assert torch.isfinite(layer.a_tilde).all() and torch.isfinite(layer(x)).all()


def test_ttq_scales_and_their_gradients_of_a_large_half_kernel_are_finite():
    conv = TTQConv2d(64, 128, 3, dtype=torch.half)  # 73 728 entries
    with torch.no_grad():
        conv.weight.copy_(_signs(conv.weight.numel()).view_as(conv.weight))
    conv.reset_scales()
    assert (conv.wp.item(), conv.wn.item()) == (1.0, 1.0)
    w = torch.ones(70_000, dtype=torch.half)
    wp = torch.ones((), dtype=torch.half, requires_grad=True)
    wn = torch.ones((), dtype=torch.half, requires_grad=True)
    ttq_quantize(w, wp, wn).sum().backward()
    assert wp.grad.item() == 1.0  # the mean of the gradient over the 70 000 positive entries


# ----------------------------------------------------------------------------- learning rates


@pytest.mark.parametrize("lr, lrs", [(0.1, [0.1, 0.01, 0.001]), (0.3, [0.3, 0.03, 0.003]),
                                     (0.05, [0.05, 0.005, 0.0005])])
def test_one_lr_becomes_per_stage_values_as_typed(tmp_path, lr, lrs):
    cfg = T.validate(T.TrainConfig(r_ratio=1.0, lr=lr, out=str(tmp_path / "run")))
    assert cfg.lr == lrs  # exactly: 0.1 * 0.1 would be 0.010000000000000002


@pytest.fixture(scope="module")
def spn_run(fmnist, tmp_path_factory) -> Path:
    """An SPN run with the default --lr 0.1, stopped after its first epoch."""
    return test_cli_bad_input.stopped_after_one_epoch(fmnist, tmp_path_factory, SPN)


def _copy(run: Path, tmp_path: Path, tamper: Callable[[dict], None] = lambda s: None) -> Path:
    """A copy of `run` whose checkpoint `tamper` changed (written as `fastmm train` writes one)."""
    copied = Path(shutil.copytree(run, tmp_path / "run"))
    state = load_checkpoint(copied / T.CHECKPOINT)
    tamper(state)
    save_checkpoint(copied / T.CHECKPOINT, {k: v for k, v in state.items() if k not in ("format", "version")})
    return copied


def test_resume_takes_the_per_stage_lrs_of_one_lr_typed_out(spn_run, tmp_path):
    run = _copy(spn_run, tmp_path)
    r = run_cli("train", "--resume", "--out", run, "--lr", "0.1,0.01,0.001", "--stop-after", "2")
    assert r.rc == 0, r.err
    assert load_checkpoint(run / T.CHECKPOINT)["global_epoch"] == 2


@pytest.mark.parametrize("lr", ["0.1,0.01,0.001", "0.1"])
def test_an_older_run_that_stored_rounded_lrs_still_resumes(spn_run, tmp_path, lr):
    # what fastmm stored before it divided: 0.1 * 0.1 and 0.1 * 0.01
    run = _copy(spn_run, tmp_path, lambda s: s["args"].update(lr=[0.1, 0.1 * 0.1, 0.1 * 0.01]))
    assert load_checkpoint(run / T.CHECKPOINT)["args"]["lr"][1] == 0.010000000000000002
    r = run_cli("train", "--resume", "--out", run, "--lr", lr, "--stop-after", "2")
    assert r.rc == 0, r.err


def test_resume_still_refuses_another_lr(spn_run, tmp_path):
    run = _copy(spn_run, tmp_path)
    refused(run_cli("train", "--resume", "--out", run, "--lr", "0.1,0.0100001,0.001"),
            "these differ: lr=[0.1, 0.0100001, 0.001] (saved run: [0.1, 0.01, 0.001])")


# ----------------------------------------------------------------------------- one run per --out


def _hold(directory: Path) -> int:
    """Lock `directory` as a running `fastmm train` does; the fd to close."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_second_train_into_a_busy_out_is_refused(fmnist, spn_run, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    fd = _hold(out)
    try:
        refused(run_cli("train", "--data-dir", fmnist, *SPN, "--out", out),
                f"another fastmm train is using {out}; wait for it to end or give another --out")
        assert not any(out.iterdir())
        run = _copy(spn_run, tmp_path)
        before = snapshot(run)
        fd2 = _hold(run)
        try:
            refused(run_cli("train", "--resume", "--out", run), f"another fastmm train is using {run}")
        finally:
            os.close(fd2)
        assert snapshot(run) == before
    finally:
        os.close(fd)
    r = run_cli("train", "--data-dir", fmnist, *SPN, "--out", out, "--stop-after", "1")  # free again
    assert r.rc == 0, r.err


def test_a_run_holds_its_out_while_it_trains(fmnist, tmp_path, monkeypatch):
    out = tmp_path / "a" / "run"
    seen = []

    def probe(cfg, resume, given):
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        seen.append(cfg.out)
        raise InputError("stop here")

    monkeypatch.setattr(T, "_locked_train", probe)
    with pytest.raises(InputError, match="stop here"):
        T.train(T.TrainConfig(data_dir=str(fmnist), out=str(out), stages=["full"]))
    assert seen == [str(out)]
    assert not (tmp_path / "a").exists()  # a run that wrote nothing leaves no directory behind


def test_only_rank_0_of_a_torchrun_takes_the_lock(tmp_path, monkeypatch):
    fd = _hold(tmp_path)
    try:
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", "1")
        with T._run_lock(str(tmp_path)):
            pass
        monkeypatch.setenv("RANK", "0")
        with pytest.raises(InputError, match="another fastmm train is using"), T._run_lock(str(tmp_path)):
            pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- to_exact


@pytest.mark.parametrize("make, shape", [
    (lambda: SPNConv2d(4, 6, 3, padding=1, tile=2), (8, 4, 11, 11)),
    (lambda: SPNLinear(5, 3), (8, 5)),
])
def test_a_training_forward_after_to_exact_leaves_eval_outputs_as_they_were(make, shape):
    torch.manual_seed(1)
    layer = make()
    set_mode(layer, "ternary")
    layer.train()
    for _ in range(5):
        layer(torch.randn(*shape))
    x = torch.randn(2, *shape[1:])
    layer.eval()
    before = layer(x)
    to_exact(layer)
    exact = layer(x)
    torch.testing.assert_close(exact, before, rtol=1e-4, atol=1e-5)
    layer.train()
    layer(torch.randn(*shape))  # fine-tuning ã and β: the folded BatchNorm stays folded
    layer(torch.randn(1, *shape[1:]))  # and one sample is a batch like any other
    layer.eval()
    torch.testing.assert_close(layer(x), exact)


def test_a_state_dict_saved_after_to_exact_loads_into_either_layer():
    torch.manual_seed(2)
    exact = to_exact(SPNConv2d(4, 6, 3, padding=1).eval())
    fresh = SPNConv2d(4, 6, 3, padding=1).eval()
    state = exact.state_dict()
    assert state.keys() == fresh.state_dict().keys()
    fresh.load_state_dict(state)
    x = torch.randn(2, 4, 7, 7)
    set_mode(fresh, "frozen")
    torch.testing.assert_close(fresh(x), exact(x))
    exact.load_state_dict(SPNConv2d(4, 6, 3, padding=1).state_dict())  # and back
    to_exact(to_exact(SPNLinear(5, 3)))  # folding twice is folding once


# ----------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def finished_run(fmnist, tmp_path_factory) -> Path:
    """An SPN run of one epoch per stage, finished at its stage 'finetune'."""
    out = tmp_path_factory.mktemp("finished") / "run"
    r = run_cli("train", "--data-dir", fmnist, *SPN, "--out", out)
    assert r.rc == 0, r.err
    return out


@pytest.mark.parametrize("tamper, message", [
    (lambda s: s.update(stage_name="full", stage=1), "is at epoch 1 of stage 1, 2 epochs into its run, but "
     "counts 3"),
    (lambda s: s.update(stage_name="full"), "is at stage 2 of its run ('finetune') but names it 'full'"),
    (lambda s: s.update(stage=5), "is at stage 5, epoch 1: not a point of its run"),
    (lambda s: s.update(epoch=-3), "is at stage 2, epoch -3: not a point of its run"),
    (lambda s: s.update(global_epoch=10**9), "but counts 1000000000"),
    (lambda s: s.update(stage="2"), "field 'stage' has the wrong type (str)"),
    (lambda s: s.pop("global_epoch"), "lacks 'global_epoch': cannot rebuild its model"),
    (lambda s: s["args"].update(stages=["finetune", "full"]), "has unusable args: --stages must keep the "
     "order"),
])
def test_evaluate_refuses_tampered_stage_fields_as_resume_does(finished_run, tmp_path, tamper, message):
    run = _copy(finished_run, tmp_path, tamper)
    refused(run_cli("evaluate", run / T.CHECKPOINT), message)


def test_model_from_checkpoint_refuses_a_stage_of_another_type(finished_run):
    state = load_checkpoint(finished_run / T.CHECKPOINT)
    state["stage"] = "2"  # not through load_checkpoint, which checks the type itself
    with pytest.raises(InputError, match="is at stage '2', epoch 1: not a point of its run"):
        T.model_from_checkpoint(state, "ckpt")


def test_evaluate_of_an_untampered_copy_goes_on(finished_run, tmp_path):
    r = run_cli("evaluate", _copy(finished_run, tmp_path) / T.CHECKPOINT)
    assert r.rc == 0 and "finetune" in r.out, r.err


# ----------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("make, message", [
    (lambda: SPNLinear(5, 3, r=10**12), "hidden width r must be in 1..192 (64·3 outputs), got 1000000000000"),
    (lambda: SPNLinear(5, 3, r=193), "hidden width r must be in 1..192"),
    (lambda: SPNLinear(5, 3, r=0), "hidden width r must be in 1..192"),
    (lambda: SPNConv2d(4, 6, 3, r=10**12), "hidden width r must be in 1..384 (64·6 outputs)"),
    (lambda: SPNConv2d(4, 6, 3, groups=4, r=6), "hidden width r=6 must be a multiple of groups=4"),
    (lambda: SPNConv2d(4, 6, 3, tile=10**6), "tile must be an integer in 1..64, got 1000000"),
    (lambda: SPNConv2d(4, 6, 3, tile=65), "tile must be an integer in 1..64, got 65"),
    (lambda: SPNConv2d(4, 6, 3, tile=0), "tile must be an integer in 1..64, got 0"),
])
def test_explicit_r_and_tile_beyond_their_bounds_are_one_input_error(make, message):
    with pytest.raises(InputError) as exc:
        make()
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_r_and_tile_at_their_bounds_are_built():
    assert SPNLinear(5, 3, r=192).r == 192
    assert SPNConv2d(4, 6, 3, r=384, tile=MAX_TILE).tile == 64
    assert CONFIG_MAX_TILE is MAX_TILE  # the command line's bound is the layer's
