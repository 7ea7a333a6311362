"""The finnthesizer: trained weights (.npz) -> the parameter folder an overlay loads.

``convert()`` is the whole stage; ``read_params()`` reads a folder back into integer matrices.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bnntool.artifacts import output_folder, sha256_file, write_manifest
from bnntool.convert import matrices, memory
from bnntool.convert import thresholds as th
from bnntool.convert.npz import LayerWeights, WeightsError, read_npz
from bnntool.convert.params import (
    LayerMatrices,
    ParamsError,
    ParamsFolder,
    expected_files,
    read_params,
    write_classes,
    write_layer,
)
from bnntool.encoding import InputEncoding, encoded_spec
from bnntool.errors import UserError
from bnntool.overlay import LayerSpec, OverlaySpec, load_overlay

MODES = ("exact", "upstream")
PARAMS_KIND = "bnntool-params"
RUN_IMAGE_KEYS = ("image_preparation", "split")  # copied from run.json into the manifest

__all__ = [
    "MODES",
    "ConvertResult",
    "LayerMatrices",
    "LayerReport",
    "ParamsError",
    "ParamsFolder",
    "WeightsError",
    "convert",
    "expected_files",
    "layer_memories",
    "read_params",
]


@dataclass(frozen=True)
class LayerReport:
    """What converting one layer found."""

    index: int
    kind: str
    neurons: int
    negative_gamma: int = 0
    zero_gamma: int = 0
    out_of_range_weights: int = 0
    nonpositive_inv_std: int = 0
    thresholds_out_of_range: int = 0  # upstream: saturated (16-bit) or wrapping (24-bit)
    # exact mode: where upstream's converter departs from the trained model
    weights_differ: int = 0  # weights of exactly 0 (or +-0.5 for 2-bit) on negative-gamma neurons
    thresholds_differ: int = 0  # ties, negative gamma, saturation that changes behaviour


@dataclass(frozen=True)
class ConvertResult:
    out_dir: Path
    overlay: str
    thresholds: str
    classes: tuple[str, ...]
    files: int
    seconds: float
    layers: tuple[LayerReport, ...]
    warnings: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())


def convert(
    npz_path: str | Path,
    overlay: str | Path | OverlaySpec,
    out_dir: str | Path,
    *,
    classes: list[str] | None = None,
    thresholds: str = "exact",
    bn_variance_eps: float | None = None,
    force: bool = False,
    encoding: InputEncoding | None = None,
    read: Callable[[OverlaySpec], tuple[tuple[LayerWeights, ...], list[str], str]] | None = None,
) -> ConvertResult:
    """Convert a Lasagne-layout .npz into a parameter folder for ``overlay``.

    ``thresholds="upstream"`` writes what BNN-PYNQ's finnthesizer writes, byte for byte;
    ``"exact"`` makes the overlay agree with the trained model on every accumulator value.
    ``classes`` defaults to "0".."N-1". With ``bn_variance_eps`` the .npz's inv_std slots hold
    PyTorch-style running variances. ``encoding`` is the LFC input encoding the weights were
    trained with; by default the one in a ``run.json`` beside the .npz (a bnntool run folder),
    else BNN-PYNQ's. The folder is written whole or not at all. ``read`` replaces the .npz
    reader: spec -> (layers, notes, how the batch-norm was read); bnntool.convert.brevitas
    passes one for Brevitas checkpoints (not imported here: the board runtime bundles this
    package, and that reader needs PyTorch).
    """
    started = time.monotonic()
    if thresholds not in MODES:
        raise UserError(f"unknown threshold mode {thresholds!r}; use exact or upstream")
    base = overlay if isinstance(overlay, OverlaySpec) else load_overlay(overlay)
    npz_path = Path(npz_path)
    check_trained_for(base, npz_path)
    if encoding is None:
        encoding = run_encoding(npz_path)
    spec = encoded_spec(base, encoding)
    if read is None:
        weights, source_notes = read_npz(npz_path, spec, variance_eps=bn_variance_eps), []
        batchnorm = "inv_std" if bn_variance_eps is None else f"variance, eps {bn_variance_eps}"
    else:
        weights, source_notes, batchnorm = read(spec)
    names = check_classes(spec, weights, classes)

    warnings: list[str] = []
    notes: list[str] = source_notes
    reports = []
    out_dir = Path(out_dir)
    with output_folder(out_dir, force=force, kind=PARAMS_KIND, inputs=(npz_path,)) as tmp:
        for layer, params in zip(spec.layers, weights, strict=True):
            wmem, tmem, report = layer_memories(layer, params, thresholds)
            write_layer(tmp, layer, wmem, tmem)
            reports.append(report)
            _explain(layer, report, thresholds, warnings, notes)
        write_classes(tmp, names)
        write_manifest(
            tmp,
            {
                "kind": PARAMS_KIND,
                "overlay": spec.name,
                "overlay_spec": spec.to_json(),
                "input_encoding": encoding.to_dict()
                if spec.network == "lfc" and encoding
                else None,
                # how pictures were prepared and which images were held out for test
                **{k: v for k, v in run_record(npz_path).items() if k in RUN_IMAGE_KEYS},
                "source": {"path": str(npz_path.resolve()), "sha256": sha256_file(npz_path)},
                "thresholds": thresholds,
                "batchnorm": batchnorm,
                "classes": names,
                "warnings": warnings,
                "notes": notes,
                "layers": [vars(r) for r in reports],
            },
        )
    return ConvertResult(
        out_dir=out_dir,
        overlay=spec.name,
        thresholds=thresholds,
        classes=tuple(names),
        files=len(expected_files(spec)) + 2,
        seconds=time.monotonic() - started,
        layers=tuple(reports),
        warnings=tuple(warnings),
        notes=tuple(notes),
    )


def weights_of(path: Path) -> Path:
    """The .npz of ``path``: the file itself, or a bnntool run folder's (or a pipeline folder's
    run/) weights.npz, or a Brevitas experiment folder's checkpoints/best.tar."""
    if not path.exists():
        raise UserError(f"{path} does not exist; give the trained weights (.npz) or a run folder")
    if not path.is_dir():
        return path
    for run in (path, path / "run"):
        if (run / "weights.npz").is_file():
            return run / "weights.npz"
    if (path / "checkpoints" / "best.tar").is_file():
        return path / "checkpoints" / "best.tar"
    raise UserError(
        f"{path} has no weights.npz; give the trained weights (.npz), a bnntool run folder or a "
        "Brevitas checkpoint"
    )


def run_record(npz_path: Path) -> dict[str, Any]:
    """The run.json of the .npz's bnntool run folder ({} if there is none)."""
    run = npz_path.parent / "run.json"
    if not run.is_file():
        return {}
    try:
        record = json.loads(run.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{run} is not a readable run.json ({e})") from None
    if not isinstance(record, dict):
        raise UserError(f"{run} is not a bnntool run.json")
    return record


def precisions(spec: OverlaySpec) -> str:
    """What a trained network fixes about an overlay: per layer its kind, size, and weight and
    activation precisions (the folding, SIMD and PE, may differ)."""
    return "; ".join(
        f"layer {ly.index} {ly.kind} {ly.in_channels}->{ly.out_channels}"
        f"{f' k{ly.kernel}' if ly.is_conv else ''}{' pool' if ly.pool else ''} "
        f"W{ly.weights.bits}A{ly.activations.bits if ly.has_thresholds else '-'}"
        for ly in spec.layers
    )


def check_trained_for(spec: OverlaySpec, npz_path: Path) -> None:
    """Refuse an overlay whose network or precisions differ from the one the run (whose
    run.json lies beside the .npz) was trained for; both are named."""
    run = run_record(npz_path)
    trained = run.get("overlay_spec") or (run.get("recipe") or {}).get("overlay")
    if not trained:
        return
    where = npz_path.parent / "run.json"
    try:
        if isinstance(trained, dict):
            from bnntool.overlay import spec_from_dict

            theirs = spec_from_dict(trained, str(where))
        else:
            theirs = load_overlay(trained)
    except UserError:
        return  # the run's own spec file is gone: read_npz still checks every shape
    mine, want = precisions(spec).split("; "), precisions(theirs).split("; ")
    if mine != want or spec.input_precision != theirs.input_precision:
        differ = next(
            (f"{a} vs {b}" for a, b in zip(want, mine, strict=False) if a != b),
            f"{len(want)} vs {len(mine)} layers"
            if len(want) != len(mine)
            else f"input {theirs.input_precision} vs {spec.input_precision}",
        )
        raise UserError(
            f"{npz_path.parent} was trained for overlay {theirs.name}, but the chosen overlay "
            f"{spec.name} differs ({differ}); convert for {theirs.name} (leave out --overlay) or "
            f"train for {spec.name}"
        )


def run_encoding(npz_path: Path) -> InputEncoding | None:
    """The input encoding recorded in the run.json of the .npz's run folder, if there is one."""
    raw = run_record(npz_path).get("input_encoding")
    return InputEncoding.from_dict(raw, str(npz_path.parent / "run.json")) if raw else None


def check_classes(
    spec: OverlaySpec, weights: tuple[LayerWeights, ...], classes: list[str] | None
) -> list[str]:
    """Class names for the folder: one per output of the trained network."""
    outputs = weights[-1].units
    if classes is None:
        return [str(i) for i in range(outputs)]
    if not classes:
        raise UserError("the class list is empty; give one name per line")
    if len(classes) > spec.max_classes:
        raise UserError(
            f"{len(classes)} classes, but overlay {spec.name} has {spec.max_classes} outputs"
        )
    if len(classes) != outputs:
        raise UserError(
            f"{len(classes)} class names, but the weights have {outputs} outputs; give one name "
            "per output"
        )
    return list(classes)


def layer_memories(
    layer: LayerSpec, params: LayerWeights, mode: str
) -> tuple[np.ndarray, np.ndarray | None, LayerReport]:
    """One layer's per-PE weight and threshold memories, and what converting it found."""
    gamma = params.gamma
    report = {
        "index": layer.index,
        "kind": layer.kind,
        "neurons": params.units,
        "negative_gamma": int(np.count_nonzero(gamma < 0)),
        "zero_gamma": int(np.count_nonzero(gamma == 0)),
        "out_of_range_weights": matrices.out_of_range(layer, params.weights),
    }
    bad_inv_std = int(np.count_nonzero(params.inv_std <= 0)) if layer.has_thresholds else 0
    if bad_inv_std and mode == "exact":
        raise WeightsError(
            f"layer {layer.index} ({layer.kind}): {bad_inv_std} batch-norm inv_std values are "
            "<= 0, but inv_std = 1/sqrt(var + eps) is always positive; if the .npz holds PyTorch "
            "running variances there, convert with --bn-variance"
        )
    report["nonpositive_inv_std"] = bad_inv_std
    up = th.upstream(layer, params)
    up_matrix = matrices.orient(
        layer,
        matrices.quantize_upstream(layer, matrices.flip_signs(layer, params.weights, up.signs)),
    )
    up_codes = memory.weight_codes(layer, up_matrix)
    up_stored = None
    if layer.has_thresholds:
        up_stored, out_of_range = memory.stored_upstream(layer, up.values)
        if mode == "upstream":  # exact thresholds are clamped to the reachable range instead
            report["thresholds_out_of_range"] = out_of_range
    if mode == "upstream":
        codes, stored = up_codes, up_stored
    else:
        ex = th.exact(layer, params)
        quantized = matrices.quantize_trained(layer, params.weights)
        codes = memory.weight_codes(
            layer, matrices.orient(layer, matrices.flip_signs(layer, quantized, ex.signs))
        )
        stored = memory.stored_exact(layer, ex.values) if layer.has_thresholds else None
        report["weights_differ"] = int(np.count_nonzero(codes != up_codes))
        if stored is not None and up_stored is not None:
            report["thresholds_differ"] = int(
                np.count_nonzero(_effective(layer, stored) != _effective(layer, up_stored))
            )
    wmem = memory.pack_weights(layer, codes)
    tmem = memory.pack_thresholds(layer, stored) if stored is not None else None
    return wmem, tmem, LayerReport(**report)


def _effective(layer: LayerSpec, stored: np.ndarray) -> np.ndarray:
    """Thresholds as the overlay compares them, clamped to the reachable accumulator range, so
    that values differing only outside it (where behaviour is the same) compare equal."""
    bits = layer.threshold_bits
    low = stored.view(np.uint64) & np.uint64(2**bits - 1)
    signed = low.astype(np.int64)
    signed = np.where(signed >= 2 ** (bits - 1), signed - 2**bits, signed)
    unit = layer.threshold_scale // 2**layer.inputs.frac_bits
    lo, hi = th.accumulator_range(layer)
    offset = layer.accumulator_offset * unit
    return np.clip(signed + offset, lo - 1, hi)[: layer.mh]


def _explain(
    layer: LayerSpec, r: LayerReport, mode: str, warnings: list[str], notes: list[str]
) -> None:
    where = f"layer {layer.index} ({layer.kind})"
    if r.zero_gamma:
        if mode == "upstream":
            warnings.append(
                f"{where}: {r.zero_gamma} neurons have batch-norm gamma = 0; upstream gives them "
                "meaningless (NaN) thresholds; --thresholds exact handles them"
            )
        else:
            notes.append(f"{where}: {r.zero_gamma} neurons have gamma = 0 and a constant output")
    if r.nonpositive_inv_std:
        warnings.append(
            f"{where}: {r.nonpositive_inv_std} batch-norm inv_std values are <= 0 (impossible "
            "for inv_std; PyTorch variances?); their thresholds are meaningless"
        )
    if r.out_of_range_weights:
        if mode == "upstream":
            warnings.append(
                f"{where}: {r.out_of_range_weights} weights are outside [-1, 1]; upstream does "
                "not clip them (those >= 1.5 become -2 on the overlay)"
            )
        else:
            warnings.append(
                f"{where}: {r.out_of_range_weights} weights are outside [-1, 1]; clipped as "
                "training clips them"
            )
    if r.thresholds_out_of_range:
        if layer.threshold_format and layer.threshold_format.frac_bits:
            warnings.append(
                f"{where}: {r.thresholds_out_of_range} thresholds exceed the "
                f"{layer.threshold_bits}-bit range and wrap on the overlay"
            )
        else:
            warnings.append(
                f"{where}: {r.thresholds_out_of_range} thresholds saturate the "
                f"{layer.threshold_bits}-bit range and were clipped"
            )
    if layer.pool and r.negative_gamma:
        notes.append(
            f"{where}: {r.negative_gamma} of {r.neurons} channels have negative gamma before the "
            "max-pool; the overlay pools after thresholding, so a model trained with pooling "
            "before batch-norm (BNN-PYNQ's Theano scripts) disagrees on them"
        )
    if r.thresholds_differ or r.weights_differ:
        notes.append(
            f"{where}: {r.thresholds_differ} thresholds and {r.weights_differ} weights differ "
            "from upstream's converter, where its rounding departs from the trained model"
        )
