"""The AMD tool releases a build is made for, as data: which generation of generated sources
(finn-hlslib commit, C++ standard, HLS script dialect), which HLS front end runs the script, and
which versions of the Vivado IP the block design instantiates.

Two generations:

- ``legacy``: Vivado HLS 2019.2 / 2020.1 with finn-hlslib 8b7f5f5 (BNN-PYNQ's pin);
- ``current``: Vitis HLS and Vivado 2022.2 to 2026.1 with finn-hlslib cc8db47.

Front ends (each release's own documentation): ``vivado_hls -f SCRIPT`` up to 2020.1;
``vitis_hls -f SCRIPT`` in 2022.2; from 2023.2 on ``vitis-run --mode hls --tcl SCRIPT`` (UG1399
recommends it from 2023.2 and deprecates ``vitis_hls -f`` from 2024.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from bnntool.errors import UserError


@dataclass(frozen=True)
class Generation:
    """One generation of generated HLS sources and the finn-hlslib they compile against."""

    name: str
    hlslib_commit: str
    cxx_std: str  # the -std= that the HLS script passes and the g++ C simulation uses
    hls_template: str  # hls/<file>: the HLS script template


LEGACY = Generation("legacy", "8b7f5f5dcd4e3dd17eddc41253040931af28179a", "c++0x", "hls-syn.tcl.in")
CURRENT = Generation(
    "current", "cc8db47b59555df8b3993666cf2cfb6b9e57ff5a", "c++14", "vitis-hls.tcl.in"
)
GENERATIONS = {g.name: g for g in (LEGACY, CURRENT)}


@dataclass(frozen=True)
class Release:
    """One Vivado release and what a build for it generates and runs."""

    version: str
    generation: Generation
    hls_tool: str  # the program that runs the HLS script
    hls_args: tuple[str, ...]  # its arguments before the script path
    hls_tool_title: str
    hls_env: tuple[str, ...]  # variables naming the install that holds hls_tool
    ip: dict[str, str]  # Vivado IP name -> version in this release

    def hls_argv(self, tool: str, script: str) -> list[str]:
        return [tool, *self.hls_args, script]

    def vlnv(self, name: str) -> str:
        return f"xilinx.com:ip:{name}:{self.ip[name]}"


# The IP versions of a release (the block design names them exactly, so a release that bumped one
# would fail with "IP not found" instead of silently upgrading): processing_system7 5.5,
# axi_interconnect 2.1 and proc_sys_reset 5.0 in every release here; zynq_ultra_ps_e 3.3 up to
# 2020.1, 3.4 in 2022.2, 3.5 from 2023.1 on (the version in PYNQ's and AUP-ZU3's 2024.1 designs).
def _ip(zynq_ultra_ps_e: str) -> dict[str, str]:
    return {
        "processing_system7": "5.5",
        "zynq_ultra_ps_e": zynq_ultra_ps_e,
        "axi_interconnect": "2.1",
        "proc_sys_reset": "5.0",
    }


_VIVADO_HLS = ("vivado_hls", ("-f",), "Vivado HLS", ("XILINX_VIVADO_HLS", "XILINX_VIVADO"))
_VITIS_HLS = ("vitis_hls", ("-f",), "Vitis HLS", ("XILINX_HLS", "XILINX_VITIS"))
_VITIS_RUN = ("vitis-run", ("--mode", "hls", "--tcl"), "Vitis HLS", ("XILINX_VITIS", "XILINX_HLS"))

RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        Release("2019.2", LEGACY, *_VIVADO_HLS, _ip("3.3")),
        Release("2020.1", LEGACY, *_VIVADO_HLS, _ip("3.3")),
        Release("2022.2", CURRENT, *_VITIS_HLS, _ip("3.4")),
        Release("2023.2", CURRENT, *_VITIS_RUN, _ip("3.5")),
        Release("2024.2", CURRENT, *_VITIS_RUN, _ip("3.5")),
        Release("2025.1", CURRENT, *_VITIS_RUN, _ip("3.5")),
        Release("2025.2", CURRENT, *_VITIS_RUN, _ip("3.5")),
        Release("2026.1", CURRENT, *_VITIS_RUN, _ip("3.5")),
    )
}
DEFAULT_RELEASE = "2024.2"  # what a build without an installed Vivado or --vivado-version targets


def get_release(version: str) -> Release:
    """The release ``version``; a one-line error listing the supported ones otherwise."""
    try:
        return RELEASES[version]
    except KeyError:
        raise UserError(
            f"Vivado {version} is not supported; supported releases: {', '.join(RELEASES)} "
            "(give one with --vivado-version)"
        ) from None


def get_generation(name: str) -> Generation:
    try:
        return GENERATIONS[name]
    except KeyError:
        raise UserError(
            f"unknown source generation {name!r}; use {' or '.join(GENERATIONS)}"
        ) from None
