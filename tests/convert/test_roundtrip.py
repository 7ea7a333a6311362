"""Property: reading a written folder back gives exactly the quantized weights and the thresholds,
for random foldings and precisions (dense and conv)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnntool.convert import convert, read_params
from bnntool.convert import thresholds as th
from bnntool.convert.memory import stored_exact, stored_upstream
from bnntool.convert.npz import read_npz
from bnntool.overlay import OverlaySpec, spec_from_dict
from tests.convert.fakes import layer_arrays


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def dense_specs(draw: st.DrawFn) -> OverlaySpec:
    inputs = draw(st.integers(3, 40))
    sizes = draw(st.lists(st.sampled_from([4, 6, 8, 12, 16]), min_size=1, max_size=2))
    w_bits = draw(st.sampled_from(["1.0", "2.0"]))
    a_bits = [draw(st.sampled_from(["1.0", "2.0"])) for _ in sizes]
    layers = []
    width = inputs
    for i, units in enumerate([*sizes, 64]):
        last = i == len(sizes)
        mw = -(-width // 64) * 64 if i == 0 else width  # the first layer fills whole words
        simd = draw(
            st.sampled_from([d for d in divisors(mw) if d * int(w_bits[0]) <= 64 and d <= 64])
        )
        rows = 64 if last else units
        pe = draw(st.sampled_from([d for d in divisors(rows) if d <= 16]))
        layers.append(
            {
                "kind": "dense",
                "outputs": units,
                "simd": simd,
                "pe": pe,
                "weights": "1.0" if i == 0 else w_bits,
                "activations": "1.0" if last else a_bits[i],
            }
        )
        width = units
    raw = {
        "name": "rand",
        "boards": [],
        "input": {"rows": inputs, "cols": 1, "channels": 1, "precision": "1.0"},
        "layers": layers,
    }
    return spec_from_dict(raw, "random dense spec")


@st.composite
def conv_specs(draw: st.DrawFn) -> OverlaySpec:
    channels = draw(st.sampled_from([1, 2, 3]))
    filters = draw(st.sampled_from([2, 4, 6]))
    w_bits = draw(st.sampled_from(["1.0", "2.0"]))
    a_bits = draw(st.sampled_from(["1.0", "2.0"]))
    pool = draw(st.booleans())
    dim = 5 if pool else draw(st.sampled_from([3, 4, 5]))
    layers = [
        {
            "kind": "conv",
            "channels": filters,
            "kernel": 2,
            "simd": draw(st.sampled_from(divisors(channels))),
            "pe": draw(st.sampled_from(divisors(filters))),
            "weights": w_bits,
            "activations": a_bits,
            "thresholds": "16.8",
            "pool": pool,
        },
        {
            "kind": "conv",
            "channels": filters,
            "kernel": 2,
            "simd": draw(st.sampled_from(divisors(filters))),
            "pe": draw(st.sampled_from(divisors(filters))),
            "weights": w_bits,
            "activations": a_bits,
        },
    ]
    out = (dim - 1) // 2 if pool else dim - 1
    flat = filters * (out - 1) ** 2
    layers.append(
        {
            "kind": "dense",
            "outputs": 64,
            "simd": draw(st.sampled_from([d for d in divisors(flat) if d <= 32])),
            "pe": draw(st.sampled_from([1, 2, 4])),
            "weights": w_bits,
            "activations": "16.0",
            "thresholds": False,
            "bias": False,
            "batchnorm": "scalar",
        }
    )
    raw = {
        "name": "rand-conv",
        "boards": [],
        "input": {"rows": dim, "cols": dim, "channels": channels, "precision": "1.7"},
        "layers": layers,
    }
    return spec_from_dict(raw, "random conv spec")


def expected_weights(spec: OverlaySpec, path: Path, mode: str) -> list[np.ndarray]:
    """The overlay's weight matrices, computed here from the .npz by the spec's rules."""
    out = []
    for layer, p in zip(spec.layers, read_npz(path, spec), strict=True):
        w = p.weights
        sign = np.sign(p.gamma) if mode == "upstream" else np.where(p.gamma < 0, -1.0, 1.0)
        if mode == "exact":  # quantize, then flip
            q = (
                np.where(w >= 0, 1.0, -1.0)
                if layer.weights.bits == 1
                else np.floor(np.clip(w, -1, 1) + 0.5)
            )
            q = q * (sign.reshape(-1, 1, 1, 1) if layer.is_conv else sign)
        else:  # flip, then quantize
            f = w * (sign.reshape(-1, 1, 1, 1) if layer.is_conv else sign)
            q = np.where(f < 0, -1.0, 1.0) if layer.weights.bits == 1 else np.floor(f + 0.5)
        m = np.moveaxis(q, 1, -1).reshape(q.shape[0], -1) if layer.is_conv else q.T
        if layer.interleave_channels:
            c = layer.interleave_channels
            m = m.reshape(m.shape[0], c, -1).swapaxes(1, 2).reshape(m.shape[0], -1)
        pad = 1 if layer.weights.bits == 1 else 0
        full = np.full((layer.mh_padded, layer.mw_padded), pad)
        full[: m.shape[0], : m.shape[1]] = m
        out.append(full)
    return out


def check_roundtrip(spec: OverlaySpec, seed: int, mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.npz"
        np.savez(path, *layer_arrays(spec, np.random.default_rng(seed), classes=3))
        convert(path, spec, Path(tmp) / "p", thresholds=mode)
        folder = read_params(Path(tmp) / "p", spec)
        for layer, got, want, p in zip(
            spec.layers,
            folder.layers,
            expected_weights(spec, path, mode),
            read_npz(path, spec),
            strict=True,
        ):
            assert np.array_equal(got.weights, want), f"layer {layer.index} weights"
            if not layer.has_thresholds:
                assert got.thresholds is None
                continue
            if mode == "upstream":
                stored, _ = stored_upstream(layer, th.upstream(layer, p).values)
            else:
                stored = stored_exact(layer, th.exact(layer, p).values)
            bits = layer.threshold_bits
            as_seen = ((stored + 2 ** (bits - 1)) % 2**bits) - 2 ** (bits - 1)
            assert np.array_equal(got.thresholds, as_seen), f"layer {layer.index} thresholds"
        assert folder.classes == ("0", "1", "2")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=dense_specs(), seed=st.integers(0, 2**16), mode=st.sampled_from(["exact", "upstream"]))
def test_dense_roundtrip(spec: OverlaySpec, seed: int, mode: str) -> None:
    check_roundtrip(spec, seed, mode)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=conv_specs(), seed=st.integers(0, 2**16), mode=st.sampled_from(["exact", "upstream"]))
def test_conv_roundtrip(spec: OverlaySpec, seed: int, mode: str) -> None:
    check_roundtrip(spec, seed, mode)
