"""Thresholds from batch-norm: BNN-PYNQ's converter to the byte, and the exact ones.

A thresholded layer of the overlay outputs ``ActVal + #{i : t_i < acc}`` (strict compare) for
its integer accumulator ``acc``. The trained model outputs, per step ``s_i``, whether the
batch-norm output ``y = (x - mean) * (gamma * inv_std) + beta`` (``x`` = accumulator + bias) is
``>= s_i``. Steps: ``0`` for 1-bit activations, ``-0.5, +0.5`` for 2-bit ones.

* ``upstream``: the formulas of BNN-PYNQ's finnthesizer in float64, including its truncations
  and its ceil for negative gamma, which make the overlay differ from the trained model on some
  accumulator values (ties, and one value per negative-gamma neuron).
* ``exact``: for each neuron and step, the integer threshold with which the overlay's compare
  gives exactly the trained model's answer for every reachable accumulator value, computed in
  exact rational arithmetic from the .npz values.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bnntool.convert.npz import LayerWeights
from bnntool.overlay import LayerSpec

INT64_MIN = np.iinfo(np.int64).min


def steps(layer: LayerSpec) -> np.ndarray:
    """The activation steps, in BNN-PYNQ's float64 form."""
    bits = layer.activations.bits
    if bits == 1:
        return np.zeros(1, dtype=np.float64)
    half_lsb = 1.0 / 2 ** (layer.activations.frac_bits + 1)
    return np.linspace(-1, 1, num=2 ** (bits - 1), endpoint=False, dtype=np.float64) + half_lsb


def c_int64(values: np.ndarray) -> np.ndarray:
    """float64 -> int64 as C truncation on x86-64 does it (NaN and overflow -> INT64_MIN)."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values) & (np.abs(values) < 2.0**63)
    out = np.full(values.shape, INT64_MIN, dtype=np.int64)
    out[ok] = np.trunc(values[ok]).astype(np.int64)
    return out


@dataclass(frozen=True)
class Thresholds:
    """Per-neuron integer thresholds (neurons x steps) before padding, and the weight signs."""

    values: np.ndarray  # int64, in the unit of the stored thresholds, before the padding offset
    signs: np.ndarray  # float64 per neuron: the flip applied to the neuron's weights


def upstream(layer: LayerSpec, p: LayerWeights) -> Thresholds:
    """BNN-PYNQ's finnthesizer, operation for operation (spec 2.3)."""
    signs = np.sign(p.gamma)
    if not layer.has_thresholds:
        return Thresholds(np.zeros((p.units, 0), dtype=np.int64), signs)
    # gamma = 0 gives NaN here, as upstream; it is counted and reported by the caller.
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.stack(
            [(p.mean - p.bias) + ((s - p.beta) / (p.gamma * p.inv_std)) for s in steps(layer)],
            axis=1,
        )
        fan_in = layer.mw
        if layer.is_conv:
            factor = signs * layer.threshold_scale
            scaled = factor[:, None] * raw
            rounded = np.where(signs[:, None] < 0, np.ceil(scaled), np.floor(scaled))
            if layer.popcount_thresholds:
                rounded = (fan_in + rounded) / 2
            return Thresholds(c_int64(rounded), signs)
        scaled = signs[:, None] * raw
        if layer.popcount_thresholds:
            return Thresholds(c_int64((fan_in + scaled) / 2), signs)
        rounded = np.where(signs[:, None] < 0, np.ceil(scaled), np.floor(scaled))
        return Thresholds(c_int64(rounded), signs)


def accumulator_range(layer: LayerSpec) -> tuple[int, int]:
    """Reachable range of the overlay's accumulator, in stored-threshold units, without padding.

    XNOR layers count matches (0..fan-in); the others sum weight x input products, with inputs
    of at most 1 (or 128 codes of 1/128 for the 8-bit image) and weights of at most 1.
    """
    fan_in = layer.mw
    if layer.xnor:
        return 0, fan_in
    max_input = 2**layer.inputs.frac_bits  # 1.7 fixed point: codes -128..127
    unit = layer.threshold_scale // 2**layer.inputs.frac_bits
    bound = fan_in * max_input * unit
    return -bound, bound


def exact(layer: LayerSpec, p: LayerWeights) -> Thresholds:
    """Thresholds with which the overlay fires exactly when the trained model's quantizer does.

    For each neuron, with input LSB ``u`` and integer sum ``K`` of quantized weight x input code:
    ``y(K) >= s`` holds for ``K >= ceil(c/u)`` if gamma*inv_std > 0 and for ``K <= floor(c/u)`` if
    it is < 0, where ``c = mean - b + (s - beta) / (gamma * inv_std)``. Negative-gamma neurons get
    their weights negated (after quantization), so the overlay sees ``-K``. Thresholds beyond the
    reachable accumulator range are clamped to it (the behaviour is the same).
    """
    signs = np.where(p.gamma < 0, -1.0, 1.0)
    if not layer.has_thresholds:
        return Thresholds(np.zeros((p.units, 0), dtype=np.int64), signs)
    lo, hi = accumulator_range(layer)
    unit = layer.threshold_scale // 2**layer.inputs.frac_bits  # stored units per K step
    lsb = Fraction(1, 2**layer.inputs.frac_bits)
    step_values = [Fraction(float(s)) for s in steps(layer)]
    out = np.empty((p.units, len(step_values)), dtype=np.int64)
    for n in range(p.units):
        g = Fraction(float(p.gamma[n])) * Fraction(float(p.inv_std[n]))
        beta = Fraction(float(p.beta[n]))
        base = Fraction(float(p.mean[n])) - Fraction(float(p.bias[n]))
        for i, s in enumerate(step_values):
            if g == 0:  # constant output: fires for every accumulator value or for none
                k_min = _ALWAYS if beta >= s else _NEVER
            else:
                c = (base + (s - beta) / g) / lsb
                # In the overlay's (sign-flipped) sum domain the neuron fires for sums >= k_min.
                k_min = _ceil(c) if g > 0 else -_floor(c)
            out[n, i] = _store(layer, k_min, lo, hi, unit)
    return Thresholds(out, signs)


_ALWAYS = -(10**30)
_NEVER = 10**30


def _store(layer: LayerSpec, k_min: int, lo: int, hi: int, unit: int) -> int:
    """The threshold t (fire iff t < acc) for "fire iff sum >= k_min", clamped to [lo-1, hi]."""
    if layer.xnor:
        fan_in = layer.mw
        if k_min <= -fan_in:
            return lo - 1
        if k_min > fan_in:
            return hi
        # acc = (fan_in + sum) / 2, and sum has the parity of fan_in.
        if (k_min - fan_in) % 2:
            k_min += 1
        return (fan_in + k_min) // 2 - 1
    if k_min * unit <= lo:
        return lo - 1
    if k_min * unit > hi:
        return hi
    return k_min * unit - 1


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator
