"""The overlay's memories: padding, distribution over PEs, 64-bit word packing, and back.

Row r of a layer's matrix goes to PE ``r % PE`` at neuron fold ``r // PE``. A PE's weight memory
word ``nf * SF + sf`` holds columns ``sf*SIMD .. sf*SIMD + SIMD - 1`` of its row, lane j in bits
``[j*wbits, (j+1)*wbits)``. Its threshold memory entry ``nf`` holds the row's thresholds in step
order. Files store the words little-endian: unsigned for weights, signed for thresholds.
"""

from __future__ import annotations

import numpy as np

from bnntool.convert.thresholds import c_int64
from bnntool.overlay import LayerSpec


def weight_codes(layer: LayerSpec, values: np.ndarray) -> np.ndarray:
    """Quantized weight values (real rows x columns) -> padded matrix of lane codes (uint64).

    1-bit: +1 -> 1, -1 -> 0; padding 1. Multi-bit: two's complement of value * 2^frac in
    ``wbits`` bits, computed as BNN-PYNQ does (out-of-range values spill, as upstream's do);
    padding 0.
    """
    wbits = layer.weights.bits
    rows, cols = values.shape
    if wbits == 1:
        codes = np.ones((layer.mh_padded, layer.mw_padded), dtype=np.uint64)
        codes[:rows, :cols] = values > 0
        return codes
    scaled = values * float(2**layer.weights.frac_bits)
    wrapped = np.where(scaled < 0, scaled + 2**wbits, scaled)
    codes = np.zeros((layer.mh_padded, layer.mw_padded), dtype=np.uint64)
    codes[:rows, :cols] = c_int64(wrapped).view(np.uint64)
    return codes


def pack_weights(layer: LayerSpec, codes: np.ndarray) -> np.ndarray:
    """Padded code matrix -> per-PE weight memories, (PE, WMEM) uint64."""
    wbits = layer.weights.bits
    lanes = codes.reshape(layer.mh_padded, layer.synapse_folds, layer.simd)
    shifts = (np.arange(layer.simd, dtype=np.uint64) * np.uint64(wbits)).astype(np.uint64)
    words = (
        np.bitwise_or.reduce(lanes << shifts, axis=-1)
        if wbits == 1
        else (lanes << shifts).sum(axis=-1, dtype=np.uint64)
    )
    folds = layer.tmem
    return words.reshape(folds, layer.pe, -1).transpose(1, 0, 2).reshape(layer.pe, -1)


def unpack_weights(layer: LayerSpec, memories: np.ndarray) -> np.ndarray:
    """Per-PE weight memories (PE, WMEM) -> the matrix of weight values the overlay uses (int8).

    Bits above SIMD x wbits are ignored, as the overlay ignores them.
    """
    wbits = layer.weights.bits
    words = memories.reshape(layer.pe, layer.tmem, layer.synapse_folds).transpose(1, 0, 2)
    shifts = (np.arange(layer.simd, dtype=np.uint64) * np.uint64(wbits)).astype(np.uint64)
    mask = np.uint64(2**wbits - 1)
    codes = (words[..., None] >> shifts) & mask
    codes = codes.reshape(layer.mh_padded, layer.mw_padded).astype(np.int16)
    if wbits == 1:
        return (2 * codes - 1).astype(np.int8)
    signed = np.where(codes >= 2 ** (wbits - 1), codes - 2**wbits, codes)
    return signed.astype(np.int8)


def pack_thresholds(layer: LayerSpec, stored: np.ndarray) -> np.ndarray:
    """Padded (rows x steps) int64 thresholds -> per-PE memories, (PE, TMEM * steps) int64."""
    k = stored.shape[1]
    return stored.reshape(layer.tmem, layer.pe, k).transpose(1, 0, 2).reshape(layer.pe, -1)


def unpack_thresholds(layer: LayerSpec, memories: np.ndarray) -> np.ndarray:
    """Per-PE threshold memories -> (rows x steps) thresholds as the overlay compares them: the low
    ``threshold bits`` of each stored word, sign-extended."""
    k = layer.steps
    stored = memories.reshape(layer.pe, layer.tmem, k).transpose(1, 0, 2).reshape(-1, k)
    bits = layer.threshold_bits
    low = stored.view(np.uint64) & np.uint64(2**bits - 1)
    signed = low.astype(np.int64)
    return np.where(signed >= 2 ** (bits - 1), signed - 2**bits, signed)


def stored_upstream(layer: LayerSpec, values: np.ndarray) -> tuple[np.ndarray, int]:
    """BNN-PYNQ's padding, offset and saturation (spec 2.5-2.6) of integer thresholds.

    Returns the stored (padded rows x steps) int64 values and how many real thresholds left the
    hardware's range (saturated to 16 bits, or wrapping in a 24-bit layer).
    """
    rows = values.shape[0]
    k = values.shape[1]
    bits = layer.threshold_bits
    pad_value = 2**bits - 1
    offset = np.int64(layer.accumulator_offset)
    frac = layer.threshold_format.frac_bits if layer.threshold_format else 0
    if frac == 0:
        padded = np.full((layer.mh_padded, k), pad_value, dtype=np.int64)
        padded[:rows] = values
        shifted = padded - offset
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        saturated = int(np.count_nonzero((shifted[:rows] < low) | (shifted[:rows] > high)))
        return np.clip(shifted, low, high), saturated
    scale = 2.0**frac
    padded_f = np.full((layer.mh_padded, k), float(pad_value))
    padded_f[:rows] = values.astype(np.float64) / scale
    stored = c_int64((padded_f - float(offset)) * scale)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    wrapped = int(np.count_nonzero((stored[:rows] < low) | (stored[:rows] > high)))
    return stored, wrapped


def stored_exact(layer: LayerSpec, values: np.ndarray) -> np.ndarray:
    """Exact thresholds (already within the accumulator range) with the padding offset taken off;
    padded rows never fire."""
    k = values.shape[1]
    bits = layer.threshold_bits
    unit = layer.threshold_scale // 2**layer.inputs.frac_bits
    stored = np.full((layer.mh_padded, k), 2 ** (bits - 1) - 1, dtype=np.int64)
    stored[: values.shape[0]] = values - layer.accumulator_offset * unit
    return stored
