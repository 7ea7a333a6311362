"""Parameter folders: what `bnntool convert` writes and what the overlay (and `verify`) reads.

``L-P-weights.bin`` and ``L-P-thres.bin`` per layer L and PE P, ``classes.txt`` (names joined by
"\\n"), and bnntool's ``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnntool.artifacts import MANIFEST, changed_files, read_manifest
from bnntool.convert.memory import unpack_thresholds, unpack_weights
from bnntool.encoding import InputEncoding
from bnntool.errors import UserError
from bnntool.overlay import LayerSpec, OverlaySpec, SpecError, load_overlay, spec_from_dict


class ParamsError(UserError):
    """A parameter folder that is incomplete or does not match its overlay."""


def weights_file(layer: int, pe: int) -> str:
    return f"{layer}-{pe}-weights.bin"


def thresholds_file(layer: int, pe: int) -> str:
    return f"{layer}-{pe}-thres.bin"


def expected_files(spec: OverlaySpec) -> dict[str, int]:
    """Every .bin file an overlay loads, with its size in bytes."""
    files: dict[str, int] = {}
    for layer in spec.layers:
        for pe in range(layer.pe):
            files[weights_file(layer.index, pe)] = 8 * layer.wmem
            if layer.has_thresholds:
                files[thresholds_file(layer.index, pe)] = 8 * layer.tmem * layer.steps
    return files


def write_layer(
    folder: Path, layer: LayerSpec, weights: np.ndarray, thresholds: np.ndarray | None
) -> None:
    """Write one layer's per-PE memories: weights (PE, WMEM) uint64, thresholds (PE, n) int64."""
    for pe in range(layer.pe):  # write_bytes, not tofile: a full disk then reports ENOSPC
        (folder / weights_file(layer.index, pe)).write_bytes(weights[pe].astype("<u8").tobytes())
        if thresholds is not None:
            (folder / thresholds_file(layer.index, pe)).write_bytes(
                thresholds[pe].astype("<i8").tobytes()
            )


def write_classes(folder: Path, classes: list[str]) -> None:
    (folder / "classes.txt").write_text("\n".join(classes), encoding="utf-8")


@dataclass(frozen=True)
class LayerMatrices:
    """A layer as the overlay holds it: weight values (rows x columns, padded; +-1 for 1-bit
    weights, -2..1 for 2-bit) and thresholds (rows x steps) as its compare sees them."""

    spec: LayerSpec
    weights: np.ndarray
    thresholds: np.ndarray | None


@dataclass(frozen=True)
class ParamsFolder:
    path: Path
    spec: OverlaySpec
    classes: tuple[str, ...]
    layers: tuple[LayerMatrices, ...]
    manifest: dict[str, Any] | None

    @property
    def encoding(self) -> InputEncoding | None:
        """The input encoding the host must apply (LFC); None: BNN-PYNQ's (pixel >= 128)."""
        raw = (self.manifest or {}).get("input_encoding")
        return InputEncoding.from_dict(raw, f"{self.path}/manifest.json") if raw else None


def folder_spec(
    folder: Path, overlay: str | Path | None = None
) -> tuple[OverlaySpec, dict[str, Any] | None]:
    """The overlay of a params folder, by one rule everywhere (verify, deploy, the board
    commands): ``overlay`` if given, else the folder's manifest, else a stock overlay named like
    the folder (BNN-PYNQ's own ``params/<dataset>/<overlay>``)."""
    from bnntool.overlay import stock_names

    manifest = read_manifest(folder)
    if overlay is not None:
        return load_overlay(overlay), manifest
    if manifest is not None and "overlay_spec" in manifest:
        try:
            return spec_from_dict(manifest["overlay_spec"], f"{folder}/manifest.json"), manifest
        except SpecError as e:
            raise ParamsError(str(e)) from None
    name = Path(folder).resolve().name
    if name in stock_names():
        return load_overlay(name), manifest
    raise ParamsError(
        f"{folder} has no manifest.json naming its overlay and is not named like a stock overlay "
        "(BNN-PYNQ's own folders are params/<dataset>/<overlay>); give --overlay NAME|FILE"
    )


def check_unchanged(folder: Path, manifest: dict[str, Any] | None) -> None:
    """Refuse a folder whose files no longer match the sha256 in its manifest."""
    changed = changed_files(folder, manifest)
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise ParamsError(
            f"{Path(folder) / changed[0]}{more} does not match the sha256 in "
            f"{Path(folder) / MANIFEST}: the folder changed after convert wrote it; convert "
            "again, or add --allow-edited to use the edited folder as it is"
        )


def read_params(
    folder: Path,
    overlay: str | Path | OverlaySpec | None = None,
    *,
    allow_edited: bool = False,
) -> ParamsFolder:
    """Read a parameter folder back into per-layer integer matrices, checking every file's size
    and, unless ``allow_edited``, every file against the sha256 in its manifest."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ParamsError(f"parameter folder {folder} {what}; give the folder convert wrote")
    if isinstance(overlay, OverlaySpec):
        spec, manifest = overlay, read_manifest(folder)
    else:
        spec, manifest = folder_spec(folder, overlay)
    if not allow_edited:
        check_unchanged(folder, manifest)
    for name, size in expected_files(spec).items():
        path = folder / name
        if not path.is_file():
            raise ParamsError(
                f"{folder} has no {name}, which overlay {spec.name} loads; is this a folder of "
                "another overlay?"
            )
        actual = path.stat().st_size
        if actual != size:
            raise ParamsError(
                f"{path} has {actual} bytes, expected {size} for overlay {spec.name}; is this a "
                "folder of another overlay or folding?"
            )
    layers = []
    for layer in spec.layers:
        words = np.stack(
            [
                np.fromfile(folder / weights_file(layer.index, pe), dtype="<u8")
                for pe in range(layer.pe)
            ]
        )
        thresholds = None
        if layer.has_thresholds:
            stored = np.stack(
                [
                    np.fromfile(folder / thresholds_file(layer.index, pe), dtype="<i8")
                    for pe in range(layer.pe)
                ]
            )
            thresholds = unpack_thresholds(layer, stored)
        layers.append(LayerMatrices(layer, unpack_weights(layer, words), thresholds))
    classes_path = folder / "classes.txt"
    if not classes_path.is_file():
        raise ParamsError(f"{folder} has no classes.txt")
    classes = tuple(line.strip() for line in classes_path.read_text("utf-8").splitlines())
    return ParamsFolder(folder, spec, classes, tuple(layers), manifest)
