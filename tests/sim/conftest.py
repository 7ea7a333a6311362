"""Fixtures of the model tests: Xilinx's parameter folders and the real MNIST test set."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnntool.data import fetch


@pytest.fixture(scope="session")
def upstream(shared: Path) -> Path:
    """../shared/fixtures/upstream: BNN-PYNQ's published parameter folders and test images."""
    return shared / "fixtures" / "upstream"


@pytest.fixture(scope="session")
def mnist_dir(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the real MNIST, fetched through the shared mirror folder."""
    data_dir = tmp_path_factory.mktemp("data")
    fetch("mnist", data_dir, shared / "datasets")
    return data_dir
