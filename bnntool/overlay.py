"""Overlay specs: the one description of an overlay's network, folding and precisions.

A spec file (``finnthesizer/<name>.toml``) holds what a person chooses: the topology, SIMD and
PE per layer, weight and activation precisions, the boards. Everything that follows from those
(input precision of each layer, padded matrix sizes, WMEM, TMEM, threshold counts, popcount form,
accumulator offsets, stream widths) is derived here with BNN-PYNQ's formulas, never typed in.
Convert, verify, build and the board runtime all read this type.

This module needs only the standard library, so the board runtime can use it too (it reads the
spec from a params folder's manifest.json, where no TOML parser is needed).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnntool.errors import UserError

WORD_BITS = 64  # the accelerator's AXI data width: input and output streams are 64-bit words
BOARDS = ("pynq-z1", "pynq-z2", "ultra96", "ultra96v2", "aup-zu3", "kv260", "zcu104")
_PRECISION = re.compile(r"^(\d+)\.(\d+)$")


class SpecError(UserError):
    """An overlay spec that is missing, unknown or inconsistent."""


@dataclass(frozen=True)
class Precision:
    """A fixed-point format: integer bits (sign included) and fraction bits, written "I.F"."""

    int_bits: int
    frac_bits: int

    @property
    def bits(self) -> int:
        return self.int_bits + self.frac_bits

    def __str__(self) -> str:
        return f"{self.int_bits}.{self.frac_bits}"

    @classmethod
    def parse(cls, value: object, where: str) -> Precision:
        text = str(value)
        match = _PRECISION.match(text)
        if not match or int(match.group(1)) < 1:
            raise SpecError(
                f'{where} = {value!r} is not a precision; write integer.fraction bits, e.g. "1.0"'
            )
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class LayerSpec:
    """One matrix-vector-threshold layer, with its derived sizes.

    Rows are output neurons (dense units or conv filters); columns are the inputs of one neuron
    (dense inputs, or kernel x kernel x input channels, kernel position major).
    """

    index: int
    kind: str  # "conv" or "dense"
    simd: int
    pe: int
    weights: Precision
    activations: Precision
    inputs: Precision  # derived: the previous layer's activations, or the image's precision
    threshold_format: Precision | None  # None: no thresholds, the layer outputs accumulators
    bias: bool
    batchnorm: str  # "per-output" or "scalar"
    # topology
    in_channels: int  # conv: input channels; dense: input features
    out_channels: int  # conv: filters; dense: units
    kernel: int = 1
    in_dim: int = 1
    out_dim: int = 1
    pool: bool = False
    last: bool = False  # the output layer: one row per class, padded to the overlay's rows
    interleave_channels: int = 0  # first dense after a conv: channels of the flattened input
    # derived matrix sizes
    mw: int = 0
    mh: int = 0
    mw_padded: int = 0
    mh_padded: int = 0

    @property
    def is_conv(self) -> bool:
        return self.kind == "conv"

    @property
    def has_thresholds(self) -> bool:
        return self.threshold_format is not None

    @property
    def wmem(self) -> int:
        return self.mw_padded * self.mh_padded // (self.simd * self.pe)

    @property
    def tmem(self) -> int:
        return self.mh_padded // self.pe

    @property
    def synapse_folds(self) -> int:
        return self.mw_padded // self.simd

    @property
    def steps(self) -> int:
        """Thresholds per neuron: 1 for 1-bit activations, 2^(bits-1) otherwise; 0 without."""
        if not self.has_thresholds:
            return 0
        bits = self.activations.bits
        return 1 if bits == 1 else 2 ** (bits - 1)

    @property
    def xnor(self) -> bool:
        """The overlay accumulates XNOR popcounts: 1-bit weights and inputs, and 1-bit outputs
        or none (with 2-bit outputs, LFC W1A2's first layer sums +-1 products instead)."""
        one_bit_out = self.activations.bits == 1 or not self.has_thresholds
        return self.weights.bits == 1 and self.inputs.bits == 1 and one_bit_out

    @property
    def popcount_thresholds(self) -> bool:
        """Thresholds in popcount form (weights, inputs and activations all 1-bit)."""
        return self.has_thresholds and self.xnor

    @property
    def accumulator_offset(self) -> int:
        """What padding takes off the accumulator, and so the converter off every threshold:
        each padded column adds (+1 weight) x (-1 input) unless the layer counts XNOR matches
        (padding never matches) or has multi-bit weights (padding weights are 0)."""
        if self.xnor or self.weights.bits >= 2:
            return 0
        return self.mw_padded - self.mw

    @property
    def threshold_bits(self) -> int:
        return self.threshold_format.bits if self.threshold_format else 0

    @property
    def threshold_scale(self) -> int:
        """Stored thresholds are in units of 2^-fraction bits (256 for CNV layer 0)."""
        return 2**self.threshold_format.frac_bits if self.threshold_format else 1

    @property
    def ops(self) -> int:
        """Operations per image (a multiply-accumulate counts 2), as in BNN-PYNQ's config.h."""
        if self.is_conv:
            return 2 * self.in_channels * self.out_channels * self.kernel**2 * self.out_dim**2
        return 2 * self.mw_padded * self.mh_padded

    @property
    def cycles(self) -> int:
        """Cycles per image of this layer at its folding (BNN-PYNQ's "Ext Latency")."""
        return self.ops // (2 * self.simd * self.pe)

    @property
    def npz_weight_shape(self) -> tuple[int, ...]:
        """Shape of the layer's weight array in a Lasagne .npz (outputs unpadded)."""
        if self.is_conv:
            return (self.out_channels, self.in_channels, self.kernel, self.kernel)
        return (self.mw, self.out_channels)


@dataclass(frozen=True)
class OverlaySpec:
    """An overlay: its layers (with derived sizes), input image and boards."""

    name: str
    description: str
    boards: tuple[str, ...]
    input_rows: int
    input_cols: int
    input_channels: int
    input_precision: Precision
    layers: tuple[LayerSpec, ...]
    source: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def network(self) -> str:
        """ "cnv" (convolutional, pixel-stream input) or "lfc" (dense, bit-packed input)."""
        return "cnv" if self.layers[0].is_conv else "lfc"

    @property
    def max_classes(self) -> int:
        return self.layers[-1].out_channels

    @property
    def input_words(self) -> int:
        """64-bit words per input image."""
        first = self.layers[0]
        if first.is_conv:
            bits = (
                self.input_rows * self.input_cols * self.input_channels * self.input_precision.bits
            )
        else:
            bits = first.mw_padded * self.input_precision.bits
        return math.ceil(bits / WORD_BITS)

    @property
    def output_bits(self) -> int:
        """Bits per output row: 16-bit scores without thresholds, else the activation width."""
        return self.layers[-1].activations.bits

    @property
    def output_words(self) -> int:
        return math.ceil(self.layers[-1].mh_padded * self.output_bits / WORD_BITS)

    @property
    def image_shape(self) -> tuple[int, ...]:
        if self.input_channels == 1:
            return (self.input_rows, self.input_cols)
        return (self.input_rows, self.input_cols, self.input_channels)

    def to_json(self) -> dict[str, Any]:
        """The spec as written (for manifests); :func:`spec_from_dict` reads it back."""
        return json.loads(json.dumps(self.raw))


def pad_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# ---------------------------------------------------------------------------------------------
# Loading


def stock_names() -> list[str]:
    from bnntool.resources import list_shipped

    return [p.stem for p in list_shipped("finnthesizer")]


def load_overlay(name_or_path: str | Path) -> OverlaySpec:
    """A stock overlay by name (``lfcW1A1``) or a user's spec file (``my.toml``)."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file() or "/" in text:
        if not path.is_file():
            raise SpecError(f"overlay spec file {path} does not exist")
        return _load_file(path)
    from bnntool.resources import shipped_dir

    stock = shipped_dir("finnthesizer") / f"{text}.toml"
    if not stock.is_file():
        raise SpecError(
            f"unknown overlay {text!r}; stock overlays: {', '.join(stock_names())} "
            "(or give the path of a spec file)"
        )
    return _load_file(stock)


def overlay_of(source: str | Path) -> OverlaySpec:
    """The overlay a name, spec file, params folder or run folder stands for: a params folder's
    manifest carries its spec; a bnntool run (or pipeline) folder, the spec it was trained for
    with its input encoding."""
    path = Path(source)
    if not path.is_dir():
        return load_overlay(source)
    from bnntool.artifacts import read_manifest

    manifest = read_manifest(path)
    if manifest and isinstance(manifest.get("overlay_spec"), dict):
        return spec_from_dict(manifest["overlay_spec"], str(path / "manifest.json"))
    for run in (path, path / "run"):
        if (run / "run.json").is_file():
            from bnntool.encoding import InputEncoding, encoded_spec

            try:
                record = json.loads((run / "run.json").read_text())
                raw = record.get("overlay_spec")
                base = (
                    spec_from_dict(raw, str(run / "run.json"))
                    if isinstance(raw, dict)
                    else load_overlay(record["recipe"]["overlay"])
                )
                encoding = record.get("input_encoding")
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise SpecError(f"{run / 'run.json'} does not name its overlay ({e})") from None
            return encoded_spec(base, InputEncoding.from_dict(encoding) if encoding else None)
    raise SpecError(
        f"{path} is neither a params folder (no manifest.json with its overlay) nor a bnntool run "
        "folder (no run.json); give a stock overlay name or a spec file"
    )


def _load_file(path: Path) -> OverlaySpec:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read overlay spec {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"overlay spec {path} is not valid TOML: {e}") from None
    return spec_from_dict(raw, str(path))


def spec_from_dict(raw: dict[str, Any], source: str) -> OverlaySpec:
    """Validate a spec's fields and derive every size; errors name the file and the field."""
    r = _Reader(raw, source)
    name = r.string("name")
    description = r.string("description", "")
    boards = tuple(r.list_of_str("boards"))
    for board in boards:
        if board not in BOARDS:
            raise SpecError(f"{source}: boards has {board!r}; known boards: {', '.join(BOARDS)}")
    inp = r.table("input")
    rows = r.positive_int("rows", inp, "input")
    cols = r.positive_int("cols", inp, "input")
    channels = r.positive_int("channels", inp, "input")
    in_prec = Precision.parse(r.require("precision", inp, "input"), f"{source}: input.precision")
    # The overlay's input stream width in bits, where an input encoding uses fewer (optional).
    input_bits = r.positive_int("bits", inp, "input") if "bits" in inp else 0
    raw_layers = raw.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError(f"{source}: no [[layers]]; an overlay needs at least one layer")

    layers: list[LayerSpec] = []
    prev: LayerSpec | None = None
    for i, table in enumerate(raw_layers):
        layer = _layer(
            r, i, table, prev, (rows, cols, channels), in_prec, i == len(raw_layers) - 1, input_bits
        )
        layers.append(layer)
        prev = layer
    spec = OverlaySpec(
        name, description, boards, rows, cols, channels, in_prec, tuple(layers), source, raw
    )
    _check_input(spec)
    return spec


def _layer(
    r: _Reader,
    i: int,
    t: object,
    prev: LayerSpec | None,
    image: tuple[int, int, int],
    image_precision: Precision,
    last: bool,
    input_bits: int = 0,
) -> LayerSpec:
    where = f"layers[{i}]"
    if not isinstance(t, dict):
        raise SpecError(f"{r.source}: {where} is not a table")
    kind = r.require("kind", t, where)
    if kind not in ("conv", "dense"):
        raise SpecError(f'{r.source}: {where}.kind = {kind!r}; use "conv" or "dense"')
    simd = r.positive_int("simd", t, where)
    pe = r.positive_int("pe", t, where)
    weights = Precision.parse(r.require("weights", t, where), f"{r.source}: {where}.weights")
    acts = Precision.parse(r.require("activations", t, where), f"{r.source}: {where}.activations")
    thresholds = t.get("thresholds", "16.0")
    if thresholds is False:
        threshold_format = None
        if not last:
            raise SpecError(
                f"{r.source}: {where}.thresholds = false, but only the last layer may output "
                "accumulators"
            )
    else:
        threshold_format = Precision.parse(thresholds, f"{r.source}: {where}.thresholds")
    inputs = prev.activations if prev is not None else image_precision
    bias = t.get("bias", True)
    batchnorm = t.get("batchnorm", "per-output")
    if batchnorm not in ("per-output", "scalar") or not isinstance(bias, bool):
        raise SpecError(
            f'{r.source}: {where}.batchnorm must be "per-output" or "scalar" and bias true/false'
        )
    pool = t.get("pool", False)
    if not isinstance(pool, bool):
        raise SpecError(f"{r.source}: {where}.pool must be true or false")

    if kind == "conv":
        if prev is not None and not prev.is_conv:
            raise SpecError(f"{r.source}: {where} is a conv layer after a dense layer")
        out_ch = r.positive_int("channels", t, where)
        kernel = r.positive_int("kernel", t, where)
        if prev is None:
            in_ch, in_dim = image[2], image[0]
            if image[0] != image[1]:
                raise SpecError(
                    f"{r.source}: a conv overlay needs a square input (input.rows = input.cols)"
                )
        else:
            in_ch = prev.out_channels
            in_dim = prev.out_dim // 2 if prev.pool else prev.out_dim
        out_dim = in_dim - kernel + 1
        if out_dim < 1:
            raise SpecError(
                f"{r.source}: {where}.kernel = {kernel} is larger than its {in_dim}x{in_dim} input"
            )
        if pool and out_dim % 2:
            raise SpecError(
                f"{r.source}: {where}.pool needs an even output size, got {out_dim}x{out_dim}"
            )
        mw = kernel * kernel * in_ch
        layer = dict(
            in_channels=in_ch, out_channels=out_ch, kernel=kernel, in_dim=in_dim, out_dim=out_dim
        )
        if in_ch % simd:
            raise SpecError(
                f"{r.source}: {where}.simd = {simd} does not divide the layer's {in_ch} input "
                "channels (a conv layer reads whole pixels)"
            )
        interleave = 0
    else:
        if pool:
            raise SpecError(f"{r.source}: {where}.pool is only for conv layers")
        out_ch = r.positive_int("outputs", t, where)
        if prev is None:
            mw = image[0] * image[1] * image[2]
            interleave = 0
        elif prev.is_conv:
            dim = prev.out_dim // 2 if prev.pool else prev.out_dim
            mw = prev.out_channels * dim * dim
            interleave = prev.out_channels
        else:
            mw = prev.out_channels
            interleave = 0
        layer = dict(in_channels=mw, out_channels=out_ch)

    mh = out_ch
    # Only the accelerator's edges are padded: the first dense layer's input to whole 64-bit
    # words, the last layer's outputs to 64 rows. Inner sizes must fold exactly, or the layers'
    # streams would not line up (BNN-PYNQ issues #81, #125, #134).
    first_dense = prev is None and kind == "dense"
    mw_padded = pad_to(mw, max(simd, WORD_BITS)) if first_dense else mw
    if first_dense and input_bits:  # an encoding narrower than the overlay's input stream
        if input_bits < mw or input_bits % WORD_BITS:
            raise SpecError(
                f"{r.source}: input.bits = {input_bits} must be a multiple of {WORD_BITS} and "
                f"at least the {mw} inputs"
            )
        mw_padded = max(mw_padded, input_bits)
    mh_padded = pad_to(mh, max(pe, WORD_BITS)) if last else mh
    if mw_padded % simd:
        raise SpecError(
            f"{r.source}: {where}.simd = {simd} does not divide the layer's {mw_padded} inputs"
        )
    if mh_padded % pe:
        raise SpecError(
            f"{r.source}: {where}.pe = {pe} does not divide the layer's {mh_padded} outputs"
        )
    _check_precisions(r.source, where, weights, acts, inputs, threshold_format, simd, last)
    return LayerSpec(
        index=i,
        kind=kind,
        simd=simd,
        pe=pe,
        weights=weights,
        activations=acts,
        inputs=inputs,
        threshold_format=threshold_format,
        bias=bias,
        batchnorm=batchnorm,
        pool=pool,
        last=last,
        interleave_channels=interleave,
        mw=mw,
        mh=mh,
        mw_padded=mw_padded,
        mh_padded=mh_padded,
        **layer,
    )


def _check_precisions(
    source: str,
    where: str,
    weights: Precision,
    acts: Precision,
    inputs: Precision,
    thresholds: Precision | None,
    simd: int,
    last: bool,
) -> None:
    if weights.frac_bits or weights.bits not in (1, 2):
        raise SpecError(
            f'{source}: {where}.weights = "{weights}"; the overlays support "1.0" or "2.0"'
        )
    if simd * weights.bits > WORD_BITS:
        raise SpecError(
            f"{source}: {where}.simd = {simd} with {weights.bits}-bit weights needs "
            f"{simd * weights.bits}-bit weight words; at most {WORD_BITS} bits"
        )
    if thresholds is None:
        if str(acts) != "16.0":
            raise SpecError(
                f'{source}: {where}.activations must be "16.0" for a layer without thresholds'
            )
        return
    if acts.frac_bits or acts.bits not in (1, 2):
        raise SpecError(
            f'{source}: {where}.activations = "{acts}"; thresholded layers support "1.0" or "2.0"'
        )
    if thresholds.bits > 32 or thresholds.int_bits < 16:
        raise SpecError(f'{source}: {where}.thresholds = "{thresholds}"; use "16.0" or "16.8"')
    if thresholds.frac_bits and not inputs.frac_bits:
        raise SpecError(
            f'{source}: {where}.thresholds = "{thresholds}" has fraction bits, but the layer\'s '
            f'inputs ("{inputs}") are integers'
        )


def _check_input(spec: OverlaySpec) -> None:
    first = spec.layers[0]
    p = spec.input_precision
    if first.is_conv and str(p) != "1.7":
        raise SpecError(
            f'{spec.source}: input.precision = "{p}"; a conv overlay takes "1.7" (8-bit) pixels'
        )
    if not first.is_conv and str(p) != "1.0":
        raise SpecError(
            f'{spec.source}: input.precision = "{p}"; a dense overlay takes "1.0" (binary) pixels'
        )
    last = spec.layers[-1]
    if last.mh_padded * last.activations.bits % WORD_BITS:
        raise SpecError(f"{spec.source}: the last layer's outputs do not fill whole 64-bit words")


class _Reader:
    def __init__(self, raw: dict[str, Any], source: str) -> None:
        self.raw = raw
        self.source = source

    def require(self, key: str, table: dict[str, Any] | None = None, where: str = "") -> Any:
        table = self.raw if table is None else table
        if key not in table:
            field_name = f"{where}.{key}" if where else key
            raise SpecError(f"{self.source}: field {field_name} is missing")
        return table[key]

    def string(self, key: str, default: str | None = None) -> str:
        if default is not None and key not in self.raw:
            return default
        value = self.require(key)
        if not isinstance(value, str) or not value:
            raise SpecError(f"{self.source}: {key} must be a non-empty string")
        return value

    def list_of_str(self, key: str) -> list[str]:
        value = self.require(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(f"{self.source}: {key} must be a list of strings")
        return value

    def table(self, key: str) -> dict[str, Any]:
        value = self.require(key)
        if not isinstance(value, dict):
            raise SpecError(f"{self.source}: [{key}] must be a table")
        return value

    def positive_int(self, key: str, table: dict[str, Any], where: str) -> int:
        value = self.require(key, table, where)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(
                f"{self.source}: {where}.{key} = {value!r}; expected a positive integer"
            )
        return value
