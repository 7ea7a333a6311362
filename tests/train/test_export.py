"""QONNX export: the exported graph, run by qonnx's executor, computes what the PyTorch model
computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bnntool.data import load_dataset
from bnntool.export import run_spec
from bnntool.train import load_recipe, train
from bnntool.train.data import InputPreparer
from bnntool.train.network import QuantNet
from tests.train.conftest import small_recipe

qonnx = pytest.importorskip("qonnx", reason="qonnx is an optional dependency (bnntool[qonnx])")


def _torch_logits(run_dir: Path, x: torch.Tensor) -> np.ndarray:
    spec, _, weights = run_spec(run_dir)
    with np.load(weights) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    net = QuantNet(spec, arrays[-1].shape[-1] if spec.network == "lfc" else arrays[48].shape[1])
    net.load_arrays(arrays, str(weights))
    with torch.no_grad():
        return net.eval()(x).numpy()


@pytest.mark.parametrize("overlay", ["lfcW1A2"])
def test_qonnx_graph_matches_the_pytorch_model(
    overlay: str, tmp_path: Path, data_dir: Path, run_cli
) -> None:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    recipe = load_recipe(
        small_recipe(
            tmp_path, overlay=overlay, epochs=1, extra="[input]\nsize = 20\nlevels = [85, 170]\n"
        )
    )
    train(recipe, tmp_path / "run", limit=500, data_dir=data_dir)
    result = run_cli("export", tmp_path / "run", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.stderr
    model = ModelWrapper(str(tmp_path / "m.onnx"))
    spec, encoding, _ = run_spec(tmp_path / "run")
    images = load_dataset("mnist", "test", data_dir).images[:8]
    x = InputPreparer.values(InputPreparer(spec, encoding).compact(images), "lfc")
    expected = _torch_logits(tmp_path / "run", x)
    for i in range(len(images)):
        got = execute_onnx(model, {"input": x[i : i + 1].numpy()})["output"]
        np.testing.assert_allclose(got[0], expected[i], rtol=1e-5, atol=1e-5)
        assert int(np.argmax(got[0])) == int(np.argmax(expected[i]))


def test_qonnx_graph_of_a_cnv(tmp_path: Path) -> None:
    """A CNV export (random weights in the run layout) runs and matches PyTorch too."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from bnntool.export import to_qonnx
    from bnntool.overlay import load_overlay
    from tests.convert.fakes import layer_arrays

    spec = load_overlay("cnvW2A2")
    arrays = layer_arrays(spec, np.random.default_rng(0), edge=False)
    np.savez(tmp_path / "w.npz", *arrays)
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(to_qonnx(spec, tmp_path / "w.npz")).transform(InferShapes())
    net = QuantNet(spec, 10)
    net.load_arrays(arrays, "w.npz")
    codes = torch.randint(-128, 128, (2, 3, 32, 32)).float() / 128
    with torch.no_grad():
        expected = net.eval()(codes).numpy()
    for i in range(2):
        got = execute_onnx(model, {"input": codes[i : i + 1].numpy()})["output"]
        np.testing.assert_allclose(got[0], expected[i], rtol=1e-4, atol=1e-4)
