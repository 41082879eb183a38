"""The sum-product network (SPN) core shared by `search --method spn` and `fastmm.nn`.

    vec(C) = Wc · ((Wa · vec A) ⊙ (Wb · vec B))

Ternary weights use the TWN quantizer (Li et al. 2016): Δ = 0.7·mean|W|,
Q = sign(W)·[|W| > Δ], α = mean |W| over the kept entries, with a
straight-through gradient (the gradient of α·Q is passed to W unchanged).
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import nn

from fastmm.errors import InputError

TWN_FACTOR = 0.7


class Mode(str, Enum):
    """How an SPN weight is used in the forward pass."""

    FULL = "full"  # full precision, trainable
    TERNARY = "ternary"  # TWN-quantized in the forward pass, straight-through gradient
    FROZEN = "frozen"  # quantized and fixed; only the scales / ã are trained


def parse_mode(mode: Mode | str) -> Mode:
    """A Mode from its name; InputError (one line) for anything else."""
    try:
        return Mode(mode)
    except ValueError:
        names = ", ".join(m.value for m in Mode)
        raise InputError(f"unknown SPN mode {mode!r}; choose one of: {names}") from None


def set_frozen(weights: list[torch.Tensor], frozen: bool) -> None:
    """Freeze (or unfreeze) weights; a frozen weight also loses its gradient, so no optimizer
    (momentum, weight decay) can move it."""
    for w in weights:
        w.requires_grad_(not frozen)
        if frozen:
            w.grad = None


def accumulation_dtype(w: torch.Tensor) -> torch.dtype:
    """At least float32: a sum over a half-precision weight overflows (fp16 max 65504) or
    rounds away its small terms, so reductions over weights accumulate in this dtype."""
    return torch.promote_types(w.dtype, torch.float32)


def twn_threshold(w: torch.Tensor, factor: float = TWN_FACTOR) -> torch.Tensor:
    """Δ = factor · mean|W| (TWN's approximation of the optimal threshold), in W's dtype."""
    return (factor * w.abs().mean(dtype=accumulation_dtype(w))).to(w.dtype)


def twn_quantize(w: torch.Tensor, factor: float = TWN_FACTOR) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (Q, α): Q in {-1, 0, 1} with W ≈ α·Q. No gradient flows through this."""
    with torch.no_grad():
        delta = twn_threshold(w, factor)
        mask = w.abs() > delta
        q = torch.sign(w) * mask
        kept = mask.sum()
        total = (w.abs() * mask).sum(dtype=accumulation_dtype(w))
        alpha = torch.where(kept > 0, total / kept.clamp(min=1), total.new_zeros(())).to(w.dtype)
    return q, alpha


class _TernarySTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor, factor: float) -> torch.Tensor:  # noqa: D401
        q, alpha = twn_quantize(w, factor)
        return alpha * q

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def ternarize(w: torch.Tensor, factor: float = TWN_FACTOR) -> torch.Tensor:
    """α·Q(W) in the forward pass, identity gradient in the backward pass."""
    return _TernarySTE.apply(w, factor)


def apply_mode(w: torch.Tensor, mode: Mode | str, factor: float = TWN_FACTOR) -> torch.Tensor:
    """The weight as the forward pass sees it in the given mode."""
    mode = Mode(mode)
    if mode is Mode.FULL:
        return w
    if mode is Mode.TERNARY:
        return ternarize(w, factor)
    q, alpha = twn_quantize(w, factor)
    return (alpha * q).detach()


class SumProduct(nn.Module):
    """The SPN for ⟨n,m,p⟩ with r hidden multiplications, on row-major vec(A), vec(B).

    forward(a, b) takes a: (..., n*m) and b: (..., m*p) and returns (..., n*p).
    """

    def __init__(self, n: int, m: int, p: int, r: int, init_std: float | None = None):
        super().__init__()
        self.shape = (n, m, p)
        self.r = r
        std = init_std if init_std is not None else 0.5
        self.Wa = nn.Parameter(torch.randn(r, n * m) * std)
        self.Wb = nn.Parameter(torch.randn(r, m * p) * std)
        self.Wc = nn.Parameter(torch.randn(n * p, r) * std)
        self.mode = Mode.FULL

    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            apply_mode(self.Wa, self.mode),
            apply_mode(self.Wb, self.mode),
            apply_mode(self.Wc, self.mode),
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        wa, wb, wc = self.weights()
        return ((a @ wa.T) * (b @ wb.T)) @ wc.T
