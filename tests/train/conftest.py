"""Fixtures of the training tests: a data directory with the real MNIST and Fashion-MNIST, and
small recipes that train in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnntool.data import fetch


@pytest.fixture(scope="session")
def data_dir(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for name in ("mnist", "fashion-mnist"):
        fetch(name, folder, shared / "datasets")
    return folder


def small_recipe(
    folder: Path,
    *,
    dataset: str = "mnist",
    overlay: str = "lfcW1A1",
    epochs: int = 2,
    extra: str = "",
    name: str = "small",
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\ndataset = "{dataset}"\noverlay = "{overlay}"\n{extra}\n'
        f"[training]\nepochs = {epochs}\nbatch_size = 50\nlr = 0.003\nvalidation = 300\n"
        "dropout_input = 0.2\ndropout_hidden = 0.5\nseed = 7\n"
        "[training.augmentation]\nshift = 1\nflip = false\n"
    )
    return path
