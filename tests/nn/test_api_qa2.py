"""QA round 2 of fastmm.nn: wrong arguments get InputError (not a bare AttributeError or
TypeError from deep inside), and the SPN layers take the inputs nn.Conv2d / nn.Linear take."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fastmm.nn
from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear, build_model, strassenify


@pytest.mark.parametrize("call, message", [
    (lambda: strassenify(5, 1.0), "strassenify takes a torch.nn.Module, not int"),
    (lambda: strassenify(nn.Sequential(), float("inf")), "r-ratio must be a number in (0, 64], got inf"),
    (lambda: build_model("resnet18", "cifar10"), "num_classes must be an integer, got 'cifar10'"),
    (lambda: build_model("resnet8", 10, 3.0), "in_channels must be an integer, got 3.0"),
    (lambda: build_model("resnet8", True), "num_classes must be an integer, got True"),
    (lambda: build_model("resnet8", width="1"), "width must be a number, got '1'"),
    (lambda: build_model("resnet8", width=float("inf")), "width a finite number > 0"),
    (lambda: build_model("resnet18", small_input="yes"), "small_input must be True or False, got 'yes'"),
])
def test_wrong_arguments_get_input_error(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value)


def test_build_model_takes_numpy_integers():
    model = build_model("resnet8", np.int64(7), np.int64(1), width=0.25)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 7)


@pytest.mark.parametrize("tile", [1, 2])
def test_spn_conv_takes_unbatched_input_like_conv2d(tile):
    torch.manual_seed(0)
    spn, dense = SPNConv2d(4, 6, 3, padding=1, tile=tile), nn.Conv2d(4, 6, 3, padding=1)
    x = torch.randn(4, 9, 9)
    assert spn(x).shape == dense(x).shape == (6, 9, 9)  # training mode: BN over the 9×9 positions
    spn.eval()
    assert torch.allclose(spn(x), spn(x.unsqueeze(0)).squeeze(0), atol=1e-6)


def test_spn_conv_refuses_what_conv2d_refuses():
    spn = SPNConv2d(4, 6, 3)
    with pytest.raises(InputError, match="takes inputs of shape"):
        spn(torch.randn(8, 8))


def test_spn_linear_takes_a_single_vector_in_eval_mode_like_linear():
    torch.manual_seed(0)
    spn = SPNLinear(4, 3).eval()
    x = torch.randn(4)
    assert spn(x).shape == nn.Linear(4, 3)(x).shape == (3,)
    assert torch.allclose(spn(x), spn(x.unsqueeze(0)).squeeze(0))


def test_spn_linear_says_why_one_sample_does_not_train():
    spn = SPNLinear(4, 3)
    with pytest.raises(InputError, match="one sample \\(4,\\) has no batch statistics"):
        spn(torch.randn(4))
    assert spn(torch.randn(2, 4)).shape == (2, 3)


@pytest.mark.parametrize("shape", [(2, 5), ()])
def test_spn_linear_names_a_wrong_input_width(shape):
    with pytest.raises(InputError) as err:
        SPNLinear(4, 3)(torch.randn(shape))
    assert f"takes inputs of shape (..., 4), got {shape}" in str(err.value)


def test_dir_of_fastmm_nn_lists_the_layers():
    assert {"SPNConv2d", "SPNLinear", "strassenify", "build_model", "to_exact"} <= set(dir(fastmm.nn))
