"""`bnntool export RUN_DIR --format qonnx`: the trained network as a QONNX graph, for Xilinx FINN.

The graph is built from the run's ``weights.npz`` (NumPy and the ``onnx`` package only) and
computes what the overlay computes, with nothing left to floating-point rounding before the
logits. Its input is what the overlay receives: LFC the +-1 input bits of the run's encoding
(N x bits); CNV the 8-bit codes as values k/128 (N x 3 x 32 x 32), through an 8-bit ``Quant``.
Each hidden layer: the quantized weights (``BipolarQuant``, or a 2-bit ``Quant``), negated for
the neurons whose batch-norm scale is negative, MatMul or Conv (all attributes explicit), then a
``MultiThreshold`` holding bnntool's exact thresholds (the ones ``bnntool convert`` writes for
the overlay: bias and batch-norm folded in exact arithmetic, as values of the layer's sum; out
type BIPOLAR, or TERNARY for 2-bit activations), and MaxPool after the activation, as the
overlay pools. The last layer: MatMul, its bias and
batch-norm ``(x - mean) * (gamma * inv_std) + beta``: the logits.

FINN's own flow (QONNX to FINN, tidy-up, streamline, conversion to hardware layers) takes the
graph as it is; tests/export/test_finn.py runs it and compares with ``bnntool verify``
(docs/to-finn.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bnntool.artifacts import write_bytes
from bnntool.convert.matrices import quantize_trained
from bnntool.convert.npz import LayerWeights, read_npz
from bnntool.convert.thresholds import exact
from bnntool.encoding import InputEncoding, encoded_spec
from bnntool.errors import UserError
from bnntool.overlay import LayerSpec, OverlaySpec, load_overlay

QONNX_DOMAIN = "qonnx.custom_op.general"


def _onnx() -> tuple:
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise UserError(
            "QONNX export needs the onnx package: pip install 'bnntool[qonnx]'"
        ) from None
    return onnx, helper, numpy_helper


def find_run(folder: Path) -> Path:
    """A finished run folder: ``folder`` itself, or the ``run/`` of a bnntool pipeline folder."""
    for candidate in (folder, folder / "run"):
        if (candidate / "run.json").is_file() and (candidate / "weights.npz").is_file():
            return candidate
    if (folder / "checkpoint.pt").is_file() or (folder / "run" / "checkpoint.pt").is_file():
        raise UserError(
            f"{folder} holds a run that has not finished (a checkpoint, no run.json yet); "
            "finish it with bnntool train --resume (or the same bnntool pipeline command)"
        )
    raise UserError(
        f"{folder} is not a finished bnntool run (no run.json and weights.npz, nor a pipeline's "
        "run/ folder holding them); give the folder bnntool train or bnntool pipeline wrote"
    )


def run_spec(run_dir: Path) -> tuple[OverlaySpec, InputEncoding | None, Path]:
    """The overlay spec (with the run's input encoding) and weights of a run folder (or of a
    pipeline folder's run/)."""
    run_dir = find_run(run_dir)
    run_json = run_dir / "run.json"
    weights = run_dir / "weights.npz"
    try:
        run = json.loads(run_json.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{run_json} is not a readable run.json ({e})") from None
    encoding = InputEncoding.from_dict(run["input_encoding"]) if run.get("input_encoding") else None
    base = load_overlay(run["recipe"]["overlay"])
    return encoded_spec(base, encoding), encoding, weights


def sum_thresholds(layer: LayerSpec, p: LayerWeights) -> tuple[np.ndarray, np.ndarray]:
    """The overlay's exact thresholds as ``MultiThreshold`` values, and the weight signs.

    Neuron n's step i fires iff its sum S (quantized weights times the sign, times the inputs'
    values) is ``>= values[n, i]``: the overlay's stored threshold t (fire iff acc > t) taken
    back to the sum. XNOR layers count matches, acc = (fan-in + S) / 2; the others sum in units
    of the input LSB. Clamped thresholds stay beyond the reachable sums.
    """
    ex = exact(layer, p)
    if not layer.has_thresholds:
        return np.zeros((p.units, 0)), ex.signs
    t = ex.values.astype(np.float64) + 1  # fire iff acc >= t
    if layer.xnor:
        return 2 * t - layer.mw, ex.signs
    unit = layer.threshold_scale // 2**layer.inputs.frac_bits
    return t / unit / 2**layer.inputs.frac_bits, ex.signs


def to_qonnx(spec: OverlaySpec, weights: Path | tuple[LayerWeights, ...], batch: int = 1) -> object:
    """An ONNX ModelProto of the trained network (an .npz, or layers already read), with QONNX
    quantization nodes and FINN's ``MultiThreshold``."""
    onnx, helper, numpy_helper = _onnx()
    layers = read_npz(weights, spec) if isinstance(weights, Path) else weights
    nodes, inits = [], []

    def const(name: str, value: np.ndarray | float) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    one = const("one", 1.0)
    zero = const("zero", 0.0)
    if spec.network == "lfc":
        in_shape = [batch, spec.layers[0].mw]
        x = node("BipolarQuant", ["input", one], "input_q", QONNX_DOMAIN)
    else:
        in_shape = [batch, spec.input_channels, spec.input_rows, spec.input_cols]
        x = node(
            "Quant",
            ["input", const("in_scale", 1 / 128), zero, const("in_bits", 8.0)],
            "input_q",
            QONNX_DOMAIN,
            signed=1,
            narrow=0,
            rounding_mode="ROUND",
        )
    for layer, p in zip(spec.layers, layers, strict=True):
        i = layer.index
        thresholds, signs = sum_thresholds(layer, p)
        q = quantize_trained(layer, p.weights)
        if not layer.last:
            q = q * signs.reshape((-1, 1, 1, 1) if layer.is_conv else (1, -1))
        w = const(f"w{i}", q)
        if layer.weights.bits == 1:
            wq = node("BipolarQuant", [w, one], f"w{i}_q", QONNX_DOMAIN)
        else:
            wq = node(
                "Quant",
                [w, one, zero, const(f"w{i}_bits", float(layer.weights.bits))],
                f"w{i}_q",
                QONNX_DOMAIN,
                signed=1,
                narrow=1,
                rounding_mode="ROUND",
            )
        if layer.is_conv:
            k = layer.kernel
            z = node(
                "Conv",
                [x, wq],
                f"conv{i}",
                kernel_shape=[k, k],
                strides=[1, 1],
                pads=[0, 0, 0, 0],
                dilations=[1, 1],
                group=1,
            )
            shape = (1, -1, 1, 1)
        else:
            if i > 0 and spec.layers[i - 1].is_conv:  # channel-major, as Lasagne flattens
                x = node("Flatten", [x], f"flat{i}", axis=1)
            z = node("MatMul", [x, wq], f"matmul{i}")
            shape = (1, -1)
        if layer.last:
            break
        bipolar = layer.activations.bits == 1
        x = node(
            "MultiThreshold",
            [z, const(f"thr{i}", thresholds)],
            f"act{i}",
            QONNX_DOMAIN,
            # 2-bit activations take three values: FINN's binary MVAU sets its output offset
            # to the datatype's minimum, which is -1 for TERNARY (and -2 for INT2).
            out_dtype="BIPOLAR" if bipolar else "TERNARY",
            out_scale=2.0 if bipolar else 1.0,
            out_bias=-1.0,
            data_layout="NCHW" if layer.is_conv else "NC",
        )
        if layer.pool:
            x = node(
                "MaxPool", [x], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]
            )
    if layer.bias:
        z = node("Add", [z, const(f"b{i}", p.bias.reshape(shape))], f"bias{i}")

    def vec(a: np.ndarray) -> np.ndarray:
        return np.asarray(a[0]) if layer.batchnorm == "scalar" else a.reshape(shape)

    y = node("Sub", [z, const(f"mean{i}", vec(p.mean))], f"centred{i}")
    y = node("Mul", [y, const(f"scale{i}", vec(p.gamma * p.inv_std))], f"scaled{i}")
    node("Add", [y, const(f"beta{i}", vec(p.beta))], "output")
    classes = layers[-1].units
    graph = helper.make_graph(
        nodes,
        f"bnntool-{spec.name}",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [batch, classes])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid(QONNX_DOMAIN, 1)],
        producer_name="bnntool",
    )
    return model


def export_qonnx(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's network as QONNX (default: model.qonnx.onnx in the run folder)."""
    _onnx()  # a one-line error without the onnx package
    run_dir = find_run(Path(run_dir))
    spec, _, weights = run_spec(run_dir)
    model = to_qonnx(spec, weights)
    try:  # with qonnx installed, annotate every tensor's shape and datatype for FINN
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.infer_datatypes import InferDataTypes
        from qonnx.transformation.infer_shapes import InferShapes

        model = ModelWrapper(model).transform(InferShapes()).transform(InferDataTypes()).model
    except ImportError:
        pass
    target = Path(out) if out else run_dir / "model.qonnx.onnx"
    write_bytes(target, model.SerializeToString(), "choose another --out")
    return target
