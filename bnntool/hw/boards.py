"""The boards an overlay is built for: FPGA part, clocks, PS and the part's resources.

Parts, clocks and IP base addresses follow BNN-PYNQ's block designs (spec 5.3, 4.1); the
resource totals are those of the parts (xc7z020: 53 200 LUTs, 140 BRAM36 tiles; xczu3eg:
70 560 LUTs, 216 BRAM36 tiles).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bnntool.errors import UserError


@dataclass(frozen=True)
class Board:
    """One board: what the HLS and Vivado scripts and the planner need to know about it."""

    name: str
    title: str
    family: str  # "zynq" (Zynq-7000, processing_system7) or "zynqmp" (processing_system8)
    part: str
    hls_period_ns: float  # the clock HLS schedules for (tighter than the fabric clock)
    fabric_mhz: float  # the clock the accelerator actually runs at in the block design
    fabric_clock: str  # the PS clock pin that drives it
    ps_script: str  # vivado/<file>: creates and configures the processing system
    constraints: str  # vivado/<file>: the board's constraint file
    ip_base: int  # address of the accelerator's AXI-Lite registers
    jobs: int  # default parallel jobs of the implementation run
    luts: int
    ffs: int
    bram_tiles: int  # BRAM36 tiles; one tile is two BRAM18
    dsps: int


_PYNQ_Z1 = Board(
    "pynq-z1",
    "Digilent PYNQ-Z1",
    "zynq",
    "xc7z020clg400-1",
    5.0,
    100.0,
    "FCLK_CLK0",
    "pynq-z1-z2.tcl",
    "pynq-z1-z2.xdc",
    0x43C00000,
    2,
    53200,
    106400,
    140,
    220,
)
# The PYNQ-Z2 carries the same part and gets the same design.
_PYNQ_Z2 = replace(_PYNQ_Z1, name="pynq-z2", title="TUL PYNQ-Z2")
_ULTRA96 = Board(
    "ultra96",
    "Avnet Ultra96",
    "zynqmp",
    "xczu3eg-sbva484-1-i",
    3.0,
    299.999695,
    "pl_clk2",
    "ultra96.tcl",
    "ultra96.xdc",
    0xA0000000,
    4,
    70560,
    141120,
    216,
    360,
)

BOARDS: dict[str, Board] = {b.name: b for b in (_PYNQ_Z1, _PYNQ_Z2, _ULTRA96)}


def get_board(name: str) -> Board:
    """The board called ``name``; a one-line error listing the known boards otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None
