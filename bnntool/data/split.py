"""The test split of an image folder: made once, by a seeded rule, recorded, and checked again.

A folder without train/ and test/ sub-folders is split per class: each class's files are
ordered by sha256(seed, path) and the first ``round(share x count)`` of them (at least one, and
at least one left for training, when the class has two or more) are the test images. The rule
needs no random generator, so every machine and version makes the same split from the same files.

The *record* identifies the split where the run is not at hand: run.json and the params
folder's manifest carry it, and ``verify`` and ``evaluate`` recompute the split from the folder
and refuse, in one line naming what changed, a folder whose split no longer matches.
Both parts are put in the same seeded order (classes mixed), so that a validation split (the last
training images) and ``--limit`` take images of every class.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnntool.data.folder import Listing
from bnntool.errors import DatasetError, UserError

RULES = ("share", "folders")
UNREADABLE = ("refuse", "skip")


@dataclass(frozen=True)
class FolderOptions:
    """A recipe's ``[folder]`` table: how an image folder is split and read."""

    test: float = 0.2  # the share of each class's images held out for test
    seed: int = 0  # decides which images those are (and the order of both parts)
    unreadable: str = "refuse"  # an unreadable image: refuse the folder, or skip it (said)

    def __post_init__(self) -> None:
        if not 0 < self.test < 1:
            raise UserError(f"folder.test = {self.test}; give a share between 0 and 1 (e.g. 0.2)")
        if self.unreadable not in UNREADABLE:
            raise UserError(
                f"folder.unreadable = {self.unreadable!r}; use {' or '.join(UNREADABLE)}"
            )

    @property
    def is_default(self) -> bool:
        return self == FolderOptions()


@dataclass(frozen=True)
class FolderSplit:
    """Which images of a listing are test images (``test``: a bool per file), the order of
    each part, and the record that identifies the split."""

    test: np.ndarray
    record: dict[str, Any]
    seed: int

    def indices(self, listing: Listing, part: str) -> np.ndarray:
        """The listing's indices of ``part`` ("train", "test" or "all"), in the seeded order."""
        if part == "all":
            chosen = np.arange(len(listing))
        else:
            chosen = np.flatnonzero(self.test if part == "test" else ~self.test)
        order = sorted(chosen.tolist(), key=lambda i: _key(self.seed, listing.files[i]))
        return np.asarray(order, dtype=np.int64)


def _key(seed: int, path: str) -> str:
    return hashlib.sha256(f"{seed}\0{path}".encode()).hexdigest()


def _digest(paths: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()


def split_folder(
    listing: Listing, *, share: float, seed: int, unreadable: str = "refuse"
) -> FolderSplit:
    """The split of ``listing``: its train/ and test/ folders, or ``share`` of each class."""
    if listing.layout == "folders":
        test = np.asarray([f.startswith("test/") for f in listing.files], dtype=bool)
        rule = {"rule": "folders"}
    else:
        test = np.zeros(len(listing), dtype=bool)
        for label in range(len(listing.classes)):
            members = np.flatnonzero(listing.labels == label)
            n = len(members)
            k = min(max(round(n * share), 1), n - 1) if n >= 2 else 0
            order = sorted(members, key=lambda i: _key(seed, listing.files[i]))
            test[order[:k]] = True
        rule = {"rule": "share", "test_share": share}
    test_files = [f for f, t in zip(listing.files, test.tolist(), strict=True) if t]
    record = {
        **rule,
        "seed": seed,
        "folder": Path(os.path.abspath(listing.root)).name,
        "classes": list(listing.classes),
        "class_images": np.bincount(listing.labels, minlength=len(listing.classes)).tolist(),
        "class_test_images": np.bincount(
            listing.labels[test], minlength=len(listing.classes)
        ).tolist(),
        "images": len(listing),
        "test_images": len(test_files),
        "train_images": len(listing) - len(test_files),
        "test_sha256": _digest(test_files),
        "unreadable": unreadable,
    }
    return FolderSplit(test, record, seed)


def describe(record: dict[str, Any]) -> str:
    """The split in words: '120 of 600 images held out for test (20% of each class, seed 0)'."""
    if record.get("rule") == "folders":
        how = "its test/ folder"
    else:
        how = f"{record['test_share'] * 100:g}% of each class, seed {record['seed']}"
    return (
        f"{record['test_images']} of {record['images']} images held out for test ({how}), "
        f"{record['train_images']} for training"
    )


def check_split(listing: Listing, recorded: dict[str, Any], where: str) -> FolderSplit:
    """Split ``listing`` by the ``recorded`` split's rule and refuse (one line naming what
    changed) a folder whose split no longer matches. ``where`` names the record (a run.json or
    a params folder's manifest.json)."""
    try:
        rule = recorded["rule"]
        if rule not in RULES:
            raise KeyError(rule)
        share = float(recorded.get("test_share", 0.2))
        seed = int(recorded["seed"])
        unreadable = str(recorded.get("unreadable", "refuse"))
    except (KeyError, TypeError, ValueError):
        raise UserError(f"the split record ({where}) is not one this bnntool reads") from None
    found = split_folder(listing, share=share, seed=seed, unreadable=unreadable)
    if found.record["test_sha256"] == recorded.get("test_sha256"):
        return found
    root = listing.root
    since = f"training split it (as {where} records)"
    advice = (
        "the test images would not be the ones training held out: restore the folder, give "
        "--split all to use every image, or train again"
    )
    now_rule = "folders" if listing.layout == "folders" else "share"
    if rule != now_rule:
        then_had = "train/ and test/ folders" if rule == "folders" else "no train/ and test/"
        raise DatasetError(f"{root} changed since {since} (it had {then_had} then); {advice}")
    if rule == "folders":
        raise DatasetError(
            f"{root} changed since {since} (other files in its test/ folder: "
            f"{found.record['test_images']} now, {recorded.get('test_images')} then); {advice}"
        )
    then, now = list(recorded.get("classes", [])), list(listing.classes)
    if then != now:
        new = [c for c in now if c not in then]
        gone = [c for c in then if c not in now]
        parts = [f"new class folder {', '.join(new)}"] if new else []
        parts += [f"no images in class folder {', '.join(gone)}"] if gone else []
        what = "; ".join(parts) or "class folders in another order"
        raise DatasetError(f"{root} changed since {since} ({what}); {advice}")
    counts = recorded.get("class_images", [])
    for name, before, after in zip(now, counts, found.record["class_images"], strict=False):
        if before != after:
            change = (
                f"{after - before} image{'s' if after - before != 1 else ''} added"
                if after > before
                else f"{before - after} image{'s' if before - after != 1 else ''} removed"
            )
            raise DatasetError(
                f"{root / name} changed since {since} ({change}: {after} images, {before} "
                f"then); {advice}"
            )
    raise DatasetError(
        f"{root} changed since {since} (files renamed or replaced: the same number in each "
        f"class, other names); {advice}"
    )
