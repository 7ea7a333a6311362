"""Training data: the dataset split into train / validation / test, prepared as the overlay's
input (the same image preparation and encoding verify and the board apply), and batch
augmentation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bnntool.data import ImageSet, load_dataset
from bnntool.data.load import FolderReading, is_image_folder
from bnntool.data.split import describe
from bnntool.encoding import InputEncoding
from bnntool.errors import UserError
from bnntool.overlay import OverlaySpec
from bnntool.sim.inputs import HostInput
from bnntool.train.recipe import Augmentation, Recipe


@dataclass
class Split:
    images: np.ndarray  # uint8, as the dataset gives them
    labels: np.ndarray  # int64


@dataclass
class Data:
    train: Split
    validation: Split | None
    test: Split
    classes: tuple[str, ...]
    name: str
    split: dict[str, Any] | None = None  # an image folder's split record (bnntool.data.split)


def load_data(
    recipe: Recipe,
    limit: int | None,
    data_dir,
    shape: tuple[int, ...],
    log: Callable[[str], None] = lambda _: None,
) -> Data:
    """The recipe's dataset: a named dataset's train and test splits, or an image folder
    prepared into ``shape`` (the host's images) as the recipe's [input] says and split as its
    [folder] says; then the validation part and ``limit``."""
    dataset = recipe.dataset
    reading = None
    if is_image_folder(dataset):
        try:
            recipe.preparation.check(shape, f"overlay {recipe.overlay}")
        except UserError as e:
            raise UserError(f"{recipe.source or recipe.name}: [input] {e}") from None
        reading = FolderReading(shape, recipe.preparation, options=recipe.folder, log=log)
    train = load_dataset(dataset, "train", data_dir, reading=reading)
    test = load_dataset(dataset, "test", data_dir, reading=reading)
    if reading is not None and test.split_record is not None:
        log(
            f"{dataset}: {describe(test.split_record)}; images prepared "
            f"{recipe.preparation.describe()} into {'x'.join(map(str, shape))}"
        )
    train_part, val_part = _split(train, recipe.training.validation)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit {limit}: give at least 1 training image")
        train_part = Split(train_part.images[:limit], train_part.labels[:limit])
    return Data(
        train_part, val_part, Split(test.images, test.labels), train.classes, train.name,
        test.split_record,
    )  # fmt: skip


def _split(data: ImageSet, validation: float) -> tuple[Split, Split | None]:
    n = len(data)
    if validation == 0:
        return Split(data.images, data.labels), None
    if data.groups is not None and validation < 1:
        # Keep the images of one physical object together (GTSRB tracks): the last groups.
        groups = np.unique(data.groups)
        held = set(groups[len(groups) - max(1, round(len(groups) * validation)) :].tolist())
        mask = np.isin(data.groups, list(held))
        return Split(data.images[~mask], data.labels[~mask]), Split(
            data.images[mask], data.labels[mask]
        )
    count = int(validation) if validation >= 1 else round(n * validation)
    if not 0 < count < n:
        raise UserError(f"validation = {validation} leaves no training images ({n} in all)")
    return (
        Split(data.images[: n - count], data.labels[: n - count]),
        Split(data.images[n - count :], data.labels[n - count :]),
    )


class InputPreparer:
    """Dataset images -> the network's input, exactly as the overlay's host prepares them
    (bnntool.sim.inputs.HostInput: the same code verify and the board use)."""

    def __init__(self, spec: OverlaySpec, encoding: InputEncoding | None) -> None:
        self.spec = spec
        self.host = HostInput(spec, encoding)

    def check(self, images: np.ndarray, dataset: str) -> None:
        self.host.check(
            images,
            f"{dataset} images",
            "train it on an overlay that takes them, or on a folder of the images (their "
            "preparation is the recipe's [input] prepare)",
        )

    def compact(self, images: np.ndarray) -> torch.Tensor:
        """The overlay's input codes, compact: LFC bits (uint8), CNV 8-bit codes (int8, NCHW)."""
        prepared = self.host.prepare(images)
        if self.spec.network == "lfc":
            return torch.from_numpy(prepared)
        codes = prepared.astype(np.int8).transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(codes))

    @staticmethod
    def values(compact: torch.Tensor, network: str) -> torch.Tensor:
        """Compact codes -> the values the first layer multiplies: +-1 bits or k/128."""
        if network == "lfc":
            return compact.float() * 2 - 1
        return compact.float() / 128


def augment(images: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Random shifts (zero fill) and horizontal flips of uint8 images (N x H x W [x C])."""
    out = images
    if aug.flip:
        flip = rng.random(len(out)) < 0.5
        out = out.copy()
        out[flip] = out[flip][:, :, ::-1]
    if aug.shift:
        s = aug.shift
        padded = np.pad(out, [(0, 0), (s, s), (s, s)] + [(0, 0)] * (out.ndim - 3))
        dy = rng.integers(0, 2 * s + 1, len(out))
        dx = rng.integers(0, 2 * s + 1, len(out))
        h, w = out.shape[1:3]
        rows = dy[:, None] + np.arange(h)[None, :]
        cols = dx[:, None] + np.arange(w)[None, :]
        out = padded[np.arange(len(out))[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out
