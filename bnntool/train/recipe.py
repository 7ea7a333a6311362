"""Training recipes: ``training/<name>.toml``, or a user's file.

Every key is checked: an unknown key or a value of the wrong type is an error that names it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bnntool.data.split import FolderOptions
from bnntool.encoding import InputEncoding
from bnntool.errors import UserError
from bnntool.preparation import KEYS as PREPARATION_KEYS
from bnntool.preparation import Preparation

LOSSES = ("squared-hinge", "readout-hinge", "cross-entropy")
SCHEDULES = ("exponential", "cosine")


class RecipeError(UserError):
    """A recipe that cannot be found or read."""


@dataclass(frozen=True)
class Augmentation:
    shift: int = 0  # random translation by up to this many pixels
    flip: bool = False  # random horizontal flip


@dataclass(frozen=True)
class Training:
    epochs: int = 100
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 0.003
    lr_final: float = 3e-7
    schedule: str = "exponential"
    weight_lr_scale: str = (
        "glorot"  # upstream's per-layer step scale for binarized weights; or "none"
    )
    loss: str = "squared-hinge"
    readout_below_weight: float = 0.3  # readout-hinge: weight of the terms the read-out ignores
    dropout_input: float = 0.0
    dropout_hidden: float = 0.0
    validation: float = 0.0  # >= 1: that many last training images; < 1: that fraction; 0: none
    seed: int = 1234
    readout_calibration: bool = True  # LFC: fit per-class read-out offsets on validation
    augmentation: Augmentation = field(default_factory=Augmentation)


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: str
    overlay: str
    training: Training
    description: str = ""
    expected_accuracy: float | None = None
    input: InputEncoding | None = None  # LFC overlays: None means BNN-PYNQ's (pixel >= 128)
    source: str = ""
    preparation: Preparation = field(default_factory=Preparation)  # [input] prepare, colour, ...
    folder: FolderOptions = field(default_factory=FolderOptions)  # [folder]: image folders only

    def encoding(self) -> InputEncoding:
        return self.input or InputEncoding.upstream()

    def with_overrides(self, **overrides: Any) -> Recipe:
        """The recipe with CLI overrides (None values are ignored) applied to [training]."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if not changes:
            return self
        training = replace(self.training, **changes)
        options = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in changes.items())
        _validate(training, f"{self.name} with {options}")
        return replace(self, training=training)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as its TOML tables (what :func:`recipe_from_dict` reads back); the image
        preparation joins the encoding in ``input``, and defaults are left out."""
        out = asdict(self)
        table = {
            **(self.input.to_dict() if self.input else {}),
            **({} if self.preparation.is_default else self.preparation.to_dict()),
        }
        out["input"] = table or None
        del out["preparation"]
        out["folder"] = None if self.folder.is_default else asdict(self.folder)
        return out

    def identity(self) -> dict[str, Any]:
        """What decides the trained weights: the dataset, overlay, input encoding and every
        training setting; not the recipe's name, description or the file it was read from
        (a run stays the same run when its recipe file moves, e.g. with a new install)."""
        out = self.to_dict()
        for key in ("name", "description", "expected_accuracy", "source"):
            out.pop(key, None)
        return out


def _types(cls: type) -> dict[str, Any]:
    return {f.name: f for f in fields(cls)}


def _check(table: dict[str, Any], cls: type, where: str, source: str) -> dict[str, Any]:
    known = _types(cls)
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise RecipeError(
                f"{source}: unknown key {where}{key}; known: {', '.join(sorted(known))}"
            )
        default = known[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int) and not isinstance(default, bool):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            kind = type(default).__name__ if default is not None else "value"
            raise RecipeError(f"{source}: {where}{key} = {value!r} is not a {kind}")
        out[key] = value
    return out


def recipe_from_dict(raw: dict[str, Any], source: str) -> Recipe:
    top = dict(raw)
    training_raw = top.pop("training", {})
    input_raw = top.pop("input", None)
    folder_raw = top.pop("folder", None)
    if not isinstance(training_raw, dict):
        raise RecipeError(f"{source}: [training] must be a table")
    aug_raw = training_raw.pop("augmentation", {}) if isinstance(training_raw, dict) else {}
    if not isinstance(aug_raw, dict):
        raise RecipeError(f"{source}: training.augmentation must be a table (shift, flip)")
    allowed_top = {
        "name": "",
        "dataset": "",
        "overlay": "",
        "description": "",
        "expected_accuracy": 0.0,
    }
    for key, value in top.items():
        if key not in allowed_top:
            raise RecipeError(
                f"{source}: unknown key {key}; known: "
                f"{', '.join(sorted([*allowed_top, 'folder', 'input', 'training']))}"
            )
        expected = type(allowed_top[key])
        if expected is float:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise RecipeError(f"{source}: {key} = {value!r} is not a number")
        elif not isinstance(value, expected):
            raise RecipeError(f"{source}: {key} = {value!r} is not a {expected.__name__}")
    for key in ("name", "dataset", "overlay"):
        if key not in top:
            raise RecipeError(f"{source}: key {key} is missing")
    augmentation = Augmentation(**_check(aug_raw, Augmentation, "training.augmentation.", source))
    training = Training(
        **_check(training_raw, Training, "training.", source), augmentation=augmentation
    )
    _validate(training, source)
    encoding = None
    preparation = Preparation()
    if input_raw is not None:
        if not isinstance(input_raw, dict):
            raise RecipeError(f"{source}: [input] must be a table")
        encoding_keys = ("encoding", "size", "levels", "matrix", "source")
        for key in input_raw:
            if key not in (*encoding_keys, *PREPARATION_KEYS):
                raise RecipeError(
                    f"{source}: unknown key input.{key}; known: "
                    f"{', '.join(sorted((*encoding_keys, *PREPARATION_KEYS)))}"
                )
        if any(key in input_raw for key in encoding_keys):
            encoding = InputEncoding.from_dict(
                {k: v for k, v in input_raw.items() if k in encoding_keys}, f"{source}: [input]"
            )
        preparation = Preparation.from_dict(
            {k: v for k, v in input_raw.items() if k in PREPARATION_KEYS}, f"{source}: [input]"
        )
    folder = _folder_options(folder_raw, top.get("dataset"), source)
    return Recipe(
        name=top["name"],
        dataset=top["dataset"],
        overlay=top["overlay"],
        training=training,
        description=top.get("description", ""),
        expected_accuracy=float(top["expected_accuracy"]) if "expected_accuracy" in top else None,
        input=encoding,
        source=source,
        preparation=preparation,
        folder=folder,
    )


def _folder_options(raw: Any, dataset: Any, source: str) -> FolderOptions:
    """The ``[folder]`` table: test share, seed and unreadable images of an image folder."""
    if raw is None:
        return FolderOptions()
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: [folder] must be a table (test, seed, unreadable)")
    try:
        options = FolderOptions(**_check(raw, FolderOptions, "folder.", source))
    except UserError as e:
        raise RecipeError(f"{source}: {e}") from None
    if not options.is_default and isinstance(dataset, str):
        from bnntool.data.load import is_image_folder

        if not is_image_folder(dataset) and _is_named_dataset(dataset):
            raise RecipeError(
                f"{source}: [folder] is for a folder of your images; dataset {dataset} has its "
                "own test split: leave [folder] out"
            )
    return options


def _is_named_dataset(name: str) -> bool:
    from bnntool.data.catalog import get_dataset

    try:
        get_dataset(name)
    except UserError:
        return False
    return True


def _validate(t: Training, source: str) -> None:
    if t.loss not in LOSSES:
        raise RecipeError(f"{source}: training.loss = {t.loss!r}; use {' or '.join(LOSSES)}")
    if t.schedule not in SCHEDULES:
        raise RecipeError(
            f"{source}: training.schedule = {t.schedule!r}; use {' or '.join(SCHEDULES)}"
        )
    if t.optimizer != "adam":
        raise RecipeError(
            f"{source}: training.optimizer = {t.optimizer!r}; bnntool trains with adam"
        )
    if t.weight_lr_scale not in ("glorot", "none"):
        raise RecipeError(
            f"{source}: training.weight_lr_scale = {t.weight_lr_scale!r}; use glorot or none"
        )
    if t.epochs < 1 or t.batch_size < 1 or t.lr <= 0:
        raise RecipeError(f"{source}: training.epochs, batch_size and lr must be positive")
    if not 0 <= t.readout_below_weight <= 1:
        raise RecipeError(f"{source}: training.readout_below_weight must be in [0, 1]")
    if not (0 <= t.dropout_input < 1 and 0 <= t.dropout_hidden < 1) or t.validation < 0:
        raise RecipeError(f"{source}: dropouts must be in [0, 1) and validation >= 0")
    if not 0 <= t.seed < 2**63:
        raise RecipeError(
            f"{source}: training.seed = {t.seed}; use a whole number from 0 to 2**63-1"
        )


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name (``fashion-mnist-lfcW1A1``, or just the dataset:
    ``fashion-mnist`` means its LFC/CNV W1A1 recipe), or a recipe file."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    from bnntool.resources import list_shipped, shipped_dir

    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        names = [p.stem for p in list_shipped("training")]
        candidates = [text, *(f"{text}-{net}" for net in ("lfcW1A1", "cnvW1A1"))]
        from bnntool.data.catalog import _ALIASES

        alias = _ALIASES.get(text.lower())
        if alias:
            candidates += [
                f"{alias}-lfcW1A1",
                f"{alias}-cnvW1A1",
                f"{alias.replace('-', '')}-cnvW1A1",
            ]
        candidates.append(f"{text.replace('-', '')}-cnvW1A1")
        found = next((c for c in candidates if c in names), None)
        if found is None:
            raise RecipeError(
                f"unknown recipe {text!r}; shipped recipes: {', '.join(names)} (or give a "
                ".toml file)"
            )
        path = shipped_dir("training") / f"{found}.toml"
    if not path.is_file():
        raise RecipeError(f"recipe file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe {path} is not valid TOML: {e}") from None
    return recipe_from_dict(raw, str(path))
