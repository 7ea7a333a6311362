"""IDX reading: good files, and each kind of damage named in one line."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bnntool.data import load_dataset
from bnntool.data.idx import read_idx_images, read_idx_labels
from bnntool.errors import DatasetError, FormatError
from tests.data.fakes import idx_images, idx_labels

IMAGES = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = np.array([0, 3, 9, 1, 1], dtype=np.uint8)


def test_plain_and_gzipped_files_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(idx_images(IMAGES))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_images(IMAGES)))
    np.testing.assert_array_equal(read_idx_images(tmp_path / "a"), IMAGES)
    np.testing.assert_array_equal(read_idx_images(tmp_path / "a.gz"), IMAGES)


def test_labels_are_int64(tmp_path: Path) -> None:
    (tmp_path / "l").write_bytes(idx_labels(LABELS))
    labels = read_idx_labels(tmp_path / "l", 10)
    assert labels.dtype == np.int64
    assert labels.tolist() == [0, 3, 9, 1, 1]


def test_wrong_magic(tmp_path: Path) -> None:
    (tmp_path / "l").write_bytes(idx_labels(LABELS))
    with pytest.raises(FormatError, match=r"magic number 0x00000801, expected 0x00000803"):
        read_idx_images(tmp_path / "l")


def test_not_an_idx_file(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(FormatError, match="not an IDX header|magic number"):
        read_idx_images(tmp_path / "x")


def test_wrong_counts(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(idx_images(IMAGES)[:-100])
    with pytest.raises(
        FormatError, match=r"declares 5 x 28 x 28 values \(3,920 bytes\) but holds 3,820"
    ):
        read_idx_images(tmp_path / "a")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(idx_images(IMAGES))
    (tmp_path / "a.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated gzip file; delete it and fetch it again"):
        read_idx_images(tmp_path / "a.gz")


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(idx_images(IMAGES)))
    data[20:40] = b"\xff" * 20
    (tmp_path / "a.gz").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="gzip"):
        read_idx_images(tmp_path / "a.gz")


def test_label_outside_the_classes(tmp_path: Path) -> None:
    (tmp_path / "l").write_bytes(idx_labels(np.array([0, 12], dtype=np.uint8)))
    with pytest.raises(FormatError, match="has label 12, but the dataset has 10 classes"):
        read_idx_labels(tmp_path / "l", 10)


def _fake_mnist(root: Path, n_images: int, n_labels: int) -> None:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_images(IMAGES[:n_images]))
        )
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_labels(LABELS[:n_labels]))
        )


def test_load_dataset_reads_idx_splits(tmp_path: Path) -> None:
    _fake_mnist(tmp_path, 5, 5)
    test = load_dataset("mnist", "test", tmp_path)
    assert test.images.shape == (5, 28, 28) and test.split == "test"
    assert test.classes == tuple("0123456789")
    assert test.class_counts().tolist() == [1, 2, 0, 1, 0, 0, 0, 0, 0, 1]


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    _fake_mnist(tmp_path, 5, 4)
    with pytest.raises(FormatError, match="5 train images but 4 train labels"):
        load_dataset("mnist", "train", tmp_path)


def test_missing_dataset_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="run 'bnntool fetch fashion-mnist'"):
        load_dataset("fashion-mnist", "train", tmp_path)


def test_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown split 'val'"):
        load_dataset("mnist", "val", tmp_path)
