"""Hardware: `bnntool plan` and `bnntool build`."""

from __future__ import annotations

from pathlib import Path

import click

from bnntool.cli.common import (
    emit_json,
    json_option,
    log,
)
from bnntool.errors import UserError


@click.command(short_help="Choose SIMD and PE per layer for a target FPS on a board.")
@click.option("--network", required=True, type=click.Choice(["lfc", "cnv"]), help="Topology.")
@click.option(
    "--precision", default="W1A1", show_default=True, help="W1A1, W1A2 (lfc, cnv) or W2A2 (cnv)."
)
@click.option(
    "--board",
    "board_name",
    required=True,
    metavar="BOARD",
    help="pynq-z1, pynq-z2, ultra96, ultra96v2, aup-zu3, kv260 or zcu104.",
)
@click.option("--target-fps", required=True, type=float, help="Images per second to reach.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan as an overlay spec (.toml) that convert, verify and build take.",
)
@json_option
def plan(
    network: str,
    precision: str,
    board_name: str,
    target_fps: float,
    out: Path | None,
    as_json: bool,
) -> None:
    """Choose the folding (SIMD and PE per layer) of the LFC or CNV network that reaches
    --target-fps at the board's clock with the fewest resources, from a cycle model (the slowest
    layer sets the rate) and a resource model calibrated on BNN-PYNQ's published figures.
    Refuses a target that no folding reaches, or one whose smallest folding does not fit the
    board, and says by how much.

    \b
    Examples:
      bnntool plan --network cnv --precision W1A1 --board pynq-z2 --target-fps 1000
      bnntool plan --network lfc --board ultra96 --target-fps 500000 --out lfc-fast.toml
    """
    from bnntool.hw.boards import get_board
    from bnntool.hw.plan import plan as make_plan

    board = get_board(board_name)
    result = make_plan(network, precision, board, target_fps, out)
    est = result.estimate
    if as_json:
        emit_json(
            {
                "overlay": result.spec.name,
                "board": board.name,
                "clock_mhz": est.clock_mhz,
                "target_fps": target_fps,
                "fps": round(est.fps, 1),
                "cycles_per_image": est.cycles,
                "luts": est.luts,
                "bram_tiles": est.bram_tiles,
                "board_luts": est.board_luts,
                "board_bram_tiles": est.board_bram_tiles,
                "layers": est.layers,
                "spec_file": result.path,
            }
        )
        return
    click.echo(
        f"{'layer':>5} {'kind':5} {'SIMD':>4} {'PE':>4} {'cycles':>9} {'BRAM18':>6} {'LUT':>7}"
    )
    for ly in est.layers:
        click.echo(
            f"{ly.index:>5} {ly.kind:5} {ly.simd:>4} {ly.pe:>4} {ly.cycles:>9,} {ly.bram18:>6} "
            f"{ly.luts:>7,}"
        )
    click.echo(
        f"{result.spec.name}: {est.fps:,.0f} FPS at {est.clock_mhz:g} MHz "
        f"({est.cycles:,} cycles per image); {est.luts:,} of {est.board_luts:,} LUTs, "
        f"{est.bram_tiles:g} of {est.board_bram_tiles} BRAM tiles (estimates)"
    )
    if result.path is not None:
        click.echo(f"overlay spec: {result.path}")


@click.command(short_help="Generate HLS/Vivado sources, C-simulate them, build a bitstream.")
@click.option(
    "--overlay",
    required=True,
    metavar="NAME|FILE|DIR",
    help="Stock overlay name, overlay spec file, or a params or run folder (its overlay).",
)
@click.option(
    "--board",
    "board_name",
    required=True,
    metavar="BOARD",
    help="pynq-z1, pynq-z2, ultra96, ultra96v2, aup-zu3, kv260 or zcu104.",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Build folder."
)
@click.option(
    "--stage",
    type=click.Choice(["csim", "hls", "bitstream", "all"]),
    default="all",
    show_default=True,
    help="csim: C simulation only (the HLS tool's, or g++ without one); hls: HLS only; "
    "bitstream: Vivado only (after hls); all: HLS and Vivado.",
)
@click.option(
    "--vivado-version",
    metavar="VER",
    help="Tool release to generate for: 2019.2, 2020.1 (Vivado HLS) or 2022.2, 2023.2, 2024.2, "
    "2025.1, 2025.2, 2026.1 (Vitis HLS). Default: the installed Vivado's, else 2024.2.",
)
@click.option(
    "--hlslib",
    type=click.Path(file_okay=False, path_type=Path),
    help="finn-hlslib checkout of the release's generation (default: cloned once into the "
    "cache at the pinned commit).",
)
@click.option(
    "--ap-types",
    type=click.Path(file_okay=False, path_type=Path),
    help="ap_types headers (ap_int.h, hls_stream.h) for the g++ C simulation (default: "
    "$BNNTOOL_AP_TYPES), e.g. hls4ml/templates/vivado/ap_types of the hls4ml wheel.",
)
@click.option(
    "--vivado-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Vivado install folder, e.g. /tools/Xilinx/Vivado/2024.2; its Vitis install beside it "
    "is searched too (default: XILINX_VIVADO, XILINX_HLS, XILINX_VITIS, PATH).",
)
@click.option("--jobs", type=click.IntRange(1, 64), help="Parallel Vivado jobs (board default).")
@click.option(
    "--csim-params",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run HLS C simulation with this params folder ...",
)
@click.option(
    "--csim-image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="... on this image file (idx3-ubyte or CIFAR-10 binary record) ...",
)
@click.option("--csim-class", type=int, help="... and expect this class.")
@click.option(
    "--csim-index",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Which image of the image file.",
)
@click.option("--dry-run", is_flag=True, help="Write every source and print the commands only.")
@json_option
def build(
    overlay: str,
    board_name: str,
    out_dir: Path,
    stage: str,
    vivado_version: str | None,
    hlslib: Path | None,
    ap_types: Path | None,
    vivado_dir: Path | None,
    jobs: int | None,
    csim_params: Path | None,
    csim_image: Path | None,
    csim_class: int | None,
    csim_index: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Generate the HLS and Vivado sources of an overlay for a board and a tool release
    (config.h, top.cpp, a C simulation test bench, the HLS script, the Vivado project and
    block-design scripts) and run the release's HLS tool and Vivado on them: logs in OUT/logs/,
    timing and utilisation in OUT/report.json, the .bit, .hwh and .tcl with a manifest in
    OUT/bitstream/. Running it again resumes after the last finished step.

    --stage csim runs the C simulation alone: with the release's HLS tool when it is installed,
    otherwise with g++ against finn-hlslib (--hlslib) and the ap_types headers (--ap-types),
    so an overlay can be proven before Vivado is installed. A class other than --csim-class
    exits with status 2 and the scores.

    \b
    Examples:
      bnntool build --overlay lfcW1A1 --board pynq-z2 --out build/lfc --dry-run
      bnntool build --overlay cnvW1A1 --board kv260 --out build/cnv --stage csim \\
          --hlslib finn-hlslib --ap-types ap_types --csim-params params/cifar10/cnvW1A1 \\
          --csim-image deer.bin --csim-class 4
      bnntool build --overlay my.toml --board zcu104 --out b/ --vivado-version 2025.2 --stage hls
    """
    from bnntool.hw.driver import run_build
    from bnntool.hw.sources import Csim

    given = [v is not None for v in (csim_params, csim_image, csim_class)]
    if any(given) and not all(given):
        raise UserError("C simulation needs all three of --csim-params, --csim-image, --csim-class")
    csim = (
        Csim(csim_params, csim_image, csim_class, csim_index)  # type: ignore[arg-type]
        if all(given)
        else None
    )
    result = run_build(
        overlay,
        board_name,
        out_dir,
        stage=stage,
        hlslib=hlslib,
        vivado_dir=vivado_dir,
        vivado_version=vivado_version,
        ap_types=ap_types,
        jobs=jobs,
        dry_run=dry_run,
        csim=csim,
        log=log,
    )
    if as_json:
        emit_json(result)
        return
    if dry_run:
        click.echo(
            f"sources of {result.overlay} for {result.board}, Vivado {result.release} "
            f"({result.generation} generation), written to {result.build_dir / 'src'}"
        )
        click.echo("commands (not run):")
        for command in result.commands:
            click.echo(f"  {command}")
        return
    if result.csim is not None:
        c = result.csim
        click.echo(
            f"C simulation of {result.overlay} ({c['simulator']}, Vivado {result.release} "
            f"sources): {c['summary']}: {'PASS' if c['passed'] else 'FAIL'}"
        )
        return
    for step in result.steps:
        click.echo(f"{step.step:8} {step.status:8} {step.seconds:7.0f} s")
    t, u = result.timing, result.utilization
    if t is not None and u is not None:
        click.echo(
            f"timing {'met' if t['met'] else 'NOT met'} (WNS {t['wns_ns']:.3f} ns); "
            f"LUT {u['lut']['used']}, FF {u['ff']['used']}, BRAM tiles {u['bram_tiles']['used']}, "
            f"DSP {u['dsp']['used']}"
        )
    if result.bitstream_dir is not None:
        click.echo(f"bitstream: {result.bitstream_dir}")
    elif result.report is not None:
        click.echo(f"report: {result.report}")
