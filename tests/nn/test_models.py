"""ResNets, the model registry and strassenify."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear, build_model, set_mode, strassenify, to_exact
from fastmm.nn.models import MODELS

torch.set_num_threads(1)


def _convs(model: nn.Module, cls: type = nn.Conv2d) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, cls)]


@pytest.mark.parametrize(
    "name,convs",
    [("resnet8", 7 + 2), ("resnet20", 19 + 2), ("resnet32", 31 + 2), ("resnet56", 55 + 2)],
)
def test_cifar_resnet_depth_and_projection_shortcuts(name, convs):
    with torch.device("meta"):
        model = build_model(name)
    assert len(_convs(model)) == convs  # 6n+1 convs plus two 1×1 projections (option B)
    assert [c.out_channels for c in _convs(model) if c.kernel_size == (1, 1)] == [32, 64]


@pytest.mark.parametrize("name", ["resnet8", "resnet20"])
def test_cifar_resnet_output_shape(name):
    model = build_model(name, num_classes=10, width=0.25)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_one_channel_28x28_input():
    model = build_model("resnet20", num_classes=10, in_channels=1, width=0.25)
    assert model.conv1.in_channels == 1
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name,convs", [("resnet18", 20), ("resnet34", 36)])
def test_imagenet_resnet_structure(name, convs):
    with torch.device("meta"):
        model = build_model(name, num_classes=1000)
        out = model(torch.empty(1, 3, 224, 224))
    assert out.shape == (1, 1000)
    assert len(_convs(model)) == convs
    assert model.conv1.kernel_size == (7, 7) and model.fc.in_features == 512


def test_imagenet_resnet_small_input_runs():
    model = build_model("resnet18", num_classes=7, in_channels=1, width=0.125, small_input=True)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 7)


def test_registry_names_and_errors():
    assert set(MODELS) == {
        "resnet8",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet18",
        "resnet34",
    }
    with pytest.raises(InputError, match="resnet20"):
        build_model("resnet21")
    with pytest.raises(InputError, match="small_input"):
        build_model("resnet20", small_input=True)
    with pytest.raises(InputError):
        build_model("resnet8", width=0)


def test_strassenify_converts_every_conv_and_keeps_the_classifier():
    model = build_model("resnet8", width=0.5)
    dense_convs = [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in _convs(model)]
    strassenify(model, r_ratio=2, tile=2, groups=4)
    assert _convs(model) == []
    spn = _convs(model, SPNConv2d)
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in spn] == dense_convs
    assert all(c.r == 2 * c.out_channels and c.tile == 2 for c in spn)
    assert spn[0].groups == 1  # 3 input channels: g = 4 does not divide them
    assert all(c.groups == 4 for c in spn[1:])
    assert type(model.fc) is nn.Linear
    assert model(torch.randn(2, 3, 15, 15)).shape == (2, 10)


def test_strassenify_classifier_on_request():
    model = strassenify(build_model("resnet8", width=0.25), 0.5, convert_classifier=True)
    assert isinstance(model.fc, SPNLinear) and model.fc.r == 5
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_strassenify_rejects_bad_settings():
    with pytest.raises(InputError):
        strassenify(build_model("resnet8", width=0.25), 0)
    with pytest.raises(InputError):
        strassenify(build_model("resnet8", width=0.25), 1, tile=0)


def test_three_stages_train_and_to_exact_keeps_eval_outputs():
    torch.manual_seed(0)
    model = strassenify(build_model("resnet8", in_channels=1, width=0.25), 1, tile=2)
    x, y = torch.randn(4, 1, 12, 12), torch.tensor([0, 1, 2, 3])
    for mode in ("full", "ternary", "frozen"):
        set_mode(model, mode)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    before = model(x)
    to_exact(model)
    for layer in _convs(model, SPNConv2d):
        assert set(layer.Wb.unique().tolist()) <= {-1.0, 0.0, 1.0}
        assert set(layer.Wc.unique().tolist()) <= {-1.0, 0.0, 1.0}
    torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)
