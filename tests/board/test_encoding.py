"""The seed's Fashion-MNIST story over SSH: a folder trained and converted by bnntool with the
shipped recipe's ordered-dither input, deployed, evaluated on the "board" (sw runtime
through sshd), and the same figure as ``bnntool verify`` on the same folder and images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import small_recipe

pytest.importorskip("torch")

# As training/fashion-mnist-lfcW1A1.toml: 28x28 pixels, a 2x2 matrix = 784 of the 832 bits.
DITHER = '[input]\nencoding = "dither"\nsize = 28\nmatrix = [[32, 160], [224, 96]]\n'
LIMIT = 500


@pytest.fixture(scope="module")
def fashion_dir(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bnntool.data import fetch

    folder = tmp_path_factory.mktemp("data")
    fetch("fashion-mnist", folder, shared / "datasets")
    return folder


def test_evaluate_dither_folder_over_ssh(
    run_cli, start_board, fashion_dir: Path, tmp_path: Path
) -> None:
    from bnntool.convert import convert
    from bnntool.convert.params import read_params
    from bnntool.data import load_dataset
    from bnntool.encoding import InputEncoding
    from bnntool.sim.inputs import HostInput
    from bnntool.sim.model import OverlayModel
    from bnntool.train import load_recipe, train
    from bnntool.verify import verify

    recipe = load_recipe(small_recipe(tmp_path, dataset="fashion-mnist", epochs=1, extra=DITHER))
    run = train(recipe, tmp_path / "run", limit=300, data_dir=fashion_dir)
    params = tmp_path / "params"
    convert(run.weights, "lfcW1A1", params)
    encoding = json.loads((params / "manifest.json").read_text())["input_encoding"]
    assert encoding == {
        "encoding": "dither",
        "source": 28,
        "size": 28,
        "matrix": [[32, 160], [224, 96]],
    }
    assert read_params(params).encoding is not None

    board = start_board("pynq")
    assert run_cli("board", "setup", "--host", "pynq").exit_code == 0
    deployed = run_cli("deploy", params, "--host", "pynq", "--as", "fashion-mnist")
    assert deployed.exit_code == 0, deployed.stderr
    record = json.loads(
        (board.params("fashion-mnist", "lfcW1A1") / ".bnntool-deploy.json").read_text()
    )
    assert record["input_encoding"] == encoding
    result = run_cli(
        "evaluate", "--host", "pynq", "--params", "fashion-mnist/lfcW1A1",
        "--dataset", "fashion-mnist", "--data-dir", fashion_dir, "--limit", str(LIMIT), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    r = json.loads(result.stdout)
    reference = verify(
        params, "fashion-mnist", limit=LIMIT, data_dir=fashion_dir, report=tmp_path / "v.json"
    )
    assert r["images"] == reference.images == LIMIT and r["runtime"] == "sw"
    assert r["correct"] == reference.correct and r["accuracy"] == reference.accuracy
    assert r["verify"]["agreement"] == 100.0 and r["verify"]["outputs_identical"]
    assert r["verify"]["accuracy"] == reference.accuracy
    # JSON carries 12 significant digits (no binary noise such as 82.19999999999999)
    assert [c["accuracy"] for c in r["per_class"]] == pytest.approx(
        [c["accuracy"] for c in reference.per_class], rel=1e-11
    )
    # And the encoding matters: the same folder fed BNN-PYNQ's input (28x28, pixel >= 128)
    # gives other outputs, so an encoding lost on the way would not have agreed.
    images = load_dataset("fashion-mnist", "test", fashion_dir).head(LIMIT).images
    model = OverlayModel(read_params(params))
    dithered, _ = model.run(images)
    model.host = HostInput(model.spec, InputEncoding.upstream(28))
    plain, _ = model.run(images)
    assert not np.array_equal(dithered, plain)
