"""Quantized layers with exactly the arithmetic the overlay computes (spec 1.1, 1.4, 3.6).

* weights: 1-bit sign (w >= 0 -> +1) or 2-bit {-1, 0, +1} (clip to [-1, 1], round half up), with
  a straight-through gradient; the latent weights stay in [-1, 1] (clipped after every step);
* activations: 1-bit sign (y >= 0 -> +1) or 2-bit (y < -0.5 -> -1, y >= 0.5 -> +1, else 0), with
  the hard-tanh straight-through gradient;
* batch-norm as Lasagne's: batch statistics in training, running averages of the mean and of
  inv_std = 1/sqrt(var + eps) itself (eps 1e-4, alpha 0.1), inference
  ``(x - mean) * (gamma * inv_std) + beta``. It exports to and imports from the .npz unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def sign(x: torch.Tensor) -> torch.Tensor:
    """+1 where x >= 0 (-0.0 included), else -1: 2 * sign(x) + 1 clamped to [-1, 1].

    The same values as ``torch.where(x >= 0, 1, -1)``; comparisons that produce bool tensors
    are several times slower than these arithmetic passes on CPU.
    """
    return torch.sign(x).mul_(2).add_(1).clamp_(-1, 1)


def _inside(x: torch.Tensor) -> torch.Tensor:
    """1.0 where |x| <= 1, else 0.0 (the hard-tanh straight-through mask), by arithmetic."""
    return 1 - torch.sign(torch.relu(x.abs() - 1))


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout: keep each element with probability 1 - p, scaled by 1 / (1 - p).

    A uniform draw u in [0, 1) is kept iff floor(u + 1 - p) = 1; faster on CPU than
    ``F.dropout``'s Bernoulli draws."""
    if not training or p == 0:
        return x
    keep = torch.rand_like(x).add_(1 - p).floor_()
    return x * keep.mul_(1 / (1 - p))


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return sign(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * _inside(x)


class _TernarySTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x >= 0.5).to(x.dtype) - (x < -0.5).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * _inside(x)


class _IdentitySTE(torch.autograd.Function):
    """Forward: a quantizer's value; backward: the identity (for weights)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return q

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad, None


def quantize_weights(w: torch.Tensor, bits: int) -> torch.Tensor:
    """1-bit: +1 if w >= 0 else -1; 2-bit: clip to [-1, 1] and round half up. Gradient: identity."""
    with torch.no_grad():
        q = sign(w) if bits == 1 else torch.floor(w.clamp(-1, 1) + 0.5)
    return _IdentitySTE.apply(w, q)


def activate(y: torch.Tensor, bits: int) -> torch.Tensor:
    """The activation quantizer: 1-bit sign (0 -> +1) or 2-bit levels -1/0/+1 at -0.5 and +0.5."""
    return _SignSTE.apply(y) if bits == 1 else _TernarySTE.apply(y)


class QuantLinear(nn.Linear):
    def __init__(self, inputs: int, outputs: int, weight_bits: int, bias: bool = True) -> None:
        super().__init__(inputs, outputs, bias=bias)
        self.weight_bits = weight_bits
        nn.init.uniform_(self.weight, -1, 1)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, quantize_weights(self.weight, self.weight_bits), self.bias)


class QuantConv2d(nn.Conv2d):
    def __init__(self, inputs: int, outputs: int, kernel: int, weight_bits: int) -> None:
        super().__init__(inputs, outputs, kernel, bias=True)  # valid, stride 1, cross-correlation
        self.weight_bits = weight_bits
        nn.init.uniform_(self.weight, -1, 1)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, quantize_weights(self.weight, self.weight_bits), self.bias)


class LasagneBatchNorm(nn.Module):
    """Batch-norm over all axes but ``features`` (or over everything, ``scalar``), Lasagne-style."""

    def __init__(
        self, features: int, scalar: bool = False, eps: float = 1e-4, alpha: float = 0.1
    ) -> None:
        super().__init__()
        shape = () if scalar else (features,)
        self.scalar = scalar
        self.eps = eps
        self.alpha = alpha
        self.beta = nn.Parameter(torch.zeros(shape))
        self.gamma = nn.Parameter(torch.ones(shape))
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("inv_std", torch.ones(shape))

    def _view(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.scalar or x.dim() == 2:
            return t
        return t.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            dims = tuple(range(x.dim())) if self.scalar else (0, *range(2, x.dim()))
            mean = x.mean(dim=dims)
            inv_std = 1.0 / torch.sqrt(x.var(dim=dims, unbiased=False) + self.eps)
            with torch.no_grad():
                self.mean.mul_(1 - self.alpha).add_(self.alpha * mean.detach())
                self.inv_std.mul_(1 - self.alpha).add_(self.alpha * inv_std.detach())
        else:
            mean, inv_std = self.mean, self.inv_std
        return (x - self._view(mean, x)) * self._view(self.gamma * inv_std, x) + self._view(
            self.beta, x
        )
