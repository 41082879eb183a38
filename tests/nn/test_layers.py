"""SPN layers: shapes against nn.Conv2d, exactness of the geometry, quantizer, modes, to_exact."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear, set_mode
from fastmm.nn.layers import hidden_width, to_exact
from fastmm.spn import Mode, ternarize, twn_quantize

torch.set_num_threads(1)


@pytest.mark.parametrize(
    "kernel,stride,tile,groups,size",
    [(k, s, t, g, n) for k, s, t, g in itertools.product((1, 3), (1, 2), (1, 2), (1, 4)) for n in (7, 15)]
    + [(5, 1, 2, 1, 28), (7, 2, 2, 1, 32), (7, 2, 1, 4, 15), (5, 2, 2, 1, 28)],
)
def test_conv_output_shape_matches_dense(kernel, stride, tile, groups, size):
    padding = kernel // 2
    dense = nn.Conv2d(8, 12, kernel, stride=stride, padding=padding)
    spn = SPNConv2d(8, 12, kernel, stride=stride, padding=padding, r_ratio=0.5, tile=tile, groups=groups)
    x = torch.randn(2, 8, size, size + 2)
    assert spn(x).shape == dense(x).shape


@pytest.mark.parametrize("padding", [0, 1, 3])
@pytest.mark.parametrize("tile", [2, 3])
def test_conv_shape_with_other_paddings(padding, tile):
    dense = nn.Conv2d(3, 4, 3, stride=2, padding=padding)
    spn = SPNConv2d(3, 4, 3, stride=2, padding=padding, tile=tile)
    x = torch.randn(1, 3, 9, 8)
    assert spn(x).shape == dense(x).shape


def _embed_dense(dense: nn.Conv2d, spn: SPNConv2d) -> None:
    """Make the SPN compute the dense conv exactly: one hidden unit per (c_out, tile offset)."""
    (kh, kw), (sh, sw), p = dense.kernel_size, dense.stride, spn.tile
    with torch.no_grad():
        spn.Wb.zero_()
        spn.Wc.zero_()
        for o in range(dense.out_channels):
            for dy, dx in itertools.product(range(p), range(p)):
                j = (o * p + dy) * p + dx
                spn.Wb[j, :, dy * sh : dy * sh + kh, dx * sw : dx * sw + kw] = dense.weight[o]
                spn.Wc[o, j, dy, dx] = 1
        spn.bn.running_var.fill_(1 - spn.bn.eps)  # identity BatchNorm in eval mode
    spn.eval()


@pytest.mark.parametrize(
    "kernel,stride,padding,tile,size",
    [
        (3, 1, 1, 2, 7),
        (3, 2, 1, 2, 15),
        (5, 2, 2, 2, 9),
        (1, 2, 0, 2, 7),
        (3, 1, 0, 3, 8),
        (7, 2, 3, 1, 9),
    ],
)
def test_conv_covers_exactly_the_dense_positions(kernel, stride, padding, tile, size):
    dense = nn.Conv2d(3, 2, kernel, stride=stride, padding=padding, bias=False)
    spn = SPNConv2d(3, 2, kernel, stride=stride, padding=padding, bias=False, r=2 * tile * tile, tile=tile)
    _embed_dense(dense, spn)
    x = torch.randn(1, 3, size, size + 1)
    torch.testing.assert_close(spn(x), dense(x), atol=1e-5, rtol=1e-5)


def test_conv_weight_shapes_follow_the_paper():
    spn = SPNConv2d(16, 32, 3, stride=2, padding=1, r_ratio=2, tile=2, groups=4)
    assert spn.r == 64
    assert spn.Wb.shape == (64, 4, 5, 5)  # r × c_in/g × ((p−1)s+k)²
    assert spn.Wc.shape == (32, 64, 2, 2)  # c_out × r × p × p
    assert spn.a_tilde.shape == spn.beta.shape == (64,)
    assert torch.all(spn.a_tilde == 1)


def test_hidden_width_rounding():
    assert hidden_width(16, 0.5) == 8
    assert hidden_width(3, 0.5, groups=4) == 4
    with pytest.raises(InputError):
        hidden_width(16, 0)


def test_bad_groups_raise_input_error():
    with pytest.raises(InputError):
        SPNConv2d(6, 8, 3, groups=4)


def test_linear_shapes():
    layer = SPNLinear(10, 3, r_ratio=2)
    assert layer.Wb.shape == (6, 10) and layer.Wc.shape == (3, 6)
    assert layer(torch.randn(4, 10)).shape == (4, 3)
    assert layer(torch.randn(2, 5, 10)).shape == (2, 5, 3)


def test_twn_thresholds_on_a_hand_made_tensor():
    w = torch.tensor([1.0, -0.2, 0.5, -2.0, 0.1, 0.0, 0.4, -0.6])
    # mean|w| = 4.8 / 8 = 0.6, Δ = 0.42: kept 1.0, 0.5, -2.0, -0.6 -> α = 4.1 / 4
    q, alpha = twn_quantize(w)
    assert q.tolist() == [1, 0, 1, -1, 0, 0, 0, -1]
    assert alpha.item() == pytest.approx(1.025)


def test_straight_through_gradient_equals_upstream():
    w = torch.tensor([1.0, -0.2, 0.5, -2.0], requires_grad=True)
    upstream = torch.tensor([0.3, -1.0, 2.0, 0.5])
    ternarize(w).backward(upstream)
    assert torch.equal(w.grad, upstream)


def _trained_state(layer: nn.Module, x: torch.Tensor) -> None:
    """Give the BN statistics, β and ã non-trivial values."""
    layer.train()
    with torch.no_grad():
        for _ in range(3):
            layer(x * 3 + 1)
        layer.beta.normal_()
        layer.a_tilde.uniform_(-0.2, 2.0)  # some clipped at 0
        if layer.bias is not None:
            layer.bias.normal_()
    layer.eval()


@pytest.mark.parametrize("tile", [1, 2])
def test_to_exact_keeps_outputs_and_makes_weights_ternary(tile):
    torch.manual_seed(0)
    layer = SPNConv2d(4, 6, 3, stride=2, padding=1, r_ratio=1.5, tile=tile, groups=2)
    x = torch.randn(4, 4, 9, 9)
    layer.mode = Mode.TERNARY
    _trained_state(layer, x)
    before = layer(x)
    layer.to_exact()
    assert set(layer.Wb.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert set(layer.Wc.unique().tolist()) <= {-1.0, 0.0, 1.0}
    torch.testing.assert_close(layer(x), before, atol=1e-4, rtol=1e-4)


def test_to_exact_on_linear_and_whole_model():
    torch.manual_seed(1)
    model = nn.Sequential(SPNLinear(5, 7, r_ratio=1), nn.ReLU(), SPNLinear(7, 2, r_ratio=2))
    x = torch.randn(8, 5)
    set_mode(model, "frozen")
    for layer in (model[0], model[2]):
        _trained_state(layer, torch.randn(8, layer.in_features))
    before = model(x)
    to_exact(model)
    for layer in (model[0], model[2]):
        assert set(layer.Wb.unique().tolist()) <= {-1.0, 0.0, 1.0}
    torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)


def test_frozen_mode_trains_only_a_tilde_and_beta():
    torch.manual_seed(2)
    layer = SPNConv2d(3, 4, 3, padding=1, tile=2)
    set_mode(layer, Mode.FROZEN)
    wb, wc, a = layer.Wb.detach().clone(), layer.Wc.detach().clone(), layer.a_tilde.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    layer(torch.randn(2, 3, 7, 7)).pow(2).sum().backward()
    opt.step()
    assert torch.equal(layer.Wb, wb) and torch.equal(layer.Wc, wc)
    assert not torch.equal(layer.a_tilde, a)
    assert layer.beta.grad is not None


def test_ternary_mode_passes_gradients_to_wb_and_wc():
    layer = SPNLinear(4, 3)
    layer.mode = "ternary"
    layer(torch.randn(5, 4)).sum().backward()
    assert layer.Wb.grad is not None and layer.Wb.grad.abs().sum() > 0
    assert layer.Wc.grad is not None


def test_set_mode_rejects_unknown_mode():
    with pytest.raises(InputError, match="unknown SPN mode"):
        set_mode(SPNLinear(2, 2), "binary")
