"""CIFAR-10, python version: the pickled batches inside ``cifar-10-python.tar.gz``.

The batches are read straight from the archive with an unpickler that only admits what the
official batches contain (NumPy arrays, lists, strings, numbers), never arbitrary code.
"""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from bnntool.errors import FormatError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"

_multiarray = importlib.import_module("numpy._core.multiarray")
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{module}.{name} is not allowed in a CIFAR batch"
            ) from None


def _load_pickle(data: bytes, where: str) -> dict:
    try:
        obj = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:
        raise FormatError(f"{where} is not a CIFAR-10 python batch ({e})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{where} is not a CIFAR-10 python batch (no dictionary inside)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _members(path: Path, wanted: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        found[base] = extracted.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise FormatError(
            f"{path} is truncated or not a tar.gz archive ({e}); delete it and fetch it again"
        ) from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise FormatError(f"{path} lacks {', '.join(missing)}; it is not cifar-10-python.tar.gz")
    return found


def read_cifar10(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images (N x 32 x 32 x 3 uint8, RGB), labels (int64) and class names of one split."""
    path = Path(path)
    batches = {"train": TRAIN_BATCHES, "test": TEST_BATCHES}[split]
    raw = _members(path, {*batches, META})
    meta = _load_pickle(raw[META], f"{path}:{META}")
    names = tuple(
        n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])
    )
    images, labels = [], []
    for batch in batches:
        content = _load_pickle(raw[batch], f"{path}:{batch}")
        data = np.asarray(content.get("data"))
        label = np.asarray(content.get("labels"), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise FormatError(f"{path}:{batch} holds {data.shape} {data.dtype}, not N x 3072 uint8")
        if len(label) != len(data):
            raise FormatError(f"{path}:{batch} has {len(data)} images but {len(label)} labels")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(label)
    all_labels = np.concatenate(labels)
    if names and all_labels.size and (all_labels.min() < 0 or all_labels.max() >= len(names)):
        raise FormatError(f"{path} has labels outside 0..{len(names) - 1}")
    return np.ascontiguousarray(np.concatenate(images)), all_labels, names
