"""LFC and CNV networks built from an overlay spec, and their Lasagne-layout .npz arrays."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bnntool.convert.npz import layer_array_names
from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec
from bnntool.train.layers import LasagneBatchNorm, QuantConv2d, QuantLinear, activate, dropout


class QuantNet(nn.Module):
    """The trained network of an overlay: what trains is what the overlay runs.

    Input: LFC +-1 bits (N x bits); CNV 8-bit codes / 128 (N x 3 x 32 x 32). Each layer:
    quantized weights, bias, batch-norm, then (except the last) the activation quantizer,
    max-pool after the activation (as the overlay pools), dropout on dense layers.
    """

    def __init__(
        self,
        spec: OverlaySpec,
        classes: int,
        dropout_input: float = 0.0,
        dropout_hidden: float = 0.0,
    ) -> None:
        super().__init__()
        if not 1 <= classes <= spec.max_classes:
            raise UserError(
                f"{classes} classes do not fit overlay {spec.name} ({spec.max_classes} outputs)"
            )
        self.spec = spec
        self.classes = classes
        self.dropout_input = dropout_input
        self.dropout_hidden = dropout_hidden
        self.linear = nn.ModuleList()
        self.norms = nn.ModuleList()
        for layer in spec.layers:
            units = classes if layer.last else layer.out_channels
            if layer.is_conv:
                self.linear.append(
                    QuantConv2d(layer.in_channels, units, layer.kernel, layer.weights.bits)
                )
            else:
                self.linear.append(
                    QuantLinear(layer.mw, units, layer.weights.bits, bias=layer.bias)
                )
            self.norms.append(LasagneBatchNorm(units, scalar=layer.batchnorm == "scalar"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropout_input and not self.spec.layers[0].is_conv:
            x = dropout(x, self.dropout_input, self.training)
        for layer, linear, norm in zip(self.spec.layers, self.linear, self.norms, strict=True):
            if not layer.is_conv and x.dim() > 2:
                x = x.flatten(1)  # NCHW: channel-major, as Lasagne flattens
            y = norm(linear(x))
            if layer.last:
                return y
            x = activate(y, layer.activations.bits)
            if layer.pool:
                x = F.max_pool2d(x, 2)
            if not layer.is_conv and self.dropout_hidden:
                x = dropout(x, self.dropout_hidden, self.training)
        raise AssertionError("unreachable")

    def quantized_weights(self) -> list[tuple[nn.Parameter, int, int]]:
        """(weight, fan-in, fan-out) of every quantized layer (upstream's Glorot step scale)."""
        out = []
        for linear in self.linear:
            w = linear.weight
            if isinstance(linear, QuantConv2d):
                k = w.shape[2] * w.shape[3]
                out.append((w, w.shape[1] * k, w.shape[0] * k))
            else:
                out.append((w, w.shape[1], w.shape[0]))
        return out

    @torch.no_grad()
    def clip_weights(self) -> None:
        for w, _, _ in self.quantized_weights():
            w.clamp_(-1, 1)

    # -- the .npz layout (spec 1.7) ---------------------------------------------------------

    @torch.no_grad()
    def to_arrays(self) -> list[np.ndarray]:
        """arr_0, arr_1, ...: per layer W (dense: inputs x units), b, beta, gamma, mean, inv_std."""
        arrays: list[np.ndarray] = []
        for layer, linear, norm in zip(self.spec.layers, self.linear, self.norms, strict=True):
            w = linear.weight.detach().cpu().numpy()
            arrays.append(np.ascontiguousarray(w if layer.is_conv else w.T, dtype=np.float32))
            if layer.bias:
                arrays.append(linear.bias.detach().cpu().numpy().astype(np.float32))
            for t in (norm.beta, norm.gamma, norm.mean, norm.inv_std):
                arrays.append(t.detach().cpu().numpy().astype(np.float32))
        return arrays

    @torch.no_grad()
    def load_arrays(self, arrays: list[np.ndarray], source: str) -> None:
        """Load an .npz's arrays (ours or BNN-PYNQ's Theano scripts'); shapes are checked."""
        expected = sum(len(layer_array_names(layer)) for layer in self.spec.layers)
        if len(arrays) != expected:
            raise UserError(
                f"{source} holds {len(arrays)} arrays; overlay {self.spec.name} needs {expected}"
            )
        i = 0
        for layer, linear, norm in zip(self.spec.layers, self.linear, self.norms, strict=True):
            w = linear.weight
            shape = tuple(w.shape) if layer.is_conv else (w.shape[1], w.shape[0])
            targets = [("W", w, shape)]
            if layer.bias:
                targets.append(("b", linear.bias, tuple(linear.bias.shape)))
            targets += [
                (n, t, tuple(t.shape))
                for n, t in (
                    ("beta", norm.beta),
                    ("gamma", norm.gamma),
                    ("mean", norm.mean),
                    ("inv_std", norm.inv_std),
                )
            ]
            for name, target, want in targets:
                array = np.asarray(arrays[i])
                if array.shape != want:
                    raise UserError(
                        f"{source}: arr_{i} ({name} of layer {layer.index}) has shape "
                        f"{array.shape}, expected {want} for overlay {self.spec.name} with "
                        f"{self.classes} classes"
                    )
                value = torch.from_numpy(np.array(array, dtype=np.float32))  # 0-d stays 0-d
                target.copy_(value if layer.is_conv or name != "W" else value.T)
                i += 1
