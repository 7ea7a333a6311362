"""Load one split of a dataset, by name from the data directory or from a user's image folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnntool.data.catalog import get_dataset
from bnntool.data.cifar import read_cifar10
from bnntool.data.fetch import check_fetched
from bnntool.data.folder import (
    decode,
    list_folder,
    read_image_folder,
    refuse_unreadable,
    said_skipped,
)
from bnntool.data.gtsrb import read_gtsrb
from bnntool.data.idx import read_idx_images, read_idx_labels
from bnntool.data.imageset import ImageSet
from bnntool.data.locations import resolve_data_dir
from bnntool.data.split import FolderOptions, check_split, split_folder
from bnntool.errors import DatasetError, FormatError
from bnntool.preparation import Preparation

SPLITS = ("train", "test")
FOLDER_SPLITS = (*SPLITS, "all")


@dataclass(frozen=True)
class FolderReading:
    """How an image folder is read for a model: prepared (``preparation``) into the host's
    image ``shape``, and split by the recipe's ``options`` (training) or the ``recorded`` split
    (verify, evaluate: recomputed and checked; ``where`` names the record in messages)."""

    shape: tuple[int, ...]
    preparation: Preparation = field(default_factory=Preparation)
    options: FolderOptions | None = None
    recorded: dict[str, Any] | None = None
    where: str = ""
    log: Callable[[str], None] | None = None


def is_image_folder(name: str | os.PathLike[str]) -> bool:
    """Whether ``name`` means an image folder to :func:`load_dataset` (a dataset name wins over
    a folder of the same name in the working directory)."""
    if isinstance(name, os.PathLike) or os.sep in name:
        return True
    try:
        get_dataset(name)
    except DatasetError:
        return Path(name).is_dir()
    return False


def load_dataset(
    name: str | os.PathLike[str],
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    size: tuple[int, int] | None = None,
    reading: FolderReading | None = None,
) -> ImageSet:
    """Load ``split`` ("train" or "test") of a fetched dataset or of an image folder.

    ``name`` is a dataset name (``bnntool datasets`` lists them; a name wins over a folder of the
    same name in the working directory) or the path of a folder of images: either
    ``<folder>/<class>/<images>`` or ``<folder>/train/<class>/...`` and
    ``<folder>/test/<class>/...``. With ``reading`` a folder is read for a model
    (:func:`load_image_folder`: prepared, split, "all" for every image); without, as it is
    (one split only, returned for "train").
    """
    if is_image_folder(name):
        if reading is not None:
            return load_image_folder(Path(name), split, reading)
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        return _load_folder(Path(name), split, size)
    if split not in SPLITS:
        if split == "all":
            raise DatasetError(f"split 'all' is for image folders; {name} has train and test")
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    info = get_dataset(name)
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


def load_image_folder(root: Path, split: str, reading: FolderReading) -> ImageSet:
    """``split`` ("train", "test" or "all") of an image folder, every picture prepared into
    ``reading.shape`` (decoded once, then from the image cache), in the split's seeded order,
    with the split's record; unreadable pictures refused or skipped (said) as the recipe, or the
    recorded split, says."""
    if split not in FOLDER_SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(FOLDER_SPLITS)}")
    listing = list_folder(root)
    options, recorded = reading.options, reading.recorded
    if options is not None:
        fs = split_folder(
            listing, share=options.test, seed=options.seed, unreadable=options.unreadable
        )
    elif recorded is not None and split != "all":
        fs = check_split(listing, recorded, reading.where or "run.json")
    elif listing.layout == "folders" or split == "all":
        seed = int((recorded or {}).get("seed", 0))
        unreadable = str((recorded or {}).get("unreadable", "refuse"))
        fs = split_folder(listing, share=0.2, seed=seed, unreadable=unreadable)
    else:
        by = f"{reading.where} records no split of it" if reading.where else "no split is known"
        raise DatasetError(
            f"image folder {root} has no train/ and test/ sub-folders and {by} (it was not "
            "trained on by bnntool); give --split all to use every image"
        )
    part = listing.part(fs.indices(listing, split))
    decoded = decode(part, reading.shape, reading.preparation, log=reading.log)
    if decoded.skipped:
        if fs.record["unreadable"] != "skip":
            hint = (
                'remove it, or set unreadable = "skip" in the recipe\'s [folder] table'
                if options is not None
                else "replace it with a readable copy (or remove it and give --split all)"
            )
            refuse_unreadable(root, decoded.skipped, hint)
        if reading.log:
            reading.log(said_skipped(root, decoded.skipped))
    if not len(decoded.kept):
        raise DatasetError(f"image folder {root} has no readable images in its {split} part")
    return ImageSet(
        Path(os.path.abspath(root)).name,
        split,
        decoded.images,
        part.labels[decoded.kept],
        listing.classes,
        files=tuple(part.files[i] for i in decoded.kept.tolist()),
        split_record=None if split == "all" else fs.record,
        skipped=tuple(rel for rel, _ in decoded.skipped),
    )
