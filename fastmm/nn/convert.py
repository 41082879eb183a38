"""Turn a dense model into a StrassenNet: every nn.Conv2d becomes an SPNConv2d.

In the paper's ResNets these are the first conv, every 3×3 conv and the 1×1 projection
shortcuts, which is every nn.Conv2d of the models in `fastmm.nn.models`. The classifier
(every nn.Linear) stays full precision unless `convert_classifier=True`.

The SPN layers start from the SPN initialisation (kaiming-normal Wb, Wc with std 1/√r,
ã = 1, β = 0), not from the dense weights: the hidden BatchNorm rescales every hidden
channel by statistics only data can give, so a dense kernel cannot be copied in exactly;
StrassenNets trains the SPN model from scratch. Dense biases are copied.
"""

from __future__ import annotations

from torch import nn

from fastmm.errors import InputError
from fastmm.nn.config import MAX_R_RATIO
from fastmm.nn.layers import SPNConv2d, SPNLinear, _int, _real, hidden_width
from fastmm.nn.swap import refuse_lazy, replace_children


def _spn_conv(conv: nn.Conv2d, name: str, r_ratio: float, tile: int, groups: int) -> SPNConv2d:
    refuse_lazy(conv, name, "strassenify")
    if conv.groups != 1 or conv.dilation not in ((1, 1), 1) or isinstance(conv.padding, str):
        raise InputError(f"cannot strassenify {name}: grouped, dilated or string-padded convs")
    if conv.padding_mode != "zeros":
        raise InputError(f"cannot strassenify {name}: padding_mode {conv.padding_mode!r}")
    # g must divide c_in; layers where it does not (e.g. the 3-channel input) use g = 1, and only
    # a grouped layer rounds r up to a multiple of g (r = g·c_out for a g that a layer ignores
    # made a 8192-group ResNet-8 176 times the size of an ungrouped one).
    g = groups if conv.in_channels % groups == 0 else 1
    r = hidden_width(conv.out_channels, r_ratio, g)
    if r > MAX_R_RATIO * conv.out_channels:
        raise InputError(f"cannot strassenify {name}: groups={g} rounds its hidden width up to r={r}, "
                         f"more than {MAX_R_RATIO:g}·c_out = {MAX_R_RATIO * conv.out_channels:g}")
    spn = SPNConv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
        r=r,
        tile=tile,
        groups=g,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    if conv.bias is not None and not conv.bias.is_meta:
        spn.bias.data.copy_(conv.bias.data)
    return spn.train(conv.training)  # a model in eval stays in eval: its hidden BatchNorm too


def _spn_linear(linear: nn.Linear, name: str, r_ratio: float) -> SPNLinear:
    refuse_lazy(linear, name, "strassenify")
    spn = SPNLinear(
        linear.in_features,
        linear.out_features,
        bias=linear.bias is not None,
        r_ratio=r_ratio,
        device=linear.weight.device,
        dtype=linear.weight.dtype,
    )
    if linear.bias is not None and not linear.bias.is_meta:
        spn.bias.data.copy_(linear.bias.data)
    return spn.train(linear.training)


def strassenify(
    model: nn.Module,
    r_ratio: float,
    tile: int = 1,
    groups: int = 1,
    convert_classifier: bool = False,
) -> nn.Module:
    """Replace, in place, every nn.Conv2d by an SPNConv2d with r = r_ratio·c_out; returns model
    (a model that is itself a Conv2d, or a Linear with `convert_classifier`, is returned converted,
    a new module: use the return value).

    `tile` is the output tile p, `groups` the grouping g of the ternary conv Wb (falls back to
    1 in layers whose input channels g does not divide; a grouped layer rounds r up to a
    multiple of g, at most MAX_R_RATIO·c_out). With `convert_classifier`, every
    nn.Linear becomes an SPNLinear with r = r_ratio·out_features as well.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"strassenify takes a torch.nn.Module, not {type(model).__name__}")
    r_ratio, tile, groups = _real(r_ratio, "r-ratio"), _int(tile, "tile"), _int(groups, "groups")
    if not (0 < r_ratio <= MAX_R_RATIO):  # NaN fails too
        raise InputError(f"r-ratio must be a number in (0, {MAX_R_RATIO:g}], got {r_ratio}")
    if not isinstance(convert_classifier, bool):
        raise InputError(f"convert_classifier must be True or False, got {convert_classifier!r:.40}")
    if tile < 1:
        raise InputError(f"tile must be an integer >= 1, got {tile!r}")
    if groups < 1:
        raise InputError(f"groups must be an integer >= 1, got {groups!r}")
    if isinstance(model, nn.Conv2d):
        return _spn_conv(model, "model", r_ratio, tile, groups)
    if convert_classifier and isinstance(model, nn.Linear):
        return _spn_linear(model, "model", r_ratio)

    def swap(full: str, child: nn.Module) -> nn.Module | None:
        if isinstance(child, nn.Conv2d):
            return _spn_conv(child, full, r_ratio, tile, groups)
        if convert_classifier and isinstance(child, nn.Linear):
            return _spn_linear(child, full, r_ratio)
        return None

    replace_children(model, swap)  # all or nothing: a layer that cannot be converted changes none
    return model
