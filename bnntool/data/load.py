"""Load one split of a dataset, by name from the data directory or from a user's image folder."""

from __future__ import annotations

import os
from pathlib import Path

from bnntool.data.catalog import get_dataset
from bnntool.data.cifar import read_cifar10
from bnntool.data.fetch import check_fetched
from bnntool.data.folder import read_image_folder
from bnntool.data.gtsrb import read_gtsrb
from bnntool.data.idx import read_idx_images, read_idx_labels
from bnntool.data.imageset import ImageSet
from bnntool.data.locations import resolve_data_dir
from bnntool.errors import DatasetError, FormatError

SPLITS = ("train", "test")


def load_dataset(
    name: str | os.PathLike[str],
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    size: tuple[int, int] | None = None,
) -> ImageSet:
    """Load ``split`` ("train" or "test") of a fetched dataset or of an image folder.

    ``name`` is a dataset name (``bnntool datasets`` lists them; a name wins over a folder of the
    same name in the working directory) or the path of a folder of images: either
    ``<folder>/<class>/<images>`` (one split, returned for "train") or
    ``<folder>/train/<class>/...`` and ``<folder>/test/<class>/...``.
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if isinstance(name, os.PathLike) or os.sep in name:
        return _load_folder(Path(name), split, size)
    try:
        info = get_dataset(name)
    except DatasetError:
        if Path(name).is_dir():
            return _load_folder(Path(name), split, size)
        raise
    folder = resolve_data_dir(data_dir) / info.name
    missing = [f.name for f in info.files if not (folder / f.name).is_file()]
    if missing:
        raise DatasetError(
            f"dataset {info.name} is not in {folder} (missing {', '.join(missing)}); "
            f"run 'bnntool fetch {info.name}'"
        )
    check_fetched(info.name, data_dir)
    groups = None
    if info.name in ("mnist", "fashion-mnist"):
        prefix = "train" if split == "train" else "t10k"
        images = read_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx_labels(folder / f"{prefix}-labels-idx1-ubyte.gz", len(info.classes))
        if len(images) != len(labels):
            raise FormatError(
                f"{folder}: {len(images)} {prefix} images but {len(labels)} {prefix} labels"
            )
        classes = info.classes
    elif info.name == "cifar-10":
        images, labels, names = read_cifar10(folder / info.files[0].name, split)
        classes = names or info.classes
    else:  # gtsrb
        images, labels, groups = read_gtsrb(folder, split)
        classes = info.classes
    return ImageSet(info.name, split, images, labels, tuple(classes), groups)


def _load_folder(root: Path, split: str, size: tuple[int, int] | None) -> ImageSet:
    split_dir = root / split
    other = root / ("test" if split == "train" else "train")
    if split_dir.is_dir() and other.is_dir():
        images, labels, classes = read_image_folder(split_dir, size=size)
    elif split == "train":
        images, labels, classes = read_image_folder(root, size=size)
    else:
        raise DatasetError(
            f"image folder {root} has no test/ sub-folder; give it train/ and test/ sub-folders "
            "(each with one folder per class) or use the training split only"
        )
    return ImageSet(root.name, split, images, labels, classes)
