"""BNN-PYNQ's finnthesizer entry points, for existing ``*-gen-weights-*.py`` scripts.

Replace ``import finnthesizer as fth`` with ``import bnntool.finnthesizer as fth`` and the script
runs on a current Python: the calls map onto bnntool's converter in its ``upstream`` threshold
mode, which writes what BNN-PYNQ's converter writes, byte for byte.

* ``convertFCNetwork(npz, binDir, hlsDir, simd, pe, Wf, Af, If, Wi, Ai, Ii)``: fully connected
  networks (LFC and variants), the 11-argument form of BNN-PYNQ's current converter;
* ``convertFCNetwork(npz, binDir, simd, pe)``: the older 4-argument, all-binary form;
* ``convertCNVNetwork(npz, binDir, hlsDir, simd, pe, Wf, Af, If, Wi, Ai, Ii)``: the CNV topology
  (6 convolutions, 3 dense layers) with the given folding and precisions.

Binary files go to ``binDir`` (created if needed, files replaced); ``config.h`` to ``hlsDir``.
As with the original, the script writes ``classes.txt`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bnntool.convert import layer_memories
from bnntool.convert.npz import read_npz
from bnntool.convert.params import write_layer
from bnntool.hw.config_h import render
from bnntool.overlay import OverlaySpec, pad_to, spec_from_dict

__all__ = ["convertCNVNetwork", "convertFCNetwork", "padTo"]

_CNV_CONVS = ((64, False), (64, True), (128, False), (128, True), (256, False), (256, False))


def padTo(val: int, pad: int) -> int:
    """``val`` rounded up to a multiple of ``pad``."""
    return pad_to(val, pad)


def convertFCNetwork(npzFile: str, targetDirBin: str, *args: Any) -> None:
    """Convert a fully connected network (see the module docstring for the two forms)."""
    if len(args) == 2:
        simd, pe = args
        hls_dir = None
        w_frac = a_frac = i_frac = [0] * len(simd)
        w_int = a_int = i_int = [1] * len(simd)
    elif len(args) == 9:
        hls_dir, simd, pe, w_frac, a_frac, i_frac, w_int, a_int, i_int = args
    else:
        raise TypeError(
            "convertFCNetwork takes (npzFile, targetDirBin, simdCounts, peCounts) or "
            "(npzFile, targetDirBin, targetDirHLS, simdCounts, peCounts, 6 precision lists)"
        )
    shapes = _dense_shapes(npzFile, len(simd))
    layers = []
    for i, (_, units) in enumerate(shapes):
        last = i == len(shapes) - 1
        layers.append(
            {
                "kind": "dense",
                "outputs": pad_to(units, 64) if last else units,
                "simd": simd[i],
                "pe": pe[i],
                "weights": f"{w_int[i]}.{w_frac[i]}",
                "activations": f"{a_int[i]}.{a_frac[i]}",
            }
        )
    raw = {
        "name": "finnthesizer-fc",
        "boards": [],
        "input": {
            "rows": shapes[0][0],
            "cols": 1,
            "channels": 1,
            "precision": f"{i_int[0]}.{i_frac[0]}",
        },
        "layers": layers,
    }
    _convert(npzFile, targetDirBin, hls_dir, spec_from_dict(raw, f"convertFCNetwork({npzFile})"))


def convertCNVNetwork(
    npzFile: str,
    targetDirBin: str,
    targetDirHLS: str,
    simdCounts: list[int],
    peCounts: list[int],
    WeightsPrecisions_fractional: list[int],
    ActivationPrecisions_fractional: list[int],
    InputPrecisions_fractional: list[int],
    WeightsPrecisions_integer: list[int],
    ActivationPrecisions_integer: list[int],
    InputPrecisions_integer: list[int],
) -> None:
    """Convert a CNV network (BNN-PYNQ's cifar10/gtsrb drivers) with the given folding."""
    w = [
        f"{i}.{f}"
        for i, f in zip(WeightsPrecisions_integer, WeightsPrecisions_fractional, strict=True)
    ]
    a = [
        f"{i}.{f}"
        for i, f in zip(ActivationPrecisions_integer, ActivationPrecisions_fractional, strict=True)
    ]
    i0 = f"{InputPrecisions_integer[0]}.{InputPrecisions_fractional[0]}"
    classes = _dense_shapes_last(npzFile)
    layers: list[dict[str, Any]] = []
    for i, (channels, pool) in enumerate(_CNV_CONVS):
        layer: dict[str, Any] = {
            "kind": "conv",
            "channels": channels,
            "kernel": 3,
            "simd": simdCounts[i],
            "pe": peCounts[i],
            "weights": w[i],
            "activations": a[i],
            "pool": pool,
        }
        if i == 0:
            layer["thresholds"] = "16.8"
        layers.append(layer)
    for i in (6, 7):
        layers.append(
            {
                "kind": "dense",
                "outputs": 512,
                "simd": simdCounts[i],
                "pe": peCounts[i],
                "weights": w[i],
                "activations": a[i],
            }
        )
    layers.append(
        {
            "kind": "dense",
            "outputs": pad_to(classes, 64),
            "simd": simdCounts[8],
            "pe": peCounts[8],
            "weights": w[8],
            "activations": "16.0",
            "thresholds": False,
            "bias": False,
            "batchnorm": "scalar",
        }
    )
    raw = {
        "name": "finnthesizer-cnv",
        "boards": [],
        "input": {"rows": 32, "cols": 32, "channels": 3, "precision": i0},
        "layers": layers,
    }
    _convert(
        npzFile, targetDirBin, targetDirHLS, spec_from_dict(raw, f"convertCNVNetwork({npzFile})")
    )


def _dense_shapes(npz_file: str, count: int) -> list[tuple[int, int]]:
    with np.load(npz_file) as npz:
        return [tuple(npz[f"arr_{6 * i}"].shape) for i in range(count)]  # type: ignore[misc]


def _dense_shapes_last(npz_file: str) -> int:
    with np.load(npz_file) as npz:
        return int(npz["arr_48"].shape[1])


def _convert(npz_file: str, bin_dir: str, hls_dir: str | None, spec: OverlaySpec) -> None:
    weights = read_npz(Path(npz_file), spec)
    target = Path(bin_dir)
    target.mkdir(parents=True, exist_ok=True)
    for layer, params in zip(spec.layers, weights, strict=True):
        print(
            f"process layer {layer.index}: {layer.mh_padded} x {layer.mw_padded}, "
            f"SIMD {layer.simd}, PE {layer.pe}, WMEM {layer.wmem}, TMEM {layer.tmem}"
        )
        wmem, tmem, _ = layer_memories(layer, params, "upstream")
        write_layer(target, layer, wmem, tmem)
    if hls_dir is not None:
        Path(hls_dir).mkdir(parents=True, exist_ok=True)
        (Path(hls_dir) / "config.h").write_text(render(spec))
