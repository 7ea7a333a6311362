"""`bnntool train` end to end on real data: the run folder, resume, agreement, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bnntool.convert import convert
from bnntool.encoding import InputEncoding
from bnntool.overlay import load_overlay
from bnntool.sim.trained import TrainedModel
from bnntool.train import load_recipe, train
from bnntool.train.data import InputPreparer
from bnntool.train.network import QuantNet
from bnntool.verify import verify
from tests.train.conftest import small_recipe

THERMO = '[input]\nencoding = "thermometer"\nsize = 20\nlevels = [85, 170]\n'
# an ordered dither on a resized image, with a matrix that does not tile 26 pixels evenly
DITHER = '[input]\nencoding = "dither"\nsize = 26\nmatrix = [[40, 200, 120], [160, 80, 230]]\n'
ENCODINGS = {
    "thermometer": (THERMO, InputEncoding(28, 20, (85, 170))),
    "dither": (DITHER, InputEncoding(28, 26, matrix=((40, 200, 120), (160, 80, 230)))),
}


def test_a_run_folder(tmp_path: Path, data_dir: Path, run_cli) -> None:
    recipe = small_recipe(tmp_path, extra=THERMO)
    out = tmp_path / "run"
    result = run_cli(
        "train", recipe, "--out", out, "--limit", "600", "--data-dir", data_dir, "--json"
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["epochs"] == 2 and summary["device"] == "cpu" and summary["recipe"] == "small"
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "confusion.png",
        "curves.png",
        "metrics.csv",
        "run.json",
        "weights.npz",
    ]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[0]["lr"]) == 0.003
    run = json.loads((out / "run.json").read_text())
    assert run["input_encoding"] == {
        "encoding": "thermometer",
        "source": 28,
        "size": 20,
        "levels": [85, 170],
    }
    assert run["best_epoch"] in (1, 2) and run["versions"]["torch"] == torch.__version__
    with np.load(out / "weights.npz") as npz:
        assert npz["arr_0"].shape == (800, 1024) and len(npz.files) == 24
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_convert_takes_overlay_classes_and_encoding_from_a_run_folder(
    tmp_path: Path, data_dir: Path, run_cli
) -> None:
    recipe = small_recipe(tmp_path, dataset="fashion-mnist", overlay="lfcW1A2", extra=THERMO)
    run = tmp_path / "run"
    assert (
        run_cli("train", recipe, "--out", run, "--limit", "300", "--data-dir", data_dir).exit_code
        == 0
    )
    result = run_cli("convert", run, "--out", tmp_path / "params", "--json")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "params" / "manifest.json").read_text())
    assert manifest["overlay"] == "lfcW1A2" and manifest["input_encoding"]["size"] == 20
    assert manifest["classes"][0] == "T-shirt/top" and len(manifest["classes"]) == 10
    # a bare .npz away from its run folder still needs --overlay, said in one line
    lone = tmp_path / "lone.npz"
    lone.write_bytes((run / "weights.npz").read_bytes())
    bad = run_cli("convert", lone, "--out", tmp_path / "p2")
    assert bad.exit_code == 2 and "--overlay" in bad.stderr and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_the_trained_model_runs_on_the_overlay_exactly(
    tmp_path: Path, data_dir: Path, kind: str
) -> None:
    """Train, convert (exact thresholds, the run's encoding), verify against the run: every test
    image agrees; and PyTorch's own eval predictions equal the exported model's."""
    extra, encoding = ENCODINGS[kind]
    recipe = load_recipe(small_recipe(tmp_path, extra=extra, overlay="lfcW1A2"))
    assert recipe.input == encoding
    result = train(recipe, tmp_path / "run", limit=800, data_dir=data_dir)
    convert(result.weights, "lfcW1A2", tmp_path / "params", classes=[str(i) for i in range(10)])
    manifest = json.loads((tmp_path / "params" / "manifest.json").read_text())
    assert manifest["input_encoding"] == encoding.to_dict()
    report = verify(
        tmp_path / "params",
        "mnist",
        against=tmp_path / "run",
        data_dir=data_dir,
        report=tmp_path / "v.json",
    )
    assert report.against.agreement == 100.0 and report.against.first_differing_layer is None
    # the run reports the board's read-out accuracy (LFC: highest set bit), after the read-out
    # calibration, which cannot lower it on the validation split it was fitted on
    assert report.accuracy == pytest.approx(result.test_accuracy, abs=0.005)
    calibration = result.readout_calibration
    assert calibration["test_after"] == result.test_accuracy
    assert calibration["validation_after"] >= calibration["validation_before"]

    from bnntool.data import load_dataset
    from bnntool.encoding import encoded_spec

    spec = encoded_spec(load_overlay("lfcW1A2"), encoding)
    assert spec.layers[0].mw == encoding.bits
    net = QuantNet(spec, 10)
    with np.load(result.weights) as npz:
        net.load_arrays([npz[f"arr_{i}"] for i in range(len(npz.files))], "w")
    test = load_dataset("mnist", "test", data_dir).head(2000)
    prep = InputPreparer(spec, encoding)
    with torch.no_grad():
        torch_pred = (
            net.eval()(InputPreparer.values(prep.compact(test.images), "lfc")).argmax(1).numpy()
        )
    exported = TrainedModel.from_npz(result.weights, spec, encoding)
    assert np.array_equal(torch_pred, exported.run(test.images)[0].argmax(1))


def test_resume_gives_bit_identical_weights(tmp_path: Path, data_dir: Path, run_cli) -> None:
    # with an input encoding, as the shipped Fashion-MNIST recipe has one
    recipe = load_recipe(small_recipe(tmp_path, epochs=3, extra=THERMO))
    train(recipe, tmp_path / "whole", limit=400, data_dir=data_dir)
    train(recipe, tmp_path / "split", limit=400, data_dir=data_dir, stop_after=1)
    resumed = run_cli(
        "train", "--resume", tmp_path / "split", "--limit", "400", "--data-dir", data_dir
    )
    assert resumed.exit_code == 0, resumed.stderr
    with (
        np.load(tmp_path / "whole" / "weights.npz") as a,
        np.load(tmp_path / "split" / "weights.npz") as b,
    ):
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    split = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert whole["epoch"] == split["epoch"] == 2
    for key, value in whole["model"].items():
        assert torch.equal(value, split["model"][key]), key
    strip = [{k: v for k, v in m.items() if k != "seconds"} for m in whole["metrics"]]
    assert strip == [{k: v for k, v in m.items() if k != "seconds"} for m in split["metrics"]]


def _error(result) -> str:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("bnntool: error: ") and result.stderr.count("\n") == 1
    return result.stderr


def test_unknown_recipe(run_cli) -> None:
    message = _error(run_cli("train", "imagenet"))
    assert "unknown recipe 'imagenet'" in message and "fashion-mnist-lfcW1A1" in message


def test_recipe_with_an_unknown_key_or_a_wrong_type(tmp_path: Path, run_cli) -> None:
    bad = small_recipe(tmp_path)
    bad.write_text(bad.read_text().replace("batch_size = 50", "batch_size = 50\nmomentum = 0.9"))
    assert "unknown key training.momentum" in _error(run_cli("train", bad))
    bad.write_text(
        bad.read_text().replace("momentum = 0.9\n", "").replace("epochs = 2", 'epochs = "two"')
    )
    assert "training.epochs = 'two' is not a int" in _error(run_cli("train", bad))


def test_readout_loss_on_a_cnv_overlay_or_with_a_bad_weight(
    tmp_path: Path, data_dir: Path, run_cli
) -> None:
    recipe = small_recipe(tmp_path, overlay="cnvW1A1")
    recipe.write_text(
        recipe.read_text().replace("[training]", '[training]\nloss = "readout-hinge"')
    )
    message = _error(run_cli("train", recipe, "--out", tmp_path / "r", "--data-dir", data_dir))
    assert "training.loss = 'readout-hinge' is for LFC overlays" in message
    recipe.write_text(
        recipe.read_text().replace("[training]", "[training]\nreadout_below_weight = 2")
    )
    assert "training.readout_below_weight must be in [0, 1]" in _error(run_cli("train", recipe))


def test_negative_seed_in_a_recipe_or_on_the_command_line(tmp_path: Path, run_cli) -> None:
    recipe = small_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace("seed = 7", "seed = -1"))
    assert "training.seed = -1; use a whole number from 0" in _error(run_cli("train", recipe))
    for command in ("train", "pipeline"):
        result = run_cli(command, "mnist", "--seed", "-1")
        assert result.exit_code == 2 and "--seed" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_dataset_that_does_not_fit_the_overlay(tmp_path: Path, data_dir: Path, run_cli) -> None:
    recipe = small_recipe(tmp_path, overlay="cnvW1A1")
    message = _error(run_cli("train", recipe, "--out", tmp_path / "r", "--data-dir", data_dir))
    assert "mnist images are 28x28 grey but overlay cnvW1A1 takes 32x32 RGB" in message


def test_cuda_without_a_gpu(tmp_path: Path, run_cli) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    message = _error(run_cli("train", small_recipe(tmp_path), "--device", "cuda"))
    assert "--device cuda: this machine has no CUDA GPU" in message


def test_resume_of_a_run_from_before_a_recipe_key_existed(
    tmp_path: Path, data_dir: Path, run_cli
) -> None:
    # a checkpoint written by an older bnntool lacks keys added to recipes since
    recipe = load_recipe(small_recipe(tmp_path, epochs=2))
    train(recipe, tmp_path / "run", limit=200, data_dir=data_dir, stop_after=1)
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    del state["recipe"]["training"]["readout_below_weight"]
    state["wall_seconds"] = 1000.0  # as if the first session had taken that long
    torch.save(state, path)
    resumed = run_cli(
        "train", "--resume", tmp_path / "run", "--limit", "200", "--data-dir", data_dir
    )
    assert resumed.exit_code == 0, resumed.stderr
    assert torch.load(path, weights_only=False)["epoch"] == 1  # the second of two epochs
    # the run's wall time counts both sessions
    assert json.loads((tmp_path / "run" / "run.json").read_text())["wall_seconds"] >= 1000


def test_resume_of_a_folder_that_is_not_a_run(tmp_path: Path, run_cli) -> None:
    (tmp_path / "x").mkdir()
    assert "is not a bnntool run folder" in _error(run_cli("train", "--resume", tmp_path / "x"))


def test_resume_with_another_recipe(tmp_path: Path, data_dir: Path, run_cli) -> None:
    recipe = load_recipe(small_recipe(tmp_path, epochs=2))
    train(recipe, tmp_path / "run", limit=200, data_dir=data_dir, stop_after=1)
    message = _error(run_cli("train", "mnist-lfcW1A2", "--resume", tmp_path / "run"))
    assert "was made by recipe small, not mnist-lfcW1A2" in message


def test_init_from_another_overlay(tmp_path: Path, data_dir: Path, run_cli) -> None:
    from tests.convert.fakes import layer_arrays, write_npz

    npz = write_npz(
        tmp_path / "cnv.npz", layer_arrays(load_overlay("cnvW1A1"), np.random.default_rng(0))
    )
    message = _error(
        run_cli(
            "train",
            small_recipe(tmp_path),
            "--init",
            npz,
            "--out",
            tmp_path / "r",
            "--data-dir",
            data_dir,
        )
    )
    assert "holds 53 arrays; overlay lfcW1A1 needs 24" in message
