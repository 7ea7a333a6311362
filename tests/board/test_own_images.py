"""A folder of one's own pictures, from training to the board: the same test images and the
same preparation in `train`, `verify --dataset FOLDER`, `infer` and `evaluate`, here and over
SSH (a real sshd on loopback playing the board, its runtime in sw mode), image for image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bnntool.board.client import prepare_files
from bnntool.board.runtime import classes_of
from bnntool.convert.params import read_params
from bnntool.data import load_dataset
from bnntool.data.load import FolderReading
from bnntool.preparation import Preparation
from bnntool.sim.model import OverlayModel
from bnntool.sim.readout import SINGLE
from tests.data.photos import CLASSES, photo_folder

RECIPE = """name = "my-photos"
dataset = "{dataset}"
overlay = "lfcW1A1"

[folder]
test = 0.25
seed = 5
unreadable = "skip"

[training]
epochs = 2
batch_size = 50
validation = 0.1
seed = 7
"""


def _ok(r) -> dict:
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_photos_to_the_board(run_cli, start_board, shared: Path, tmp_path: Path) -> None:
    photos = photo_folder(shared, tmp_path / "My photos", 40)  # 64x64 RGB among 28x28 grey
    recipe = tmp_path / "photos.toml"
    recipe.write_text(RECIPE.format(dataset=photos))
    run, params = tmp_path / "run", tmp_path / "params"

    trained = run_cli("train", recipe, "--out", run, "--device", "cpu")
    assert trained.exit_code == 0, trained.stderr
    assert "100 of 401 images held out for test (25% of each class, seed 5)" in trained.stderr
    assert "skipped 1 unreadable image: Bag/broken.jpg" in trained.stderr
    record = json.loads((run / "run.json").read_text())
    split = record["split"]
    assert split["rule"] == "share" and split["test_images"] == 100 and split["seed"] == 5
    assert record["image_preparation"] == {"prepare": "board", "colour": "auto"}
    assert record["classes"] == sorted(CLASSES)

    assert run_cli("convert", run, "--out", params).exit_code == 0
    manifest = json.loads((params / "manifest.json").read_text())
    assert manifest["split"] == split and manifest["image_preparation"] == {
        "prepare": "board",
        "colour": "auto",
    }
    assert (params / "classes.txt").read_bytes().decode("utf-8").split("\n") == sorted(CLASSES)

    # verify measures the test images training held out: the accuracy training reported
    v = _ok(run_cli("verify", params, "--dataset", photos, "--against", run, "--json",
                    "--report", tmp_path / "v.json"))  # fmt: skip
    assert v["folder_split"] == split and v["against"]["agreement"] == 100.0
    assert v["accuracy"] == record["test_accuracy"]
    assert v["skipped"] == ["Bag/broken.jpg"] and v["images"] == 99  # a test file, seed 5

    # infer prepares each file exactly as verify's (and training's) images were prepared
    reading = FolderReading((28, 28), Preparation(), recorded=split)
    test = load_dataset(photos, "test", reading=reading)
    assert len(test) == v["images"] and any(f.endswith(".jpg") for f in test.files)
    paths = [photos / f for f in test.files]
    folder = read_params(params)
    prepared, _ = prepare_files(folder, paths)
    assert np.array_equal(prepared, test.images)
    outputs, _ = OverlayModel(folder).run(test.images)
    expected = classes_of("lfc", outputs, 10, SINGLE).tolist()
    assert len(set(expected)) >= 3  # so that the comparisons below mean something

    local = _ok(run_cli("infer", *paths, "--params", params, "--runtime", "sw", "--json"))
    assert [row["class"] for row in local["images"]] == expected
    assert [row["scores"] for row in local["images"]] == outputs[:, :10].tolist()
    names = {row["name"] for row in local["images"] if row["class"] < 10}  # 10: none read out
    assert names <= set(CLASSES) and len(names) > 2
    named = [folder.classes[c] if c < 10 else "" for c in expected]
    i = next(i for i, n in enumerate(named) if " " in n or not n.isascii())  # a space or an Ü
    human = run_cli("infer", paths[i], "--params", params, "--runtime", "sw")
    assert human.stdout.startswith(f"{paths[i]}: {expected[i]} {folder.classes[expected[i]]}")

    # the board: deployed as "photos", the same pictures, the same classes and names
    board = start_board("pynq")
    assert run_cli("deploy", params, "--host", "pynq", "--as", "photos").exit_code == 0
    on_board = board.params("photos", "lfcW1A1") / "classes.txt"
    assert on_board.read_bytes().decode("utf-8").split("\n") == sorted(CLASSES)
    remote = _ok(run_cli("infer", *paths, "--host", "pynq", "--params", "photos/lfcW1A1",
                         "--runtime", "sw", "--json"))  # fmt: skip
    assert remote["host"] == "pynq" and remote["runtime"] == "sw"
    assert [(r["class"], r["name"], r["scores"]) for r in remote["images"]] == [
        (r["class"], r["name"], r["scores"]) for r in local["images"]
    ]
    # evaluate on the board: the run's split, read from the deployed manifest
    e = _ok(run_cli("evaluate", "--host", "pynq", "--params", "photos/lfcW1A1", "--dataset",
                    photos, "--runtime", "sw", "--json"))  # fmt: skip
    assert e["images"] == v["images"] and e["accuracy"] == v["accuracy"]
    assert e["verify"]["agreement"] == 100.0 and e["folder_split"] == split

    # a folder that changed since is refused in one line, naming what changed
    for n in range(3):  # 43 images: 11 of them are the test share now, 10 before
        (photos / "Sandal" / f"new {n}.png").write_bytes(paths[0].read_bytes())
    changed = run_cli("verify", params, "--dataset", photos)
    assert changed.exit_code == 2 and len(changed.stderr.strip().splitlines()) == 1
    assert "Sandal changed since training split it (as " in changed.stderr
    assert "(3 images added: 43 images, 40 then)" in changed.stderr
