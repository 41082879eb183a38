"""Counting multiplications, additions and size; the `fastmm count` command."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastmm.cli import main
from fastmm.nn import SPNConv2d, SPNLinear, build_model, strassenify
from fastmm.nn.count import compare, count_model

torch.set_num_threads(1)


def test_resnet18_sum_of_outputs_matches_the_paper():
    assert compare("resnet18", "imagenet", 1).full.sum_out == 2_483_712


@pytest.mark.parametrize(
    "r_ratio,paper,exact",
    [(4, 5.48e6, 5_479_424), (2, 4.24e6, 4_237_568)],
)
def test_resnet18_strassennet_multiplications_match_the_paper(r_ratio, paper, exact):
    c = compare("resnet18", "imagenet", r_ratio, tile=2)
    assert c.spn.mults == exact
    assert c.spn.mults == pytest.approx(paper, rel=1e-3)


def test_resnet18_full_precision_multiplications_match_the_paper():
    c = compare("resnet18", "imagenet", 4, tile=2)
    assert c.full.mults == 1_813_561_344 + 2_483_712 + 512_000
    assert c.full.mults == pytest.approx(1.8167e9, rel=1e-3)
    assert c.spn.mults / c.full.mults == pytest.approx(1 - 0.9970, abs=5e-5)  # paper: −99.70%


def test_dense_conv_and_linear_counts():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 36, 5))
    c = count_model(model, (3, 6, 6))
    conv, fc = c.layers
    assert (conv.mults, conv.adds_dense) == (27 * 288 + 288, 27 * 288)
    assert (fc.mults, fc.adds_dense) == (288 * 5, 288 * 5)  # (in − 1) + bias per output
    assert c.size_bits == 32 * (8 * 27 + 8 + 288 * 5 + 5)


def test_spn_conv_counts_by_hand():
    layer = SPNConv2d(2, 4, 3, padding=1, bias=False, r=4, tile=2)
    with torch.no_grad():
        layer.Wb.zero_()
        for j in range(4):  # hidden channel j has j + 1 nonzeros: j additions per position
            layer.Wb.view(4, -1)[j, : j + 1] = torch.tensor([1.0, -1.0, 1.0, -1.0])[: j + 1]
        layer.Wc.zero_()
        layer.Wc[:, :2] = 1.0  # every output sums 2 hidden units: 1 addition
    c = count_model(layer, (2, 5, 5))  # output 4×5×5, 3×3 tiles of 2×2
    (count,) = c.layers
    assert count.mults == 100 + 4 * 25 / 4  # (1 + (r/c_out)/p²)·c_out·H·W
    assert count.mults_executed == 100 + 4 * 9
    assert count.adds_dense == 4 * 9 * (2 * 16) + 100 * 4
    assert count.adds_actual == (0 + 1 + 2 + 3) * 9 + 4 * 9 + 1 * 100 + 100
    assert c.size_bits == 2 * (4 * 2 * 16 + 4 * 4 * 4) + 32 * (4 + 4)


def test_spn_linear_counts():
    layer = SPNLinear(6, 3, r=4)
    count = count_model(layer, (6,)).layers[0]
    assert count.mults == 4
    assert count.adds_dense == 4 * 6 + 3 * (4 - 1 + 1)
    assert count.adds_actual <= count.adds_dense


def test_actual_additions_only_with_real_weights():
    with torch.device("meta"):
        meta = strassenify(build_model("resnet8", width=0.25), 1)
    assert count_model(meta, (3, 32, 32)).adds_actual is None
    real = count_model(strassenify(build_model("resnet8", width=0.25), 1), (3, 32, 32))
    assert 0 < real.adds_actual < real.adds_dense


# ----------------------------------------------------------------------------- command line


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_cli_count_resnet18(capsys):
    argv = ["count", "--model", "resnet18", "--dataset", "imagenet", "--r-ratio", "2", "--tile", "2"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert "1,816,557,056" in out and "4,237,568" in out
    assert "model size" in out and "additions (dense upper bound)" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model", "resnet99"], "unknown model"),
        (["--model", "resnet8", "--dataset", "svhn"], "unknown dataset"),
        (["--model", "resnet8", "--r-ratio", "0"], "--r-ratio"),
        (["--model", "resnet8", "--r-ratio", "-1"], "--r-ratio"),
        (["--model", "resnet8", "--r-ratio", "inf"], "--r-ratio"),
        (["--model", "resnet8", "--tile", "0"], "--tile"),
        (["--model", "resnet8", "--groups", "0"], "--groups"),
        (["--model", "resnet8", "--checkpoint", "/nonexistent/ckpt.pt"], "not found"),
        ([], "--model"),
    ],
)
def test_cli_count_bad_arguments_exit_2_with_one_line(args, message, capsys):
    code, _, err = run(["count", *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def _checkpoint(tmp_path, r_ratio=0.5, wrap=True):
    torch.manual_seed(0)
    model = strassenify(build_model("resnet8", in_channels=1, width=0.25), r_ratio)
    path = tmp_path / "ckpt.pt"
    if wrap:
        args = {"model": "resnet8", "dataset": "fashion-mnist", "r_ratio": r_ratio, "width": 0.25}
        state = {"model": model.state_dict(), "args": args, "num_classes": 10, "in_channels": 1}
    else:
        state = model.state_dict()
    torch.save(state, path)
    return str(path)


def test_cli_count_checkpoint_counts_actual_additions(tmp_path, capsys):
    code, out, _ = run(["count", "--checkpoint", _checkpoint(tmp_path)], capsys)
    assert code == 0
    assert "ternary nonzeros" in out and "resnet8 on fashion-mnist" in out


def test_cli_count_plain_state_dict(tmp_path, capsys):
    path = _checkpoint(tmp_path, wrap=False)
    argv = ["count", "--model", "resnet8", "--dataset", "mnist", "--r-ratio", "0.5", "--width", "0.25"]
    code, out, _ = run([*argv, "--checkpoint", path], capsys)
    assert code == 0 and "ternary nonzeros" in out


def test_cli_count_mismatched_or_damaged_checkpoint(tmp_path, capsys):
    path = _checkpoint(tmp_path)
    code, _, err = run(["count", "--checkpoint", path, "--r-ratio", "2"], capsys)
    assert code == 2 and "contradicts checkpoint" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = run(["count", "--model", "resnet8", "--checkpoint", str(bad)], capsys)
    assert code == 2 and "cannot read checkpoint" in err
