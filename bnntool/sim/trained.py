"""The trained network itself, evaluated from its .npz: the reference that verify compares with.

It computes what the trained model computes, independently of any thresholds: quantized weights
(bnntool's training quantizers), the layer sums plus bias, Lasagne's batch-norm
``(x - mean) * (gamma * inv_std) + beta``, the activation quantizer (1-bit: ``y >= 0``; 2-bit:
``y >= -0.5`` and ``y >= 0.5``), and max-pool after the activation, as bnntool trains. The last
layer's batch-norm outputs are the logits. Everything is float64; where a batch-norm output lies
within rounding distance of a step, it is decided again in exact rational arithmetic.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnntool.convert.brevitas import is_checkpoint
from bnntool.convert.matrices import quantize_trained
from bnntool.convert.npz import LayerWeights, read_npz
from bnntool.convert.thresholds import steps
from bnntool.encoding import InputEncoding
from bnntool.overlay import LayerSpec, OverlaySpec
from bnntool.sim.inputs import HostInput

if TYPE_CHECKING:
    from bnntool.sim.brevitas import BrevitasModel


class TrainedModel:
    """The float reference of a trained network (an .npz in the Lasagne layout)."""

    def __init__(
        self,
        spec: OverlaySpec,
        weights: tuple[LayerWeights, ...],
        encoding: InputEncoding | None = None,
    ) -> None:
        self.spec = spec
        self.host = HostInput(spec, encoding)
        self.layers = list(zip(spec.layers, weights, strict=True))
        self._w = [self._matrix(layer, p) for layer, p in self.layers]

    @classmethod
    def from_npz(
        cls,
        path: Path,
        spec: OverlaySpec,
        encoding: InputEncoding | None = None,
        variance_eps: float | None = None,
    ) -> TrainedModel | BrevitasModel:
        """The reference of an .npz; of a Brevitas checkpoint, Brevitas's own model."""
        if is_checkpoint(Path(path)):
            from bnntool.sim.brevitas import BrevitasModel

            return BrevitasModel(Path(path), spec, encoding)
        return cls(spec, read_npz(Path(path), spec, variance_eps=variance_eps), encoding)

    @property
    def outputs(self) -> int:
        return self.layers[-1][1].units

    @staticmethod
    def _matrix(layer: LayerSpec, p: LayerWeights) -> np.ndarray:
        q = quantize_trained(layer, p.weights)
        if layer.is_conv:  # (filters, channels, k, k) -> (k*k*channels, filters), (ky, kx, c) order
            return np.ascontiguousarray(np.moveaxis(q, 1, -1).reshape(q.shape[0], -1).T)
        return q

    def run(self, images: np.ndarray, *, keep: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (N x classes) and, with ``keep``, every thresholded layer's activations."""
        prepared = self.host.prepare(images)
        x = prepared.astype(np.float64) / 128 if self.spec.network == "cnv" else 2.0 * prepared - 1
        acts = []
        n = len(images)
        for (layer, p), w in zip(self.layers, self._w, strict=True):
            if layer.is_conv:
                windows = sliding_window_view(x, (layer.kernel, layer.kernel), axis=(1, 2))
                cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * layer.out_dim**2, -1)
                z = cols @ w
            else:
                if x.ndim == 4:  # Lasagne flattens (channel, row, col)
                    x = x.transpose(0, 3, 1, 2)
                z = x.reshape(n, -1) @ w
            z = z + p.bias
            y = (z - p.mean) * (p.gamma * p.inv_std) + p.beta
            if layer.last:
                return y, acts
            level = np.zeros(y.shape)
            for step in steps(layer):
                level += _at_least(y, z, p, float(step))
            out = 2 * level - 1 if layer.activations.bits == 1 else level - 1
            if layer.is_conv:
                out = out.reshape(n, layer.out_dim, layer.out_dim, -1)
                if layer.pool:
                    d = layer.out_dim // 2
                    out = out.reshape(n, d, 2, d, 2, -1).max(axis=(2, 4))
            if keep:
                acts.append(out)
            x = out
        raise AssertionError("a network ends with its last layer")


def _at_least(y: np.ndarray, z: np.ndarray, p: LayerWeights, step: float) -> np.ndarray:
    """y >= step, with the values float64 cannot decide re-evaluated exactly.

    ``z`` (the layer sum plus bias) is exact in float64: sums of small integers times the input
    LSB. Only the batch-norm arithmetic rounds, by far less than 1e-9 of its terms.
    """
    fires = y >= step
    scale = 1 + np.abs(z - p.mean) * np.abs(p.gamma * p.inv_std) + np.abs(p.beta) + abs(step)
    near = np.argwhere(np.abs(y - step) <= 1e-9 * scale)
    for index in near:
        unit = index[-1]
        g = Fraction(p.gamma[unit]) * Fraction(p.inv_std[unit])
        exact = (Fraction(z[tuple(index)]) - Fraction(p.mean[unit])) * g + Fraction(p.beta[unit])
        fires[tuple(index)] = exact >= Fraction(step)
    return fires
