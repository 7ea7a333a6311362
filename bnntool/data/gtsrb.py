"""GTSRB: the official training and test archives, prepared the way BNN-PYNQ's training does.

Upstream's preparation of a sign image (the whole image, not its region of interest):
resize so that the longer side is 40 pixels (each side rounded half up, Pillow's nearest-neighbour
filter, the default of the Pillow releases it ran on), pad the shorter side to a square (the
smaller half of the padding before the image), then cut a 32x32 window. Upstream padded with the
grey value 0 of its [-1, 1] input scale; in bytes that lies between 127 and 128, and 128 is used.
Upstream cut the window at random (and rotated by up to 7 degrees) once for validation and test
images and every epoch for training; the reader cuts the centre window, or returns the whole
40x40 square for a training loop that cuts its own.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bnntool.errors import FormatError
from bnntool.progress import count_bar

SIZE = 32
MARGIN = 8  # upstream: 25 % of 32
PAD_VALUE = 128

TRAIN_ZIP = "GTSRB_Final_Training_Images.zip"
TEST_ZIP = "GTSRB_Final_Test_Images.zip"
TEST_GT_ZIP = "GTSRB_Final_Test_GT.zip"


def prepare_sign(
    image: Image.Image, size: int = SIZE, margin: int = MARGIN, crop: bool = True
) -> np.ndarray:
    """Resize, pad to a square of ``size + margin`` and (if ``crop``) cut the centre ``size``."""
    full = size + margin
    width, height = image.size
    ratio = full / max(width, height)
    new = (max(1, math.floor(ratio * width + 0.5)), max(1, math.floor(ratio * height + 0.5)))
    pixels = np.asarray(image.convert("RGB").resize(new, Image.Resampling.NEAREST))
    rows, cols = pixels.shape[:2]
    pad_r, pad_c = full - rows, full - cols
    square = np.pad(
        pixels,
        ((pad_r // 2, pad_r - pad_r // 2), (pad_c // 2, pad_c - pad_c // 2), (0, 0)),
        constant_values=PAD_VALUE,
    )
    if not crop:
        return square
    off = margin // 2
    return np.ascontiguousarray(square[off : off + size, off : off + size])


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FormatError(
            f"{path} is not a readable zip archive ({e}); delete it and fetch it again"
        ) from None


def _read_csv(data: bytes, where: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    if not rows or "Filename" not in rows[0] or "ClassId" not in rows[0]:
        raise FormatError(f"{where} is not a GTSRB annotation file (no Filename/ClassId columns)")
    return rows


def _decode(archive: zipfile.ZipFile, name: str, where: Path) -> Image.Image:
    try:
        with archive.open(name) as f:
            image = Image.open(io.BytesIO(f.read()))
            image.load()
            return image
    except Exception as e:
        raise FormatError(f"{where}:{name} is not a readable image ({e})") from None


def read_gtsrb(
    folder: Path, split: str, *, crop: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Images (N x 32 x 32 x 3 uint8, or 40 x 40 without ``crop``), labels and, for the training
    split, the physical-sign track of each image (``class * 100000 + track``)."""
    folder = Path(folder)
    if split == "train":
        return _read_train(folder / TRAIN_ZIP, crop)
    if split == "test":
        images, labels = _read_test(folder / TEST_ZIP, folder / TEST_GT_ZIP, crop)
        return images, labels, None
    raise ValueError(split)


def _read_train(path: Path, crop: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with _open_zip(path) as archive:
        names = archive.namelist()
        annotations = sorted(
            n for n in names if n.rsplit("/", 1)[-1].startswith("GT-") and n.endswith(".csv")
        )
        if not annotations:
            raise FormatError(f"{path} has no GT-*.csv annotation files; it is not {TRAIN_ZIP}")
        entries: list[tuple[str, int, int]] = []
        for ann in annotations:
            prefix = ann.rsplit("/", 1)[0] + "/" if "/" in ann else ""
            for row in _read_csv(archive.read(ann), f"{path}:{ann}"):
                track = int(row["Filename"].split("_", 1)[0]) if "_" in row["Filename"] else 0
                entries.append((prefix + row["Filename"], int(row["ClassId"]), track))
        images, labels, groups = [], [], []
        with count_bar("gtsrb train", len(entries), "img") as bar:
            for name, label, track in entries:
                images.append(prepare_sign(_decode(archive, name, path), crop=crop))
                labels.append(label)
                groups.append(label * 100000 + track)
                bar.update()
    return np.stack(images), np.asarray(labels, np.int64), np.asarray(groups, np.int64)


def _read_test(images_zip: Path, gt_zip: Path, crop: bool) -> tuple[np.ndarray, np.ndarray]:
    with _open_zip(gt_zip) as gt:
        csvs = [n for n in gt.namelist() if n.endswith(".csv")]
        if not csvs:
            raise FormatError(f"{gt_zip} has no .csv file; it is not {TEST_GT_ZIP}")
        rows = _read_csv(gt.read(csvs[0]), f"{gt_zip}:{csvs[0]}")
    with _open_zip(images_zip) as archive:
        by_base = {n.rsplit("/", 1)[-1]: n for n in archive.namelist() if not n.endswith("/")}
        images, labels = [], []
        with count_bar("gtsrb test", len(rows), "img") as bar:
            for row in rows:
                name = by_base.get(row["Filename"])
                if name is None:
                    raise FormatError(f"{images_zip} lacks {row['Filename']}, listed in {gt_zip}")
                images.append(prepare_sign(_decode(archive, name, images_zip), crop=crop))
                labels.append(int(row["ClassId"]))
                bar.update()
    return np.stack(images), np.asarray(labels, np.int64)
