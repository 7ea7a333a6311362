"""Exact thresholds: the overlay's compare agrees with the trained quantizer on every reachable
accumulator value, for random batch-norm parameters, ties and negative gamma included."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnntool.convert import thresholds as th
from bnntool.convert.memory import stored_exact, stored_upstream
from bnntool.convert.npz import LayerWeights
from bnntool.overlay import LayerSpec, load_overlay

# One layer of each arithmetic kind (spec 3.1).
KINDS = {
    "xnor popcount (LFC W1A1)": load_overlay("lfcW1A1").layers[3],
    "binary x binary with offset (LFC W1A2 L0)": load_overlay("lfcW1A2").layers[0],
    "2-bit x binary, 2 steps (LFC W1A2 L1)": load_overlay("lfcW1A2").layers[1],
    "2-bit x 2-bit (CNV W2A2 L7)": load_overlay("cnvW2A2").layers[7],
    "xnor conv (CNV W1A1 L5)": load_overlay("cnvW1A1").layers[5],
    "8-bit fixed x binary, 24-bit (CNV W1A1 L0)": load_overlay("cnvW1A1").layers[0],
}


def sums(layer: LayerSpec) -> np.ndarray:
    """Every reachable value K of the true integer sum (quantized weight x input code)."""
    n = layer.mw
    if layer.xnor:
        return np.arange(-n, n + 1, 2)
    bound = n * 2**layer.inputs.frac_bits
    return np.arange(-bound, bound + 1)


def overlay_fires(layer: LayerSpec, stored: int, sign: float, k: np.ndarray) -> np.ndarray:
    """The overlay's strict compare, on the accumulator it sees for true sum K (spec 3.1)."""
    if layer.xnor:
        acc = (layer.mw + sign * k) // 2
    else:
        unit = layer.threshold_scale // 2**layer.inputs.frac_bits
        acc = unit * sign * k - layer.accumulator_offset * unit  # padding adds -1 per column
    bits = layer.threshold_bits
    t = ((stored + 2 ** (bits - 1)) % 2**bits) - 2 ** (bits - 1)  # the low bits, signed
    return t < acc


def trained_fires(
    layer: LayerSpec, p: LayerWeights, n: int, step: float, k: np.ndarray
) -> np.ndarray:
    """The trained model's quantizer in exact arithmetic: y(K) >= step.

    float64 decides where it is far from the step (its error is below 1e-12 relative); the rest
    is evaluated exactly in rationals.
    """
    lsb = 1.0 / 2**layer.inputs.frac_bits
    y = (k * lsb + p.bias[n] - p.mean[n]) * (p.gamma[n] * p.inv_std[n]) + p.beta[n]
    fires = y >= step
    near = np.flatnonzero(np.abs(y - step) <= 1e-6 * (1 + np.abs(y) + abs(step)))
    u = Fraction(1, 2**layer.inputs.frac_bits)
    g = Fraction(p.gamma[n]) * Fraction(p.inv_std[n])
    b, mean, beta, s = (Fraction(x) for x in (p.bias[n], p.mean[n], p.beta[n], step))
    for j in near:
        fires[j] = (int(k[j]) * u + b - mean) * g + beta >= s
    return fires


def float_fires(p: LayerWeights, n: int, step: float, k: np.ndarray, u: float) -> np.ndarray:
    """The same quantizer as float64 evaluates it (Lasagne's formula)."""
    y = (k * u + p.bias[n] - p.mean[n]) * (p.gamma[n] * p.inv_std[n]) + p.beta[n]
    return y >= step


finite = st.floats(-50, 50, allow_nan=False, width=32)


@st.composite
def batchnorm(draw: st.DrawFn, layer: LayerSpec, units: int = 3) -> LayerWeights:
    """Random float32 batch-norm parameters; a third of the neurons sit exactly on a tie."""
    lsb = 1.0 / 2**layer.inputs.frac_bits
    gamma, inv_std, beta, mean, bias = [], [], [], [], []
    for _ in range(units):
        g = draw(st.sampled_from([0.0, 1.0, -1.0, 0.5, -2.0]) | st.floats(-4, 4, width=32))
        i = draw(st.sampled_from([1.0, 0.25, 0.125]) | st.floats(2.0**-10, 10, width=32))
        if draw(st.booleans()):
            # y(K0) = step exactly: mean = K0*lsb + bias, beta = step.
            k0 = draw(st.integers(-layer.mw, layer.mw))
            b = draw(st.sampled_from([0.0, 1.0, -0.5]))
            steps = th.steps(layer)
            gamma.append(g), inv_std.append(i), bias.append(b)
            mean.append(k0 * lsb + b), beta.append(float(draw(st.sampled_from(list(steps)))))
        else:
            gamma.append(g), inv_std.append(i), bias.append(draw(finite))
            mean.append(draw(finite) * layer.mw**0.5 * lsb), beta.append(draw(finite) / 10)
    as32 = [
        np.array(v, dtype=np.float32).astype(np.float64) for v in (bias, beta, gamma, mean, inv_std)
    ]
    return LayerWeights(np.zeros((layer.mw, units)), *as32)


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exact_thresholds_agree_on_every_accumulator_value(kind: str, data: st.DataObject) -> None:
    layer = KINDS[kind]
    p = data.draw(batchnorm(layer))
    result = th.exact(layer, p)
    stored = stored_exact(layer, result.values)
    k = sums(layer)
    lsb = 1.0 / 2**layer.inputs.frac_bits
    for n in range(p.units):
        for i, step in enumerate(th.steps(layer)):
            hw = overlay_fires(layer, int(stored[n, i]), result.signs[n], k)
            exact = trained_fires(layer, p, n, float(step), k)
            assert np.array_equal(hw, exact), (kind, n, i)
            # Float64 agrees too, away from the ties it cannot resolve.
            y = (k * lsb + p.bias[n] - p.mean[n]) * (p.gamma[n] * p.inv_std[n]) + p.beta[n]
            clear = np.abs(y - step) > 1e-9 * (1 + np.abs(y))
            assert np.array_equal(hw[clear], float_fires(p, n, float(step), k, lsb)[clear])


def test_upstream_is_wrong_on_ties_and_exact_is_not() -> None:
    """Spec 3.6 items 1-2: a tie with positive gamma; negative gamma with an integer threshold."""
    layer = KINDS["2-bit x binary, 2 steps (LFC W1A2 L1)"]
    # Neuron 0: y = K - 3 + 0.5 ... step +0.5 is met exactly at K = 3 (tie, positive gamma).
    # Neuron 1: gamma < 0: y = -(K - 2) - 0.5 >= -0.5 iff K <= 2.
    p = LayerWeights(
        np.zeros((layer.mw, 2)),
        bias=np.zeros(2),
        beta=np.array([0.5, -0.5]),
        gamma=np.array([1.0, -1.0]),
        mean=np.array([3.0, 2.0]),
        inv_std=np.ones(2),
    )
    k = sums(layer)
    up = th.upstream(layer, p)
    up_stored, _ = stored_upstream(layer, up.values)
    ex = th.exact(layer, p)
    ex_stored = stored_exact(layer, ex.values)
    for n, i in ((0, 1), (1, 0)):
        truth = trained_fires(layer, p, n, float(th.steps(layer)[i]), k)
        assert np.array_equal(overlay_fires(layer, int(ex_stored[n, i]), ex.signs[n], k), truth)
        wrong = overlay_fires(layer, int(up_stored[n, i]), up.signs[n], k) != truth
        assert np.count_nonzero(wrong) == 1  # exactly one accumulator value, as the spec says
