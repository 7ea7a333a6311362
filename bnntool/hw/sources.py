"""HLS and Vivado sources of an overlay, generated from its spec and a board.

The fixed text lives in the shipped ``hls/`` and ``vivado/`` templates (``@NAME@`` marks a
value); this module computes the values: the memories, weight-load cases and dataflow chain of
the HLS top level (spec 4), the test bench's tables, and the paths and settings of the HLS and
Vivado scripts (spec 5). The layer building blocks are finn-hlslib's, at the pinned commit.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from math import gcd
from pathlib import Path

from bnntool.errors import UserError
from bnntool.hw.boards import Board
from bnntool.hw.config_h import render as render_config_h
from bnntool.overlay import WORD_BITS, LayerSpec, OverlaySpec
from bnntool.resources import shipped_dir

HLSLIB_COMMIT = "8b7f5f5dcd4e3dd17eddc41253040931af28179a"
HLS_PROJECT = "hls-proj"
VIVADO_PROJECT = "vivado-proj"
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


@dataclass(frozen=True)
class Csim:
    """What the C simulation runs: a parameter folder, an image file and its expected class."""

    params: Path
    image: Path
    expected: int
    index: int = 0


@dataclass(frozen=True)
class SourceTree:
    """Where the generated sources of one build are."""

    root: Path  # DIR/src
    hls_dir: Path
    vivado_dir: Path
    hls_script: Path
    vivado_script: Path
    files: tuple[Path, ...]


def fill(template: str, values: dict[str, str], name: str = "template") -> str:
    """Replace every ``@NAME@`` of ``template``; a name without a value is a bug, not a hole."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"{name}: no value for @{key}@")
        return values[key]

    return _PLACEHOLDER.sub(value, template)


def write_text(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file, so that a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# HLS top level


def _ap_uint(bits: int) -> str:
    return f"ap_uint<{bits}>"


def _threshold_type(layer: LayerSpec) -> str:
    fmt = layer.threshold_format
    assert fmt is not None
    if fmt.frac_bits:
        return f"ap_fixed<{fmt.bits}, {fmt.int_bits}>"
    return f"ap_int<{fmt.bits}>"


def interpretations(layer: LayerSpec) -> tuple[str, str, str]:
    """finn-hlslib's (input, output, weight) interpretations of one layer (spec 4.5)."""
    if layer.inputs.frac_bits:  # the image: 8-bit fixed point, sign + 7 fraction bits
        src = f"Slice<ap_fixed<{layer.inputs.bits}, {layer.inputs.int_bits}, AP_TRN, AP_SAT>>"
    elif layer.xnor:
        src = "Recast<XnorMul>"
    elif layer.inputs.bits == 1:
        src = "Recast<Binary>"
    else:
        src = f"Slice<ap_int<{layer.inputs.bits}>>"
    if not layer.has_thresholds:
        dst = f"Slice<ap_uint<{layer.activations.bits}>>"
    elif layer.activations.bits == 1:
        # after multi-bit integer inputs upstream slices the 1-bit output as signed (LFC W1A2)
        signed = layer.inputs.bits > 1 and not layer.inputs.frac_bits
        dst = "Slice<ap_int<1>>" if signed else "Slice<ap_uint<1>>"
    else:
        dst = f"Slice<ap_int<{layer.activations.bits}>>"
    if layer.weights.bits > 1:
        weight = "Identity"
    else:
        weight = "Identity" if layer.xnor else "Recast<Binary>"
    return src, dst, weight


def _memories(layer: LayerSpec) -> list[str]:
    n = layer.index
    if layer.weights.bits == 1:
        weights = f"BinaryWeights<L{n}_SIMD, L{n}_PE, L{n}_WMEM>"
    else:
        weights = f"FixedPointWeights<L{n}_SIMD, ap_int<L{n}_WPI>, L{n}_PE, L{n}_WMEM>"
    lines = [f"static {weights} weights{n};"]
    if layer.has_thresholds:
        out = "ap_uint<1>" if layer.activations.bits == 1 else f"ap_int<{layer.activations.bits}>"
        act_val = "" if layer.activations.bits == 1 else ", -1"
        lines.append(
            f"static ThresholdsActivation<L{n}_TMEM, L{n}_PE, {layer.steps}, "
            f"{_threshold_type(layer)}, {out}{act_val}> threshs{n};"
        )
    return lines


def _meminit(layer: LayerSpec) -> list[str]:
    n = layer.index
    lines = [
        f"  case {2 * n}:",
        f"    weights{n}.m_weights[targetMem][targetInd] = val;",
        "    break;",
    ]
    if not layer.has_thresholds:
        return lines
    fmt = layer.threshold_format
    assert fmt is not None
    target = f"threshs{n}.m_thresholds[targetMem][targetInd][targetThresh]"
    if fmt.frac_bits:  # the word is a signed fixed-point number with the same fraction bits
        lines += [
            f"  case {2 * n + 1}: {{",
            f"    ap_fixed<64, {64 - fmt.frac_bits}> fixed_val;",
            "    fixed_val.range(63, 0) = val;",
            "    // narrowing keeps the low bits (wraps), as upstream's overlay does",
            f"    {target} = fixed_val;",
            "    break;",
            "  }",
        ]
    else:
        lines += [f"  case {2 * n + 1}:", f"    {target} = val;", "    break;"]
    return lines


def _partitions(layer: LayerSpec) -> list[str]:
    n = layer.index
    lines = [f"#pragma HLS ARRAY_PARTITION variable=weights{n}.m_weights complete dim=1"]
    if layer.has_thresholds:
        lines += [
            f"#pragma HLS ARRAY_PARTITION variable=threshs{n}.m_thresholds complete dim=1",
            f"#pragma HLS ARRAY_PARTITION variable=threshs{n}.m_thresholds complete dim=3",
        ]
    return lines


class _Chain:
    """Declares the streams of DoCompute and the calls between them, in order."""

    def __init__(self) -> None:
        self.decls: list[str] = []
        self.calls: list[str] = []

    def stream(self, name: str, bits: int, depth: int) -> str:
        self.decls.append(f'  hls::stream<{_ap_uint(bits)}> {name}("DoCompute.{name}");')
        if depth > 2:
            self.decls.append(f"#pragma HLS STREAM variable={name} depth={depth}")
        return name

    def call(self, text: str) -> None:
        self.calls.append(f"  {text}")


def _conv_stream_bits(layer: LayerSpec) -> int:
    """Width of the stream after a conv layer (and its pool): one bit per channel, as upstream.

    A pixel of B-bit activations then spans B words. The width matters: finn-hlslib's
    ConvLayer_Batch counts its input words as IFM_DIM^2 * IFM_CH / width * bits, in integers, so
    a width of IFM_CH * bits (one pixel per word) loses words wherever IFM_DIM^2 is odd (CNV A2
    layers 4 and 5: 5x5 and 3x3 inputs), while IFM_CH always divides IFM_DIM^2 * IFM_CH.
    """
    return layer.out_channels


def _compute(spec: OverlaySpec) -> list[str]:
    chain = _Chain()
    in_bytes = spec.input_words * WORD_BITS // 8
    cur = chain.stream("memInStrm", WORD_BITS, 1024 if spec.network == "lfc" else 128)
    chain.call(f"Mem2Stream_Batch<{WORD_BITS}, {in_bytes}>(in, {cur}, numReps);")
    first = spec.layers[0]
    if first.is_conv:
        # cut the 64-bit words into whole pixels (channels x bits), through a common multiple
        pixel = spec.input_channels * spec.input_precision.bits
        image_bits = spec.input_rows * spec.input_cols * pixel
        wide = WORD_BITS * pixel // gcd(WORD_BITS, pixel)
        width = WORD_BITS
        for target in dict.fromkeys((wide, pixel)):
            if target == width:
                continue
            nxt = chain.stream(f"pixels{target}", target, 128 if target == pixel else 2)
            chain.call(
                f"StreamingDataWidthConverter_Batch<{width}, {target}, {image_bits // width}>"
                f"({cur}, {nxt}, numReps);"
            )
            cur, width = nxt, target
    last_index = len(spec.layers) - 1
    for layer in spec.layers:
        n = layer.index
        src, dst, weight = interpretations(layer)
        bits = layer.activations.bits
        if layer.index == last_index:
            out = chain.stream("memOutStrm", WORD_BITS, 1024 if spec.network == "lfc" else 128)
        elif layer.is_conv:
            out = chain.stream(f"conv{n}", _conv_stream_bits(layer), 128)
        else:
            out = chain.stream(f"dense{n}", layer.pe * bits, max(2, 512 // layer.pe))
        if layer.has_thresholds:
            activation = f"threshs{n}"
        else:
            activation = f"PassThroughActivation<{_ap_uint(bits)}>()"
        types = f"{src}, {dst}, {weight}"
        if layer.is_conv:
            geometry = (
                f"L{n}_K, L{n}_IFM_CH, L{n}_IFM_DIM, L{n}_OFM_CH, L{n}_OFM_DIM, L{n}_SIMD, L{n}_PE"
            )
            chain.call(
                f"ConvLayer_Batch<{geometry}, {types}>({cur}, {out}, weights{n}, {activation}, "
                "numReps, ap_resource_lut());"
            )
        else:
            chain.call(
                f"StreamingFCLayer_Batch<L{n}_MW, L{n}_MH, L{n}_SIMD, L{n}_PE, {types}>({cur}, "
                f"{out}, weights{n}, {activation}, numReps, ap_resource_lut());"
            )
        cur = out
        if layer.pool:
            pooled = chain.stream(f"pool{n}", _conv_stream_bits(layer), 128)
            if bits == 1:
                chain.call(
                    f"StreamingMaxPool_Batch<L{n}_OFM_DIM, 2, L{n}_OFM_CH>({cur}, {pooled}, "
                    "numReps);"
                )
            else:
                chain.call(
                    f"StreamingMaxPool_Precision_Batch<L{n}_OFM_DIM, 2, L{n}_OFM_CH, "
                    f"ap_int<{bits}>, -1>({cur}, {pooled}, numReps);"
                )
            cur = pooled
    out_bytes = spec.output_words * WORD_BITS // 8
    chain.call(f"Stream2Mem_Batch<{WORD_BITS}, {out_bytes}>({cur}, out, numReps);")
    return [*chain.decls, "", *chain.calls]


def render_top(spec: OverlaySpec) -> str:
    """The text of top.cpp for ``spec``."""
    template = (shipped_dir("hls") / "top.cpp.in").read_text()
    values = {
        "OVERLAY": spec.name,
        "HLSLIB_COMMIT": HLSLIB_COMMIT,
        "MEMORIES": "\n".join(line for ly in spec.layers for line in _memories(ly)),
        "MEMINIT": "\n".join(line for ly in spec.layers for line in _meminit(ly)),
        "COMPUTE": "\n".join(_compute(spec)),
        "PARTITIONS": "\n".join(line for ly in spec.layers for line in _partitions(ly)),
        "IN_WORDS": str(spec.input_words),
        "OUT_WORDS": str(spec.output_words),
    }
    return fill(template, values, "hls/top.cpp.in")


def render_testbench(spec: OverlaySpec) -> str:
    """The text of tb.cpp, the C simulation test bench, for ``spec``."""
    template = (shipped_dir("hls") / "tb.cpp.in").read_text()
    rows = [
        f"    {{{ly.pe}, {ly.wmem}, {ly.tmem}, {ly.steps}}},  // layer {ly.index}"
        for ly in spec.layers
    ]
    values = {
        "OVERLAY": spec.name,
        "LAYER_TABLE": "\n".join(rows),
        "CONV_INPUT": "true" if spec.network == "cnv" else "false",
        "ROWS": str(spec.input_rows),
        "COLS": str(spec.input_cols),
        "CHANNELS": str(spec.input_channels),
        "IN_WORDS": str(spec.input_words),
        "OUT_WORDS": str(spec.output_words),
        "OUT_ROWS": str(spec.layers[-1].mh_padded),
        "OUT_BITS": str(spec.output_bits),
    }
    return fill(template, values, "hls/tb.cpp.in")


# ---------------------------------------------------------------------------------------------
# Scripts and the whole tree


def _tcl_word(path: Path | str) -> str:
    text = str(path)
    if any(c in text for c in '{}\\"$[];') or any(c.isspace() for c in text):
        raise UserError(
            f"path {text!r} has a space or a Tcl special character, which the Vivado tools "
            "do not take in their command lines; use a path without them"
        )
    return text


def render_hls_script(
    spec: OverlaySpec, board: Board, src_dir: Path, hlslib: Path, csim: Csim | None
) -> str:
    template = (shipped_dir("hls") / "hls-syn.tcl.in").read_text()
    csim_args = ""
    if csim is not None:
        csim_args = " ".join(
            _tcl_word(a)
            for a in (csim.params.resolve(), csim.image.resolve(), csim.expected, csim.index)
        )
    values = {
        "OVERLAY": spec.name,
        "BOARD": board.name,
        "PART": board.part,
        "SCRIPT": "hls-syn.tcl",
        "SRC_DIR": _tcl_word(src_dir),
        "HLSLIB": _tcl_word(hlslib),
        "PROJECT": HLS_PROJECT,
        "PERIOD": f"{board.hls_period_ns:g}",
        "CSIM_ARGS": csim_args,
    }
    return fill(template, values, "hls/hls-syn.tcl.in")


def render_vivado_script(
    spec: OverlaySpec, board: Board, build_dir: Path, script_dir: Path, jobs: int
) -> str:
    template = (shipped_dir("vivado") / "project.tcl.in").read_text()
    ultra = board.family == "zynqmp"
    values = {
        "OVERLAY": spec.name,
        "BOARD_TITLE": board.title,
        "PART": board.part,
        "SCRIPT": "make-project.tcl",
        "PROJECT": VIVADO_PROJECT,
        "PROJECT_DIR": _tcl_word(build_dir / "vivado" / VIVADO_PROJECT),
        "IP_REPO": _tcl_word(build_dir / "hls" / HLS_PROJECT / "sol1" / "impl" / "ip"),
        "SCRIPT_DIR": _tcl_word(script_dir),
        "REPORT_DIR": _tcl_word(build_dir / "vivado" / "reports"),
        "IP_BASE": f"0x{board.ip_base:08X}",
        "JOBS": str(jobs),
        "CONSTRAINTS": board.constraints,
        "PS_SCRIPT": board.ps_script,
        "CLOCK_MHZ": f"{board.fabric_mhz:g}",
        "OPT_DIRECTIVE": "ExploreWithRemap" if ultra else "Explore",
        "ROUTE_DIRECTIVE": "AlternateCLBRouting" if ultra else "Explore",
    }
    return fill(template, values, "vivado/project.tcl.in")


def write_sources(
    spec: OverlaySpec,
    board: Board,
    build_dir: Path,
    hlslib: Path,
    jobs: int,
    csim: Csim | None = None,
) -> SourceTree:
    """Write every source of the build of ``spec`` for ``board`` under ``build_dir/src``."""
    build_dir = build_dir.resolve()
    root = build_dir / "src"
    hls_dir, vivado_dir = root / "hls", root / "vivado"
    files = {
        hls_dir / "config.h": render_config_h(spec),
        hls_dir / "top.cpp": render_top(spec),
        hls_dir / "tb.cpp": render_testbench(spec),
        hls_dir / "hls-syn.tcl": render_hls_script(spec, board, hls_dir, hlslib.resolve(), csim),
        vivado_dir / "make-project.tcl": render_vivado_script(
            spec, board, build_dir, vivado_dir, jobs
        ),
    }
    for path, text in files.items():
        write_text(path, text)
    shipped = shipped_dir("vivado")
    for name in (board.ps_script, board.constraints):
        write_text(vivado_dir / name, (shipped / name).read_text())
    copied = [vivado_dir / board.ps_script, vivado_dir / board.constraints]
    return SourceTree(
        root=root,
        hls_dir=hls_dir,
        vivado_dir=vivado_dir,
        hls_script=hls_dir / "hls-syn.tcl",
        vivado_script=vivado_dir / "make-project.tcl",
        files=(*files, *copied),
    )


def copy_file(src: Path, dest: Path) -> None:
    """Copy through a temporary name, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
