"""bnntool runs through FINN's compiler: export QONNX, run finn-plus's own build steps (QONNX to
FINN, tidy-up, streamline, conversion to hardware layers) in its environment, execute the
resulting graph with FINN's execution, and compare it image by image with what ``bnntool
verify`` runs (the bit-exact overlay model of the converted parameter folder).

LFC W1A1 and W1A2 on 1 000 real MNIST test images; CNV W1A1 and W2A2 on 100 images of a
32x32 stand-in (CIFAR-10 cannot be downloaded here). FINN's python execution of hardware layers
needs no Vivado.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bnntool.convert.params import read_params
from bnntool.data import load_dataset
from bnntool.export import run_spec
from bnntool.sim.inputs import HostInput
from bnntool.sim.model import OverlayModel
from bnntool.sim.readout import BATCH, SINGLE, cnv_class, lfc_class
from bnntool.sim.trained import TrainedModel
from bnntool.train import load_recipe, train
from tests.train.conftest import small_recipe

RUNNER = Path(__file__).with_name("finn_steps.py")

# The hardware layers FINN's conversion leaves, per network: every layer of the overlay becomes
# an MVAU (thresholds inside), the input quantizer a Thresholding layer, the last batch-norm
# (the logits) an elementwise Mul and Add; CNV adds the sliding windows of its 6 convolutions
# and 2 max-pools, the pools and the one Transpose of the NCHW input.
HW_LAYERS = {
    "lfc": {"Thresholding": 1, "MVAU": 4, "ElementwiseMul": 1, "ElementwiseAdd": 1},
    "cnv": {
        "Transpose": 1,
        "Thresholding": 1,
        "ConvolutionInputGenerator": 8,
        "MVAU": 9,
        "Pool": 2,
        "ElementwiseMul": 1,
        "ElementwiseAdd": 1,
    },
}


def cnv_recipe(folder: Path, dataset: Path, overlay: str) -> Path:
    path = folder / f"cnv-{overlay}.toml"
    path.write_text(
        f'name = "standin-{overlay}"\ndataset = "{dataset}"\noverlay = "{overlay}"\n'
        "[training]\nepochs = 1\nbatch_size = 30\nlr = 0.001\nvalidation = 30\nseed = 3\n"
    )
    return path


def finn(finn_python: Path, model: Path, inputs: np.ndarray, out: Path) -> tuple[np.ndarray, list]:
    """The graph through finn-plus's steps, executed by FINN on every input."""
    np.save(out / "inputs.npy", inputs.astype(np.float32))
    done = subprocess.run(
        [str(finn_python), str(RUNNER), str(model), str(out / "inputs.npy"), str(out / "finn")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    steps = json.loads((out / "finn" / "steps.json").read_text())
    return np.load(out / "finn" / "outputs.npy"), steps


@pytest.mark.slow
@pytest.mark.parametrize("overlay", ["lfcW1A1", "lfcW1A2", "cnvW1A1", "cnvW2A2"])
def test_finn_computes_what_verify_computes(
    overlay: str, tmp_path: Path, finn_python: Path, mnist_data: Path, standin: Path, run_cli
) -> None:
    lfc = overlay.startswith("lfc")
    if lfc:
        recipe = load_recipe(small_recipe(tmp_path, overlay=overlay, epochs=1))
        train(recipe, tmp_path / "run", limit=3000, data_dir=mnist_data)
        dataset, count = "mnist", 1000
    else:
        train(load_recipe(cnv_recipe(tmp_path, standin, overlay)), tmp_path / "run")
        dataset, count = str(standin), 100

    # bnntool's side: export, convert, verify against the trained network.
    for args in (
        ("export", tmp_path / "run", "--out", tmp_path / "model.onnx"),
        ("convert", tmp_path / "run", "--out", tmp_path / "params"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, result.stderr
    result = run_cli(
        "verify", tmp_path / "params", "--dataset", dataset, "--limit", count,
        "--against", tmp_path / "run", "--data-dir", mnist_data,
        "--report", tmp_path / "verify.json", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == count and report["against"]["agreement"] == 100.0

    # What verify runs, image by image: the overlay model of the folder, the trained network.
    images = load_dataset(dataset, "test", mnist_data).images[:count]
    params = read_params(tmp_path / "params", None)
    overlay_out, _ = OverlayModel(params).run(images)
    spec, encoding, weights = run_spec(tmp_path / "run")
    logits, _ = TrainedModel.from_npz(weights, spec, encoding).run(images)

    # FINN's side: the graph's input is the overlay's (LFC +-1 bits; CNV codes / 128, NCHW).
    prepared = HostInput(spec, encoding).prepare(images)
    inputs = 2.0 * prepared - 1 if lfc else prepared.transpose(0, 3, 1, 2) / 128
    finn_out, steps = finn(finn_python, tmp_path / "model.onnx", inputs, tmp_path)

    hw = steps[[s["step"] for s in steps].index("step_convert_to_hw")]
    assert Counter(hw["nodes"]) == HW_LAYERS[spec.network], hw["nodes"]
    assert steps[-1]["images"] == count
    classes = len(params.classes)
    assert finn_out.shape == (count, classes)
    # FINN's logits are the trained network's (float32 against bnntool's float64)...
    np.testing.assert_allclose(finn_out, logits, rtol=1e-4, atol=1e-4)
    top2 = np.sort(logits, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3  # no float32 near-tie between the two best
    assert clear.mean() > 0.9
    assert np.array_equal(np.argmax(finn_out[clear], 1), np.argmax(logits[clear], 1))
    # ...and give what the overlay gives, image by image: LFC the class bits and the class the
    # board reads from them; CNV the class of the highest score.
    if lfc:
        bits = (finn_out >= 0).astype(np.int64)
        assert np.array_equal(bits, overlay_out[:, :classes])
        assert np.array_equal(
            lfc_class(bits, classes, BATCH), lfc_class(overlay_out, classes, BATCH)
        )
    else:
        assert np.array_equal(np.argmax(finn_out, axis=1), cnv_class(overlay_out, classes, SINGLE))
