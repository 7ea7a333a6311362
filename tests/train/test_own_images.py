"""Training on a folder of one's own pictures: the recipe's [input] preparation and [folder]
split, recorded with the run and the params folder, and applied alike by verify and infer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnntool.board.client import prepare_files
from bnntool.convert.params import read_params
from bnntool.data import load_dataset
from bnntool.data.load import FolderReading
from bnntool.data.split import FolderOptions
from bnntool.preparation import Preparation
from bnntool.sim.model import OverlayModel
from bnntool.train.recipe import RecipeError, load_recipe, recipe_from_dict
from tests.data.photos import photo_folder


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text('name = "r"\noverlay = "cnvW1A1"\n' + text)
    return path


def test_recipe_keys(tmp_path: Path) -> None:
    r = load_recipe(
        _recipe(
            tmp_path,
            'dataset = "photos"\n[input]\nprepare = "fit"\ncolour = "grey"\nbackground = 9\n'
            'orientation = "exif"\n[folder]\ntest = 0.3\nseed = 4\nunreadable = "skip"\n',
        )
    )
    assert r.preparation == Preparation("fit", "grey", 9, "exif") and r.input is None
    assert r.folder == FolderOptions(0.3, 4, "skip")
    saved = {k: v for k, v in r.to_dict().items() if v is not None and k != "source"}
    assert recipe_from_dict(saved, "again").identity() == r.identity()
    plain = load_recipe(_recipe(tmp_path, 'dataset = "photos"\n'))
    assert plain.preparation == Preparation() and plain.folder == FolderOptions()
    assert plain.to_dict()["input"] is None and plain.to_dict()["folder"] is None
    known = "background, colour, encoding, levels, matrix, orientation"
    with pytest.raises(RecipeError, match=f"unknown key input.zoom; known: {known}"):
        load_recipe(_recipe(tmp_path, 'dataset = "photos"\n[input]\nzoom = 2\n'))
    with pytest.raises(RecipeError, match=r"folder.unreadable = 'ignore'; use refuse or skip"):
        load_recipe(_recipe(tmp_path, 'dataset = "p"\n[folder]\nunreadable = "ignore"\n'))
    with pytest.raises(RecipeError, match="dataset mnist has its own test split"):
        load_recipe(_recipe(tmp_path, 'dataset = "mnist"\n[folder]\ntest = 0.1\n'))


def test_cnv_with_its_own_preparation(run_cli, shared: Path, tmp_path: Path) -> None:
    """CNV from 28x28 grey and 64x64 RGB pictures, padded (or cut) to 32x32 and grey on all
    three channels, as the recipe says: training, verify and infer see the same images."""
    photos = photo_folder(shared, tmp_path / "photos", 24, classes=4, broken=False)
    recipe = _recipe(
        tmp_path,
        f'dataset = "{photos}"\n[input]\nprepare = "pad"\ncolour = "grey"\n'
        "[training]\nepochs = 1\nbatch_size = 24\nvalidation = 0\n",
    )
    run, params = tmp_path / "run", tmp_path / "params"
    trained = run_cli("train", recipe, "--out", run, "--device", "cpu")
    assert trained.exit_code == 0, trained.stderr
    assert "20 of 96 images held out for test (20% of each class, seed 0)" in trained.stderr
    assert "prepared pad (padded or cut, not scaled, grey) into 32x32x3" in trained.stderr
    record = json.loads((run / "run.json").read_text())
    assert record["image_preparation"] == {"prepare": "pad", "colour": "grey"}
    assert run_cli("convert", run, "--out", params).exit_code == 0
    verified = run_cli("verify", params, "--dataset", photos, "--json", "--report", tmp_path / "v")
    assert verified.exit_code == 0, verified.stderr
    v = json.loads(verified.stdout)
    assert v["images"] == 20 and v["accuracy"] == record["test_accuracy"]
    assert v["image_preparation"] == record["image_preparation"]

    reading = FolderReading((32, 32, 3), Preparation("pad", "grey"), recorded=record["split"])
    test = load_dataset(photos, "test", reading=reading)
    paths = [photos / f for f in test.files]
    folder = read_params(params)
    prepared, _ = prepare_files(folder, paths)
    assert np.array_equal(prepared, test.images)  # image for image
    big = [i for i, f in enumerate(test.files) if f.endswith(".jpg")]
    assert big and (test.images[big[0]][..., 0] == test.images[big[0]][..., 2]).all()
    outputs, _ = OverlayModel(folder).run(test.images)
    r = run_cli("infer", *paths, "--params", params, "--runtime", "sw", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["images"]
    assert [row["scores"] for row in rows] == outputs[:, :4].tolist()
    assert len({row["class"] for row in rows}) > 1
