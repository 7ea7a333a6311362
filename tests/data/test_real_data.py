"""The real MNIST and Fashion-MNIST files from ../shared/datasets, used as a mirror folder."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bnntool.data import catalog, fetch, load_dataset

FASHION_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_fetch_fashion_mnist_from_the_mirror_folder(shared: Path, tmp_path: Path, run_cli) -> None:
    data_dir = tmp_path / "D"
    result = run_cli(
        "fetch", "fashion-mnist", "--mirror", shared / "datasets", "--data-dir", data_dir
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in data_dir.iterdir()) == ["fashion-mnist"]
    assert sorted(p.name for p in (data_dir / "fashion-mnist").iterdir()) == sorted(
        [*FASHION_FILES, ".bnntool-verified.json"]
    )
    for name in FASHION_FILES:
        assert (data_dir / "fashion-mnist" / name).read_bytes() == (
            shared / "datasets" / "fashion-mnist" / name
        ).read_bytes()

    listing = run_cli("datasets", "--json", "--data-dir", data_dir)
    assert listing.exit_code == 0
    report = {d["name"]: d for d in json.loads(listing.stdout)}
    fashion = report["fashion-mnist"]
    assert fashion["present"] and fashion["verified"]
    assert fashion["size"] == 26421880 + 29515 + 4422102 + 5148
    assert {f["verified_by"] for f in fashion["files"]} == {"official"}
    assert not report["mnist"]["present"]


def test_corrupted_file_in_the_mirror(shared: Path, tmp_path: Path, run_cli) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(shared / "datasets" / "fashion-mnist", mirror / "fashion-mnist")
    damaged = mirror / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    damaged.chmod(0o644)
    data = bytearray(damaged.read_bytes())
    data[1000] ^= 0xFF
    damaged.write_bytes(bytes(data))

    data_dir = tmp_path / "D"
    result = run_cli("fetch", "fashion-mnist", "--mirror", mirror, "--data-dir", data_dir)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "fashion-mnist/t10k-images-idx3-ubyte.gz" in result.stderr
    assert str(mirror) in result.stderr
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("name", "train_counts", "test_counts"),
    [
        ("fashion-mnist", [6000] * 10, [1000] * 10),
        (
            "mnist",
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        ),
    ],
)
def test_real_arrays(shared: Path, tmp_path: Path, name: str, train_counts, test_counts) -> None:
    fetch(name, tmp_path, shared / "datasets")
    train = load_dataset(name, "train", tmp_path)
    test = load_dataset(name, "test", tmp_path)
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28)
    assert train.class_counts().tolist() == train_counts
    assert test.class_counts().tolist() == test_counts
    assert train.images.max() == 255 and train.images.min() == 0


def _debian_style(official: bytes, mtime: int) -> bytes:
    """What Debian's packaging does to a gzip file: drop the stored name, set another time."""
    assert official[:2] == b"\x1f\x8b" and official[3] & 0x08  # FNAME present
    end = official.index(b"\0", 10) + 1
    header = (
        official[:3] + bytes([official[3] & ~0x08]) + mtime.to_bytes(4, "little") + official[8:10]
    )
    return header + official[end:]


def test_debian_style_copies_are_verified_by_content(
    shared: Path, tmp_path: Path, monkeypatch
) -> None:
    system = tmp_path / "usr-share-datasets"
    system.mkdir()
    for name in FASHION_FILES:
        official = (shared / "datasets" / "fashion-mnist" / name).read_bytes()
        (system / name).write_bytes(_debian_style(official, 1591347900))
    info = dataclasses.replace(catalog.DATASETS["fashion-mnist"], system_dirs=(str(system),))
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist", info)

    result = fetch("fashion-mnist", tmp_path / "D")
    assert {(f.source, f.verified_by) for f in result.files} == {(str(system), "content")}
    assert (
        load_dataset("fashion-mnist", "test", tmp_path / "D").class_counts().tolist() == [1000] * 10
    )


@pytest.mark.skipif(
    not DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_installed_debian_package_is_used(tmp_path: Path) -> None:
    result = fetch("fashion-mnist", tmp_path)
    assert {(f.source, f.verified_by) for f in result.files} == {(str(DEBIAN_DIR), "content")}
