"""`bnntool export RUN_DIR --format qonnx`: the trained network as a QONNX graph, for Xilinx FINN.

The graph is built from the run's ``weights.npz`` (NumPy and the ``onnx`` package only). Its
input is what the overlay receives: LFC the +-1 input bits of the run's encoding (N x bits);
CNV the 8-bit codes as values k/128 (N x 3 x 32 x 32). Each layer: the quantized weights
(BipolarQuant, or IntQuant for 2-bit), MatMul or Conv, the bias, batch-norm as
``(x - mean) * (gamma * inv_std) + beta``, then the activation (BipolarQuant for 1-bit; a
MultiThreshold at -0.5 and +0.5 for 2-bit), and MaxPool after the activation, as the overlay
pools. The output is the last batch-norm: the logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bnntool.artifacts import write_bytes
from bnntool.convert.matrices import quantize_trained
from bnntool.convert.npz import read_npz
from bnntool.encoding import InputEncoding, encoded_spec
from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec, load_overlay

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


def to_qonnx(spec: OverlaySpec, weights: Path, batch: int = 1) -> object:
    """An ONNX ModelProto of the trained network, with QONNX quantization nodes."""
    onnx, helper, numpy_helper = _onnx()
    layers = read_npz(weights, spec)
    nodes, inits = [], []

    def const(name: str, value: np.ndarray | float) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    one = const("one", 1.0)
    if spec.network == "lfc":
        in_shape = [batch, spec.layers[0].mw]
        x = node("BipolarQuant", ["input", one], "input_q", QONNX_DOMAIN)
    else:
        in_shape = [batch, spec.input_channels, spec.input_rows, spec.input_cols]
        x = node(
            "IntQuant",
            ["input", const("in_scale", 1 / 128), const("zero", 0.0), const("in_bits", 8.0)],
            "input_q",
            QONNX_DOMAIN,
            signed=1,
            narrow=0,
            rounding_mode="ROUND",
        )
    for layer, p in zip(spec.layers, layers, strict=True):
        i = layer.index
        q = quantize_trained(layer, p.weights)
        w = const(f"w{i}", q)
        if layer.weights.bits == 1:
            wq = node("BipolarQuant", [w, one], f"w{i}_q", QONNX_DOMAIN)
        else:
            wq = node(
                "IntQuant",
                [w, one, const(f"w{i}_zero", 0.0), const(f"w{i}_bits", 2.0)],
                f"w{i}_q",
                QONNX_DOMAIN,
                signed=1,
                narrow=1,
                rounding_mode="ROUND",
            )
        if layer.is_conv:
            z = node("Conv", [x, wq], f"conv{i}", kernel_shape=[layer.kernel, layer.kernel])
            shape = (1, -1, 1, 1)
        else:
            if i > 0 and spec.layers[i - 1].is_conv:  # channel-major, as Lasagne flattens
                x = node("Flatten", [x], f"flat{i}", axis=1)
            z = node("MatMul", [x, wq], f"matmul{i}")
            shape = (1, -1)
        if layer.bias:
            z = node("Add", [z, const(f"b{i}", p.bias.reshape(shape))], f"bias{i}")
        scalar = layer.batchnorm == "scalar"

        def vec(a: np.ndarray, shape=shape, scalar=scalar) -> np.ndarray:
            return np.asarray(a[0]) if scalar else a.reshape(shape)

        y = node("Sub", [z, const(f"mean{i}", vec(p.mean))], f"centred{i}")
        y = node("Mul", [y, const(f"scale{i}", vec(p.gamma * p.inv_std))], f"scaled{i}")
        y = node(
            "Add", [y, const(f"beta{i}", vec(p.beta))], f"bn{i}" if not layer.last else "output"
        )
        if layer.last:
            break
        if layer.activations.bits == 1:
            x = node("BipolarQuant", [y, one], f"act{i}", QONNX_DOMAIN)
        else:
            x = node(
                "MultiThreshold",
                [y, const(f"thr{i}", np.array([[-0.5, 0.5]]))],
                f"act{i}",
                QONNX_DOMAIN,
                out_dtype="INT2",
                out_bias=-1.0,
            )
        if layer.pool:
            x = node("MaxPool", [x], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
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
