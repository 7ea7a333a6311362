"""Fixtures of the export tests: FINN's environment, real MNIST, a 32x32 RGB stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.data import fetch, load_dataset
from tests.export import finn_env


@pytest.fixture(scope="session")
def finn_python() -> Path:
    """The python of finn-plus's environment, built on first use (minutes) and then cached.

    Without it the FINN tests are skipped, except where ``BNNTOOL_REQUIRE_SHARED=1`` (CI) makes
    that a failure.
    """
    try:
        return finn_env.build()
    except Exception as e:  # no registry, no Python >= 3.11, a failed install
        message = f"finn-plus's environment could not be built: {e}"
        if os.environ.get("BNNTOOL_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def mnist_data(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    fetch("mnist", folder, shared / "datasets")
    return folder


@pytest.fixture(scope="session")
def standin(mnist_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x32 RGB image folder (CIFAR-10 cannot be downloaded here): real MNIST digits padded
    to 32x32 and repeated over 3 channels, 30 a class to train on and 10 a class to test."""
    root = tmp_path_factory.mktemp("standin")
    for split, per_class in (("train", 30), ("test", 10)):
        data = load_dataset("mnist", split, mnist_data)
        for c in range(10):
            folder = root / split / str(c)
            folder.mkdir(parents=True)
            for i, index in enumerate(np.flatnonzero(data.labels == c)[:per_class]):
                rgb = np.repeat(np.pad(data.images[index], 2)[:, :, None], 3, axis=2)
                Image.fromarray(rgb).save(folder / f"{i}.png")
    return root
