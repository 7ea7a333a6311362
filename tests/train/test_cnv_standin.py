"""CNV training on a 32x32 RGB stand-in (CIFAR-10 and GTSRB cannot be downloaded here):
Fashion-MNIST padded to 32x32 and repeated over 3 channels, as a user's image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.convert import convert
from bnntool.data import load_dataset
from bnntool.train import load_recipe, train
from bnntool.verify import verify


@pytest.fixture(scope="module")
def standin(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("standin")
    for split, per_class in (("train", 24), ("test", 8)):
        data = load_dataset("fashion-mnist", split, data_dir)
        for c, name in enumerate(data.classes):
            folder = root / split / f"{c}-{name.replace('/', '-')}"
            folder.mkdir(parents=True)
            for i, index in enumerate(np.flatnonzero(data.labels == c)[:per_class]):
                rgb = np.repeat(np.pad(data.images[index], 2)[:, :, None], 3, axis=2)
                Image.fromarray(rgb).save(folder / f"{i}.png")
    return root


def cnv_recipe(folder: Path, dataset: Path, overlay: str) -> Path:
    path = folder / f"cnv-{overlay}.toml"
    path.write_text(
        f'name = "standin-{overlay}"\ndataset = "{dataset}"\noverlay = "{overlay}"\n'
        "[training]\nepochs = 2\nbatch_size = 40\nlr = 0.001\nvalidation = 40\nseed = 3\n"
    )
    return path


@pytest.mark.parametrize("overlay", ["cnvW1A1", "cnvW2A2"])
def test_cnv_trains_exports_converts_and_agrees(
    overlay: str, standin: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(cnv_recipe(tmp_path, standin, overlay))
    result = train(recipe, tmp_path / "run")
    with np.load(result.weights) as npz:
        assert len(npz.files) == 53 and npz["arr_0"].shape == (64, 3, 3, 3)
        assert npz["arr_48"].shape == (512, 10) and npz["arr_52"].shape == ()
    convert(result.weights, overlay, tmp_path / "params")
    report = verify(
        tmp_path / "params", str(standin), against=result.weights, report=tmp_path / "v.json"
    )
    assert report.images == 80
    assert report.against.agreement == 100.0 and report.against.first_differing_layer is None


def test_cnv_resume_is_bit_identical(standin: Path, tmp_path: Path) -> None:
    recipe = load_recipe(cnv_recipe(tmp_path, standin, "cnvW1A2"))
    train(recipe, tmp_path / "whole")
    train(recipe, tmp_path / "split", stop_after=1)
    train(recipe, tmp_path / "split", resume=True)
    with (
        np.load(tmp_path / "whole" / "weights.npz") as a,
        np.load(tmp_path / "split" / "weights.npz") as b,
    ):
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
