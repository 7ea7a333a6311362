"""A user's own images: one sub-folder per class, any image file Pillow reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bnntool.errors import DatasetError, FormatError
from bnntool.progress import count_bar


def _image_suffixes() -> set[str]:
    return {s.lower() for s in Image.registered_extensions()}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def read_image_folder(
    root: Path,
    *,
    size: tuple[int, int] | None = None,
    grey: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images, labels and class names (the sorted sub-folder names) of an image folder.

    With ``size`` (rows, cols) every image is scaled to fit and centred on a black canvas of that
    size, keeping its aspect ratio; without it all images must already share one size. ``grey``
    forces greyscale (True) or RGB (False); by default images are grey only if all of them are.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    suffixes = _image_suffixes()
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    files: list[tuple[Path, int]] = []
    classes: list[str] = []
    for class_dir in class_dirs:
        images = sorted(
            p
            for p in class_dir.rglob("*")
            if p.is_file() and _visible(p) and p.suffix.lower() in suffixes
        )
        if not images:
            continue
        files.extend((p, len(classes)) for p in images)
        classes.append(class_dir.name)
    if not files:
        raise DatasetError(
            f"image folder {root} has no images; expected {root}/<class name>/<image files> "
            "with one sub-folder per class"
        )
    if len(classes) < 2:
        raise DatasetError(
            f"image folder {root} has images of only one class ({classes[0]}); a classifier needs "
            "at least two sub-folders with images"
        )

    opened: list[Image.Image] = []
    with count_bar(f"reading {root.name}", len(files), "img") as bar:
        for path, _ in files:
            try:
                with Image.open(path) as image:
                    image.load()
                    opened.append(image.copy())
            except Exception as e:
                raise FormatError(f"{path} is not a readable image ({e})") from None
            bar.update()
    if grey is None:
        grey = all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in opened)
    mode = "L" if grey else "RGB"
    if size is None:
        first = opened[0].size
        for (path, _), image in zip(files, opened, strict=True):
            if image.size != first:
                raise DatasetError(
                    f"{path} is {image.size[0]}x{image.size[1]} but {files[0][0]} is "
                    f"{first[0]}x{first[1]}; give a common size to scale the images to"
                )
        arrays = [np.asarray(im.convert(mode)) for im in opened]
    else:
        arrays = [_fit(im.convert(mode), size) for im in opened]
    labels = np.asarray([label for _, label in files], dtype=np.int64)
    return np.stack(arrays).astype(np.uint8), labels, tuple(classes)


def _fit(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    rows, cols = size
    scale = min(cols / image.width, rows / image.height)
    new = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(new, Image.Resampling.LANCZOS)
    canvas = Image.new(image.mode, (cols, rows))
    canvas.paste(resized, ((cols - new[0]) // 2, (rows - new[1]) // 2))
    return np.asarray(canvas)
