"""A user's own images: one sub-folder per class (optionally inside train/ and test/), any image
file Pillow reads, listed in a fixed order and decoded (prepared for an overlay, cached)."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bnntool.data import imagecache
from bnntool.errors import DatasetError, FormatError
from bnntool.preparation import Preparation, prepare_picture
from bnntool.progress import count_bar

SPLIT_DIRS = ("train", "test")


def _image_suffixes() -> set[str]:
    return {s.lower() for s in Image.registered_extensions()}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _nfc(text: str) -> str:
    """One spelling of a name (macOS writes Ü as U + a combining mark, Linux as one letter)."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Listing:
    """The image files of a folder, in one order: by class name, then by path.

    ``files`` are paths relative to ``root`` (``/``-separated, NFC), ``labels`` index
    ``classes`` (the sorted names of the sub-folders that hold images), ``stats`` are each
    file's (size, mtime in ns). With train/ and test/ sub-folders (``layout`` "folders") the
    files start with their split's folder name and ``classes`` is the union of both splits'.
    """

    root: Path
    layout: str  # "classes" (<root>/<class>/...) or "folders" (<root>/train|test/<class>/...)
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: np.ndarray
    stats: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.files)

    def part(self, index: np.ndarray) -> Listing:
        return Listing(
            self.root,
            self.layout,
            self.classes,
            tuple(self.files[i] for i in index),
            self.labels[index],
            tuple(self.stats[i] for i in index),
        )

    def path(self, i: int) -> Path:
        return self.root / self.files[i]


def list_folder(root: Path) -> Listing:
    """List an image folder: ``<root>/<class>/<images>`` (images in nested folders count for
    their class) or ``<root>/train/<class>/...`` with ``<root>/test/<class>/...``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    if all((root / d).is_dir() for d in SPLIT_DIRS):
        found = {d: _class_files(root / d) for d in SPLIT_DIRS}
        layout = "folders"
    else:
        found = {"": _class_files(root)}
        layout = "classes"
    classes = sorted({name for per_class in found.values() for name in per_class})
    if not classes:
        raise DatasetError(
            f"image folder {root} has no images; expected {root}/<class name>/<image files> "
            "with one sub-folder per class"
        )
    if len(classes) < 2:
        raise DatasetError(
            f"image folder {root} has images of only one class ({classes[0]}); a classifier needs "
            "at least two sub-folders with images"
        )
    files: list[str] = []
    labels: list[int] = []
    stats: list[tuple[int, int]] = []
    for prefix, per_class in found.items():
        for label, name in enumerate(classes):
            for rel, path in per_class.get(name, []):
                try:
                    st = path.stat()
                except OSError as e:
                    raise DatasetError(f"cannot read {path}: {e.strerror or e}") from None
                files.append(f"{prefix}/{rel}" if prefix else rel)
                labels.append(label)
                stats.append((st.st_size, st.st_mtime_ns))
    return Listing(
        root, layout, tuple(classes), tuple(files), np.asarray(labels, dtype=np.int64),
        tuple(stats),
    )  # fmt: skip


def _class_files(folder: Path) -> dict[str, list[tuple[str, Path]]]:
    """Class name -> (relative path from ``folder``, path) of its images, sorted."""
    suffixes = _image_suffixes()
    out: dict[str, list[tuple[str, Path]]] = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p)):
        name = _nfc(class_dir.name)
        if "\n" in name or "\r" in name or not name.strip():
            raise DatasetError(
                f"class folder {class_dir!r} has a name that cannot be a class name (a line break, "
                "or only spaces); rename it"
            )
        images = sorted(
            (_nfc(p.relative_to(folder).as_posix()), p)
            for p in class_dir.rglob("*")
            if p.is_file()
            and p.suffix.lower() in suffixes
            and all(_visible(q) for q in p.relative_to(class_dir).parents if q.name)
            and _visible(p)
        )
        if images:
            out.setdefault(name, []).extend(images)
    return out


# ---------------------------------------------------------------------------------------------
# Decoding, with the preparation for an overlay's input


@dataclass
class Decoded:
    """The readable images of a listing, prepared; ``kept`` indexes the listing."""

    images: np.ndarray
    kept: np.ndarray
    skipped: list[tuple[str, str]]  # (relative path, why it could not be read)


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


def _decode_one(path: Path, shape: tuple[int, ...], prep: Preparation) -> np.ndarray | str:
    try:
        with Image.open(path) as picture:
            picture.load()  # decoded first, as infer and the board's notebooks do
            return prepare_picture(picture, shape, prep)
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, DecompressionBomb...
        return _reason(e)


def decode(
    listing: Listing,
    shape: tuple[int, ...],
    preparation: Preparation,
    *,
    log: Callable[[str], None] | None = None,
) -> Decoded:
    """Decode and prepare every image of ``listing`` into ``shape``, from the image cache when
    this listing (paths, sizes, times) was decoded with this preparation before. Unreadable
    files are returned in ``skipped``; the caller decides whether that is an error."""
    key = imagecache.key(listing, shape, preparation)
    hit = imagecache.load(key, len(listing), shape)
    if hit is not None:
        return Decoded(*hit)
    images = np.zeros((len(listing), *shape), dtype=np.uint8)
    ok = np.zeros(len(listing), dtype=bool)
    skipped: list[tuple[str, str]] = []
    workers = max(1, min(8, os.cpu_count() or 1))
    with (
        count_bar(f"decoding {listing.root.name}", len(listing), "img") as bar,
        ThreadPoolExecutor(workers) as pool,
    ):
        results = pool.map(
            lambda i: _decode_one(listing.path(i), shape, preparation), range(len(listing))
        )
        for i, result in enumerate(results):
            if isinstance(result, str):
                skipped.append((listing.files[i], result))
            else:
                images[i] = result
                ok[i] = True
            bar.update()
    kept = np.flatnonzero(ok)
    decoded = Decoded(images[kept], kept, skipped)
    imagecache.store(key, decoded, log)
    return decoded


def refuse_unreadable(root: Path, skipped: list[tuple[str, str]], hint: str) -> None:
    """The first unreadable file as a one-line error (the policy is to refuse them)."""
    if skipped:
        rel, why = skipped[0]
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise FormatError(f"{root / rel} is not a readable image ({why}){more}; {hint}")


def said_skipped(root: Path, skipped: list[tuple[str, str]]) -> str:
    """One line naming the unreadable files that were skipped."""
    shown = "; ".join(f"{rel} ({why})" for rel, why in skipped[:3])
    more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    n = len(skipped)
    return f"{root}: skipped {n} unreadable image{'s' if n != 1 else ''}: {shown}{more}"


# ---------------------------------------------------------------------------------------------
# The images as they are (no overlay in view)


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
    listing = list_folder(root)
    opened: list[Image.Image] = []
    with count_bar(f"reading {listing.root.name}", len(listing), "img") as bar:
        for i in range(len(listing)):
            path = listing.path(i)
            try:
                with Image.open(path) as image:
                    image.load()
                    opened.append(image.copy())
            except Exception as e:
                raise FormatError(f"{path} is not a readable image ({_reason(e)})") from None
            bar.update()
    if grey is None:
        grey = all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in opened)
    mode = "L" if grey else "RGB"
    if size is None:
        first = opened[0].size
        for i, image in enumerate(opened):
            if image.size != first:
                raise DatasetError(
                    f"{listing.path(i)} is {image.size[0]}x{image.size[1]} but {listing.path(0)} "
                    f"is {first[0]}x{first[1]}; give a common size to scale the images to"
                )
        arrays = [np.asarray(im.convert(mode)) for im in opened]
    else:
        shape = size if grey else (*size, 3)
        arrays = [prepare_picture(im, shape, Preparation("fit")) for im in opened]
    return np.stack(arrays).astype(np.uint8), listing.labels.copy(), listing.classes
