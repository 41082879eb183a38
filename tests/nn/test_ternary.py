"""The TWN and TTQ baselines: quantizers, layers, models, counting and training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastmm.cli import main
from fastmm.errors import InputError
from fastmm.nn import build_model, set_mode
from fastmm.nn import train as T
from fastmm.nn.checkpoint import load_checkpoint
from fastmm.nn.count import compare, count_model
from fastmm.nn.ternary import TTQConv2d, TWNConv2d, ternarize, ternary_layers, ttq_quantize
from tests.nn.test_data import write_idx_dataset

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": "resnet8", "width": 0.25, "batch_size": 16, "eval_batch_size": 64, "threads": 1}


def conv_with(cls, weight: list[float]):
    """A 1×1 conv from len(weight) input channels to one output channel with this kernel."""
    layer = cls(len(weight), 1, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight).view(1, -1, 1, 1))
    layer.reset_scales()
    return layer


# ----------------------------------------------------------------------------- quantizers


def test_twn_kernel_on_a_fixed_tensor():
    # mean|W| = 0.3875, Δ = 0.27125: −0.5 and 0.9 are kept, α = (0.5 + 0.9)/2 = 0.7
    layer = conv_with(TWNConv2d, [0.1, -0.5, 0.9, 0.05])
    layer.mode = "ternary"
    assert torch.allclose(layer.kernel().flatten(), torch.tensor([0.0, -0.7, 0.7, 0.0]))
    assert layer.ternary_pattern().flatten().tolist() == [0.0, -1.0, 1.0, 0.0]
    layer.mode = "full"
    assert torch.equal(layer.kernel().flatten(), torch.tensor([0.1, -0.5, 0.9, 0.05]))


def test_twn_gradient_is_straight_through():
    layer = conv_with(TWNConv2d, [0.1, -0.5, 0.9, 0.05])
    layer.mode = "ternary"
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0])
    (layer.kernel().flatten() * upstream).sum().backward()
    assert torch.equal(layer.weight.grad.flatten(), upstream)


def test_ttq_kernel_on_a_fixed_tensor():
    # Δ = 0.05·max|W| = 0.045: 0.1, 0.9 positive, −0.5 negative, 0.02 and −0.03 zero
    w = torch.tensor([0.1, -0.5, 0.9, 0.02, -0.03])
    out = ttq_quantize(w, torch.tensor(2.0), torch.tensor(3.0))
    assert out.tolist() == [2.0, -3.0, 2.0, 0.0, 0.0]


def test_ttq_gradients_follow_the_paper():
    w = torch.tensor([0.1, -0.5, 0.9, 0.02, -0.03], requires_grad=True)
    wp = torch.tensor(2.0, requires_grad=True)
    wn = torch.tensor(3.0, requires_grad=True)
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    (ttq_quantize(w, wp, wn) * upstream).sum().backward()
    assert wp.grad.item() == (1.0 + 3.0) / 2  # Σ over the positive entries / n₊
    assert wn.grad.item() == -2.0 / 1  # −Σ over the negative entries / n₋
    # latent W: Wp·g on positives, Wn·g on negatives, g on the zeros
    assert w.grad.tolist() == [2.0, 6.0, 6.0, 4.0, 5.0]


def test_ttq_scales_start_at_the_weights_magnitudes():
    layer = conv_with(TTQConv2d, [0.1, -0.5, 0.9, 0.02, -0.3])
    assert layer.wp.item() == pytest.approx(0.5) and layer.wn.item() == pytest.approx(0.4)


def test_ttq_scales_receive_gradients_and_keep_training_when_frozen():
    torch.manual_seed(0)
    layer = TTQConv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 5, 5)
    layer.mode = "ternary"
    layer(x).square().sum().backward()
    assert layer.wp.grad.abs().item() > 0 and layer.wn.grad.abs().item() > 0
    assert layer.weight.grad.abs().sum().item() > 0
    layer.zero_grad(set_to_none=True)
    layer.mode = "frozen"
    assert not layer.weight.requires_grad
    layer(x).square().sum().backward()
    assert layer.weight.grad is None
    assert layer.wp.grad.abs().item() > 0 and layer.wn.grad.abs().item() > 0


def test_ternary_conv_computes_the_conv_of_its_kernel():
    torch.manual_seed(1)
    dense = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=True)
    x = torch.randn(2, 3, 7, 7)
    for cls in (TWNConv2d, TTQConv2d):
        layer = cls.from_conv(dense)
        assert torch.allclose(layer(x), dense(x))  # full mode: the dense conv, same weights
        layer.mode = "ternary"
        expected = F.conv2d(x, layer.kernel(), layer.bias, stride=2, padding=1)
        assert torch.allclose(layer(x), expected)
        assert len(layer.kernel().unique()) == 3  # {−α, 0, α} or {−Wn, 0, Wp}


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("quant,cls", [("twn", TWNConv2d), ("ttq", TTQConv2d)])
def test_build_model_makes_every_conv_ternary_and_keeps_the_classifier(quant, cls):
    model = build_model("resnet8", in_channels=1, width=0.25, quant=quant)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 9 and all(type(m) is cls for m in convs)  # stem, 6 3×3, 2 shortcuts
    assert type(model.fc) is nn.Linear
    set_mode(model, "frozen")
    assert all(layer.mode.value == "frozen" for layer in ternary_layers(model))


def test_unknown_quantization_is_an_input_error():
    with pytest.raises(InputError, match="unknown quantization 'bwn'"):
        build_model("resnet8", quant="bwn")
    with pytest.raises(InputError, match="twn, ttq"):
        ternarize(nn.Conv2d(1, 1, 1), "int8")


# ----------------------------------------------------------------------------- counting


def test_ternary_conv_counts_by_hand():
    layer = conv_with(TWNConv2d, [0.1, -0.5, 0.9, 0.05])  # 2 nonzeros after TWN
    (count,) = count_model(layer, (4, 3, 3)).layers
    outs = 1 * 3 * 3
    assert count.kind == "twn-conv"
    assert count.mults == 4 * outs + outs  # the paper's convention: the dense conv + BN term
    assert count.mults_factored == outs  # α folds into the BN scale
    assert count.adds_dense == 4 * outs
    assert count.adds_actual == (2 - 1) * outs + outs
    ttq = count_model(conv_with(TTQConv2d, [0.1, -0.5, 0.9, 0.02]), (4, 3, 3))
    assert ttq.layers[0].mults_factored == 2 * outs  # Wn/Wp per output + the BN term
    assert ttq.layers[0].adds_actual == (3 - 1) * outs + outs
    assert ttq.size_bits == 2 * 4 + 32 * 2  # 2-bit kernel, Wp and Wn


def test_resnet18_twn_count_is_the_papers():
    c = compare("resnet18", "imagenet", 1, quant="twn")
    assert c.spn.mults == c.full.mults == 1_816_557_056  # the paper lists TWN at 1.8e9
    assert c.spn.mults_factored == 2_483_712 + 512_000  # BN terms and the classifier
    # 11,166,912 conv weights at 2 bits; BN (9,600) and fc (513,000) at 32; 20 α at 32
    assert (c.spn.ternary_params, c.spn.full_params, c.spn.derived_scales) == (11_166_912, 522_600, 20)
    assert c.spn.size_bits == 2 * 11_166_912 + 32 * (522_600 + 20) == 39_057_664


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_cli_count_quant(capsys):
    code, out, _ = run(["count", "--model", "resnet18", "--dataset", "imagenet", "--quant", "twn"], capsys)
    assert code == 0
    assert "full precision vs TWN" in out and out.count("1,816,557,056") == 3
    assert "39,057,664" in out and "2,995,712" in out
    code, _, err = run(["count", "--model", "resnet8", "--quant", "ttq", "--r-ratio", "2"], capsys)
    assert code == 2 and "--r-ratio: SPN layers only" in err


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fmnist")
    write_idx_dataset(directory, n_train=32, n_test=20)
    return directory


@pytest.mark.parametrize("quant", ["twn", "ttq"])
def test_one_batch_train_in_each_stage(fmnist, tmp_path, quant):
    cfg = T.TrainConfig(
        dataset="fashion-mnist", data_dir=str(fmnist), quant=quant, epochs=1, lr=0.1,
        train_subset=16, out=str(tmp_path / quant), **TINY,
    )
    result = T.train(cfg)  # 16 images, batch 16: one step per stage
    rows = [json.loads(line) for line in (tmp_path / quant / T.METRICS).read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["full", "ternary", "finetune"]
    state = load_checkpoint(tmp_path / quant / T.CHECKPOINT)
    assert state["args"]["quant"] == quant
    model = T.model_from_checkpoint(state)
    assert all(layer.mode.value == "frozen" for layer in ternary_layers(model))
    ds = T.data_mod.load_dataset("fashion-mnist", str(fmnist), False)
    assert T.evaluate(model, ds)["acc"] == result["test_acc"]


def test_finetune_keeps_the_ternary_pattern_and_trains_the_ttq_scales(fmnist, tmp_path):
    common = dict(dataset="fashion-mnist", data_dir=str(fmnist), quant="ttq", lr=0.1, **TINY)
    T.train(T.TrainConfig(stages="ternary,finetune", epochs="1,2", stop_after=1, out=str(tmp_path / "a"),
                          **common))
    T.train(T.TrainConfig(stages="ternary,finetune", epochs="1,2", out=str(tmp_path / "b"), **common))
    a = T.model_from_checkpoint(load_checkpoint(tmp_path / "a" / T.CHECKPOINT))
    b = T.model_from_checkpoint(load_checkpoint(tmp_path / "b" / T.CHECKPOINT))
    pairs = list(zip(ternary_layers(a), ternary_layers(b), strict=True))
    assert all(torch.equal(la.weight, lb.weight) for la, lb in pairs)
    assert any(not torch.equal(la.wp, lb.wp) for la, lb in pairs)


@pytest.mark.parametrize("quant", ["twn", "ttq"])
def test_resume_equals_an_uninterrupted_run(fmnist, tmp_path, quant):
    common = dict(dataset="fashion-mnist", data_dir=str(fmnist), quant=quant,
                  stages="ternary,finetune", epochs="2,1", **TINY)
    T.train(T.TrainConfig(out=str(tmp_path / "straight"), **common))
    assert T.train(T.TrainConfig(out=str(tmp_path / "cut"), stop_after=1, **common))["stopped"]
    T.train(T.TrainConfig(out=str(tmp_path / "cut"), **common), resume=True)
    sa = load_checkpoint(tmp_path / "straight" / T.CHECKPOINT)["model"]
    sb = load_checkpoint(tmp_path / "cut" / T.CHECKPOINT)["model"]
    assert sa.keys() == sb.keys() and any(k.endswith(".wp") for k in sa) == (quant == "ttq")
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_quant_and_r_ratio_exclude_each_other(fmnist, tmp_path, capsys):
    argv = ["train", "--data-dir", fmnist, "--quant", "twn", "--r-ratio", "1", "--out", tmp_path / "r"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "--quant and --r-ratio exclude each other" in err


def test_torchrun_two_processes_ttq(fmnist, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "cli.py"), "train", "--data-dir", str(fmnist), "--model", "resnet8", "--width",
           "0.25", "--quant", "ttq", "--stages", "ternary,finetune", "--epochs", "1", "--batch-size",
           "16", "--threads", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load_checkpoint(out / T.CHECKPOINT)["stage_name"] == "finetune"
    assert (out / T.FINAL).exists()


@pytest.mark.parametrize("model", [5, "resnet20", None])
def test_ternarize_refuses_what_is_not_a_module(model):
    from fastmm.errors import InputError

    with pytest.raises(InputError, match="ternarize takes a torch.nn.Module"):
        ternarize(model, "twn")
