"""Boards by the name PYNQ images give them (``BOARD``), and which of BNN-PYNQ's stock bitstream
platforms each one runs. Standard library only: the board runtime imports it too.

BNN-PYNQ published stock bitstreams for two platforms: ``pynqZ1-Z2`` (Zynq-7000, PYNQ-Z1 and
PYNQ-Z2) and ``ultra96`` (Zynq UltraScale+). The Zynq UltraScale+ boards that PYNQ 3.1 and 4.0
support (AUP-ZU3, Kria KV260/KR260, ZCU104, ...) have other parts and pin-outs: they run a custom
bitstream from ``bnntool build``.
"""

from __future__ import annotations

# BOARD value (as PYNQ images and Kria-PYNQ set it) -> stock platform folder of BNN-PYNQ.
STOCK_PLATFORMS = {
    "Pynq-Z1": "pynqZ1-Z2",
    "Pynq-Z2": "pynqZ1-Z2",
    "Ultra96": "ultra96",
    "Ultra96V1": "ultra96",
    "Ultra96V2": "ultra96",
}
# BNN-PYNQ's five stock overlays (each has a bitstream per platform).
STOCK_OVERLAYS = ("cnvW1A1", "cnvW1A2", "cnvW2A2", "lfcW1A1", "lfcW1A2")
# Boards of current PYNQ images without stock bitstreams (named in messages and docs).
CURRENT_BOARDS = ("AUP-ZU3", "KV260", "KR260", "ZCU104")


def canonical(board: str) -> str:
    """A board name as PYNQ spells it, whatever its case (``pynq-z2`` -> ``Pynq-Z2``)."""
    for name in (*STOCK_PLATFORMS, *CURRENT_BOARDS):
        if name.lower() == board.strip().lower():
            return name
    return board.strip()


def stock_platform(board: str | None) -> str | None:
    """The stock bitstream platform of a board (``None``: BNN-PYNQ published none for it)."""
    if not board:
        return None
    return STOCK_PLATFORMS.get(canonical(board))


def stock_bitstream_name(overlay: str, platform: str) -> str:
    """Upstream's file name of a stock bitstream, e.g. ``lfcW1A1-pynqZ1-Z2.bit``."""
    return f"{overlay}-{platform}.bit"
