"""CIFAR-10 python batches, read from a generated archive laid out as the official one."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bnntool.data import load_dataset
from bnntool.data.cifar import read_cifar10
from bnntool.errors import FormatError

NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


def _batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    # Keys and strings as bytes: what the official Python 2 batches give with encoding="bytes".
    return {
        b"batch_label": b"batch %d" % seed,
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


def _archive(path: Path, batches: dict[str, object]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in batches.items():
            data = content if isinstance(content, bytes) else pickle.dumps(content, protocol=3)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def cifar(tmp_path: Path) -> tuple[Path, dict]:
    batches = {f"data_batch_{i}": _batch(4, i) for i in range(1, 6)}
    batches["test_batch"] = _batch(3, 9)
    batches["batches.meta"] = {b"label_names": NAMES, b"num_cases_per_batch": 4}
    folder = tmp_path / "cifar-10"
    folder.mkdir()
    _archive(folder / "cifar-10-python.tar.gz", batches)
    return folder / "cifar-10-python.tar.gz", batches


def test_train_split_concatenates_five_batches_in_hwc_order(cifar) -> None:
    path, batches = cifar
    images, labels, names = read_cifar10(path, "train")
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert names[0] == "airplane" and len(names) == 10
    first = batches["data_batch_1"][b"data"][0]
    # Row-major planes R, G, B of 1024 bytes each become channels last.
    assert images[0, 0, 0].tolist() == [first[0], first[1024], first[2048]]
    assert images[0, 1, 2, 1] == first[1024 + 32 + 2]
    assert labels.tolist()[:4] == batches["data_batch_1"][b"labels"]


def test_load_dataset_test_split(cifar) -> None:
    path, batches = cifar
    test = load_dataset("cifar10", "test", path.parent.parent)
    assert len(test) == 3 and test.name == "cifar-10"
    assert test.labels.tolist() == batches["test_batch"][b"labels"]


def test_truncated_archive(tmp_path: Path, cifar) -> None:
    path, _ = cifar
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated or not a tar.gz archive"):
        read_cifar10(path, "train")


def test_missing_batch(tmp_path: Path) -> None:
    path = tmp_path / "c.tar.gz"
    _archive(path, {"batches.meta": {b"label_names": NAMES}, "test_batch": _batch(2, 0)})
    with pytest.raises(FormatError, match="lacks data_batch_1"):
        read_cifar10(path, "train")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.tar.gz"
    _archive(path, {"batches.meta": {b"label_names": NAMES}, "test_batch": {b"data": _Evil()}})
    with pytest.raises(FormatError, match="is not allowed in a CIFAR batch"):
        read_cifar10(path, "test")
