"""The Lasagne-layout .npz that BNN-PYNQ's training scripts save (and bnntool's training too).

``np.savez(path, *params)``: arrays ``arr_0, arr_1, ...`` in network order; per layer the weight
matrix, then bias (if the layer has one), beta, gamma, mean and inv_std of its batch-norm.
Dense weights are (inputs, units); conv weights (filters, channels, k, k). All float32.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnntool.errors import FormatError, UserError
from bnntool.overlay import LayerSpec, OverlaySpec

BN_NAMES = ("beta", "gamma", "mean", "inv_std")


class WeightsError(UserError):
    """A weights file that does not fit its overlay, or holds unusable values."""


@dataclass(frozen=True)
class LayerWeights:
    """One layer's trained parameters, as float64, batch-norm broadcast to every unit."""

    weights: np.ndarray  # dense (inputs, units), conv (filters, channels, k, k)
    bias: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    mean: np.ndarray
    inv_std: np.ndarray

    @property
    def units(self) -> int:
        return self.weights.shape[1] if self.weights.ndim == 2 else self.weights.shape[0]


def arrays_per_layer(layer: LayerSpec) -> int:
    return 6 if layer.bias else 5


def layer_array_names(layer: LayerSpec) -> tuple[str, ...]:
    return ("W", "b", *BN_NAMES) if layer.bias else ("W", *BN_NAMES)


def read_npz(
    path: Path, spec: OverlaySpec, *, variance_eps: float | None = None
) -> tuple[LayerWeights, ...]:
    """Read and check every array against ``spec``.

    With ``variance_eps``, the inv_std slots hold PyTorch-style running variances, and
    inv_std = 1 / sqrt(variance + eps) is computed here (in float64).
    """
    path = Path(path)
    arrays = load_arrays(path)
    expected = sum(arrays_per_layer(layer) for layer in spec.layers)
    if len(arrays) != expected:
        per_layer = ", ".join(str(arrays_per_layer(layer)) for layer in spec.layers)
        raise WeightsError(
            f"{path} holds {len(arrays)} arrays, but a {spec.name} network has {expected} "
            f"({per_layer} per layer: W, b, beta, gamma, mean, inv_std; no b where the layer has "
            "no bias)"
        )
    layers = []
    cursor = 0
    for layer in spec.layers:
        names = layer_array_names(layer)
        values = {name: arrays[cursor + i] for i, name in enumerate(names)}
        layers.append(_layer(path, layer, values, cursor, variance_eps))
        cursor += len(names)
    return tuple(layers)


def load_arrays(path: Path) -> list[np.ndarray]:
    """The arrays arr_0, arr_1, ... of an .npz, with one-line errors for unreadable files."""
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise WeightsError(f"{path} is a single .npy array, not an .npz of layer arrays")
            names = set(npz.files)
            count = len(names)
            wanted = [f"arr_{i}" for i in range(count)]
            missing = [n for n in wanted if n not in names]
            if missing:
                raise WeightsError(
                    f"{path} has arrays named {', '.join(sorted(names)[:4])}...; expected the "
                    "positional arr_0, arr_1, ... of np.savez(path, *params)"
                )
            return [np.asarray(npz[n]) for n in wanted]
    except WeightsError:
        raise
    except zipfile.BadZipFile as e:
        raise FormatError(f"{path} is not an .npz file or is truncated ({e})") from None
    except (EOFError, zlib.error, OSError, ValueError) as e:
        raise FormatError(f"{path} is truncated or damaged ({e})") from None


def _layer(
    path: Path,
    layer: LayerSpec,
    values: dict[str, np.ndarray],
    first: int,
    variance_eps: float | None,
) -> LayerWeights:
    where = f"{path}: layer {layer.index} ({layer.kind})"
    names = list(values)
    for offset, name in enumerate(names):
        if not np.issubdtype(values[name].dtype, np.floating):
            raise WeightsError(
                f"{where}: arr_{first + offset} ({name}) is {values[name].dtype}, expected floats"
            )
    w = values["W"]
    expected = layer.npz_weight_shape
    if layer.last:
        # One unit per class: from 1 up to the overlay's output rows.
        ok = w.ndim == 2 and w.shape[0] == expected[0] and 1 <= w.shape[1] <= layer.out_channels
        want = f"({expected[0]}, 1..{layer.out_channels})"
    else:
        ok, want = w.shape == expected, str(expected)
    if not ok:
        raise WeightsError(f"{where}: arr_{first} (W) has shape {w.shape}, expected {want}")
    units = w.shape[0] if layer.is_conv else w.shape[1]
    for offset, name in enumerate(names[1:], start=1):
        shape = () if layer.batchnorm == "scalar" and name != "b" else (units,)
        if values[name].shape != shape:
            raise WeightsError(
                f"{where}: arr_{first + offset} ({name}) has shape {values[name].shape}, "
                f"expected {shape}"
            )
    floats = {name: a.astype(np.float64) for name, a in values.items()}
    for offset, name in enumerate(names):
        bad = int(np.count_nonzero(~np.isfinite(floats[name])))
        if bad:
            raise WeightsError(
                f"{where}: arr_{first + offset} ({name}) has {bad} NaN or infinite values; the "
                "training diverged or the file is damaged"
            )
    inv_std = floats["inv_std"]
    if variance_eps is not None:
        if np.any(inv_std < 0):
            raise WeightsError(f"{where}: a batch-norm variance is negative")
        inv_std = 1.0 / np.sqrt(inv_std + variance_eps)

    def full(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, (units,)).astype(np.float64)

    return LayerWeights(
        weights=floats["W"],
        bias=floats["b"] if "b" in floats else np.zeros(units),
        beta=full(floats["beta"]),
        gamma=full(floats["gamma"]),
        mean=full(floats["mean"]),
        inv_std=full(inv_std),
    )
