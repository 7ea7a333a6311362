"""The overlay, bit-exact, in NumPy (spec 3.1-3.2).

Each layer multiplies its input by its weight matrix (the padded columns included, with the
padding inputs the overlay streams: bit 0, i.e. -1, for 1-bit inputs; 0 otherwise), then counts
its thresholds strictly below the accumulator. XNOR layers count matching bits:
acc = (columns + dot)/2 for the +-1 dot product. Max-pool works on the thresholded outputs.

Products of small integers summed in float32 are exact while every partial sum stays below
2^24; :func:`exactness_bound` checks the largest possible |dot| of every layer against that when
the model is built, so the fast float32 matrix products give exactly the integer results. The
``int64`` engine does the same in integer arithmetic (slower), as a reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnntool.convert.params import LayerMatrices, ParamsFolder
from bnntool.overlay import LayerSpec, OverlaySpec
from bnntool.sim.inputs import HostInput

FLOAT32_EXACT = 2**24  # integers up to this magnitude, and their sums below it, are exact


def exactness_bound(layer: LayerSpec) -> int:
    """The largest |dot product| a layer can reach: columns x max|input| x max|weight|."""
    max_input = 2**layer.inputs.frac_bits if layer.inputs.frac_bits else 1  # 8-bit codes: 128
    max_weight = 2 ** (layer.weights.bits - 1) if layer.weights.bits > 1 else 1  # 2-bit: -2
    return layer.mw_padded * max_input * max_weight


@dataclass(frozen=True)
class _Layer:
    spec: LayerSpec
    weights: np.ndarray  # (columns, rows): dot = inputs @ weights
    bit_inputs: bool  # inputs arrive as bits b (0/1) standing for +-1 = 2b - 1
    tau: np.ndarray | None  # (steps, rows): threshold i fires iff dot > tau[i]
    base: int  # output value with no threshold exceeded: 0, or -1 for two thresholds


def _compile(m: LayerMatrices, bit_inputs: bool, dtype: type) -> _Layer:
    """Weights and thresholds in the form the forward pass compares directly.

    With bit inputs b, the +-1 dot product is 2 (b @ W) - colsum(W), so a compare
    ``+-1 dot > tau`` becomes ``b @ W > (tau + colsum(W)) / 2`` (halves are exact in floats).
    """
    layer = m.spec
    weights = m.weights.T
    if bit_inputs and layer.index == 0 and not layer.is_conv:
        weights = weights[: layer.mw]  # the padding bits are 0: their rows add nothing
    weights = np.ascontiguousarray(weights.astype(dtype))
    if m.thresholds is None:
        return _Layer(layer, weights, bit_inputs, None, 0)
    t = m.thresholds.astype(np.int64)
    if layer.xnor:
        tau = 2 * t - layer.mw_padded  # t < (columns + dot)/2  <=>  dot > 2t - columns
    else:
        unit = layer.threshold_scale // 2**layer.inputs.frac_bits  # stored units per dot step
        tau = np.floor_divide(t, unit)  # t < unit*dot  <=>  dot > floor(t/unit)
    if bit_inputs:
        colsum = m.weights.astype(np.int64).sum(axis=1)
        tau = (tau + colsum[:, None]) / 2
    tau_dtype = np.float32 if dtype is np.float32 else np.float64
    base = -1 if layer.steps == 2 else 0
    return _Layer(layer, weights, bit_inputs, np.ascontiguousarray(tau.T.astype(tau_dtype)), base)


class OverlayModel:
    """Runs a parameter folder as its overlay does, image batch by image batch."""

    def __init__(self, params: ParamsFolder, *, engine: str = "float32") -> None:
        if engine not in ("float32", "int64"):
            raise ValueError(engine)
        self.params = params
        self.spec: OverlaySpec = params.spec
        self.classes = params.classes
        self.engine = engine
        for layer in self.spec.layers:
            if engine == "float32" and exactness_bound(layer) >= FLOAT32_EXACT:
                raise ValueError(
                    f"layer {layer.index} can reach {exactness_bound(layer)}, beyond float32's "
                    "exact integers; use engine='int64'"
                )
        self._dtype = np.float32 if engine == "float32" else np.int64
        self.host = HostInput(self.spec, params.encoding)
        self._buffers: dict[tuple, np.ndarray] = {}  # reused across batches: no page faults
        self._layers = []
        for m in params.layers:
            bit_inputs = m.spec.inputs.bits == 1
            self._layers.append(_compile(m, bit_inputs, self._dtype))

    @property
    def network(self) -> str:
        return self.spec.network

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """The first layer's input for uint8 images: LFC bits (the padding bits, all 0, left
        out), CNV 8-bit codes."""
        return self.host.prepare(images).astype(self._dtype)

    def run(
        self, images: np.ndarray, *, batch: int = 0, keep: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Outputs of the last layer for every image (LFC: bits 0/1; CNV: signed 16-bit scores),
        and with ``keep`` every layer's output values (+-1 or -1/0/+1, after its max-pool)."""
        if batch <= 0:
            batch = 512 if self.network == "lfc" else 64
        outputs, kept = [], []
        for start in range(0, len(images), batch):
            out, acts = self._forward(self.inputs(images[start : start + batch]), keep)
            outputs.append(out)
            kept.append(acts)
        if not outputs:
            rows = self.spec.layers[-1].mh_padded
            return np.zeros((0, rows), dtype=np.int64), []
        layers = [np.concatenate(parts) for parts in zip(*kept, strict=True)] if keep else []
        return np.concatenate(outputs), layers

    def _buffer(self, key: tuple, shape: tuple[int, ...]) -> np.ndarray:
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape:
            buf = self._buffers[key] = np.empty(shape, dtype=self._dtype)
        return buf

    def _forward(self, x: np.ndarray, keep: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = []
        n = len(x)
        for layer in self._layers:
            spec = layer.spec
            if spec.is_conv:
                windows = sliding_window_view(x, (spec.kernel, spec.kernel), axis=(1, 2))
                # (n, oh, ow, c, ky, kx) -> columns in (ky, kx, c) order
                cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * spec.out_dim**2, -1)
            else:
                cols = x.reshape(n, -1)
            shape = (len(cols), layer.weights.shape[1])
            dot = np.matmul(cols, layer.weights, out=self._buffer(("dot", spec.index), shape))
            if layer.tau is None:
                return self._scores(layer, dot, keep, acts)
            # The count of thresholds exceeded; for 1-bit outputs a bit (the next layer reads +-1).
            out = self._buffer(("out", spec.index), shape)
            np.greater(dot, layer.tau[0], out=out, casting="unsafe")
            for tau in layer.tau[1:]:
                out += dot > tau
            if layer.base:
                out += layer.base
            if spec.is_conv:
                out = out.reshape(n, spec.out_dim, spec.out_dim, -1)
                if spec.pool:  # OR of bits, signed max of 2-bit values
                    d = spec.out_dim // 2
                    out = out.reshape(n, d, 2, d, 2, -1).max(axis=(2, 4))
            if keep:
                acts.append(2 * out - 1 if spec.activations.bits == 1 else out.copy())
            if spec.last:  # LFC: the thresholded output bits
                return out.astype(np.int64), acts
            x = out
        raise AssertionError("an overlay ends with its last layer")

    def _scores(
        self, layer: _Layer, dot: np.ndarray, keep: bool, acts: list
    ) -> tuple[np.ndarray, list]:
        """The accumulators of a layer without thresholds: the class scores."""
        spec = layer.spec
        dot = dot.astype(np.int64)
        if layer.bit_inputs:
            dot = 2 * dot - layer.weights.astype(np.int64).sum(axis=0)  # back to the +-1 sum
        scores = (spec.mw_padded + dot) // 2 if spec.xnor else dot
        out = ((scores + 2**15) % 2**16) - 2**15  # a 16-bit accumulator, read as signed
        if keep:
            acts.append(out)
        return out, acts
