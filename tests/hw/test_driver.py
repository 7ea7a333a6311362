"""bnntool build against stand-in vivado_hls, vitis_hls, vitis-run and vivado executables that
check their arguments and write the files a real run writes (or fail the way a real run fails)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from bnntool.artifacts import sha256_file
from tests.conftest import REPO

# One stand-in program for both tools; it knows which it is from its name.
STANDIN = r"""#!@PYTHON@
import os, re, sys
from pathlib import Path

tool = Path(sys.argv[0]).name
mode = os.environ.get("STANDIN_MODE", "ok")
args = sys.argv[1:]
if args == ["-version"]:
    assert tool != "vitis-run", "vitis-run has no -version"
    version = os.environ.get("STANDIN_VERSION", "2019.2")
    name = {"vivado_hls": "Vivado HLS", "vitis_hls": "Vitis HLS"}.get(tool, "Vivado")
    print(f"****** {name} v{version} (64-bit)")
    print("  **** SW Build 2708876 on Wed Nov  6 21:39:14 MST 2019")
    sys.exit(0)
with open(os.environ["STANDIN_CALLS"], "a") as f:
    f.write(tool + " " + " ".join(args) + "\n")
if tool in ("vivado_hls", "vitis_hls", "vitis-run"):
    if tool == "vitis-run":
        assert args[:3] == ["--mode", "hls", "--tcl"] and len(args) == 4, args
    else:
        assert args[0] == "-f" and len(args) == 2, args
    script = Path(args[-1]).read_text()
    assert "set_top BlackBoxJam" in script and "csynth_design" in script
    assert ("-flow_target vivado" in script) == (tool != "vivado_hls")
    project = re.search(r"open_project -reset (\S+)", script).group(1)
    print(f"INFO: [HLS 200-10] Running '{tool}'")
    if re.search(r"if \{0\} \{\n    csynth_design", script):  # the C simulation alone
        assert "csim_design" in script
        print(os.environ.get("STANDIN_CSIM", "class 3, expected 3: PASS"))
        if "PASS" not in os.environ.get("STANDIN_CSIM", "PASS"):
            print("ERROR: [SIM 211-100] 'csim_design' failed: nonzero return value.")
            sys.exit(1)
        sys.exit(0)
    if mode == "hls-error":
        print("ERROR: [HLS 200-70] Compilation errors found: In file included from top.cpp:1:")
        print("ERROR: [HLS 200-70] second error line")
        sys.exit(1)
    sol = Path(project) / "sol1"
    (sol / "impl" / "ip").mkdir(parents=True)
    (sol / "impl" / "ip" / "component.xml").write_text("<component/>")
    (sol / "syn" / "report").mkdir(parents=True)
    (sol / "syn" / "report" / "BlackBoxJam_csynth.rpt").write_text(
        "+ Timing (ns): \n    |ap_clk |   5.00|     4.375|        0.62|\n"
        "|Name            | BRAM_18K| DSP48E|   FF   |   LUT  | URAM|\n"
        "|Total           |      220|     24|   33470|   28360|    0|\n"
    )
    print("INFO: [HLS 200-112] Total elapsed time: 1 seconds")
    sys.exit(0)
assert args[:5] == ["-mode", "batch", "-notrace", "-nojournal", "-source"], args
script = Path(args[5]).read_text()
part = re.search(r"create_project -force \S+ \S+ -part (\S+)", script).group(1)
assert part == os.environ.get("STANDIN_PART", part)
proj = Path(re.search(r'set proj_dir "([^"]+)"', script).group(1))
ip_repo = Path(re.search(r'set ip_repo "([^"]+)"', script).group(1))
reports = Path(re.search(r'set report_dir "([^"]+)"', script).group(1))
assert (ip_repo / "component.xml").is_file(), "HLS IP missing"
print("INFO: [Common 17-206] Exiting Vivado")
if mode == "vivado-error":
    print("CRITICAL WARNING: [BD 41-1356] Address block </BlackBoxJam_0/Reg> is not mapped")
    print("ERROR: [Common 17-39] 'validate_bd_design' failed due to earlier errors.")
    sys.exit(1)
impl = proj / "vivado-proj.runs" / "impl_1"
impl.mkdir(parents=True)
(impl / "procsys_wrapper.bit").write_bytes(b"\x00\x09bitstream")
hwh = proj / "vivado-proj.srcs" / "sources_1" / "bd" / "procsys" / "hw_handoff"
hwh.mkdir(parents=True)
(hwh / "procsys.hwh").write_text("<EDKSYSTEM/>")
(proj.parent / "procsys.tcl").write_text("# block design\n")
reports.mkdir(parents=True)
wns = "-0.123" if mode == "timing" else "0.265"
met = ("Timing constraints are not met." if mode == "timing"
       else "All user specified timing constraints are met.")
(reports / "timing.rpt").write_text(
    "| Design Timing Summary\n| ---------------------\n\n"
    "    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)\n"
    "    -------      -------  ---------------------  -------------------      -------\n"
    f"     {wns}       -2.500                      0                76437        0.021\n\n\n{met}\n"
)
(reports / "utilization.rpt").write_text(
    "| Site Type | Used | Fixed | Available | Util% |\n"
    "| Slice LUTs                 | 28360 |     0 |     53200 | 53.31 |\n"
    "|   LUT as Logic             | 25359 |     0 |     53200 | 47.67 |\n"
    "| Slice Registers            | 33470 |     0 |    106400 | 31.46 |\n"
    "| Block RAM Tile    |  110 |     0 |       140 | 78.57 |\n"
    "| DSPs           |    4 |     0 |       220 |  1.82 |\n"
)
"""


def _install(bin_dir: Path, *names: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        exe = bin_dir / name
        exe.write_text(STANDIN.replace("@PYTHON@", sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """vivado_hls and vivado stand-ins on PATH; returns the file where they log their calls."""
    bin_dir = tmp_path / "xilinx" / "bin"
    _install(bin_dir, "vivado_hls", "vivado")
    calls = tmp_path / "calls.txt"
    calls.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_CALLS", str(calls))
    for var in ("XILINX_VIVADO", "XILINX_HLS", "XILINX_VITIS", "STANDIN_MODE", "BNNTOOL_AP_TYPES"):
        monkeypatch.delenv(var, raising=False)
    return calls


@pytest.fixture
def hlslib(tmp_path: Path) -> Path:
    """A stand-in finn-hlslib of the legacy line (it has fclayer.h)."""
    path = tmp_path / "finn-hlslib"
    path.mkdir()
    (path / "bnn-library.h").write_text("// stand-in\n")
    (path / "fclayer.h").write_text("// stand-in\n")
    return path


@pytest.fixture
def hlslib_current(tmp_path: Path) -> Path:
    """A stand-in finn-hlslib of the current line (no fclayer.h)."""
    path = tmp_path / "finn-hlslib-current"
    path.mkdir()
    (path / "bnn-library.h").write_text("// stand-in\n")
    return path


def build(run_cli, out: Path, hlslib: Path, *extra: str, overlay: str = "lfcW1A1"):
    return run_cli(
        "build", "--overlay", overlay, "--board", "pynq-z2", "--out", out, "--hlslib", hlslib,
        *extra,
    )  # fmt: skip


def test_full_build(run_cli, standins: Path, hlslib: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    result = build(run_cli, out, hlslib, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(s["step"], s["status"]) for s in doc["steps"]] == [
        ("hls", "ran"),
        ("vivado", "ran"),
        ("collect", "ran"),
    ]
    calls = standins.read_text().splitlines()
    assert calls == [
        f"vivado_hls -f {out.resolve()}/src/hls/hls-syn.tcl",
        "vivado -mode batch -notrace -nojournal -source "
        f"{out.resolve()}/src/vivado/make-project.tcl",
    ]
    report = json.loads((out / "report.json").read_text())
    assert report["timing"] == {"met": True, "wns_ns": 0.265, "tns_ns": -2.5}
    assert report["utilization"]["lut"] == {"used": 28360, "available": 53200.0}
    assert report["utilization"]["bram_tiles"]["used"] == 110
    assert (
        report["utilization"]["dsp"]["used"] == 4 and report["utilization"]["ff"]["used"] == 33470
    )
    assert report["hls"]["estimated_ns"] == 4.375 and report["hls"]["lut"] == 28360
    bit = out / "bitstream"
    names = sorted(p.name for p in bit.iterdir())
    assert names == [
        "lfcW1A1-pynq-z2.bit",
        "lfcW1A1-pynq-z2.hwh",
        "lfcW1A1-pynq-z2.tcl",
        "manifest.json",
    ]
    manifest = json.loads((bit / "manifest.json").read_text())
    assert manifest["board"] == "pynq-z2" and manifest["overlay"] == "lfcW1A1"
    assert manifest["tools"] == {"vivado_hls": "2019.2", "vivado": "2019.2"}
    assert manifest["overlay_spec"]["layers"][0]["simd"] == 64
    for name, digest in manifest["files"].items():
        assert sha256_file(bit / name) == digest
    assert (out / "logs" / "hls.log").read_text().count("INFO: [HLS") == 2

    # run again: every step finished, nothing runs
    again = build(run_cli, out, hlslib, "--json")
    assert again.exit_code == 0, again.stderr
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"skipped"}
    assert len(standins.read_text().splitlines()) == 2


def test_error_lines_are_quoted_and_the_build_resumes(
    run_cli, standins: Path, hlslib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "b"
    monkeypatch.setenv("STANDIN_MODE", "vivado-error")
    result = build(run_cli, out, hlslib)
    assert result.exit_code == 2
    error = result.stderr.splitlines()[-1]  # the lines before it are progress
    assert error.startswith("bnntool: error: vivado failed")
    assert (
        error.count("bnntool: error") == 1 and "bnntool: error" not in result.stderr[: -len(error)]
    )
    assert "CRITICAL WARNING: [BD 41-1356]" in result.stderr
    assert "ERROR: [Common 17-39]" in result.stderr
    assert "validate_bd_design" in (out / "logs" / "vivado.log").read_text()
    assert not (out / "bitstream").exists()
    # fixed: the HLS step is not run again
    monkeypatch.setenv("STANDIN_MODE", "ok")
    result = build(run_cli, out, hlslib)
    assert result.exit_code == 0, result.stderr
    tools = [line.split()[0] for line in standins.read_text().splitlines()]
    assert tools == ["vivado_hls", "vivado", "vivado"]
    assert "hls      skipped" in result.stdout and "timing met (WNS 0.265 ns)" in result.stdout


def test_hls_error(run_cli, standins, hlslib, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STANDIN_MODE", "hls-error")
    result = build(run_cli, tmp_path / "b", hlslib, "--stage", "hls")
    assert result.exit_code == 2
    assert (
        "hls failed" in result.stderr and "ERROR: [HLS 200-70] Compilation errors" in result.stderr
    )


def test_timing_failure(run_cli, standins, hlslib, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STANDIN_MODE", "timing")
    out = tmp_path / "b"
    result = build(run_cli, out, hlslib)
    assert result.exit_code == 2
    assert "timing not met at 100 MHz: worst negative slack -0.123 ns" in result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["timing"]["met"] is False and report["timing"]["wns_ns"] == -0.123
    assert not (out / "bitstream").exists()


def test_stages(run_cli, standins, hlslib, tmp_path) -> None:
    out = tmp_path / "b"
    early = build(run_cli, out, hlslib, "--stage", "bitstream")
    assert early.exit_code == 2 and "no finished HLS step" in early.stderr
    assert build(run_cli, out, hlslib, "--stage", "hls").exit_code == 0
    assert not (out / "vivado").exists()
    assert build(run_cli, out, hlslib, "--stage", "bitstream").exit_code == 0
    assert (out / "bitstream" / "lfcW1A1-pynq-z2.bit").is_file()


def test_dry_run_writes_sources_and_prints_commands(run_cli, tmp_path, monkeypatch) -> None:
    # no Vivado, no finn-hlslib, no network needed
    monkeypatch.setenv("PATH", "/nonexistent")
    out = tmp_path / "d"
    result = run_cli(
        "build", "--overlay", "lfcW1A1", "--board", "pynq-z2", "--dry-run", "--out", out,
        "--vivado-version", "2019.2",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    src = out / "src"
    for name in ("hls/config.h", "hls/top.cpp", "hls/tb.cpp", "hls/hls-syn.tcl"):
        assert (src / name).is_file()
    for name in ("make-project.tcl", "ps.tcl", "pynq-z1-z2.xdc"):
        assert (src / "vivado" / name).is_file()
    lines = result.stdout.splitlines()
    assert any(
        line.strip().startswith("git clone https://github.com/Xilinx/finn-hlslib") for line in lines
    )
    assert f"  cd {out.resolve()}/hls && vivado_hls -f {src.resolve()}/hls/hls-syn.tcl" in lines
    assert not (out / "hls").exists() and not (out / "logs").exists()


def test_vivado_missing(run_cli, hlslib, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    result = build(run_cli, tmp_path / "b", hlslib)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "vivado not found on PATH" in result.stderr and "settings64.sh" in result.stderr


def test_vivado_dir_and_xilinx_vivado(run_cli, standins, hlslib, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("XILINX_VIVADO", str(tmp_path / "xilinx"))
    assert build(run_cli, tmp_path / "a", hlslib, "--stage", "hls").exit_code == 0
    monkeypatch.delenv("XILINX_VIVADO")
    result = build(run_cli, tmp_path / "b", hlslib, "--vivado-dir", tmp_path / "xilinx")
    assert result.exit_code == 0, result.stderr
    wrong = build(run_cli, tmp_path / "c", hlslib, "--vivado-dir", tmp_path)
    assert wrong.exit_code == 2 and f"vivado not found in or beside {tmp_path}" in wrong.stderr


def test_unsupported_version(run_cli, standins, hlslib, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STANDIN_VERSION", "2021.1")
    result = build(run_cli, tmp_path / "b", hlslib)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "Vivado 2021.1 is not supported; supported releases: 2019.2, 2020.1, 2022.2" in (
        result.stderr
    )
    bad = build(run_cli, tmp_path / "c", hlslib, "--vivado-version", "2024.1", "--dry-run")
    assert bad.exit_code == 2 and "Vivado 2024.1 is not supported" in bad.stderr


def test_hls_tool_of_another_release(run_cli, standins, hlslib, tmp_path, monkeypatch) -> None:
    """Vivado 2020.1 on PATH, but --vivado-version 2019.2: its vivado_hls is refused."""
    monkeypatch.setenv("STANDIN_VERSION", "2020.1")
    result = build(run_cli, tmp_path / "b", hlslib, "--vivado-version", "2019.2")
    assert result.exit_code == 2 and "is release 2020.1, but this build is for 2019.2" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("version", "layout", "front_end"),
    [
        ("2022.2", "Vitis_HLS/2022.2", ["vitis_hls", "-f"]),
        ("2023.2", "Vitis/2023.2", ["vitis-run", "--mode", "hls", "--tcl"]),
        ("2024.2", "Vitis/2024.2", ["vitis-run", "--mode", "hls", "--tcl"]),
        ("2025.2", "2025.2/Vitis", ["vitis-run", "--mode", "hls", "--tcl"]),
        ("2026.1", "2026.1/Vitis", ["vitis-run", "--mode", "hls", "--tcl"]),
    ],
)
def test_current_releases_drive_their_front_end(
    run_cli, standins, hlslib, hlslib_current, tmp_path, monkeypatch, version, layout, front_end
) -> None:
    """Vivado and the HLS tool installed side by side as each release lays them out; the
    release is the installed Vivado's; the HLS script goes to that release's front end."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("STANDIN_VERSION", version)
    root = tmp_path / "Xilinx"
    year_first = layout.startswith("20")
    vivado_dir = root / version / "Vivado" if year_first else root / "Vivado" / version
    _install(vivado_dir / "bin", "vivado")
    _install(root / layout / "bin", front_end[0])
    out = tmp_path / "b"
    result = run_cli(
        "build", "--overlay", "cnvW1A1", "--board", "kv260", "--out", out,
        "--hlslib", hlslib_current, "--vivado-dir", vivado_dir, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["release"] == version and doc["generation"] == "current"
    calls = standins.read_text().splitlines()
    hls_script = f"{out.resolve()}/src/hls/hls-syn.tcl"
    assert calls[0] == f"{front_end[0]} {' '.join(front_end[1:])} {hls_script}"
    assert calls[1].startswith("vivado -mode batch")
    manifest = json.loads((out / "bitstream" / "manifest.json").read_text())
    assert manifest["release"] == version and manifest["board"] == "kv260"
    assert manifest["finn_hlslib_commit"].startswith("cc8db47")
    assert manifest["tools"] == {front_end[0]: version, "vivado": version}
    # a legacy finn-hlslib for current sources is refused, in one line
    again = run_cli(
        "build", "--overlay", "cnvW1A1", "--board", "kv260", "--out", tmp_path / "c",
        "--hlslib", hlslib, "--vivado-dir", vivado_dir,
    )  # fmt: skip
    assert again.exit_code == 2 and "is an older finn-hlslib (it has fclayer.h)" in again.stderr


def test_csim_stage_uses_the_installed_hls_tool(
    run_cli, standins, hlslib, tmp_path, monkeypatch
) -> None:
    params, image = tmp_path / "params", tmp_path / "img"
    args = ["--stage", "csim", "--csim-params", params, "--csim-image", image, "--csim-class", "3"]
    ok = build(run_cli, tmp_path / "b", hlslib, *args)
    assert ok.exit_code == 0, ok.stderr
    assert "C simulation of lfcW1A1 (vivado_hls, Vivado 2019.2 sources)" in ok.stdout
    call = standins.read_text().splitlines()[-1]
    assert call == f"vivado_hls -f {(tmp_path / 'b').resolve()}/src/hls/hls-csim.tcl"
    monkeypatch.setenv("STANDIN_CSIM", "score 0: 5\nscore 1: 7\nclass 1, expected 3: FAIL")
    bad = build(run_cli, tmp_path / "b", hlslib, *args)
    assert bad.exit_code == 2 and bad.stderr.count("bnntool: error") == 1
    assert "class 1, expected 3; scores 0:5 1:7" in bad.stderr
    assert not (tmp_path / "b" / "hls" / "hls-proj").exists()  # no synthesis ran


def test_csim_stage_with_gxx_names_what_is_missing(
    run_cli, hlslib_current, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no HLS tool, no g++
    monkeypatch.delenv("BNNTOOL_AP_TYPES", raising=False)
    params, image = tmp_path / "params", tmp_path / "img"
    args = ["--stage", "csim", "--csim-params", params, "--csim-image", image, "--csim-class", "3"]
    no_headers = build(run_cli, tmp_path / "b", hlslib_current, *args)
    assert no_headers.exit_code == 2 and no_headers.stderr.count("bnntool: error") == 1
    assert no_headers.stderr.splitlines()[-1].startswith("bnntool: error: the C simulation")
    assert "needs the ap_types headers" in no_headers.stderr
    assert "pip download --no-deps hls4ml==1.3.0" in no_headers.stderr
    ap_types = tmp_path / "ap_types"
    ap_types.mkdir()
    (ap_types / "ap_int.h").write_text("")
    (ap_types / "hls_stream.h").write_text("")
    no_gxx = build(run_cli, tmp_path / "b", hlslib_current, *args, "--ap-types", ap_types)
    assert no_gxx.exit_code == 2 and no_gxx.stderr.count("bnntool: error") == 1
    assert "g++ not found: install it" in no_gxx.stderr
    partial = build(run_cli, tmp_path / "b", hlslib_current, "--stage", "csim")
    assert partial.exit_code == 2 and "--stage csim needs --csim-params" in partial.stderr


def test_offline_without_hlslib(run_cli, standins, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BNNTOOL_HLSLIB_URL", str(tmp_path / "no-such-repo"))
    result = run_cli("build", "--overlay", "lfcW1A1", "--board", "pynq-z2", "--out", tmp_path / "b")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "cannot get finn-hlslib 8b7f5f5dcd4e" in result.stderr
    assert "give --hlslib DIR" in result.stderr
    assert not standins.read_text()


def test_bad_hlslib(run_cli, standins, tmp_path) -> None:
    result = build(run_cli, tmp_path / "b", tmp_path)
    assert result.exit_code == 2 and "is not a finn-hlslib checkout" in result.stderr


def test_build_dir_of_another_overlay(run_cli, tmp_path, hlslib) -> None:
    out = tmp_path / "b"
    legacy = ("--dry-run", "--vivado-version", "2019.2")
    assert build(run_cli, out, hlslib, *legacy).exit_code == 0
    newer = build(run_cli, out, hlslib, "--dry-run", "--vivado-version", "2025.1")
    assert newer.exit_code == 2 and "holds a build for Vivado 2019.2, not 2025.1" in newer.stderr
    other = build(run_cli, out, hlslib, *legacy, overlay="lfcW1A2")
    assert other.exit_code == 2
    assert f"{out.resolve()} holds the build of overlay lfcW1A1 for pynq-z2" in other.stderr
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    foreign = build(run_cli, tmp_path / "x", hlslib, *legacy)
    assert foreign.exit_code == 2 and "is not a bnntool build folder" in foreign.stderr


def test_unknown_board(run_cli, tmp_path) -> None:
    result = run_cli("build", "--overlay", "lfcW1A1", "--board", "zedboard", "--out", tmp_path)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    known = "pynq-z1, pynq-z2, ultra96, ultra96v2, aup-zu3, kv260, zcu104"
    assert f"unknown board 'zedboard'; known boards: {known}" in result.stderr


def test_spec_that_does_not_fit(run_cli, tmp_path) -> None:
    text = (REPO / "finnthesizer" / "lfcW1A1.toml").read_text()
    # layer 1 fully unfolded over its outputs: 1024 PEs, each with its own weight memory
    text = text.replace("simd = 32\npe = 64", "simd = 64\npe = 1024")
    spec = tmp_path / "huge.toml"
    spec.write_text(text)
    result = run_cli("build", "--overlay", spec, "--board", "pynq-z2", "--out", tmp_path / "b")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "overlay lfcW1A1 does not fit the pynq-z2's xc7z020clg400-1" in result.stderr
    assert "BRAM tiles of 140" in result.stderr and "% too many" in result.stderr
