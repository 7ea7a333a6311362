"""`bnntool verify`: run a parameter folder on the bit-exact overlay model over a dataset.

Reports accuracy (with the board's batch read-out), per-class accuracy, speed and the read-out
quirks it met; writes a JSON report and a confusion-matrix PNG. Against the trained weights it
also runs the trained network and reports agreement: images whose overlay outputs equal the
trained model's (LFC: the output bits, i.e. which logits are >= 0; CNV: the top score), and the
first layer where activations differ.
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bnntool.artifacts import MANIFEST, atomic_file, write_error, write_json
from bnntool.convert import weights_of
from bnntool.convert.params import ParamsFolder, read_params
from bnntool.data import load_dataset
from bnntool.data.imageset import ImageSet
from bnntool.data.load import FolderReading, is_image_folder
from bnntool.errors import DatasetError, UserError
from bnntool.preparation import Preparation
from bnntool.sim.inputs import HostInput, fit_images
from bnntool.sim.model import OverlayModel
from bnntool.sim.readout import BATCH, cnv_class, lfc_class, quirks
from bnntool.sim.trained import TrainedModel

MAX_LISTED = 1000  # disagreeing image indices kept in the report


@dataclass
class Agreement:
    source: str
    model_accuracy: float  # the trained model's own accuracy (argmax of its logits)
    agreement: float  # images whose overlay outputs equal the trained model's
    readout_agreement: float  # images whose read-out class equals the trained model's
    disagreements: list[int] = field(default_factory=list)
    first_differing_layer: int | None = None
    differing_images_at_that_layer: int = 0


@dataclass
class VerifyReport:
    params: str
    overlay: str
    thresholds: str | None
    dataset: str
    split: str
    images: int
    correct: int
    accuracy: float
    images_per_second: float
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    readout: str
    quirks: dict[str, int]
    against: Agreement | None = None
    report_json: str = ""
    confusion_png: str = ""
    gates: dict[str, Any] | None = None  # --min-accuracy / --min-agreement and what they found
    folder_split: dict[str, Any] | None = None  # an image folder's split, as checked
    image_preparation: dict[str, Any] | None = None  # an image folder's (or --fit's)
    skipped: list[str] = field(default_factory=list)  # unreadable pictures skipped


def verify(
    params_dir: str | os.PathLike[str],
    dataset: str,
    *,
    overlay: str | None = None,
    split: str = "test",
    against: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    fit: bool = False,
    report: str | os.PathLike[str] | None = None,
    allow_edited: bool = False,
    min_accuracy: float | None = None,
    min_agreement: float | None = None,
) -> VerifyReport:
    """Verify a parameter folder; see the module docstring. A folder whose files differ from its
    manifest's sha256 is refused unless ``allow_edited``."""
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give at least 1 image")
    if min_agreement is not None and against is None:
        raise UserError("--min-agreement needs --against (the trained weights or run folder)")
    params = read_params(Path(params_dir), overlay, allow_edited=allow_edited)
    model = OverlayModel(params)
    data = images_for(params, model.host, dataset, split, data_dir)
    if limit is not None:
        data = data.head(limit)
    images = _fitted(model, data, fit)
    classes = len(params.classes)
    if len(data.classes) > classes:
        raise UserError(
            f"dataset {data.name} has {len(data.classes)} classes but {params.path} has "
            f"{classes} (classes.txt); is this the folder for another dataset?"
        )

    trained = None
    if against is not None:
        trained = _trained_model(Path(against), params)
        if trained.outputs != classes:
            raise UserError(
                f"{against} has {trained.outputs} outputs but {params.path} has {classes} classes"
            )

    started = time.perf_counter()
    outputs, _ = model.run(images)
    seconds = time.perf_counter() - started
    predicted = _classes(model, outputs, classes)
    agreement = (
        _agreement(model, trained, images, outputs, predicted, data, str(against))
        if trained
        else None
    )

    labels = data.labels
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, np.clip(predicted, 0, classes - 1)), 1)
    per_class = []
    for c in range(len(data.classes)):
        mask = labels == c
        per_class.append(
            {
                "class": c,
                "name": params.classes[c] if c < classes else str(c),
                "images": int(mask.sum()),
                "accuracy": float((predicted[mask] == c).mean() * 100) if mask.any() else None,
            }
        )
    correct = int((predicted == labels).sum())
    manifest = params.manifest or {}
    result = VerifyReport(
        params=str(params.path),
        overlay=params.spec.name,
        thresholds=manifest.get("thresholds"),
        dataset=data.name,
        split=split,
        images=len(data),
        correct=correct,
        accuracy=100.0 * correct / max(len(data), 1),
        images_per_second=len(data) / seconds if seconds > 0 else float("inf"),
        per_class=per_class,
        confusion=confusion.tolist(),
        readout=BATCH,
        quirks=quirks(model.network, outputs, classes),
        against=agreement,
        folder_split=data.split_record,
        image_preparation=preparation_of(params).to_dict()
        if fit or data.files is not None
        else None,
        skipped=list(data.skipped),
    )
    result.gates = judge(result, min_accuracy, min_agreement)
    _write_report(result, params.classes, report)
    return result


class GateMissed(UserError):
    """A --min-accuracy or --min-agreement gate was missed (exit code 3, for CI scripts)."""

    exit_code = 3


def judge(
    result: VerifyReport, min_accuracy: float | None, min_agreement: float | None
) -> dict[str, Any] | None:
    """The gates a CI script set, with what was measured and which were missed (also written
    into the report); None when no gate was set."""
    if min_accuracy is None and min_agreement is None:
        return None
    missed = []
    if min_accuracy is not None and result.accuracy < min_accuracy:
        missed.append(f"accuracy {result.accuracy:.2f}% < --min-accuracy {min_accuracy:g}")
    agreement = result.against.agreement if result.against is not None else None
    if min_agreement is not None:
        if agreement is None:
            raise UserError("--min-agreement needs --against (the trained weights or run folder)")
        if agreement < min_agreement:
            missed.append(f"agreement {agreement:.2f}% < --min-agreement {min_agreement:g}")
    return {
        "min_accuracy": min_accuracy,
        "min_agreement": min_agreement,
        "accuracy": result.accuracy,
        "agreement": agreement,
        "passed": not missed,
        "missed": missed,
    }


def check_gates(result: VerifyReport) -> None:
    """After the report is out: a missed gate ends the command with exit code 3."""
    if result.gates and result.gates["missed"]:
        raise GateMissed(f"gate missed on {result.params}: {'; '.join(result.gates['missed'])}")


def preparation_of(params: ParamsFolder) -> Preparation:
    """The image preparation a params folder records (none: the board's)."""
    return Preparation.of_manifest(params.manifest, str(params.path / MANIFEST))


def images_for(
    params: ParamsFolder,
    host: HostInput,
    dataset: str,
    split: str,
    data_dir: str | os.PathLike[str] | None,
    log: Callable[[str], None] | None = None,
    where: str | None = None,
) -> ImageSet:
    """A dataset's images for a params folder (verify and evaluate). A named dataset as it is;
    an image folder prepared as the folder's manifest says, split as its run recorded (checked
    against the folder), with labels in the order of the folder's classes.txt. ``where`` names
    the manifest in messages (default: its path)."""
    if not is_image_folder(dataset):
        return load_dataset(dataset, split, data_dir)
    where = where or str(params.path / MANIFEST)
    preparation = preparation_of(params)
    preparation.check(host.image_shape, f"overlay {params.spec.name}")
    recorded = (params.manifest or {}).get("split")
    reading = FolderReading(host.image_shape, preparation, recorded=recorded, where=where, log=log)
    return in_classes_of(params, load_dataset(dataset, split, data_dir, reading=reading))


def in_classes_of(params: ParamsFolder, data: ImageSet) -> ImageSet:
    """An image folder's images labelled by the params folder's class names (classes.txt), so
    that a folder of some of the classes, or listed in another order, is measured right. A
    folder none of whose class names is in classes.txt (class0, class1, ...; or a params folder
    with unnamed classes) is taken in order, class by class."""
    names = [_name(c) for c in params.classes]
    folder = [_name(c) for c in data.classes]
    known = [c in names for c in folder]
    if folder == names or not any(known):
        return data
    if not all(known):
        unknown = data.classes[known.index(False)]
        shown = ", ".join(params.classes[:8]) + (" ..." if len(params.classes) > 8 else "")
        raise DatasetError(
            f"class folder {unknown!r} of {data.name} is not a class of {params.path} "
            f"(classes.txt: {shown}); rename the folder, or convert with the right --classes"
        )
    index = np.asarray([names.index(c) for c in folder], dtype=np.int64)
    return replace(data, labels=index[data.labels], classes=tuple(params.classes))


def _name(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip())


def _fitted(model: OverlayModel, data: ImageSet, fit: bool) -> np.ndarray:
    if fit and data.files is None:  # an image folder's pictures are prepared already
        return fit_images(model.host, data.images, preparation_of(model.params))
    model.host.check(data.images, f"{data.name} images")
    return data.images


def _trained_model(path: Path, params) -> TrainedModel:
    return TrainedModel.from_npz(weights_of(path), params.spec, params.encoding)


def _classes(model: OverlayModel, outputs: np.ndarray, classes: int) -> np.ndarray:
    if model.network == "lfc":
        return lfc_class(outputs, classes, BATCH)
    return cnv_class(outputs, classes, BATCH)


def _agreement(
    model: OverlayModel,
    trained: TrainedModel,
    images: np.ndarray,
    outputs: np.ndarray,
    predicted: np.ndarray,
    data: ImageSet,
    source: str,
) -> Agreement:
    classes = trained.outputs
    agree = np.zeros(len(images), dtype=bool)
    model_pred = np.zeros(len(images), dtype=np.int64)
    differing = np.zeros(len(model.spec.layers), dtype=np.int64)  # images, per layer
    batch = 256
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        out, sim_acts = model.run(chunk, keep=True)
        logits, ref_acts = trained.run(chunk, keep=True)
        model_pred[start : start + len(chunk)] = np.argmax(logits, axis=1)
        if model.network == "lfc":
            same = (out[:, :classes] > 0) == (logits >= 0)
            agree[start : start + len(chunk)] = same.all(axis=1)
        else:
            agree[start : start + len(chunk)] = np.argmax(out[:, :classes], axis=1) == np.argmax(
                logits, axis=1
            )
        # The thresholded layers' activations (a CNV overlay's scores are compared above).
        for index, (a, b) in enumerate(zip(sim_acts, ref_acts, strict=False)):
            differing[index] += np.count_nonzero((a != b).reshape(len(chunk), -1).any(axis=1))
    disagreements = np.flatnonzero(~agree)
    layers = np.flatnonzero(differing)
    first_layer = int(layers[0]) if len(layers) else None
    return Agreement(
        source=source,
        model_accuracy=float((model_pred == data.labels).mean() * 100),
        agreement=float(agree.mean() * 100),
        readout_agreement=float((predicted == model_pred).mean() * 100),
        disagreements=disagreements[:MAX_LISTED].tolist(),
        first_differing_layer=first_layer,
        differing_images_at_that_layer=int(differing[first_layer])
        if first_layer is not None
        else 0,
    )


def _write_report(
    result: VerifyReport, class_names: tuple[str, ...], report: str | os.PathLike[str] | None
) -> None:
    path = (
        Path(report)
        if report
        else Path(f"verify-{Path(result.params).name}-{result.dataset}-{result.split}.json")
    )
    png = path.with_suffix(".png")
    hint = "choose another --report"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path, e, hint) from None
    result.report_json = str(path)
    result.confusion_png = str(png)
    _confusion_png(result, class_names, png, hint)
    write_json(path, asdict(result), hint)


def _confusion_png(
    result: VerifyReport, class_names: tuple[str, ...], path: Path, hint: str
) -> None:
    import matplotlib.pyplot as plt

    from bnntool.plots import confusion_figure

    title = (
        f"{result.overlay} on {result.dataset} {result.split}: {result.accuracy:.2f}% "
        f"({result.correct}/{result.images})"
    )
    fig = confusion_figure(
        np.array(result.confusion), list(class_names), title, "predicted by the overlay model"
    )
    try:
        with atomic_file(path, "wb", hint) as f:
            fig.savefig(f, format="png", dpi=120)
    finally:
        plt.close(fig)
