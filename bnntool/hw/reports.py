"""Read the figures that matter out of Vivado HLS and Vivado text reports."""

from __future__ import annotations

import re
from typing import Any

_TIMING = re.compile(
    r"WNS\(ns\)[^\n]*\n[ \t]*-+[^\n]*\n[ \t]*(-?\d+(?:\.\d+)?)[ \t]+(-?\d+(?:\.\d+)?)"
)
_UTIL_ROWS = {
    "lut": ("Slice LUTs", "CLB LUTs"),
    "ff": ("Slice Registers", "CLB Registers"),
    "bram_tiles": ("Block RAM Tile",),
    "dsp": ("DSPs",),
}


def parse_timing(text: str) -> dict[str, Any]:
    """Worst negative slack, total negative slack and whether every constraint is met, from a
    ``report_timing_summary`` file."""
    match = _TIMING.search(text)
    if not match:
        raise ValueError("no Design Timing Summary table (WNS) in the timing report")
    wns, tns = float(match.group(1)), float(match.group(2))
    met = "All user specified timing constraints are met." in text and wns >= 0
    return {"met": met, "wns_ns": wns, "tns_ns": tns}


def parse_utilization(text: str) -> dict[str, Any]:
    """Used and available LUTs, FFs, BRAM tiles and DSPs from a ``report_utilization`` file."""
    result: dict[str, Any] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        name = cells[0].rstrip("*").strip()
        for key, names in _UTIL_ROWS.items():
            if key not in result and name in names:
                try:
                    result[key] = {"used": float(cells[1]), "available": float(cells[-2])}
                except ValueError:
                    continue
    for key in _UTIL_ROWS:
        if key not in result:
            raise ValueError(f"no {_UTIL_ROWS[key][0]} row in the utilisation report")
        used = result[key]["used"]
        result[key]["used"] = int(used) if used == int(used) else used
    return result


def parse_hls(text: str) -> dict[str, Any]:
    """Target and estimated clock period and the resource totals of a ``*_csynth.rpt``."""
    result: dict[str, Any] = {}
    clock = re.search(r"^\s*\|\s*ap_clk\s*\|\s*([\d.]+)\s*(?:ns)?\s*\|\s*([\d.]+)", text, re.M)
    if clock:
        result["target_ns"] = float(clock.group(1))
        result["estimated_ns"] = float(clock.group(2))
    header = re.search(r"^\s*\|\s*Name\s*\|(.*BRAM.*)\|\s*$", text, re.M)
    total = re.search(r"^\s*\|\s*Total\s*\|(.*)\|\s*$", text, re.M)
    if header and total:
        names = [h.strip().lower() for h in header.group(1).split("|")]
        values = [v.strip() for v in total.group(1).split("|")]
        for name, value in zip(names, values, strict=False):
            if value.isdigit():
                result[name] = int(value)
    return result
