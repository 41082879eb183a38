"""Ternary-weight convolutions: the TWN and TTQ baselines StrassenNets is compared with.

A ternary-weight conv is an nn.Conv2d whose kernel the forward pass sees as

    TWN (Li et al. 2016):  α·Q(W),  Q = sign(W)·[|W| > Δ],  Δ = 0.7·mean|W|,
                           α = mean |W| over the kept entries (one scale per layer,
                           derived from W, not learned); straight-through gradient to W.
    TTQ (Zhu et al. 2017): Wp·[W > Δ] − Wn·[W < −Δ],  Δ = 0.05·max|W|, with learned
                           scalars Wp, Wn > 0 per layer. Gradients to the latent W as in the
                           TTQ paper (eq. 8): Wp·g, g, Wn·g on the positive, zero and negative
                           entries. To the scales: the paper's ∂L/∂Wp = Σ_{W>Δ} g and
                           ∂L/∂Wn = −Σ_{W<−Δ} g divided by the number of entries summed (n₊,
                           n₋), i.e. the paper's gradient with a per-scale learning rate lr/n.

Why the average: with the summed gradient, SGD at the ST runs' lr 0.1 moved the scales by
thousands of entries' worth of gradient per step; in the first Fashion-MNIST run Wp and Wn
crossed zero within an epoch (Wp = −11.5 in one layer after 3 epochs, training accuracy
60% against TWN's 85%). The TTQ paper trains the scales with the weights' optimizer but
does not face this: its scale updates are small against its learning rate there.

Activations stay full precision, so a ternary conv still multiplies activations by its
weights unless the scale is taken out of the sums (see `fastmm.nn.count`).

Modes follow the SPN layers (`fastmm.spn.Mode`): FULL trains W in full precision, TERNARY
quantizes in the forward pass, FROZEN fixes the ternary pattern (W gets no gradient) while
BatchNorm, the classifier and TTQ's Wp, Wn keep training — the counterpart of the
StrassenNets fine-tuning stage.

`ternarize(model, "twn" | "ttq")` swaps every nn.Conv2d of a model for its ternary version
(the first conv, every 3×3 conv and the 1×1 shortcuts: the layers `strassenify` replaces),
keeping its weights; nn.Linear layers (the classifier) stay full precision. This module
imports only torch and `fastmm.spn`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from fastmm.errors import InputError
from fastmm.nn.swap import refuse_lazy, replace_children
from fastmm.spn import (
    TWN_FACTOR,
    Mode,
    accumulation_dtype,
    apply_mode,
    parse_mode,
    set_frozen,
    twn_quantize,
)

TTQ_FACTOR = 0.05  # Δ = 0.05·max|W| (Zhu et al. 2017, §3)


def ttq_masks(w: torch.Tensor, factor: float = TTQ_FACTOR) -> tuple[torch.Tensor, torch.Tensor]:
    """([W > Δ], [W < −Δ]) as float masks with Δ = factor·max|W|; no gradient."""
    with torch.no_grad():
        delta = factor * w.abs().max()
        return (w > delta).to(w.dtype), (w < -delta).to(w.dtype)


def _mean_over(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ values·mask / max(1, Σ mask), accumulated in float32 or wider (a half-precision sum
    or count overflows on a large layer) and cast back to values' dtype."""
    acc = accumulation_dtype(values)
    return ((values * mask).sum(dtype=acc) / mask.sum(dtype=acc).clamp(min=1)).to(values.dtype)


class _TTQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor, wp: torch.Tensor, wn: torch.Tensor, factor: float):  # noqa: D401
        pos, neg = ttq_masks(w, factor)
        ctx.save_for_backward(pos, neg, wp, wn)
        return wp * pos - wn * neg

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pos, neg, wp, wn = ctx.saved_tensors
        grad_w = grad_wp = grad_wn = None
        if ctx.needs_input_grad[0]:
            zero = 1.0 - pos - neg
            grad_w = grad * (wp * pos + zero + wn * neg)
        # the paper's sums, averaged over their entries (see the module docstring)
        if ctx.needs_input_grad[1]:
            grad_wp = _mean_over(grad, pos).reshape(wp.shape)
        if ctx.needs_input_grad[2]:
            grad_wn = (-_mean_over(grad, neg)).reshape(wn.shape)
        return grad_w, grad_wp, grad_wn, None


def ttq_quantize(
    w: torch.Tensor, wp: torch.Tensor, wn: torch.Tensor, factor: float = TTQ_FACTOR
) -> torch.Tensor:
    """Wp·[W > Δ] − Wn·[W < −Δ] with TTQ's gradients to W and averaged ones to Wp, Wn."""
    return _TTQ.apply(w, wp, wn, factor)


class TernaryConv2d(nn.Conv2d, ABC):
    """An nn.Conv2d whose kernel is ternary in the TERNARY and FROZEN modes.

    Subclasses define `kernel()`. `derived_scales` is the number of per-layer scales the
    layer needs at inference that are not parameters (TWN's α): the size count adds them.
    """

    derived_scales = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._mode = Mode.FULL

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, value: Mode | str) -> None:
        self._mode = parse_mode(value)
        set_frozen([self.weight], self._mode is Mode.FROZEN)

    @abstractmethod
    def kernel(self) -> torch.Tensor:
        """The kernel the forward pass uses in the current mode."""

    @abstractmethod
    def ternary_pattern(self) -> torch.Tensor:
        """The quantized kernel's pattern in {−1, 0, 1} (what is stored in 2 bits), whatever
        the mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.kernel(), self.bias)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> TernaryConv2d:
        """The ternary version of `conv`, starting from its weights."""
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        if not conv.weight.is_meta:
            with torch.no_grad():
                layer.weight.copy_(conv.weight)
                if conv.bias is not None:
                    layer.bias.copy_(conv.bias)
        layer.reset_scales()
        return layer.train(conv.training)

    def reset_scales(self) -> None:
        """Set learned scales from the current weights (TTQ); nothing to do for TWN."""

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mode={self._mode.value}"


class TWNConv2d(TernaryConv2d):
    """Ternary weight network conv: α·Q(W), one derived scale per layer, straight-through."""

    derived_scales = 1

    def kernel(self) -> torch.Tensor:
        return apply_mode(self.weight, self._mode, TWN_FACTOR)

    def ternary_pattern(self) -> torch.Tensor:
        return twn_quantize(self.weight.detach(), TWN_FACTOR)[0]


class TTQConv2d(TernaryConv2d):
    """Trained ternary quantization conv: Wp·[W > Δ] − Wn·[W < −Δ] with learned Wp, Wn."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        factory = {"device": self.weight.device, "dtype": self.weight.dtype}
        self.wp = nn.Parameter(torch.ones((), **factory))
        self.wn = nn.Parameter(torch.ones((), **factory))
        self.reset_scales()

    @torch.no_grad()
    def reset_scales(self) -> None:
        """Wp, Wn = mean |W| over the positive and negative kept entries (1 if none).

        Starting at the weights' own magnitudes makes the first ternary forward pass the
        closest ternary kernel of this form to W (TTQ starts from a trained model)."""
        if self.weight.is_meta or not hasattr(self, "wp"):
            return
        pos, neg = ttq_masks(self.weight)
        for scale, mask in ((self.wp, pos), (self.wn, neg)):
            scale.fill_(float(_mean_over(self.weight.abs(), mask)) if mask.any() else 1.0)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.reset_scales()

    def kernel(self) -> torch.Tensor:
        if self._mode is Mode.FULL:
            return self.weight
        w = self.weight if self._mode is Mode.TERNARY else self.weight.detach()
        return ttq_quantize(w, self.wp, self.wn)

    def ternary_pattern(self) -> torch.Tensor:
        pos, neg = ttq_masks(self.weight.detach())
        return pos - neg


QUANTIZERS: dict[str, type[TernaryConv2d]] = {"twn": TWNConv2d, "ttq": TTQConv2d}


def has_unused_parameters(model: nn.Module) -> bool:
    """Whether a trainable parameter of `model` takes no part in its forward pass in the current
    mode: TTQ's Wp, Wn in mode full (DistributedDataParallel must be told, or it stops)."""
    return any(isinstance(m, TTQConv2d) and m.mode is Mode.FULL and (m.wp.requires_grad or m.wn.requires_grad)
               for m in model.modules())


def quantizer(name: str) -> type[TernaryConv2d]:
    """The ternary conv class of a quantizer name ("twn" or "ttq"); InputError otherwise."""
    cls = QUANTIZERS.get(str(name).lower())
    if cls is None:
        raise InputError(f"unknown quantization {name!r}; choose one of: {', '.join(QUANTIZERS)}")
    return cls


def ternarize(model: nn.Module, quant: str) -> nn.Module:
    """Replace, in place, every nn.Conv2d of `model` by its `quant` version; returns model (a
    model that is itself a Conv2d is returned converted, a new module: use the return value)."""
    if not isinstance(model, nn.Module):
        raise InputError(f"ternarize takes a torch.nn.Module, not {type(model).__name__}")
    cls = quantizer(quant)

    def swap(name: str, child: nn.Module) -> nn.Module | None:
        if not isinstance(child, nn.Conv2d) or isinstance(child, TernaryConv2d):
            return None
        refuse_lazy(child, name, "ternarize")
        return cls.from_conv(child)

    if isinstance(model, nn.Conv2d):
        refuse_lazy(model, "model", "ternarize")
        return cls.from_conv(model)
    replace_children(model, swap)
    return model


def ternary_layers(model: nn.Module) -> list[TernaryConv2d]:
    return [m for m in model.modules() if isinstance(m, TernaryConv2d)]

