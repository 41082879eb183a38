"""Count multiplications, additions and model size of a (StrassenNet) model per input image.

The layers are found by tracing one forward pass of a dummy image through the model with
forward hooks, so any model built from nn.Conv2d / nn.Linear / SPNConv2d / SPNLinear is
counted. The trace runs on the meta device (`torch.func.functional_call` with meta copies
of the parameters and buffers): it costs no arithmetic and no memory, even for a
ResNet-18 SPN at 224×224, and the model's own weights stay untouched for the nonzero counts.

Conventions, chosen because they reproduce the StrassenNets paper (Tschannen et al. 2018)
for ResNet-18 at 224×224 with 1000 classes:

* Every conv is followed by a BatchNorm whose scale costs c_out·H_out·W_out
  multiplications (and its shift as many additions); the paper's formula for an SPN conv,
  (1 + (r/c_out)/p²)·c_out·H_out·W_out, has that term as its "1 +".
* Dense conv: k_h·k_w·(c_in/g)·c_out·H_out·W_out multiplications plus the BN term above.
* SPN conv: the paper's formula (1 + (r/c_out)/p²)·c_out·H_out·W_out, i.e. r·H_out·W_out/p²
  multiplications by ã. With H_out or W_out not divisible by p the layer really runs
  ⌈H_out/p⌉·⌈W_out/p⌉ tiles; that count is reported separately as "executed".
  The hidden BatchNorm (γ = 1) folds into ã at inference, so it costs nothing extra.
* Linear: in·out multiplications at full precision (the classifier), r for an SPNLinear.
* Residual additions, pooling and ReLU are not counted (they are the same in both models).
* A layer counts everything it computes for the one traced image: a Linear applied to the
  (B·T, F) rows of a model that folds T into the batch counts T rows, a conv applied to
  (B·T, C, H, W) T images' outputs, and an unbatched call (F,) or (C, H, W) one.

With these, Σ c_out·H_out·W_out over ResNet-18's 20 convs is 2,483,712 and

    full precision        1,813,561,344 (convs) + 2,483,712 (BN) + 512,000 (fc)
                          = 1,816,557,056 ≈ 1.8166e9   (paper 1.8167e9, −0.008%)
    ST, p = 2, r = 4c_out 2·2,483,712 + 512,000 = 5,479,424 ≈ 5.48e6   (paper 5.48e6)
    ST, p = 2, r = 2c_out 1.5·2,483,712 + 512,000 = 4,237,568 ≈ 4.24e6 (paper 4.24e6)

Leaving out the BN term gives 1.8141e9 (0.14% below the paper), so the paper counts it.

Additions: a dense conv output is a sum of fan_in = k_h·k_w·c_in/g products (fan_in − 1
additions) plus the BN shift. An SPN conv adds, per hidden unit, its Wb window (fan_in − 1)
and the shift β, and per output the r Wc terms (r − 1) and the BN shift. The dense upper
bound assumes every ternary weight is nonzero (ResNet-18, p = 2, r = 4c_out: 2.73× the
dense model's additions; the paper reports 2.6× for its trained, partly zero weights). The
actual count uses the nonzeros of the ternary (TWN-quantized) Wb and Wc: a hidden channel
with n nonzeros costs n − 1 additions per position, an output whose Wc column has n
nonzeros costs n − 1. Linear layers: in − 1 additions per output plus the bias.

Ternary-weight convs (TWN, TTQ; `fastmm.nn.ternary`), counted on the same footing:

* "multiplications" is the paper's convention for its TWN and TTQ baselines: the
  activations are full precision, so a ternary conv is counted as the dense conv it
  replaces, k_h·k_w·(c_in/g)·c_out·H_out·W_out + the BN term. That is what a float conv
  kernel executes, and for ResNet-18 it gives the full-precision 1.8166e9 (the classifier
  is full precision in every variant), the figure the paper lists for TWN and TTQ.
* "multiplications with the scale factored out" is what the layer needs at minimum: with
  ternary weights each output is a signed sum of activations, so the only products left are
  the scales. TWN's one α per layer folds into the following BN scale (c_out·H_out·W_out,
  the BN term alone); TTQ's y = Wp·Σ₊x − Wn·Σ₋x needs one product per output for the ratio
  Wn/Wp (Wp folds into the BN scale) plus the BN term: 2·c_out·H_out·W_out. Dense and SPN
  layers count the same under both conventions.
* Additions: a dense bound of fan_in·c_out·H_out·W_out (fan_in − 1 per output plus the BN
  shift), and with real weights, per output, its kernel's nonzeros − 1 plus the BN shift.
* Size: 2 bits per ternary kernel entry; TWN's derived α is 32 bits per layer, TTQ's Wp
  and Wn are parameters (32 bits each).

Model size: ternary Wb, Wc take 2 bits per entry, every other parameter 32 bits (BatchNorm
running statistics fold into the scale and shift at inference and are not counted).
"""

from __future__ import annotations

import inspect
import numbers
import os
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call

from fastmm.errors import InputError
from fastmm.nn.checkpoint import fit_state_dict, safe_torch_load, state_dict_of
from fastmm.nn.config import (
    MAX_IMAGE_SIZE,
    MAX_IN_CHANNELS,
    check_groups,
    check_r_ratio,
    check_tile,
    check_width,
    checkpoint_args,
    network_name,
)
from fastmm.nn.layers import SPNConv2d, SPNLayer, SPNLinear
from fastmm.nn.ternary import TernaryConv2d, TTQConv2d
from fastmm.spn import twn_quantize

# name -> (channels, image side, classes)
DATASETS: dict[str, tuple[int, int, int]] = {
    "imagenet": (3, 224, 1000),
    "cifar10": (3, 32, 10),
    "cifar100": (3, 32, 100),
    "mnist": (1, 28, 10),
    "fashion-mnist": (1, 28, 10),
}

TERNARY_BITS = 2
FULL_BITS = 32


def _count_arg(value, what: str) -> int:
    """A positive whole number (an int or a numpy integer, not a bool), or InputError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{what} must be an integer >= 1, got {value!r:.30}")
    return int(value)


def dataset_shape(name: str) -> tuple[int, int, int]:
    """(channels, side, classes) of a dataset name; InputError if unknown."""
    if not isinstance(name, str):
        raise InputError(f"a dataset is named by text, one of {', '.join(DATASETS)}; got {name!r:.30}")
    key = name.lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[key]


@dataclass
class LayerCount:
    name: str
    kind: str  # "conv", "spn-conv", "linear", "spn-linear", "twn-conv", "ttq-conv"
    out_shape: tuple[int, ...]
    mults: float  # the paper's formula
    mults_executed: int
    adds_dense: int
    adds_actual: int | None = None  # SPN: from the ternary nonzeros (None without weights)
    mults_factored: float | None = None  # ternary convs: with the scale out of the sums


@dataclass
class ModelCount:
    layers: list[LayerCount] = field(default_factory=list)
    size_bits: int = 0
    ternary_params: int = 0
    full_params: int = 0
    derived_scales: int = 0  # TWN's α: not parameters, but stored (32 bits each)

    @property
    def mults(self) -> float:
        return sum(layer.mults for layer in self.layers)

    @property
    def mults_executed(self) -> int:
        return sum(layer.mults_executed for layer in self.layers)

    @property
    def mults_factored(self) -> float:
        """Multiplications with ternary convs' scales taken out of their sums (module doc)."""
        return sum(
            layer.mults if layer.mults_factored is None else layer.mults_factored
            for layer in self.layers
        )

    @property
    def adds_dense(self) -> int:
        return sum(layer.adds_dense for layer in self.layers)

    @property
    def adds_actual(self) -> int | None:
        """Additions with the ternary zeros skipped; None if an SPN layer has no real weights."""
        total = 0
        for layer in self.layers:
            if layer.adds_actual is None:
                return None
            total += layer.adds_actual
        return total

    @property
    def sum_out(self) -> int:
        """Σ c_out·H_out·W_out over the (SPN) conv layers."""
        total = 0
        for layer in self.layers:
            if layer.kind in ("conv", "spn-conv", "twn-conv", "ttq-conv"):
                total += _numel(layer.out_shape)
        return total


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _per_image(y: torch.Size) -> tuple[int, ...]:
    """A layer's output shape in the trace without the batch dimension of its one image: the
    leading 1 is dropped; a model that folds a dimension into the batch (B·T, ...) keeps it."""
    return tuple(y[1:]) if len(y) > 1 and y[0] == 1 else tuple(y)


def _count_conv(name: str, m: nn.Conv2d, x: torch.Size, y: torch.Size) -> LayerCount:
    # every output of the trace's one image counts: (1, C, H, W), an unbatched (C, H, W), and
    # (T, C, H, W) of a model that folds T frames into the batch alike
    fan_in = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
    outs = _numel(tuple(y))
    mults = fan_in * outs + outs
    adds = fan_in * outs
    return LayerCount(name, "conv", _per_image(y), mults, mults, adds, adds)


def _count_ternary_conv(name: str, m: TernaryConv2d, x: torch.Size, y: torch.Size) -> LayerCount:
    dense = _count_conv(name, m, x, y)
    c_out, h, w = y[-3:]
    outs = _numel(tuple(y))
    n = outs // (c_out * h * w)  # 1 but for a model that folds a dimension into the batch
    kind = "ttq-conv" if isinstance(m, TTQConv2d) else "twn-conv"
    factored = outs * (2 if kind == "ttq-conv" else 1)
    actual = None
    if not m.weight.is_meta:
        nonzeros = m.ternary_pattern().flatten(1).count_nonzero(dim=1)  # per output channel
        actual = int((nonzeros - 1).clamp(min=0).sum()) * h * w * n + outs
    return LayerCount(
        name, kind, dense.out_shape, dense.mults, dense.mults_executed, dense.adds_dense, actual, factored
    )


def _rows(m: nn.Linear | SPNLinear, y: torch.Size) -> int:
    """How many rows (..., in_features) a linear layer transformed in the trace of one image:
    (1, F), an unbatched (F,), and (T, F) of a model that folds T into the batch alike."""
    return _numel(tuple(y)) // m.out_features


def _count_linear(name: str, m: nn.Linear, x: torch.Size, y: torch.Size) -> LayerCount:
    rows = _rows(m, y)
    bias = m.bias is not None
    mults = rows * m.in_features * m.out_features
    adds = rows * m.out_features * (m.in_features - 1 + bias)
    return LayerCount(name, "linear", _per_image(y), mults, mults, adds, adds)


def _nonzero_adds(q: torch.Tensor) -> torch.Tensor:
    """Additions to sum n selected terms: n − 1 (0 for an empty sum)."""
    return (q.count_nonzero(dim=-1) - 1).clamp(min=0)


def _has_data(layer: SPNLayer) -> bool:
    return not (layer.Wb.is_meta or layer.Wc.is_meta)


def _count_spn_conv(name: str, m: SPNConv2d, x: torch.Size, y: torch.Size) -> LayerCount:
    c_out, h, w = y[-3:]
    p, r = m.tile, m.r
    hh, hw = m.hidden_size(x[-2], x[-1])
    fan_in = m.Wb[0].numel()
    outs = _numel(tuple(y))
    n = outs // (c_out * h * w)  # 1 but for a model that folds a dimension into the batch
    hidden = hh * hw * n
    mults = outs + n * r * h * w / (p * p)
    executed = outs + r * hidden
    dense = r * hidden * fan_in + outs * r  # (fan_in − 1 + 1 shift)·r·hidden + (r − 1 + 1)·outs
    actual = None
    if _has_data(m):
        qb, _ = twn_quantize(m.Wb.detach())
        qc, _ = twn_quantize(m.Wc.detach())
        wb_adds = int(_nonzero_adds(qb.flatten(1)).sum()) * hidden + r * hidden
        # output (o, y, x) sums the nonzeros of Wc[o, :, y % p, x % p]
        per_offset = _nonzero_adds(qc.permute(0, 2, 3, 1)).sum(dim=0)  # (p, p)
        rows = torch.tensor([len(range(d, h, p)) for d in range(p)])
        cols = torch.tensor([len(range(d, w, p)) for d in range(p)])
        wc_adds = int((per_offset * rows[:, None] * cols[None, :]).sum()) * n + outs
        actual = wb_adds + wc_adds
    return LayerCount(name, "spn-conv", _per_image(y), mults, executed, dense, actual)


def _count_spn_linear(name: str, m: SPNLinear, x: torch.Size, y: torch.Size) -> LayerCount:
    rows = _rows(m, y)
    r, bias = m.r, m.bias is not None
    dense = rows * (r * m.in_features + m.out_features * (r - 1 + bias))
    actual = None
    if _has_data(m):
        qb, _ = twn_quantize(m.Wb.detach())
        qc, _ = twn_quantize(m.Wc.detach())
        per_row = int(_nonzero_adds(qb).sum()) + r + int(_nonzero_adds(qc).sum())
        actual = rows * (per_row + bias * m.out_features)
    return LayerCount(name, "spn-linear", _per_image(y), rows * r, rows * r, dense, actual)


_COUNTERS = (
    (TernaryConv2d, _count_ternary_conv),
    (SPNConv2d, _count_spn_conv),
    (SPNLinear, _count_spn_linear),
    (nn.Conv2d, _count_conv),
    (nn.Linear, _count_linear),
)


def count_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelCount:
    """Trace one image of shape (C, H, W) through `model` and count per layer (see module doc)."""
    if not isinstance(model, nn.Module):
        raise InputError(f"count_model takes a torch.nn.Module, not {type(model).__name__}")
    if not (isinstance(input_shape, tuple | list) and input_shape and all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in input_shape)):
        raise InputError(f"input_shape must be one input's shape, e.g. (channels, height, width), integers "
                         f">= 1; got {input_shape!r:.40}")
    input_shape = tuple(int(n) for n in input_shape)  # numpy integers too
    result = ModelCount()
    names = {id(m): n for n, m in model.named_modules()}
    calls: list[tuple] = []  # (counter, module, input shape, output shape), in call order
    handles = []

    def hook(counter):
        def record(module, args, kwargs, output):
            x = args[0] if args else None
            if x is None:  # passed by its name: self.conv(input=x), self.spn(x=x)
                first = next(iter(inspect.signature(module.forward).parameters), None)
                x = kwargs.get(first)
            if not isinstance(x, torch.Tensor):
                raise InputError(f"cannot count {names.get(id(module), '?')}: its input is neither "
                                 "its first positional argument nor its first parameter by name")
            calls.append((counter, module, x.shape, output.shape))

        return record

    for module in model.modules():
        for cls, counter in _COUNTERS:
            if isinstance(module, cls):
                handles.append(module.register_forward_hook(hook(counter), with_kwargs=True))
                break
    # every tensor the forward uses: a state_dict leaves out the non-persistent buffers
    tensors = [*model.named_parameters(), *model.named_buffers()]
    state = {k: torch.empty_like(v, device="meta") for k, v in tensors}
    modes = [(m, m.training) for m in model.modules()]  # each its own (a frozen BatchNorm stays eval)
    model.eval()
    try:
        with torch.no_grad():
            try:
                functional_call(model, state, (torch.empty(1, *input_shape, device="meta"),))
            except (RuntimeError, ValueError) as exc:  # torch's shape errors: the image does not fit
                raise InputError(f"an image of shape {tuple(input_shape)} does not fit the model: "
                                 f"{str(exc).splitlines()[0][:200]}") from None
    finally:
        for module, training in modes:
            module.training = training
        for handle in handles:
            handle.remove()
    # Count after the trace: during it the modules hold the meta stand-ins, not their weights.
    for counter, module, x, y in calls:
        result.layers.append(counter(names.get(id(module), "?"), module, x, y))

    ternary = {
        id(p) for layer in model.modules() if isinstance(layer, SPNLayer) for p in (layer.Wb, layer.Wc)
    }
    ternary |= {id(layer.weight) for layer in model.modules() if isinstance(layer, TernaryConv2d)}
    for p in model.parameters():
        if id(p) in ternary:
            result.ternary_params += p.numel()
        else:
            result.full_params += p.numel()
    result.derived_scales = sum(
        layer.derived_scales for layer in model.modules() if isinstance(layer, TernaryConv2d)
    )
    result.size_bits = (
        TERNARY_BITS * result.ternary_params
        + FULL_BITS * (result.full_params + result.derived_scales)
    )
    return result


def load_state_dict(path: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint: {"model": state_dict, "args": {...}} or a plain state_dict.

    Returns (state_dict, args); args also holds a top-level num_classes / in_channels, and its
    model settings are checked as for `fastmm train` (`fastmm.nn.config.checkpoint_args`).
    """
    obj = safe_torch_load(path)  # regular files only, weights_only=True, one line on failure
    wrapped = isinstance(obj, dict) and isinstance(obj.get("model"), dict)
    state, args = state_dict_of(obj, path), checkpoint_args(obj if wrapped else {}, path)
    shape = _image_shape(obj if wrapped else {}, args, path)
    if shape is not None:
        args["image_shape"] = shape
    if wrapped and isinstance(obj.get("stage_name"), str):
        args["stage_name"] = obj["stage_name"]  # "full": Wb and Wc are not ternary yet
    return state, args


def _image_shape(obj: dict, args: dict, path: str) -> tuple[int, int, int] | None:
    """(channels, height, width) of the images a checkpoint's model was trained on: its
    image_shape, else an ImageNet run's image_size (other datasets have one size); None if
    it records neither."""
    shape = obj.get("image_shape")
    if shape is None:
        size, channels = args.get("image_size"), args.get("in_channels") or 3
        if str(args.get("dataset", "")).lower() != "imagenet" or size is None:
            return None
        shape = [channels, size, size]
    limits = (MAX_IN_CHANNELS, MAX_IMAGE_SIZE, MAX_IMAGE_SIZE)
    if not isinstance(shape, list | tuple) or len(shape) != 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= top
            for n, top in zip(shape, limits, strict=True)):
        raise InputError(f"checkpoint {path} has unusable image_shape {shape!r:.40}: expected "
                         f"[channels, height, width] within 1..{MAX_IN_CHANNELS} and 1..{MAX_IMAGE_SIZE}")
    if args.get("in_channels") is not None and shape[0] != args["in_channels"]:
        raise InputError(f"checkpoint {path} has image_shape {list(shape)} for a model of "
                         f"{args['in_channels']}-channel images")
    return (shape[0], shape[1], shape[2])


@dataclass
class Comparison:
    """A dense model and its StrassenNet (or, with `quant`, its ternary-weight version),
    counted side by side; `spn` holds the second model's count either way."""

    model: str
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    r_ratio: float
    tile: int
    groups: int
    convert_classifier: bool
    full: ModelCount
    spn: ModelCount
    checkpoint: str | None = None
    quant: str | None = None  # "twn" / "ttq": the second model is ternary-weight, not an SPN
    grouped: tuple[int, int] = (0, 0)  # (SPN convs with g groups, all SPN convs)

    @property
    def variant(self) -> str:
        return self.quant.upper() if self.quant else "StrassenNet"


def compare(
    model: str,
    dataset: str,
    r_ratio: float,
    tile: int = 1,
    groups: int = 1,
    *,
    checkpoint: str | None = None,
    state: dict[str, torch.Tensor] | None = None,
    width: float = 1.0,
    convert_classifier: bool = False,
    num_classes: int | None = None,
    in_channels: int | None = None,
    quant: str | None = None,
    image_shape: tuple[int, int, int] | None = None,
) -> Comparison:
    """Count `model` at full precision and strassenified, on an image of `dataset`'s size.

    With `quant` ("twn", "ttq") the second model is the ternary-weight version instead and
    r_ratio, tile, groups are not used. With `checkpoint` (a path; or `state`, its already
    loaded state_dict), the weights are loaded into the second model so that the actual
    additions (ternary nonzeros) are counted. `image_shape` (channels, height, width; a
    checkpoint's) replaces the dataset's usual image size.
    """
    from fastmm.nn.convert import strassenify
    from fastmm.nn.models import build_model

    channels, side, classes = dataset_shape(dataset)
    # a checkpoint may know better (e.g. an ImageNet subset); 0 is refused below, not the default
    channels = in_channels if in_channels is not None else channels
    classes = num_classes if num_classes is not None else classes
    channels, classes = _count_arg(channels, "in_channels"), _count_arg(classes, "num_classes")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise InputError(f"checkpoint is a path (str or Path), got {type(checkpoint).__name__}")
    if state is not None and not (isinstance(state, dict) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise InputError("state must be a state_dict: a dict of names to tensors")
    if image_shape is not None:
        if not (isinstance(image_shape, tuple | list) or getattr(image_shape, "ndim", None) == 1) \
                or len(image_shape) != 3:
            raise InputError(f"image_shape is (channels, height, width), got {image_shape!r:.40}")
        image_shape = tuple(_count_arg(v, "image_shape") for v in image_shape)
    if quant is None:
        r_ratio = check_r_ratio(r_ratio, dense=False)
    tile, groups = check_tile(tile), check_groups(groups)
    width = check_width(width) or 1.0
    if state is None and checkpoint is not None:
        state, _ = load_state_dict(checkpoint)
    kw = {"width": width} if width != 1.0 else {}
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        dense = build_model(model, num_classes=classes, in_channels=channels, **kw)
        if quant is not None:
            spn = build_model(model, num_classes=classes, in_channels=channels, quant=quant, **kw)
        else:
            spn = strassenify(
                build_model(model, num_classes=classes, in_channels=channels, **kw),
                r_ratio,
                tile=tile,
                groups=groups,
                convert_classifier=convert_classifier,
            )
    if state is not None:
        what = network_name(model, dataset, quant, r_ratio, tile, groups)
        fit_state_dict(spn, state, checkpoint or "state", what)
    shape = (channels, side, side) if image_shape is None else tuple(image_shape)
    if shape[0] != channels:
        raise InputError(f"image_shape {list(shape)} has {shape[0]} channels; the model takes {channels}")
    convs = [m for m in spn.modules() if isinstance(m, SPNConv2d)]
    return Comparison(
        model=model.lower(),
        dataset=dataset.lower(),
        input_shape=shape,
        num_classes=classes,
        r_ratio=r_ratio,
        tile=tile,
        groups=groups,
        convert_classifier=convert_classifier,
        full=count_model(dense, shape),
        spn=count_model(spn, shape),
        checkpoint=checkpoint,
        quant=quant.lower() if quant is not None else None,
        grouped=(sum(m.groups == groups for m in convs), len(convs)),
    )
