"""Run by FINN's python (tests/export/finn_env.py): a QONNX graph through finn-plus's own build
steps, then FINN's execution of the result, image by image.

    python finn_steps.py MODEL.onnx INPUTS.npy OUT_DIR

Writes OUT_DIR/outputs.npy (the graph's output per image, stacked), OUT_DIR/hw.onnx (the graph
after the last step) and OUT_DIR/steps.json (per step: seconds and the node types it left).
Imports nothing of bnntool: this environment does not have it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

# FINN's executor rounds every tensor annotated as an integer datatype back onto it (and warns)
# unless told not to: off, a value off its datatype shows as a difference instead of being
# mended, and execution is several times faster.
os.environ["SANITIZE_QUANT_TENSORS"] = "0"
# FINN's settings come from its CLI or, as here, a build folder in the environment.
os.environ.setdefault("FINN_BUILD_DIR", tempfile.mkdtemp(prefix="finn-build-"))

import finn.xsi
import numpy as np

# finn.xsi binds its RTL-simulator names lazily, and binding them needs Vivado. The builder
# module imports one of them (SimEngine) for a type hint only; none of the steps run here
# simulate RTL, so a placeholder stands in (anything that did use it would fail loudly).
finn.xsi.SimEngine = object

import finn.builder.build_dataflow_steps as steps  # noqa: E402
from finn.builder.build_dataflow_config import DataflowBuildConfig  # noqa: E402
from finn.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402

STEPS = ("step_qonnx_to_finn", "step_tidy_up", "step_streamline", "step_convert_to_hw")


def main(model_path: str, inputs_path: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = DataflowBuildConfig(
        output_dir=str(out / "build"), synth_clk_period_ns=10.0, generate_outputs=[]
    )
    model = ModelWrapper(model_path)
    record = []
    for name in STEPS:
        started = time.monotonic()
        model = getattr(steps, name)(model, cfg)
        record.append(
            {
                "step": name,
                "seconds": time.monotonic() - started,
                "nodes": [n.op_type for n in model.graph.node],
                "domains": sorted({n.domain for n in model.graph.node}),
            }
        )
    model.save(str(out / "hw.onnx"))
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    x = np.load(inputs_path)
    started = time.monotonic()
    results = [execute_onnx(model, {name_in: x[i : i + 1]})[name_out] for i in range(len(x))]
    record.append({"step": "execute_onnx", "seconds": time.monotonic() - started, "images": len(x)})
    np.save(out / "outputs.npy", np.concatenate(results))
    (out / "steps.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
