"""QA fixes: counting layers whose rows are not the batch or whose input comes by keyword;
r_ratio checks of the SPN layers; to_exact on meta tensors; lazy modules refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn import SPNConv2d, SPNLinear, strassenify
from fastmm.nn.count import count_model
from fastmm.nn.layers import to_exact
from fastmm.nn.ternary import TWNConv2d, ternarize

torch.set_num_threads(1)


class _Call(nn.Module):
    """Calls its layer `l` on `prep(x)`; by keyword `key` when given."""

    def __init__(self, layer: nn.Module, prep, key: str | None = None):
        super().__init__()
        self.l, self.prep, self.key = layer, prep, key

    def forward(self, x):
        x = self.prep(x)
        return self.l(**{self.key: x}) if self.key else self.l(x)


def _plain(x):
    return x


def _flat(x):  # (B, T, ...) -> (B·T, ...)
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _first(x):  # unbatched: the one image itself
    return x[0]


def _frame(x):  # unbatched: the first frame of the one image (1, T, C, H, W)
    return x[0, 0]


def _counts(layer):
    return (layer.mults, layer.mults_executed, layer.adds_dense, layer.adds_actual)


@pytest.mark.parametrize("make,expected", [
    (lambda: nn.Linear(4, 3), (60, 60, 60, 60)),  # 5 rows · 4 · 3; 5 · 3 · (4 − 1 + 1)
    # 5 · r; 5 · (2·4 + 3·(2 − 1 + 1)); on meta: no weights, no actual additions
    (lambda: SPNLinear(4, 3, r=2, device="meta"), (10, 10, 70, None)),
])
@pytest.mark.parametrize("prep", [_plain, _flat, _first])
def test_linear_counts_every_row_of_the_one_image(make, expected, prep):
    counted = count_model(_Call(make(), prep), (5, 4)).layers[0]
    assert _counts(counted) == expected
    assert counted.out_shape == (5, 3)


@pytest.mark.parametrize("make", [
    lambda: nn.Conv2d(2, 3, 3),
    lambda: SPNConv2d(2, 3, 3, tile=2, r=4),
    lambda: TWNConv2d(2, 3, 3),
])
def test_conv_counts_every_image_folded_into_the_batch(make):
    layer = make()
    one = count_model(_Call(layer, _frame), (4, 2, 6, 6))  # one (2, 6, 6) frame, unbatched
    folded = count_model(_Call(layer, _flat), (4, 2, 6, 6))  # the 4 frames as a batch
    plain = count_model(layer, (2, 6, 6))
    assert _counts(one.layers[0]) == _counts(plain.layers[0])
    assert one.layers[0].out_shape == plain.layers[0].out_shape == (3, 4, 4)
    assert _counts(folded.layers[0]) == tuple(4 * n for n in _counts(one.layers[0]))
    assert folded.layers[0].mults_factored == (None if one.layers[0].mults_factored is None
                                               else 4 * one.layers[0].mults_factored)
    assert (one.sum_out, folded.sum_out) == (48, 192)


@pytest.mark.parametrize("layer,key", [
    (nn.Conv2d(2, 3, 3), "input"),
    (SPNConv2d(2, 3, 3), "x"),
    (nn.Linear(2 * 5 * 5, 3), "input"),
])
def test_count_layers_called_with_a_keyword_input(layer, key):
    prep = _plain if isinstance(layer, nn.Conv2d | SPNConv2d) else (lambda x: x.flatten(1))
    by_key = count_model(_Call(layer, prep, key), (2, 5, 5))
    by_position = count_model(_Call(layer, prep), (2, 5, 5))
    assert by_key.layers == by_position.layers
    assert by_key.layers[0].mults > 0


class _Scaled(nn.Linear):
    def forward(self, scale=1.0, *, data=None):  # the input is not the first parameter
        return super().forward(data) * scale


def test_count_layer_input_not_found_is_one_line():
    with pytest.raises(InputError, match=r"cannot count l: its input") as info:
        count_model(_Call(_Scaled(4, 3), _plain, "data"), (4,))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls,args", [(SPNLinear, (3, 3)), (SPNConv2d, (3, 3, 3))])
@pytest.mark.parametrize("r_ratio", ["abc", -1, 0, float("nan"), float("inf"), 1e30, 65, 10**400, True])
@pytest.mark.parametrize("r", [None, 2])
def test_spn_layers_check_r_ratio_even_with_r(cls, args, r_ratio, r):
    with pytest.raises(InputError, match=r"r-ratio must be a number") as info:
        cls(*args, r_ratio=r_ratio, r=r)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls,args", [(SPNLinear, (3, 3)), (SPNConv2d, (3, 3, 3))])
def test_spn_layers_r_ratio_bounds_kept(cls, args):
    assert cls(*args, r_ratio=64).r == 192
    assert cls(*args, r_ratio=2.5, r=2).r == 2


@pytest.mark.parametrize("make", [lambda: SPNLinear(3, 3, device="meta"),
                                  lambda: SPNConv2d(3, 3, 3, device="meta")])
def test_to_exact_on_meta_tensors_is_one_input_error(make):
    layer = make()
    with pytest.raises(InputError, match="needs real weights, not meta tensors"):
        layer.to_exact()
    with pytest.raises(InputError, match="needs real weights, not meta tensors"):
        to_exact(nn.Sequential(layer))


@pytest.mark.parametrize("convert", [
    lambda m: ternarize(m, "twn"),
    lambda m: ternarize(m, "ttq"),
    lambda m: strassenify(m, 1),
])
@pytest.mark.parametrize("wrap", [True, False])
def test_lazy_convs_are_refused_as_uninitialised(convert, wrap):
    model = nn.Sequential(nn.LazyConv2d(3, 3)) if wrap else nn.LazyConv2d(3, 3)
    with pytest.raises(InputError, match="lazy module with uninitialised parameters; run the model once"):
        convert(model)
    model(torch.zeros(1, 2, 5, 5))  # initialised: converted as any conv
    converted = convert(model)
    assert (converted[0] if wrap else converted).in_channels == 2


def test_lazy_linear_refused_by_strassenify_convert_classifier():
    model = nn.Sequential(nn.LazyLinear(3))
    assert strassenify(model, 1) is model  # the classifier stays: nothing to refuse
    with pytest.raises(InputError, match="cannot strassenify 0: it is a lazy module"):
        strassenify(model, 1, convert_classifier=True)
