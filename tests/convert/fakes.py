"""Generated .npz files in the Lasagne layout, with the edge cases converters get wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bnntool.overlay import OverlaySpec


def layer_arrays(
    spec: OverlaySpec, rng: np.random.Generator, classes: int = 10, edge: bool = True
) -> list[np.ndarray]:
    """Random trained-looking parameters for every layer of ``spec`` (float32, upstream order).

    With ``edge``, the values include what breaks converters: negative gamma, weights of
    exactly 0 and +-0.5, thresholds on exact integers (ties), and large beta (saturation).
    """
    arrays: list[np.ndarray] = []
    for layer in spec.layers:
        units = classes if layer.last else layer.out_channels
        if layer.is_conv:
            w = rng.uniform(-1, 1, (units, layer.in_channels, layer.kernel, layer.kernel))
        else:
            w = rng.uniform(-1, 1, (layer.mw, units))
        if edge:
            flat = w.reshape(-1)
            picks = rng.choice(flat.size, size=max(4, flat.size // 50), replace=False)
            flat[picks] = rng.choice([0.0, 0.5, -0.5, 1.0, -1.0], size=picks.size)
        arrays.append(w.astype(np.float32))
        if layer.batchnorm == "scalar":
            gamma = np.float32(rng.choice([-1, 1]) * rng.uniform(0.5, 2))
            arrays += [
                np.float32(rng.normal()),
                gamma,
                np.float32(rng.normal()),
                np.float32(rng.uniform(0.01, 1)),
            ]
            continue
        fan_in = layer.mw
        scale = np.sqrt(fan_in)
        bias = rng.normal(0, 1, units)
        beta = rng.normal(0, 1, units)
        gamma = rng.uniform(0.2, 2, units) * rng.choice([-1, 1], units, p=[0.3, 0.7])
        mean = rng.normal(0, scale, units)
        inv_std = 1 / rng.uniform(0.5 * scale, 2 * scale, units)
        if edge and units >= 8:
            # Ties: thresholds that land on integers exactly.
            k = units // 8
            inv_std[:k] = 0.25
            gamma[:k] = np.where(rng.random(k) < 0.5, -0.5, 0.5)
            beta[:k] = 0.0
            bias[:k] = 0.0
            mean[:k] = np.round(mean[:k])
            # Saturation: thresholds far outside 16 bits.
            beta[k : k + 2] = [1e6, -1e6]
        arrays += [a.astype(np.float32) for a in (bias, beta, gamma, mean, inv_std)]
        if not layer.bias:
            arrays.pop(-5)
    return arrays


def write_npz(path: Path, arrays: list[np.ndarray]) -> Path:
    np.savez(path, *arrays)
    return path
