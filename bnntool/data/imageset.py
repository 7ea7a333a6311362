"""The array form every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImageSet:
    """Images of one split of a dataset, as numpy arrays.

    ``images`` is uint8, N x H x W (grey) or N x H x W x C (colour, channels last); ``labels`` is
    int64 with values in ``range(len(classes))``. ``groups``, where a dataset has them, gives
    images that show the same physical object the same number (GTSRB tracks), so that a
    validation split can keep them together. An image folder's images also carry ``files``
    (each image's path relative to the folder), the ``split_record`` that identifies how the
    folder was split (bnntool.data.split) and the unreadable files ``skipped``.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None
    files: tuple[str, ...] | None = None
    split_record: dict[str, Any] | None = None
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {self.images.dtype}")
        if self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise ValueError("labels must be a 1-d int64 array")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def head(self, n: int) -> ImageSet:
        """The first ``n`` images (all of them if there are fewer)."""
        return replace(
            self,
            images=self.images[:n],
            labels=self.labels[:n],
            groups=None if self.groups is None else self.groups[:n],
            files=None if self.files is None else self.files[:n],
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.classes))
