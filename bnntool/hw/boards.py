"""The boards an overlay is built for, as data: FPGA part, processing-system configuration,
clocks, the accelerator's register address, and the part's resources (the planner's budget).

Sources of the facts: BNN-PYNQ's block designs for the PYNQ-Z1/Z2 and Ultra96 (spec 5.3, 4.1);
the parts and PS settings of PYNQ's ZCU104 design, Kria-PYNQ's KV260 design and the AUP-ZU3
repository's PS script (Xilinx/PYNQ, Xilinx/Kria-PYNQ, Xilinx/AUP-ZU3), and FINN's board map.
Resources are the parts' totals: xc7z020 53 200 LUTs / 140 BRAM36 tiles / 220 DSPs; xczu3eg
70 560 / 216 / 360; xck26 117 120 / 144 / 1 248; xczu7ev 230 400 / 312 / 1 728.

The block design of every board is the same (PS, accelerator, one AXI interconnect each way, one
clock and reset); what differs is the PS cell and its configuration, written here and rendered
into the build's ``ps.tcl`` (``bnntool/hw/sources.py``). No board files (board_part) are needed:
the PS is configured explicitly, as BNN-PYNQ's Ultra96 design and the AUP-ZU3 design do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bnntool.errors import UserError


@dataclass(frozen=True)
class ProcessingSystem:
    """The PS cell of a board's block design and the ports the accelerator uses."""

    ip: str  # "processing_system7" (Zynq-7000) or "zynq_ultra_ps_e" (Zynq UltraScale+)
    cell: str
    config: tuple[tuple[str, str], ...]  # CONFIG.<key> values set on the cell
    master: str  # drives the accelerator's AXI-Lite registers
    slave: str  # the accelerator's AXI master reaches DDR through it
    clock: str  # the PL clock pin the accelerator runs on
    reset: str
    aclk_pins: tuple[str, ...]  # the PS's clock inputs of master and slave
    data_space: str  # the address space the register segment is assigned in
    external: str  # processing_system7 automation: interfaces made external ("" for none)
    pl_clocks_mhz: tuple[float, ...]  # the PL clocks the configuration sets, for docs and tests


@dataclass(frozen=True)
class Board:
    """One board: what the HLS and Vivado scripts and the planner need to know about it."""

    name: str
    title: str
    family: str  # "zynq" (Zynq-7000) or "zynqmp" (Zynq UltraScale+)
    part: str
    hls_period_ns: float  # the clock HLS schedules for (tighter than the fabric clock)
    fabric_mhz: float  # the clock the accelerator actually runs at in the block design
    ps: ProcessingSystem
    constraints: str  # vivado/<file>: the board's constraint file
    ip_base: int  # address of the accelerator's AXI-Lite registers (64 KiB)
    jobs: int  # default parallel jobs of the implementation run
    luts: int
    ffs: int
    bram_tiles: int  # BRAM36 tiles; one tile is two BRAM18
    dsps: int

    @property
    def fabric_clock(self) -> str:
        return self.ps.clock


def _pl_enable(count: int) -> list[tuple[str, str]]:
    return [(f"PSU__FPGA_PL{n}_ENABLE", "1" if n < count else "0") for n in range(4)]


def _zynqmp_ports(hp0_width: int = 64) -> list[tuple[str, str]]:
    """HPM0_FPD for the registers, HP0_FPD (S_AXI_GP2) at the accelerator's width for data."""
    return [
        ("PSU__USE__M_AXI_GP0", "1"),
        ("PSU__USE__M_AXI_GP1", "0"),
        ("PSU__USE__M_AXI_GP2", "0"),
        ("PSU__USE__S_AXI_GP2", "1"),
        ("PSU__SAXIGP2__DATA_WIDTH", str(hp0_width)),
    ]


def _zynqmp_ps(
    config: list[tuple[str, str]], clock: str, mhz: tuple[float, ...]
) -> ProcessingSystem:
    return ProcessingSystem(
        ip="zynq_ultra_ps_e",
        cell="zynq_ultra_ps_e_0",
        config=tuple(config),
        master="M_AXI_HPM0_FPD",
        slave="S_AXI_HP0_FPD",
        clock=clock,
        reset="pl_resetn0",
        aclk_pins=("maxihpm0_fpd_aclk", "saxihp0_fpd_aclk"),
        data_space="Data",
        external="",
        pl_clocks_mhz=mhz,
    )


def _pl_freq(clocks: list[tuple[str, float]]) -> list[tuple[str, str]]:
    """PL clocks by source PLL and frequency; Vivado chooses the dividers."""
    out: list[tuple[str, str]] = []
    for n, (pll, mhz) in enumerate(clocks):
        out += [
            (f"PSU__CRL_APB__PL{n}_REF_CTRL__SRCSEL", pll),
            (f"PSU__CRL_APB__PL{n}_REF_CTRL__FREQMHZ", f"{mhz:g}"),
        ]
    return out


# Zynq-7000 of the PYNQ-Z1 and PYNQ-Z2: FCLK_CLK0..3 = 100, 142.86, 200, 166.67 MHz, accelerator on
# FCLK_CLK0; M_AXI_GP0 drives the registers, the 64-bit S_AXI_HP0 reaches DDR.
_PYNQ_PS = ProcessingSystem(
    ip="processing_system7",
    cell="processing_system7_0",
    config=(
        ("PCW_CRYSTAL_PERIPHERAL_FREQMHZ", "50"),
        ("PCW_UIPARAM_DDR_PARTNO", "MT41K256M16 RE-125"),
        ("PCW_UIPARAM_DDR_BUS_WIDTH", "16 Bit"),
        ("PCW_EN_CLK0_PORT", "1"),
        ("PCW_EN_CLK1_PORT", "1"),
        ("PCW_EN_CLK2_PORT", "1"),
        ("PCW_EN_CLK3_PORT", "1"),
        ("PCW_FPGA0_PERIPHERAL_FREQMHZ", "100"),
        ("PCW_FPGA1_PERIPHERAL_FREQMHZ", "142.857132"),
        ("PCW_FPGA2_PERIPHERAL_FREQMHZ", "200"),
        ("PCW_FPGA3_PERIPHERAL_FREQMHZ", "166.666672"),
        ("PCW_USE_M_AXI_GP0", "1"),
        ("PCW_USE_S_AXI_HP0", "1"),
        ("PCW_S_AXI_HP0_DATA_WIDTH", "64"),
        ("PCW_EN_RST0_PORT", "1"),
    ),
    master="M_AXI_GP0",
    slave="S_AXI_HP0",
    clock="FCLK_CLK0",
    reset="FCLK_RESET0_N",
    aclk_pins=("M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK"),
    data_space="Data",
    external="FIXED_IO, DDR",
    pl_clocks_mhz=(100.0, 142.857132, 200.0, 166.666672),
)

_PYNQ_Z1 = Board(
    name="pynq-z1",
    title="Digilent PYNQ-Z1",
    family="zynq",
    part="xc7z020clg400-1",
    hls_period_ns=5.0,
    fabric_mhz=100.0,
    ps=_PYNQ_PS,
    constraints="pynq-z1-z2.xdc",
    ip_base=0x43C00000,
    jobs=2,
    luts=53200,
    ffs=106400,
    bram_tiles=140,
    dsps=220,
)
# The PYNQ-Z2 carries the same part and gets the same design.
_PYNQ_Z2 = replace(_PYNQ_Z1, name="pynq-z2", title="TUL PYNQ-Z2")

# Ultra96 (BNN-PYNQ's design): LPDDR4 32 bit; PL clocks from the IOPLL (1500 MHz) with dividers
# 15, 60, 5, 4: pl_clk0..3 = 100, 25, 300, 375 MHz; the accelerator on pl_clk2 (about 300 MHz).
_ULTRA96_PS = _zynqmp_ps(
    [
        ("PSU__DDRC__DEVICE_TYPE", "LPDDR 4"),
        ("PSU__DDRC__BUS_WIDTH", "32 Bit"),
        *_pl_enable(4),
        *[
            item
            for n, (d0, d1) in enumerate([(15, 1), (15, 4), (5, 1), (4, 1)])
            for item in (
                (f"PSU__CRL_APB__PL{n}_REF_CTRL__SRCSEL", "IOPLL"),
                (f"PSU__CRL_APB__PL{n}_REF_CTRL__DIVISOR0", str(d0)),
                (f"PSU__CRL_APB__PL{n}_REF_CTRL__DIVISOR1", str(d1)),
            )
        ],
        *_zynqmp_ports(),
    ],
    "pl_clk2",
    (100.0, 25.0, 300.0, 375.0),
)
_ULTRA96 = Board(
    name="ultra96",
    title="Avnet Ultra96",
    family="zynqmp",
    part="xczu3eg-sbva484-1-i",
    hls_period_ns=3.0,
    fabric_mhz=299.999695,
    ps=_ULTRA96_PS,
    constraints="ultra96.xdc",
    ip_base=0xA0000000,
    jobs=4,
    luts=70560,
    ffs=141120,
    bram_tiles=216,
    dsps=360,
)
# The Ultra96-V2 has the same part, memory and PS; only the board around it changed.
_ULTRA96V2 = replace(_ULTRA96, name="ultra96v2", title="Avnet Ultra96-V2")

# AUP-ZU3 (AMD University Program, xczu3eg-sfvc784-2-e): DDR4 32 bit; PL clocks from the IOPLL as
# its own PS script sets them, pl_clk0 = 100 MHz and pl_clk1 = 300 MHz; the accelerator on pl_clk1.
_AUP_ZU3 = Board(
    name="aup-zu3",
    title="AMD AUP-ZU3",
    family="zynqmp",
    part="xczu3eg-sfvc784-2-e",
    hls_period_ns=3.0,
    fabric_mhz=300.0,
    ps=_zynqmp_ps(
        [
            ("PSU__DDRC__DEVICE_TYPE", "DDR 4"),
            ("PSU__DDRC__BUS_WIDTH", "32 Bit"),
            *_pl_enable(2),
            *_pl_freq([("IOPLL", 100.0), ("IOPLL", 300.0)]),
            *_zynqmp_ports(),
        ],
        "pl_clk1",
        (100.0, 300.0),
    ),
    constraints="no-pins.xdc",
    ip_base=0xA0000000,
    jobs=4,
    luts=70560,
    ffs=141120,
    bram_tiles=216,
    dsps=360,
)

# KV260 (Kria K26 SOM, xck26-sfvc784-2LV-c, 4 GB DDR4 64 bit): pl_clk0..2 = 100 (IOPLL), 200 and
# 300 MHz (RPLL) as in Kria-PYNQ's base design; the accelerator on pl_clk1 (200 MHz: the -2LV part
# runs at the low core voltage).
_KV260 = Board(
    name="kv260",
    title="AMD Kria KV260 (K26 SOM)",
    family="zynqmp",
    part="xck26-sfvc784-2LV-c",
    hls_period_ns=4.0,
    fabric_mhz=200.0,
    ps=_zynqmp_ps(
        [
            ("PSU__DDRC__DEVICE_TYPE", "DDR 4"),
            ("PSU__DDRC__BUS_WIDTH", "64 Bit"),
            *_pl_enable(3),
            *_pl_freq([("IOPLL", 100.0), ("RPLL", 200.0), ("RPLL", 300.0)]),
            *_zynqmp_ports(),
        ],
        "pl_clk1",
        (100.0, 200.0, 300.0),
    ),
    constraints="no-pins.xdc",
    ip_base=0xA0000000,
    jobs=4,
    luts=117120,
    ffs=234240,
    bram_tiles=144,
    dsps=1248,
)

# ZCU104 (xczu7ev-ffvc1156-2-e, DDR4 64 bit): pl_clk0..3 = 100, 300, 150, 250 MHz (RPLL) as in
# PYNQ's base design; the accelerator on pl_clk1 (300 MHz).
_ZCU104 = Board(
    name="zcu104",
    title="AMD ZCU104",
    family="zynqmp",
    part="xczu7ev-ffvc1156-2-e",
    hls_period_ns=3.0,
    fabric_mhz=300.0,
    ps=_zynqmp_ps(
        [
            ("PSU__DDRC__DEVICE_TYPE", "DDR 4"),
            ("PSU__DDRC__BUS_WIDTH", "64 Bit"),
            *_pl_enable(4),
            *_pl_freq([("RPLL", 100.0), ("RPLL", 300.0), ("RPLL", 150.0), ("RPLL", 250.0)]),
            *_zynqmp_ports(),
        ],
        "pl_clk1",
        (100.0, 300.0, 150.0, 250.0),
    ),
    constraints="no-pins.xdc",
    ip_base=0xA0000000,
    jobs=4,
    luts=230400,
    ffs=460800,
    bram_tiles=312,
    dsps=1728,
)

BOARDS: dict[str, Board] = {
    b.name: b for b in (_PYNQ_Z1, _PYNQ_Z2, _ULTRA96, _ULTRA96V2, _AUP_ZU3, _KV260, _ZCU104)
}


def get_board(name: str) -> Board:
    """The board called ``name``; a one-line error listing the known boards otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None
