"""From trained weights to the overlay's weight matrix: sign flip, quantization, orientation.

The overlay's matrix has one row per neuron (dense unit or conv filter) and, for convolutions,
columns ordered kernel position first, then channel: column (ky*k + kx)*C + c. The first dense
layer after the convolutions takes the conv output pixel-major (column p*C + c) where Lasagne
flattened it channel-major (c*HW + p).
"""

from __future__ import annotations

import numpy as np

from bnntool.overlay import LayerSpec


def orient(layer: LayerSpec, weights: np.ndarray) -> np.ndarray:
    """The .npz weight array as the overlay's (neurons x inputs) matrix, columns in stream order."""
    if layer.is_conv:
        matrix = np.moveaxis(weights, 1, -1).reshape(weights.shape[0], -1)
    else:
        matrix = weights.T
    if layer.interleave_channels:
        rows = matrix.shape[0]
        channels = layer.interleave_channels
        matrix = matrix.reshape(rows, channels, -1).swapaxes(1, -1).reshape(rows, -1)
    return matrix


def flip_signs(layer: LayerSpec, weights: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Multiply every weight of neuron n by ``signs[n]`` (upstream flips before quantizing)."""
    shape = (-1, 1, 1, 1) if layer.is_conv else (1, -1)
    return weights * signs.reshape(shape)


def quantize_upstream(layer: LayerSpec, weights: np.ndarray) -> np.ndarray:
    """BNN-PYNQ's converter: 1-bit: 0 -> +1, else the sign; multi-bit: round half up, no clip."""
    if layer.weights.bits == 1:
        return np.where(weights < 0, -1.0, 1.0)
    scale = float(2**layer.weights.frac_bits)
    return np.floor(weights * scale + 0.5) / scale


def quantize_trained(layer: LayerSpec, weights: np.ndarray) -> np.ndarray:
    """The trained model's weight quantizer (bnntool's training uses the same rule):
    1-bit: +1 if w >= 0 else -1; 2-bit: clip to [-1, 1], then round half up."""
    if layer.weights.bits == 1:
        return np.where(weights >= 0, 1.0, -1.0)
    scale = float(2**layer.weights.frac_bits)
    return np.floor(np.clip(weights, -1.0, 1.0) * scale + 0.5) / scale


def out_of_range(layer: LayerSpec, weights: np.ndarray) -> int:
    """Latent multi-bit weights outside the trained range [-1, 1] (clipped in training)."""
    if layer.weights.bits == 1:
        return 0
    return int(np.count_nonzero(np.abs(weights) > 1.0))
