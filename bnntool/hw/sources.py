"""HLS and Vivado sources of an overlay, generated from its spec and a board.

The fixed text lives in the shipped ``hls/`` and ``vivado/`` templates (``@NAME@`` marks a
value); this module computes the values: the memories, weight-load cases and dataflow chain of
the HLS top level (spec 4), the test bench's tables, and the paths and settings of the HLS and
Vivado scripts (spec 5). The layer building blocks are finn-hlslib's, at the commit of the
release's generation (``bnntool/hw/releases.py``): the legacy generation calls finn-hlslib
8b7f5f5's ``StreamingFCLayer_Batch`` for dense layers, the current generation (finn-hlslib
cc8db47, which dropped it) the width converters and ``Matrix_Vector_Activate_Batch`` that it was
made of.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from math import gcd
from pathlib import Path

from bnntool.errors import UserError
from bnntool.hw.boards import Board
from bnntool.hw.config_h import render as render_config_h
from bnntool.hw.releases import DEFAULT_RELEASE, LEGACY, Generation, Release, get_release
from bnntool.overlay import WORD_BITS, LayerSpec, OverlaySpec
from bnntool.resources import shipped_dir

HLS_PROJECT = "hls-proj"
HLS_CSIM_PROJECT = "hls-csim-proj"  # the C simulation alone never touches the build's project
PS_SCRIPT = "ps.tcl"
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
    csim_script: Path  # the HLS tool's C simulation alone (--stage csim with an HLS tool)
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


def _threshold_type(layer: LayerSpec, generation: Generation = LEGACY, scaled: bool = True) -> str:
    """The C++ type of a layer's thresholds. In the current generation a layer with fixed-point
    inputs reads them as integer codes (see ``interpretations``), so its accumulator and its
    thresholds are 2^F times larger (F input fraction bits): the type has F more integer bits."""
    fmt = layer.threshold_format
    assert fmt is not None
    shift = _input_scale_bits(layer, generation) if scaled else 0
    if fmt.frac_bits:
        return f"ap_fixed<{fmt.bits + shift}, {fmt.int_bits + shift}>"
    return f"ap_int<{fmt.bits + shift}>"


def _input_scale_bits(layer: LayerSpec, generation: Generation) -> int:
    """F where the current generation reads a layer's fixed-point inputs as integers x 2^F."""
    return layer.inputs.frac_bits if generation is not LEGACY else 0


def interpretations(layer: LayerSpec, generation: Generation = LEGACY) -> tuple[str, str, str]:
    """finn-hlslib's (input, output, weight) interpretations of one layer (spec 4.5).

    The image is 8-bit fixed point (sign + 7 fraction bits). finn-hlslib 8b7f5f5's Slice
    reinterprets its bits as ap_fixed; cc8db47's converts the integer value (so an ap_fixed with
    fewer integer bits saturates), so the current generation slices the same bits as ap_int: the
    integer code, 2^7 times the value, which keeps every sum exact.
    """
    if layer.inputs.frac_bits and _input_scale_bits(layer, generation):
        src = f"Slice<ap_int<{layer.inputs.bits}>>"
    elif layer.inputs.frac_bits:
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


def _memories(layer: LayerSpec, generation: Generation) -> list[str]:
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
            f"{_threshold_type(layer, generation)}, {out}{act_val}> threshs{n};"
        )
    return lines


def _meminit(layer: LayerSpec, generation: Generation) -> list[str]:
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
        ]
        shift = _input_scale_bits(layer, generation)
        if shift:
            lines += [
                f"    {_threshold_type(layer, scaled=False)} narrow = fixed_val;",
                f"    // integer-coded inputs: the threshold times 2^{shift}, exact in its type",
                f"    {target} = {_threshold_type(layer, generation)}(narrow) * {1 << shift};",
            ]
        else:
            lines.append(f"    {target} = fixed_val;")
        lines += ["    break;", "  }"]
    elif _input_scale_bits(layer, generation):
        shift = _input_scale_bits(layer, generation)
        scaled = f"{_threshold_type(layer, generation)}(ap_int<{fmt.bits}>(val)) * {1 << shift}"
        lines += [f"  case {2 * n + 1}:", f"    {target} = {scaled};", "    break;"]
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


def _dense(
    chain: _Chain,
    layer: LayerSpec,
    cur: str,
    cur_bits: int,
    out: str,
    out_bits: int,
    types: str,
    activation: str,
) -> None:
    """A dense layer of the current generation: input width converter, MVAU, output converter.

    The same three stages as legacy finn-hlslib's StreamingFCLayer_Batch, with the same word
    counts: MW x input bits / stream width words in, MH / PE words of PE outputs out.
    """
    n = layer.index
    in_bits = layer.inputs.bits
    lanes, results = layer.simd * in_bits, layer.pe * layer.activations.bits
    if layer.mw_padded * in_bits % cur_bits:
        raise ValueError(f"layer {n}: {cur_bits}-bit input stream does not divide the input")
    if cur_bits != lanes:
        wide = chain.stream(f"mvIn{n}", lanes, 2)
        chain.call(
            f"StreamingDataWidthConverter_Batch<{cur_bits}, {lanes}, "
            f"{layer.mw_padded * in_bits // cur_bits}>({cur}, {wide}, numReps);"
        )
        cur = wide
    target = out if out_bits == results else chain.stream(f"mvOut{n}", results, 2)
    chain.call(
        f"Matrix_Vector_Activate_Batch<L{n}_MW, L{n}_MH, L{n}_SIMD, L{n}_PE, 1, {types}>({cur}, "
        f"{target}, weights{n}, {activation}, numReps, ap_resource_lut());"
    )
    if target != out:
        chain.call(
            f"StreamingDataWidthConverter_Batch<{results}, {out_bits}, "
            f"{layer.mh_padded // layer.pe}>({target}, {out}, numReps);"
        )


def _compute(spec: OverlaySpec, generation: Generation) -> list[str]:
    chain = _Chain()
    in_bytes = spec.input_words * WORD_BITS // 8
    cur = chain.stream("memInStrm", WORD_BITS, 1024 if spec.network == "lfc" else 128)
    cur_bits = WORD_BITS
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
        cur_bits = width
    last_index = len(spec.layers) - 1
    for layer in spec.layers:
        n = layer.index
        src, dst, weight = interpretations(layer, generation)
        bits = layer.activations.bits
        if layer.index == last_index:
            out_bits = WORD_BITS
            out = chain.stream("memOutStrm", out_bits, 1024 if spec.network == "lfc" else 128)
        elif layer.is_conv:
            out_bits = _conv_stream_bits(layer)
            out = chain.stream(f"conv{n}", out_bits, 128)
        else:
            out_bits = layer.pe * bits
            out = chain.stream(f"dense{n}", out_bits, max(2, 512 // layer.pe))
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
        elif generation is LEGACY:
            chain.call(
                f"StreamingFCLayer_Batch<L{n}_MW, L{n}_MH, L{n}_SIMD, L{n}_PE, {types}>({cur}, "
                f"{out}, weights{n}, {activation}, numReps, ap_resource_lut());"
            )
        else:
            _dense(chain, layer, cur, cur_bits, out, out_bits, types, activation)
        cur, cur_bits = out, out_bits
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


def render_top(spec: OverlaySpec, generation: Generation = LEGACY) -> str:
    """The text of top.cpp for ``spec``, written against ``generation``'s finn-hlslib."""
    template = (shipped_dir("hls") / "top.cpp.in").read_text()
    values = {
        "OVERLAY": spec.name,
        "HLSLIB_COMMIT": generation.hlslib_commit,
        "MEMORIES": "\n".join(line for ly in spec.layers for line in _memories(ly, generation)),
        "MEMINIT": "\n".join(line for ly in spec.layers for line in _meminit(ly, generation)),
        "COMPUTE": "\n".join(_compute(spec, generation)),
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


def _csim_args(csim: Csim | None) -> str:
    if csim is None:
        return ""
    return " ".join(
        _tcl_word(a)
        for a in (csim.params.resolve(), csim.image.resolve(), csim.expected, csim.index)
    )


def render_hls_script(
    spec: OverlaySpec,
    board: Board,
    src_dir: Path,
    hlslib: Path,
    csim: Csim | None,
    release: Release,
    *,
    synthesis: bool = True,
) -> str:
    """The HLS script of ``release``'s generation: C simulation when ``csim`` is given, then
    (``synthesis``) synthesis and IP export."""
    generation = release.generation
    template = (shipped_dir("hls") / generation.hls_template).read_text()
    script = "hls-syn.tcl" if synthesis else "hls-csim.tcl"
    values = {
        "OVERLAY": spec.name,
        "BOARD": board.name,
        "PART": board.part,
        "RELEASE": release.version,
        "COMMAND": shlex.join(release.hls_argv(release.hls_tool, script)),
        "CXX_STD": generation.cxx_std,
        "SRC_DIR": _tcl_word(src_dir),
        "HLSLIB": _tcl_word(hlslib),
        "PROJECT": HLS_PROJECT if synthesis else HLS_CSIM_PROJECT,
        "PERIOD": f"{board.hls_period_ns:g}",
        "CSIM_ARGS": _csim_args(csim),
        "SYNTHESIS": "1" if synthesis else "0",
    }
    return fill(template, values, f"hls/{generation.hls_template}")


def _ps_config(board: Board) -> str:
    width = max(len(k) for k, _ in board.ps.config)
    return "\n".join(f"    CONFIG.{key:<{width}} {{{value}}} \\" for key, value in board.ps.config)


def render_ps_script(board: Board, release: Release) -> str:
    """The board's processing system, configured from ``bnntool/hw/boards.py``."""
    template = (shipped_dir("vivado") / "ps.tcl.in").read_text()
    ps = board.ps
    automation = ""
    if ps.external:
        automation = (
            "# DDR and the fixed MIO pins become ports of the block design\n"
            f"apply_bd_automation -rule xilinx.com:bd_rule:{ps.ip} \\\n"
            f'    -config {{make_external "{ps.external}" Master "Disable" Slave "Disable"}} '
            "[get_bd_cells $ps_cell]"
        )
    clocks = ", ".join(f"{mhz:g}" for mhz in ps.pl_clocks_mhz)
    values = {
        "BOARD_TITLE": board.title,
        "PART": board.part,
        "RELEASE": release.version,
        "CLOCKS": clocks,
        "CLOCK": ps.clock,
        "CELL": ps.cell,
        "VLNV": release.vlnv(ps.ip),
        "CONFIG": _ps_config(board),
        "AUTOMATION": automation,
        "MASTER": ps.master,
        "SLAVE": ps.slave,
        "PS_CLOCK": ps.clock,
        "RESET": ps.reset,
        "ACLK_PINS": " ".join(ps.aclk_pins),
        "DATA_SPACE": ps.data_space,
    }
    return fill(template, values, "vivado/ps.tcl.in")


_ADDRESS = {
    # Vivado 2019.2/2020.1: a named segment, then every other address
    "legacy": (
        "create_bd_addr_seg -range 0x00010000 -offset $ip_base "
        "[get_bd_addr_spaces $ps_cell/$ps_data_space] \\\n"
        "    [get_bd_addr_segs BlackBoxJam_0/s_axi_control/Reg] SEG_BlackBoxJam_0_Reg\n"
        "assign_bd_address"
    ),
    # Vivado 2022.2 on (create_bd_addr_seg is deprecated): assign_bd_address with the address
    "current": (
        "assign_bd_address -offset $ip_base -range 0x00010000 \\\n"
        "    -target_address_space [get_bd_addr_spaces $ps_cell/$ps_data_space] \\\n"
        "    [get_bd_addr_segs BlackBoxJam_0/s_axi_control/Reg] -force"
    ),
}


def render_vivado_script(
    spec: OverlaySpec,
    board: Board,
    build_dir: Path,
    script_dir: Path,
    jobs: int,
    release: Release,
) -> str:
    template = (shipped_dir("vivado") / "project.tcl.in").read_text()
    ultra = board.family == "zynqmp"
    values = {
        "OVERLAY": spec.name,
        "BOARD_TITLE": board.title,
        "PART": board.part,
        "RELEASE": release.version,
        "SCRIPT": "make-project.tcl",
        "PROJECT": VIVADO_PROJECT,
        "PROJECT_DIR": _tcl_word(build_dir / "vivado" / VIVADO_PROJECT),
        "IP_REPO": _tcl_word(build_dir / "hls" / HLS_PROJECT / "sol1" / "impl" / "ip"),
        "SCRIPT_DIR": _tcl_word(script_dir),
        "REPORT_DIR": _tcl_word(build_dir / "vivado" / "reports"),
        "IP_BASE": f"0x{board.ip_base:08X}",
        "JOBS": str(jobs),
        "CONSTRAINTS": board.constraints,
        "PS_SCRIPT": PS_SCRIPT,
        "CLOCK_MHZ": f"{board.fabric_mhz:g}",
        "RESET_VLNV": release.vlnv("proc_sys_reset"),
        "INTERCONNECT_VLNV": release.vlnv("axi_interconnect"),
        "ADDRESS": _ADDRESS[release.generation.name],
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
    release: Release | None = None,
) -> SourceTree:
    """Write every source of the build of ``spec`` for ``board`` and ``release`` (default:
    DEFAULT_RELEASE) under ``build_dir/src``."""
    release = release or get_release(DEFAULT_RELEASE)
    build_dir = build_dir.resolve()
    root = build_dir / "src"
    hls_dir, vivado_dir = root / "hls", root / "vivado"
    hlslib = hlslib.resolve()
    generation = release.generation
    files = {
        hls_dir / "config.h": render_config_h(spec),
        hls_dir / "top.cpp": render_top(spec, generation),
        hls_dir / "tb.cpp": render_testbench(spec),
        hls_dir / "hls-syn.tcl": render_hls_script(spec, board, hls_dir, hlslib, csim, release),
        hls_dir / "hls-csim.tcl": render_hls_script(
            spec, board, hls_dir, hlslib, csim, release, synthesis=False
        ),
        vivado_dir / "make-project.tcl": render_vivado_script(
            spec, board, build_dir, vivado_dir, jobs, release
        ),
        vivado_dir / PS_SCRIPT: render_ps_script(board, release),
        vivado_dir / board.constraints: (shipped_dir("vivado") / board.constraints).read_text(),
    }
    for path, text in files.items():
        write_text(path, text)
    return SourceTree(
        root=root,
        hls_dir=hls_dir,
        vivado_dir=vivado_dir,
        hls_script=hls_dir / "hls-syn.tcl",
        csim_script=hls_dir / "hls-csim.tcl",
        vivado_script=vivado_dir / "make-project.tcl",
        files=tuple(files),
    )


def copy_file(src: Path, dest: Path) -> None:
    """Copy through a temporary name, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
