"""Generated sources: config.h against the spec's tables, the HLS top level's interface and
dataflow, and the HLS and Vivado scripts run through tclsh with recording stand-ins."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bnntool.errors import UserError
from bnntool.hw.boards import BOARDS, get_board
from bnntool.hw.config_h import layer_defines
from bnntool.hw.releases import CURRENT, LEGACY, RELEASES, get_release
from bnntool.hw.sources import Csim, render_top, write_sources
from bnntool.overlay import load_overlay

HERE = Path(__file__).resolve().parent
STOCK = ["lfcW1A1", "lfcW1A2", "cnvW1A1", "cnvW1A2", "cnvW2A2"]

# Spec 2.8: (MW, MH, SIMD, PE, WMEM, TMEM) per layer of upstream's config.h files.
LFC = [
    (832, 1024, 64, 32, 416, 32),
    (1024, 1024, 32, 64, 512, 16),
    (1024, 1024, 64, 32, 512, 32),
    (1024, 64, 8, 16, 512, 4),
]
CNV_W1 = [
    (27, 64, 3, 16, 36, 4),
    (576, 64, 32, 32, 36, 2),
    (576, 128, 32, 16, 144, 8),
    (1152, 128, 32, 16, 288, 8),
    (1152, 256, 32, 4, 2304, 64),
    (2304, 256, 32, 1, 18432, 256),
    (256, 512, 4, 1, 32768, 512),
    (512, 512, 8, 1, 32768, 512),
    (512, 64, 1, 4, 8192, 16),
]
CNV_W2 = [
    (27, 64, 3, 8, 72, 8),
    (576, 64, 16, 16, 144, 4),
    (576, 128, 16, 8, 576, 16),
    (1152, 128, 16, 8, 1152, 16),
    (1152, 256, 8, 4, 9216, 64),
    (2304, 256, 8, 1, 73728, 256),
    (256, 512, 2, 1, 65536, 512),
    (512, 512, 2, 2, 65536, 256),
    (512, 64, 1, 4, 8192, 16),
]
TABLES = {"lfcW1A1": LFC, "lfcW1A2": LFC, "cnvW1A1": CNV_W1, "cnvW1A2": CNV_W1, "cnvW2A2": CNV_W2}
# Spec 2.9: the conv geometry lists of the CNV drivers.
CONV_GEOMETRY = {
    "IFM_DIM": [32, 30, 14, 12, 5, 3],
    "OFM_DIM": [30, 28, 12, 10, 3, 1],
    "IFM_CH": [3, 64, 64, 128, 128, 256],
    "OFM_CH": [64, 64, 128, 128, 256, 256],
    "K": [3] * 6,
}
# Spec 2.1: (WPI, API) per layer; all fraction bits are 0.
PRECISIONS = {
    "lfcW1A1": [(1, 1)] * 4,
    "lfcW1A2": [(1, 2), (1, 2), (1, 2), (1, 1)],
    "cnvW1A1": [(1, 1)] * 8 + [(1, 16)],
    "cnvW1A2": [(1, 2)] * 8 + [(1, 16)],
    "cnvW2A2": [(2, 2)] * 8 + [(2, 16)],
}


@pytest.mark.parametrize("name", STOCK)
def test_config_h_equals_upstream(name: str) -> None:
    spec = load_overlay(name)
    assert len(spec.layers) == len(TABLES[name])
    for layer, row, (wpi, api) in zip(spec.layers, TABLES[name], PRECISIONS[name], strict=True):
        d = dict(layer_defines(layer))
        mw, mh, simd, pe, wmem, tmem = row
        assert (d["SIMD"], d["PE"], d["WMEM"], d["TMEM"]) == (simd, pe, wmem, tmem)
        assert (d["WPI"], d["API"], d["WPF"], d["APF"]) == (wpi, api, 0, 0)
        if layer.is_conv:
            for key, values in CONV_GEOMETRY.items():
                assert d[key] == values[layer.index], (name, layer.index, key)
            assert d["K"] ** 2 * d["IFM_CH"] == mw and d["OFM_CH"] == mh
            order = ["K", "IFM_CH", "IFM_DIM", "OFM_CH", "OFM_DIM", "SIMD", "PE", "WMEM", "TMEM"]
        else:
            assert (d["MW"], d["MH"]) == (mw, mh)
            order = ["SIMD", "PE", "WMEM", "TMEM", "MW", "MH"]
        assert [k for k, _ in layer_defines(layer)] == [*order, "WPI", "API", "WPF", "APF"]


def test_top_level_interface_and_weight_load() -> None:
    text = render_top(load_overlay("lfcW1A1"))
    assert LEGACY.hlslib_commit in text
    signature = re.search(r"void BlackBoxJam\((.*?)\) \{", text, re.S)
    assert signature
    args = [a.split()[-1].lstrip("*") for a in signature.group(1).split(",")]
    assert args == [
        "in",
        "out",
        "doInit",
        "targetLayer",
        "targetMem",
        "targetInd",
        "targetThresh",
        "val",
        "numReps",
    ]
    assert "ap_uint<64> val" in signature.group(1)
    for port in args[2:]:
        assert f"s_axilite port={port} bundle=control" in text
    for port in ("in", "out"):
        assert f"m_axi offset=slave port={port} bundle=hostmem" in text
    assert "s_axilite port=return bundle=control" in text
    # targetLayer 2L: weights of layer L, 2L + 1: its thresholds (spec 4.2)
    for n in range(4):
        assert f"case {2 * n}:\n    weights{n}.m_weights[targetMem][targetInd] = val;" in text
        assert f"case {2 * n + 1}:\n    threshs{n}.m_thresholds[targetMem][targetInd]" in text
    assert "Mem2Stream_Batch<64, 104>(in, memInStrm, numReps);" in text  # 13 words
    assert "Stream2Mem_Batch<64, 8>(memOutStrm, out, numReps);" in text
    assert text.count("StreamingFCLayer_Batch<") == 4
    assert "ConvLayer_Batch" not in text


def test_cnv_top_level_chain() -> None:
    text = render_top(load_overlay("cnvW1A1"))
    calls = re.findall(r"^  (\w+)<", text, re.M)
    chain = [c for c in calls if c.endswith("_Batch")]
    assert chain == [
        "Mem2Stream_Batch",
        "StreamingDataWidthConverter_Batch",
        "StreamingDataWidthConverter_Batch",
        *["ConvLayer_Batch"] * 2,
        "StreamingMaxPool_Batch",
        *["ConvLayer_Batch"] * 2,
        "StreamingMaxPool_Batch",
        *["ConvLayer_Batch"] * 2,
        *["StreamingFCLayer_Batch"] * 3,
        "Stream2Mem_Batch",
    ]
    assert "StreamingDataWidthConverter_Batch<64, 192, 384>" in text
    assert "StreamingDataWidthConverter_Batch<192, 24, 128>" in text
    assert "Slice<ap_fixed<8, 1, AP_TRN, AP_SAT>>" in text
    # layer 0: 24-bit thresholds with 8 fraction bits, loaded as fixed point (spec 4.2)
    assert "ThresholdsActivation<L0_TMEM, L0_PE, 1, ap_fixed<24, 16>, ap_uint<1>> threshs0;" in text
    assert "ap_fixed<64, 56> fixed_val;" in text
    assert "PassThroughActivation<ap_uint<16>>()" in text and "threshs8" not in text
    assert "Stream2Mem_Batch<64, 128>" in text


def test_current_generation_dense_layers() -> None:
    """finn-hlslib cc8db47 has no StreamingFCLayer_Batch: its three stages, explicitly."""
    text = render_top(load_overlay("lfcW1A1"), CURRENT)
    assert CURRENT.hlslib_commit in text and "StreamingFCLayer_Batch" not in text
    calls = re.findall(r"^  (\w+)<", text, re.M)
    assert calls == [
        "Mem2Stream_Batch",
        *["Matrix_Vector_Activate_Batch"] * 3,
        "StreamingDataWidthConverter_Batch",  # 1024 x 1 bit in 32 words of PE 32 -> SIMD 8
        "Matrix_Vector_Activate_Batch",
        "StreamingDataWidthConverter_Batch",  # PE 16 x 1 bit -> the 64-bit output word
        "Stream2Mem_Batch",
    ]
    assert (
        "Matrix_Vector_Activate_Batch<L0_MW, L0_MH, L0_SIMD, L0_PE, 1, Recast<XnorMul>, "
        "Slice<ap_uint<1>>, Identity>(memInStrm, dense0, weights0, threshs0, numReps, "
        "ap_resource_lut());" in text
    )
    assert "StreamingDataWidthConverter_Batch<32, 8, 32>(dense2, mvIn3, numReps);" in text
    assert "StreamingDataWidthConverter_Batch<16, 64, 4>(mvOut3, memOutStrm, numReps);" in text
    # the same word counts as the legacy StreamingFCLayer_Batch: MW x bits / width in
    legacy = render_top(load_overlay("lfcW1A1"), LEGACY)
    assert legacy.count("StreamingFCLayer_Batch<") == 4 and "Matrix_Vector" not in legacy


def test_current_generation_reads_the_image_as_integers() -> None:
    """cc8db47's Slice converts values where 8b7f5f5's reinterpreted bits: the image is sliced
    as 8-bit integer codes (value x 2^7) and layer 0's thresholds are loaded x 2^7."""
    for name in ("cnvW1A1", "cnvW2A2"):
        text = render_top(load_overlay(name), CURRENT)
        assert "Slice<ap_fixed" not in text and "ConvLayer_Batch<L0_K" in text
        assert re.search(r"ConvLayer_Batch<L0_[^>]*, Slice<ap_int<8>>,", text)
        threshs0 = re.search(r"ThresholdsActivation<L0_TMEM, L0_PE, \d+, (ap_fixed<31, 23>)", text)
        assert threshs0, name
        assert "ap_fixed<24, 16> narrow = fixed_val;" in text  # wraps like upstream's first
        assert "= ap_fixed<31, 23>(narrow) * 128;" in text
        # the other layers' inputs are 1 or 2-bit integers: unchanged
        assert text.count("* 128;") == 1


def test_two_bit_overlays() -> None:
    text = render_top(load_overlay("cnvW2A2"))
    assert "FixedPointWeights<L0_SIMD, ap_int<L0_WPI>, L0_PE, L0_WMEM> weights0;" in text
    assert "ThresholdsActivation<L1_TMEM, L1_PE, 2, ap_int<16>, ap_int<2>, -1> threshs1;" in text
    assert text.count("StreamingMaxPool_Precision_Batch<") == 2
    # conv and pool streams carry one bit per channel whatever the activation precision, as
    # upstream's: ConvLayer_Batch counts IFM_DIM^2 * IFM_CH / width * bits input words in
    # integers, which a pixel-wide stream of 2-bit activations gets wrong on the 5x5 and 3x3
    # inputs of layers 4 and 5 (found by the g++ C simulation, test_csim.py)
    for name in ("cnvW1A1", "cnvW1A2", "cnvW2A2"):
        widths = re.findall(
            r"stream<ap_uint<(\d+)>> (?:conv|pool)\d", render_top(load_overlay(name))
        )
        assert widths == ["64", "64", "64", "128", "128", "128", "256", "256"], name
    lfc2 = render_top(load_overlay("lfcW1A2"))
    assert "Recast<Binary>, Slice<ap_int<2>>, Recast<Binary>>" in lfc2  # layer 0 (spec 4.5)
    assert "Slice<ap_int<2>>, Slice<ap_int<1>>, Recast<Binary>>" in lfc2  # layer 3


def test_unknown_board() -> None:
    with pytest.raises(UserError, match="unknown board 'zedboard'; known boards: pynq-z1"):
        get_board("zedboard")


# ---------------------------------------------------------------------------------------------
# The scripts, through tclsh

# Each board's part, PS IP, accelerator clock pin and PS settings, from the public designs the
# records follow (BNN-PYNQ; PYNQ's ZCU104, Kria-PYNQ's KV260 and AUP-ZU3's PS scripts).
_PYNQ = (
    "xc7z020clg400-1",
    "processing_system7",
    "FCLK_CLK0",
    {
        "PCW_FPGA0_PERIPHERAL_FREQMHZ": "100",
        "PCW_FPGA1_PERIPHERAL_FREQMHZ": "142.857132",
        "PCW_FPGA2_PERIPHERAL_FREQMHZ": "200",
        "PCW_FPGA3_PERIPHERAL_FREQMHZ": "166.666672",
        "PCW_S_AXI_HP0_DATA_WIDTH": "64",
        "PCW_UIPARAM_DDR_BUS_WIDTH": "16 Bit",
    },
)
_ULTRA96 = (
    "xczu3eg-sbva484-1-i",
    "zynq_ultra_ps_e",
    "pl_clk2",  # IOPLL 1500 MHz / (15*1, 15*4, 5*1, 4*1) = 100, 25, 300, 375 MHz
    {
        **{
            f"PSU__CRL_APB__PL{n}_REF_CTRL__DIVISOR{i}": str(d)
            for n, pair in enumerate([(15, 1), (15, 4), (5, 1), (4, 1)])
            for i, d in enumerate(pair)
        },
        "PSU__DDRC__DEVICE_TYPE": "LPDDR 4",
        "PSU__DDRC__BUS_WIDTH": "32 Bit",
    },
)
BOARD_FACTS = {
    "pynq-z1": _PYNQ,
    "pynq-z2": _PYNQ,
    "ultra96": _ULTRA96,
    "ultra96v2": _ULTRA96,
    "aup-zu3": (
        "xczu3eg-sfvc784-2-e",
        "zynq_ultra_ps_e",
        "pl_clk1",
        {
            "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": "100",
            "PSU__CRL_APB__PL1_REF_CTRL__FREQMHZ": "300",
            "PSU__CRL_APB__PL1_REF_CTRL__SRCSEL": "IOPLL",
            "PSU__DDRC__DEVICE_TYPE": "DDR 4",
            "PSU__DDRC__BUS_WIDTH": "32 Bit",
        },
    ),
    "kv260": (
        "xck26-sfvc784-2LV-c",
        "zynq_ultra_ps_e",
        "pl_clk1",
        {
            "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": "100",
            "PSU__CRL_APB__PL1_REF_CTRL__FREQMHZ": "200",
            "PSU__CRL_APB__PL2_REF_CTRL__FREQMHZ": "300",
            "PSU__DDRC__BUS_WIDTH": "64 Bit",
        },
    ),
    "zcu104": (
        "xczu7ev-ffvc1156-2-e",
        "zynq_ultra_ps_e",
        "pl_clk1",
        {
            "PSU__CRL_APB__PL1_REF_CTRL__FREQMHZ": "300",
            "PSU__CRL_APB__PL1_REF_CTRL__SRCSEL": "RPLL",
            "PSU__DDRC__BUS_WIDTH": "64 Bit",
        },
    ),
}
# The PS IP's version in each release (processing_system7 has stayed 5.5).
PS_VERSIONS = {
    "processing_system7": dict.fromkeys(RELEASES, "5.5"),
    "zynq_ultra_ps_e": {
        **dict.fromkeys(RELEASES, "3.5"),
        "2019.2": "3.3",
        "2020.1": "3.3",
        "2022.2": "3.4",
    },
}


def test_board_records_cover_the_issue_boards() -> None:
    assert set(BOARDS) == set(BOARD_FACTS)
    zynqmp = [b for b in BOARDS.values() if b.family == "zynqmp"]
    assert all(b.ip_base == 0xA0000000 and b.ps.clock.startswith("pl_clk") for b in zynqmp)
    # each accelerator clock is one the PS configuration enables at the clock the board claims
    for board in BOARDS.values():
        n = int(board.ps.clock[-1])
        assert abs(board.ps.pl_clocks_mhz[n] - board.fabric_mhz) < 0.01, board.name
        assert 1000 / board.hls_period_ns >= board.fabric_mhz  # HLS schedules tighter


needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh is not installed")


def run_tcl(script: Path, tmp_path: Path) -> list[list[str]]:
    out = tmp_path / f"{script.stem}.calls"
    env = {**os.environ, "RECORD_OUT": str(out)}
    proc = subprocess.run(
        ["tclsh", str(HERE / "recorder.tcl"), str(script)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return [line.split("\x1f") for line in out.read_text().splitlines()]


def _find(calls: list[list[str]], name: str) -> list[list[str]]:
    return [c for c in calls if c[0] == name]


def _option(call: list[str], flag: str) -> str:
    return call[call.index(flag) + 1]


@needs_tclsh
@pytest.mark.parametrize("version", list(RELEASES))
@pytest.mark.parametrize("board_name", ["pynq-z2", "ultra96", "aup-zu3", "kv260", "zcu104"])
def test_hls_script(tmp_path: Path, board_name: str, version: str) -> None:
    board, release = BOARDS[board_name], get_release(version)
    legacy = release.generation is LEGACY
    hlslib = tmp_path / "finn-hlslib"
    params, image = tmp_path / "params", tmp_path / "img"
    tree = write_sources(
        load_overlay("lfcW1A1"), board, tmp_path / "b", hlslib, 2, Csim(params, image, 3), release
    )
    text = tree.hls_script.read_text()
    assert f"Run from the build folder's hls/ directory:  {release.hls_tool} " in text
    calls = run_tcl(tree.hls_script, tmp_path)
    assert [c[0] for c in calls] == [
        "open_project",
        "set_top",
        "add_files",
        "add_files",
        "open_solution",
        "set_part",
        "config_interface",
        "create_clock",
        "csim_design",
        "csynth_design",
        "export_design",
        "exit",
    ]
    assert calls[1] == ["set_top", "BlackBoxJam"]
    top, tb = _find(calls, "add_files")
    assert Path(top[1]) == tree.hls_dir / "top.cpp" and Path(top[1]).is_file()
    assert tb[1] == "-tb" and Path(tb[2]) == tree.hls_dir / "tb.cpp" and Path(tb[2]).is_file()
    cflags = _option(top, "-cflags")
    assert f"-I{hlslib}" in cflags and f"-I{tree.hls_dir}" in cflags
    assert f"-std={'c++0x' if legacy else 'c++14'}" in cflags
    assert _find(calls, "set_part") == [["set_part", board.part]]
    assert _option(_find(calls, "create_clock")[0], "-period") == f"{board.hls_period_ns:g}"
    assert "-m_axi_addr64" in _find(calls, "config_interface")[0]
    solution = _find(calls, "open_solution")[0]
    if legacy:  # Vivado HLS: no flow target; its csim compiler chosen explicitly
        assert solution == ["open_solution", "-reset", "sol1"]
        assert _option(_find(calls, "csim_design")[0], "-compiler") == "clang"
    else:  # Vitis HLS: the Vivado IP flow; csim_design has no -compiler option
        assert solution == ["open_solution", "-reset", "-flow_target", "vivado", "sol1"]
        assert "-compiler" not in _find(calls, "csim_design")[0]
    argv = _option(_find(calls, "csim_design")[0], "-argv").split()
    assert argv == [str(params), str(image), "3", "0"]
    assert _find(calls, "export_design") == [["export_design", "-format", "ip_catalog"]]
    # the C simulation alone: its own project, no synthesis
    alone = run_tcl(tree.csim_script, tmp_path)
    assert [c[0] for c in alone][-2:] == ["csim_design", "exit"]
    assert _find(alone, "open_project")[0][-1] == "hls-csim-proj"


@needs_tclsh
def test_hls_script_without_csim(tmp_path: Path) -> None:
    for version in ("2019.2", "2024.2"):
        tree = write_sources(
            load_overlay("cnvW1A1"), BOARDS["pynq-z1"], tmp_path, tmp_path, 2,
            release=get_release(version),
        )  # fmt: skip
        calls = run_tcl(tree.hls_script, tmp_path)
        assert not _find(calls, "csim_design") and _find(calls, "csynth_design")
    calls = run_tcl(tree.csim_script, tmp_path)
    assert not _find(calls, "csim_design") and not _find(calls, "csynth_design")


@needs_tclsh
@pytest.mark.parametrize("version", list(RELEASES))
@pytest.mark.parametrize("board_name", list(BOARDS))
def test_vivado_script(tmp_path: Path, board_name: str, version: str) -> None:
    board, release = BOARDS[board_name], get_release(version)
    build = tmp_path / "b"
    tree = write_sources(load_overlay("cnvW1A1"), board, build, tmp_path, board.jobs, None, release)
    calls = run_tcl(tree.vivado_script, tmp_path)
    names = [c[0] for c in calls]
    # the order that matters: project, IP catalog, block design, wrapper, runs, reports
    key = [
        "create_project",
        "update_ip_catalog",
        "create_bd_design",
        "validate_bd_design",
        "save_bd_design",
        "write_bd_tcl",
        "make_wrapper",
        "launch_runs",
        "wait_on_run",
        "open_run",
        "report_timing_summary",
        "report_utilization",
        "exit",
    ]
    positions = [names.index(k) for k in key]
    assert positions == sorted(positions), names
    project = _find(calls, "create_project")[0]
    assert _option(project, "-part") == board.part
    assert Path(project[-3]) == build.resolve() / "vivado" / "vivado-proj"
    ip_repo = _find(calls, "set_property")[0]
    assert ip_repo[1] == "ip_repo_paths"
    assert ip_repo[2].endswith("hls/hls-proj/sol1/impl/ip")
    constraints = next(c for c in _find(calls, "add_files") if "-fileset" in c)
    assert Path(constraints[-1]).name == board.constraints and Path(constraints[-1]).is_file()

    cells = {c[-1]: _option(c, "-vlnv") for c in _find(calls, "create_bd_cell")}
    assert cells["BlackBoxJam_0"] == "xilinx.com:hls:BlackBoxJam:1.0"
    part, ps_ip, clock, settings = BOARD_FACTS[board_name]
    assert _option(project, "-part") == part
    ps = f"{ps_ip}_0"
    assert cells[ps] == f"xilinx.com:ip:{ps_ip}:{PS_VERSIONS[ps_ip][version]}"
    assert cells["rst_fabric"] == "xilinx.com:ip:proc_sys_reset:5.0"
    assert cells["ic_control"] == cells["ic_hostmem"] == "xilinx.com:ip:axi_interconnect:2.1"
    config: dict[str, str] = {}
    for c in _find(calls, "set_property"):
        if "-dict" in c:  # one Tcl list: CONFIG.KEY VALUE ..., values with spaces in braces
            words = [a or b for a, b in re.findall(r"\{([^}]*)\}|(\S+)", _option(c, "-dict"))]
            keys = [w.removeprefix("CONFIG.") for w in words[::2]]
            config.update(zip(keys, words[1::2], strict=True))
    for key, value in settings.items():
        assert config[key] == value, (board_name, key)
    if board.family == "zynq":
        slave, master = "S_AXI_HP0", "M_AXI_GP0"
        assert _find(calls, "apply_bd_automation")  # DDR and FIXED_IO made external
    else:
        slave, master = "S_AXI_HP0_FPD", "M_AXI_HPM0_FPD"
        assert config["PSU__SAXIGP2__DATA_WIDTH"] == "64" and config["PSU__USE__M_AXI_GP0"] == "1"
        assert not _find(calls, "apply_bd_automation")
    # one clock drives the accelerator, both interconnects and the PS ports they use
    clock_net = [c for c in _find(calls, "connect_bd_net") if c[1] == f"{ps}/{clock}"]
    assert len(clock_net) == 1
    clocked = clock_net[0][2].split()
    assert "BlackBoxJam_0/ap_clk" in clocked and "ic_hostmem/M00_ACLK" in clocked
    assert sum(p.startswith(f"{ps}/") for p in clocked) == 2
    intf = [c[1:] for c in _find(calls, "connect_bd_intf_net")]
    assert [f"{ps}/{master}", "ic_control/S00_AXI"] in intf
    assert ["ic_hostmem/M00_AXI", f"{ps}/{slave}"] in intf
    # the register map: 64 KiB at the board runtime's address (Vivado 2022.2 on deprecates
    # create_bd_addr_seg: assign_bd_address takes the address itself)
    base = 0x43C00000 if board.family == "zynq" else 0xA0000000
    if release.generation is LEGACY:
        seg = _find(calls, "create_bd_addr_seg")[0]
    else:
        assert not _find(calls, "create_bd_addr_seg")
        seg = next(c for c in _find(calls, "assign_bd_address") if "-offset" in c)
        assert seg[-2] == "BlackBoxJam_0/s_axi_control/Reg" and seg[-1] == "-force"
    assert int(_option(seg, "-offset"), 16) == base == board.ip_base
    assert _option(seg, "-range") == "0x00010000"
    assert _option(_find(calls, "launch_runs")[0], "-jobs") == str(board.jobs)
    impl = [c for c in _find(calls, "set_property") if c[1] == "STEPS.OPT_DESIGN.ARGS.DIRECTIVE"]
    assert impl[0][2] == ("ExploreWithRemap" if board.family == "zynqmp" else "Explore")
    reports = {Path(_option(c, "-file")).name for c in calls if c[0].startswith("report_")}
    assert reports == {"timing.rpt", "utilization.rpt"}


def test_sources_are_complete(tmp_path: Path) -> None:
    tree = write_sources(load_overlay("lfcW1A1"), BOARDS["pynq-z2"], tmp_path, tmp_path, 2)
    names = sorted(str(p.relative_to(tree.root)) for p in tree.files)
    assert names == [
        "hls/config.h",
        "hls/hls-csim.tcl",
        "hls/hls-syn.tcl",
        "hls/tb.cpp",
        "hls/top.cpp",
        "vivado/make-project.tcl",
        "vivado/ps.tcl",
        "vivado/pynq-z1-z2.xdc",
    ]
    for path in tree.files:
        assert "@" not in re.sub(r"@[a-z]", "", path.read_text()), path  # every value filled
    tb = (tree.hls_dir / "tb.cpp").read_text()
    assert "{32, 416, 32, 1},  // layer 0" in tb and "kInputWords = 13" in tb


def test_build_takes_a_params_or_run_folder(tmp_path: Path, run_cli) -> None:
    """--overlay DIR: the spec a params folder's manifest or a run's run.json carries."""
    import json

    from bnntool.overlay import load_overlay, overlay_of
    from tests.convert.fakes import layer_arrays, write_npz

    spec = load_overlay("lfcW1A2")
    npz = write_npz(tmp_path / "w.npz", layer_arrays(spec, np.random.default_rng(0)))
    assert run_cli("convert", npz, "--overlay", "lfcW1A2", "--out", tmp_path / "p").exit_code == 0
    assert overlay_of(tmp_path / "p").to_json() == spec.to_json()
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(
        json.dumps({"recipe": {"overlay": "lfcW1A2"}, "overlay_spec": spec.to_json()})
    )
    assert overlay_of(tmp_path).name == "lfcW1A2"  # a pipeline folder's run/
    r = run_cli(
        "build", "--overlay", tmp_path / "p", "--board", "pynq-z2", "--out", tmp_path / "b",
        "--dry-run", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["overlay"] == "lfcW1A2"
    bad = run_cli(
        "build", "--overlay", tmp_path / "b", "--board", "pynq-z2", "--out", tmp_path / "c"
    )
    assert bad.exit_code == 2 and "neither a params folder" in bad.stderr
