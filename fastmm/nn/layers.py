"""StrassenNets layers (Tschannen et al. 2018): drop-in SPN replacements for nn.Linear / nn.Conv2d.

A dense layer y = W·x is replaced by the sum-product network

    y = Wc · ( ã ⊙ (BN(Wb · x) + β) )

with ternary Wb, Wc (TWN + straight-through gradient, see `fastmm.spn`), a BatchNorm
without learned scale on the r hidden units (β is its learned shift), and r
full-precision multipliers ã ≥ 0. ã stands for Wa·vec(A) of the matrix-product SPN: A
is the layer's weight, fixed after training, so only its r "products" are stored.

Conv layer with kernel k, stride s, output tile p×p and g groups (per spatial axis):
  1. Wb: ternary conv r × (c_in/g) × K × K with K = (p−1)·s + k and stride p·s, so one
     hidden position sees exactly the input window of a p×p tile of dense outputs;
  2. BatchNorm on the r hidden channels, then + β;
  3. ⊙ ã (one value per hidden channel, init 1, clipped at 0);
  4. Wc: ternary transposed conv c_out × r × p × p with stride p (one hidden position
     writes one p×p output tile), then crop to the dense conv's output size.
The input is padded by the dense padding on the top/left and by whatever the bottom/right
needs for ⌈H_out/p⌉ tiles (negative: cropped), so the output covers exactly the
positions of nn.Conv2d(in, out, k, stride=s, padding=padding).

Modes (`layer.mode`, `fastmm.spn.Mode`): FULL trains Wb, Wc in full precision; TERNARY
quantizes them in the forward pass (straight-through gradient); FROZEN uses the quantized
weights as constants (no gradient, requires_grad False) while ã, β and the bias still
train. `to_exact()` folds the TWN scales and the hidden BatchNorm (eval statistics) into
ã and β so that Wb, Wc hold only −1, 0, 1 and the eval-mode outputs are unchanged; the
BatchNorm becomes the identity (`FoldedNorm`) in both modes.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from fastmm.errors import FastmmError, InputError, OutOfMemoryError
from fastmm.nn.ternary import TernaryConv2d
from fastmm.spn import Mode, apply_mode, parse_mode, set_frozen, twn_quantize

MAX_R_RATIO = 64.0  # r ≤ 64·c_out: the widest hidden layer any entry point builds
MAX_TILE = 64  # output tiles p×p with p ≤ 64 (the paper uses 1, 2); the command line's bound too
MAX_WEIGHTS = 2**31  # weights in one factor (8 GiB of float32): far above any ResNet layer


class SingleValueBatch(InputError):
    """A training-mode forward pass whose hidden BatchNorm would see one value per channel."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int(value, what: str) -> int:
    """An integer argument (not a bool, not a float, not text) as an int, else InputError."""
    if not _is_int(value):
        raise InputError(f"{what} must be an integer, got {value!r:.40}")
    return int(value)


def _factory(device, dtype, who: str) -> dict:
    """`device` and `dtype` for the layer's parameters, checked: a floating dtype (the weights
    train) on a device torch can allocate on here, else InputError (torch's own errors were a
    RuntimeError, TypeError or AssertionError, depending on the argument)."""
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InputError(f"{who} needs a floating torch dtype (e.g. torch.float32), got {dtype!r:.40}")
    try:
        torch.empty(0, device=device, dtype=dtype)
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{who} cannot be made on device {device!r:.40}: {why[:120]}") from None
    return {"device": device, "dtype": dtype}


def _real(value, what: str) -> float:
    """A real-number argument (not a bool, not text) as a float, else InputError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number, got {value!r:.40}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range: out of any range checked after
        return math.inf if value > 0 else -math.inf


def _pair(value: int | tuple[int, int], what: str) -> tuple[int, int]:
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return (int(value[0]), int(value[1]))
    raise InputError(f"{what} must be an int or a pair of ints, got {value!r:.40}")


def _r_ratio(r_ratio) -> float:
    """r_ratio (r/c_out of a layer) as a float in (0, MAX_R_RATIO], else InputError."""
    r_ratio = _real(r_ratio, "r-ratio")
    if not (0 < r_ratio <= MAX_R_RATIO):  # NaN fails too
        raise InputError(f"r-ratio must be a number in (0, {MAX_R_RATIO:g}], got {r_ratio}")
    return r_ratio


def hidden_width(out_features: int, r_ratio: float, groups: int = 1) -> int:
    """r = round(r_ratio · c_out), at least 1, rounded up to a multiple of `groups`."""
    r = max(1, round(_r_ratio(r_ratio) * out_features))
    return -(-r // groups) * groups


def _weights(shape: tuple[int, ...], factory: dict, who: str) -> nn.Parameter:
    """An uninitialised factor of `shape`, or one line: InputError above MAX_WEIGHTS weights,
    OutOfMemoryError where torch cannot allocate it (QA-131: a kernel_size or stride of 10^5
    reached torch's allocator, a bare RuntimeError)."""
    count = math.prod(shape)
    if count > MAX_WEIGHTS and torch.device(factory.get("device") or "cpu").type != "meta":
        # (on the meta device nothing is allocated: `fastmm count` builds there, whatever the size)
        raise InputError(f"{who}: a factor of shape {tuple(shape)} would hold {count:,} weights, above the "
                         f"limit of {MAX_WEIGHTS:,}")
    try:
        return nn.Parameter(torch.empty(*shape, **factory))
    except RuntimeError as exc:  # torch's allocator: "can't allocate memory", CUDA out of memory
        why = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "out of memory"
        raise OutOfMemoryError(f"{who}: cannot allocate a factor of shape {tuple(shape)}: {why}") from None


def _floating_input(x: torch.Tensor, who: str) -> None:
    """InputError for an input that is not a floating-point tensor (the weights are; torch's
    error was a bare RuntimeError about scalar types from inside the product)."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{who} takes a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise InputError(f"{who} takes floating-point inputs, as its weights are, got {x.dtype}: "
                         "convert it, e.g. x.float()")


def _check_r(r: int, outputs: int, groups: int = 1) -> int:
    """A hidden width r in 1..MAX_R_RATIO·outputs and a multiple of `groups`, else InputError:
    an explicit r is bounded as r_ratio is (10^12 would fail in torch's allocator)."""
    top = int(MAX_R_RATIO * outputs)
    if not 1 <= r <= top:
        raise InputError(f"hidden width r must be in 1..{top} ({MAX_R_RATIO:g}·{outputs} outputs), got {r}")
    if r % groups:
        raise InputError(f"hidden width r={r} must be a multiple of groups={groups}")
    return r


class FoldedNorm(nn.Module):
    """The hidden BatchNorm once `to_exact` has folded it into ã and β: the identity in training
    and eval mode alike (a BatchNorm would re-normalise by batch statistics in a training-mode
    forward, and overwrite its running ones). It keeps the BatchNorm's buffers, μ = 0 and
    σ² = 1 − eps, so a state_dict saved before or after `to_exact` loads into either layer."""

    def __init__(self, bn: nn.Module):
        super().__init__()
        self.eps = bn.eps
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        self.register_buffer("num_batches_tracked", bn.num_batches_tracked)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h


class SPNLayer(nn.Module):
    """What SPNLinear and SPNConv2d share: ternary Wb/Wc, hidden BN + β, ã, modes, to_exact."""

    Wb: nn.Parameter
    Wc: nn.Parameter

    def _init_hidden(self, r: int, bn: nn.Module, factory: dict) -> None:
        self.r = r
        self.bn = bn  # affine=False: γ is fixed to 1
        self.beta = nn.Parameter(torch.zeros(r, **factory))
        self.a_tilde = nn.Parameter(torch.ones(r, **factory))
        self._mode = Mode.FULL

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, value: Mode | str) -> None:
        self._mode = parse_mode(value)
        set_frozen([self.Wb, self.Wc], self._mode is Mode.FROZEN)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Wb and Wc as the forward pass sees them in the current mode."""
        return apply_mode(self.Wb, self._mode), apply_mode(self.Wc, self._mode)

    def _needs_batch(self) -> bool:
        """A training-mode forward normalises the hidden units over the batch (not once folded)."""
        return self.training and not isinstance(self.bn, FoldedNorm)

    def _hidden(self, h: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (h.dim() - 2)
        a = self.a_tilde.clamp(min=0)
        return (self.bn(h) + self.beta.view(shape)) * a.view(shape)

    @torch.no_grad()
    def to_exact(self) -> SPNLayer:
        """Fold the TWN scales and the hidden BN (eval statistics) into ã and β.

        Afterwards Wb, Wc ∈ {−1, 0, 1}, the hidden BN is the identity (a FoldedNorm, in training
        mode too, so fine-tuning ã and β keeps it folded), and the layer in eval mode computes
        what it computed before in TERNARY/FROZEN mode. The mode
        becomes FROZEN. Only meaningful after ternary training: from FULL mode the weights
        are quantized here, which changes the outputs by the quantization error.
        """
        bn = self.bn
        if bn.running_mean is None or bn.running_var is None:
            raise FastmmError("to_exact needs the hidden BatchNorm's running statistics")
        if any(t.is_meta for t in (*self.parameters(), *self.buffers())):
            raise InputError("to_exact needs real weights, not meta tensors: load or initialise them first")
        qb, alpha_b = twn_quantize(self.Wb)
        qc, alpha_c = twn_quantize(self.Wc)
        sigma = torch.sqrt(bn.running_var + bn.eps)
        mu = bn.running_mean
        a = self.a_tilde.clamp(min=0)
        # eval: Wc·(ã ⊙ ((αb·Qb x − μ)/σ + β)) = Qc·(ã' ⊙ (Qb x + β')) with
        #   ã' = αc·αb·ã/σ and ã'·β' = αc·ã·(β − μ/σ).
        if alpha_b > 0:
            new_a = alpha_c * alpha_b * a / sigma
            new_beta = (self.beta * sigma - mu) / alpha_b
        else:  # Wb quantizes to all zeros: the hidden units are the constant ã·(β − μ/σ)
            new_a = alpha_c * a
            new_beta = self.beta - mu / sigma
        self.Wb.copy_(qb)
        self.Wc.copy_(qc)
        self.a_tilde.copy_(new_a)
        self.beta.copy_(new_beta)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        self.bn = FoldedNorm(bn)
        self.mode = Mode.FROZEN
        return self

    def extra_repr(self) -> str:
        return f"r={self.r}, mode={self._mode.value}"


class SPNLinear(SPNLayer):
    """SPN replacement for nn.Linear: Wb (r × in), hidden BN + β, ã, Wc (out × r), bias."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        r_ratio: float = 1.0,
        r: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        in_features, out_features = _int(in_features, "in_features"), _int(out_features, "out_features")
        if in_features < 1 or out_features < 1:
            raise InputError("SPNLinear needs in_features and out_features >= 1")
        factory = _factory(device, dtype, "SPNLinear")
        _r_ratio(r_ratio)  # checked even when r, the hidden width itself, is given
        r = _check_r(hidden_width(out_features, r_ratio) if r is None else _int(r, "r"), out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.Wb = _weights((r, in_features), factory, "SPNLinear")
        self.Wc = _weights((out_features, r), factory, "SPNLinear")
        if not isinstance(bias, bool):
            raise InputError(f"bias must be True or False, got {bias!r:.40}")
        self.bias = nn.Parameter(torch.zeros(out_features, **factory)) if bias else None
        self._init_hidden(r, nn.BatchNorm1d(r, affine=False, **factory), factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.Wb, nonlinearity="linear")
        nn.init.normal_(self.Wc, std=1.0 / math.sqrt(self.r))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x of shape (..., in_features) -> (..., out_features), a 1-D x included, as nn.Linear.
        In training mode the hidden BatchNorm needs a batch: one sample is refused."""
        _floating_input(x, "SPNLinear")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise InputError(f"SPNLinear({self.in_features}, {self.out_features}) takes inputs of shape "
                             f"(..., {self.in_features}), got {tuple(x.shape)}")
        wb, wc = self.weights()
        lead = x.shape[:-1]
        rows = x.reshape(-1, self.in_features)
        if self._needs_batch() and rows.shape[0] == 1:
            raise SingleValueBatch(f"SPNLinear in training mode normalises its hidden units over the batch "
                             f"(BatchNorm): one sample {tuple(x.shape)} has no batch statistics; pass a "
                             "batch of two or more, or call .eval()")
        h = F.linear(rows, wb)
        y = F.linear(self._hidden(h), wc, self.bias)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, " + super().extra_repr()
        )


class SPNConv2d(SPNLayer):
    """SPN replacement for nn.Conv2d with the same output shape; see the module docstring.

    `groups` is the grouping of the ternary conv Wb (the paper's g), not a dense-conv grouping.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        *,
        r_ratio: float = 1.0,
        tile: int = 1,
        groups: int = 1,
        r: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        factory = _factory(device, dtype, "SPNConv2d")
        in_channels, out_channels = _int(in_channels, "in_channels"), _int(out_channels, "out_channels")
        if in_channels < 1 or out_channels < 1:
            raise InputError("SPNConv2d needs in_channels and out_channels >= 1")
        tile, groups = _int(tile, "tile"), _int(groups, "groups")
        if not 1 <= tile <= MAX_TILE:  # a larger tile would fail in torch's allocator
            raise InputError(f"tile must be an integer in 1..{MAX_TILE}, got {tile!r}")
        if groups < 1 or in_channels % groups:
            raise InputError(f"groups must divide in_channels={in_channels}, got {groups!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise InputError("kernel_size and stride must be >= 1 and padding >= 0")
        self.tile = tile
        self.groups = groups
        _r_ratio(r_ratio)  # checked even when r, the hidden width itself, is given
        r = hidden_width(out_channels, r_ratio, groups) if r is None else _int(r, "r")
        _check_r(r, out_channels, groups)
        kb = tuple((tile - 1) * s + k for k, s in zip(self.kernel_size, self.stride, strict=True))
        self.Wb = _weights((r, in_channels // groups, *kb), factory, "SPNConv2d")
        self.Wc = _weights((out_channels, r, tile, tile), factory, "SPNConv2d")
        if not isinstance(bias, bool):
            raise InputError(f"bias must be True or False, got {bias!r:.40}")
        self.bias = nn.Parameter(torch.zeros(out_channels, **factory)) if bias else None
        self._init_hidden(r, nn.BatchNorm2d(r, affine=False, **factory), factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Wb feeds a BatchNorm and TWN is scale-free, so only Wc's scale matters: with unit
        # hidden activations and ã = 1, std 1/√r gives outputs of unit variance.
        nn.init.kaiming_normal_(self.Wb, nonlinearity="relu")
        nn.init.normal_(self.Wc, std=1.0 / math.sqrt(self.r))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The dense conv's (H_out, W_out) for an input of (height, width)."""
        out = []
        for n, k, s, pad in zip((height, width), self.kernel_size, self.stride, self.padding, strict=True):
            m = (n + 2 * pad - k) // s + 1
            if m < 1:
                raise InputError(f"input {height}×{width} is too small for kernel {self.kernel_size}")
            out.append(m)
        return out[0], out[1]

    def hidden_size(self, height: int, width: int) -> tuple[int, int]:
        """(⌈H_out/p⌉, ⌈W_out/p⌉): the number of p×p output tiles, i.e. hidden positions."""
        ho, wo = self.output_size(height, width)
        return -(-ho // self.tile), -(-wo // self.tile)

    def _input_padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """F.pad amounts (left, right, top, bottom); right/bottom may be negative (a crop)."""
        hh, hw = self.hidden_size(height, width)
        p = self.tile
        pads = []
        for n, nh, k, s, pad in zip(
            (height, width), (hh, hw), self.kernel_size, self.stride, self.padding, strict=True
        ):
            extent = (nh - 1) * p * s + (p - 1) * s + k  # input span of nh tiles
            pads.append((pad, extent - pad - n))
        (top, bottom), (left, right) = pads
        return left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x of shape (N, C_in, H, W), or unbatched (C_in, H, W) as nn.Conv2d takes it.
        In training mode the hidden BatchNorm needs more than one hidden position in the batch."""
        _floating_input(x, "SPNConv2d")
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise InputError(f"SPNConv2d({self.in_channels}, {self.out_channels}) takes inputs of shape "
                             f"(N, {self.in_channels}, H, W) or ({self.in_channels}, H, W), got "
                             f"{tuple(x.shape)}")
        if x.dim() == 3:
            return self.forward(x.unsqueeze(0)).squeeze(0)
        wb, wc = self.weights()
        height, width = x.shape[-2:]
        ho, wo = self.output_size(height, width)
        if self._needs_batch() and x.shape[0] * math.prod(self.hidden_size(height, width)) == 1:
            raise SingleValueBatch(f"SPNConv2d in training mode normalises its hidden units over the batch "
                                   f"(BatchNorm): an input {tuple(x.shape)} gives one value per hidden "
                                   "channel; pass a larger batch or input, or call .eval()")
        x = F.pad(x, self._input_padding(height, width))
        stride = tuple(self.tile * s for s in self.stride)
        h = F.conv2d(x, wb, stride=stride, groups=self.groups)
        y = F.conv_transpose2d(self._hidden(h), wc.transpose(0, 1), stride=self.tile)
        y = y[..., :ho, :wo]
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, tile={self.tile}, "
            f"groups={self.groups}, bias={self.bias is not None}, " + super().extra_repr()
        )


def spn_layers(model: nn.Module) -> list[SPNLayer]:
    return [m for m in model.modules() if isinstance(m, SPNLayer)]


def set_mode(model: nn.Module, mode: Mode | str) -> nn.Module:
    """Switch every SPN layer and ternary-weight conv (TWN, TTQ) in `model` to `mode`
    (full, ternary or frozen); returns model."""
    if not isinstance(model, nn.Module):
        raise InputError(f"set_mode takes a torch.nn.Module, not {type(model).__name__}")
    mode = parse_mode(mode)
    for layer in model.modules():
        if isinstance(layer, SPNLayer | TernaryConv2d):
            layer.mode = mode
    return model


def to_exact(model: nn.Module) -> nn.Module:
    """Call `to_exact()` on every SPN layer in `model` (see SPNLayer.to_exact); returns model."""
    if not isinstance(model, nn.Module):
        raise InputError(f"to_exact takes a torch.nn.Module, not {type(model).__name__}")
    for layer in spn_layers(model):
        layer.to_exact()
    return model
